"""Evaluate the e-cigarette rules on the real listing data in ``../shared/data/listings``.

Usage::

    python bench/eval_listings.py [--dir PATH] [--out bench/results/eval_listings.md] [--quiet]

The directory defaults to ``$MODERATE_LISTINGS_DIR`` or ``<repo>/../shared/data/listings``. The data
is reference data with unclear rights (see its README): it is read from there and never copied into
the repository. The generated report holds only counts and at most ``MAX_QUOTED`` short quoted titles.

What is measured (policy.md §3.2):

* **recall** on ``vape.csv``: the decision is ``block`` or ``region_mask`` and carries an
  ``e_cigarette`` violation. Each row is moderated from its title + description only: the upstream
  ``category`` column of ``vape.csv`` is "brand: X; supplier: Y" metadata, not a marketplace category.
* **false-positive rate** on ``benign_titles.csv`` and ``hard_negatives.csv``: any ``e_cigarette``
  violation whose action is not ``allow``. These files carry real shop category paths, so they are
  moderated with the category as given *and* without it; both figures are reported when they differ.
* **review rate**: rows whose decision has an ``e_cigarette`` violation with ``review: true``.

Also importable: :func:`evaluate` returns an :class:`EvalReport`; the test-suite asserts its targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, also when loaded by a test
from app.models import Listing  # noqa: E402
from benchlib import DEFAULT_LISTINGS_DIR as DEFAULT_DIR, listings_dir, read_rows  # noqa: E402

FAMILY = "e_cigarette"
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "eval_listings.md"
MAX_QUOTED = 40          # quoted titles in the committed report (licence note of the data README)
QUOTE_CHARS = 70
POSITIVE_FILE = "vape.csv"
NEGATIVE_FILES = ("benign_titles.csv", "hard_negatives.csv")
# Targets (brief): recall on vape.csv, maximum FP rate per negative file.
TARGET_RECALL = 1.0
TARGET_FP = {"benign_titles.csv": 0.005, "hard_negatives.csv": 0.02}
# What the lexicon reaches today (regression floor, asserted by tests/test_listings_eval.py). The rows
# still missed are generic accessories (bags, AA cells, 18650 cells, chargers, tweezers), DIY "Aroma <fruit>"
# bottles and a wholesaler's house-brand parts whose titles name no e-cigarette word; catching them
# would take the catalogue's own product names (see bench/results/eval_listings.md).
RECALL_FLOOR = 0.915


def make_listing(idx: int, row: dict[str, str], with_category: bool) -> Listing | None:
    title = (row.get("title") or "").strip()
    if not title:
        return None
    cat = (row.get("category") or "").strip() if with_category else ""
    return Listing(listing_id=f"row{idx}", title=title[:1000],
                   description=(row.get("description") or "")[:200_000], category=cat or None)


@dataclass
class Outcome:
    """The e-cigarette part of one decision."""
    action: str            # decision action
    ecig_actions: tuple    # actions of the e_cigarette violations
    review: bool           # an e_cigarette violation asks for review
    rules: tuple
    evidence: tuple = ()   # (field, text) of the e_cigarette evidence

    @property
    def flagged(self) -> bool:
        """An e_cigarette violation with an action other than allow."""
        return any(a != "allow" for a in self.ecig_actions)

    @property
    def caught(self) -> bool:
        """Recall criterion: blocked or region-masked with an e_cigarette violation."""
        return self.action in ("block", "region_mask") and bool(self.ecig_actions) and self.flagged

    def describe(self) -> str:
        """The e-cig rules and what they matched, for the listing of misses / false positives."""
        if not self.rules:
            return "-"
        ev = "; ".join(f"{f}:{t[:25]!r}" for f, t in self.evidence[:3])
        return ",".join(r for r in self.rules if not r.startswith("circumvention.")) + (f" ← {ev}" if ev else "")


def outcome(engine, listing: Listing) -> Outcome:
    d = engine.moderate(listing)
    ev = [v for v in d.violations if v.category == FAMILY]
    return Outcome(d.action, tuple(v.action for v in ev), any(v.review for v in ev),
                   tuple(sorted({v.rule_id for v in ev})),
                   tuple(sorted({(e.field, e.text) for v in ev for e in v.evidence})))


@dataclass
class FileResult:
    name: str
    mode: str                 # "title+description" / "with category" / "without category"
    rows: int = 0
    positives: int = 0        # caught (vape) or flagged (negatives)
    reviews: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, list[int]] = field(default_factory=dict)  # source repo -> [rows, positives]
    category_only: int = 0    # positives whose e-cig evidence is all in the category field
    examples: list[tuple[str, str]] = field(default_factory=list)  # (title, rules) of misses / FPs

    @property
    def rate(self) -> float:
        return self.positives / self.rows if self.rows else 0.0

    @property
    def review_rate(self) -> float:
        return self.reviews / self.rows if self.rows else 0.0


@dataclass
class EvalReport:
    directory: Path
    recall: FileResult | None = None
    negatives: dict[str, list[FileResult]] = field(default_factory=dict)
    seconds: float = 0.0

    def fp(self, name: str) -> FileResult:
        """The headline FP figure of a negative file: with the category as given."""
        return self.negatives[name][0]

    def failures(self) -> list[str]:
        out = []
        if self.recall is not None and self.recall.rate < TARGET_RECALL:
            out.append(f"recall on {POSITIVE_FILE} {self.recall.rate:.2%} < {TARGET_RECALL:.0%}")
        for name, limit in TARGET_FP.items():
            for r in self.negatives.get(name, []):
                if r.rate > limit:
                    out.append(f"FP on {name} ({r.mode}) {r.rate:.3%} > {limit:.1%}")
        return out


def _eval_file(engine, rows, name: str, mode: str, positive: bool, with_category: bool) -> FileResult:
    res = FileResult(name, mode)
    for i, row in enumerate(rows):
        listing = make_listing(i, row, with_category)
        if listing is None:
            continue
        res.rows += 1
        o = outcome(engine, listing)
        hit = o.caught if positive else o.flagged
        src = res.by_source.setdefault((row.get("source") or "").split(":")[0] or "(none)", [0, 0])
        src[0] += 1
        src[1] += hit
        if o.review:
            res.reviews += 1
        if hit:
            res.positives += 1
            for r in o.rules:
                res.by_rule[r] = res.by_rule.get(r, 0) + 1
            if o.evidence and all(f == "category" for f, _ in o.evidence):
                res.category_only += 1
        if hit != positive:
            res.examples.append((listing.title, o.describe()))
    return res


def evaluate(engine=None, directory: Path | None = None) -> EvalReport:
    """Run the engine over the listing files in ``directory``."""
    if engine is None:
        from app.engine import Engine
        engine = Engine()
    directory = Path(directory) if directory else listings_dir()
    t0 = time.perf_counter()
    rep = EvalReport(directory)
    vape = directory / POSITIVE_FILE
    if vape.is_file():
        rep.recall = _eval_file(engine, read_rows(vape), POSITIVE_FILE, "title+description",
                                positive=True, with_category=False)
    for name in NEGATIVE_FILES:
        path = directory / name
        if not path.is_file():
            continue
        rows = read_rows(path)
        rep.negatives[name] = [
            _eval_file(engine, rows, name, "with category", positive=False, with_category=True),
            _eval_file(engine, rows, name, "without category", positive=False, with_category=False),
        ]
    rep.seconds = time.perf_counter() - t0
    return rep


def table_rows(rep: EvalReport) -> list[str]:
    """The figures of the report as markdown table rows (deterministic: no timing)."""
    rows = []
    if rep.recall:
        r = rep.recall
        rows.append(f"| {r.name} | {r.mode} | {r.rows} | recall (block/region_mask) | {r.positives} | "
                    f"{r.rate:.2%} | ≥ {TARGET_RECALL:.0%} | {r.review_rate:.2%} |")
    for name, results in rep.negatives.items():
        for r in results:
            rows.append(f"| {name} | {r.mode} | {r.rows} | false positives | {r.positives} | "
                        f"{r.rate:.3%} | ≤ {TARGET_FP[name]:.1%} | {r.review_rate:.3%} |")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("`", "'").replace("\n", " ")


def _quote(title: str) -> str:
    t = " ".join(title.split())
    t = t if len(t) <= QUOTE_CHARS else t[: QUOTE_CHARS - 1] + "…"
    return '"' + t.replace("|", "/").replace("`", "'") + '"'


def render_markdown(rep: EvalReport, policy_version: str = "", lexicon_version: str = "") -> str:
    lines = [
        "# E-cigarette rules on the shared listing data",
        "",
        "Generated by `bench/eval_listings.py` (do not edit by hand). Data: `../shared/data/listings`",
        "(not in this repository: its rights are not cleared). Only counts and a few short quoted",
        f"titles of misses and false positives are kept here (at most {MAX_QUOTED}).",
        "",
    ]
    if policy_version or lexicon_version:
        lines += [f"Policy version `{policy_version}`, e-cigarette lexicon version `{lexicon_version}`.", ""]
    lines += [
        "| file | mode | rows | measure | count | rate | target | e-cig review rate |",
        "|---|---|---:|---|---:|---:|---|---:|",
        *table_rows(rep),
    ]
    lines += ["", f"Runtime: {rep.seconds:.1f} s.", ""]
    if rep.recall and rep.recall.by_rule:
        lines += ["Recall by rule (a row can carry several): " +
                  ", ".join(f"`{k}` {v}" for k, v in sorted(rep.recall.by_rule.items())), ""]
    if rep.recall and len(rep.recall.by_source) > 1:
        lines += ["Recall by source shop: " + ", ".join(
            f"`{k}` {p}/{n} = {p / n:.2%}" for k, (n, p) in sorted(rep.recall.by_source.items())), ""]
    for name, results in rep.negatives.items():
        for r in results:
            if r.category_only:
                lines += [f"{name} ({r.mode}): {r.category_only} of the {r.positives} false positives match only "
                          "in the `category` field (review-site rows carry the review topic there, e.g. "
                          "\"Essential Oil Vape\").", ""]
    failures = rep.failures()
    lines += ["Targets: " + ("all met." if not failures else "NOT met: " + "; ".join(failures)), ""]
    fps: list[str] = []
    for name, results in rep.negatives.items():
        seen: set[str] = set()
        for r in results:
            for t, rules in r.examples:
                if t in seen:
                    continue
                seen.add(t)
                fps.append(f"| false positive ({r.mode}) | {name} | {_quote(t)} | {_cell(rules)} |")
    misses = [f"| miss | {POSITIVE_FILE} | {_quote(t)} | {_cell(rules)} |" for t, rules in
              (rep.recall.examples if rep.recall else [])]
    # at most MAX_QUOTED rows: false positives first (at most half), misses fill the rest
    shown_fp = fps[: max(MAX_QUOTED // 2, MAX_QUOTED - len(misses))]
    shown_miss = misses[: MAX_QUOTED - len(shown_fp)]
    if fps or misses:
        lines += ["## Misses and false positives", "",
                  f"{len(misses)} misses and {len(fps)} distinct false-positive titles; "
                  f"{len(shown_fp) + len(shown_miss)} are quoted here (run the script to print all).", "",
                  "| kind | file | title | e-cig rules ← evidence |", "|---|---|---|---|"]
        lines += shown_fp + shown_miss
        lines.append("")
    else:
        lines += ["No misses and no false positives.", ""]
    return "\n".join(lines)


def print_report(rep: EvalReport, out=sys.stdout) -> None:
    if rep.recall:
        r = rep.recall
        print(f"{r.name}: recall {r.positives}/{r.rows} = {r.rate:.2%}  (e-cig review {r.review_rate:.2%})", file=out)
        for k, (n, p) in sorted(r.by_source.items()):
            print(f"  source {k}: {p}/{n} = {p / n:.2%}", file=out)
        for t, rules in r.examples:
            print(f"  MISS {t!r}  [{rules}]", file=out)
    for name, results in rep.negatives.items():
        for r in results:
            print(f"{name} ({r.mode}): FP {r.positives}/{r.rows} = {r.rate:.3%}  "
                  f"(e-cig review {r.reviews} = {r.review_rate:.3%})", file=out)
            for t, rules in r.examples:
                print(f"  FP {t!r}  [{rules}]", file=out)
    print(f"({rep.seconds:.1f} s)", file=out)
    f = rep.failures()
    print("targets: " + ("met" if not f else "NOT met: " + "; ".join(f)), file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help="listing data directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report to write ('-' = none)")
    ap.add_argument("--quiet", action="store_true", help="do not print misses and false positives")
    args = ap.parse_args(argv)
    directory = args.dir or listings_dir()
    if not directory.is_dir():
        print(f"listing data not found: {directory}", file=sys.stderr)
        return 2
    from app.engine import Engine
    engine = Engine()
    rep = evaluate(engine, directory)
    if args.quiet:
        for r in [rep.recall, *(x for rs in rep.negatives.values() for x in rs)]:
            if r:
                print(f"{r.name} ({r.mode}): {r.positives}/{r.rows} = {r.rate:.3%}")
    else:
        print_report(rep)
    if str(args.out) != "-":
        snap = engine.snapshot
        md = render_markdown(rep, snap.version, snap.lexicons[FAMILY].version if FAMILY in snap.lexicons else "")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0 if not rep.failures() else 1


if __name__ == "__main__":
    raise SystemExit(main())
