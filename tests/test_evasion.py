"""Programmatic evasion (issue 4 item 6): the authored set of bench/gen_evasion.py -- every decisive
lexicon form of the e-cigarette, instrument, sexual-health and live-animals/plants families, written
with zero-width characters, look-alikes, leetspeak, separators, masking, full-width forms and
traditional characters -- must still fire (recall >= 98 %) and earn the distortion point when the
writing is a deliberate distortion; the look-alikes the lexicons name, written the same ways, must stay
benign (false positives <= 1 %). The figures on the whole set are in bench/results/eval_evasion.md."""

from __future__ import annotations

import random
import sys

import pytest

from app.config import REPO_ROOT
from app.models import Listing

sys.path.insert(0, str(REPO_ROOT / "bench"))
from gen_evasion import (  # noqa: E402
    DISTORTIONS, FAMILIES, TRANSFORM_FUNCS, generate, lexicon_violation, t_homoglyph, t_leet, t_masked,
    t_separator, t_traditional, t_zero_width)

TARGET_RECALL = 0.98
TARGET_FP = 0.01
SAMPLE = 3  # every 3rd case of the (deterministic) set keeps the suite quick; the bench runs all


@pytest.fixture(scope="module")
def cases(engine):
    pos, neg = generate(engine, FAMILIES)
    return pos[::SAMPLE], neg[::SAMPLE]


def _run(engine, cases):
    out = []
    for c in cases:
        d = engine.moderate(Listing(listing_id="evasion", title=c.title))
        out.append((c, lexicon_violation(d, c.family),
                    any(v.rule_id == "circumvention.keyword_distortion" for v in d.violations)))
    return out


def test_the_set_covers_every_family_and_transform(cases):
    pos, neg = cases
    assert {c.family for c in pos} == set(FAMILIES)
    assert {c.transform for c in pos} == {"plain", *TRANSFORM_FUNCS}
    assert len(neg) > 1000 and len(pos) > 1000


def test_recall_under_evasion(engine, cases):
    res = _run(engine, cases[0])
    misses = [c.title for c, fired, _ in res if not fired]
    recall = 1 - len(misses) / len(res)
    assert recall >= TARGET_RECALL, f"recall {recall:.2%}; e.g. {misses[:10]}"
    for fam in FAMILIES:
        fam_res = [f for c, f, _ in res if c.family == fam]
        assert sum(fam_res) / len(fam_res) >= TARGET_RECALL - 0.02, fam


def test_distortions_earn_the_circumvention_point(engine, cases):
    res = [(c, p) for c, fired, p in _run(engine, [c for c in cases[0] if c.distortion]) if fired]
    without = [c.title for c, p in res if not p]
    assert len(without) / len(res) <= 0.01, without[:10]


def test_hard_negatives_stay_benign(engine, cases):
    res = _run(engine, cases[1])
    fps = [c.title for c, fired, _ in res if fired]
    assert len(fps) / len(res) <= TARGET_FP, fps[:10]


# --------------------------------------------------------------------------- the generator itself
def test_transforms_write_what_they_claim():
    rng = random.Random(1)
    assert "\u200b" in t_zero_width("viagra", random.Random(0)) or any(
        z in t_zero_width("viagra", rng) for z in "\u200b\u200c\u200d\u2060\ufeff\u00ad")
    hg = t_homoglyph("viagra", rng)
    assert hg != "viagra" and not hg.isascii() and any(c.isascii() for c in hg)
    assert any(ch in t_leet("sildenafil", rng) for ch in "013457@$!+")
    assert t_separator("vape", rng) not in ("vape", None)
    assert "*" in t_masked("stun gun", rng)
    assert t_traditional("电子烟", rng) == "電子煙"
    assert t_traditional("vape", rng) is None and t_homoglyph("电子烟", rng) is None
    assert set(DISTORTIONS) <= set(TRANSFORM_FUNCS)
