"""Normalised views of a field with a map from every normalised character to the original text."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

from app.normalization.html import html_to_text

FLAG_NORMALIZED = 1   # hygiene changed the character (NFKC, case, width, t2s, entity)
FLAG_ZERO_WIDTH = 2   # a zero-width / format character was removed right before this character
FLAG_HOMOGLYPH = 4    # a look-alike character (Cyrillic/Greek/...) folded to Latin
FLAG_SEPARATOR = 8    # separators between single characters were removed right before this character
FLAG_LEET = 16        # a digit or symbol read as a letter
DEOBF_FLAGS = FLAG_ZERO_WIDTH | FLAG_HOMOGLYPH | FLAG_SEPARATOR | FLAG_LEET
# Flags that describe something removed *before* the character: inside a span they count only when
# they are not on its first character.
_BEFORE_FLAGS = FLAG_ZERO_WIDTH | FLAG_SEPARATOR

_LABELS = ((FLAG_ZERO_WIDTH, "zero_width"), (FLAG_HOMOGLYPH, "homoglyph"),
           (FLAG_SEPARATOR, "separator"), (FLAG_LEET, "leet"))


def transform_labels(flags: int) -> list[str]:
    """Names of the de-obfuscation passes in ``flags`` (evidence ``transforms``)."""
    return [name for bit, name in _LABELS if flags & bit]


_SPACE_LIKE = {c: " " for c in "\t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000-_\u2010\u2011\u2012\u2013"
               "\u2014\u2015\u2212\ufe58\ufe63\uff0d\u30fc"}
_SPACE_TABLE = str.maketrans(_SPACE_LIKE)
# Format characters that are not category Cf but are used the same way.
_INVISIBLE_EXTRA = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u17b4", "\u17b5"}
# Leetspeak skeleton for view B; lexicon terms are folded with the same table.
_SKELETON = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
_SYMBOL_LEET = {"@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "¢": "c"}
_SYMBOL_RE = re.compile(r"[@$!|+€¢](?=\w)")
_LEET_SOURCE = set("013457") | set(_SYMBOL_LEET)
# Runs of >= 3 single characters separated by separators: "v a p e", "v.a.p.e", "电 子 烟".
_SEP = r"[\s.*·•/\\|~,+:;'\"_]{1,3}"
_HAN_CHAR = r"[\u3400-\u9fff\uf900-\ufaff]"
# (two single Han characters are already a word: "烟 油")
_SEP_RUN = re.compile(rf"(?<!\w)\w(?:{_SEP}\w(?!\w)){{2,}}|(?<!\w){_HAN_CHAR}(?:{_SEP}{_HAN_CHAR}(?!\w))+")
_SEP_CHARS = re.compile(r"[\s.*·•/\\|~,+:;'\"_]+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[^\W\d_]+")
_MULTISPACE = re.compile(r"  ")


def _load_homoglyphs() -> dict[str, str]:
    """Non-Latin characters that look like one Latin letter (Unicode confusables, UTS #39)."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii() or not char.isalpha():
            continue
        if unicodedata.normalize("NFKC", char).isascii():
            continue  # NFKC already folds it (full-width, mathematical letters)
        for g in glyphs:
            c = g["c"]
            if len(c) == 1 and c.isascii() and c.isalpha():
                table[char] = c.lower()
                break
    return table


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """NFKC + case fold + diacritics removed for Latin/Greek/Cyrillic (and Arabic tashkeel)."""
    s = unicodedata.normalize("NFKC", ch).casefold()
    if any(0x00C0 <= ord(c) < 0x0530 or 0x1E00 <= ord(c) < 0x2000 for c in s):
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
        s = unicodedata.normalize("NFC", s)
    s = "".join(c for c in s if not 0x064B <= ord(c) <= 0x065F)
    return s.translate(_SPACE_TABLE)


class NormText:
    """The two normalised views of one field and their maps back to ``original``."""

    __slots__ = ("original", "text", "starts", "ends", "flags", "deobf", "b2a", "bflags")

    def __init__(self, original: str, text: str, starts: list[int] | None, ends: list[int] | None,
                 flags: bytearray | None, deobf: str, b2a: list[int] | None, bflags: bytearray | None):
        self.original = original
        self.text = text            # view A
        self.starts = starts        # None = identity map
        self.ends = ends
        self.flags = flags          # None = no flags
        self.deobf = deobf          # view B
        self.b2a = b2a              # None = identity map B -> A
        self.bflags = bflags        # flags added by view B (separator, leet, homoglyph)

    # --- view A -------------------------------------------------------------------------------
    def span_a(self, s: int, e: int) -> tuple[int, int]:
        if self.starts is None:
            return s, e
        return self.starts[s], self.ends[e - 1]

    def flags_a(self, s: int, e: int) -> int:
        if self.flags is None or e <= s:
            return 0
        acc = self.flags[s] & ~_BEFORE_FLAGS
        for f in self.flags[s + 1:e]:
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
        acc = 0
        if self.bflags is not None and e > s:
            acc = self.bflags[s] & ~_BEFORE_FLAGS
            for f in self.bflags[s + 1:e]:
                acc |= f
        a_s, a_e = self.b_to_a(s, e)
        return acc | self.flags_a(a_s, a_e)

    def method(self, s: int, e: int, flags: int) -> str:
        """``deobfuscated`` / ``exact`` / ``normalized`` for a view-A span ``[s, e)``."""
        if flags & DEOBF_FLAGS:
            return "deobfuscated"
        o_s, o_e = self.span_a(s, e)
        return "exact" if self.original[o_s:o_e].casefold() == self.text[s:e] else "normalized"


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
        text, starts, ends, flags = self._view_a(original, html)
        deobf, b2a, bflags = self._view_b(text)
        return NormText(original, text, starts, ends, flags, deobf, b2a, bflags)

    def term_a(self, term: str) -> str:
        """A lexicon term folded like view A."""
        return self._view_a(term, False)[0].strip()

    def term_b(self, term: str) -> str:
        """A lexicon term folded like view B (without separator removal)."""
        a = self.term_a(term)
        b = self._fold_homoglyph_tokens(a)
        return _SYMBOL_RE.sub(lambda m: _SYMBOL_LEET[m.group(0)], b).translate(_SKELETON)

    # --- view A -------------------------------------------------------------------------------
    def _view_a(self, src: str, html: bool):
        decoded = html_to_text(src, strip_tags=html)
        if decoded is None and src.isascii():
            text = src.lower().translate(_SPACE_TABLE)
            if not _MULTISPACE.search(text):
                return text, None, None, None
            base, bstarts, bends = src, None, None
        elif decoded is None:
            base, bstarts, bends = src, None, None
        else:
            base, bstarts, bends = decoded
        return self._slow_view_a(src, base, bstarts, bends)

    def _slow_view_a(self, src: str, base: str, bstarts, bends):
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        flags = bytearray()
        pending = 0
        for i, ch in enumerate(base):
            o_s = bstarts[i] if bstarts is not None else i
            o_e = bends[i] if bends is not None else i + 1
            entity = bstarts is not None and (o_e - o_s != 1 or src[o_s] != ch)
            if ch.isascii():
                if ch.isprintable() or ch in "\t\n\r":
                    folded = ch.lower().translate(_SPACE_TABLE)
                else:
                    continue  # control character: dropped, not distortion
            else:
                cat = unicodedata.category(ch)
                if cat == "Cf" or ch in _INVISIBLE_EXTRA or 0xFE00 <= ord(ch) <= 0xFE0F:
                    pending |= FLAG_ZERO_WIDTH
                    continue
                if cat == "Cc" or cat == "Cs":
                    continue  # control characters and lone surrogates: dropped, not distortion
                if cat == "Mn" and out and ord(out[-1]) < 0x0530:
                    continue  # combining mark on a Latin/Greek/Cyrillic letter (also zalgo)
                folded = _fold_char(ch)
            flag = pending | (FLAG_NORMALIZED if (folded != ch or entity) else 0)
            pending = 0
            for c in folded:
                if c == " " and (not out or out[-1] == " "):
                    if out:  # extend the previous space over this one
                        ends[-1] = o_e
                    continue
                out.append(c)
                starts.append(o_s)
                ends.append(o_e)
                flags.append(flag)
        text = "".join(out)
        if _HAN.search(text):
            text = self._to_simplified(text, flags)
        if not text.isascii():
            text = self._fold_mixed_script(text, flags)
        return text, starts, ends, flags

    def _to_simplified(self, text: str, flags: bytearray) -> str:
        conv = self._t2s.convert(text)
        if len(conv) != len(text):  # a phrase conversion changed the length: go char by char
            conv = "".join(self._t2s.convert(c) if _HAN.match(c) else c for c in text)
            if len(conv) != len(text):
                return text
        for i, (a, b) in enumerate(zip(text, conv)):
            if a != b:
                flags[i] |= FLAG_NORMALIZED
        return conv

    def _fold_mixed_script(self, text: str, flags: bytearray) -> str:
        """Fold look-alikes inside words that mix Latin letters with them (``vаpe``, Cyrillic а)."""
        chars = None
        table = self._homoglyphs
        for m in _WORD.finditer(text):
            word = m.group(0)
            if word.isascii() or not any(c.isascii() for c in word):
                continue
            for j, c in enumerate(word):
                if c in table:
                    if chars is None:
                        chars = list(text)
                    chars[m.start() + j] = table[c]
                    flags[m.start() + j] |= FLAG_HOMOGLYPH
        return text if chars is None else "".join(chars)

    def _fold_homoglyph_tokens(self, text: str) -> str:
        """View B: fold words made only of look-alike characters (``ѵаре`` in Cyrillic)."""
        if text.isascii():
            return text
        table = self._homoglyphs
        return _WORD.sub(lambda m: "".join(table[c] for c in m.group(0))
                         if all(c in table for c in m.group(0)) else m.group(0), text)

    # --- view B -------------------------------------------------------------------------------
    def _view_b(self, a: str):
        b2a: list[int] | None = None
        bflags: bytearray | None = None
        text = a
        if _SEP_RUN.search(a):
            out: list[str] = []
            b2a = []
            bflags = bytearray()
            pos = 0
            for m in _SEP_RUN.finditer(a):
                for i in range(pos, m.start()):
                    out.append(a[i]); b2a.append(i); bflags.append(0)
                run_start = m.start()
                prev_end = None
                for part in _SEP_CHARS.split(m.group(0)):
                    if not part:
                        continue
                    idx = a.index(part, run_start if prev_end is None else prev_end)
                    for k, c in enumerate(part):
                        out.append(c); b2a.append(idx + k)
                        bflags.append(FLAG_SEPARATOR if (prev_end is not None and k == 0) else 0)
                    prev_end = idx + len(part)
                pos = m.end()
            for i in range(pos, len(a)):
                out.append(a[i]); b2a.append(i); bflags.append(0)
            text = "".join(out)
        if not text.isascii():
            folded = self._fold_homoglyph_tokens(text)
            if folded != text:
                if bflags is None:
                    bflags = bytearray(len(text))
                for i, (x, y) in enumerate(zip(text, folded)):
                    if x != y:
                        bflags[i] |= FLAG_HOMOGLYPH
                text = folded
        if _SYMBOL_RE.search(text):
            if bflags is None:
                bflags = bytearray(len(text))
            chars = list(text)
            for m in _SYMBOL_RE.finditer(text):
                chars[m.start()] = _SYMBOL_LEET[m.group(0)]
                bflags[m.start()] |= FLAG_LEET
            text = "".join(chars)
        skel = text.translate(_SKELETON)
        if skel != text:
            if bflags is None:
                bflags = bytearray(len(text))
            for i, c in enumerate(text):
                if c in "013457":
                    bflags[i] |= FLAG_LEET
        return skel, b2a, bflags


def is_leet_source(ch: str) -> bool:
    return ch in _LEET_SOURCE
