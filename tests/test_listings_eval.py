"""The e-cigarette rules on the real listing data in ../shared/data/listings (bench/eval_listings.py).

Skipped when the data is absent (it is not redistributed with the repository). Otherwise:
false-positive rates within the targets on benign_titles.csv and hard_negatives.csv (with the shop
category as given and without it), recall on vape.csv at least the recorded floor, and the committed
report bench/results/eval_listings.md showing the figures of this very run.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from app.config import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location("eval_listings", REPO_ROOT / "bench" / "eval_listings.py")
ev = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("eval_listings", ev)
_SPEC.loader.exec_module(ev)

RESULTS = REPO_ROOT / "bench" / "results" / "eval_listings.md"

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def report(engine):
    directory = ev.listings_dir()
    if not (directory / ev.POSITIVE_FILE).is_file():
        pytest.skip(f"listing data absent ({directory}): ../shared is not redistributed with the repository; "
                    "set MODERATE_LISTINGS_DIR to run the evaluation")
    return ev.evaluate(engine, directory)


def _fmt(examples, n=15):
    return "\n".join(f"  {t!r} [{rules}]" for t, rules in examples[:n])


@pytest.mark.parametrize("name", list(ev.TARGET_FP))
def test_false_positive_rate_within_target(report, name):
    assert name in report.negatives, f"{name} missing from {report.directory}"
    for r in report.negatives[name]:
        assert r.rows > 0
        assert r.rate <= ev.TARGET_FP[name], (
            f"{name} ({r.mode}): {r.positives}/{r.rows} = {r.rate:.3%} > {ev.TARGET_FP[name]:.1%}\n"
            + _fmt(r.examples))


def test_recall_not_below_floor(report):
    r = report.recall
    assert r is not None and r.rows > 0
    assert r.rate >= ev.RECALL_FLOOR, (
        f"recall {r.positives}/{r.rows} = {r.rate:.2%} fell below the floor {ev.RECALL_FLOOR:.1%}\n" + _fmt(r.examples))


def test_every_shop_is_caught_mostly(report):
    # the English US-wholesale rows carry descriptions: all of them must be caught
    for source, (rows, caught) in report.recall.by_source.items():
        assert caught / rows >= ev.RECALL_FLOOR - 0.01, (source, caught, rows)


@pytest.mark.xfail(strict=True, reason=(
    "target 100% recall on vape.csv is not reached: the rows left are generic accessories (bags, AA and 18650 "
    "cells, chargers), DIY 'Aroma <fruit>' bottles and house-brand spare parts whose titles contain no "
    "e-cigarette word (see bench/results/eval_listings.md); strict: passing means the floor can be raised"))
def test_recall_target(report):
    assert report.recall.rate >= ev.TARGET_RECALL


def test_committed_report_matches_this_run(report):
    assert RESULTS.is_file(), "run `python bench/eval_listings.py` to write bench/results/eval_listings.md"
    text = RESULTS.read_text(encoding="utf-8")
    for row in ev.table_rows(report):
        assert row in text, f"bench/results/eval_listings.md is stale (rerun bench/eval_listings.py): {row}"


def test_markdown_report_quotes_at_most_40_titles(report):
    md = ev.render_markdown(report)
    quoted = [ln for ln in md.splitlines() if ln.startswith("| miss |") or ln.startswith("| false positive")]
    assert len(quoted) <= ev.MAX_QUOTED
    for row in ev.table_rows(report):
        assert row in md
