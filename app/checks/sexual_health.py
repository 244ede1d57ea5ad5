"""Sexual-health drugs and enhancement claims (policy.md §3.3), driven by the signals of
``lexicons/sexual_health.yaml`` and its ingredient table ``lexicons/data/pde5_ingredients.csv``.

* a drug ingredient (name in any language, INN variant, Chinese name, misspelling), a brand, the CAS
  number of a listed substance (in the ``CAS No.`` attribute, or labelled in the text; unlabelled only in
  a chemicals category) or its InChIKey -> ``sexual_health.drug_ingredient`` (block, A 6), whether the
  listing labels it as an ingredient or not; ``detail.ingredients`` names the substances;
* a book, news item or novelty good (signal ``publication``) that names a drug or brand without stating a
  dose -> ``sexual_health.review`` only (policy.md §3.3: "Viagra" in a book title is no product claim);
* an enhancement claim (signal ``claim``) on an absorbable product (signal ``absorbable``: capsule,
  tablet, candy, coffee, honey, drink, spray, cream ..., or a dose) -> ``sexual_health.enhancement_claim``
  (block, B 2); a claim on anything else (a pump, a condom, a perfume) -> review;
* grey wording, fuzzy near misses of the drug names, and an unlabelled number equal to a listed CAS
  outside a chemicals category -> ``sexual_health.review``.

Condoms, plain lubricants, pregnancy tests and vitamins name none of these signals, so they pass.
This check never calls the chemical check: it reads CAS numbers with the shared helpers of
``app/checks/chemids.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from app.checks.base import Finding, PreparedListing
from app.checks.chemids import find_cas_in_text, parse_cas_value
from app.matching.lexicon import read_table
from app.models.decision import Evidence

FAMILY = "sexual_health_drug"
_INCHIKEY = re.compile(r"(?<![A-Z])([A-Z]{14})-([A-Z]{10})-([A-Z])(?![A-Z])")
# policy.md §6: "X-free" describes a product that is not X ("sildenafil-free", "无西地那非"); a plain
# negation ("no sildenafil", "not Viagra") never cancels a hit.
_FREE_AFTER = re.compile(r"[ \t]?[-‐‑]?[ \t]?free\b", re.IGNORECASE)
_FREE_BEFORE = re.compile(r"(?:\bfree[ \t]+of|不含|无)[ \t]?$", re.IGNORECASE)


def inchikeys(text: str) -> list[re.Match]:
    """What ``_INCHIKEY.finditer(text)`` finds, without running the regex at every position: a key's
    first block is followed by "-" 14 characters in, so the regex is tried only there (at most the
    few dashes of a text), after a capital letter, and never inside a key already found."""
    out = []
    i = text.find("-", 14)
    while i != -1:
        if "A" <= text[i - 1] <= "Z":
            m = _INCHIKEY.match(text, i - 14)
            if m is not None:
                out.append(m)
                i = text.find("-", m.end() + 14)
                continue
        i = text.find("-", i + 1)
    return out


def _x_free(hit) -> bool:
    """``hit`` is written "<name>-free" / "free of <name>" / "无<name>" (read in view A: zero-width
    characters, look-alikes and full-width forms do not hide the "free")."""
    text = hit.ft.norm.text
    return bool(_FREE_AFTER.match(text, hit.a_e) or _FREE_BEFORE.search(text, 0, hit.a_s))


def category_parts(category: str | None) -> list[str]:
    if not category:
        return []
    return [p.strip().casefold() for p in category.replace(">>", ">").split(">") if p.strip()]


class SexualHealthCheck:
    name: ClassVar[str] = FAMILY
    families: ClassVar[tuple[str, ...]] = (FAMILY,)
    rule_ids: ClassVar[tuple[str, ...]] = (
        "sexual_health.drug_ingredient", "sexual_health.enhancement_claim", "sexual_health.review")

    def __init__(self, table: Path, normalizer, bare_cas_categories: list[str] = ()):
        rows = read_table(table)
        self.by_cas: dict[str, str] = {}
        self.by_inchikey: dict[str, str] = {}
        self.by_skeleton: dict[str, str] = {}   # first InChIKey block (connectivity) -> name
        self.by_name: dict[str, str] = {}       # folded name / synonym / brand -> substance name
        for row in rows:
            name = row["name_en"].strip()
            if row.get("cas", "").strip():
                self.by_cas[row["cas"].strip()] = name
            key = (row.get("inchikey") or "").strip()
            if key:
                self.by_inchikey[key] = name
                self.by_skeleton.setdefault(key.split("-")[0], name)
            for col in ("name_en", "synonyms", "other_names", "brands"):
                for form in (row.get(col) or "").split(";"):
                    if form.strip():
                        self.by_name.setdefault(normalizer.term_a(form.strip()), name)
        self.normalizer = normalizer
        self.bare_categories = [category_parts(c) for c in bare_cas_categories]

    def automaton_keys(self) -> dict[str, str]:
        """The listed CAS numbers as view-A keys ("139755-83-2" folds to "139755 83 2"), so that the
        shared automaton pass says which fields may hold one: CAS parsing runs only there."""
        return {self.normalizer.term_a(cas): cas for cas in self.by_cas}

    def _bare_ok(self, category: str | None) -> bool:
        parts = category_parts(category)
        return any(parts[: len(c)] == c for c in self.bare_categories if c)

    def _identifiers(self, item: PreparedListing) -> tuple[list[Evidence], list[Evidence], set[str]]:
        """``(decisive evidence, review evidence, substance names)`` from CAS numbers and InChIKeys."""
        listing = item.listing
        sure: list[Evidence] = []
        unsure: list[Evidence] = []
        names: set[str] = set()
        skip = set()
        attr = listing.attribute("CAS No.") if listing.attributes else None
        if attr is not None:
            key, value = attr
            field = f"attributes.{key}"
            skip.add(field)
            for m in parse_cas_value(value):
                if m.problem is None and m.canonical in self.by_cas:
                    names.add(self.by_cas[m.canonical])
                    sure.append(Evidence(field=field, start=m.start, end=m.end, text=m.text, matched=m.canonical,
                                         method="list", source=f"pde5_ingredients:{m.canonical}"))
        bare_ok = None  # worked out at the first unlabelled CAS number
        cas_fields = {fi for fi, _s, _e, _v in item.family(FAMILY).external}
        for fi, ft in enumerate(item.fields):
            if not ft.scan or ft.name in skip or ft.name.startswith("attribute_key."):
                continue
            original = ft.norm.original
            for m in (find_cas_in_text(original, bare=True) if fi in cas_fields else ()):
                if m.problem is None and m.canonical in self.by_cas:
                    ev = Evidence(field=ft.name, start=m.start, end=m.end, text=m.text, matched=m.canonical,
                                  method="list", source=f"pde5_ingredients:{m.canonical}")
                    if not m.labelled and bare_ok is None:
                        bare_ok = self._bare_ok(listing.category)
                    if m.labelled or bare_ok:
                        names.add(self.by_cas[m.canonical])
                        sure.append(ev)
                    else:
                        unsure.append(ev)
            if "-" in original:
                for m in inchikeys(original):
                    full = m.group(0)
                    name = self.by_inchikey.get(full) or self.by_skeleton.get(m.group(1))
                    if name:
                        names.add(name)
                        sure.append(Evidence(field=ft.name, start=m.start(), end=m.end(), text=full, matched=full,
                                             method="structure", source=f"pde5_ingredients:{name}"))
        return sure, unsure, names

    def run(self, item: PreparedListing) -> list[Finding]:
        fam = item.family(FAMILY)
        findings: list[Finding] = []
        drug_hits = [h for h in fam.hits("drug", "brand") if not _x_free(h)]
        id_sure, id_unsure, id_names = self._identifiers(item)
        product = fam.has("absorbable", "dose")
        if drug_hits or id_sure:
            names = sorted(id_names | {self.by_name.get(self.normalizer.term_a(h.matched), h.matched)
                                       for h in drug_hits})
            detail = {"ingredients": names}
            if drug_hits and not id_sure and fam.has("publication") and not fam.has("dose"):
                # a book, news item or novelty good that names the drug: no product claim (review)
                findings.append(Finding.of("sexual_health.review", drug_hits + fam.hits("publication"),
                                           {**detail, "kinds": ["publication"]}))
            else:
                f = Finding.of("sexual_health.drug_ingredient", drug_hits, detail)
                findings.append(Finding(f.rule_id, f.evidence + tuple(id_sure), f.detail))
        claims = fam.hits("claim")
        if claims:
            if product:
                findings.append(Finding.of("sexual_health.enhancement_claim",
                                           claims + fam.hits("absorbable", "dose"), {"kinds": ["claim"]}))
            elif not findings:
                findings.append(Finding.of("sexual_health.review", claims, {"kinds": ["claim_not_absorbable"]}))
        if not findings and (fam.grey or id_unsure):
            f = Finding.of("sexual_health.review", fam.grey, {"kinds": ["grey"]})
            findings.append(Finding(f.rule_id, f.evidence + tuple(id_unsure), f.detail, review=True))
        return findings
