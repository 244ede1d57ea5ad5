"""Normalised views of a field with a map from every normalised character to the original text.

Speed: view A is computed with C-level string operations (one ``str.translate`` over a folding
table, one regex for whitespace runs, OpenCC for Han text). The per-character offset map and the
transformation flags are only built when a span is looked up (a match), by a slower character loop
that applies exactly the same folding table and passes -- and checks that it arrives at the same text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_left
from importlib import resources

import numpy as np

from app.normalization.html import html_to_text

FLAG_NORMALIZED = 1   # hygiene changed the character (NFKC, case, width, t2s, entity)
FLAG_ZERO_WIDTH = 2   # a zero-width / format character was removed right before this character
FLAG_HOMOGLYPH = 4    # a look-alike character (Cyrillic/Greek/...) folded to Latin
FLAG_SEPARATOR = 8    # separators between single characters were removed right before this character
FLAG_LEET = 16        # a digit or symbol read as a letter
FLAG_MASK = 32        # a letter hidden behind "*" ("st*n g*n")
DEOBF_FLAGS = FLAG_ZERO_WIDTH | FLAG_HOMOGLYPH | FLAG_SEPARATOR | FLAG_LEET | FLAG_MASK
# Flags that describe something removed *before* the character: inside a span they count only when
# they are not on its first character.
_BEFORE_FLAGS = FLAG_ZERO_WIDTH | FLAG_SEPARATOR

_LABELS = ((FLAG_ZERO_WIDTH, "zero_width"), (FLAG_HOMOGLYPH, "homoglyph"),
           (FLAG_SEPARATOR, "separator"), (FLAG_LEET, "leet"), (FLAG_MASK, "masked"))


def transform_labels(flags: int) -> list[str]:
    """Names of the de-obfuscation passes in ``flags`` (evidence ``transforms``)."""
    return [name for bit, name in _LABELS if flags & bit]


_SPACE_CHARS = ("\t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                "\u200a\u2028\u2029\u202f\u205f\u3000-_\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
                "\ufe58\ufe63\uff0d")
_SPACE_TABLE = str.maketrans({c: " " for c in _SPACE_CHARS})
# The same folding for printable ASCII as one 256-byte table (bytes.translate is C-fast).
_ASCII_FOLD = bytes((ord(chr(i).lower().translate(_SPACE_TABLE)) if i < 128 else i) for i in range(256))

# Format characters that are not category Cf but are used the same way.
_INVISIBLE_EXTRA = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u17b4", "\u17b5"}
# Leetspeak skeleton for view B; lexicon terms are folded with the same table.
_SKELETON = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
_ASCII_SKELETON = bytes((ord(chr(i).translate(_SKELETON)) if i < 128 else i) for i in range(256))


def _skeleton(text: str) -> str:
    # The skeleton only rewrites ASCII characters, and UTF-8 never uses ASCII bytes inside a
    # multi-byte sequence, so a byte table is exact for any text (and C-fast).
    return text.encode("utf-8", "surrogatepass").translate(_ASCII_SKELETON).decode("utf-8", "surrogatepass")
_SYMBOL_LEET = {"@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "¢": "c"}
_SYMBOL_RE = re.compile(r"[@$!|+€¢](?=\w)")
# what the leet fold rewrites (see _leet_positions): a leet digit, or a symbol before a word
# character (written to start with one character class, which the regex engine scans for fast)
_REVEAL_RE = re.compile(r"[013457@$!|+€¢](?:(?<=[013457])|(?=\w))")
_LEET_SOURCE = frozenset("013457") | frozenset(_SYMBOL_LEET)
# "*" standing for a letter inside a word; lexicon terms get masked variants in view B (matcher)
_MASK_RE = re.compile(r"\*(?<=[^\W\d_]\*)(?=[^\W\d_])")  # (starts with the literal: fast)
_LEET_SOURCE_RE = re.compile("[" + re.escape("".join(sorted(_LEET_SOURCE))) + "]")
# Where view B reads a character as another (``NormText.b_reveals``): the skeleton rewrites every
# leet digit, and the symbol pass every symbol that _SYMBOL_RE matches. On long texts the digits are
# found with NumPy over the code points (a catalogue line has dozens of digits).
_LEET_DIGIT_LUT = np.zeros(128, dtype=np.bool_)
_LEET_DIGIT_LUT[[ord(c) for c in "013457"]] = True
_REVEALS_NUMPY_MIN = 1024  # characters; below this the regex is as fast
# Runs of >= 3 single characters separated by separators: "v a p e", "v.a.p.e"; for Han, two
# single characters are already a word: "烟 油".
_SEP = r"[\s.*·•/\\|~,+:;'\"_]{1,3}"
_HAN_CHAR = r"[\u3400-\u9fff\uf900-\ufaff]"
# (a run does not start or end against "*" inside a word: "st*n g*n" is masking, not spacing)
_SEP_RUN = re.compile(rf"\b\w(?<!\w\*\w)(?:{_SEP}\w\b){{2,}}(?!\*\w)|(?<!\w){_HAN_CHAR}(?:{_SEP}{_HAN_CHAR}(?!\w))+")
# The same runs found faster (see _sep_runs): each branch on its own, and the Latin one written to
# start at its first separator -- a character class Python's regex engine skips to -- rather than at
# a word boundary it would have to test at every position. A match starts one character before
# the separator. ASCII text uses the ASCII flag, where \w means the same and is ~3x faster.
_SEP_CHARS = r"[\s.*·•/\\|~,+:;'\"_]"
_SEP_LATIN_FAST = rf"{_SEP_CHARS}(?<=\b\w{_SEP_CHARS})(?<!\w\*\w{_SEP_CHARS}){_SEP_CHARS}{{0,2}}\w\b(?:{_SEP}\w\b)+(?!\*\w)"
_SEP_LATIN = re.compile(_SEP_LATIN_FAST)
_SEP_LATIN_ASCII = re.compile(_SEP_LATIN_FAST, re.ASCII)
_SEP_HAN = re.compile(rf"{_HAN_CHAR}(?<!\w{_HAN_CHAR})(?:{_SEP}{_HAN_CHAR}(?!\w))+")


def _sep_runs(a: str) -> list[tuple[int, int]]:
    """The spans ``_SEP_RUN.finditer(a)`` finds, found faster: the two branches separately, merged;
    where a Latin and a Han run overlap (the alternation would have chosen between them), the
    alternation itself decides."""
    if a.isascii():
        return [(m.start() - 1, m.end()) for m in _SEP_LATIN_ASCII.finditer(a)]
    latin = [(m.start() - 1, m.end()) for m in _SEP_LATIN.finditer(a)]
    han = [m.span() for m in _SEP_HAN.finditer(a)]
    if not han:
        return latin
    if not latin:
        return han
    spans = sorted(latin + han)
    if any(e > s2 for (_, e), (s2, _) in zip(spans, spans[1:])):
        return [m.span() for m in _SEP_RUN.finditer(a)]
    return spans
_WORD_PIECE = re.compile(r"\w+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[^\W\d_]+")
# the _WORD matches made of non-ASCII letters only (a maximal run with no letter on either side)
_NON_ASCII_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_\x00-\x7f]++(?![^\W\d_])")
_NON_ASCII_LETTERS = re.compile(r"[^\W\d_\x00-\x7f]+")
_LETTER = re.compile(r"[^\W\d_]").match
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MULTISPACE = re.compile(" {2,}")
# printable ASCII | CJK ideographs (folding leaves both as they are, bar case) | anything else
_SEGMENT = re.compile(r"(?P<ascii>[ -~]+)|(?P<cjk>[\u3400-\u4dbf\u4e00-\u9fff]+)|[^ -~\u3400-\u4dbf\u4e00-\u9fff]+")



def _is_invisible(ch: str) -> bool:
    o = ord(ch)
    return unicodedata.category(ch) == "Cf" or ch in _INVISIBLE_EXTRA or 0xFE00 <= o <= 0xFE0F \
        or 0xE0100 <= o <= 0xE01EF


def _fold_one(ch: str) -> str | None:
    """How view A writes one character: ``None`` to delete it, else the folded text."""
    o = ord(ch)
    if o < 128:
        if ch.isprintable():
            return ch.lower().translate(_SPACE_TABLE)
        return " " if ch in "\t\n\r\f\v" else None
    if _is_invisible(ch):
        return None
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cs"):
        return " " if ch in "\x85" else None   # control characters, lone surrogates
    if 0x0300 <= o <= 0x036F or 0x064B <= o <= 0x065F or 0x1AB0 <= o <= 0x1AFF or 0x20D0 <= o <= 0x20FF:
        return None                           # combining diacritics (also "zalgo"), Arabic tashkeel
    s = unicodedata.normalize("NFKC", ch).casefold()
    if any(0x00C0 <= ord(c) < 0x0530 or 0x1E00 <= ord(c) < 0x2000 for c in s):
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
        s = unicodedata.normalize("NFC", s)
    return s.translate(_SPACE_TABLE)


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _non_ascii(text: str) -> str:
    """The non-ASCII characters of ``text`` (set tests on them are cheaper than on the whole)."""
    return "".join(_NON_ASCII_RUN.findall(text))


NOT_ONE_TO_ONE: set[str] = set()  # characters seen so far that fold to nothing or to several


class _FoldTable(dict):
    """``str.translate`` table computed on first sight of each character."""

    def __missing__(self, o: int):
        r = _fold_one(chr(o))
        if r is None or len(r) != 1:
            NOT_ONE_TO_ONE.add(chr(o))
        self[o] = r
        return r


class _CollapseMap:
    """The offset map when only runs of spaces were collapsed: view-A position ``j`` is original
    position ``j`` plus the characters removed by earlier runs; a kept space spans its whole run.
    Built on first use: most fields never have a span looked up."""

    __slots__ = ("_spaced", "kept", "removed", "run_end")

    def __init__(self, spaced: str):
        self._spaced = spaced
        self.kept: list[int] | None = None  # view-A position of each run's kept space
        self.removed: list[int] = []        # characters removed by this run and all earlier ones
        self.run_end: list[int] = []        # original end of each run

    def _build(self) -> None:
        kept: list[int] = []
        total = 0
        for m in _MULTISPACE.finditer(self._spaced):
            a, b = m.span()
            kept.append(a - total)
            total += b - a - 1
            self.removed.append(total)
            self.run_end.append(b)
        self.kept = kept

    def start(self, j: int) -> int:
        if self.kept is None:
            self._build()
        k = bisect_left(self.kept, j)
        return j + (self.removed[k - 1] if k else 0)

    def end(self, j: int) -> int:
        if self.kept is None:
            self._build()
        k = bisect_left(self.kept, j)
        if k < len(self.kept) and self.kept[k] == j:
            return self.run_end[k]
        return j + (self.removed[k - 1] if k else 0) + 1

    def lists(self, n: int) -> tuple[list[int], list[int]]:
        return [self.start(j) for j in range(n)], [self.end(j) for j in range(n)]


FOLD = _FoldTable()
for _o in range(128):
    FOLD[_o]  # noqa: B018 - warm the ASCII part
# FOLD's ASCII part as a byte table plus the bytes it deletes (control characters)
_ASCII_FOLD_ALL = bytes((ord(FOLD[i]) if FOLD[i] else i) if i < 128 else i for i in range(256))
_ASCII_DELETE = bytes(i for i in range(128) if not FOLD[i])
# the runs that need the fold table: not ASCII, and not the CJK ideographs, which fold to themselves
# (as _SEGMENT assumes too; tests/test_fast_paths.py checks every one of them)
_NON_ASCII_SPLIT = re.compile(r"([^\x00-\x7f\u3400-\u4dbf\u4e00-\u9fff]+)")
_FOLD_RUNS_MAX = 400


def fold(text: str) -> str:
    """``text.translate(FOLD)``, faster: the ASCII characters through a byte table in one C call, and
    ``str.translate`` (a dictionary look-up per character) only over the runs of other characters."""
    if text.isascii():
        if text.isprintable():
            return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii")
        return text.encode("ascii").translate(_ASCII_FOLD_ALL, _ASCII_DELETE).decode("ascii")
    data = text.encode("utf-8", "surrogatepass").translate(_ASCII_FOLD_ALL, _ASCII_DELETE)
    parts = _NON_ASCII_SPLIT.split(data.decode("utf-8", "surrogatepass"))
    if len(parts) > _FOLD_RUNS_MAX:
        return "".join(parts).translate(FOLD)  # (FOLD leaves folded ASCII as it is)
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].translate(FOLD)
    return "".join(parts)


def _load_homoglyphs() -> dict[str, str]:
    """Non-Latin characters that look like one Latin letter (Unicode confusables, UTS #39)."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[str, str] = {}
    # Characters that are their own case fold first: an upper-case letter folds onto the lower-case
    # one, whose own look-alike wins (Cyrillic І looks like "l", but folds to і, which looks like "i").
    items = sorted(data.items(), key=lambda kv: len(kv[0]) == 1 and (FOLD[ord(kv[0])] or kv[0]) != kv[0])
    for char, glyphs in items:
        if len(char) != 1 or char.isascii() or not char.isalpha():
            continue
        if unicodedata.name(char, "").startswith("LATIN"):
            continue  # a Latin letter of another language (Turkish ı) is spelling, not disguise
        if (FOLD[ord(char)] or "").isascii():
            continue  # folding already makes it Latin (full width, mathematical letters)
        for g in glyphs:
            c = g["c"]
            key = FOLD[ord(char)] or char
            if len(key) == 1 and unicodedata.name(key, "").startswith("LATIN"):
                break  # it folds to a Latin letter of another language (Turkish ı): spelling
            if len(c) == 1 and c.isascii() and c.isalpha() and len(key) == 1:
                table.setdefault(key, c.lower())
                break
    return table


def _collapse_spaces(text: str, starts: list[int], ends: list[int], flags: bytearray):
    """Runs of spaces become one space that covers the whole run in the original."""
    keep_parts: list[str] = []
    new_s: list[int] = []
    new_e: list[int] = []
    new_f = bytearray()
    pos = 0
    for m in _MULTISPACE.finditer(text):
        a, b = m.span()
        keep_parts.append(text[pos:a + 1])
        new_s.extend(starts[pos:a + 1])
        new_e.extend(ends[pos:a + 1])
        new_f.extend(flags[pos:a + 1])
        new_e[-1] = ends[b - 1]
        if b < len(flags):
            flags[b] |= max(flags[a + 1:b]) & FLAG_ZERO_WIDTH
        pos = b
    keep_parts.append(text[pos:])
    new_s.extend(starts[pos:])
    new_e.extend(ends[pos:])
    new_f.extend(flags[pos:])
    return "".join(keep_parts), new_s, new_e, new_f


class NormText:
    """The two normalised views of one field and their maps back to ``original``.

    ``starts``/``ends``/``flags`` of view A are materialised on first use (:meth:`maps`)."""

    __slots__ = ("original", "text", "_starts", "_ends", "_flags", "_recipe", "deobf", "b2a", "bflags", "bpre",
                 "_any", "_reveals")

    def __init__(self, original: str, text: str, recipe, deobf: str, b2a: list[int] | None,
                 bflags: bytearray | None, bpre: str):
        self.original = original
        self.text = text            # view A
        self._recipe = recipe       # None: identity map, no flags; else how to rebuild the map
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None
        self._flags: bytearray | None = None
        self._any: int | None = None
        self._reveals: list[int] | None = None
        self.deobf = deobf          # view B
        self.b2a = b2a              # None = identity map B -> A
        self.bflags = bflags        # flags added by view B (separator, homoglyph)
        self.bpre = bpre            # view B before the leet fold

    # --- view A -------------------------------------------------------------------------------
    def _materialise(self) -> None:
        if isinstance(self._recipe, _CollapseMap):
            self._starts, self._ends = self._recipe.lists(len(self.text))
            self._recipe = None
            return
        recipe, self._recipe = self._recipe, None
        text, self._starts, self._ends, self._flags = recipe()
        if text != self.text:  # the two code paths must agree; a mismatch is a bug, say so loudly
            raise AssertionError(f"normalisation map mismatch for {self.original[:80]!r}")

    def _deobf_any(self) -> int:
        """Whether any character of view A carries a de-obfuscation flag (computed once)."""
        if self._any is None:
            self._any = 0
            for v in set(self._flags or ()):
                self._any |= v & DEOBF_FLAGS
        return self._any

    def maps(self) -> tuple[list[int], list[int]] | None:
        """The per-character ``(starts, ends)`` of view A in the original, or ``None`` for identity."""
        if self._recipe is not None:
            self._materialise()
        return None if self._starts is None else (self._starts, self._ends)

    @property
    def flags(self) -> bytearray | None:
        if isinstance(self._recipe, _CollapseMap):
            return None  # collapsing spaces flags nothing
        if self._recipe is not None:
            self._materialise()
        return self._flags

    def span_a(self, s: int, e: int) -> tuple[int, int]:
        recipe = self._recipe
        if isinstance(recipe, _CollapseMap):
            return recipe.start(s), recipe.end(e - 1)
        if recipe is not None:
            self._materialise()
        if self._starts is None:
            return s, e
        return self._starts[s], self._ends[e - 1]

    def flags_a(self, s: int, e: int) -> int:
        flags = self.flags
        if flags is None or e <= s or not self._deobf_any():
            return 0  # (only the de-obfuscation bits are ever read)
        acc = flags[s] & ~_BEFORE_FLAGS
        for f in flags[s + 1:e]:
            acc |= f
        return acc

    # --- view B -------------------------------------------------------------------------------
    def b_to_a(self, s: int, e: int) -> tuple[int, int]:
        if self.b2a is None:
            return s, e
        return self.b2a[s], self.b2a[e - 1] + 1

    def span_b(self, s: int, e: int) -> tuple[int, int]:
        return self.span_a(*self.b_to_a(s, e))

    def flags_b(self, s: int, e: int) -> int:
        """All flags of a view-B span, view A's included."""
        a_s, a_e = self.b_to_a(s, e)
        return self.flags_b_own(s, e) | self.flags_a(a_s, a_e)

    def b_reveals(self) -> list[int]:
        """Sorted view-B positions where view B differs from view A in a way that can reveal
        something (a separator removed before it, a look-alike folded, a digit or symbol read as a
        letter). Empty: nothing in view B is new, and it need not be searched at all."""
        got = self._reveals
        if got is None:
            pre = self.bpre
            sources = [_leet_positions(pre)]
            if "*" in pre:
                sources.append([m.start() for m in _MASK_RE.finditer(pre)])
            if self.bflags is not None:
                sources.append(np.flatnonzero(np.frombuffer(self.bflags, dtype=np.uint8)).tolist())
            sources = [x for x in sources if x]
            got = sources[0] if len(sources) == 1 else sorted(set().union(*sources)) if sources else []
            self._reveals = got
        return got

    def has_masks(self) -> bool:
        """Whether a "*" stands inside a word in view B."""
        return "*" in self.bpre and _MASK_RE.search(self.bpre) is not None

    def flags_b_own(self, s: int, e: int) -> int:
        """The flags view B adds to a span (separator, homoglyph, leet); cheap: no view-A map."""
        acc = 0
        if self.bflags is not None and e > s:
            acc = self.bflags[s] & ~_BEFORE_FLAGS
            for f in self.bflags[s + 1:e]:
                acc |= f
        pre = self.bpre
        if _MASK_RE.search(pre, s, e):
            acc |= FLAG_MASK
        m = _LEET_SOURCE_RE.search(pre, s, e)
        if m is not None:  # a digit or symbol read as a letter (a symbol only when a letter follows)
            deobf = self.deobf
            for i in range(m.start(), e):
                if pre[i] != deobf[i] and pre[i] in _LEET_SOURCE:
                    acc |= FLAG_LEET
                    break
        return acc

    def method(self, s: int, e: int, flags: int, original_span: tuple[int, int] | None = None) -> str:
        """``deobfuscated`` / ``exact`` / ``normalized`` for a view-A span ``[s, e)`` (whose span in
        the original, when the caller has it already, is ``original_span``)."""
        if flags & DEOBF_FLAGS:
            return "deobfuscated"
        o_s, o_e = original_span or self.span_a(s, e)
        return "exact" if self.original[o_s:o_e].casefold() == self.text[s:e] else "normalized"


def _mixed_words(text: str) -> list[tuple[int, int]]:
    """The spans of the ``_WORD`` matches that mix ASCII letters with other letters, in order.

    Found from the runs of non-ASCII letters (a long Latin text has few): such a run is maximal, so a
    letter next to it is an ASCII one, and a word mixes scripts exactly when one of its runs has an
    ASCII letter beside it."""
    spans: list[tuple[int, int]] = []
    reach = -1
    n = len(text)
    for m in _NON_ASCII_LETTERS.finditer(text):
        s, e = m.span()
        if s < reach:
            continue  # a later run of a word already taken
        if not ((s and text[s - 1] in _ASCII_LETTERS) or (e < n and text[e] in _ASCII_LETTERS)):
            continue
        ws = s
        while ws and _LETTER(text, ws - 1):
            ws -= 1
        reach = _WORD.match(text, ws).end()
        spans.append((ws, reach))
    return spans


def _leet_positions(pre: str) -> list[int]:
    """The positions of ``pre`` (view B before the leet fold) that the fold rewrites: every leet
    digit, and every symbol that stands before a word character (``_SYMBOL_RE``), ascending.
    (``[i for i in range(len(pre)) if pre[i] in _LEET_SOURCE and pre[i] != view_b[i]]``.)"""
    if len(pre) < _REVEALS_NUMPY_MIN:
        return [m.start() for m in _REVEAL_RE.finditer(pre)]
    codes = np.frombuffer(pre.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    digits = np.flatnonzero(_LEET_DIGIT_LUT[np.minimum(codes, 127)]).tolist()
    symbols = [m.start() for m in _SYMBOL_RE.finditer(pre)]
    return sorted(digits + symbols) if symbols else digits


class Normalizer:
    """Builds :class:`NormText` views. Holds the OpenCC converter and the confusables table, so it
    is built once per engine snapshot, never at import time."""

    def __init__(self) -> None:
        import opencc

        self._t2s = opencc.OpenCC("t2s")
        self._homoglyphs = _load_homoglyphs()
        self._homoglyph_chars = frozenset(self._homoglyphs)

    # --- public -------------------------------------------------------------------------------
    def normalize(self, original: str, html: bool = False) -> NormText:
        text, recipe, hg_seen = self._view_a(original, html)
        deobf, b2a, bflags, pre = self._view_b(text, hg_seen)
        return NormText(original, text, recipe, deobf, b2a, bflags, pre)

    def term_a(self, term: str) -> str:
        """A lexicon term folded like view A."""
        return self._view_a(term, False)[0].strip()

    def term_b(self, term: str) -> str:
        """A lexicon term folded like view B (without separator removal)."""
        b = self._fold_homoglyph_tokens(self.term_a(term))
        return _skeleton(_SYMBOL_RE.sub(lambda m: _SYMBOL_LEET[m.group(0)], b))

    # --- view A -------------------------------------------------------------------------------
    def _view_a(self, src: str, html: bool):
        decoded = html_to_text(src, strip_tags=html)
        if decoded is None:
            base, bstarts, bends, changed = src, None, None, ()
        else:
            base, bstarts, bends, changed = decoded
        spaced = fold(base)
        text = _MULTISPACE.sub(" ", spaced) if "  " in spaced else spaced
        folded_homoglyphs = False
        hg_seen = False  # look-alike characters present: view B folds whole look-alike words too
        if not text.isascii():
            if _HAN.search(text):
                text = self._to_simplified(text, positions=False)[0]
            if not self._homoglyph_chars.isdisjoint(_non_ascii(text)):
                hg_seen = True
                text, positions = self._fold_mixed_script(text)
                folded_homoglyphs = bool(positions)
        if decoded is None and not folded_homoglyphs and len(spaced) == len(src) and (
                src.isascii() or NOT_ONE_TO_ONE.isdisjoint(_non_ascii(src))):
            # every character folded to exactly one: only runs of spaces move positions, and no
            # character carries a de-obfuscation flag
            if len(text) == len(src):
                return text, None, hg_seen
            return text, _CollapseMap(spaced), hg_seen
        return text, (lambda: self._build_map(base, bstarts, bends, changed)), hg_seen

    def _build_map(self, base: str, bstarts, bends, changed):
        """The slow path: the same folding, one character at a time, keeping where each came from."""
        parts: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        flags = bytearray()
        pending = 0
        changed_set = set(changed)  # decoded entities and tags: normalisation, not the seller's characters
        for m in _SEGMENT.finditer(base):
            a, b = m.span()
            seg = m.group(0)
            kind = m.lastgroup
            if kind:  # a printable-ASCII or CJK run: folded in bulk
                parts.append(seg.lower().translate(_SPACE_TABLE) if kind == "ascii" else seg)
                if bstarts is None:
                    starts.extend(range(a, b))
                    ends.extend(range(a + 1, b + 1))
                else:
                    starts.extend(bstarts[a:b])
                    ends.extend(bends[a:b])
                out0 = len(flags)
                flags.extend(bytes(b - a))
                if pending:
                    flags[out0] |= pending
                    pending = 0
                for i in changed_set.intersection(range(a, b)) if changed_set else ():
                    flags[out0 + i - a] |= FLAG_NORMALIZED
                continue
            for i, ch in enumerate(seg, a):
                folded = FOLD[ord(ch)]
                if not folded:
                    if folded is None and _is_invisible(ch):
                        pending |= FLAG_ZERO_WIDTH
                    continue
                o_s = bstarts[i] if bstarts is not None else i
                o_e = bends[i] if bends is not None else i + 1
                flag = pending | (FLAG_NORMALIZED if folded != ch or i in changed_set else 0)
                pending = 0
                for c in folded:
                    parts.append(c)
                    starts.append(o_s)
                    ends.append(o_e)
                    flags.append(flag)
        text = "".join(parts)
        if "  " in text:
            text, starts, ends, flags = _collapse_spaces(text, starts, ends, flags)
        if not text.isascii():
            if _HAN.search(text):
                text, positions = self._to_simplified(text)
                for i in positions:
                    flags[i] |= FLAG_NORMALIZED
            if not self._homoglyph_chars.isdisjoint(_non_ascii(text)):
                text, positions = self._fold_mixed_script(text)
                for i in positions:
                    flags[i] |= FLAG_HOMOGLYPH
        return text, starts, ends, flags

    def _to_simplified(self, text: str, positions: bool = True) -> tuple[str, list[int]]:
        """The text in simplified characters and (``positions``) where it changed."""
        conv = self._t2s.convert(text)
        if conv == text:
            return text, []
        if len(conv) != len(text):  # a phrase conversion changed the length: go char by char
            conv = "".join(self._t2s.convert(c) if _HAN.match(c) else c for c in text)
            if len(conv) != len(text):
                return text, []
        return conv, [i for i, (a, b) in enumerate(zip(text, conv)) if a != b] if positions else []

    def _fold_mixed_script(self, text: str) -> tuple[str, list[int]]:
        """Fold look-alikes inside words that mix Latin letters with them (``vаpe``, Cyrillic а)."""
        chars = None
        positions: list[int] = []
        table = self._homoglyphs
        for ws, we in _mixed_words(text):
            for j in range(ws, we):
                c = text[j]
                if c in table:
                    if chars is None:
                        chars = list(text)
                    chars[j] = table[c]
                    positions.append(j)
        return (text if chars is None else "".join(chars)), positions

    def _fold_homoglyph_tokens(self, text: str) -> str:
        """View B: fold words made only of look-alike characters (``ѵаре`` in Cyrillic)."""
        return self._homoglyph_words(text)[0]

    def _homoglyph_words(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """``_fold_homoglyph_tokens`` and the spans of the words it folded (every character of such a
        word changes: the table maps non-ASCII letters to ASCII ones). Look-alikes are non-ASCII, so
        only words of non-ASCII letters alone are candidates (``_WORD`` matches, found directly)."""
        if text.isascii() or self._homoglyph_chars.isdisjoint(_non_ascii(text)):
            return text, []
        table = self._homoglyphs
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        pos = 0
        for m in _NON_ASCII_WORD.finditer(text):
            word = m.group(0)
            if all(c in table for c in word):
                s, e = m.span()
                parts.append(text[pos:s])
                parts.append("".join(table[c] for c in word))
                spans.append((s, e))
                pos = e
        if not spans:
            return text, []
        parts.append(text[pos:])
        return "".join(parts), spans

    # --- view B -------------------------------------------------------------------------------
    def _view_b(self, a: str, hg_seen: bool = True):
        """Separator runs collapsed, look-alike words folded, then the leetspeak skeleton. Returns
        ``(view B, map B -> A or None, flags or None, view B before the leet fold)``; leet flags are
        derived lazily from the last two (see :meth:`NormText.flags_b`)."""
        b2a: list[int] | None = None
        bflags: bytearray | None = None
        text = a
        runs = _sep_runs(a)
        if runs:
            parts: list[str] = []
            b2a = []
            bflags = bytearray()
            pos = 0
            for start, end in runs:
                parts.append(a[pos:start])
                b2a.extend(range(pos, start))
                bflags.extend(bytes(start - pos))
                first = True
                for piece in _WORD_PIECE.finditer(a, start, end):
                    idx = piece.start()
                    parts.append(piece.group(0))
                    b2a.extend(range(idx, idx + len(piece.group(0))))
                    bflags.append(0 if first else FLAG_SEPARATOR)
                    bflags.extend(bytes(len(piece.group(0)) - 1))
                    first = False
                pos = end
            parts.append(a[pos:])
            b2a.extend(range(pos, len(a)))
            bflags.extend(bytes(len(a) - pos))
            text = "".join(parts)
        if hg_seen and not text.isascii():
            folded, spans = self._homoglyph_words(text)
            if spans:
                if bflags is None:
                    bflags = bytearray(len(text))
                for s, e in spans:
                    for i in range(s, e):
                        bflags[i] |= FLAG_HOMOGLYPH
                text = folded
        pre = text
        if _SYMBOL_RE.search(text):
            text = _SYMBOL_RE.sub(lambda m: _SYMBOL_LEET[m.group(0)], text)
        return _skeleton(text), b2a, bflags, pre
