"""Every fast path of the engine gives what the plain way of computing the same thing gives.

The engine's speed comes from a few shortcuts: Aho-Corasick in Rust instead of a Python loop, a
Hyperscan screen that says which lexicon regexes can match before Python's ``re`` runs them, one
near-miss distance matrix per listing instead of one ``extractOne`` per word, a faster way to find
runs of spaced-out letters, and evidence built without validating the engine's own values again.
Each is compared here with the slow, obvious computation on generated text (seeded, so a failure
reproduces) and on the lexicons' own examples.
"""

from __future__ import annotations

import random
import re

import pytest
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.engine import Engine
from app.engine.core import prepare
from app.matching.multi import LiteralSet, PatternScreen
from app.models import Decision, Evidence, Listing
from app.normalization import text as T

from tests.test_lexicon_examples import _cases, _listing

# characters that exercise the separator, mask, Han and boundary rules
_ALPHABET = list("abcxyz e.*·•/\\|~,+:;'\"_-1") + ["電", "子", "烟", "油", "ü", "é", "\u4dc0", "Ж"]


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, n)))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_separator_runs_equal_the_alternation():
    rng = random.Random(20261123)
    for _ in range(30_000):
        text = _random_text(rng, 16)
        assert T._sep_runs(text) == [m.span() for m in T._SEP_RUN.finditer(text)], repr(text)


def test_separator_runs_equal_the_alternation_on_ascii_text():
    rng = random.Random(7)
    alphabet = [c for c in _ALPHABET if c.isascii()]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert T._sep_runs(text) == [m.span() for m in T._SEP_RUN.finditer(text)], repr(text)


def test_literal_set_finds_every_occurrence_of_every_key():
    rng = random.Random(3)
    keys = sorted({"".join(rng.choice("abé電子 ") for _ in range(rng.randint(1, 4))) for _ in range(60)} - {""})
    lits = LiteralSet({k: i for i, k in enumerate(keys)})
    for _ in range(2_000):
        text = "".join(rng.choice("abé電子 x😀") for _ in range(rng.randint(0, 30)))
        want = sorted((keys.index(k), s, s + len(k)) for k in keys
                      for s in range(len(text) - len(k) + 1) if text.startswith(k, s))
        got = sorted(lits.find(text))
        assert got == want, repr(text)
        assert all(lits.values[i] == i for i, _, _ in got)


def test_literal_set_survives_a_lone_surrogate():
    lits = LiteralSet({"vape": 0, "电子": 1})
    assert sorted(lits.find("vape\ud800vape电子")) == [(0, 0, 4), (0, 5, 9), (1, 9, 11)]


def _pattern_texts(engine):
    """The lexicons' examples and counter-examples, and generated text dense in numbers and units."""
    texts = []
    for param in _cases("examples") + _cases("counter_examples"):
        ex = param.values[2]
        texts += [ex.title, ex.description or "", *ex.keywords]
    rng = random.Random(11)
    words = ["mg", "ml", "50mg/ml", "3.7v", "1500mah", "puffs", "10000 puffs", "ohm", "0.8ω", "blade", "刃长", "160mm",
             "9.5 inch", "pg/vg", "70/30", "%", "5% nic", "20 w", "kv", "万伏", "1,000,000 v", "pot", "6 in",
             "片", "10片", "flavours", "sabores", "knife", "cm", "x", "(2x10ml)", "口", "5000口", ",", ".", "(", ")"]
    for _ in range(3_000):
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
    norm = engine.snapshot.normalizer
    return [norm.normalize(t).text for t in texts if t]


def test_pattern_screen_never_misses_a_pattern_that_matches(engine):
    m = engine.snapshot.matcher
    pats = [(m._pattern_index[pat.id], pat.id, rx) for fam in m._patterns.values() for pat, rx, _, _ in fam]
    assert m._screen._db is not None, "Hyperscan did not compile the lexicon patterns"
    matched = 0
    for text in _pattern_texts(engine):
        possible = m._screen.possible(text)
        for idx, pid, rx in pats:
            if any(e > s for s, e in (x.span() for x in rx[text.isascii()].finditer(text))):
                matched += 1
                assert idx in possible, f"{pid} matches {text!r} but the screen ruled it out"
    assert matched > 500  # the texts do exercise the patterns


def test_pattern_screen_rules_most_patterns_out_of_ordinary_text(engine):
    m = engine.snapshot.matcher
    possible = m._screen.possible("wooden kitchen table with two chairs, solid oak, easy to assemble")
    assert possible is not None and len(possible) < m._screen.size / 4


def test_pattern_screen_database_is_built_once_per_set_of_patterns():
    a, b = PatternScreen([r"\d+\s?mg", "foo"]), PatternScreen([r"\d+\s?mg", "foo"])
    assert a._db is b._db
    assert PatternScreen([r"\d+\s?ml"])._db is not a._db
    assert a.possible("take 50 mg daily") == {0} and a.possible("nothing here") == set()


def test_pattern_screen_database_is_kept_on_disk_for_the_next_process(tmp_path, monkeypatch):
    from app.matching import multi

    monkeypatch.setenv("MODERATE_CACHE_DIR", str(tmp_path))
    regexes = (r"\d+\s?mg(?!\w)", r"(?<![\w.])\d{2}\s?/\s?\d{2}\s?vg")
    fresh = multi._compile(regexes)
    files = list(tmp_path.glob("screen-*.hsdb"))
    assert len(files) == 1
    real = multi.hyperscan

    class NoCompiling:
        def __getattr__(self, name):
            assert name != "Database", "compiled again instead of loading the cached database"
            return getattr(real, name)

    monkeypatch.setattr(multi, "hyperscan", NoCompiling())
    loaded = multi._compile(regexes)
    assert loaded is not fresh
    for db in (fresh, loaded):
        found: set[int] = set()
        db.scan("50 mg 70/30 vg".encode(), match_event_handler=lambda i, *_: found.add(i),
                scratch=real.Scratch(db))
        assert found == {0, 1}
    monkeypatch.undo()
    monkeypatch.setenv("MODERATE_CACHE_DIR", str(tmp_path))
    files[0].write_bytes(b"not a database")  # a damaged file is compiled again
    assert multi._compile(regexes) is not None


def test_near_miss_matrix_equals_extract_one(engine):
    """For each family the fast path picks what ``extractOne`` over that family's choices picks."""
    m = engine.snapshot.matcher
    rng = random.Random(5)
    for fam, (choices, _) in m._fuzzy.items():
        a, b = m._fuzzy_slices[fam]
        assert m._fuzzy_all[a:b] == choices
        queries = []
        for c in rng.sample(choices, min(40, len(choices))):
            for _ in range(4):
                i = rng.randrange(len(c))
                op = rng.choice("sdi")
                ch = rng.choice("aeiouxz")
                queries.append(c[:i] + ch + c[i + 1:] if op == "s" else c[:i] + c[i + 1:] if op == "d"
                               else c[:i] + ch + c[i:])
        queries += ["wooden", "kitchen table", "sildenafi", "viagr"]
        dist = process.cdist(queries, m._fuzzy_all, scorer=Levenshtein.distance, score_cutoff=1, workers=1)
        for q, row in zip(queries, dist):
            got = process.extractOne(q, choices, scorer=Levenshtein.distance, score_cutoff=1)
            sub = row[a:b]
            if got is None:
                assert sub.min() > 1, q
            else:
                assert sub.min() == got[1] and int(sub.argmin()) == got[2], q


def test_trusted_evidence_equals_validated_evidence():
    kw = dict(field="title", start=3, end=7, text="v@pe", matched="vape", method="deobfuscated",
              transforms=["leet"], source="ecig.term.vape")
    fast, slow = Evidence.trusted(**kw), Evidence(**kw)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set


@pytest.mark.parametrize("kind", ["examples", "counter_examples"])
def test_engine_decisions_validate_as_the_api_model(engine, kind):
    """Decisions whose evidence was built without validation pass the model's own validation."""
    seen = 0
    for param in _cases(kind):
        d = engine.moderate(_listing(param.values[2]))
        again = Decision.model_validate_json(d.model_dump_json())
        assert again == d
        seen += sum(len(v.evidence) for v in d.violations)
    assert seen > 0


def test_near_miss_cache_gives_what_a_fresh_computation_gives(engine):
    listing = Listing(listing_id="c", title="Sildenafll citrate tablets, Viagrra 100", keywords=["Cialiss"])
    m = engine.snapshot.matcher
    m._near_cache.clear()
    cold = prepare(listing, engine.snapshot)
    assert m._near_cache  # filled
    warm = prepare(listing, engine.snapshot)

    def grey(item):
        return sorted((h.family, h.entry_id, h.field, h.start, h.end) for r in item.families.values()
                      for h in r.grey if h.method == "fuzzy")

    assert grey(cold) and grey(cold) == grey(warm)


def test_near_miss_cache_stays_bounded_and_correct_when_full(engine, monkeypatch):
    import app.matching.matcher as matcher_module

    m = engine.snapshot.matcher
    listings = [Listing(listing_id="c", title="Sildenafll citrate tablets reusable wooden kitchen Viagrra"),
                Listing(listing_id="d", title="Cialiss generic tadalafll soft chews for men")]

    def fuzzy(item):
        return sorted((h.entry_id, h.start, h.end) for r in item.families.values() for h in r.grey if h.method == "fuzzy")

    m._near_cache.clear()
    want = [fuzzy(prepare(li, engine.snapshot)) for li in listings]
    assert all(want)
    monkeypatch.setattr(matcher_module, "NEAR_CACHE_MAX", 3)
    m._near_cache.clear()
    for _ in range(3):  # the two listings take turns overflowing a 3-entry cache
        for li, w in zip(listings, want):
            assert fuzzy(prepare(li, engine.snapshot)) == w
            assert len(m._near_cache) <= 3 + matcher_module.FUZZY_MAX_TOKENS
    m._near_cache.clear()


def test_fuzzy_hits_point_at_their_own_field(engine):
    item = prepare(Listing(listing_id="f", title="Kitchen table", keywords=["viagrra pills"]), engine.snapshot)
    grey = [h for res in item.families.values() for h in res.grey if h.method == "fuzzy"]
    assert grey and all(item.fields[h.fi] is h.ft and h.field == "keywords[0]" for h in grey)
    assert re.search("viagrra", grey[0].text)


def test_fold_equals_translate_over_the_fold_table():
    rng = random.Random(13)
    pool = [chr(i) for i in range(0, 0x250)] + list("電子烟ＶＡＰＥ①ﬁ\u200b\u00ad\ud800😀ΑΒΓаеоÜİı\u3000，。")
    for _ in range(20_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 24)))
        assert T.fold(text) == text.translate(T.FOLD), repr(text)
    many_runs = "a電" * 1000
    assert T.fold(many_runs) == many_runs.translate(T.FOLD)


# --- view B: where it reveals something, and look-alike words ------------------------------------

def _plain_reveals(norm) -> list[int]:
    """``NormText.b_reveals`` as it was first written: a Python loop over every candidate."""
    pre, deobf = norm.bpre, norm.deobf
    got = [m.start() for m in T._LEET_SOURCE_RE.finditer(pre) if pre[m.start()] != deobf[m.start()]]
    masks = [m.start() for m in T._MASK_RE.finditer(pre)] if "*" in pre else []
    if masks:
        got = sorted(set(got) | set(masks))
    if norm.bflags is not None:
        got = sorted(set(got) | {i for i, f in enumerate(norm.bflags) if f})
    return got


def _plain_homoglyph_fold(normalizer, text: str) -> tuple[str, bytearray]:
    """Whole look-alike words folded with one ``_WORD.sub``, the changed characters flagged one by one."""
    table = normalizer._homoglyphs
    folded = T._WORD.sub(lambda m: "".join(table[c] for c in m.group(0))
                         if all(c in table for c in m.group(0)) else m.group(0), text)
    return folded, bytearray(T.FLAG_HOMOGLYPH if x != y else 0 for x, y in zip(text, folded))


# leet digits and symbols, separators, masks, Cyrillic/Greek look-alikes, Han, a mathematical digit
_B_ALPHABET = list("abelost 0134579@$!|+€¢*.-_,") + list("аеоѕрсухіѵαβο") + ["電", "烟", "𝟏", "Ⅻ", "²"]


@pytest.mark.parametrize("size", [12, 60, 3_000])  # (3,000: above the NumPy threshold)
def test_view_b_reveals_equal_the_plain_loop(size):
    rng = random.Random(size)
    normalizer = T.Normalizer()
    for _ in range(3_000 if size < 1000 else 150):
        text = "".join(rng.choice(_B_ALPHABET) for _ in range(rng.randint(0, size)))
        norm = normalizer.normalize(text)
        assert norm.b_reveals() == _plain_reveals(norm), repr(text)


def test_homoglyph_words_equal_the_plain_fold():
    rng = random.Random(11)
    normalizer = T.Normalizer()
    for _ in range(20_000):
        text = "".join(rng.choice(_B_ALPHABET) for _ in range(rng.randint(0, 14)))
        folded, spans = normalizer._homoglyph_words(text)
        plain, plain_flags = _plain_homoglyph_fold(normalizer, text)
        assert folded == plain == normalizer._fold_homoglyph_tokens(text), repr(text)
        flags = bytearray(len(text))
        for s, e in spans:
            flags[s:e] = bytes([T.FLAG_HOMOGLYPH]) * (e - s)
        assert flags == plain_flags, repr(text)


def _scan_summary(results) -> dict:
    def hits(hs):
        return sorted((h.entry_id, h.fi, h.a_s, h.a_e, h.matched, h.method) for h in hs)
    return {fam: ({sig: hits(hs) for sig, hs in r.fired.items()}, hits(r.grey), sorted(r.external, key=repr))
            for fam, r in results.items()}


def test_families_with_only_phrases_decide_nothing(engine, monkeypatch):
    """A family whose raw matches are only phrases (co-terms, exclusions, review phrases), with no
    term and no pattern to qualify, is not resolved: every check-visible result is the same as when
    it is (the lexicons' examples and counter-examples, alone and run together)."""
    snap = engine.snapshot
    m = snap.matcher
    listings = [_listing(case.values[2]) for kind in ("examples", "counter_examples") for case in _cases(kind)]
    rng = random.Random(13)
    for _ in range(300):  # phrases of one listing next to terms of another
        a, b = rng.sample(listings, 2)
        listings.append(Listing(listing_id="mix", title=a.title, description=f"{a.description or ''} {b.title} {b.description or ''}"))
    for li in listings:
        fast = _scan_summary(prepare(li, snap).families)
        monkeypatch.setattr(type(m), "skip_phrase_only", False)
        plain = _scan_summary(prepare(li, snap).families)
        monkeypatch.setattr(type(m), "skip_phrase_only", True)
        assert fast == plain, li
    assert len(listings) > 500


def _plain_mixed_words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in T._WORD.finditer(text)
            if not m.group(0).isascii() and any(c.isascii() for c in m.group(0))]


def test_mixed_script_words_equal_the_plain_word_loop():
    rng = random.Random(17)
    alphabet = _B_ALPHABET + list("ABZ_9٣") + ["ǅ", "ß"]  # (an Arabic-Indic digit, a title-case letter)
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert T._mixed_words(text) == _plain_mixed_words(text), repr(text)


def test_cjk_ideographs_fold_to_themselves():
    """``fold`` (and the slow map's _SEGMENT) leave the CJK ideograph blocks untranslated."""
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF)):
        for o in range(lo, hi + 1):
            assert T.FOLD[o] == chr(o), hex(o)
    text = "電子烟ＶＡＰＥ，。㐀鿿豈" * 3
    assert T.fold(text) == text.translate(T.FOLD)

