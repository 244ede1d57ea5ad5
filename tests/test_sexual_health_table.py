"""``forms_from``: lexicon terms that read their forms from a sourced data table (app/matching/lexicon.py),
the mechanism the sexual-health lexicon uses for lexicons/data/pde5_ingredients.csv."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import REPO_ROOT, Settings
from app.matching import load_lexicon

LEXICON = """
family: demo
version: "1"
last_reviewed: "2026-11-23"
sources: {T: "the table's own source column"}
terms:
  - id: demo.drug
    signal: drug
    strength: decisive
    lang: multi
    forms: [extra form]
    forms_from:
      - {file: data/t.csv, columns: [name, synonyms], where: {group: [a]}, skip: [Skipped]}
    source: [T]
"""


def _write(tmp_path: Path, table: str, lexicon: str = LEXICON) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text(table, encoding="utf-8")
    path = tmp_path / "demo.yaml"
    path.write_text(lexicon, encoding="utf-8")
    return path


def test_forms_come_from_the_rows_that_pass_the_filter(tmp_path):
    path = _write(tmp_path, "name,synonyms,group,source\n"
                            "Alpha,alfa;ALPHA;阿尔法,a,src 1\n"
                            "Beta,,b,src 2\n"
                            "Skipped,skip me,a,src 3\n"
                            "alpha,,a,src 4\n")
    term = load_lexicon(path).terms[0]
    # the YAML forms first, then the table's, once each (case-insensitively), in table order
    assert term.forms == ["extra form", "Alpha", "alfa", "阿尔法"]


@pytest.mark.parametrize("table, problem", [
    ("name,synonyms,group,source\nAlpha,,a,\n", "without a source"),
    ("name,group,source\nAlpha,a,s\n", "no column 'synonyms'"),
])
def test_a_bad_table_rejects_the_lexicon_naming_both_files(tmp_path, table, problem):
    path = _write(tmp_path, table)
    with pytest.raises(ValueError) as exc:
        load_lexicon(path)
    assert "demo.yaml" in str(exc.value) and "t.csv" in str(exc.value) and problem in str(exc.value)


def test_a_missing_table_rejects_the_lexicon(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    with pytest.raises(ValueError, match="t.csv"):
        load_lexicon(path)


def test_tables_are_data_files_with_digests(engine):
    assert Settings().lexicon_path / "data" / "pde5_ingredients.csv" in Settings().data_files()
    assert "lexicons/data/pde5_ingredients.csv" in engine.snapshot.digests


def test_the_shipped_lexicon_reads_its_table():
    lx = load_lexicon(REPO_ROOT / "lexicons" / "sexual_health.yaml")
    approved = next(t for t in lx.terms if t.id == "sexual_health.drug.approved")
    assert {"Sildenafil", "西地那非", "Tadalafil", "UK-92480"} <= set(approved.forms)
    analogue = next(t for t in lx.terms if t.id == "sexual_health.drug.analogue")
    assert "Tetrahydro-β-carboline" not in analogue.forms and "Hongdenafil" in analogue.forms
