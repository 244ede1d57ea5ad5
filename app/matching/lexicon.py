"""The lexicon file format (one YAML file per rule family in ``lexicons/``).

A term entry names its surface ``forms`` (any language), the ``signal`` it raises for the family's
check, its ``strength`` (``decisive`` fires alone; ``coterm`` needs one of its ``coterms`` somewhere
in the listing; ``grey`` only asks for review), ``exclude`` phrases that cancel a hit whose span they
contain (``电子烟花`` cancels ``电子烟``), ``review_if`` phrases that turn a hit into a review signal,
its ``source`` keys, and ``examples`` / ``counter_examples`` that the test-suite runs through the
whole engine. Co-terms are signal names prefixed with ``@`` or literal phrases. ``reveals`` marks
forms that are a disguise in themselves (pinyin of Chinese terms): their hits are de-obfuscated.
``forms_from`` reads further forms from a table next to the lexicon (``lexicons/data/*.csv``, one
row per sourced data item), so a long sourced list (drug names) is kept once, with its provenance.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Literal

from app.datafile import load_yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    """A listing snippet; ``title`` is required, the rest optional."""
    title: str
    description: str = ""
    keywords: list[str] = []
    category: str | None = None
    attributes: dict[str, str] = {}
    expect: Literal["block", "restrict", "region_mask", "allow", "review"] | None = None
    circumvention: bool | None = None


class FormsFrom(_Strict):
    """Forms read from a CSV table (UTF-8, header row) relative to the lexicon file: every non-empty
    cell of ``columns`` (split on ``split``) of the rows that pass ``where`` (column -> allowed values)
    and whose ``key`` column is not in ``skip``. The table must have a ``source`` column, filled on
    every row it contributes."""
    file: str
    columns: list[str] = Field(min_length=1)
    split: str = ";"
    where: dict[str, list[str]] = {}
    key: str | None = None  # the column ``skip`` names (default: the first of ``columns``)
    skip: list[str] = []


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of a lexicon data table; a missing file or column is a ``ValueError`` naming it."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    return rows


def table_forms(spec: FormsFrom, base: Path) -> list[str]:
    path = base / spec.file
    rows = read_table(path)
    header = set(rows[0]) if rows else set()
    key = spec.key or spec.columns[0]
    for col in [*spec.columns, *spec.where, key, "source"]:
        if col not in header:
            raise ValueError(f"{path.name}: no column {col!r}")
    out: list[str] = []
    seen: set[str] = set()  # a name written twice in different case is one form
    for i, row in enumerate(rows, 2):
        if any((row.get(c) or "").strip() not in vals for c, vals in spec.where.items()):
            continue
        if (row.get(key) or "").strip() in spec.skip:
            continue
        cells = [x.strip() for c in spec.columns for x in (row.get(c) or "").split(spec.split)]
        cells = [x for x in cells if x]
        if cells and not (row.get("source") or "").strip():
            raise ValueError(f"{path.name} line {i}: row without a source")
        for x in cells:
            if x.casefold() not in seen:
                seen.add(x.casefold())
                out.append(x)
    return out


def _example(v):
    return {"title": v} if isinstance(v, str) else v


class Term(_Strict):
    id: str
    signal: str
    strength: Literal["decisive", "coterm", "grey"]
    lang: str
    forms: list[str] = Field(min_length=1)
    forms_from: list[FormsFrom] = []  # resolved by load_lexicon into ``forms``
    coterms: list[str] = []
    exclude: list[str] = []
    review_if: list[str] = []
    fuzzy: bool = False
    boundary: bool | None = None  # None: on for scripts with word boundaries, off for CJK
    # The forms are themselves a disguise of the family's vocabulary (pinyin of Chinese terms,
    # curated homophones): a hit counts as de-obfuscated, with this label as its transform.
    reveals: Literal["pinyin", "homophone"] | None = None
    source: list[str] = Field(min_length=1)
    note: str | None = None
    examples: list[Example] = []
    counter_examples: list[Example] = []

    _ex = field_validator("examples", "counter_examples", mode="before")(
        classmethod(lambda cls, v: [_example(x) for x in (v or [])]))

    @model_validator(mode="after")
    def _coterms_needed(self):
        if self.strength == "coterm" and not self.coterms:
            raise ValueError(f"term {self.id}: strength 'coterm' needs coterms")
        return self


class Pattern(_Strict):
    """A regular expression over view A (numbers: nicotine strength, puff counts, PG/VG ratios)."""
    id: str
    signal: str
    strength: Literal["decisive", "coterm", "grey"]
    regex: str
    coterms: list[str] = []
    # Cheap gate: the regex runs on a field only if its view-A text contains one of these strings
    # (lower case). Every match of the regex must contain one of them; a test checks the examples.
    prefilter: list[str] = []
    # The pattern's signal only qualifies other entries (a device specification such as "0.4 ohm"):
    # it runs only when an entry still waiting for a co-term names that signal.
    coterm_only: bool = False
    source: list[str] = Field(min_length=1)
    note: str | None = None
    examples: list[Example] = []
    counter_examples: list[Example] = []

    _ex = field_validator("examples", "counter_examples", mode="before")(
        classmethod(lambda cls, v: [_example(x) for x in (v or [])]))

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        re.compile(v)
        return v


class Lexicon(_Strict):
    family: str
    version: str
    last_reviewed: str
    description: str = ""
    sources: dict[str, str]
    signal_groups: dict[str, list[str]] = {}
    exclude: list[str] = []  # family-wide exclusions (cancel any term of the family they contain)
    settings: dict[str, object] = {}
    terms: list[Term]
    patterns: list[Pattern] = []

    @model_validator(mode="after")
    def _consistent(self):
        ids = [t.id for t in self.terms] + [p.id for p in self.patterns]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate entry ids: {sorted(dup)}")
        signals = {t.signal for t in self.terms} | {p.signal for p in self.patterns} | set(self.signal_groups)
        for entry in [*self.terms, *self.patterns]:
            for src in entry.source:
                if src not in self.sources:
                    raise ValueError(f"{entry.id}: source key {src!r} is not defined in 'sources'")
            for co in entry.coterms:
                if co.startswith("@") and co[1:] not in signals:
                    raise ValueError(f"{entry.id}: co-term signal {co!r} is not defined")
        return self


def _resolve_tables(data, base: Path) -> None:
    """Add the forms of every term's ``forms_from`` tables to its ``forms`` (before validation)."""
    if not isinstance(data, dict):
        return
    for term in data.get("terms") or []:
        if not isinstance(term, dict) or not term.get("forms_from"):
            continue
        forms = list(term.get("forms") or [])
        seen = {str(f).casefold() for f in forms}
        for spec in term["forms_from"]:
            for form in table_forms(FormsFrom.model_validate(spec), base):
                if form.casefold() not in seen:
                    seen.add(form.casefold())
                    forms.append(form)
        term["forms"] = forms


def load_lexicon(path: Path) -> Lexicon:
    data = load_yaml(path)
    try:
        _resolve_tables(data, path.parent)
        return Lexicon.model_validate(data)
    except Exception as exc:  # re-raise with the file name so a broken reload names it
        raise ValueError(f"{path.name}: {exc}") from exc
