"""The shared qualification machinery (app/checks/qualifications.py): type, own name, expiry, scope,
number -- and the words it uses to say what is missing."""

from __future__ import annotations

import datetime as dt

from app.checks import qualifications as qm
from app.models.listing import Qualification

DAY = dt.date(2022, 3, 1)


def q(type_="epidemic_prevention_admission", number="ADM-1", owned=True, valid_until=None, scope=()):
    return Qualification(type=type_, number=number, owned=owned, valid_until=valid_until, scope=list(scope))


def test_accepts_an_owned_unexpired_qualification_and_names_its_index():
    got = qm.find([q("business_license"), q()], "epidemic_prevention_admission", DAY, "the admission")
    assert got.ok and got.index == 1 and got.problem is None
    (ev,) = got.evidence()
    assert ev.field == "seller.qualifications[1]" and ev.text == "ADM-1" and ev.method == "list"
    assert (ev.start, ev.end) == (0, 5)


def test_missing_type_names_the_label():
    got = qm.find([q("business_license")], "epidemic_prevention_admission", DAY, "the admission")
    assert not got.ok and got.problem == "the admission" and got.index is None and got.stage == "type"


def test_authorised_use_is_not_accepted():
    got = qm.find([q(owned=False)], "epidemic_prevention_admission", DAY, "the admission")
    assert not got.ok and "own name" in got.problem and got.stage == "owned"


def test_expired_on_the_check_date_counts_as_missing_and_reports_the_latest_expiry():
    quals = [q(valid_until=dt.date(2021, 1, 1)), q(valid_until=dt.date(2022, 2, 28))]
    got = qm.find(quals, "epidemic_prevention_admission", DAY, "the admission")
    assert not got.ok and got.problem == "the admission that is in date (expired 2022-02-28)"
    assert got.index == 1


def test_valid_until_the_check_date_itself_is_still_valid():
    assert qm.find([q(valid_until=DAY)], "epidemic_prevention_admission", DAY, "x").ok
    assert not qm.find([q(valid_until=DAY - dt.timedelta(days=1))], "epidemic_prevention_admission", DAY, "x").ok


def test_the_closest_candidate_is_reported():
    """One not owned, one owned but out of scope: the scope problem is the one to fix."""
    quals = [q(owned=False, scope=["A"]), q(scope=["B"])]
    got = qm.find(quals, "epidemic_prevention_admission", DAY, "the admission",
                  scope=lambda x: "A" in x.scope, scope_label="product A")
    assert not got.ok and got.problem == "the admission whose scope covers product A" and got.index == 1


def test_validate_and_custom_expiry():
    quals = [q(number="bad"), q(number="good", valid_until=dt.date(2022, 1, 5))]
    got = qm.find(quals, "epidemic_prevention_admission", DAY, "the admission",
                  validate=lambda x: None if x.number == "good" else "number is bad",
                  expiry=lambda x: dt.date(x.valid_until.year, 12, 31) if x.valid_until else None)
    assert got.ok and got.index == 1  # valid until 2022-01-05, but the rule's expiry is 31 December

    def no_year(x):
        raise ValueError("its year is unknown")

    got = qm.find([q(number="good")], "epidemic_prevention_admission", DAY, "the admission", expiry=no_year)
    assert not got.ok and got.problem == "the admission that is in date (its year is unknown)"
    got = qm.find([q(number="bad")], "epidemic_prevention_admission", DAY, "the admission",
                  validate=lambda x: "number is bad")
    assert not got.ok and got.problem == "the admission with a valid number (number is bad)"


def test_several_types_and_an_empty_list():
    got = qm.find([q("fda_clearance", number="K853878")], ("fda_clearance", "nmpa_registration"), DAY, "x")
    assert got.ok
    assert qm.find([], "fda_clearance", DAY, "x").problem == "x"
    assert qm.find(None, "fda_clearance", DAY, "x").problem == "x"


def test_check_date_defaults_to_today_utc():
    assert qm.check_date(DAY) == DAY
    assert qm.check_date(None) == dt.datetime.now(dt.timezone.utc).date()
