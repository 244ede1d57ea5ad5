"""The fast paths of the hazardous-chemical check (issue 5, speed) give what the straightforward code
gives: each one is compared, on generated input, with a simple reference written here (regular
expressions applied one by one, brute-force check digits and one-digit variants, rapidfuzz on every
window, RDKit's InChI on every structure). Nothing here is timed (bench/bench_chem.py measures)."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.checks import chem as chem_mod
from app.checks import chemids, chemstruct
from app.engine.core import prepare
from app.models import Listing

CHEM_CAT = "Chemicals > Basic Organic Chemicals"


@pytest.fixture(scope="module")
def check(engine):
    return next(c for c in engine.snapshot.checks if c.name == "hazardous_chemical")


# ---------------------------------------------------------------------------------------- references
def ref_check_digit(a: str, b: str, c: str) -> tuple[str, str | None]:
    digits = [int(ch) for ch in a + b]       # int() reads any Unicode decimal digit
    want = sum(w * d for w, d in zip(range(len(digits), 0, -1), digits)) % 10
    check = int(c)
    canon = f"{int(a):0{len(a)}d}-{int(b):02d}-{check}"
    return canon, (None if want == check else f"check digit is {check}, expected {want}")


def ref_labels(pattern: re.Pattern, text: str, words: tuple[str, ...]):
    """Label matches as the check has always found them: where ``text.lower()`` holds one of ``words``
    (when lower-casing keeps the length; else anywhere ``pattern`` finds one), not overlapping. (So a
    label spelt with a long s or dotless i, which re.IGNORECASE alone would accept, is not one.)"""
    low = text.lower()
    if len(low) != len(text):
        yield from pattern.finditer(text)
        return
    last = -1
    for i in range(len(text)):
        if i < last or not low.startswith(words, i):
            continue
        m = pattern.match(text, i)
        if m is not None:
            last = m.end()
            yield m


def ref_find_cas(text: str, bare: bool) -> list[tuple]:
    """Labels (ref_labels), the number after each by _CAS_SPACED, bare numbers by
    CAS_DASHED.finditer; check digits recomputed here."""
    found = {}
    for lab in ref_labels(chemids._CAS_LABEL, text, ("cas",)):
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
            found[m.span()] = (m.start(), m.end(), m.group(0), *ref_check_digit(*m.groups()), True)
            sep = chemids._LIST_SEP.match(text, m.end())
            m = chemids.CAS_DASHED.match(text, sep.end()) if sep else None
    if bare:
        for m in chemids.CAS_DASHED.finditer(text):
            if any(s <= m.start() < e for s, e in found):
                continue
            found[m.span()] = (m.start(), m.end(), m.group(0), *ref_check_digit(*m.groups()), False)
    return [found[k] for k in sorted(found)]


def ref_find_ec(text: str) -> list[tuple]:
    out = []
    if len(text.lower()) != len(text) and not chemids.HAS_EC_LABEL.search(text):
        return out   # the check's first look when lower-casing changes the length ("EC" then \b)
    for lab in ref_labels(chemids._EC_LABEL, text, ("ec", "einecs", "elincs")):
        pos = lab.end()
        m = chemids._EC.match(text, pos)
        if m is not None:
            out.append((m.start(), m.end(), m.group(0), *chemids.ec_check(*m.groups()), True))
            continue
        t = chemids._TOKEN.match(text, pos)
        if t is not None and re.search(chemids._D, t.group(0)):
            out.append((t.start(), t.end(), t.group(0), None, chemids.EC_SHAPE_HINT, True))
    return out


# text made of the pieces that matter: labels in every case (and the characters that case-fold
# oddly: long s, dotless i, Kelvin sign, dotted capital I), numbers with every dash and spacing,
# lists, EC labels, glued letters, full-width digits
PIECES = ["CAS", "cas", "Cas No.", "CAS#", "CAS RN", "CAS号", "CAS Registry No", "caſ", "Cſ", "ı", "K", "İ",
          ": ", " ", "\t", "64-17-5", "64 - 17 - 5", "64–17–5", "64—17-5", "６４-１７-５", "64-17-6",
          "7732 18 5",
          "1234567-89-0", "12345678-90-1", "6.4-17-5", "64-17-5-1", ", ", "; ", "/", "67-56-1", "50-00-0",
          "EC", "ec No.", "EINECS", "elincs#", "200-001-8", "200-001-9", "200-00-8", "x", "_", "-", ".", "12",
          "9", "名", "spec", "tec", "cas34216", "\n", "No", "0"]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@settings(max_examples=4000, deadline=None)
@given(texts, st.booleans())
def test_find_cas_in_text_equals_the_reference(text, bare):
    got = [tuple(m) for m in chemids.find_cas_in_text(text, bare)]
    assert got == ref_find_cas(text, bare), text


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_find_ec_in_text_equals_the_reference(text):
    assert [tuple(m) for m in chemids.find_ec_in_text(text)] == ref_find_ec(text), text


@settings(max_examples=3000, deadline=None)
@given(texts, st.booleans(), st.sets(st.sampled_from(["64-17-5", "67-56-1", "50-00-0", "7732-18-5", "64-17-6"])))
def test_keep_returns_exactly_the_wanted_items(text, bare, keep):
    """find_cas_in_text(keep=...) = the full answer without the valid numbers not in ``keep``."""
    full = chemids.find_cas_in_text(text, bare)
    want = [m for m in full if m.problem or m.canonical in keep]
    assert chemids.find_cas_in_text(text, bare, keep) == want
    cas, ec = chemids.ids_in_text(text, bare, keep)
    assert cas == want and ec == chemids.find_ec_in_text(text)


def catalogue_text(rng: random.Random, listed: list[str], variants: list[str], lines: int) -> str:
    """Supplier lines, most labelled ("CAS No: ..."), some bare, some in lists, with valid, invalid,
    listed and one-digit-variant numbers and EC numbers."""
    out = []
    for _ in range(lines):
        kind = rng.random()
        body = rng.randint(10, 99999)
        digits = str(body) + f"{rng.randint(0, 99):02d}"
        valid = chemids.cas_check(digits[:-2], digits[-2:], "0")[1]
        want = int(valid.rsplit(" ", 1)[1]) if valid else 0
        number = f"{digits[:-2]}-{digits[-2:]}-{want if rng.random() < 0.8 else (want + 1) % 10}"
        if kind < 0.15:
            number = rng.choice(listed)
        elif kind < 0.25:
            number = rng.choice(variants)
        sep = rng.choice(["-", "-", "-", "–", " - "])
        number = number.replace("-", sep) if rng.random() < 0.2 else number
        label = rng.choice(["CAS No: ", "CAS No: ", "CAS# ", "cas:", "CAS号", "", "CAS RN ", "Cas No.", "CAS "])
        extra = rng.choice(["", "", f", {rng.choice(listed)}", " | EC 200-001-8", " | EINECS 200-001-9",
                            " | 2-(4-chloro-3-methyl)-12-3", " | 98.5%"])
        out.append(f"Product {rng.randint(1, 999)} | {label}{number}{extra} | 25 kg drum | MOQ {rng.randint(1, 50)} kg")
    return "\n".join(out)


def test_catalogue_texts_equal_the_reference(check):
    rng = random.Random(20261123)
    listed = sorted(check.listed)
    variants = sorted(check.cas_variants)
    for i in range(300):
        text = catalogue_text(rng, listed, variants, rng.randint(1, 40))
        for bare in (True, False):
            assert [tuple(m) for m in chemids.find_cas_in_text(text, bare)] == ref_find_cas(text, bare), i
        assert [tuple(m) for m in chemids.find_ec_in_text(text)] == ref_find_ec(text)
        keep = check._cas_keep
        assert chemids.find_cas_in_text(text, True, keep) == [
            m for m in chemids.find_cas_in_text(text, True) if m.problem or m.canonical in keep]


# ------------------------------------------------------------------ the check on generated listings
def ref_variant_of(number: str, listed: list[str]) -> str | None:
    """The listed CAS (first in sorted order) that ``number`` (valid, unlisted) is a one-digit typo of
    that the check digit cannot see: same group lengths and check digit, one body digit different."""
    a, b, c = number.split("-")
    body = a + b
    if body[0] == "0":
        return None
    for cas in listed:
        la, lb, lc = cas.split("-")
        if lc == c and len(la) == len(a) and sum(x != y for x, y in zip(la + lb, body)) == 1:
            return cas
    return None


def test_check_findings_equal_a_reference_on_generated_catalogues(engine, check):
    """data.cas_invalid, chem.cas_near_miss and the listed identities of the check, on generated
    10 KB-style catalogue descriptions, against the references above."""
    rng = random.Random(5)
    listed = sorted(check.listed)
    variants = sorted(check.cas_variants)
    for i in range(60):
        text = catalogue_text(rng, listed, variants, rng.randint(5, 60))
        listing = Listing.model_validate({"listing_id": f"g{i}", "title": "Fine chemicals", "description": text,
                                          "category": CHEM_CAT, "as_of": "2024-06-01"})
        findings = check.run(prepare(listing, engine.snapshot))
        ref = ref_find_cas(text, True)
        want_invalid = sorted((m[2], m[4]) for m in ref if m[4])
        want_invalid += sorted((m[2], m[4]) for m in ref_find_ec(text) if m[4])
        got_invalid = [(dict(f.detail)["value"], dict(f.detail)["problem"]) for f in findings
                       if f.rule_id in ("data.cas_invalid", "data.ec_invalid")]
        assert sorted(got_invalid) == sorted(want_invalid), i
        valid = [m[3] for m in ref if not m[4]]
        want_near = {v: ref_variant_of(v, listed) for v in valid if v not in check.listed}
        want_near = {v: n for v, n in want_near.items() if n}
        got_near = {dict(f.detail)["value"]: dict(f.detail)["near"] for f in findings
                    if f.rule_id == "chem.cas_near_miss"}
        assert got_near == want_near, i
        got_listed = {dict(f.detail)["cas"] for f in findings
                      if f.rule_id in ("chem.prohibited", "chem.restricted_unqualified", "chem.restricted_qualified")}
        assert {v for v in valid if v in check.listed} <= got_listed, i


def test_one_digit_variants_equal_brute_force(check):
    listed = sorted(check.listed)
    rng = random.Random(11)
    for variant, near in rng.sample(sorted(check.cas_variants.items()), 300):
        assert ref_variant_of(variant, listed) == near
    # and valid numbers one digit off a listed CAS that are not variants: listed, or seen by the check digit
    for cas in rng.sample(listed, 200):
        a, b, c = cas.split("-")
        body = a + b
        for i in range(len(body)):
            for d in "0123456789":
                v = body[:i] + d + body[i + 1:]
                number = f"{v[:-2]}-{v[-2:]}-{c}"
                if v == body or v[0] == "0" or ref_check_digit(v[:-2], v[-2:], c)[1]:
                    continue
                assert number in check.listed or number in check.cas_variants


# ---------------------------------------------------------------------------------------- near misses
def ref_near_misses(check, item, seen) -> list:
    """The near-miss search without the pieces automaton: rapidfuzz on every window."""
    windows = 0
    hits = {}
    for ft in item.fields:
        if not ft.fuzzy:
            continue
        text = ft.norm.text
        if text.isascii() is False and not any(c.isascii() and c.isalpha() for c in text):
            continue
        words = list(chem_mod._WORD.finditer(text))
        for i in range(len(words)):
            for j in range(i, min(i + 5, len(words))):
                s, e = words[i].start(), words[j].end()
                n = e - s
                if n < chem_mod.FUZZY_MIN_LEN - 1:
                    continue
                if n > chem_mod.FUZZY_MIN_LEN + 80:
                    break
                windows += 1
                if windows > chem_mod.FUZZY_MAX_WINDOWS:
                    break
                w = text[s:e]
                if w in check._names:
                    continue
                bucket = check._fuzzy_by_window.get(n)
                if bucket is None:
                    continue
                got = process.extractOne(w, bucket[0], scorer=Levenshtein.distance, score_cutoff=2)
                if got is None or got[1] == 0:
                    continue
                name, dist, idx = got
                if dist > chem_mod._fuzzy_bound(len(name)) or not chem_mod._misspelling(w, name):
                    continue
                cases = bucket[1][idx]
                if any(c in seen for c in cases) or name in hits:
                    continue
                if chem_mod._EN_FREE_AFTER.match(text, e) or chem_mod._EN_NEG_BEFORE.search(text, 0, s):
                    continue
                a, b = ft.norm.span_a(s, e)
                if not chem_mod._latin_boundary(ft.norm.original, a, b):
                    continue
                hits[name] = (ft.name, a, b, dist)
    return sorted(hits.items())


def _mutate(rng: random.Random, name: str) -> str:
    s = list(name)
    for _ in range(rng.choice([1, 1, 2, 3])):
        i = rng.randrange(len(s))
        op = rng.random()
        if op < 0.4:
            s[i] = rng.choice("abcdefghijklmnopqrstuvwxyz ")
        elif op < 0.7:
            del s[i]
        else:
            s.insert(i, rng.choice("aeiouln"))
    return "".join(s)


def test_near_misses_equal_rapidfuzz_on_every_window(engine, check):
    names = [n for names_l, _ in check._fuzzy.values() for n in names_l]
    words = ["acid", "for", "sale", "pure", "high", "quality", "chloride", "ethyl", "methyl", "99%", "free", "no",
             "powder", "liquid", "bottle", "phone", "case", "red", "dress", "oxide", "amine", "(", "2", "-"]
    rng = random.Random(7)
    snap = engine.snapshot
    for i in range(500):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 12))]
        for _ in range(rng.randint(0, 3)):
            parts.insert(rng.randint(0, len(parts)), _mutate(rng, rng.choice(names)))
        title = " ".join(parts) or "x"
        keywords = [" ".join(rng.choice(words + [_mutate(rng, rng.choice(names))]) for _ in range(rng.randint(1, 6)))
                    for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.1:   # past FUZZY_MAX_WINDOWS: the title alone has more windows than that
            title = " ".join(rng.choice(words) for _ in range(60)) + " " + title
        listing = Listing.model_validate({"listing_id": f"n{i}", "title": title[:200], "keywords": keywords})
        item = prepare(listing, snap)
        got = []
        check._near_misses(item, {}, got)
        got = sorted((dict(f.detail)["name"], (f.evidence[0].field, f.evidence[0].start, f.evidence[0].end,
                                               dict(f.detail)["distance"])) for f in got)
        assert got == ref_near_misses(check, item, {}), (title, keywords)


def test_pieces_cut_a_name_into_bound_plus_one_parts():
    assert chem_mod._pieces("thionyl chloride") == ["thiony", "l chl", "oride"]
    assert chem_mod._pieces("methanol1") == ["metha", "nol1"]
    for name in ("abcdefgh", "abcdefghijkl", "a" * 37):
        parts = chem_mod._pieces(name)
        assert "".join(parts) == name and len(parts) == chem_mod._fuzzy_bound(len(name)) + 1


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="free ofnwithutzr\n_x1", max_size=30), st.data())
def test_negation_window_equals_the_whole_prefix(text, data):
    s = data.draw(st.integers(0, len(text)))
    assert chem_mod._negated_before(text, s) == (chem_mod._EN_NEG_BEFORE.search(text, 0, s) is not None)


# ---------------------------------------------------------------------------------------- structures
def ref_mol_keys(mol):
    """chemstruct.mol_keys as first written: fragments as molecules, charges by a loop over atoms."""
    from rdkit import Chem, rdBase

    uncharger, strip, solvents = chemstruct._tables()
    keys = set()
    whole = chemstruct._block(mol)
    if whole:
        keys.add(whole)
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        if not any(a.GetFormalCharge() for a in mol.GetAtoms()):
            return frozenset(keys), frozenset(keys)
        with rdBase.BlockLogs():
            k = chemstruct._block(uncharger.uncharge(frags[0]))
        if k:
            keys.add(k)
        return frozenset(keys), frozenset({k} if k else ())
    return None   # several fragments: unchanged code, not compared here


def _list_smiles():
    import csv

    from app.config import REPO_ROOT

    with (REPO_ROOT / "cas_lists" / "structures.csv").open(encoding="utf-8", newline="") as fh:
        return [(r["smiles"], frozenset(k for k in r["parent_keys"].split(";") if k))
                for r in csv.DictReader(fh) if r["smiles"]]


def test_known_smiles_entries_are_what_rdkit_computes(check):
    """Every SMILES of the list that KnownSmiles answers for gets the key mol_keys computes (the list's
    parent_keys are current), and a one-fragment neutral structure has keys == parents == {key}."""
    from rdkit import Chem, rdBase

    known = check.structures.known
    assert known.entries > 1000
    answered = 0
    for smiles, _parents in _list_smiles():
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            continue
        key = known.key_of(mol)
        ref = ref_mol_keys(mol)
        if ref is not None:
            assert chemstruct.mol_keys(mol) == ref, smiles
        if key is None:
            continue
        answered += 1
        assert ref == (key, key), smiles
    assert answered >= known.entries   # (rows; one structure may stand on several rows)


def test_respelt_smiles_parse_the_same_with_and_without_the_table(check):
    """Random atom orders of listed structures (what a seller copying from elsewhere writes), salts and
    unlisted structures: the table gives exactly what the InChI route gives."""
    from rdkit import Chem, rdBase

    rng = random.Random(3)
    rows = rng.sample(_list_smiles(), 250)
    extra = ["CCO", "CCO.Cl", "[Na+].[C-]#N", "C[N+](C)(C)C", "OC(=O)CC[NH3+]", "c1ccccc1O", "F[Cl](F)(F)(F)F",
             "C1CC1", "CC(", "N[C@@H](C)C(=O)O", "N[C@H](C)C(=O)O", "[2H]C([2H])([2H])O"]
    spellings = extra[:]
    for smiles, _ in rows:
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            continue
        spellings.append(smiles)
        for seed in range(2):
            spellings.append(Chem.MolToSmiles(mol, doRandom=True, canonical=False))
    for s in spellings:
        chemstruct.parse_smiles.cache_clear()
        assert check.structures.parse("SMILES", s) == chemstruct.parse_smiles(s), s


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(["C", "H", "O", "N", "Cl", "Na", "Cu", "S", "Xx", "Q", "2", "12", "0", "5"]),
                max_size=8).map("".join), st.booleans())
def test_plain_formulas_equal_the_general_parser(text, water):
    """A formula of element symbols and counts only takes the short path; the general one (reached
    here by a trailing space, which it strips) gives the same counts."""
    assert chemstruct.formula_counts(text, water) == chemstruct.formula_counts(text + " ", water)


# ---------------------------------------------------------------------------------------- the gate
def test_gate_memo_gives_what_each_call_alone_gives(check):
    """One memo across a listing's CAS numbers = a fresh gate per CAS (the memo holds only what does
    not depend on the CAS)."""
    rng = random.Random(2)
    restricted = sorted(c for c, x in check.listed.items() if x.kind == "restricted")
    types = ["hazchem_business_permit", "hazchem_safety_production_permit", "industrial_product_production_permit",
             "business_license"]
    for i in range(200):
        quals = [{"type": rng.choice(types), "number": "X-1", "owned": rng.random() < 0.8,
                  "valid_until": rng.choice([None, "2023-01-01", "2030-01-01"]),
                  "scope": rng.sample(restricted, rng.randint(0, 3))} for _ in range(rng.randint(0, 5))]
        seller = {"seller_id": "s", "country": rng.choice(["CN", "HK", None]),
                  "business_type": rng.choice(["trading", "manufacturer", None]), "qualifications": quals}
        listing = Listing.model_validate({"listing_id": f"q{i}", "title": "x", "seller": seller,
                                          "category": CHEM_CAT, "as_of": "2024-06-01"})
        cases = rng.sample(restricted, 6) + [c for q in quals for c in q["scope"]]
        memo: dict = {}
        for cas in cases:
            args = (listing, cas, rng.random() < 0.7, rng.random() < 0.7, rng.random() < 0.5, dt.date(2024, 6, 1))
            assert check.gate(*args, memo) == check.gate(*args), (i, cas)

