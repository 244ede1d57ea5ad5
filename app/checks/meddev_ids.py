"""Medical-device identifiers: parse, validate, and say what is wrong in words a seller can act on.

Formats (sources in ``../shared/notes/medical_devices.md``; real examples in
``../shared/data/meddev/identifier_examples.csv``):

* NMPA registration since 2014-10-01: ``×械注×YYYYCNNSSSS`` -- ``国`` or a province abbreviation,
  ``械注``, ``准`` (domestic) / ``进`` (imported) / ``许`` (HK, Macao, Taiwan), the 4-digit year of first
  registration, the **class digit** (2 or 3), a 2-digit catalogue code, a 4-digit serial; a trailing
  ``号`` is tolerated. Consistency: a province registers domestic (``准``) class II only; ``国械注准``
  is domestic class III; class I is never registered (it is filed).
* NMPA class I filing: ``国械备YYYYSSSS号`` (imported) or province [+ city] ``械备YYYYSSSS号``; always class I.
* Pre-2014 registration: ``国食药监械(准)字YYYY第CNNSSSS号`` (class digit right after ``第``): parsed
  and its class counted, but it is historical -- not a current qualification.
* Company licences that look similar (``…械生产许…``, ``…械经营备…``, ``…械生产备…``) are not product
  registrations.
* FDA: 510(k) ``K`` + 6 digits, De Novo ``DEN`` + 6 digits, PMA ``P``/``N`` + 6 digits with an optional
  supplement ``/S123``, HDE ``H`` + 6 digits; the first two digits are the year received (never in the
  future of ``as_of``). Product codes: three capital letters (known or not is the caller's
  question). Establishment registration numbers: 7 or 10 digits.
* EU notified bodies: four digits.

Every parser returns a :class:`DeviceId` whose ``problem`` is ``None`` when the identifier is usable.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

PROVINCES = "京津沪渝冀晋辽吉黑苏浙皖闽赣鲁豫鄂湘粤琼川贵云陕甘青蒙桂藏宁新"
ORIGIN = {"准": "domestic", "进": "imported", "许": "Hong Kong/Macao/Taiwan"}
NEW_FORMAT_START = 2014
OLD_FORMAT_END = 2014

_D = "0-9０-９"
_SP = r"[ \t\u3000]*"
# candidates in free text: anything shaped like one of the NMPA numbers, validated afterwards
_NMPA_CANDIDATE = re.compile(
    rf"[{PROVINCES}国][\u4e00-\u9fff]?(?:[(（]?食[)）]?)?药监械{_SP}[(（]?[准进许]?[)）]?{_SP}字?{_SP}[{_D}][{_D} \t\u3000]*"
    rf"(?:第{_SP}[{_D}][{_D} \t\u3000]*)?号?"
    rf"|[{PROVINCES}国][\u4e00-\u9fff]?械{_SP}(?:注{_SP}[准进许]?|备|生产许|生产备|经营备|经营许)?{_SP}[{_D}][{_D} \t\u3000]*号?")

_NEW = re.compile(r"^(国|[%s])械注([准进许])(\d+)$" % PROVINCES)
_FILING = re.compile(r"^(国|[%s][\u4e00-\u9fff]?)械备(\d+)$" % PROVINCES)
_OLD = re.compile(r"^(国|[%s][\u4e00-\u9fff]?)\(?食?\)?药监械\(([准进许])\)字(\d{4})第(\d+)$" % PROVINCES)
_COMPANY = re.compile(r"械(?:生产|经营)(?:许|备)")


@dataclass(frozen=True, slots=True)
class DeviceId:
    kind: str                 # nmpa_registration | nmpa_registration_old | nmpa_filing | fda_510k | ...
    text: str                 # as written
    canonical: str            # cleaned form
    device_class: int | None = None
    problem: str | None = None
    start: int = 0
    end: int = 0
    info: tuple[tuple[str, object], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None

    def get(self, key: str, default=None):
        return dict(self.info).get(key, default)


def clean(value: str) -> str:
    """Full-width digits/letters/brackets folded (NFKC), spaces removed, upper case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).upper()


def _year_problem(year: int, as_of: dt.date | None, first: int | None, what: str) -> str | None:
    if as_of is not None and year > as_of.year:
        return f"its year {year} is after the date of the check ({as_of.isoformat()})"
    if first is not None and year < first:
        return f"its year {year} is before {what}"
    return None


# ---------------------------------------------------------------------------------------- NMPA
def parse_nmpa(value: str, as_of: dt.date | None = None) -> DeviceId:
    """An NMPA registration or filing number as written in an attribute or a qualification."""
    raw = value
    c = clean(value).replace("（", "(").replace("）", ")")
    c = c.rstrip("号").rstrip("。.")
    if _COMPANY.search(c):
        return DeviceId("nmpa_other", raw, c, problem=(
            "it is a company production or business licence (生产/经营许可或备案), not a product registration "
            "certificate (…械注准…) or class I filing (…械备…)"))
    m = _NEW.match(c)
    if m:
        auth, origin, digits = m.groups()
        if len(digits) != 11:
            return DeviceId("nmpa_registration", raw, c, problem=(
                f"after 械注{origin} come 11 digits (4-digit year, class digit, 2-digit catalogue code, "
                f"4-digit serial), not {len(digits)}"))
        year, cls = int(digits[:4]), int(digits[4])
        info = (("authority", auth), ("origin", ORIGIN[origin]), ("year", year), ("catalogue", digits[5:7]))
        problem = None
        if cls not in (2, 3):
            problem = (f"its class digit (the digit after the year {year}) is {cls}; registrations are class 2 or 3 "
                       "(class I devices are filed: …械备…)")
        elif auth != "国" and origin != "准":
            problem = f"a province ({auth}) registers only domestic products (械注准), not 械注{origin}"
        elif auth != "国" and cls == 3:
            problem = f"class III devices are registered by the NMPA (国械注准), not by a province ({auth})"
        elif auth == "国" and origin == "准" and cls == 2:
            problem = "domestic class II devices are registered by a province (e.g. 粤械注准), not as 国械注准"
        else:
            problem = _year_problem(year, as_of, NEW_FORMAT_START, "this format existed (2014-10-01)")
        return DeviceId("nmpa_registration", raw, c, cls, problem, info=info)
    m = _FILING.match(c)
    if m:
        auth, digits = m.groups()
        if len(digits) != 8:
            return DeviceId("nmpa_filing", raw, c, 1, (
                f"after 械备 come 8 digits (4-digit year, 4-digit serial), not {len(digits)}"))
        year = int(digits[:4])
        problem = _year_problem(year, as_of, NEW_FORMAT_START, "class I filing started (2014)")
        return DeviceId("nmpa_filing", raw, c, 1, problem, info=(("authority", auth), ("year", year)))
    m = _OLD.match(c)
    if m:
        auth, origin, year_s, digits = m.groups()
        year = int(year_s)
        if len(digits) != 7:
            return DeviceId("nmpa_registration_old", raw, c, problem=(
                f"after 第 come 7 digits (class digit, 2-digit catalogue code, 4-digit serial), not {len(digits)}"))
        cls = int(digits[0])
        info = (("authority", auth), ("origin", ORIGIN[origin]), ("year", year), ("historical", True))
        problem = None
        if cls not in (1, 2, 3):
            problem = f"its class digit (the digit after 第) is {cls}, not 1, 2 or 3"
        elif year > OLD_FORMAT_END:
            problem = f"the pre-2014 format (…药监械(准)字…第…号) was not issued in {year}"
        return DeviceId("nmpa_registration_old", raw, c, cls if problem is None else None, problem, info=info)
    if "械" in c or "药监" in c:
        return DeviceId("nmpa_registration", raw, c, problem=(
            "it is not in an NMPA format: registration ×械注准YYYY#NNSSSS (e.g. 国械注准20203460123), "
            "class I filing ×械备YYYYSSSS号"))
    return DeviceId("nmpa_registration", raw, c, problem=(
        "it is not an NMPA registration (e.g. 国械注准20203460123) or class I filing (e.g. 国械备20151134号)"))


def find_nmpa_in_text(text: str, as_of: dt.date | None = None) -> list[DeviceId]:
    """NMPA-shaped numbers in free text, with their spans in ``text``."""
    out = []
    for m in _NMPA_CANDIDATE.finditer(text):
        s, e = m.span()
        while e > s and text[e - 1] in " \t\u3000":
            e -= 1
        d = parse_nmpa(text[s:e], as_of)
        out.append(DeviceId(d.kind, text[s:e], d.canonical, d.device_class, d.problem, s, e, d.info))
    return out


# ---------------------------------------------------------------------------------------- FDA
_FDA_NUMBER = re.compile(r"^(K|DEN|P|N|H)(\d+)(?:/?(S)(\d+))?$")
FDA_KINDS = {"K": "fda_510k", "DEN": "fda_denovo", "P": "fda_pma", "N": "fda_pma", "H": "fda_hde"}
FDA_NAMES = {"K": "510(k)", "DEN": "De Novo", "P": "PMA", "N": "PMA", "H": "HDE"}
FDA_FIRST_YEAR = {"K": 1976, "DEN": 1997, "P": 1976, "N": 1976, "H": 1990}


def _received_year(yy: int) -> int:
    """FDA numbering started in 1976: 76-99 are 1976-1999, 00-75 are 2000-2075."""
    return 2000 + yy if yy < 76 else 1900 + yy


def parse_fda_number(value: str, as_of: dt.date | None = None) -> DeviceId:
    """A 510(k) / De Novo / PMA / HDE number."""
    raw = value
    c = clean(value)
    c = re.sub(r"^(?:510\(?K\)?|FDA|PMA|DENOVO|NO\.?|#|:)+", "", c).lstrip(":#")
    m = _FDA_NUMBER.match(c)
    if not m:
        return DeviceId("fda_clearance", raw, c, problem=(
            "it is not an FDA clearance or approval number: 510(k) K + 6 digits (K260002), De Novo DEN + 6 digits "
            "(DEN250034), PMA P + 6 digits (P990074, supplement P950037/S279)"))
    prefix, digits, s, sup = m.groups()
    kind = FDA_KINDS[prefix]
    name = FDA_NAMES[prefix]
    if len(digits) != 6:
        return DeviceId(kind, raw, c, problem=f"a {name} number is {prefix} followed by 6 digits, not {len(digits)}")
    if s and (prefix not in ("P", "N") or len(sup) != 3):
        return DeviceId(kind, raw, c, problem=(
            "only PMA numbers carry a supplement, written /S + 3 digits (P950037/S279)" if prefix not in ("P", "N")
            else f"a PMA supplement is S + 3 digits, not S + {len(sup)}"))
    year = _received_year(int(digits[:2]))
    canonical = f"{prefix}{digits}" + (f"/S{sup}" if s else "")
    problem = _year_problem(year, as_of, FDA_FIRST_YEAR[prefix], f"{name} numbers were issued")
    if problem:
        problem = f"{problem} (the two digits after {prefix} are the year the FDA received it)"
    return DeviceId(kind, raw, canonical, problem=problem, info=(("year", year),))


def parse_product_code(value: str) -> DeviceId:
    c = clean(value)
    if re.fullmatch(r"[A-Z]{3}", c):
        return DeviceId("fda_product_code", value, c)
    return DeviceId("fda_product_code", value, c, problem=(
        "an FDA product code is three letters (e.g. FTR, MAF, HQL), as in the FDA product-classification database"))


def parse_establishment(value: str) -> DeviceId:
    c = clean(value)
    c = re.sub(r"^(?:FEI|REG|NO\.?|#|:)+", "", c)
    if re.fullmatch(r"\d{7}|\d{10}", c):
        return DeviceId("fda_establishment_registration", value, c)
    digits = sum(ch.isdigit() for ch in c)
    return DeviceId("fda_establishment_registration", value, c, problem=(
        f"an FDA establishment registration number has 7 or 10 digits (e.g. 1723241, 3014680740), not "
        f"{'non-digits' if digits != len(c) else digits}"))


def establishment_expiry(valid_until: dt.date | None) -> dt.date | None:
    """An establishment registration is current for its registration year only: it expires on
    31 December of that year (21 CFR 807.21-807.22; the seed: "Current Registration Yr")."""
    return dt.date(valid_until.year, 12, 31) if valid_until is not None else None


def parse_notified_body(value: str) -> DeviceId:
    c = clean(value)
    c = re.sub(r"^(?:CE|NB|NO\.?|#|:)+", "", c)
    if re.fullmatch(r"\d{4}", c):
        return DeviceId("notified_body", value, c)
    return DeviceId("notified_body", value, c, problem=(
        "a notified-body number is the four digits printed after the CE mark (e.g. CE 0123)"))


# ---------------------------------------------------------------------------------------- class
_CLASS_WORDS = {"III": 3, "II": 2, "I": 1, "IIA": 2, "IIB": 2, "IS": 1, "IM": 1, "IR": 1,
                "3": 3, "2": 2, "1": 1, "三": 3, "二": 2, "一": 1, "Ⅲ": 3, "Ⅱ": 2, "Ⅰ": 1}


def parse_device_class(value: str) -> DeviceId:
    """A declared class: ``III``, ``Class III``, ``class 3``, ``IIb``, ``第三类``, ``三类``, ``Ⅲ类``."""
    c = clean(value)
    c = re.sub(r"^(?:DEVICECLASS|MEDICALDEVICECLASS|CLASS|KLASSE|CLASSE|CLASE|第)", "", c)
    c = re.sub(r"(?:类|類|CLASS|DEVICE|MEDICALDEVICE)+$", "", c)
    if c in _CLASS_WORDS:
        return DeviceId("device_class", value, c, _CLASS_WORDS[c])
    return DeviceId("device_class", value, c, problem=(
        "the device class is I, II or III (EU IIa/IIb count as II; 第一/二/三类)"))
