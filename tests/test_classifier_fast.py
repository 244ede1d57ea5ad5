"""The classifier's fast featuriser (app/classifier/features.py ``FastCounts``) against scikit-learn.

The fast path must not change a single output of the model: for every text the hashed n-gram counts
equal the fitted ``HashingVectorizer``'s ``transform`` exactly (same columns, same counts), the TF-IDF
row equals the pipeline's feature union, and the probabilities equal ``predict_proba`` and the
reference path (``FastScorer(fast_counts=False)``, the code the shipped service ran before) on real-ish
and adversarial text. The per-word cache is bounded and safe to share between threads."""

from __future__ import annotations

import csv
import random
import re
import sys
import threading

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from app.classifier import authored
from app.classifier import features as F
from app.classifier.check import ClassifierCheck, FastScorer
from app.classifier.features import FastCounts, listing_text, ngram_columns
from app.classifier.train import load_model
from app.config import REPO_ROOT
from app.policy import load_policy

POLICY = load_policy(REPO_ROOT / "policy" / "policy.yaml")

WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"

ADVERSARIAL = [
    "", " ", "   ", "\t\n", WHITESPACE, "x", "ab", "a b c d e f g", "a  b\t\tc\n\n\nd" + WHITESPACE + "e",
    f"vape{WHITESPACE}pods{WHITESPACE[::-1]}mango",
    "  leading and trailing  ", "|", " | | ", "Einweg E-Zigarette 9000 Züge | Nikotinsalz 20mg",
    "一次性电子烟 薄荷味 20mg尼古丁盐", "電子タバコ 使い捨て", "전자담배 일회용", "سيجارة إلكترونية", "электронная сигарета",
    "İstanbul İİİ ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ Straße ǅemal ﬁne ﬄour",  # lower() changes the length / is context dependent
    "ＶＡＰＥ ｐｏｄｓ", "v\u0061\u0301pe cafe\u0301 e\u0308", "e\u200bc\u200di\u200cg \ufeffvape", "👨‍👩‍👧 🔥🔥 vape💨",
    "a" * 33, "b" * 32, "c" * 31, "word" * 2500, "x" * 10_000 + " y " + "z" * 3, " ".join(["ab"] * 3000),
    "snake_case_word __dunder__ 123 4.5 6,7 8-9 #tag @user http://example.com/a?b=c&d=e",
    "\x00nul\x00 \x01ctl\x7f del", "tab\there", "<p>html &amp; <b>tags</b></p>",
    "mIxEd CaSe WoRdS AND UPPER", "repeat repeat repeat repeat repeat", "ä" * 40 + " " + "ß" * 40,
    "\u0130" * 35,  # 'İ'.lower() is two code points: 35 characters become a 70-character word
]


@pytest.fixture(scope="module")
def model():
    return load_model(REPO_ROOT / "models" / "classifier.skops")


@pytest.fixture(scope="module")
def union(model):
    return model.named_steps["features"]


@pytest.fixture(scope="module")
def scorers(model):
    feats, clf = model.named_steps["features"], model.named_steps["clf"]
    return FastScorer(feats, clf), FastScorer(feats, clf, fast_counts=False)


def _realish() -> list[str]:
    rows = authored.generate(3, per_template=2)
    texts = [listing_text(r.title, (), r.category, r.description) for r in rows]
    rng = random.Random(5)
    for _ in range(150):  # ~1 KB listings made of authored pieces, like the engine benchmark's
        title = rng.choice(rows).title
        desc = " ".join(rng.choice(rows).title for _ in range(rng.randint(5, 40)))
        texts.append(listing_text(title, ["kw one", "Schlüsselwort"], "cat > sub", desc))
    return texts


def _assert_same_counts(fc: FastCounts, hv: HashingVectorizer, texts: list[str]) -> None:
    rows = hv.transform(texts)
    for i, t in enumerate(texts):
        idx, cnt = fc.counts(t)
        ref = rows[[i]]
        assert np.array_equal(idx, ref.indices), t[:80]
        assert np.array_equal(cnt, ref.data), t[:80]
        assert cnt.dtype == np.float64


def _assert_same_model_outputs(union, model, scorers, texts: list[str]) -> None:
    fast, ref = scorers
    X = union.transform(texts)
    proba = model.named_steps["clf"].predict_proba(X)
    for i, t in enumerate(texts):
        cols, vals = fast.vector(t)
        row = X[[i]]
        row.sum_duplicates()
        assert np.array_equal(np.sort(cols), cols) and np.array_equal(cols, row.indices), t[:80]
        np.testing.assert_allclose(vals, row.data, rtol=0, atol=1e-12)
        p_fast = fast.proba(cols, vals)
        p_ref = ref.proba(*ref.vector(t))
        np.testing.assert_allclose(p_fast, proba[i], rtol=0, atol=1e-12)
        np.testing.assert_allclose(p_fast, p_ref, rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------ exact counts
def test_the_shipped_vectorisers_are_reproduced_exactly(union):
    for _name, pipe in union.transformer_list:
        assert FastCounts(pipe.named_steps["hash"]).exact, "the shipped model must take the fast path"


@pytest.mark.parametrize("block", [0, 1], ids=["char_wb", "word"])
def test_counts_equal_the_vectoriser_on_adversarial_and_realish_text(union, block):
    hv = union.transformer_list[block][1].named_steps["hash"]
    texts = ADVERSARIAL + _realish()
    _assert_same_counts(FastCounts(hv), hv, texts)
    _assert_same_counts(FastCounts(hv, cache_size=4), hv, texts)  # evicting all the time


@pytest.mark.parametrize("kwargs", [
    dict(analyzer="char_wb", ngram_range=(1, 3)), dict(analyzer="char_wb", ngram_range=(3, 3)),
    dict(analyzer="char_wb", ngram_range=(2, 7)), dict(analyzer="word", ngram_range=(1, 1)),
    dict(analyzer="word", ngram_range=(2, 3)), dict(analyzer="word", ngram_range=(1, 3), token_pattern=r"(?u)\b\w\w+\b"),
    dict(analyzer="char_wb", ngram_range=(2, 4), n_features=1000),  # not a power of two
])
def test_other_ngram_ranges_and_patterns_are_reproduced_too(kwargs):
    hv = HashingVectorizer(alternate_sign=False, norm=None, **{"n_features": 2 ** 12, **kwargs})
    fc = FastCounts(hv)
    assert fc.exact
    _assert_same_counts(fc, hv, ADVERSARIAL + _realish()[:40])


@pytest.mark.parametrize("kwargs", [dict(strip_accents="unicode"), dict(lowercase=False), dict(binary=True),
                                    dict(alternate_sign=True), dict(analyzer="char")])
def test_settings_the_fast_path_does_not_reproduce_are_delegated(kwargs):
    hv = HashingVectorizer(**{"analyzer": "char_wb", "ngram_range": (2, 4), "n_features": 2 ** 12,
                              "alternate_sign": False, "norm": None, **kwargs})
    fc = FastCounts(hv)
    assert not fc.exact
    _assert_same_counts(fc, hv, ADVERSARIAL[:20])


def test_splitting_on_whitespace_needs_no_whitespace_collapsing_first():
    # sklearn's char_wb collapses runs of \s before str.split(); FastCounts only splits. That is the
    # same exactly when regex \s and str.isspace agree on every code point.
    space = re.compile(r"\s")
    disagree = [hex(i) for i in range(sys.maxunicode + 1) if bool(space.match(chr(i))) != chr(i).isspace()]
    assert disagree == []


def test_unencodable_text_fails_the_same_way(union):
    hv = union.transformer_list[0][1].named_steps["hash"]
    with pytest.raises(UnicodeEncodeError):
        hv.transform(["lone \ud800 surrogate"])
    with pytest.raises(UnicodeEncodeError):
        FastCounts(hv).counts("lone \ud800 surrogate")


# ------------------------------------------------------------------------------------ model outputs
def test_tfidf_row_and_probabilities_equal_the_pipeline(union, model, scorers):
    _assert_same_model_outputs(union, model, scorers, ADVERSARIAL + _realish())


@pytest.mark.shared
def test_tfidf_row_and_probabilities_equal_the_pipeline_on_real_listings(union, model, scorers, shared_dir):
    rng = random.Random(11)
    texts = []
    for path in sorted((shared_dir / "data" / "listings").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rng.sample(rows, min(150, len(rows))):
            texts.append(listing_text(r.get("title") or "", (), r.get("category") or None, r.get("description") or None))
    assert len(texts) > 1000
    _assert_same_model_outputs(union, model, scorers, texts)


def test_check_findings_are_the_same_with_the_reference_featuriser(model):
    from app.engine.core import prepare
    from app.engine import Engine
    from app.config import Settings
    from app.models import Listing

    eng = Engine(Settings(classifier=True))
    fast = next(c for c in eng.snapshot.checks if c.name == "classifier")
    assert fast.fast.joint
    ref = ClassifierCheck(fast.model, fast.thresholds, fast.sha256, fast.top_ngrams, fast.policy)
    ref.fast = FastScorer(fast.features, fast.clf, fast_counts=False)
    seen = 0
    for r in authored.generate(4, per_template=1):
        listing = Listing(listing_id="f", title=r.title, description=r.description or "", category=r.category)
        item = prepare(listing, eng.snapshot)
        item.families = {}  # the model on its own, so most risky rows produce findings
        got, want = fast.run(item), ref.run(item)
        assert got == want, r.title
        seen += bool(got)
    assert seen > 50, "too few findings to compare top n-grams and evidence"


def test_ngram_names_equal_the_reference_for_the_asked_columns(scorers, union):
    fast, ref = scorers
    for t in ADVERSARIAL + _realish()[:60]:
        cols, _vals = fast.vector(t)
        wanted = set(cols.tolist()[::3])
        names = ngram_columns(union, t)
        expect = {c: sorted(names[c]) for c in wanted}
        assert fast.ngram_names(t, wanted) == expect, t[:80]
        assert {c: sorted(v) for c, v in ref.ngram_names(t, wanted).items()} == expect


def test_column_follows_sklearns_rule_for_the_most_negative_hash():
    # abs(-2**31) overflows in C; sklearn maps that hash to (2**31 - 1 - (n - 1)) % n
    assert F.column.__doc__ and "-2**31" in F.column.__doc__
    src = (REPO_ROOT / "app" / "classifier" / "features.py").read_text(encoding="utf-8")
    assert "(2147483647 - (n_features - 1)) % n_features" in src
    grams = [f"g{i}" for i in range(2000)]
    for n in (2 ** 18, 1000, 7):
        assert F.columns_of(grams, n).tolist() == [F.column(g, n) for g in grams]


# ------------------------------------------------------------------------------------ cache
def test_word_cache_is_bounded_and_skips_long_words(union):
    hv = union.transformer_list[0][1].named_steps["hash"]
    fc = FastCounts(hv, cache_size=16)
    fc.counts(" ".join(f"w{i}" for i in range(200)))
    assert fc.cache_info().currsize == 16
    fc2 = FastCounts(hv, cache_size=16)
    fc2.counts("y" * (F.CACHED_WORD_CHARS + 1) + " " + "z" * 5000)
    assert fc2.cache_info().currsize == 0 and fc2.cache_info().misses == 0
    fc2.counts("y" * F.CACHED_WORD_CHARS)
    assert fc2.cache_info().currsize == 1


def test_shared_featuriser_is_thread_safe(union, model):
    hv = union.transformer_list[0][1].named_steps["hash"]
    fc = FastCounts(hv, cache_size=64)  # small: threads evict each other's words all the time
    fast = FastScorer(union, model.named_steps["clf"])
    fast.blocks[0] = (hv, fc) + fast.blocks[0][2:]
    texts = ADVERSARIAL + _realish()
    expect = [fast.proba(*FastScorer(union, model.named_steps["clf"]).vector(t)) for t in texts]
    errors: list[str] = []

    def work(seed: int) -> None:
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        for i in order * 2:
            if not np.array_equal(fast.proba(*fast.vector(texts[i])), expect[i]):
                errors.append(texts[i][:40])

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert fc.cache_info().currsize <= 64
