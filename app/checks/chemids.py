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
from operator import mul
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

# Speed (10 KB supplier texts with a hundred numbers): Python's regex engine scans a pattern that starts
# with a class (\d, \b) position by position, but jumps to a literal first character. So
# * dashed numbers are found from their first dash (one literal-led pattern per dash character
#   present), the 8 characters before the dash captured by the pattern settling the left digits;
# * labels ("cas", "ec", "einecs", "elincs") are literal-led patterns on the lower-cased text (when
#   lower-casing keeps every offset and re.IGNORECASE would accept nothing more), one scan per word,
#   each label with its number in one match;
# * a catalogue labels every number ("CAS No: 64-17-5" per line): when the labelled dashed numbers
#   are as many as the dash candidates in the text, no bare number is left to look for;
# * find_cas_in_text(keep=...) builds an IdMatch only for invalid numbers and the caller's (the
#   chemical check: listed CAS numbers and their one-digit variants);
# * check digits: one multiply-add over the digits' bytes, cached.
# All of it gives exactly the earlier answers: tests/test_chem_ids_fast.py and tests/test_chem_fast.py
# compare with the plain regular expressions on generated text.
DASH_CHARS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASH_SET = frozenset(DASH_CHARS)
_DIGITS_BEFORE = re.compile(r"\d+\Z")   # with endpos: the digit run that ends there
_FROM_DASH = {d: re.compile(re.escape(d) + rf"[ \t]*(\d{{2}}){_SEP}(\d){_NOT_AFTER}") for d in DASH_CHARS}
# the same, also capturing the 8 characters before the dash (searched in the text padded with 8
# newlines); the lookahead first, so that the lookbehind runs only at dashes followed by two digits
_PAD = "\n" * 8
_FROM_DASH_LEFT = {d: re.compile(re.escape(d) + rf"(?=[ \t]*\d\d)(?<=(.{{8}}){re.escape(d)})[ \t]*(\d{{2}}){_SEP}(\d)"
                              + _NOT_AFTER, re.DOTALL) for d in DASH_CHARS}
_HAS_DASH = re.compile(_D)
# Labels found in the lower-cased text (see _lowered) by patterns that start with a literal: "cas",
# "ec", "einecs", "elincs", each not glued to a preceding letter or digit (the \b of the originals).
# (the number as _CAS_SPACED, its separators captured: None where a single space separates)
_CAS_LABEL_NUMBER_LOW = re.compile(
    r"cas(?<!\wcas)(?:[ \t]*(?:no|nr|number|rn|reg(?:istry)?\.?[ \t]*no)\b\.?|[ \t]*#|[ \t]*号|[ \t]*编号)?"
    rf"[ \t]*[:：#=]?[ \t]*(?:(\d{{2,7}})(?:({_SEP})| )(\d{{2}})(?:({_SEP})| )(\d){_NOT_AFTER}"
    r"(?:(?=[ \t]*[,;/、，；])())?)?")
# a labelled dashed number after one of these is also a bare match (CAS_DASHED finds the same span)
_BARE_AFTER = frozenset(" \t:：#=")
_EC_LABELS_LOW = tuple(
    (w, re.compile(w + rf"(?<!\w{w})(?:[ \t]*(?:no|nr|number)\b\.?|[ \t]*#|[ \t]*号)?[ \t]*[:：#=]?[ \t]*"))
    for w in ("ec", "einecs", "elincs"))
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


# weights of the CAS check digit, first digit first, for bodies of 4-9 digits, and their sums (to
# take the ASCII code of "0" off each digit's byte)
_CAS_WEIGHTS = {n: tuple(range(n, 0, -1)) for n in range(1, 10)}
_CAS_ZERO = {n: 48 * sum(w) for n, w in _CAS_WEIGHTS.items()}


@lru_cache(maxsize=1 << 16)
def cas_check(a: str, b: str, c: str) -> tuple[str, str | None]:
    """Canonical ``A-B-C`` and ``None``, or the problem with the check digit."""
    body = a + b
    if body.isascii() and body.isdigit() and len(body) <= 9 and len(c) == 1 and "0" <= c <= "9":
        check = ord(c) - 48
        want = (sum(map(mul, body.encode(), _CAS_WEIGHTS[len(body)])) - _CAS_ZERO[len(body)]) % 10
        canon = f"{a}-{b}-{c}"
        if want != check:
            return canon, f"check digit is {check}, expected {want}"
        return canon, None
    body = _digits(body)
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


def _left_start(text: str, k: int) -> int | None:
    """Start of the 2-7 digit group that ends (spaces allowed) right before the dash at ``k``, when
    nothing glued precedes it (:data:`_NOT_BEFORE`); else ``None``."""
    while k > 0 and text[k - 1] in " \t":
        k -= 1
    left = _DIGITS_BEFORE.search(text, max(0, k - 8), k)
    if left is None:
        return None
    i = left.start()
    if not 2 <= k - i <= 7:
        return None
    if i > 0:
        c = text[i - 1]
        if c.isalnum() or c == "_" or c == "." or c in _DASH_SET:
            return None
    return i


def _dashed_slow(text: str) -> list[tuple[int, int, str, str, str]]:
    out = []
    for d, pat in _FROM_DASH.items():
        if d not in text:
            continue
        for m in pat.finditer(text):
            k = m.start()
            i = _left_start(text, k)
            if i is not None:
                out.append((i, m.end(), text[i:k].rstrip(" \t"), m.group(1), m.group(2)))
    return out


def _dashed_fast(text: str, skip_ends=None) -> list[tuple[int, int, str, str, str]]:
    """:func:`_dashed_slow` with the left digits read from the 8 characters before the dash that
    the pattern captures (text padded with 8 newlines), falling back to :func:`_left_start` only when
    those 8 characters do not settle it (spaces before the dash, non-ASCII digits, 8 digits).
    ``skip_ends``: leave out the matches ending there (only when one dash character is used)."""
    padded = _PAD + text
    out = []
    for d, pat in _FROM_DASH_LEFT.items():
        if d not in text:
            continue
        for m in pat.finditer(padded):
            e = m.end() - 8
            if skip_ends and e in skip_ends:
                continue
            left, b, c = m.groups()
            t = left.rstrip("0123456789")
            n = 8 - len(t)
            k = m.start() - 8
            ch = t[-1] if t else ""
            if 2 <= n <= 7 and not ch.isdecimal():
                if ch.isalnum() or ch == "_" or ch == "." or ch in _DASH_SET:
                    continue
                out.append((k - n, e, left[8 - n:], b, c))
                continue
            if n < 2 and not (ch.isdecimal() or ch == " " or ch == "\t"):
                continue  # fewer than 2 digits before the dash: no CAS shape
            i = _left_start(text, k)
            if i is not None:
                out.append((i, e, text[i:k].rstrip(" \t"), b, c))
    return out


def _dash_candidates(text: str) -> int:
    """How many dash-led candidates (_FROM_DASH matches) the text holds."""
    return sum(len(pat.findall(text)) for d, pat in _FROM_DASH.items() if d in text)


def _one_dash_kind(text: str) -> bool:
    return sum(d in text for d in DASH_CHARS) <= 1


def dashed_numbers(text: str) -> list[tuple[int, int, str, str, str]]:
    """``(start, end, group1, group2, group3)`` of every match of :data:`CAS_DASHED` in ``text``."""
    out = _dashed_fast(text)
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


def _lowered(text: str) -> str | None:
    """``text.lower()`` when case-sensitive lower-case patterns on it find exactly what the
    ``IGNORECASE`` label patterns find on ``text`` (same length, and no dotless i / long s, which
    ``re.IGNORECASE`` equates with i / s but ``str.lower`` keeps); else ``None``."""
    low = text.lower()
    if len(low) != len(text) or "ı" in low or "ſ" in low:
        return None
    return low


def _cas_labels_slow(text: str, found: dict, spans: list, keep) -> None:
    starts = _label_starts(text, ("cas",))
    labels = (_CAS_LABEL_NUMBER.finditer(text) if starts is None else
              (m for i in starts if (m := _CAS_LABEL_NUMBER.match(text, i)) is not None))
    last = -1
    for lab in labels:
        ls = lab.start()
        if ls < last or (ls > 0 and text[ls - 1].isalnum()):
            continue
        last = lab.end()
        if lab.group(1) is None:
            _label_token(text, ls, lab.end(), found, spans)
            continue
        _labelled_list(text, lab.start(1), lab.end(), lab.group(1), lab.group(2), lab.group(3), found, spans, keep)


def _label_token(text: str, ls: int, pos: int, found: dict, spans: list) -> None:
    """A label without a number of CAS shape after it: a number-like token there is malformed."""
    t = _TOKEN.match(text, pos)
    # "cas34216" (a bare "cas" glued to digits) is a product code unless it has CAS shape
    if t is not None and (pos - ls > 3 or _HAS_DASH.search(t.group(0))):
        spans.append(t.span())
        found[t.span()] = IdMatch(t.start(), t.end(), t.group(0), None, CAS_SHAPE_HINT, True)


def _labelled_list(text: str, s: int, e: int, a: str, b: str, c: str, found: dict, spans: list, keep) -> int:
    """The labelled number ``text[s:e]`` and the list of dashed numbers right after it; returns how
    many dashed numbers the list held (each also a bare match)."""
    listed = -1
    while True:
        listed += 1
        canon, problem = cas_check(a, b, c)
        spans.append((s, e))
        if keep is None or problem is not None or canon in keep:
            found[(s, e)] = IdMatch(s, e, text[s:e], canon, problem, True)
        sep = _LIST_SEP.match(text, e)
        m = CAS_DASHED.match(text, sep.end()) if sep else None
        if m is None:
            return listed
        s, e = m.span()
        a, b, c = m.groups()


def _cas_labels_fast(text: str, low: str, found: dict, spans: list, keep) -> int:
    """:func:`_cas_labels_slow` in one scan of the lower-cased text (labels are literal-led there).
    Returns how many of the numbers found are also bare matches (see find_cas_in_text)."""
    bare = 0
    for lab in _CAS_LABEL_NUMBER_LOW.finditer(low):
        a, d1, b, d2, c, sep = lab.groups()
        if a is None:
            _label_token(text, lab.start(), lab.end(), found, spans)
            continue
        s, e = lab.start(1), lab.end()
        if d1 is not None and d2 is not None and low[s - 1] in _BARE_AFTER:
            bare += 1
        if sep is None:  # the common case: no list after the number
            canon, problem = cas_check(a, b, c)
            spans.append((s, e))
            if keep is None or problem is not None or canon in keep:
                found[(s, e)] = IdMatch(s, e, text[s:e], canon, problem, True)
        else:
            bare += _labelled_list(text, s, e, a, b, c, found, spans, keep)
    return bare


def find_cas_in_text(text: str, bare: bool, keep=None, low: str | None = None) -> list[IdMatch]:
    """CAS numbers in free text: after a label (``CAS``, ``CAS No.``, ``CAS#``, ``CAS RN``, ``CAS号``),
    including a list right after it (``CAS: 64-17-5, 67-56-1``) and malformed labelled numbers; with
    ``bare`` (a chemicals category) also unlabelled dashed numbers of CAS shape.

    ``keep`` (a container of canonical CAS numbers): return only the numbers with a problem and the
    valid ones in ``keep`` -- exactly those items of the full answer, without building the others
    (a supplier text carries a hundred valid numbers the caller does not care about). ``low``: the
    caller's ``_lowered(text)`` when it has it."""
    found: dict[tuple[int, int], IdMatch] = {}
    spans: list[tuple[int, int]] = []   # every labelled span, kept or not
    labelled_bare = -1   # labelled numbers that are bare matches too (-1: not counted)
    if HAS_CAS_LABEL.search(text):
        if low is None:
            low = _lowered(text)
        if low is not None:
            labelled_bare = _cas_labels_fast(text, low, found, spans, keep)
        else:
            _cas_labels_slow(text, found, spans, keep)
    if bare and labelled_bare > 0 and _dash_candidates(text) == labelled_bare:
        # Each bare match starts at a distinct dash candidate (_FROM_DASH), and each labelled number
        # counted is a bare match: as many candidates as those numbers -> no other bare match, and
        # those are labelled already (typical of a catalogue: "CAS No: 64-17-5" on every line)
        bare = False
    if bare:
        spans.sort()
        starts = [s for s, _ in spans]
        if spans and _one_dash_kind(text):
            # the labelled numbers are found again here; one ending where a labelled number ends is
            # that number (both end on its check digit and start after the label), so it is left out
            # before its start is worked out; with one dash character the matches need no sorting
            numbers = _dashed_fast(text, {e for _, e in spans})
        else:
            numbers = dashed_numbers(text)
        for s, e, a, b, c in numbers:
            if starts:
                i = bisect_right(starts, s) - 1   # the labelled span starting at or before it
                if i >= 0 and s < spans[i][1]:
                    continue
            canon, problem = cas_check(a, b, c)
            if keep is None or problem is not None or canon in keep:
                found[(s, e)] = IdMatch(s, e, text[s:e], canon, problem, False)
    if len(found) > 1:
        return [found[k] for k in sorted(found)]
    return list(found.values())


def _ec_labels(text: str, low: str | None):
    if low is None:
        yield from _labels(_EC_LABEL, text, ("ec", "einecs", "elincs"))
        return
    labs = [m for w, pat in _EC_LABELS_LOW if w in low for m in pat.finditer(low)]
    if len(labs) > 1:
        labs.sort(key=lambda m: m.start())
    last = -1
    for m in labs:
        if m.start() >= last:
            last = m.end()
            yield m


def find_ec_in_text(text: str, low: str | None = None) -> list[IdMatch]:
    """Labelled EC/EINECS numbers in free text. A labelled token that is not an EC shape is reported
    only when it looks like an attempt at one (contains a dash), so "EC No 1907/2006" (a regulation)
    is not an error. ``low``: the caller's ``_lowered(text)`` when it has it."""
    out: list[IdMatch] = []
    if low is None:
        low = _lowered(text)
    if low is not None:
        if "ec" not in low and "elincs" not in low:   # "einecs" contains "ec"
            return out
    else:   # the general way (lower-casing changes the length, or a long s / dotless i)
        starts = _label_starts(text, ("ec", "einecs", "elincs"))
        if starts is not None:
            if not starts:
                return out
        elif not HAS_EC_LABEL.search(text):
            return out
    for lab in _ec_labels(text, low):
        pos = lab.end()
        if pos == lab.start():
            continue
        m = _EC.match(text, pos)
        if m is not None:
            canon, problem = ec_check(*m.groups())
            out.append(IdMatch(m.start(), m.end(), m.group(0), canon, problem, True))
            continue
        t = _TOKEN.match(text, pos)
        if t is not None and _HAS_DASH.search(t.group(0)):
            out.append(IdMatch(t.start(), t.end(), t.group(0), None, EC_SHAPE_HINT, True))
    return out


def ids_in_text(text: str, bare: bool, keep=None) -> tuple[list[IdMatch], list[IdMatch]]:
    """(:func:`find_cas_in_text`, :func:`find_ec_in_text`) of one text, lower-casing it once."""
    low = _lowered(text) if ("c" in text or "C" in text or not text.isascii()) else text
    return find_cas_in_text(text, bare, keep, low), find_ec_in_text(text, low)
