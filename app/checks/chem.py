"""Hazardous chemicals (policy.md §3.4, §3.8, §6), driven by ``cas_lists/``.

Identity of a listing: the CAS No. attribute; CAS numbers in text fields when labelled (``CAS``,
``CAS No.``, ``CAS#``, ``CAS RN``, ``CAS号``) or, in a chemicals category, any dashed number of CAS
shape; the EC/EINECS attribute and labelled EC numbers (validated only: the lists carry no EC
numbers); exact chemical names and synonyms of the lists (one Aho-Corasick automaton over view-A
normalised names, built in the constructor).

Findings:
* a CAS / EC number with a wrong shape or check digit -> ``data.cas_invalid`` / ``data.ec_invalid``
  (detail ``value``, ``problem``);
* a prohibited CAS -> ``chem.prohibited`` (detail ``cas``, ``list``, ``name``);
* a restricted CAS -> the qualification gate: all elements hold -> ``chem.restricted_qualified``,
  otherwise ``chem.restricted_unqualified`` with ``missing`` naming each missing element;
* a listed chemical found in the text (name or CAS) while the CAS No. attribute is empty ->
  ``chem.cas_attribute_missing`` as well.

Dates: a permit is expired when ``valid_until`` < the listing's ``as_of`` (or today, UTC, when the
listing has none) -- the same date the engine evaluates the policy at for API requests.

Structures (``app/checks/chemstruct.py``, RDKit): a ``SMILES`` / ``InChI`` / ``InChIKey`` attribute, an
``InChI=`` string or InChIKey anywhere in the text, and a SMILES labelled ``SMILES:`` in the text are
reduced to connectivity keys (salts, hydrates and solvates stripped to their parent) and matched
against ``cas_lists/structures.csv``: a listed substance found this way is an identity like a CAS
(evidence method ``structure``); a sexual-health ingredient (../shared/data/pde5) found this way ->
``sexual_health.drug_ingredient``. An attribute (or ``InChI=`` string) that does not parse ->
``data.structure_invalid`` naming the field and the parser's complaint.

Identity conflicts -> ``chem.identity_mismatch`` (review; both identities are judged, so the stricter
decides): the ``MF`` attribute disagrees with the formula of a declared CAS or of the declared
structure (differences of whole water molecules are a hydrate written either way, not a conflict);
the declared structure is not the declared CAS's structure, or resolves to another listed substance.

Near-miss names (``chem.name_near_miss``, review): a word or phrase of the title / keywords within a
bounded Levenshtein distance of a listed Latin-script name (1 edit for names under 12 characters, 2
from 12), method ``fuzzy``; never when the listing already identifies that substance.

Ingredient mentions (policy settled question, see cas_lists/README.md): in a listing the
e-cigarette family claims (e-liquid or hardware signals fired), a listed substance found *only by name*
-- no CAS, no structure, not in a chemicals category -- is an ingredient of that product (nicotine in an
e-liquid), judged by the e-cigarette rules, not a chemical offered for sale. A CAS or structure of it,
or a chemicals category, makes it a chemical identity again (both rules apply).

Not in this pass: names of source entries without a CAS (``cas_lists/no_cas.csv``).

Speed (issue 5: >= 2,000 listings/s on 10 KB supplier texts, bench/bench_chem.py): identifiers come
from ``chemids.ids_in_text`` (one lower-casing, literal-led scans, IdMatch objects only for invalid,
listed and one-digit-variant numbers); a declared SMILES of a listed one-fragment structure is
recognised by canonical SMILES (``chemstruct.KnownSmiles``) instead of an InChI; near-miss names ask
rapidfuzz only about windows holding an unchanged piece of some name (pigeonhole, ``_pieces``); the
gate works out the seller's permits once per listing; the negation look-back reads 10 characters, not
the whole text before a name. tests/test_chem_fast.py compares each with the straightforward version.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import ahocorasick_rs
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.checks import chemstruct, qualifications
from app.checks.base import Finding, PreparedListing
from app.checks.chemids import IdMatch, ids_in_text, parse_cas_value, parse_ec_value
from app.models.decision import Evidence
from app.models.listing import normalize_attribute_key
from app.normalization import Normalizer

MANUFACTURER = ("hazchem_safety_production_permit", "industrial_product_production_permit", "business_license")
TRADER = ("hazchem_business_permit", "business_license")
SCOPE_PERMIT = {"manufacturer": "hazchem_safety_production_permit", "trading": "hazchem_business_permit"}
LABELS = {
    "hazchem_safety_production_permit": "hazardous-chemical safety production permit (危险化学品安全生产许可证)",
    "industrial_product_production_permit": "industrial product production permit (工业产品生产许可证)",
    "hazchem_business_permit": "hazardous-chemical business permit (危险化学品经营许可证)",
    "business_license": "business licence (营业执照)",
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BRACKETS = re.compile(r"\[[^\]]*\]|［[^］]*］")
# Words that may stand right before / after a Chinese name without making it part of a longer name.
CN_BEFORE = ("工业", "高纯", "分析纯", "化学纯", "优级纯", "试剂", "无水", "液体", "液态", "固体", "供应", "批发",
             "现货", "销售", "出售", "国标", "桶装", "瓶装", "工业级", "电子级", "食品级", "医药级", "厂家直销")
CN_AFTER = ("溶液", "试剂", "厂家", "价格", "供应", "现货", "批发", "工业级", "分析纯", "优级纯", "化学纯", "桶装",
            "瓶装", "原料", "生产厂家")
_EN_FREE_AFTER = re.compile(r" ?free\b|s? ?(?:ring|rings|molecule|molecules|structure|model)\b")
_EN_NEG_BEFORE = re.compile(r"(?:\bfree of|\bno|\bwithout|\bnon|\bzero) ?$")
# A match of _EN_NEG_BEFORE ending at ``s`` (or before a newline at s - 1) starts at s - 9 or later, and
# its \b there reads one character more: searching text[s - 10:s] finds exactly what text[:s] does.
_NEG_REACH = 10


def _negated_before(text: str, s: int) -> bool:
    return _EN_NEG_BEFORE.search(text, s - _NEG_REACH if s > _NEG_REACH else 0, s) is not None


def category_parts(category: str | None) -> list[str]:
    if not category:
        return []
    return [p.strip().casefold() for p in category.replace(">>", ">").split(">") if p.strip()]


@dataclass(frozen=True, slots=True)
class Listed:
    cas: str
    kind: str            # "prohibited" | "restricted"
    name: str
    lists: tuple[str, ...]


@dataclass(slots=True)
class Seen:
    """How one CAS was found in the listing."""

    listed: Listed
    evidence: list[Evidence]
    in_attribute: bool = False
    by_name_only: bool = True   # no CAS number and no structure names it


# attribute keys (compared after app.models.listing.normalize_attribute_key)
STRUCTURE_ATTRIBUTES = {
    "SMILES": ("SMILES", "Canonical SMILES", "Isomeric SMILES", "SMILES code"),
    "InChI": ("InChI", "Standard InChI"),
    "InChIKey": ("InChIKey", "Standard InChIKey", "InChI Key"),
}
MF_ATTRIBUTES = ("MF", "Molecular Formula", "Formula", "Chemical Formula", "分子式")
NOT_GIVEN = frozenset({"", "-", "--", "/", "n/a", "na", "none", "null", "nil", "unknown", "无", "暂无", "无数据"})
_CAS_KEY, _EINECS_KEY, _EC_KEY = (normalize_attribute_key(k) for k in ("CAS No.", "EINECS No.", "EC No."))
_STRUCTURE_KEYS = {kind: tuple(dict.fromkeys(normalize_attribute_key(n) for n in names))
                   for kind, names in STRUCTURE_ATTRIBUTES.items()}
_MF_KEYS = tuple(dict.fromkeys(normalize_attribute_key(n) for n in MF_ATTRIBUTES))


def _attributes(listing) -> dict[str, tuple[str, str]]:
    """Canonical attribute key -> (key as written, value), once per listing (the model guarantees one
    value per canonical key)."""
    return {normalize_attribute_key(k): (k, v) for k, v in listing.attributes.items()}


FUZZY_MIN_LEN = 8          # shorter Latin names are too close to ordinary words to guess at
FUZZY_MAX_WINDOWS = 160    # windows of 1-5 words per listing (title and keywords only)
_WORD = re.compile(r"[^\W_][^\s;:/|&+*#@!?]*")
_LATIN_NAME = re.compile(r"^[a-z0-9][a-z0-9 ,.'()\[\]+-]*$")


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _names(row: dict) -> list[str]:
    names = [row["name_cn"], row["name_en"], *row["synonyms"].split(" | ")]
    out = []
    for n in names:
        n = _BRACKETS.sub("", n or "").strip()
        if n and n not in out:
            out.append(n)
    return out


class ChemicalCheck:
    name: ClassVar[str] = "hazardous_chemical"
    families: ClassVar[tuple[str, ...]] = ()
    rule_ids: ClassVar[tuple[str, ...]] = (
        "chem.prohibited", "chem.restricted_qualified", "chem.restricted_unqualified",
        "chem.cas_attribute_missing", "chem.identity_mismatch", "chem.name_near_miss", "chem.cas_near_miss",
        "data.cas_invalid", "data.ec_invalid", "data.structure_invalid", "sexual_health.drug_ingredient")

    def __init__(self, lists_dir: Path, chemicals_category: str = "Chemicals",
                 normalizer: Normalizer | None = None, ingredient_families: tuple[str, ...] = ("e_cigarette",)):
        self.lists_dir = Path(lists_dir)
        self.ingredient_families = tuple(ingredient_families)
        self.structures = chemstruct.StructureIndex(self.lists_dir / "structures.csv")
        self._category = category_parts(chemicals_category)
        self.listed: dict[str, Listed] = {}
        norm = normalizer or Normalizer()
        names: dict[str, set[str]] = {}
        for kind in ("prohibited", "restricted"):
            for row in _read(self.lists_dir / f"{kind}.csv"):
                lists = tuple(x for x in row["lists"].split(";") if x)
                self.listed[row["cas"]] = Listed(row["cas"], kind, row["name_cn"] or row["name_en"], lists)
                for n in _names(row):
                    key = norm.term_a(n)
                    han = bool(_HAN.search(key))
                    if (han and len(key) < 2) or (not han and len(key) < 4) or not any(c.isalpha() for c in key):
                        continue  # one Han character or a short code (VX, HN1) is too ambiguous
                    names.setdefault(key, set()).add(row["cas"])
        # found by the engine's shared automaton (automaton_keys), not by a pass of our own
        self._names = {key: (key, tuple(sorted(cases)), bool(_HAN.search(key))) for key, cases in names.items()}
        self.name_count = len(names)
        # near-miss names: Latin-script names long enough to guess at, bucketed by length
        self._fuzzy: dict[int, tuple[list[str], list[tuple[str, ...]]]] = {}
        for key, cases in sorted(names.items()):
            if len(key) >= FUZZY_MIN_LEN and _LATIN_NAME.match(key) and sum(c.isalpha() for c in key) >= 6:
                names_l, cases_l = self._fuzzy.setdefault(len(key), ([], []))
                names_l.append(key)
                cases_l.append(tuple(sorted(cases)))
        self.fuzzy_name_count = sum(len(v[0]) for v in self._fuzzy.values())
        # window length -> the names a window of that length may be a near miss of (one rapidfuzz call)
        self._fuzzy_by_window: dict[int, tuple[list[str], list[tuple[str, ...]]]] = {}
        for length, (names_l, cases_l) in sorted(self._fuzzy.items()):
            b = _fuzzy_bound(length)
            for n in range(length - b, length + b + 1):
                got = self._fuzzy_by_window.setdefault(n, ([], []))
                got[0].extend(names_l)
                got[1].extend(cases_l)
        # pieces of the near-miss names (pigeonhole): a window within 1 edit of a name under 12
        # characters holds one of its 2 halves intact, within 2 edits of a longer name one of its 3
        # thirds; _near_misses asks rapidfuzz only about windows that hold some piece
        pieces = sorted({p for names_l, _ in self._fuzzy.values() for key in names_l for p in _pieces(key)})
        self._fuzzy_pieces = ahocorasick_rs.AhoCorasick(pieces) if pieces else None
        self.cas_variants = one_digit_variants(self.listed)
        # the numbers of a text worth an IdMatch: listed ones and their one-digit variants (with the
        # invalid ones, chemids.find_cas_in_text(keep=...) builds nothing for the rest)
        self._cas_keep = frozenset(self.listed) | frozenset(self.cas_variants)

    def automaton_keys(self) -> dict[str, tuple[str, tuple[str, ...], bool]]:
        """Listed names (folded like view A) -> (name, CAS numbers, is Chinese)."""
        return self._names

    # ------------------------------------------------------------------ identity
    def in_chemicals_category(self, category: str | None) -> bool:
        parts = category_parts(category)
        return bool(parts) and parts[: len(self._category)] == self._category

    def _name_hits(self, text: str, matches) -> list[tuple[int, int, str, tuple[str, ...], bool]]:
        """``matches``: ``(start, end, (key, cases, han))`` of listed names in view-A ``text``."""
        hits = []
        for s, e, (key, cases, han) in matches:
            if han:
                before = text[s - 1] if s else ""
                after = text[e] if e < len(text) else ""
                if before and _HAN.match(before) and not text.endswith(CN_BEFORE, 0, s):
                    continue
                if after and _HAN.match(after) and not text.startswith(CN_AFTER, e):
                    continue
            else:
                if (s and text[s - 1].isalnum()) or (e < len(text) and text[e].isalnum()):
                    continue
                if _EN_FREE_AFTER.match(text, e) or _negated_before(text, s):
                    continue  # "acetone-free", "no acetone", "benzene ring" (policy.md §6)
            hits.append((s, e, key, cases, han))
        # outermost: drop a hit inside a longer one ("乙醇" inside "无水乙醇" when both are names)
        hits.sort(key=lambda h: (h[0], -h[1]))
        out, last_end = [], -1
        for h in hits:
            if h[1] <= last_end:
                continue
            out.append(h)
            last_end = max(last_end, h[1])
        return out

    def run(self, item: PreparedListing) -> list[Finding]:
        listing = item.listing
        chem_cat = self.in_chemicals_category(listing.category)
        findings: list[Finding] = []
        seen: dict[str, Seen] = {}
        attr_cas: set[str] = set()
        attr_filled = False

        def invalid(rule: str, field: str, m: IdMatch) -> None:
            ev = Evidence(field=field, start=m.start, end=m.end, text=m.text, matched=m.canonical or m.text,
                          method="rule")
            findings.append(Finding(rule, (ev,), tuple(sorted({"value": m.text, "problem": m.problem}.items()))))

        near: dict[str, list[Evidence]] = {}

        def note(cas: str, ev: Evidence, in_attr: bool = False, strong: bool = True) -> None:
            listed = self.listed.get(cas)
            if listed is None:
                if cas in self.cas_variants:
                    near.setdefault(cas, []).append(ev)
                return
            s = seen.setdefault(cas, Seen(listed, []))
            s.evidence.append(ev)
            s.in_attribute |= in_attr
            s.by_name_only &= not strong

        attrs = _attributes(listing)
        cas_attr = attrs.get(_CAS_KEY)
        ec_attr = attrs.get(_EINECS_KEY) or attrs.get(_EC_KEY)
        skip = set()
        if cas_attr is not None:
            key, value = cas_attr
            field = f"attributes.{key}"
            skip.add(field)
            for m in parse_cas_value(value):
                attr_filled = True
                if m.problem:
                    invalid("data.cas_invalid", field, m)
                    continue
                attr_cas.add(m.canonical)
                note(m.canonical, Evidence(field=field, start=m.start, end=m.end, text=m.text,
                                           matched=m.canonical, method="list",
                                           source=f"cas_lists:{m.canonical}"), True)
        if ec_attr is not None:
            key, value = ec_attr
            field = f"attributes.{key}"
            skip.add(field)
            for m in parse_ec_value(value):
                if m.problem:
                    invalid("data.ec_invalid", field, m)
        # declared structures: (field, start, end, Parsed)
        structures: list[tuple[str, int, int, chemstruct.Parsed]] = []
        for kind, names in _STRUCTURE_KEYS.items():
            for name in names:
                got = attrs.get(name)
                if got is None:
                    continue
                key, value = got
                field = f"attributes.{key}"
                if field in skip:
                    continue
                skip.add(field)
                stripped = value.strip()
                if stripped.casefold() in NOT_GIVEN:
                    continue
                a = value.index(stripped)
                structures.append((field, a, a + len(stripped), self.structures.parse(kind, stripped)))

        by_field: dict[int, list] = {}
        for fi, s, e, value in item.family(self.name).external:
            by_field.setdefault(fi, []).append((s, e, value))
        for fi, ft in enumerate(item.fields):
            if not ft.scan or ft.name in skip or ft.name.startswith("attribute_key."):
                continue
            original = ft.norm.original
            cas_found, ec_found = ids_in_text(original, chem_cat, self._cas_keep)
            for m in cas_found:   # invalid, listed or a one-digit variant of a listed CAS
                if m.problem:
                    invalid("data.cas_invalid", ft.name, m)
                else:
                    note(m.canonical, Evidence(field=ft.name, start=m.start, end=m.end, text=m.text,
                                               matched=m.canonical, method="list",
                                               source=f"cas_lists:{m.canonical}"))
            for m in ec_found:
                if m.problem:
                    invalid("data.ec_invalid", ft.name, m)
            if "InChI=" in original:
                for m in chemstruct.INCHI_IN_TEXT.finditer(original):
                    structures.append((ft.name, m.start(), m.end(), chemstruct.parse_inchi(m.group(0))))
            if chemstruct.INCHIKEY_GATE.search(original):
                for m in chemstruct.INCHIKEY_IN_TEXT.finditer(original):
                    structures.append((ft.name, m.start(), m.end(), chemstruct.parse_inchikey(m.group(0))))
            if "smiles" in ft.norm.text:
                for lab in chemstruct.SMILES_LABEL.finditer(original):
                    m = chemstruct.SMILES_TOKEN.match(original, lab.end())
                    if m is None:
                        continue
                    p = self.structures.parse("SMILES", m.group(0))
                    if p.problem is None:  # free text after a label may be anything: only a parse counts
                        structures.append((ft.name, m.start(), m.end(), p))
            text = ft.norm.text
            for s, e, key, cases, han in self._name_hits(text, sorted(by_field.get(fi, ()))):
                a, b = ft.norm.span_a(s, e)
                if not han and not _latin_boundary(original, a, b):
                    continue  # part of a longer systematic name: "4-(...)piperidine-1-carboxylate"
                span = original[a:b]
                method = "exact" if span == key else "normalized"
                for cas in cases:
                    note(cas, Evidence(field=ft.name, start=a, end=b, text=span, matched=key, method=method,
                                       source=f"cas_lists:{cas}"), strong=False)

        for cas, evs in sorted(near.items()):
            orig = self.listed[self.cas_variants[cas]]
            findings.append(Finding("chem.cas_near_miss", tuple(evs), tuple(sorted({
                "value": cas, "near": orig.cas, "name": orig.name, "list": list(orig.lists)}.items())), review=True))
        if structures:
            self._structures(structures, attr_cas, note, findings)
        mf = self._declared_formula(attrs)
        if mf is not None:
            self._formula_mismatch(mf, attr_cas, cas_attr, structures, findings)
        if self._fuzzy and (len(seen) < len(self.listed)):
            self._near_misses(item, seen, findings)
        if seen and not chem_cat and self._claimed_by_other_family(item):
            for cas in [c for c, x in seen.items() if x.by_name_only]:
                del seen[cas]  # an ingredient of an e-cigarette product (module docstring)

        if not seen:
            return findings
        as_of = qualifications.check_date(listing.as_of)
        memo: dict = {}
        text_only = []
        for cas in sorted(seen):
            s = seen[cas]
            lst = s.listed
            ev = tuple(s.evidence)
            if not attr_filled:
                text_only.extend(ev)
            if lst.kind == "prohibited":
                findings.append(Finding("chem.prohibited", ev, tuple(sorted(
                    {"cas": cas, "list": list(lst.lists), "name": lst.name}.items()))))
                continue
            missing = self.gate(listing, cas, chem_cat, attr_filled, cas in attr_cas, as_of, memo)
            detail = {"cas": cas, "list": list(lst.lists), "name": lst.name}
            if missing:
                detail["missing"] = missing
                findings.append(Finding("chem.restricted_unqualified", ev, tuple(sorted(detail.items()))))
            else:
                findings.append(Finding("chem.restricted_qualified", ev, tuple(sorted(detail.items()))))
        if text_only:
            findings.append(Finding("chem.cas_attribute_missing", tuple(text_only),
                                    (("cas", sorted(c for c in seen)),)))
        return findings

    # ------------------------------------------------------------------ structures, formulas, fuzzy
    def _structures(self, structures, attr_cas: set[str], note, findings: list[Finding]) -> None:
        for field, a, b, p in structures:
            if p.problem:
                ev = Evidence(field=field, start=a, end=b, text=p.text, matched=p.kind, method="rule")
                findings.append(Finding("data.structure_invalid", (ev,), tuple(sorted(
                    {"field": field, "kind": p.kind, "value": _short(p.text), "problem": p.problem}.items()))))
                continue
            entries = self.structures.lookup(p.keys, p.parents)
            for e in entries:
                ev = Evidence(field=field, start=a, end=b, text=p.text, matched=e.cas or e.name,
                              method="structure", source=f"cas_lists/structures.csv:{e.cas or e.name}")
                if e.kind == "sexual_health":
                    findings.append(Finding("sexual_health.drug_ingredient", (ev,), tuple(sorted(
                        {"ingredient": e.name, "group": e.group, "cas": e.cas or "(none)"}.items()))))
                else:
                    note(e.cas, ev)
            # the declared CAS against the declared structure
            if not attr_cas:
                continue
            problems = []
            if not any(e.cas in attr_cas for e in entries):
                listed_other = sorted({e.cas for e in entries if e.cas and e.kind != "sexual_health"})
                declared = ", ".join(sorted(attr_cas))
                known = frozenset().union(*(self.structures.keys_of(c) for c in attr_cas))
                if listed_other:
                    problems.append(f"the {p.kind} is the listed substance {', '.join(listed_other)}, "
                                    f"not CAS {declared}")
                elif known and not (known & (p.keys | p.parents)):
                    problems.append(f"the {p.kind} is not the structure of CAS {declared}")
            if problems:
                ev = Evidence(field=field, start=a, end=b, text=p.text, matched=p.kind, method="structure")
                findings.append(Finding("chem.identity_mismatch", (ev,), (("mismatch", problems),), review=True))

    @staticmethod
    def _declared_formula(attrs: dict):
        for name in _MF_KEYS:
            got = attrs.get(name)
            if got is None:
                continue
            key, value = got
            counts = chemstruct.declared_formulas(value)
            if not counts:
                return None  # free text ("see COA"), not a formula: nothing to compare
            stripped = value.strip()
            a = value.index(stripped)
            return f"attributes.{key}", a, a + len(stripped), stripped, counts
        return None

    def _formula_mismatch(self, mf, attr_cas: set[str], cas_attr, structures, findings: list[Finding]) -> None:
        field, a, b, text, counts = mf
        problems, evs = [], []
        for cas in sorted(attr_cas):
            want = self.structures.formula_of(cas)
            if want and want not in counts:
                problems.append(f"MF {text} is not the formula of CAS {cas} ({chemstruct.formula_text(want)})")
                key, value = cas_attr
                v = value.strip()
                if v:
                    evs.append(Evidence(field=f"attributes.{key}", start=value.index(v), end=value.index(v) + len(v),
                                        text=v, matched=cas, method="list", source=f"cas_lists/structures.csv:{cas}"))
        for sfield, sa, sb, p in structures:
            if p.formula and p.formula not in counts:
                problems.append(f"MF {text} is not the formula of the declared {p.kind} "
                                f"({chemstruct.formula_text(p.formula)})")
                evs.append(Evidence(field=sfield, start=sa, end=sb, text=p.text, matched=p.kind,
                                    method="structure"))
        if not problems:
            return
        evs.insert(0, Evidence(field=field, start=a, end=b, text=text,
                               matched=chemstruct.formula_text(chemstruct.formula_counts(text)), method="rule"))
        findings.append(Finding("chem.identity_mismatch", tuple(evs), (("mismatch", problems),), review=True))

    def _near_misses(self, item: PreparedListing, seen: dict, findings: list[Finding]) -> None:
        """Near misses of listed Latin-script names in the title and keywords (module docstring)."""
        if self._fuzzy_pieces is None:
            return
        fields = []
        for ft in item.fields:
            if not ft.fuzzy:
                continue
            text = ft.norm.text
            if text.isascii() is False and not any(c.isascii() and c.isalpha() for c in text):
                continue
            fields.append((ft, text, self._fuzzy_pieces.find_matches_as_indexes(text, overlapping=True)))
        # a field holding no piece has no near miss; it only counts towards FUZZY_MAX_WINDOWS, which
        # matters only when a later field holds pieces
        while fields and not fields[-1][2]:
            fields.pop()
        windows = 0
        hits: dict[str, tuple] = {}
        for ft, text, pieces in fields:
            words = list(_WORD.finditer(text))
            for i in range(len(words)):
                ws = words[i].start()
                # the first end of a piece starting in the window: none up to its end -> no near miss
                reach = min((pe for _, ps, pe in pieces if ps >= ws), default=len(text) + 1)
                for j in range(i, min(i + 5, len(words))):
                    s, e = ws, words[j].end()
                    n = e - s
                    if n < FUZZY_MIN_LEN - 1:
                        continue
                    if n > FUZZY_MIN_LEN + 80:
                        break
                    windows += 1
                    if windows > FUZZY_MAX_WINDOWS:
                        break
                    if reach > e:
                        continue
                    w = text[s:e]
                    if w in self._names:
                        continue  # itself a listed name (found exactly, or rejected by the exact rules)
                    bucket = self._fuzzy_by_window.get(n)
                    if bucket is None:
                        continue
                    got = process.extractOne(w, bucket[0], scorer=Levenshtein.distance, score_cutoff=2)
                    if got is None or got[1] == 0:
                        continue
                    name, dist, idx = got
                    if dist > _fuzzy_bound(len(name)) or not _misspelling(w, name):
                        continue
                    cases = bucket[1][idx]
                    if any(c in seen for c in cases) or name in hits:
                        continue
                    if _EN_FREE_AFTER.match(text, e) or _negated_before(text, s):
                        continue
                    a, b = ft.norm.span_a(s, e)
                    original = ft.norm.original
                    if not _latin_boundary(original, a, b):
                        continue
                    hits[name] = (ft.name, a, b, original[a:b], name, dist, cases)
        for name, (field, a, b, span, _n, dist, cases) in sorted(hits.items()):
            listed = [self.listed[c] for c in cases]
            ev = Evidence(field=field, start=a, end=b, text=span, matched=name, method="fuzzy",
                          source=f"cas_lists:{cases[0]}")
            findings.append(Finding("chem.name_near_miss", (ev,), tuple(sorted({
                "name": name, "cas": list(cases), "distance": dist,
                "list": sorted({x for lst in listed for x in lst.lists})}.items())), review=True))

    def _claimed_by_other_family(self, item: PreparedListing) -> bool:
        return any(item.family(f).fired for f in self.ingredient_families)

    # ------------------------------------------------------------------ the gate (§3.4)
    def gate(self, listing, cas: str, chem_cat: bool, attr_filled: bool, in_attr: bool,
             as_of: dt.date, memo: dict | None = None) -> list[str]:
        """Each missing element, in words; empty = publishable with restrictions. ``memo``: a dict kept
        across the calls for one listing (what does not depend on the CAS is worked out once)."""
        if memo is None:
            memo = {}
        missing: list[str] = []
        seller = listing.seller
        if seller is None or seller.country != "CN":
            got = "no seller" if seller is None else f"seller country {seller.country or 'not given'}"
            missing.append(f"a mainland-China (CN) seller account ({got})")
        quals = seller.qualifications if seller is not None else []
        if seller is not None and seller.business_type in SCOPE_PERMIT:
            kinds = [seller.business_type]
        else:  # business_type missing: either complete set is accepted (policy.md §6)
            kinds = ["manufacturer", "trading"]
        best: list[str] | None = None
        for kind in kinds:
            miss = memo.get(kind)
            if miss is None:
                need = MANUFACTURER if kind == "manufacturer" else TRADER
                miss = memo[kind] = [m for t in need if (m := self._qualification_problem(quals, t, as_of))]
            miss = list(miss)
            if not miss:
                permit = SCOPE_PERMIT[kind]
                scopes = memo.setdefault("scopes", {})   # id(qualification) -> the CAS numbers it covers

                def covers(q) -> bool:
                    got = scopes.get(id(q))
                    if got is None:
                        got = scopes[id(q)] = _scope(q.scope)
                    return cas in got

                got = qualifications.find(quals, permit, as_of, LABELS[permit],
                                          scope=covers, scope_label=f"CAS {cas}")
                if not got.ok:
                    miss.append(got.problem)
            if best is None or len(miss) < len(best):
                best = miss
            if not miss:
                break
        missing.extend(best or [])
        if not chem_cat:
            where = f"'{listing.category}'" if listing.category else "no category"
            missing.append(f"a chemicals category (the listing is in {where})")
        if not attr_filled:
            missing.append("the CAS No. attribute")
        elif not in_attr:
            missing.append(f"the CAS No. attribute giving {cas}")
        return missing

    @staticmethod
    def _qualification_problem(quals, qtype: str, as_of: dt.date) -> str | None:
        return qualifications.find(quals, qtype, as_of, LABELS[qtype]).problem


_GLUE_BEFORE = frozenset("-)]},'‐‑–−")
_GLUE_AFTER = frozenset("-([{'‐‑–−")


def _latin_boundary(original: str, a: int, b: int) -> bool:
    """A Latin-script name stands alone in what the seller wrote: not glued to a letter, digit,
    hyphen or bracket (which would make it a fragment of a systematic name or a locant)."""
    before = original[a - 1] if a else " "
    after = original[b] if b < len(original) else " "
    return not (before.isalnum() or before in _GLUE_BEFORE or after.isalnum() or after in _GLUE_AFTER)


def _fuzzy_bound(length: int) -> int:
    """Edits allowed for a near miss of a name of this length."""
    return 1 if length < 12 else 2


def _pieces(name: str) -> list[str]:
    """``name`` cut into as many nearly equal parts as the edits it allows plus one (see
    _fuzzy_bound): a string within that many edits of ``name`` contains one of them unchanged."""
    parts = _fuzzy_bound(len(name)) + 1
    q, r = divmod(len(name), parts)
    out, at = [], 0
    for k in range(parts):
        size = q + (1 if k < r else 0)
        out.append(name[at:at + size])
        at += size
    return out


def _misspelling(window: str, name: str) -> bool:
    """A near miss counts when the edits fall inside words of at least 4 letters (a misspelt word:
    "pseudoephedrin"), or only join / split words ("thionylchloride"); not when a short word or
    locant differs ("a mustard" is not "o mustard")."""
    ws, ns = window.split(), name.split()
    if len(ws) != len(ns):
        return "".join(ws) == "".join(ns)
    return all(a == b or (len(b) >= 4 and len(a) >= 4) for a, b in zip(ws, ns))


def one_digit_variants(listed: dict) -> dict[str, str]:
    """Valid CAS numbers that are not listed but differ from a listed CAS in one digit of its body ->
    that listed CAS. The CAS check digit (weights 1..9, mod 10) misses a change of ``d`` at weight ``w``
    when ``w * d`` is a multiple of 10 (a 2/4/6/8 swap at weight 5, a 5 swap at an even weight), so such
    a typo would otherwise pass as an unlisted substance."""
    out: dict[str, str] = {}
    silent = {w: [d for d in range(-9, 10) if d and (w * d) % 10 == 0] for w in range(1, 10)}
    for cas in sorted(listed):
        a, b, c = cas.split("-")
        body = a + b
        n = len(body)
        for i, old in enumerate(body):
            for delta in silent[n - i]:
                new = int(old) + delta
                if not 0 <= new <= 9 or (i == 0 and new == 0):
                    continue
                v = body[:i] + str(new) + body[i + 1:]
                variant = f"{v[:-2]}-{v[-2:]}-{c}"
                if variant not in listed:
                    out.setdefault(variant, cas)
    return out


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SCOPE_SPLIT = re.compile(r"[\s,;/、，；]+")
_DASH = re.compile(r"\s*[\-\u2010-\u2015\u2212\uff0d]\s*")


def _scope(scope: list[str]) -> set[str]:
    out = set()
    for s in scope:
        for part in _SCOPE_SPLIT.split(_DASH.sub("-", s)):
            if part:
                out.add(part)
    return out
