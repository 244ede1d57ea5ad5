"""Shared helpers of the benchmark scripts: benchmark listings built from real listing text, the term
forms of every lexicon, one-core pinning and Markdown output.

The listing text comes from ``../shared/data/listings`` (``--listings-dir``, ``$MODERATE_LISTINGS_DIR``,
default ``<repo>/../shared/data/listings``). It is read from there and never copied into the
repository; the result files hold only figures. Without that directory the listings are built from
the lexicons' own examples and counter-examples, and the output says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import random
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

RESULTS = REPO_ROOT / "bench" / "results"
DEFAULT_LISTINGS_DIR = REPO_ROOT.parent / "shared" / "data" / "listings"
# Listing mix: equal thirds of e-cigarette listings, general benign titles and hard negatives
# (benign listings that share words with banned products).
CORPORA = {"vape": ("vape.csv",), "benign": ("benign_titles.csv",), "hard_negative": ("hard_negatives.csv",)}


def listings_dir(arg: str | None = None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("MODERATE_LISTINGS_DIR")
    return Path(env) if env else DEFAULT_LISTINGS_DIR


def read_rows(path: Path) -> list[dict[str, str]]:
    """All rows of one listing CSV (title, category, description, source)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass
class BenchData:
    listings: list[dict]          # Listing JSON objects (title + description)
    source: str                   # one line saying where the text came from
    real: bool                    # False: synthetic fallback from lexicon examples
    mix: dict[str, int]           # listings per corpus

    def mean_bytes(self) -> float:
        return sum(len((d["title"] + d["description"]).encode()) for d in self.listings) / len(self.listings)


def _read_corpus(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [(r["title"].strip(), (r.get("description") or "").strip()) for r in csv.DictReader(fh)
                if r["title"].strip()]


def _pad(title: str, pool: list[str], target_bytes: int, rng: random.Random) -> str:
    """A description made by concatenating other texts of the pool until title + description is
    about ``target_bytes`` UTF-8 bytes (the last piece is cut on a character boundary)."""
    need = target_bytes - len(title.encode())
    parts: list[str] = []
    size = 0
    while size < need:
        piece = rng.choice(pool)
        if piece == title:
            continue
        parts.append(piece)
        size += len(piece.encode()) + 1
    desc = " ".join(parts)
    raw = desc.encode()[: max(need, 0)]
    return raw.decode("utf-8", errors="ignore")


def _lexicon_corpora() -> dict[str, list[tuple[str, str]]]:
    from app.config import Settings
    from app.matching import load_lexicon

    pos: list[tuple[str, str]] = []
    neg: list[tuple[str, str]] = []
    for path in sorted(Settings().lexicon_path.glob("*.yaml")):
        lx = load_lexicon(path)
        for entry in [*lx.terms, *lx.patterns]:
            pos += [(e.title, e.description) for e in entry.examples]
            neg += [(e.title, e.description) for e in entry.counter_examples]
    return {"vape": pos, "benign": neg, "hard_negative": neg}


def build_listings(n: int, target_bytes: int, directory: Path, seed: int = 20261123) -> BenchData:
    """``n`` listings in equal thirds vape / benign / hard-negative, each a real title with a
    description of other real titles and descriptions of the same corpus, ~``target_bytes`` in all;
    ``target_bytes <= 0``: the real listings as they are (a title and its own description, if any)."""
    rng = random.Random(seed)
    real = all((directory / f).is_file() for files in CORPORA.values() for f in files)
    if real:
        corpora = {k: [row for f in files for row in _read_corpus(directory / f)] for k, files in CORPORA.items()}
        source = (f"real listings from {directory} as they are (titles and their own descriptions)" if target_bytes <= 0
                  else f"real listing text from {directory} (titles; descriptions padded with other titles/descriptions of the same file)")
    else:
        corpora = _lexicon_corpora()
        source = (f"SYNTHETIC: {directory} is missing, so the listings are the lexicons' examples "
                  "(vape) and counter-examples (benign, hard negatives), padded with each other: not real listing text")
    listings: list[dict] = []
    mix = {}
    kinds = list(corpora)
    for k_i, kind in enumerate(kinds):
        rows = corpora[kind]
        pool = [t for t, _ in rows] + [d for _, d in rows if d]
        count = n // len(kinds) + (1 if k_i < n % len(kinds) else 0)
        mix[kind] = count
        for i in range(count):
            title, own = rng.choice(rows)
            title = title[:1000]
            listings.append({"listing_id": f"{kind}-{i}", "title": title,
                             "description": own[:20000] if target_bytes <= 0 else _pad(title, pool, target_bytes, rng)})
    rng.shuffle(listings)
    return BenchData(listings, source, real, mix)


def lexicon_forms() -> list[str]:
    """Every ``forms`` entry of every term of every lexicon, de-duplicated (case-folded)."""
    from app.config import Settings
    from app.matching import load_lexicon

    seen: dict[str, str] = {}
    for path in sorted(Settings().lexicon_path.glob("*.yaml")):
        for term in load_lexicon(path).terms:
            for form in term.forms:
                seen.setdefault(form.casefold(), form)
    return list(seen.values())


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            cpu = min(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpu})
            return f"pinned to CPU {cpu} (os.sched_setaffinity)"
        except OSError as exc:
            return f"not pinned ({exc})"
    return "not pinned (no sched_setaffinity on this platform)"


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs ({cores} usable now), {dt.datetime.now().isoformat(timespec='seconds')}")


def md_table(headers: list[str], rows: list[list]) -> str:
    def cell(x) -> str:
        return str(x).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"
