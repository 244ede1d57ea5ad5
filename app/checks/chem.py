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

Not in this pass: salts/hydrates/structures (SMILES, InChI), fuzzy names, MF comparison
(``chem.identity_mismatch``), names of source entries without a CAS (``cas_lists/no_cas.csv``).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


from app.checks.base import Finding, PreparedListing
from app.checks.chemids import (IdMatch, find_cas_in_text, find_ec_in_text, parse_cas_value,
                                parse_ec_value)
from app.models.decision import Evidence
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
        "chem.cas_attribute_missing", "data.cas_invalid", "data.ec_invalid")

    def __init__(self, lists_dir: Path, chemicals_category: str = "Chemicals",
                 normalizer: Normalizer | None = None):
        self.lists_dir = Path(lists_dir)
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

    def automaton_keys(self) -> dict[str, tuple[str, tuple[str, ...], bool]]:
        """Listed names (folded like view A) -> (name, CAS numbers, is Chinese)."""
        return self._names

    # ------------------------------------------------------------------ identity
    def in_chemicals_category(self, category: str | None) -> bool:
        parts = category_parts(category)
        return bool(parts) and parts[: len(self._category)] == self._category

    def _name_hits(self, text: str, matches) -> list[tuple[int, int, str, tuple[str, ...]]]:
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
                if _EN_FREE_AFTER.match(text, e) or _EN_NEG_BEFORE.search(text, 0, s):
                    continue  # "acetone-free", "no acetone", "benzene ring" (policy.md §6)
            hits.append((s, e, key, cases))
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

        def note(cas: str, ev: Evidence, in_attr: bool = False) -> None:
            listed = self.listed.get(cas)
            if listed is None:
                return
            s = seen.setdefault(cas, Seen(listed, []))
            s.evidence.append(ev)
            s.in_attribute |= in_attr

        cas_attr = listing.attribute("CAS No.")
        ec_attr = listing.attribute("EINECS No.") or listing.attribute("EC No.")
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

        by_field: dict[int, list] = {}
        for fi, s, e, value in item.family(self.name).external:
            by_field.setdefault(fi, []).append((s, e, value))
        for fi, ft in enumerate(item.fields):
            if not ft.scan or ft.name in skip or ft.name.startswith("attribute_key."):
                continue
            original = ft.norm.original
            for m in find_cas_in_text(original, chem_cat):
                if m.problem:
                    invalid("data.cas_invalid", ft.name, m)
                else:
                    note(m.canonical, Evidence(field=ft.name, start=m.start, end=m.end, text=m.text,
                                               matched=m.canonical, method="list",
                                               source=f"cas_lists:{m.canonical}"))
            for m in find_ec_in_text(original):
                if m.problem:
                    invalid("data.ec_invalid", ft.name, m)
            text = ft.norm.text
            for s, e, key, cases in self._name_hits(text, sorted(by_field.get(fi, ()))):
                a, b = ft.norm.span_a(s, e)
                if not _HAN.search(key) and not _latin_boundary(original, a, b):
                    continue  # part of a longer systematic name: "4-(...)piperidine-1-carboxylate"
                span = original[a:b]
                method = "exact" if span == key else "normalized"
                for cas in cases:
                    note(cas, Evidence(field=ft.name, start=a, end=b, text=span, matched=key, method=method,
                                       source=f"cas_lists:{cas}"))

        if not seen:
            return findings
        as_of = listing.as_of or dt.datetime.now(dt.timezone.utc).date()
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
            missing = self.gate(listing, cas, chem_cat, attr_filled, cas in attr_cas, as_of)
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

    # ------------------------------------------------------------------ the gate (§3.4)
    def gate(self, listing, cas: str, chem_cat: bool, attr_filled: bool, in_attr: bool,
             as_of: dt.date) -> list[str]:
        """Each missing element, in words; empty = publishable with restrictions."""
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
            need = MANUFACTURER if kind == "manufacturer" else TRADER
            miss = [m for t in need if (m := self._qualification_problem(quals, t, as_of))]
            if not miss:
                permit = SCOPE_PERMIT[kind]
                if not any(cas in _scope(q.scope) for q in quals
                           if q.type == permit and q.owned and _in_date(q, as_of)):
                    miss.append(f"{LABELS[permit]} whose scope covers CAS {cas}")
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
        label = LABELS[qtype]
        of_type = [q for q in quals if q.type == qtype]
        if not of_type:
            return label
        owned = [q for q in of_type if q.owned]
        if not owned:
            return f"{label} held in the seller's own name (authorised use is not accepted)"
        if not any(_in_date(q, as_of) for q in owned):
            last = max(q.valid_until for q in owned)
            return f"{label} that is in date (expired {last.isoformat()})"
        return None


_GLUE_BEFORE = frozenset("-)]},'‐‑–−")
_GLUE_AFTER = frozenset("-([{'‐‑–−")


def _latin_boundary(original: str, a: int, b: int) -> bool:
    """A Latin-script name stands alone in what the seller wrote: not glued to a letter, digit,
    hyphen or bracket (which would make it a fragment of a systematic name or a locant)."""
    before = original[a - 1] if a else " "
    after = original[b] if b < len(original) else " "
    return not (before.isalnum() or before in _GLUE_BEFORE or after.isalnum() or after in _GLUE_AFTER)


def _in_date(q, as_of: dt.date) -> bool:
    return q.valid_until is None or q.valid_until >= as_of


_SCOPE_SPLIT = re.compile(r"[\s,;/、，；]+")
_DASH = re.compile(r"\s*[\-\u2010-\u2015\u2212\uff0d]\s*")


def _scope(scope: list[str]) -> set[str]:
    out = set()
    for s in scope:
        for part in _SCOPE_SPLIT.split(_DASH.sub("-", s)):
            if part:
                out.add(part)
    return out
