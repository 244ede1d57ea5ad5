"""The two multi-pattern engines of the matcher, behind small classes.

* :class:`LiteralSet`: every lexicon key of one view in one Aho-Corasick automaton
  (``ahocorasick_rs``, the Rust aho-corasick crate): all overlapping matches of all keys in one
  pass, as ``(key index, start, end)`` in characters of the Python string. It is built in tens of
  milliseconds. (Hyperscan was measured as well: no faster in the engine on ~1 KB listings, and
  ~20x slower to build.)
* :class:`PatternScreen`: every lexicon regex in one Hyperscan database compiled in *prefilter*
  mode: one pass says which patterns can match a text at all (a superset: Hyperscan approximates
  what it cannot express, such as look-behinds, by matching more), so Python's ``re`` -- whose
  matches are the ones that count -- runs only where it can find something. Compiling the
  database takes a second or two, so it is kept per process for each set of regexes (a reload
  that leaves the patterns alone, and every engine a test builds, reuse it) and serialised to a
  cache directory for the next process.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import ahocorasick_rs

try:  # declared dependency; without it every pattern simply runs
    import hyperscan
except ImportError:  # pragma: no cover
    hyperscan = None


class LiteralSet:
    """Keys and the value of each; :meth:`find` returns ``[(key index, start, end), ...]``."""

    __slots__ = ("keys", "values", "_ac")

    def __init__(self, items: dict[str, object]):
        self.keys = keys = list(items)
        self.values = [items[k] for k in keys]
        # the contiguous NFA, not the DFA: several times smaller, and faster in the engine, where the
        # work between two scans evicts the automaton from the CPU caches (68 vs 89 us per listing)
        self._ac = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard,
                                              implementation=ahocorasick_rs.Implementation.ContiguousNFA) if keys else None

    def __len__(self) -> int:
        return len(self.values)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """All matches, overlapping ones included, as ``(key index, start, end)``."""
        if self._ac is None:
            return []
        try:
            return self._ac.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:  # a lone surrogate (normalised text has none): no match through it
            return self._ac.find_matches_as_indexes(text.encode("utf-16", "surrogatepass").decode(
                "utf-16", "replace"), overlapping=True)


_DATABASES: dict[tuple[str, ...], object] = {}
_DATABASES_LOCK = threading.Lock()
_FLAGS = ("UTF8", "UCP", "CASELESS", "SINGLEMATCH", "PREFILTER", "ALLOWEMPTY")


def cache_dir() -> Path | None:
    """Where compiled pattern databases are kept between processes: ``$MODERATE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/moderate`` (``~/.cache/moderate``); ``MODERATE_CACHE_DIR=off`` keeps none."""
    env = os.environ.get("MODERATE_CACHE_DIR")
    if env == "off":
        return None
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "moderate"


def _compile(regexes: tuple[str, ...]):
    flags = 0
    for name in _FLAGS:
        flags |= getattr(hyperscan, f"HS_FLAG_{name}")
    # a compiled database depends on the patterns, the flags and the Hyperscan build: so does its name
    digest = hashlib.sha256(json.dumps([hyperscan.__version__, _FLAGS, regexes]).encode()).hexdigest()
    where = cache_dir()
    path = where / f"screen-{digest}.hsdb" if where else None
    if path is not None and path.is_file():
        try:
            return hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
        except Exception:  # noqa: BLE001 - a damaged cache file: compile again
            pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[r.encode("utf-8") for r in regexes], ids=list(range(len(regexes))),
               elements=len(regexes), flags=[flags] * len(regexes))
    if path is not None:
        try:  # written whole under a temporary name, then renamed: a reader never sees half a file
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(hyperscan.dumpb(db))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: the next process compiles again
    return db


def _database(regexes: tuple[str, ...]):
    """The compiled prefilter database of ``regexes``: one per process for each set of patterns
    (every engine a test builds, and a reload that leaves the patterns alone, reuse it), and kept
    on disk for the next process (rescan workers, restarts): compiling takes a second or two."""
    with _DATABASES_LOCK:
        db = _DATABASES.get(regexes)
        if db is None:
            db = _compile(regexes)
            if len(_DATABASES) > 8:  # (a long-running service reloading changed lexicons)
                _DATABASES.clear()
            _DATABASES[regexes] = db
        return db


class PatternScreen:
    """Which of ``regexes`` can match a text. ``None`` from :meth:`possible` means "cannot tell, run
    them all" (no Hyperscan, or a text that is not valid UTF-8)."""

    def __init__(self, regexes: list[str]):
        self.size = len(regexes)
        self._db = _database(tuple(regexes)) if regexes and hyperscan is not None else None
        self._local = threading.local()

    def possible(self, text: str) -> set[int] | None:
        if self._db is None:
            return None
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # a scratch space serves one scan at a time: one per thread
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        found: set[int] = set()
        self._db.scan(data, match_event_handler=lambda i, _s, _e, _f, _c: found.add(i), scratch=scratch)
        return found
