"""Medical devices: destination-country qualifications (policy.md §3.5, §3.8).

Recognition -- a listing is a medical device when any of these says so:
  * its category has a medical-device part (``settings.device_categories`` of the lexicon);
  * a declared attribute: device class, FDA product code, NMPA registration / filing number, FDA
    clearance or establishment number, notified body (keys in the lexicon's ``settings``);
  * an NMPA-shaped number anywhere in the text;
  * the text names a device (``lexicons/medical_device.yaml``: signal ``class3`` or ``device``).

Class -- the highest of: the declared class (``Device Class``); the class digit of every NMPA number
of the listing and of the seller's NMPA qualifications that apply to it (械备 filings are class I);
the FDA class of each declared product code (``devices/fda_product_codes.csv``). Only when none of
that gives a class ("text-only") does a class III name in the text make the device class III; a
declared class below III next to a class III name asks for review.

Qualifications (``app/checks/qualifications.py``: own name, in date on ``as_of``, scope covers the
listing, number well formed). A qualification applies to the listing when its scope is empty or an
entry of it is a declared product code, a phrase of the title/keywords, or a declared identifier.
  * China: an ``nmpa_registration`` whose number parses, is of the current format and whose class is
    not below the device's class (a class I filing does not qualify a class III device);
  * US: an ``fda_clearance`` (K / DEN / P / N / H number) AND an ``fda_establishment_registration``
    (7 or 10 digits) current on ``as_of`` -- it expires on 31 December of the year of its
    ``valid_until`` (the registration year), and without a ``valid_until`` its year is unknown;
  * EU/EEA: a ``ce_certificate``; for classes above I with a four-digit ``notified_body``.

Findings:
  * class III: China + US -> nothing; China only -> ``meddev.class3_no_us`` (region_mask US, from
    2022-01-15) and ``meddev.class3_no_us_warning`` (before; the policy's dates decide which is in
    force); US only -> ``meddev.class3_us_only`` (allow + review); neither ->
    ``meddev.class3_no_qualification`` (block); ``detail.missing`` says what is missing and why;
  * any class without a qualifying CE certificate -> ``meddev.no_ce_eea`` (the EEA codes; the
    policy drops it when no destination is in the EEA);
  * every malformed or self-contradicting identifier (attribute, text, or an applicable
    qualification's number) -> ``data.device_identifier_invalid`` with ``value`` and ``problem``;
    it counts as missing for the rules above;
  * a product code in the right shape that the shipped FDA file lacks (codes created after 2020) ->
    ``meddev.product_code_unknown`` (review: its class cannot be read);
  * grey wording (a stent of unstated kind) or a declared class below a class III name ->
    ``meddev.review``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from app.checks import qualifications as quals_mod
from app.checks.base import Finding, PreparedListing, evidence_of, outermost_hits
from app.checks.meddev_ids import (DeviceId, clean, establishment_expiry, find_nmpa_in_text, parse_device_class,
                                   parse_establishment, parse_fda_number, parse_nmpa, parse_notified_body,
                                   parse_product_code)
from app.models.decision import Evidence
from app.models.listing import normalize_attribute_key

FAMILY = "medical_device"
CLASS_NAMES = {1: "I", 2: "II", 3: "III"}
_SPLIT = re.compile(r"[^,;，；、\n]+")
LABELS = {
    "nmpa_registration": "an NMPA registration certificate (China)",
    "fda_clearance": "an FDA clearance or approval number (510(k) K…, De Novo DEN…, PMA P…)",
    "fda_establishment_registration": "a current FDA establishment registration",
    "ce_certificate": "a CE certificate (EU/EEA)",
}


@dataclass(slots=True)
class Facts:
    """What the listing and the seller declare about the device."""

    is_device: bool = False
    classes: list[tuple[int, str, list[Evidence]]] = field(default_factory=list)  # (class, why, evidence)
    evidence: list[Evidence] = field(default_factory=list)   # what makes it a device
    invalid: list[tuple[str, DeviceId]] = field(default_factory=list)  # (field, identifier)
    codes: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)      # canonical numbers declared in the listing
    unknown_codes: list[tuple[str, DeviceId]] = field(default_factory=list)


def _load_codes(path: Path) -> dict[str, tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["product_code"]: (r["device_name"], r["device_class"]) for r in csv.DictReader(fh)}


def _keys(settings: dict, name: str) -> frozenset[str]:
    return frozenset(normalize_attribute_key(k) for k in settings.get(name, ()))


class MedicalDeviceCheck:
    name: ClassVar[str] = FAMILY
    families: ClassVar[tuple[str, ...]] = (FAMILY,)
    rule_ids: ClassVar[tuple[str, ...]] = (
        "meddev.class3_no_us", "meddev.class3_no_us_warning", "meddev.class3_no_qualification",
        "meddev.class3_us_only", "meddev.no_ce_eea", "meddev.review", "meddev.product_code_unknown",
        "data.device_identifier_invalid")

    def __init__(self, devices_file: Path, settings: dict):
        self.devices_file = Path(devices_file)
        self.codes = _load_codes(self.devices_file)
        self.categories = tuple(c.casefold() for c in settings.get("device_categories", ()))
        self.attr_kinds: dict[str, str] = {}
        for kind, key in (("class", "class_keys"), ("code", "product_code_keys"), ("nmpa", "nmpa_keys"),
                          ("fda", "fda_number_keys"), ("establishment", "establishment_keys"),
                          ("notified_body", "notified_body_keys")):
            for k in _keys(settings, key):
                self.attr_kinds[k] = kind

    # ------------------------------------------------------------------ recognition
    def in_device_category(self, category: str | None) -> bool:
        if not category:
            return False
        parts = [p.strip().casefold() for p in category.replace(">>", ">").split(">") if p.strip()]
        return any(p == c or p.endswith(c) for p in parts for c in self.categories)

    def _facts(self, item: PreparedListing, as_of: dt.date) -> Facts:
        listing = item.listing
        f = Facts()
        if self.in_device_category(listing.category):
            f.is_device = True
            f.evidence.append(Evidence(field="category", start=0, end=len(listing.category), text=listing.category,
                                       matched="medical-device category", method="rule"))
        text_fields = set()
        for key, value in listing.attributes.items():
            kind = self.attr_kinds.get(normalize_attribute_key(key))
            fld = f"attributes.{key}"
            if kind is None:
                continue
            text_fields.add(fld)
            for m in _SPLIT.finditer(value):
                part = m.group(0)
                lead = len(part) - len(part.lstrip())
                part = part.strip()
                if not part:
                    continue
                s = m.start() + lead
                self._attribute(f, kind, fld, part, s, as_of)
        # NMPA numbers in the text (title, description, keywords, other attributes)
        for ft in item.fields:
            if not ft.scan or ft.name in text_fields or ft.name.startswith("attribute_key."):
                continue
            if "械" not in ft.norm.original:
                continue  # every NMPA form has 械: skip the regex on the other fields
            for d in find_nmpa_in_text(ft.norm.original, as_of):
                self._nmpa(f, ft.name, d)
        return f

    def _attribute(self, f: Facts, kind: str, fld: str, part: str, s: int, as_of: dt.date) -> None:
        e = s + len(part)

        def ev(matched: str, method: str = "rule") -> Evidence:
            return Evidence(field=fld, start=s, end=e, text=part, matched=matched, method=method)

        f.is_device = True
        if kind == "class":
            d = parse_device_class(part)
            if d.ok:
                f.classes.append((d.device_class, f"declared class {CLASS_NAMES[d.device_class]} ({fld})",
                                  [ev(f"class {CLASS_NAMES[d.device_class]}")]))
            else:
                f.invalid.append((fld, _at(d, s, e)))
        elif kind == "code":
            d = parse_product_code(part)
            if not d.ok:
                f.invalid.append((fld, _at(d, s, e)))
                return
            f.codes.add(d.canonical)
            known = self.codes.get(d.canonical)
            if known is None:
                f.unknown_codes.append((fld, _at(d, s, e)))
                return
            name, cls = known
            evd = Evidence(field=fld, start=s, end=e, text=part, matched=f"{d.canonical} {name} (class {cls})",
                           method="list", source=f"devices:{d.canonical}")
            f.evidence.append(evd)
            if cls in ("1", "2", "3"):
                f.classes.append((int(cls), f"FDA product code {d.canonical} ({name}) is class {cls}", [evd]))
        elif kind == "nmpa":
            d = parse_nmpa(part, as_of)
            self._nmpa(f, fld, _at(d, s, e))
        elif kind in ("fda", "establishment"):
            d = parse_fda_number(part, as_of) if kind == "fda" else parse_establishment(part)
            if d.ok:
                f.identifiers.add(d.canonical)
                f.evidence.append(ev(d.canonical))
            else:
                f.invalid.append((fld, _at(d, s, e)))
        elif kind == "notified_body":
            d = parse_notified_body(part)
            if d.ok:
                f.evidence.append(ev(d.canonical))
            else:
                f.invalid.append((fld, _at(d, s, e)))

    @staticmethod
    def _nmpa(f: Facts, fld: str, d: DeviceId) -> None:
        f.is_device = True
        if not d.ok:
            f.invalid.append((fld, d))
            return
        f.identifiers.add(d.canonical)
        evd = Evidence(field=fld, start=d.start, end=d.end, text=d.text, matched=d.canonical, method="rule")
        f.evidence.append(evd)
        kind = "class I filing (械备)" if d.kind == "nmpa_filing" else "NMPA registration"
        f.classes.append((d.device_class, f"{kind} {d.canonical}: class {CLASS_NAMES[d.device_class]}", [evd]))

    # ------------------------------------------------------------------ qualifications
    def _applies(self, q, listing, f: Facts) -> bool:
        if not q.scope:
            return True
        title = " ".join([listing.title, *listing.keywords]).casefold()
        for entry in q.scope:
            t = entry.strip()
            if not t:
                continue
            if t.upper() in f.codes or clean(t) in f.identifiers or t.casefold() in title:
                return True
        return bool(q.number) and clean(q.number) in f.identifiers

    def run(self, item: PreparedListing) -> list[Finding]:
        listing = item.listing
        as_of = quals_mod.check_date(listing.as_of)
        fam = item.family(FAMILY)
        f = self._facts(item, as_of)
        class3_hits = fam.hits("class3")
        device_hits = fam.hits("device")
        text_hits = class3_hits + device_hits
        if text_hits:
            f.is_device = True
        findings: list[Finding] = []
        if not f.is_device:
            if fam.grey:
                findings.append(Finding.of("meddev.review", fam.grey, {"reason": "wording close to a class III device"}))
            return findings

        seller = listing.seller
        quals = list(seller.qualifications) if seller is not None else []
        applicable = [(i, q) for i, q in enumerate(quals)
                      if q.type in LABELS and self._applies(q, listing, f)]
        # identifiers of the applicable qualifications: class digits, and malformed ones
        for i, q in applicable:
            fld = f"seller.qualifications[{i}]"
            number = q.number or ""
            if q.type == "nmpa_registration" and number:
                d = parse_nmpa(number, as_of)
                if d.ok:
                    evd = quals_mod.qualification_evidence(i, q)
                    kind = "class I filing (械备)" if d.kind == "nmpa_filing" else "NMPA registration"
                    f.classes.append((d.device_class, f"{kind} {d.canonical} ({fld}): class "
                                                      f"{CLASS_NAMES[d.device_class]}", [evd]))
                else:
                    f.invalid.append((fld, _at(d, 0, len(number))))
            elif q.type == "fda_clearance" and number:
                d = parse_fda_number(number, as_of)
                if not d.ok:
                    f.invalid.append((fld, _at(d, 0, len(number))))
            elif q.type == "fda_establishment_registration" and number:
                d = parse_establishment(number)
                if not d.ok:
                    f.invalid.append((fld, _at(d, 0, len(number))))
            if q.type == "ce_certificate" and q.notified_body:
                d = parse_notified_body(q.notified_body)
                if not d.ok:
                    f.invalid.append((f"{fld}.notified_body", _at(d, 0, len(q.notified_body))))

        for fld, d in f.invalid:
            findings.append(Finding("data.device_identifier_invalid", (
                Evidence(field=fld, start=d.start, end=d.end, text=d.text, matched=d.canonical or d.text,
                         method="rule"),), tuple(sorted({"value": d.text, "problem": d.problem, "kind": d.kind}.items()))))
        for fld, d in f.unknown_codes:
            findings.append(Finding("meddev.product_code_unknown", (
                Evidence(field=fld, start=d.start, end=d.end, text=d.text, matched=d.canonical, method="rule"),),
                (("value", d.canonical),), review=True))

        cls = max((c for c, _, _ in f.classes), default=None)
        text_only = cls is None and bool(class3_hits)  # no declared data settle a class: the text does
        class_from = [why for _, why, _ in sorted(f.classes, key=lambda x: -x[0])]
        class_ev = [e for c, _, evs in f.classes if c == cls for e in evs]
        if text_only:
            cls = 3
            class_from = [f"the text names a class III device ({', '.join(sorted({h.text for h in class3_hits}))})"]
        hits_ev = [evidence_of(h) for h in outermost_hits(class3_hits if cls == 3 and text_only else text_hits)]
        base_ev = class_ev + hits_ev + f.evidence
        if class3_hits and cls is not None and cls < 3:
            findings.append(Finding("meddev.review", tuple(evidence_of(h) for h in outermost_hits(class3_hits)),
                                    tuple(sorted({"reason": "the declared data give class "
                                                  f"{CLASS_NAMES.get(cls, 'unknown')} but the text names a class III device",
                                                  "device_class": cls}.items())), review=True))
        elif fam.grey and cls != 3:
            findings.append(Finding.of("meddev.review", fam.grey, {"reason": "wording close to a class III device"}))

        def q_find(qtype: str, validate=None, expiry=None):
            return quals_mod.find(quals, qtype, as_of, LABELS[qtype],
                                  scope=lambda q: self._applies(q, listing, f),
                                  scope_label="this product (its scope names other products)",
                                  validate=validate, expiry=expiry)

        def nmpa_valid(q) -> str | None:
            if not q.number:
                return "no number given"
            d = parse_nmpa(q.number, as_of)
            if not d.ok:
                return f"{q.number}: {d.problem}"
            if d.kind == "nmpa_registration_old":
                return f"{q.number} is a pre-2014 registration, no longer current"
            if cls is not None and d.device_class < cls:
                return (f"{q.number} is for a class {CLASS_NAMES[d.device_class]} device but this device is class "
                        f"{CLASS_NAMES[cls]}")
            return None

        def fda_valid(q) -> str | None:
            if not q.number:
                return "no number given"
            d = parse_fda_number(q.number, as_of)
            return f"{q.number}: {d.problem}" if d.problem else None

        def est_valid(q) -> str | None:
            if not q.number:
                return "no number given"
            d = parse_establishment(q.number)
            return f"{q.number}: {d.problem}" if d.problem else None

        def est_expiry(q) -> dt.date | None:
            if q.valid_until is None:
                raise ValueError("its registration year is not given: set valid_until to 31 December of the "
                                 "registration year")
            return establishment_expiry(q.valid_until)

        def ce_valid(q) -> str | None:
            if q.notified_body:
                d = parse_notified_body(q.notified_body)
                if d.problem:
                    return f"notified body {q.notified_body!r}: {d.problem}"
            elif cls is not None and cls >= 2:
                return f"a class {CLASS_NAMES[cls]} device needs the four-digit notified-body number"
            return None

        detail_base = {"device_class": CLASS_NAMES.get(cls) if cls else None, "class_from": class_from,
                       "text_only": text_only}
        if cls == 3:
            china = q_find("nmpa_registration", nmpa_valid)
            clearance = q_find("fda_clearance", fda_valid)
            est = q_find("fda_establishment_registration", est_valid, est_expiry)
            us_ok = clearance.ok and est.ok
            missing_cn = [] if china.ok else [china.problem]
            missing_us = [r.problem for r in (clearance, est) if not r.ok]
            q_ev = [e for r in (china, clearance, est) for e in r.evidence()]  # held, or the closest candidate
            ev = tuple(base_ev + q_ev)
            det = dict(detail_base, qualified={"china": china.ok, "us": us_ok})
            if china.ok and not us_ok:
                det["missing"] = missing_us
                findings.append(Finding("meddev.class3_no_us", ev, tuple(sorted(det.items()))))
                findings.append(Finding("meddev.class3_no_us_warning", ev, tuple(sorted(det.items()))))
            elif us_ok and not china.ok:
                det["missing"] = missing_cn
                findings.append(Finding("meddev.class3_us_only", ev, tuple(sorted(det.items())), review=True))
            elif not china.ok and not us_ok:
                det["missing"] = missing_cn + missing_us
                findings.append(Finding("meddev.class3_no_qualification", ev, tuple(sorted(det.items()))))
        ce = q_find("ce_certificate", ce_valid)
        if not ce.ok:
            findings.append(Finding("meddev.no_ce_eea", tuple(base_ev + ce.evidence()),
                                    tuple(sorted(dict(detail_base, missing=[ce.problem]).items()))))
        return findings


def _at(d: DeviceId, s: int, e: int) -> DeviceId:
    return DeviceId(d.kind, d.text, d.canonical, d.device_class, d.problem, s, e, d.info)
