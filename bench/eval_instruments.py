"""Evaluate the controlled-instrument rules on the real listing data in ``../shared/data/listings``.

Usage::

    python bench/eval_instruments.py [--dir PATH] [--out bench/results/eval_instruments.md] [--quiet]

The directory defaults to ``$MODERATE_LISTINGS_DIR`` or ``<repo>/../shared/data/listings``. The data is
reference data with unclear rights (see its README): it is read from there and never copied into the
repository; the report holds counts and at most ``MAX_QUOTED`` short quoted titles.

Each row is moderated from its title + description (the upstream ``category`` column is a review-site
topic or a shop path, not a marketplace category, and the instrument rules do not read categories).

* ``knives_weapons.csv``: share of rows blocked with a ``controlled_instrument`` violation, and share sent
  to review. Its labels are topic-level, not verified: many rows are legal knives (EDC folders, kitchen and
  utility knives, machetes, pneumatic blow guns, Wii "Nunchuk" controllers), so a miss is not necessarily wrong.
* ``hard_negatives.csv`` and ``benign_titles.csv``: false-positive rate = rows with a
  ``controlled_instrument`` violation whose action is not ``allow`` (targets 2 % and 0.5 %).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, also when loaded by a test
from app.models import Listing  # noqa: E402
from benchlib import DEFAULT_LISTINGS_DIR as DEFAULT_DIR, listings_dir, read_rows  # noqa: E402

FAMILY = "controlled_instrument"
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "eval_instruments.md"
MAX_QUOTED = 40
QUOTE_CHARS = 70
POSITIVE_FILE = "knives_weapons.csv"
NEGATIVE_FILES = ("hard_negatives.csv", "benign_titles.csv")
TARGET_FP = {"hard_negatives.csv": 0.02, "benign_titles.csv": 0.005}


def outcome(engine, idx: int, row: dict[str, str]):
    title = (row.get("title") or "").strip()
    if not title:
        return None
    d = engine.moderate(Listing(listing_id=f"row{idx}", title=title[:1000],
                                description=(row.get("description") or "")[:200_000]))
    vs = [v for v in d.violations if v.category == FAMILY]
    blocked = any(v.action == "block" for v in vs)
    flagged = any(v.action != "allow" for v in vs)
    review = any(v.review for v in vs) and not flagged
    rules = sorted({v.rule_id for v in vs if not v.rule_id.startswith("circumvention.")})
    terms = sorted({e.text for v in vs for e in v.evidence})
    return title, blocked, flagged, review, rules, terms


def quote(t: str) -> str:
    t = t.replace("|", "/")
    return f'"{t[:QUOTE_CHARS]}{"…" if len(t) > QUOTE_CHARS else ""}"'


def evaluate(directory: Path, quiet: bool = False) -> dict:
    from app.engine import Engine

    engine = Engine()
    res: dict = {}
    t0 = time.perf_counter()
    rows = read_rows(directory / POSITIVE_FILE)
    pos = {"rows": 0, "blocked": 0, "review": 0, "by_rule": Counter(), "by_topic": {}, "missed": [], "reviewed": []}
    for i, row in enumerate(rows):
        o = outcome(engine, i, row)
        if o is None:
            continue
        title, blocked, flagged, review, rules, terms = o
        topic = (row.get("category") or "").split("|")[0].replace("review-site topic:", "").strip()
        t = pos["by_topic"].setdefault(topic, [0, 0, 0])
        pos["rows"] += 1
        t[0] += 1
        for r in rules:
            pos["by_rule"][r] += 1
        if blocked:
            pos["blocked"] += 1
            t[1] += 1
        elif review:
            pos["review"] += 1
            t[2] += 1
            pos["reviewed"].append(title)
        else:
            pos["missed"].append(title)
    res[POSITIVE_FILE] = pos
    for name in NEGATIVE_FILES:
        neg = {"rows": 0, "fp": 0, "review": 0, "fps": [], "reviewed": []}
        for i, row in enumerate(read_rows(directory / name)):
            o = outcome(engine, i, row)
            if o is None:
                continue
            title, blocked, flagged, review, rules, terms = o
            neg["rows"] += 1
            if flagged:
                neg["fp"] += 1
                neg["fps"].append((title, rules, terms))
            elif review:
                neg["review"] += 1
                neg["reviewed"].append(title)
        res[name] = neg
    res["seconds"] = time.perf_counter() - t0
    if not quiet:
        p = res[POSITIVE_FILE]
        print(f"{POSITIVE_FILE}: {p['blocked']}/{p['rows']} blocked ({p['blocked'] / p['rows']:.1%}), "
              f"{p['review']} review")
        for name in NEGATIVE_FILES:
            n = res[name]
            print(f"{name}: FP {n['fp']}/{n['rows']} ({n['fp'] / n['rows']:.3%}), review {n['review']}")
            for title, rules, terms in n["fps"]:
                print("   FP", title[:90], rules, terms[:3])
    return res


def write_report(res: dict, out: Path) -> None:
    p = res[POSITIVE_FILE]
    lines = [
        "# Controlled instruments on real listings",
        "",
        "Generated by `bench/eval_instruments.py` (title + description of each row; data read from "
        "`../shared/data/listings`, never copied). Labels of `knives_weapons.csv` are topic-level and "
        "unverified: many rows are legal knives.",
        "",
        "| file | rows | blocked (controlled_instrument) | review only | FP rate (non-allow) | target |",
        "|---|---|---|---|---|---|",
        f"| {POSITIVE_FILE} | {p['rows']} | {p['blocked']} ({p['blocked'] / p['rows']:.1%}) | {p['review']} | – | – |",
    ]
    for name in NEGATIVE_FILES:
        n = res[name]
        lines.append(f"| {name} | {n['rows']} | – | {n['review']} | {n['fp']} ({n['fp'] / n['rows']:.3%}) | "
                     f"≤ {TARGET_FP[name]:.1%} |")
    lines += ["", f"Run time: {res['seconds']:.1f} s for all three files.", "",
              "## knives_weapons.csv by review-site topic (rows / blocked / review)", ""]
    for topic, (rows, blocked, review) in sorted(p["by_topic"].items()):
        lines.append(f"- {topic}: {rows} / {blocked} / {review}")
    lines += ["", "Rules: " + ", ".join(f"{r} {c}" for r, c in sorted(p["by_rule"].items())), ""]
    quoted = 0

    def take(titles, limit):
        nonlocal quoted
        out = []
        for t in titles[:limit]:
            if quoted >= MAX_QUOTED:
                break
            out.append(f"- {quote(t)}")
            quoted += 1
        return out

    fps = [(name, t, rules, terms) for name in NEGATIVE_FILES for t, rules, terms in res[name]["fps"]]
    lines += ["## False positives (all; reasons in the closing note)", ""]
    for name, t, rules, terms in fps:
        if quoted < MAX_QUOTED:
            lines.append(f"- {name}: {quote(t)} → {', '.join(rules)} on {', '.join(map(quote, terms[:2]))}")
            quoted += 1
    lines += ["", f"## Sample of knives_weapons.csv rows neither blocked nor reviewed ({len(p['missed'])} in all)", ""]
    lines += take(p["missed"], 20)
    lines += ["", f"## Sample of knives_weapons.csv rows sent to review only ({len(p['reviewed'])} in all)", ""]
    lines += take(p["reviewed"], 12)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=listings_dir())
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    res = evaluate(args.dir, args.quiet)
    write_report(res, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
