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
from dataclasses import dataclass

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
EC_SHAPE_HINT = "not in the form NNN-NNN-N"


def _digits(s: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in s if c.isdecimal())


@dataclass(frozen=True, slots=True)
class IdMatch:
    """One CAS or EC number as written: offsets into the original text, canonical form if the
    shape is right, and what is wrong with it (``None`` = valid)."""

    start: int
    end: int
    text: str
    canonical: str | None
    problem: str | None
    labelled: bool


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


def find_cas_in_text(text: str, bare: bool) -> list[IdMatch]:
    """CAS numbers in free text: after a label (``CAS``, ``CAS No.``, ``CAS#``, ``CAS RN``, ``CAS号``),
    including a list right after it (``CAS: 64-17-5, 67-56-1``) and malformed labelled numbers; with
    ``bare`` (a chemicals category) also unlabelled dashed numbers of CAS shape."""
    found: dict[tuple[int, int], IdMatch] = {}
    if HAS_CAS_LABEL.search(text):
        for lab in _CAS_LABEL.finditer(text):
            pos = lab.end()
            if lab.start() > 0 and text[lab.start() - 1].isalnum():
                continue
            m = _CAS_SPACED.match(text, pos)
            if m is None:
                t = _TOKEN.match(text, pos)
                # "cas34216" (a bare "cas" glued to digits) is a product code unless it has CAS shape
                if t is not None and (pos - lab.start() > 3 or re.search(_D, t.group(0))):
                    found[t.span()] = IdMatch(t.start(), t.end(), t.group(0), None, CAS_SHAPE_HINT, True)
                continue
            while m is not None:
                canon, problem = cas_check(*m.groups())
                found[m.span()] = IdMatch(m.start(), m.end(), m.group(0), canon, problem, True)
                sep = _LIST_SEP.match(text, m.end())
                m = CAS_DASHED.match(text, sep.end()) if sep else None
    if bare and HAS_DASHED_NUMBER.search(text):
        for m in CAS_DASHED.finditer(text):
            if any(s <= m.start() < e for s, e in found):
                continue
            canon, problem = cas_check(*m.groups())
            found[m.span()] = IdMatch(m.start(), m.end(), m.group(0), canon, problem, False)
    return [found[k] for k in sorted(found)]


def find_ec_in_text(text: str) -> list[IdMatch]:
    """Labelled EC/EINECS numbers in free text. A labelled token that is not an EC shape is reported
    only when it looks like an attempt at one (contains a dash), so "EC No 1907/2006" (a regulation)
    is not an error."""
    out: list[IdMatch] = []
    if not HAS_EC_LABEL.search(text):
        return out
    for lab in _EC_LABEL.finditer(text):
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
