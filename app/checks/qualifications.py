"""Seller qualifications: one machinery for every rule that asks "does the seller hold X?".

A qualification counts when it is of a wanted type, held in the seller's own name (``owned``; an
authorised-use copy does not count), not expired on the date of the check (``valid_until`` >=
``as_of``; a rule may compute the expiry itself, e.g. 31 December for FDA establishment
registrations), its scope covers the product, and its number is well formed. :func:`find` returns the
first qualification that passes every test, or -- when none does -- what is missing, in words, from
the candidate that came closest (so the seller is told the one thing to fix).

Used by the hazardous-chemical permits (``chem.py``), the medical-device qualifications
(``meddev.py``: NMPA, FDA clearance and establishment registration, CE) and the epidemic-prevention
admission (``epidemic.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable

from app.models.decision import Evidence

# the stages a candidate goes through, in order; a candidate that fails later came closer
_STAGES = ("type", "owned", "in_date", "scope", "valid")


@dataclass(frozen=True, slots=True)
class QualificationResult:
    ok: bool
    index: int | None = None          # position in seller.qualifications of the accepted / closest one
    qualification: object | None = None
    problem: str | None = None        # what is missing, in words (None when ok)
    stage: str | None = None          # where the closest candidate failed

    def evidence(self) -> list[Evidence]:
        if self.index is None or self.qualification is None:
            return []
        return [qualification_evidence(self.index, self.qualification)]


def check_date(listing_as_of: dt.date | None) -> dt.date:
    """The date a qualification must be valid on: the listing's ``as_of``, or today (UTC) -- the same
    date the engine evaluates the policy at."""
    return listing_as_of or dt.datetime.now(dt.timezone.utc).date()


def qualification_evidence(index: int, q) -> Evidence:
    """Evidence citing ``seller.qualifications[index]``: the span is its number as written."""
    text = q.number or ""
    return Evidence(field=f"seller.qualifications[{index}]", start=0, end=len(text), text=text,
                    matched=q.type, method="list", source=q.type)


def in_date(q, as_of: dt.date, expiry: Callable[[object], dt.date | None] | None = None) -> bool:
    until = expiry(q) if expiry else q.valid_until
    return until is None or until >= as_of


def find(qualifications: Iterable, types: str | Iterable[str], as_of: dt.date, label: str, *,
         scope: Callable[[object], bool] | None = None, scope_label: str | None = None,
         validate: Callable[[object], str | None] | None = None,
         expiry: Callable[[object], dt.date | None] | None = None) -> QualificationResult:
    """The first qualification of ``types`` that is owned, in date on ``as_of``, within ``scope``
    (a predicate; ``scope_label`` says what it must cover) and valid (``validate`` returns a problem
    or ``None``); else what is missing.

    ``expiry(q)`` overrides ``q.valid_until`` as the last valid day (``None`` = no expiry); it may
    raise ``ValueError`` with a message when the expiry cannot be known (counts as not in date).
    """
    wanted = {types} if isinstance(types, str) else set(types)
    best: tuple[int, int, object, str] | None = None  # (stage reached, index, q, problem)

    latest: dt.date | None = None  # among expired candidates, the latest expiry is the one to report

    def note(stage: str, i: int, q, problem: str, until: dt.date | None = None) -> None:
        nonlocal best, latest
        rank = _STAGES.index(stage)
        later = until is not None and (latest is None or until > latest)
        if best is None or rank > best[0] or (rank == best[0] and later):
            best = (rank, i, q, problem)
        if later:
            latest = until

    for i, q in enumerate(qualifications or ()):
        if q.type not in wanted:
            continue
        if not q.owned:
            note("owned", i, q, f"{label} held in the seller's own name (authorised use is not accepted)")
            continue
        try:
            current = in_date(q, as_of, expiry)
            until = expiry(q) if expiry else q.valid_until
        except ValueError as exc:
            note("in_date", i, q, f"{label} that is in date ({exc})")
            continue
        if not current:
            note("in_date", i, q, f"{label} that is in date (expired {until.isoformat()})", until)
            continue
        if scope is not None and not scope(q):
            note("scope", i, q, f"{label} whose scope covers {scope_label or 'this product'}")
            continue
        problem = validate(q) if validate is not None else None
        if problem:
            note("valid", i, q, f"{label} with a valid number ({problem})")
            continue
        return QualificationResult(True, i, q, None, None)
    if best is None:
        return QualificationResult(False, None, None, label, "type")
    rank, i, q, problem = best
    return QualificationResult(False, i, q, problem, _STAGES[rank])
