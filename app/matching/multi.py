"""The multi-pattern engine of the matcher, behind one small class.

:class:`LiteralSet` holds every lexicon key of one view and, optionally, every lexicon regex as a
*screen*. With Hyperscan (the default) both go into one database, so one pass over a field gives

* every occurrence of every key, overlapping ones included, as ``(key index, start, end)`` in
  characters of the Python string (Hyperscan works on UTF-8 bytes; offsets are converted back);
* which regexes can match the field at all: they are compiled in Hyperscan's *prefilter* mode,
  which matches a superset (it approximates what it cannot express, such as look-behinds, by
  matching more), so Python's ``re`` -- whose matches are the ones that count -- runs only where it
  can find something.

Why Hyperscan rather than a classic Aho-Corasick automaton: with ~10,000 keys the automaton is
megabytes of transition tables that the rest of the engine's work evicts from the CPU caches between
two scans; Hyperscan's literal matchers use small SIMD tables. Without Hyperscan the class falls back
to ``ahocorasick_rs`` (the Rust aho-corasick crate) and reports every regex as possible.
"""

from __future__ import annotations

import threading

import ahocorasick_rs
import numpy as np

try:  # declared dependency; the fallback keeps the engine correct where no wheel exists
    import hyperscan
except ImportError:  # pragma: no cover
    hyperscan = None


def _escape(key: str) -> bytes:
    return "".join(f"\\x{b:02x}" for b in key.encode("utf-8")).encode("ascii")


class LiteralSet:
    """Keys (with a value each) and an optional screen of regexes."""

    def __init__(self, items: dict[str, object], screen: list[str] | None = None, use_hyperscan: bool = True):
        self.keys = keys = list(items)
        self.values = [items[k] for k in keys]
        self.screen_size = len(screen or ())
        self._klen = [len(k) for k in keys]
        self._blen = [len(k.encode("utf-8")) for k in keys]
        self._db = None
        self._ac = None
        self._local = threading.local()
        if hyperscan is not None and use_hyperscan and (keys or screen):
            exprs = [_escape(k) for k in keys]
            flags = [0] * len(keys)
            if screen:
                exprs += [r.encode("utf-8") for r in screen]
                flags += [hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP | hyperscan.HS_FLAG_CASELESS
                          | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER
                          | hyperscan.HS_FLAG_ALLOWEMPTY] * len(screen)
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
            self._db = db
        elif keys:
            # the contiguous NFA, not the DFA: several times smaller, and faster where the work between
            # two scans evicts the automaton from the CPU caches
            self._ac = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard,
                                                  implementation=ahocorasick_rs.Implementation.ContiguousNFA)

    def __len__(self) -> int:
        return len(self.values)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """All matches of the keys, overlapping ones included, as ``(key index, start, end)``."""
        return self.scan(text)[0]

    def scan(self, text: str) -> tuple[list[tuple[int, int, int]], set[int] | None]:
        """The matches of the keys, and the indexes of the screen's regexes that can match ``text``
        (``None``: cannot tell, run them all)."""
        if self._db is None:
            if self._ac is None:
                return [], None
            try:
                return self._ac.find_matches_as_indexes(text, overlapping=True), None
            except UnicodeEncodeError:  # a lone surrogate (normalised text has none): no match through it
                return self._ac.find_matches_as_indexes(text.encode("utf-16", "surrogatepass").decode(
                    "utf-16", "replace"), overlapping=True), None
        data = text.encode("utf-8", "surrogatepass")
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # a scratch space serves one scan at a time: one per thread
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        hits: list[tuple[int, int]] = []
        nk = len(self.keys)
        screened: set[int] = set()

        def on_match(i: int, _from: int, to: int, _flags: int, _ctx) -> None:
            if i < nk:
                hits.append((i, to))
            else:
                screened.add(i - nk)

        self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        if not hits:
            return [], screened
        klen = self._klen
        if len(data) == len(text):  # ASCII: bytes are characters
            return [(i, to - klen[i], to) for i, to in hits], screened
        # character index of a byte = number of character starts at or before it, minus one
        starts = np.flatnonzero((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80)
        blen = self._blen
        firsts = [to - blen[i] for i, to in hits]
        where = np.searchsorted(starts, firsts + [to - 1 for _, to in hits], side="right").tolist()
        n = len(hits)
        out = []
        for k, (i, _) in enumerate(hits):
            if data[firsts[k]] & 0xC0 == 0x80:
                continue  # starts inside a character (a surrogate's bytes): not a match of the text
            out.append((i, where[k] - 1, where[n + k]))
        return out, screened
