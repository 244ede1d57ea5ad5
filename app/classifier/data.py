"""Training and evaluation rows: real listings read from ``../shared/data/listings`` (never copied into
the repository) plus the authored examples of :mod:`app.classifier.authored`.

Labels of the real files (their README: topic-level labels, not verified row by row):

=====================  ==========================================================================
file                   label
=====================  ==========================================================================
vape.csv               e_cigarette
knives_weapons.csv     controlled_instrument (topic-level: some pocket knives and machetes are legal
                       almost everywhere; the classifier only asks for review on them)
live_plants.csv        live_animals_plants
medical_devices.csv    medical_device
pesticides.csv         hazardous_chemical (policy.md has no pesticide category; a pesticide's active
                       ingredient is a chemical the lists decide on, so it is a review case)
supplements.csv        sexual_health_drug where the file marks a ``sexual-health claim``, else none
chemicals_cas.csv      none: a fine-chemical catalogue, whose CAS numbers the list check decides on
                       (rows whose CAS is on the repo's own lists are left out, so no row is labelled
                       by those lists)
benign_titles.csv      none
hard_negatives.csv     none
=====================  ==========================================================================

The upstream ``category`` column is a marketplace category only in the general corpora (Instacart,
BigBasket paths); in the other files it is metadata that names the label ("review-site topic: Stun
Guns | stun_gun", "brand: X; supplier: Y") and is never shown to the model.

Split: every row gets a bucket from ``sha256(seed, file, group)``: 70 % train, 15 % validation
(threshold choice), 15 % test (reported metrics). Rows of one group never straddle buckets. Groups:
the review-site topic for files with at least ``MIN_TOPICS`` topics (knives, hard negatives), the
brand/supplier for ``vape.csv`` (so the test set holds brands no training run saw), otherwise the
row itself.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from app.classifier.features import NONE, listing_text

FILE_LABELS = {
    "vape.csv": "e_cigarette",
    "knives_weapons.csv": "controlled_instrument",
    "live_plants.csv": "live_animals_plants",
    "medical_devices.csv": "medical_device",
    "pesticides.csv": "hazardous_chemical",
    "supplements.csv": None,   # per row
    "chemicals_cas.csv": NONE,
    "benign_titles.csv": NONE,
    "hard_negatives.csv": NONE,
}
MARKETPLACE_CATEGORY_FILES = ("benign_titles.csv", "hard_negatives.csv")
SPLITS = (("train", 0.70), ("val", 0.85), ("test", 1.0))
MIN_TOPICS = 20
_TOPIC = re.compile(r"^review-site topic:\s*(.*?)\s*(?:\|.*)?$")
_CAS = re.compile(r"\b(\d{2,7}-\d{2}-\d)\b")


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    label: str
    file: str          # source file name, or "authored"
    group: str
    split: str
    title: str = ""
    category: str = ""
    description: str = ""

    @property
    def real(self) -> bool:
        return self.file != "authored"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bucket(seed: int, file: str, group: str) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{file}\x1f{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2 ** 64
    for name, upper in SPLITS:
        if u < upper:
            return name
    return SPLITS[-1][0]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def listed_cas(lists_dir: Path) -> set[str]:
    out: set[str] = set()
    for name in ("prohibited.csv", "restricted.csv"):
        p = lists_dir / name
        if p.is_file():
            out |= {r["cas"].strip() for r in _read(p) if r.get("cas")}
    return out


@dataclass
class RealData:
    rows: list[Row]
    files: dict[str, str]        # file name -> sha256
    dropped: Counter             # reason -> rows left out


def load_real(data_dir: Path, seed: int, lists_dir: Path | None = None, limit_per_file: int | None = None) -> RealData:
    """Every labelled real row of ``data_dir`` (missing files are an error: the card must name them all).
    ``limit_per_file`` keeps the first n rows of each file (a small, still deterministic slice)."""
    missing = [f for f in FILE_LABELS if not (data_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{data_dir}: missing listing files {missing}")
    cas_listed = listed_cas(lists_dir) if lists_dir else set()
    rows: list[Row] = []
    files: dict[str, str] = {}
    dropped: Counter = Counter()
    for name, file_label in FILE_LABELS.items():
        path = data_dir / name
        files[name] = sha256_file(path)
        raw = _read(path)
        if limit_per_file is not None:
            raw = raw[:limit_per_file]
        topics = {_topic(r.get("category", "")) for r in raw}
        by_topic = len(topics) >= MIN_TOPICS
        for i, r in enumerate(raw):
            title = (r.get("title") or "").strip()
            if not title:
                dropped["empty title"] += 1
                continue
            desc = (r.get("description") or "").strip()
            cat_raw = (r.get("category") or "").strip()
            label = file_label
            if name == "supplements.csv":
                label = "sexual_health_drug" if "sexual-health claim" in cat_raw else NONE
            if name == "chemicals_cas.csv":
                m = _CAS.search(desc)
                if m and m.group(1) in cas_listed:
                    dropped["chemicals_cas.csv: CAS on the repo's lists"] += 1
                    continue
            category = cat_raw if (name in MARKETPLACE_CATEGORY_FILES and not cat_raw.startswith("review-site")) else ""
            topic = _topic(cat_raw)
            if name == "vape.csv":
                group = cat_raw or ("us:" + title.split()[0].casefold())
            elif topic and by_topic:
                group = "topic:" + topic
            else:
                group = f"row:{i}"
            rows.append(Row(listing_text(title, (), category, desc), label, name, group,
                            bucket(seed, name, group), title, category, desc))
    return RealData(rows, files, dropped)


def _topic(category: str) -> str:
    m = _TOPIC.match(category or "")
    return m.group(1).casefold() if m else ""
