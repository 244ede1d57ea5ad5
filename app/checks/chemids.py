"""Chemical identifiers: CAS registry numbers and EC (EINECS/ELINCS) numbers -- shapes, check digits,
and where they are written in a listing (attribute values, labelled or bare numbers in text).

Everything here works on the **original** text the seller wrote, so a match's ``start``/``end`` are
directly the evidence offsets. Digits may be any Unicode decimal digits (full-width ``６４``); the
separators may be a hyphen, an en/em dash, a minus sign or a full-width hyphen, with optional spaces
around it. Pure functions, precompiled regexes, no state.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from typing import NamedTuple

DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_D = f"[{DASHES}]"
_SEP = rf"[ \t]*{_D}[ \t]*"                   # a dash, spaces around it allowed
_NOT_BEFORE = rf"(?<![\w.{DASHES}])"           # no digit/letter/dot/dash glued in front
_NOT_AFTER = rf"(?![\w]|[ \t]*{_D}[ \t]*\d|[.,]\d)"  # ... nor behind (no 4th group, no decimal)

# CAS RN: 2-7 digits, 2 digits, 1 check digit.
CAS_DASHED = re.compile(rf"{_NOT_BEFORE}(\d{{2,7}}){_SEP}(\d{{2}}){_SEP}(\d){_NOT_AFTER}")
# After a label the groups may also be separated by single spaces ("CAS 7732 18 5").
_CAS_SPACED = re.compile(rf"(\d{{2,7}})(?:{_SEP}| )(\d{{2}})(?:{_SEP}| )(\d){_NOT_AFTER}")
# Anything number-like right after a label that is not a CAS shape: reported as malformed.
_TOKEN = re.compile(rf"\d[\d.{DASHES}]*\d|\d")
_CAS_LABEL = re.compile(
    r"\bCAS(?:[ \t]*(?:No|Nr|Number|RN|Reg(?:istry)?\.?[ \t]*No)\b\.?|[ \t]*#|[ \t]*号|[ \t]*编号)?"
    r"[ \t]*[:：#=]?[ \t]*", re.IGNORECASE)
_LIST_SEP = re.compile(r"[ \t]*[,;/、，；][ \t]*")
# a label and, when there is one, the number of CAS shape right after it (one match per label)
_CAS_LABEL_NUMBER = re.compile(_CAS_LABEL.pattern + "(?:" + _CAS_SPACED.pattern + ")?", re.IGNORECASE)

# EC number: 3 digits, 3 digits, 1 check digit.
_EC = re.compile(rf"(\d{{3}}){_SEP}(\d{{3}}){_SEP}(\d){_NOT_AFTER}")
_EC_LABEL = re.compile(
    r"\b(?:EINECS|ELINCS|EC)(?:[ \t]*(?:No|Nr|Number)\b\.?|[ \t]*#|[ \t]*号)?[ \t]*[:：#=]?[ \t]*",
    re.IGNORECASE)

# Cheap gates: a digit-dash-digit shape anywhere, or a label.
HAS_DASHED_NUMBER = re.compile(rf"\d[ \t]*{_D}[ \t]*\d")
HAS_CAS_LABEL = re.compile(r"cas", re.IGNORECASE)
HAS_EC_LABEL = re.compile(r"\b(?:einecs|elincs|ec)\b", re.IGNORECASE)

CAS_SHAPE_HINT = "not in the form NNNNNNN-NN-N (2-7 digits, 2 digits, 1 check digit)"

# Speed (10 KB supplier texts): Python's regex engine scans a pattern that starts with a class (\d, \b)
# position by position, but jumps to a literal first character. So dashed numbers are found from their
# first dash (one literal-led pattern per dash character present) and extended leftwards in Python, and
# labels from ``str.find`` on the lower-cased text; both give exactly the matches of CAS_DASHED /
# _CAS_LABEL (tests/test_chem_ids_fast.py checks this on random text).
DASH_CHARS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASH_SET = frozenset(DASH_CHARS)
_DIGITS_BEFORE = re.compile(r"\d+\Z")   # with endpos: the digit run that ends there
_FROM_DASH = {d: re.compile(re.escape(d) + rf"[ \t]*(\d{{2}}){_SEP}(\d){_NOT_AFTER}") for d in DASH_CHARS}
EC_SHAPE_HINT = "not in the form NNN-NNN-N"


def _digits(s: str) -> str:
    if s.isascii() and s.isdigit():
        return s  # the common case: no full-width or other Unicode digits to convert
    return "".join(str(unicodedata.decimal(c)) for c in s if c.isdecimal())


class IdMatch(NamedTuple):
    """One CAS or EC number as written: offsets into the original text, canonical form if the
    shape is right, and what is wrong with it (``None`` = valid). (A named tuple: supplier texts
    carry a hundred of them, and a frozen dataclass is several times slower to create.)"""

    start: int
    end: int
    text: str
    canonical: str | None
    problem: str | None
    labelled: bool


@lru_cache(maxsize=1 << 16)
def cas_check(a: str, b: str, c: str) -> tuple[str, str | None]:
    """Canonical ``A-B-C`` and ``None``, or the problem with the check digit."""
    body = _digits(a + b)
    check = int(_digits(c))
    want = sum(i * int(d) for i, d in enumerate(reversed(body), 1)) % 10
    canon = f"{_digits(a)}-{_digits(b)}-{check}"
    if want != check:
        return canon, f"check digit is {check}, expected {want}"
    return canon, None


def ec_check(a: str, b: str, c: str) -> tuple[str, str | None]:
    body = _digits(a + b)
    check = int(_digits(c))
    want = sum(i * int(d) for i, d in enumerate(body, 1)) % 11
    canon = f"{_digits(a)}-{_digits(b)}-{check}"
    if want == 10:
        return canon, "no EC number has these first six digits (the check digit would be 10)"
    if want != check:
        return canon, f"check digit is {check}, expected {want}"
    return canon, None


def _parse_ids(value: str, pattern: re.Pattern, check, shape_hint: str) -> list[IdMatch]:
    """The identifiers of an attribute value (several may be separated by , ; / 、 |). A part with no
    digits at all (``N/A``, ``无``) yields nothing: the attribute counts as not filled."""
    out: list[IdMatch] = []
    for chunk in re.finditer(r"[^,;/、，；|]+", value):
        text = chunk.group(0)
        digits = [i for i, ch in enumerate(text) if ch.isdecimal()]
        if not digits:
            continue
        s, e = chunk.start() + digits[0], chunk.start() + digits[-1] + 1
        m = pattern.fullmatch(value, s, e)
        if m:
            canon, problem = check(*m.groups())
            out.append(IdMatch(s, e, value[s:e], canon, problem, True))
        else:
            out.append(IdMatch(s, e, value[s:e], None, shape_hint, True))
    return out


def parse_cas_value(value: str) -> list[IdMatch]:
    """The CAS numbers of an attribute value."""
    return _parse_ids(value, _CAS_SPACED, cas_check, CAS_SHAPE_HINT)


def parse_ec_value(value: str) -> list[IdMatch]:
    """The EC (EINECS) numbers of an attribute value."""
    return _parse_ids(value, _EC, ec_check, EC_SHAPE_HINT)


def dashed_numbers(text: str) -> list[tuple[int, int, str, str, str]]:
    """``(start, end, group1, group2, group3)`` of every match of :data:`CAS_DASHED` in ``text``."""
    out = []
    for d, pat in _FROM_DASH.items():
        if d not in text:
            continue
        for m in pat.finditer(text):
            k = m.start()
            while k > 0 and text[k - 1] in " \t":
                k -= 1
            left = _DIGITS_BEFORE.search(text, max(0, k - 8), k)
            if left is None:
                continue
            i = left.start()
            if not 2 <= k - i <= 7:
                continue
            if i > 0:
                c = text[i - 1]
                if c.isalnum() or c == "_" or c == "." or c in _DASH_SET:
                    continue
            out.append((i, m.end(), text[i:k], m.group(1), m.group(2)))
    if len(out) > 1:
        out.sort()
        kept, last = [], -1
        for x in out:
            if x[0] >= last:
                kept.append(x)
                last = x[1]
        out = kept
    return out


def _label_starts(text: str, words: tuple[str, ...]) -> list[int] | None:
    """Positions where one of ``words`` (lower case) starts, case-insensitively; ``None`` when lower-
    casing changes the text's length (then the caller uses the regex)."""
    low = text.lower()
    if len(low) != len(text):
        return None
    out = set()
    for w in words:
        i = low.find(w)
        while i >= 0:
            out.add(i)
            i = low.find(w, i + 1)
    return sorted(out)


def _labels(pattern: re.Pattern, text: str, words: tuple[str, ...]):
    starts = _label_starts(text, words)
    if starts is None:
        yield from pattern.finditer(text)
        return
    last = -1
    for i in starts:
        if i < last:
            continue
        m = pattern.match(text, i)
        if m is not None:
            last = m.end() if m.end() > i else i + 1
            yield m


def find_cas_in_text(text: str, bare: bool) -> list[IdMatch]:
    """CAS numbers in free text: after a label (``CAS``, ``CAS No.``, ``CAS#``, ``CAS RN``, ``CAS号``),
    including a list right after it (``CAS: 64-17-5, 67-56-1``) and malformed labelled numbers; with
    ``bare`` (a chemicals category) also unlabelled dashed numbers of CAS shape."""
    found: dict[tuple[int, int], IdMatch] = {}
    if HAS_CAS_LABEL.search(text):
        starts = _label_starts(text, ("cas",))
        labels = (_CAS_LABEL_NUMBER.finditer(text) if starts is None else
                  (m for i in starts if (m := _CAS_LABEL_NUMBER.match(text, i)) is not None))
        last = -1
        for lab in labels:
            ls = lab.start()
            if ls < last or (ls > 0 and text[ls - 1].isalnum()):
                continue
            last = lab.end()
            if lab.group(1) is None:  # a label without a number of CAS shape after it
                pos = lab.end()
                t = _TOKEN.match(text, pos)
                # "cas34216" (a bare "cas" glued to digits) is a product code unless it has CAS shape
                if t is not None and (pos - ls > 3 or re.search(_D, t.group(0))):
                    found[t.span()] = IdMatch(t.start(), t.end(), t.group(0), None, CAS_SHAPE_HINT, True)
                continue
            s, e = lab.start(1), lab.end()
            canon, problem = cas_check(lab.group(1), lab.group(2), lab.group(3))
            found[(s, e)] = IdMatch(s, e, text[s:e], canon, problem, True)
            sep = _LIST_SEP.match(text, e)
            m = CAS_DASHED.match(text, sep.end()) if sep else None
            while m is not None:
                canon, problem = cas_check(*m.groups())
                found[m.span()] = IdMatch(m.start(), m.end(), m.group(0), canon, problem, True)
                sep = _LIST_SEP.match(text, m.end())
                m = CAS_DASHED.match(text, sep.end()) if sep else None
    if bare:
        labelled = sorted(found)
        starts = [s for s, _ in labelled]
        for s, e, a, b, c in dashed_numbers(text):
            i = bisect_right(starts, s) - 1   # the labelled span starting at or before it
            if i >= 0 and s < labelled[i][1]:
                continue
            canon, problem = cas_check(a, b, c)
            found[(s, e)] = IdMatch(s, e, text[s:e], canon, problem, False)
    return [found[k] for k in sorted(found)]


def find_ec_in_text(text: str) -> list[IdMatch]:
    """Labelled EC/EINECS numbers in free text. A labelled token that is not an EC shape is reported
    only when it looks like an attempt at one (contains a dash), so "EC No 1907/2006" (a regulation)
    is not an error."""
    out: list[IdMatch] = []
    starts = _label_starts(text, ("ec", "einecs", "elincs"))
    if starts is not None:
        if not starts:
            return out
    elif not HAS_EC_LABEL.search(text):
        return out
    for lab in _labels(_EC_LABEL, text, ("ec", "einecs", "elincs")):
        pos = lab.end()
        if pos == lab.start():
            continue
        m = _EC.match(text, pos)
        if m is not None:
            canon, problem = ec_check(*m.groups())
            out.append(IdMatch(m.start(), m.end(), m.group(0), canon, problem, True))
            continue
        t = _TOKEN.match(text, pos)
        if t is not None and re.search(_D, t.group(0)):
            out.append(IdMatch(t.start(), t.end(), t.group(0), None, EC_SHAPE_HINT, True))
    return out
