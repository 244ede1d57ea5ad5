"""Files that appear whole or not at all, and the names of a run's files next to its output."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_writer(path: Path) -> Iterator[Any]:
    """A binary file that appears under ``path`` only when the block completes: written to a
    temporary file in the same directory, fsynced and renamed. On any exception (Ctrl-C,
    SIGTERM) the temporary file is removed and ``path`` is left as it was. (A SIGKILL leaves a
    ``.NAME.*.tmp`` file behind, never a half ``path``.)"""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; the result should look like any new file
        with os.fdopen(fd, "wb", buffering=1 << 16) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    with atomic_writer(path) as fh:
        fh.write(json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=False).encode())


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def output_stem(output: Path) -> Path:
    """``out.jsonl`` -> ``out`` (same folder): the run's other files are named ``out.errors.jsonl``,
    ``out.report.md`` …"""
    name = output.name
    return output.with_name(name[: -len(".jsonl")]) if name.endswith(".jsonl") else output


def default_errors_path(output: Path) -> Path:
    return output_stem(output).with_name(output_stem(output).name + ".errors.jsonl")


def sibling(output: Path, suffix: str) -> Path:
    """``sibling(Path("d/out.jsonl"), ".report.md")`` -> ``d/out.report.md``."""
    stem = output_stem(output)
    return stem.with_name(stem.name + suffix)
