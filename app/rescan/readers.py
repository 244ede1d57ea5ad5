"""Streaming readers of a listing catalogue: JSON lines, CSV and Parquet, in fixed-size chunks.

A chunk is ``chunk_size`` consecutive input positions (JSONL lines, CSV data rows, Parquet rows;
blank lines and bad rows count as positions), so chunk ``k`` always covers positions
``k*chunk_size + 1 … (k+1)*chunk_size`` of the same file: the unit of checkpointing. Only the
chunks in flight are in memory (memory is flat in the catalogue size). Parsing into listings
happens in the workers (:mod:`app.rescan.worker`); a reader only cuts the file.

* JSONL: the payload is the raw lines (bytes); progress in bytes.
* CSV: a header row naming Listing fields (``listing_id``, ``title``, ``description``,
  ``category``, ``keywords``, ``attributes``, ``seller``, ``destinations``, ``as_of``; the last four
  and ``keywords`` as JSON text). UTF-8 with or without BOM; the payload is ``(line, cells)`` per
  row (or ``(line, "problem")`` for a row the CSV parser rejects); progress in bytes.
* Parquet (pyarrow): the same columns, nested ones native (list, map, struct) or JSON text; the
  payload is a pyarrow RecordBatch; progress in rows.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Container, Iterator, Optional

LISTING_FIELDS = ("listing_id", "title", "description", "keywords", "category", "attributes", "seller",
                  "destinations", "as_of")
FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
               ".parquet": "parquet", ".pq": "parquet"}


class InputError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, bad header): a usage error."""


@dataclass
class Chunk:
    index: int
    start: int          # first input position (1-based line / row number)
    count: int          # positions in the chunk (blank lines and bad rows included)
    units: int          # progress units the chunk spans (bytes or rows)
    payload: Any


def detect_format(path: Path, explicit: Optional[str] = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise InputError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        return explicit
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of {path.name} from its extension: pass --format "
                         f"({', '.join(FORMATS)})")
    return fmt


def _check_columns(columns: list[str], ignore: tuple[str, ...], where: str) -> list[str]:
    unknown = [c for c in columns if c not in LISTING_FIELDS and c not in ignore]
    if unknown:
        raise InputError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))} (Listing fields are "
                         f"{', '.join(LISTING_FIELDS)}; skip others with --ignore-column)")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputError(f"{where}: column(s) {', '.join(map(repr, dupes))} appear twice")
    for need in ("listing_id", "title"):
        if need not in columns:
            raise InputError(f"{where}: there is no {need!r} column")
    return [c for c in columns if c not in ignore]


class Reader:
    fmt: str
    pos_key: str        # "line" or "row": how the errors file names a position
    unit: str           # "bytes" or "rows"
    total_units: Optional[int]
    header: Optional[list[str]] = None  # CSV: the kept columns, in file order; None = all

    def chunks(self, chunk_size: int, skip: Container[int] = ()) -> Iterator[Chunk]:
        raise NotImplementedError


class JsonlReader(Reader):
    fmt, pos_key, unit = "jsonl", "line", "bytes"

    def __init__(self, path: Path):
        self.path = path
        self.total_units = path.stat().st_size

    def chunks(self, chunk_size: int, skip: Container[int] = ()) -> Iterator[Chunk]:
        with open(self.path, "rb", buffering=1 << 20) as fh:
            index, start = 0, 1
            while True:
                before = fh.tell()
                lines = list(islice(fh, chunk_size))
                if not lines:
                    return
                if index not in skip:
                    yield Chunk(index, start, len(lines), fh.tell() - before, lines)
                index += 1
                start += len(lines)


class CsvReader(Reader):
    fmt, pos_key, unit = "csv", "row", "bytes"

    def __init__(self, path: Path, ignore: tuple[str, ...] = ()):
        self.path = path
        self.total_units = path.stat().st_size
        with self._open() as (_, reader):
            try:
                header = next(reader)
            except StopIteration:
                raise InputError(f"{path.name}: the CSV file is empty (no header row)") from None
            except csv.Error as exc:
                raise InputError(f"{path.name}: the CSV header cannot be read: {exc}") from None
        self.all_columns = [h.strip() for h in header]
        self.header = _check_columns(self.all_columns, ignore, f"{path.name} (CSV header)")
        self.ignore = ignore

    @contextmanager
    def _open(self) -> Iterator[tuple[Any, Any]]:
        """(the binary file, for progress in bytes; a csv.reader). Bad UTF-8 is kept as surrogates and
        reported per row by the worker."""
        raw = open(self.path, "rb", buffering=1 << 20)  # noqa: SIM115
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield raw, csv.reader(text, strict=True)
        finally:
            text.close()

    def chunks(self, chunk_size: int, skip: Container[int] = ()) -> Iterator[Chunk]:
        limit = csv.field_size_limit()
        csv.field_size_limit(min(sys.maxsize, 1 << 31))  # a 5 MB cell is a row error, not a crash
        try:
            with self._open() as (raw, reader):
                next(reader)  # header
                width = len(self.all_columns)
                keep = [i for i, c in enumerate(self.all_columns) if c not in self.ignore]
                index, start, before = 0, 1, raw.tell()
                rows: list[tuple[int, Any]] = []
                while True:
                    try:
                        cells = next(reader)
                        if not cells:
                            item: Any = None  # blank line
                        elif len(cells) != width:
                            item = f"the row has {len(cells)} fields; the header has {width}"
                        else:
                            item = [cells[i] for i in keep] if len(keep) != width else cells
                    except StopIteration:
                        break
                    except csv.Error as exc:
                        item = f"CSV syntax: {exc}"
                    rows.append((reader.line_num, item))
                    if len(rows) == chunk_size:
                        after = raw.tell()
                        if index not in skip:
                            yield Chunk(index, start, len(rows), after - before, rows)
                        index, start, before, rows = index + 1, start + len(rows), after, []
                if rows and index not in skip:
                    yield Chunk(index, start, len(rows), raw.tell() - before, rows)
        finally:
            csv.field_size_limit(limit)


class ParquetReader(Reader):
    fmt, pos_key, unit = "parquet", "row", "rows"

    def __init__(self, path: Path, ignore: tuple[str, ...] = ()):
        import pyarrow.parquet as pq

        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a non-Parquet file
            raise InputError(f"{path.name}: not a readable Parquet file: {exc}") from None
        self.columns = _check_columns(list(self._file.schema_arrow.names), ignore, f"{path.name} (Parquet schema)")
        self.total_units = self._file.metadata.num_rows

    def chunks(self, chunk_size: int, skip: Container[int] = ()) -> Iterator[Chunk]:
        import pyarrow as pa

        index, start = 0, 1
        pending: list[Any] = []
        held = 0

        def cut(final: bool):
            nonlocal index, start, pending, held
            while held >= chunk_size or (final and held):
                n = min(chunk_size, held)
                table = pa.Table.from_batches(pending)
                piece, rest = table.slice(0, n), table.slice(n)
                if index not in skip:
                    batches = piece.combine_chunks().to_batches()
                    batch = batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=piece.schema)
                    yield Chunk(index, start, n, n, batch)
                index, start = index + 1, start + n
                pending, held = rest.to_batches(), rest.num_rows

        for batch in self._file.iter_batches(batch_size=chunk_size, columns=self.columns, use_threads=False):
            pending.append(batch)
            held += batch.num_rows
            yield from cut(False)
        yield from cut(True)


def open_reader(path: Path, fmt: Optional[str] = None, ignore: tuple[str, ...] = ()) -> Reader:
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise InputError(f"cannot read {path}: it {what}")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {path}: permission denied")
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        return JsonlReader(path)
    if fmt == "csv":
        return CsvReader(path, ignore)
    return ParquetReader(path, ignore)
