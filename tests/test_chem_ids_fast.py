"""The fast identifier finders of app/checks/chemids.py give exactly the matches of the reference
regular expressions they replace (dashed CAS numbers from their dashes, labels from str.find)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.checks import chemids

# an alphabet that makes the edge cases likely: digits (ASCII and full-width), every dash, spaces,
# tabs, dots, commas, letters of the labels, underscores, a Han character, and the case-folding "İ"
ALPHABET = "0123456789１２" + chemids.DASH_CHARS + " \t.,_aAcCsSeEiInNlLoO#:号" + "名" + "İ"
texts = st.text(alphabet=ALPHABET, max_size=80)


def reference_dashed(text):
    return [(m.start(), m.end(), *m.groups()) for m in chemids.CAS_DASHED.finditer(text)]


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_dashed_numbers_equal_the_regex(text):
    assert chemids.dashed_numbers(text) == reference_dashed(text)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["64-17-5", "64 - 17 - 5", "64–17–5", "1234567-89-0", "12345678-90-1",
                                 "x64-17-5", "6.4-17-5", "64-17-5-1", "64-17-5.5", "CAS", " ", "-", "7"]),
                max_size=8).map("".join))
def test_dashed_numbers_on_number_like_text(text):
    assert chemids.dashed_numbers(text) == reference_dashed(text)


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_labels_equal_the_regex(text):
    for pattern, words in ((chemids._CAS_LABEL, ("cas",)), (chemids._EC_LABEL, ("ec", "einecs", "elincs"))):
        fast = [m.span() for m in chemids._labels(pattern, text, words)]
        assert fast == [m.span() for m in pattern.finditer(text)], (pattern.pattern[:20], text)


def test_examples():
    assert chemids.dashed_numbers("CAS 64-17-5, 67–56–1; 1234567-89-0 and 12345678-90-1") == [
        (4, 11, "64", "17", "5"), (13, 20, "67", "56", "1"), (22, 34, "1234567", "89", "0")]


def reference_find_cas(text: str, bare: bool) -> list[tuple]:
    """The straightforward regex version of chemids.find_cas_in_text (label finditer, then the number
    after each label; bare numbers by CAS_DASHED.finditer)."""
    import re

    found = {}
    for lab in chemids._CAS_LABEL.finditer(text):
        pos = lab.end()
        if lab.start() > 0 and text[lab.start() - 1].isalnum():
            continue
        m = chemids._CAS_SPACED.match(text, pos)
        if m is None:
            t = chemids._TOKEN.match(text, pos)
            if t is not None and (pos - lab.start() > 3 or re.search(chemids._D, t.group(0))):
                found[t.span()] = (t.start(), t.end(), t.group(0), None, chemids.CAS_SHAPE_HINT, True)
            continue
        while m is not None:
            canon, problem = chemids.cas_check(*m.groups())
            found[m.span()] = (m.start(), m.end(), m.group(0), canon, problem, True)
            sep = chemids._LIST_SEP.match(text, m.end())
            m = chemids.CAS_DASHED.match(text, sep.end()) if sep else None
    if bare:
        for m in chemids.CAS_DASHED.finditer(text):
            if any(s <= m.start() < e for s, e in found):
                continue
            canon, problem = chemids.cas_check(*m.groups())
            found[m.span()] = (m.start(), m.end(), m.group(0), canon, problem, False)
    return [found[k] for k in sorted(found)]


CAS_PIECES = ["CAS", "cas", "CAS No.", "CAS#", "CAS RN", "CAS号", ": ", " ", "64-17-5", "64 17 5", "64-17-6",
              ", ", "; ", "67-56-1", "7732185", "1234567-89-0", "x", "-", "12", "İ", "名", "\t", "cas34216"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(CAS_PIECES), max_size=10).map("".join), st.booleans())
def test_find_cas_in_text_equals_the_reference(text, bare):
    assert [tuple(m) for m in chemids.find_cas_in_text(text, bare)] == reference_find_cas(text, bare)
