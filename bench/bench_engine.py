"""Engine throughput on one core, against two baselines run in the same process on the same text.

Usage::

    python bench/bench_engine.py [--listings-dir DIR] [-n 3000] [--presidio-n 300] [--repeat 3]

Listings: real titles from ``../shared/data/listings`` (equal thirds ``vape.csv``,
``benign_titles.csv``, ``hard_negatives.csv``), each with a description made by concatenating other
real titles/descriptions of the same file, to ~1 KB and ~2 KB of UTF-8 in all (two variants). The
engine runs every loaded lexicon check (``Engine.moderate``: normalisation, one Aho-Corasick scan
per view, checks, decision, the Decision model). Parsing the Listing JSON is not timed.

Baselines, on the same title + description text and the same term forms (every ``forms`` entry of
every lexicon):

* **regex**: one compiled alternation of all forms (``re.escape``, longest first, IGNORECASE, word
  boundaries around Latin-script forms), ``finditer`` over title + description. It finds surface
  forms only: no normalisation, de-obfuscation, exclusions, co-terms or decision.
* **presidio**: ``PatternRecognizer(supported_entity="BANNED", deny_list=forms).analyze(text,
  entities=["BANNED"], nlp_artifacts=None)`` (no spaCy model), timed on a subset because it is slow;
  the engine is timed again on the same subset for the ratio.

Target: engine / presidio >= 20x. Writes ``bench/results/bench_engine.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    build_listings,
    fmt_rate,
    lexicon_forms,
    listings_dir,
    machine,
    md_table,
    pin_one_core,
    write_result,
)

TARGET_VS_PRESIDIO = 20.0
_NO_BOUNDARY = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\u0e00-\u0e7f]")


def regex_baseline(forms: list[str]) -> re.Pattern:
    ordered = sorted(set(forms), key=lambda f: (-len(f), f))
    latin = [re.escape(f) for f in ordered if not _NO_BOUNDARY.search(f)]
    cjk = [re.escape(f) for f in ordered if _NO_BOUNDARY.search(f)]
    parts = []
    if latin:
        parts.append(r"(?<!\w)(?:" + "|".join(latin) + r")(?!\w)")
    if cjk:
        parts.append("(?:" + "|".join(cjk) + ")")
    return re.compile("|".join(parts), re.IGNORECASE)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


class _Timed:
    """Wraps a bound method and accumulates its wall time."""

    def __init__(self, fn):
        self.fn = fn
        self.total = 0.0

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            self.total += time.perf_counter() - t


def time_split(engine, listings) -> dict[str, float]:
    """Seconds in normalisation, in the scan, and the rest (checks, decision, Decision model), by
    wrapping the snapshot's normaliser and matcher for one pass."""
    snap = engine.snapshot
    m = snap.matcher
    norm, scan = _Timed(snap.normalizer.normalize), _Timed(m.scan)
    snap.normalizer.normalize, m.scan = norm, scan
    pats = _Timed(m._run_patterns) if hasattr(m, "_run_patterns") else None  # private: guarded
    if pats:
        m._run_patterns = pats
    try:
        t = time.perf_counter()
        for li in listings:
            engine.moderate(li)
        total = time.perf_counter() - t
    finally:
        del snap.normalizer.normalize, m.scan
        if pats:
            del m._run_patterns
    out = {"normalise": norm.total, "scan": scan.total}
    if pats:
        out["  of which: lexicon regex patterns (Matcher._run_patterns)"] = pats.total
    out["checks + decide"] = total - norm.total - scan.total
    out["total"] = total
    return out


def run_variant(engine, pattern, recognizer, data, presidio_n: int, repeat: int) -> tuple[str, dict]:
    from app.models import Listing

    listings = [Listing.model_validate(d) for d in data.listings]
    texts = [li.title + "\n" + li.description for li in listings]
    n = len(listings)
    sub = listings[:presidio_n]
    sub_texts = texts[:presidio_n]

    def engine_all(items=listings):
        for li in items:
            engine.moderate(li)

    def regex_all(items=texts):
        c = 0
        for t in items:
            for _ in pattern.finditer(t):
                c += 1
        return c

    def presidio_all(items=sub_texts):
        c = 0
        for t in items:
            c += len(recognizer.analyze(t, entities=["BANNED"], nlp_artifacts=None))
        return c

    engine_all(listings[:200])  # warm-up (lazy tables, caches)
    regex_all(texts[:200])
    presidio_all(sub_texts[:20])

    # the first pass over these listings, timed on its own: per-text caches (near-miss candidates)
    # are cold for every listing not among the warm-up ones; the best-of passes below are warm
    t_first = time.perf_counter()
    actions = Counter(engine.moderate(li).action for li in listings)
    t_first = time.perf_counter() - t_first
    regex_hits = regex_all()
    presidio_hits = presidio_all()

    t_engine = best_time(engine_all, repeat)
    t_regex = best_time(regex_all, repeat)
    t_engine_sub = best_time(lambda: engine_all(sub), repeat)
    t_regex_sub = best_time(lambda: regex_all(sub_texts), repeat)
    t_presidio = best_time(presidio_all, max(1, repeat - 1))
    split = time_split(engine, listings)

    r = {
        "engine": n / t_engine, "engine_first": n / t_first, "regex": n / t_regex,
        "engine_sub": len(sub) / t_engine_sub, "regex_sub": len(sub) / t_regex_sub,
        "presidio": len(sub) / t_presidio,
    }
    r["engine/presidio"] = r["engine_sub"] / r["presidio"]
    r["engine/regex"] = r["engine"] / r["regex"]
    r["regex/presidio"] = r["regex_sub"] / r["presidio"]
    mean_kb = data.mean_bytes() / 1024
    rows = [
        ["engine (Engine.moderate)", f"all {n:,}", fmt_rate(r["engine"]), f"{1000 / r['engine']:.3f}", "1.00×"],
        ["engine, first pass (caches cold)", f"all {n:,}", fmt_rate(r["engine_first"]),
         f"{1000 / r['engine_first']:.3f}", f"{r['engine_first'] / r['engine']:.2f}×"],
        ["baseline: regex alternation", f"all {n:,}", fmt_rate(r["regex"]), f"{1000 / r['regex']:.3f}",
         f"engine/regex = **{r['engine/regex']:.2f}×**"],
        ["engine (Engine.moderate)", f"first {len(sub):,}", fmt_rate(r["engine_sub"]), f"{1000 / r['engine_sub']:.3f}", "1.00×"],
        ["baseline: regex alternation", f"first {len(sub):,}", fmt_rate(r["regex_sub"]), f"{1000 / r['regex_sub']:.3f}",
         f"engine/regex = {r['engine_sub'] / r['regex_sub']:.2f}×"],
        ["baseline: Presidio deny-list", f"first {len(sub):,}", fmt_rate(r["presidio"]), f"{1000 / r['presidio']:.3f}",
         f"engine/presidio = **{r['engine/presidio']:.1f}×** (target ≥ {TARGET_VS_PRESIDIO:.0f}×: "
         f"{'met' if r['engine/presidio'] >= TARGET_VS_PRESIDIO else 'NOT met'})"],
    ]
    split_rows = [[k.replace("  ", "&nbsp;&nbsp;"), f"{v * 1000 / n:.3f}", f"{100 * v / split['total']:.0f} %"]
                  for k, v in split.items() if k != "total"]
    split_rows.append(["total (one instrumented pass)", f"{split['total'] * 1000 / n:.3f}", "100 %"])
    text = "\n".join([
        f"Mean listing size {mean_kb:.2f} KB (title + description, UTF-8). Decisions: "
        + ", ".join(f"{a} {c:,}" for a, c in sorted(actions.items()))
        + f". Hits found: regex {regex_hits:,} on all, Presidio {presidio_hits:,} on the subset.",
        "",
        md_table(["run", "listings", "listings/s", "ms/listing", "ratio"], rows),
        "",
        "Engine time split (wrapping the snapshot's normaliser and matcher; ms per listing):",
        "",
        md_table(["stage", "ms/listing", "share"], split_rows),
    ])
    return text, r


def forms_scaling(forms: list[str], data, n: int) -> str:
    from presidio_analyzer import PatternRecognizer

    texts = [d["title"] + "\n" + d["description"] for d in data.listings[:n]]
    rows = []
    for frac in (0.25, 0.5, 1.0):
        k = max(1, int(len(forms) * frac))
        sub = forms[:k]
        pat = regex_baseline(sub)
        rec = PatternRecognizer(supported_entity="BANNED", deny_list=sub)
        rec.analyze("warm up", entities=["BANNED"], nlp_artifacts=None)
        t_r = best_time(lambda: [list(pat.finditer(t)) for t in texts], 2)
        t_p = best_time(lambda: [rec.analyze(t, entities=["BANNED"], nlp_artifacts=None) for t in texts], 1)
        rows.append([f"{k:,}", f"{t_r * 1000 / len(texts):.3f}", f"{t_p * 1000 / len(texts):.3f}"])
    return md_table(["forms", "regex ms/listing", "presidio ms/listing"], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings-dir", help="default $MODERATE_LISTINGS_DIR or <repo>/../shared/data/listings")
    ap.add_argument("-n", type=int, default=3000, help="listings per variant (default 3000)")
    ap.add_argument("--presidio-n", type=int, default=300, help="subset timed with Presidio (default 300)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes, best kept (default 3)")
    ap.add_argument("--sizes", default="1024,2048", help="target listing sizes in bytes (default 1024,2048)")
    ap.add_argument("--name", default="bench_engine", help="result file name under bench/results/")
    args = ap.parse_args(argv)

    host = machine()
    pinned = pin_one_core()
    from presidio_analyzer import PatternRecognizer

    from app.engine import Engine

    t = time.perf_counter()
    engine = Engine()
    t_build = time.perf_counter() - t
    snap = engine.snapshot
    forms = lexicon_forms()
    t = time.perf_counter()
    pattern = regex_baseline(forms)
    t_regex_build = time.perf_counter() - t
    t = time.perf_counter()
    recognizer = PatternRecognizer(supported_entity="BANNED", deny_list=forms)
    recognizer.analyze("warm up", entities=["BANNED"], nlp_artifacts=None)
    t_presidio_build = time.perf_counter() - t

    directory = listings_dir(args.listings_dir)
    sections = []
    results = {}
    source = ""
    for size in [int(s) for s in args.sizes.split(",")]:
        data = build_listings(args.n, size, directory)
        source = data.source
        text, r = run_variant(engine, pattern, recognizer, data, min(args.presidio_n, args.n), args.repeat)
        results[size] = r
        sections.append(f"## ~{size // 1024} KB listings\n\n{text}\n")
        print(f"~{size} B: engine {r['engine']:,.0f}/s, regex {r['regex']:,.0f}/s, presidio {r['presidio']:,.1f}/s, "
              f"engine/presidio {r['engine/presidio']:.1f}x, engine/regex {r['engine/regex']:.2f}x", file=sys.stderr)

    scaling = forms_scaling(forms, build_listings(args.n, 1024, directory), min(args.presidio_n, args.n))
    mix = ", ".join(f"{k} {v:,}" for k, v in data.mix.items())
    summary_rows = [[f"~{s // 1024} KB", fmt_rate(r["engine"]), fmt_rate(r["regex"]), fmt_rate(r["presidio"]),
                     f"**{r['engine/presidio']:.1f}×**", f"{r['engine/regex']:.2f}×"] for s, r in results.items()]
    report = "\n".join([
        "# Engine throughput (one core)",
        "",
        f"- {host}; {pinned}.",
        f"- Data: {source}. Mix per variant: {mix}.",
        f"- Engine: policy {snap.version}, {len(snap.lexicons)} lexicon(s) "
        f"({', '.join(snap.lexicons)}), {len(snap.checks)} check(s), {snap.matcher.term_count} terms, "
        f"{snap.matcher.form_count} automaton keys; built in {t_build:.2f} s.",
        f"- Baselines use the {len(forms):,} distinct term forms of the lexicons (regex compiled in "
        f"{t_regex_build * 1000:.0f} ms; Presidio recognizer built in {t_presidio_build * 1000:.0f} ms). "
        "The regex only finds surface forms (no normalisation, de-obfuscation, exclusions or decision); "
        "Presidio likewise.",
        f"- Best of {args.repeat} passes; Presidio best of {max(1, args.repeat - 1)} on the first "
        f"{min(args.presidio_n, args.n)} listings, and the engine/presidio ratio compares both on that subset. "
        "The engine keeps bounded per-text caches (near-miss candidates of titles); the \"first pass\" row "
        "times the first pass over the listings, with those caches cold.",
        "",
        "## Summary",
        "",
        md_table(["listing size", "engine listings/s", "regex listings/s", "presidio listings/s",
                  f"engine / presidio (target ≥ {TARGET_VS_PRESIDIO:.0f}×)", "engine / regex"], summary_rows),
        "",
        *sections,
        "## Baseline cost against the number of term forms (~1 KB listings)",
        "",
        "The baselines try every form at every position, so their cost grows with the lexicons; the "
        "engine's automaton scan does not depend on the number of forms. Baselines re-run with the first "
        "k forms of the same list, on the Presidio subset:",
        "",
        scaling,
        "",
        "Reproduce: `python bench/bench_engine.py` (see bench/README.md).",
        "",
    ])
    path = write_result(args.name, report)
    print(report)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
