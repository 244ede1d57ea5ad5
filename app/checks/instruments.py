"""Controlled instruments (policy.md §3.1, §6), driven by the signals of ``lexicons/controlled_instrument.yaml``.

* a term of class n (``class1`` .. ``class5``) -> ``instrument.class<n>`` with ``detail.instrument_class``;
* several classes at once -> ONE violation, of the class with the most points, on a tie the lowest class
  number (policy.md §6: a body-worn stun belt is class 1 and class 3 -> class 1); the evidence of every
  class is kept, so a distorted term of any of them still earns the circumvention point;
* blade length (GT2007 一.4 / 一.5, policy.md §6), read from an explicit blade length in the text (signal
  ``blade_length``) or a blade-length attribute, next to a knife word (signal ``knife``):
  > 220 mm -> class 2; > 150 mm and a dagger-like knife (``pointed``: hunting, combat, tactical ...) that is
  not a kitchen knife -> class 2; any other knife > 150 mm -> review. A size written before the knife noun
  (``knife_size``, "10\\" chef knife") may be the whole knife: > 150 mm -> review only. Swords and machetes
  without a stated length (``long_blade``) -> review;
* ``unsharpened`` (trainer, 未开刃 ...) turns class 2 into review (GT2007 二: unsharpened blades with a rounded
  tip are outside class 2; the claim is common, so never a silent allow);
* grey wording (euphemisms, accessories, hits next to a ``review_if`` phrase) alone -> ``instrument.review``.

A seller's negation ("not a weapon", "非管制刀具") never cancels a hit (policy.md §6): nothing here reads it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from app.checks.base import Finding, PreparedListing
from app.matching import Hit

FAMILY = "controlled_instrument"
CLASSES = (1, 2, 3, 4, 5)
_CLASS_SIGNALS = tuple((n, f"class{n}") for n in CLASSES)

# a number and its unit inside a matched blade-length / size text (view A: lower case, NFKC)
_VALUE = re.compile(r"(\d{1,3}(?:[.,]\d{1,2})?)\s?(mm|cm|毫米|厘米|公分|inch(?:es)?|in\b\.?|\"|′′|″|'{1,2}|英寸)")
_MM = {"mm": 1.0, "毫米": 1.0, "cm": 10.0, "厘米": 10.0, "公分": 10.0, "inch": 25.4, "inches": 25.4, "in": 25.4,
       "in.": 25.4, '"': 25.4, "′′": 25.4, "″": 25.4, "''": 25.4, "'": 25.4, "英寸": 25.4}
# attribute keys that state the blade length ("Blade Length", "Blade length (mm)", "刃长", "刀刃长度")
_BLADE_KEY = re.compile(r"blade\s*(?:length|size)|刀?刃(?:口)?长|刀身长|longitud de (?:la )?hoja|longueur de (?:la )?lame|"
                        r"comprimento da lâmina|длина клинка|bıçak boyu")
_KEY_UNIT = re.compile(r"\((mm|cm|inch|in|毫米|厘米)\)")
_BARE_NUMBER = re.compile(r"^\s*(\d{1,3}(?:[.,]\d{1,2})?)\s*$")


def to_mm(text: str, default_unit: str | None = None) -> float | None:
    """The largest length in ``text`` (normalised, lower case) in millimetres, or None."""
    best = None
    for m in _VALUE.finditer(text):
        unit = m.group(2)
        mm = float(m.group(1).replace(",", ".")) * _MM.get(unit, _MM.get(unit.rstrip("."), 0.0))
        best = mm if best is None else max(best, mm)
    if best is None and default_unit:
        m = _BARE_NUMBER.match(text)
        if m:
            best = float(m.group(1).replace(",", ".")) * _MM[default_unit]
    return best


class InstrumentCheck:
    name: ClassVar[str] = FAMILY
    families: ClassVar[tuple[str, ...]] = (FAMILY,)
    rule_ids: ClassVar[tuple[str, ...]] = tuple(f"instrument.class{n}" for n in CLASSES) + ("instrument.review",)

    def __init__(self, class_points: dict, pointed_blade_mm: float = 150, any_blade_mm: float = 220):
        self.points = {int(k): int(v) for k, v in class_points.items()}
        missing = set(CLASSES) - set(self.points)
        if missing:
            raise ValueError(f"{FAMILY}: settings.class_points lacks classes {sorted(missing)}")
        self.pointed_mm = float(pointed_blade_mm)
        self.any_mm = float(any_blade_mm)

    # ------------------------------------------------------------------------------------------
    def _attribute_lengths(self, item: PreparedListing) -> list[tuple[float, Hit]]:
        """Blade lengths declared as attributes, each with the attribute value as its evidence."""
        out = []
        for fi, ft in enumerate(item.fields):
            if not ft.name.startswith("attributes."):
                continue
            key_norm = ft.name[len("attributes."):].casefold()
            if not _BLADE_KEY.search(key_norm):
                continue
            unit = _KEY_UNIT.search(key_norm)
            mm = to_mm(ft.norm.text, unit.group(1) if unit else None)
            if mm is None:
                continue
            out.append((mm, Hit(FAMILY, "instrument.attribute.blade_length", "blade_length", "decisive",
                                ft.norm.text, ft, fi, 0, len(ft.norm.text))))
        return out

    def _length_verdict(self, item: PreparedListing, fam) -> tuple[str | None, list[Hit]]:
        """``("class2" | "review" | None, evidence)`` from the blade-length criteria."""
        knife = fam.hits("knife")
        if not knife:
            return None, []
        explicit = [(to_mm(h.matched), h) for h in fam.hits("blade_length")]
        explicit = [(mm, h) for mm, h in explicit if mm is not None]
        explicit += self._attribute_lengths(item)
        if explicit:
            mm, where = max(explicit, key=lambda x: x[0])
            ev = knife + [where]
            if mm > self.any_mm:
                return "class2", ev
            if mm > self.pointed_mm:
                if fam.has("pointed") and not fam.has("kitchen"):
                    return "class2", ev + fam.hits("pointed")
                return "review", ev
            return None, []
        sizes = [(to_mm(h.matched), h) for h in fam.hits("knife_size")]
        sizes = [(mm, h) for mm, h in sizes if mm is not None]
        if sizes:
            mm, where = max(sizes, key=lambda x: x[0])
            if mm > self.pointed_mm:
                return "review", knife + [where]
        return None, []

    def run(self, item: PreparedListing) -> list[Finding]:
        fam = item.family(FAMILY)
        fired = fam.fired
        if not fired:  # no class, no knife, no long blade: only grey wording can ask for review
            return [Finding.of("instrument.review", fam.grey, {"kinds": ["grey"]})] if fam.grey else []
        hits: dict[int, list[Hit]] = {n: list(fired[s]) for n, s in _CLASS_SIGNALS if s in fired}
        review: list[Hit] = list(fam.grey)
        verdict, length_ev = self._length_verdict(item, fam)
        if verdict == "class2":
            hits.setdefault(2, []).extend(length_ev)
        elif verdict == "review":
            review.extend(length_ev)
        if 2 in hits and fam.has("unsharpened"):
            # GT2007 二 / policy §6: unsharpened, rounded-tip blades are outside class 2 -> review, not allow
            review.extend(hits.pop(2) + fam.hits("unsharpened"))
        if hits:
            best = min(hits, key=lambda n: (-self.points[n], n))
            evidence = [h for n in sorted(hits) for h in hits[n]]
            return [Finding.of(f"instrument.class{best}", evidence, {"instrument_class": best})]
        if not review and fam.has("long_blade"):
            review = fam.hits("long_blade")
        if review:
            return [Finding.of("instrument.review", review, {"kinds": ["grey"]})]
        return []
