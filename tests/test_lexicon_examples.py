"""Every example and counter-example of every lexicon file runs through the whole engine.

* example: the decision carries a violation of the lexicon family's category whose action is not
  ``allow`` -- or, when the example names ``expect``, the decision's action is that action
  (``expect: review`` = ``allow`` with ``review: true`` and no blocking violation);
  ``circumvention: true/false`` checks the keyword-distortion violation;
* counter-example: no violation of the family's category with an action other than ``allow``
  (a review is fine).

Also: every form of every term compiles to a non-empty key, and no form is listed twice for the
same signal of a family (two entries reading one word the same way would fight over it).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from app.config import REPO_ROOT
from app.matching import load_lexicon
from app.models import Listing
from app.normalization import Normalizer

LEXICON_DIR = REPO_ROOT / "lexicons"
LEXICON_FILES = sorted(LEXICON_DIR.glob("*.yaml"))
DISTORTION_RULE = "circumvention.keyword_distortion"


def _load_all():
    return [(path, load_lexicon(path)) for path in LEXICON_FILES]


def _cases(kind: str):
    out = []
    for path, lx in _load_all():
        for entry in [*lx.terms, *lx.patterns]:
            for i, ex in enumerate(getattr(entry, kind)):
                out.append(pytest.param(lx.family, entry.id, ex, id=f"{entry.id}[{i}]"))
    return out


def _listing(ex) -> Listing:
    return Listing(listing_id="lexicon-example", title=ex.title, description=ex.description,
                   keywords=list(ex.keywords), category=ex.category, attributes=dict(ex.attributes))


def _explain(decision) -> str:
    lines = [f"action={decision.action} review={decision.review}"]
    for v in decision.violations:
        ev = ", ".join(f"{e.field}:{e.text!r}<{e.source}/{e.method}{e.transforms or ''}>" for e in v.evidence)
        lines.append(f"  {v.rule_id} [{v.category}] {v.action} review={v.review}: {ev}")
    return "\n".join(lines)


def test_lexicon_files_exist():
    assert LEXICON_FILES, f"no lexicon files in {LEXICON_DIR}"


@pytest.mark.parametrize("family, entry_id, ex", _cases("examples"))
def test_example(engine, family, entry_id, ex):
    d = engine.moderate(_listing(ex))
    fam = [v for v in d.violations if v.category == family]
    why = f"{entry_id}: {ex.title!r}\n{_explain(d)}"
    if ex.expect is None:
        assert any(v.action != "allow" for v in fam), why
    elif ex.expect == "review":
        assert d.action == "allow" and d.review, why
        assert any(v.review for v in fam), why
        assert not any(v.action == "block" for v in d.violations), why
    else:
        assert d.action == ex.expect, why
        assert any(v.action == ex.expect for v in fam), why
    if ex.circumvention is not None:
        distorted = [v for v in d.violations if v.rule_id == DISTORTION_RULE]
        assert bool(distorted) == ex.circumvention, why
        if distorted:
            assert distorted[0].category == family, why
            assert distorted[0].detail.get("transforms"), why


@pytest.mark.parametrize("family, entry_id, ex", _cases("counter_examples"))
def test_counter_example(engine, family, entry_id, ex):
    d = engine.moderate(_listing(ex))
    bad = [v for v in d.violations if v.category == family and v.action != "allow"]
    assert not bad, f"{entry_id}: {ex.title!r}\n{_explain(d)}"


@pytest.fixture(scope="module")
def product_engine():
    """The engine as shipped: lexicons, lists *and* the text classifier (the suite's default is off)."""
    from app.config import Settings
    from app.engine import Engine

    return Engine(Settings(classifier=True))


@pytest.mark.parametrize("family, entry_id, ex", _cases("counter_examples"))
def test_counter_example_is_not_blocked_by_the_shipped_engine(product_engine, family, entry_id, ex):
    """A benign look-alike may go to review (the classifier may be unsure), never to a block or a mask."""
    d = product_engine.moderate(_listing(ex))
    bad = [v for v in d.violations if v.category == family and v.action != "allow"]
    assert not bad, f"{entry_id}: {ex.title!r}\n{_explain(d)}"


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.mark.parametrize("path", LEXICON_FILES, ids=lambda p: p.name)
def test_forms_compile_and_are_not_duplicated(path: Path, normalizer: Normalizer):
    lx = load_lexicon(path)
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    problems = []
    for term in lx.terms:
        for form in term.forms:
            key_a = normalizer.term_a(form)
            key_b = normalizer.term_b(form)
            if not key_a or not key_a.strip() or not key_b or not key_b.strip():
                problems.append(f"{term.id}: form {form!r} normalises to an empty key")
                continue
            seen[(term.signal, key_a)].append(f"{term.id}:{form!r}")
        for phrase in [*term.exclude, *term.review_if, *(c for c in term.coterms if not c.startswith("@"))]:
            if not normalizer.term_a(phrase):
                problems.append(f"{term.id}: phrase {phrase!r} normalises to an empty key")
    for (signal, key), where in sorted(seen.items()):
        if len(where) > 1:
            problems.append(f"signal {signal!r}: form {key!r} listed {len(where)} times: {', '.join(where)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", LEXICON_FILES, ids=lambda p: p.name)
def test_every_entry_has_examples_and_counter_examples(path: Path):
    lx = load_lexicon(path)
    missing = [e.id for e in [*lx.terms, *lx.patterns] if not e.examples or not e.counter_examples]
    assert not missing, f"entries without an example and a counter-example: {missing}"


def _pattern_cases():
    from app.config import REPO_ROOT
    from app.matching import load_lexicon

    for path in sorted((REPO_ROOT / "lexicons").glob("*.yaml")):
        lx = load_lexicon(path)
        for pat in lx.patterns:
            if pat.prefilter:
                yield pytest.param(pat, id=pat.id)


@pytest.mark.parametrize("pat", list(_pattern_cases()))
def test_pattern_prefilter_never_hides_a_match(pat, engine):
    """The prefilter gate is only an optimisation: every match of the regex, on every example and
    counter-example, contains one of the prefilter strings."""
    import re

    norm = engine.snapshot.normalizer
    rx = re.compile(pat.regex, re.IGNORECASE)
    gates = [norm.term_a(p) for p in pat.prefilter]
    texts = [t for ex in [*pat.examples, *pat.counter_examples]
             for t in [ex.title, ex.description, *ex.keywords, *ex.attributes.values()] if t]
    matched = 0
    for t in texts:
        for m in rx.finditer(norm.normalize(t).text):
            matched += 1
            assert any(g in m.group(0) for g in gates), (pat.id, m.group(0))
    assert matched, f"{pat.id}: no example matches the regex"


@pytest.mark.parametrize("pat", list(_pattern_cases()))
def test_pattern_ascii_compilation_agrees(pat, engine):
    """The matcher runs an ASCII-flag compilation of each pattern on ASCII text: same matches."""
    import re

    norm = engine.snapshot.normalizer
    uni, asc = re.compile(pat.regex, re.IGNORECASE), re.compile(pat.regex, re.IGNORECASE | re.ASCII)
    texts = [norm.normalize(t).text for ex in [*pat.examples, *pat.counter_examples]
             for t in [ex.title, ex.description, *ex.keywords, *ex.attributes.values()] if t]
    for t in (x for x in texts if x.isascii()):
        assert [m.span() for m in uni.finditer(t)] == [m.span() for m in asc.finditer(t)], (pat.id, t)
