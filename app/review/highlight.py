"""Evidence spans -> segments of the original text for the review page.

Every evidence field of a decision (``title``, ``description``, ``keywords[2]``,
``attributes.CAS No.``, ``attribute_key.CAS No.``, ``category``) is cut at every span boundary;
each segment lists the violations whose evidence covers it. The template renders the segments
with autoescaping (never ``|safe``), so seller text is always inert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_KW = re.compile(r"^keywords\[(\d+)\]$")


def field_text(listing: dict[str, Any], name: str) -> str | None:
    if name in ("title", "description", "category"):
        v = listing.get(name)
        return v if isinstance(v, str) else None
    m = _KW.match(name)
    if m:
        kws = listing.get("keywords") or []
        i = int(m.group(1))
        return kws[i] if i < len(kws) else None
    attrs = listing.get("attributes") or {}
    if name.startswith("attributes."):
        return attrs.get(name[len("attributes."):])
    if name.startswith("attribute_key."):
        key = name[len("attribute_key."):]
        return key if key in attrs else None
    return None


@dataclass
class Mark:
    index: int  # violation number (1-based) in the page's list
    rule_id: str
    message: str
    matched: str
    method: str


@dataclass
class Segment:
    text: str
    marks: list[Mark] = field(default_factory=list)
    anchor: str | None = None  # id of the first segment of an evidence span

    @property
    def rules(self) -> str:
        return " ".join(sorted({m.rule_id for m in self.marks}))

    @property
    def tooltip(self) -> str:
        return "\n".join(f"[{m.index}] {m.rule_id} ({m.method}, matched {m.matched!r}): {m.message}" for m in self.marks)


@dataclass
class FieldView:
    name: str
    text: str
    segments: list[Segment]
    spans: int


def _order(name: str) -> tuple:
    m = _KW.match(name)
    if name == "title":
        return (0, 0, name)
    if m:
        return (1, int(m.group(1)), name)
    if name == "category":
        return (2, 0, name)
    if name == "description":
        return (4, 0, name)
    return (3, 0, name)


def highlight(listing: dict[str, Any], violations: list[dict[str, Any]]) -> list[FieldView]:
    """Every text field of the listing (title, keywords, category, attributes, description), each
    cut into segments at the evidence spans."""
    spans: dict[str, list[tuple[int, int, Mark, str]]] = {}
    for vi, v in enumerate(violations, 1):
        for ei, e in enumerate(v.get("evidence") or []):
            spans.setdefault(e["field"], []).append(
                (e["start"], e["end"], Mark(vi, v["rule_id"], v["message"], e.get("matched", ""), e.get("method", "")),
                 f"ev-{vi}-{ei}"))
    names = ["title", *(f"keywords[{i}]" for i in range(len(listing.get("keywords") or [])))]
    if listing.get("category"):
        names.append("category")
    for key in (listing.get("attributes") or {}):
        names.append(f"attributes.{key}")
    if listing.get("description"):
        names.append("description")
    for extra in spans:
        if extra not in names:
            names.append(extra)
    out = []
    for name in sorted(names, key=_order):
        text = field_text(listing, name)
        if text is None:
            continue
        out.append(FieldView(name, text, _segments(text, spans.get(name, [])), len(spans.get(name, []))))
    return out


def _segments(text: str, spans: list[tuple[int, int, Mark, str]]) -> list[Segment]:
    n = len(text)
    valid = [(max(0, s), min(n, e), m, a) for s, e, m, a in spans if 0 <= s < e <= n]
    cuts = sorted({0, n, *(s for s, _, _, _ in valid), *(e for _, e, _, _ in valid)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        cover = [(m, anc, s) for s, e, m, anc in valid if s <= a and b <= e]
        seg = Segment(text[a:b], [m for m, _, _ in cover])
        starting = [anc for _, anc, s in cover if s == a]
        seg.anchor = starting[0] if starting else None
        out.append(seg)
    return out or [Segment(text)]
