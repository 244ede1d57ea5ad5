"""The text classifier (issue 7): speed, size, held-out quality, and what it adds to the lexicons.

Usage::

    python bench/bench_classifier.py [--listings-dir DIR] [--single 2000] [--repeat 3]

Everything runs in one process pinned to one core, with BLAS limited to one thread:

* **batch inference**: ``ClassifierCheck.scores`` (hashing, TF-IDF, linear model, calibration) on all
  held-out listings at once -> listings/s (target >= 3,000);
* **single call**: ``Engine.moderate`` on the same listings one at a time, with and without the
  classifier (two engines from the same data, interleaved listing by listing); the added p50 is the
  difference of the two p50s (target <= 1 ms);
* **~1 KB listings** (issue 3's engine benchmark data, ``benchlib.build_listings``): ``ClassifierCheck.run``
  with the fast featuriser (cached per-word n-gram columns, the shipped path) against the reference
  featuriser (scikit-learn's ``HashingVectorizer.transform``, the path before), interleaved listing by
  listing on the same prepared listings, target <= 0.25 ms; the largest probability difference between
  the two and the number of listings whose findings differ (both must be 0); and the engine's throughput
  on the same listings with the classifier off, on with the reference featuriser, and on with the fast one;
* **model size** (target <= 50 MB);
* **held-out quality**: the test split (real rows no training run saw, rebuilt from the seed in the
  model card) scored at the thresholds in the policy: precision / recall per category;
* **what the lexicons miss**: every real risky test listing is moderated by the engine *without* the
  classifier (so the lexicons as they are today, not as they were when the model was trained); a miss
  is a decision with no violation of the listing's category. Then the full engine runs on the misses:
  how many get a classifier violation of that category (review, or block). The cost side: real benign
  test listings that get a classifier violation.

Without ``../shared`` the held-out parts cannot run (the data is not in the repository) and the
speed figures use authored examples; the output says so. Writes ``bench/results/bench_classifier.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, fmt_rate, listings_dir, machine, md_table, pin_one_core, write_result  # noqa: E402

TARGET_RATE = 3000
TARGET_ADDED_P50_MS = 1.0
TARGET_MB = 50
TARGET_RUN_1KB_MS = 0.25


def one_kb_section(with_clf, without, check, directory, n: int, repeat: int) -> list[str]:
    """Classifier cost on ~1 KB listings, fast featuriser vs reference, and the engine on/off."""
    import numpy as np

    from app.classifier.check import FastScorer
    from app.classifier.features import text_of
    from app.config import Settings
    from app.engine import Engine
    from app.engine.core import prepare
    from app.models import Listing
    from benchlib import build_listings

    data = build_listings(n, 1024, directory)
    listings = [Listing.model_validate(d) for d in data.listings]
    mean_bytes = sum(len((x.title + x.description).encode("utf-8")) for x in listings) / len(listings)
    # the path before: the same model, counts from scikit-learn's HashingVectorizer.transform
    before = Engine(Settings(classifier=True))
    ref_check = next(c for c in before.snapshot.checks if c.name == "classifier")
    ref_check.fast = FastScorer(ref_check.features, ref_check.clf, fast_counts=False)
    fresh = FastScorer(check.features, check.clf)  # an empty word cache: the first pass, cold
    snap = with_clf.snapshot
    items = [prepare(x, snap) for x in listings]

    # equality on every listing: probabilities and findings
    max_diff, differ = 0.0, 0
    cold = []
    for it in items:
        text = text_of(it.listing)
        t0 = time.perf_counter()
        p_fast = fresh.proba(*fresh.vector(text))
        cold.append((time.perf_counter() - t0) * 1e3)
        p_ref = ref_check.fast.proba(*ref_check.fast.vector(text))
        max_diff = max(max_diff, float(np.abs(p_fast - p_ref).max()))
        differ += check.run(it) != ref_check.run(it)
    lat_fast, lat_ref = [], []
    for _ in range(repeat):
        for it in items:
            t0 = time.perf_counter()
            check.run(it)
            t1 = time.perf_counter()
            ref_check.run(it)
            t2 = time.perf_counter()
            lat_fast.append((t1 - t0) * 1e3)
            lat_ref.append((t2 - t1) * 1e3)
    findings = sum(bool(check.run(it)) for it in items)

    engines = {"off": without, "on, reference featuriser (before)": before, "on, fast featuriser (now)": with_clf}
    best = {k: float("inf") for k in engines}
    for r in range(repeat):
        order = list(engines)
        order = order[r % 3:] + order[: r % 3]  # rotate, so no engine always runs first
        for k in order:
            eng = engines[k]
            t0 = time.perf_counter()
            for x in listings:
                eng.moderate(x)
            best[k] = min(best[k], time.perf_counter() - t0)
    rate = {k: len(listings) / v for k, v in best.items()}
    p50_fast, p50_ref = statistics.median(lat_fast), statistics.median(lat_ref)
    mean_fast, mean_ref = statistics.fmean(lat_fast), statistics.fmean(lat_ref)
    info = check.fast.blocks[0][1].cache_info()
    off_ms = 1e3 / rate["off"]
    return [
        "", "## ~1 KB listings: fast featuriser against the reference (same run)", "",
        f"Listings: {len(listings)} (~{mean_bytes:,.0f} B of title + description each; {data.source}; "
        f"mix {', '.join(f'{k} {v:,}' for k, v in data.mix.items())}). The classifier reads title | keywords | "
        "category | the first 600 characters of the description.", "",
        md_table(["figure", "reference (sklearn transform, before)", "fast (cached word n-grams, now)", "target", "met"], [
            ["ClassifierCheck.run p50, ms", f"{p50_ref:.3f}", f"**{p50_fast:.3f}**", f"<= {TARGET_RUN_1KB_MS}",
             "yes" if p50_fast <= TARGET_RUN_1KB_MS else "NO"],
            ["ClassifierCheck.run mean / p95, ms", f"{mean_ref:.3f} / {_pct(lat_ref, .95):.3f}",
             f"{mean_fast:.3f} / {_pct(lat_fast, .95):.3f}", "", ""],
            ["featurise + score, first pass with an empty word cache, mean ms", "", f"{statistics.fmean(cold):.3f}",
             "", ""],
            ["engine listings/s, classifier on", fmt_rate(rate["on, reference featuriser (before)"]),
             fmt_rate(rate["on, fast featuriser (now)"]), "", ""],
            ["engine ms/listing added by the classifier",
             f"{1e3 / rate['on, reference featuriser (before)'] - off_ms:.3f}",
             f"{1e3 / rate['on, fast featuriser (now)'] - off_ms:.3f}", "", ""],
        ]), "",
        f"Engine with the classifier off (`MODERATE_CLASSIFIER=off`) on the same listings: "
        f"{fmt_rate(rate['off'])} listings/s. Engine figures: best of {repeat} passes, the three engines rotated "
        f"pass by pass. Check timings: {len(items)} listings x {repeat}, the two checks interleaved listing by listing "
        f"(warm word cache: {info.currsize:,} words cached, {info.hits:,} hits / {info.misses:,} misses).", "",
        f"Same outputs: largest |probability difference| fast vs reference over the {len(items)} listings: "
        f"**{max_diff:.1e}**; listings whose findings differ: **{differ}** (of {findings} with findings). "
        "tests/test_classifier_fast.py proves the counts equal `HashingVectorizer.transform` exactly.",
    ]


def _listing(i: int, row):
    from app.models import Listing

    return Listing(listing_id=f"r{i}", title=row.title[:1000], description=row.description or "",
                   category=row.category or None)


def _pct(p: list[float], q: float) -> float:
    s = sorted(p)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings-dir")
    ap.add_argument("--single", type=int, default=2000, help="listings timed one at a time")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kb-n", type=int, default=1500, help="~1 KB listings for the fast/reference comparison")
    ap.add_argument("--out", default="bench_classifier")
    args = ap.parse_args(argv)

    pinned = pin_one_core()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    from app.classifier import train as T
    from app.classifier.card import CARD_JSON
    from app.classifier.features import CATEGORIES, NONE, text_of
    from app.config import Settings
    from app.engine import Engine

    with_clf = Engine(Settings(classifier=True))
    without = Engine(Settings(classifier=False))
    check = next((c for c in with_clf.snapshot.checks if c.name == "classifier"), None)
    if check is None:
        print("the policy loads no classifier (no classifier: section?)", file=sys.stderr)
        return 3
    card = json.loads((with_clf.settings.models_path / CARD_JSON).read_text(encoding="utf-8"))
    seed = card["split"]["seed"]
    model_path = with_clf.settings.models_path / with_clf.snapshot.policy.classifier.model
    size_mb = model_path.stat().st_size / 1e6

    directory = listings_dir(args.listings_dir)
    real = directory.is_dir()
    if real:
        ds = T.load_dataset(directory, seed=seed, lists_dir=with_clf.settings.cas_lists_path)
        test = ds.of("test", True)
        source = f"real test split of {directory} (seed {seed}): {len(test)} listings no training run saw"
    else:
        from app.classifier.authored import generate
        from app.classifier.data import Row

        test = [Row(r.title, r.label, "authored", "", "test", r.title, r.category, r.description)
                for r in generate(seed)]
        source = (f"{directory} is absent: authored examples ({len(test)}); no held-out quality figures "
                  "(the real data is not in the repository)")
    listings = [_listing(i, r) for i, r in enumerate(test)]
    texts = [text_of(x) for x in listings]

    # ---------------------------------------------------------------- batch inference
    rates = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        check.scores(texts)
        rates.append(len(texts) / (time.perf_counter() - t))
    batch_rate = max(rates)

    # ---------------------------------------------------------------- single call, with and without
    sample = listings[:: max(1, len(listings) // args.single)][: args.single]
    for x in sample[:200]:  # warm-up
        with_clf.moderate(x)
        without.moderate(x)
    lat_with, lat_without, lat_check = [], [], []
    from app.engine.core import prepare

    snap = with_clf.snapshot
    for _ in range(args.repeat):
        for x in sample:
            t0 = time.perf_counter()
            without.moderate(x)
            t1 = time.perf_counter()
            with_clf.moderate(x)
            t2 = time.perf_counter()
            lat_without.append((t1 - t0) * 1e3)
            lat_with.append((t2 - t1) * 1e3)
        for x in sample:
            item = prepare(x, snap)
            t0 = time.perf_counter()
            check.run(item)
            lat_check.append((time.perf_counter() - t0) * 1e3)
    p50_with, p50_without = statistics.median(lat_with), statistics.median(lat_without)
    added = p50_with - p50_without

    lines = [
        "# Text classifier benchmark (issue 7)",
        "",
        f"Machine: {machine()}; {pinned}; BLAS threads limited to 1.",
        f"Model: `{model_path.relative_to(REPO_ROOT) if model_path.is_relative_to(REPO_ROOT) else model_path}` "
        f"({card['model']['family']}), sha256 `{check.sha256[:16]}…`.",
        f"Listings: {source}.",
        "",
        "## Speed and size",
        "",
        md_table(["figure", "measured", "target", "met"], [
            ["batch inference, listings/s (one core)", fmt_rate(batch_rate), f">= {TARGET_RATE:,}",
             "yes" if batch_rate >= TARGET_RATE else "NO"],
            ["engine p50 without classifier, ms", f"{p50_without:.3f}", "", ""],
            ["engine p50 with classifier, ms", f"{p50_with:.3f}", "", ""],
            ["added p50 per /v1/moderate call, ms", f"{added:.3f}", f"<= {TARGET_ADDED_P50_MS}",
             "yes" if added <= TARGET_ADDED_P50_MS else "NO"],
            ["engine p95 without / with, ms", f"{_pct(lat_without, .95):.3f} / {_pct(lat_with, .95):.3f}", "", ""],
            ["ClassifierCheck.run alone p50 / p95, ms", f"{statistics.median(lat_check):.3f} / "
             f"{_pct(lat_check, .95):.3f}", "", ""],
            ["model file, MB", f"{size_mb:.1f}", f"<= {TARGET_MB}", "yes" if size_mb <= TARGET_MB else "NO"],
        ]),
        "",
        f"Batch: {len(texts)} listings per run, best of {args.repeat}. Single call: {len(sample)} listings x "
        f"{args.repeat}, the two engines interleaved listing by listing (same data files, same process).",
    ]
    lines += one_kb_section(with_clf, without, check, directory, args.kb_n, args.repeat)

    if real:
        import numpy as np

        # ------------------------------------------------------------ held-out quality at the policy thresholds
        proba = check.scores(texts)
        classes = list(check.clf.classes_)
        y = np.array([r.label for r in test])
        rows = []
        for cat in CATEGORIES:
            t = check.thresholds[cat]
            s = proba[:, classes.index(cat)]
            pos = int((y == cat).sum())

            def pr(th):
                flagged = s >= th
                tp = int((flagged & (y == cat)).sum())
                n = int(flagged.sum())
                return (f"{tp / n:.1%}" if n else "–"), (f"{tp / pos:.1%}" if pos else "–"), n

            rp, rr, rn = pr(t.review)
            bp, br, bn = pr(t.block) if t.block is not None else ("–", "–", "–")
            rows.append([cat, pos, t.review, rp, rr, rn, t.block if t.block is not None else "–", bp, br, bn])
        lines += ["", "## Held-out precision / recall at the policy thresholds", "",
                  "Precision counts every test listing scored at or above the threshold (benign ones included); "
                  "recall is over the category's test listings.", "",
                  md_table(["category", "test listings", "review ≥", "precision", "recall", "flagged",
                            "block ≥", "precision", "recall", "flagged"], rows)]

        # ------------------------------------------------------------ what the lexicons miss
        miss = Counter()
        total = Counter()
        caught = Counter()
        caught_block = Counter()
        any_violation = Counter()
        for x, r in zip(listings, test):
            if r.label == NONE:
                continue
            total[r.label] += 1
            d0 = without.moderate(x)
            if any(v.category == r.label for v in d0.violations):
                continue
            miss[r.label] += 1
            if d0.violations:
                any_violation[r.label] += 1
            d1 = with_clf.moderate(x)
            hits = [v for v in d1.violations if v.category == r.label and v.rule_id in snap.policy.model_rule_ids]
            if hits:
                caught[r.label] += 1
                if any(v.action == "block" for v in hits):
                    caught_block[r.label] += 1
        rows = [[c, total[c], total[c] - miss[c], miss[c], caught[c], caught_block[c],
                 f"{caught[c] / miss[c]:.1%}" if miss[c] else "–"] for c in CATEGORIES if total[c]]
        T_ = sum(total.values())
        M_ = sum(miss.values())
        C_ = sum(caught.values())
        rows.append(["**all**", T_, T_ - M_, M_, C_, sum(caught_block.values()), f"{C_ / M_:.1%}" if M_ else "–"])
        lines += ["", "## Real risky listings the lexicons alone miss, and what the classifier does with them", "",
                  "Lexicons = the engine with `MODERATE_CLASSIFIER=off`, as the data files are today (run time, "
                  "not training time). A miss = no violation of the listing's category.", "",
                  md_table(["category", "test listings", "lexicons catch", "lexicons miss",
                            "classifier flags (review or block)", "of which block", "share of misses"], rows)]

        # ------------------------------------------------------------ the cost: benign listings sent to review
        by_file = Counter(r.file for r in test if r.label == NONE)
        # only listings the classifier flags can get a classifier violation: moderate those
        flagged_idx = [i for i, r in enumerate(test) if r.label == NONE and check.suspicions(proba[i])]
        new_reviews = Counter()
        for i in flagged_idx:
            d1 = with_clf.moderate(listings[i])
            if any(v.rule_id in snap.policy.model_rule_ids for v in d1.violations):
                new_reviews[test[i].file] += 1
        rows = [[f"`{f}`", n, new_reviews[f], f"{new_reviews[f] / n:.2%}"] for f, n in sorted(by_file.items())]
        lines += ["", "## Cost: real benign test listings that get a classifier violation", "",
                  md_table(["file", "listings", "with a classifier violation", "rate"], rows),
                  "", "The shared benign files lack most words risky products share with benign ones (their README: "
                  "those rows were held out), so these rates are a floor, not an estimate for a marketplace."]
    lines.append("")
    path = write_result(args.out, "\n".join(lines))
    print("\n".join(lines))
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
