"""One pass of every lexicon over every field of a listing.

All term forms, exclusion phrases and co-term phrases of all families are compiled once into two
Aho-Corasick automata: one over view A (hygiene-normalised text), one over view B (separators removed,
leetspeak skeleton). A view-B match counts only when de-obfuscation actually revealed it (and a
stand-alone number is never read as leetspeak: "D-3 Liquid" is not "e-liquid"). Hits are mapped to the
original text, exclusions are applied on the same span, and co-terms of terms and patterns are resolved
to one fixpoint: the result, per family, is the set of signals that fired with the hits that fired them.

Co-term phrases count only outside the hit they qualify and never inside an exclusion span (the
exclusion names a benign look-alike: "ultrasonic atomizer" is no atomizer co-term). A ``review_if``
phrase turns a decisive hit into a review hit, and a co-term hit into one once its co-term is met.
Terms marked ``reveals`` (pinyin) are de-obfuscated by nature: their hits carry that transform.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.matching.lexicon import Lexicon
from app.matching.multi import LiteralSet, PatternScreen
from app.normalization.text import (
    FLAG_HOMOGLYPH,
    FLAG_LEET,
    FLAG_MASK,
    FLAG_SEPARATOR,
    NormText,
    Normalizer,
    transform_labels,
)

_NO_BOUNDARY_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\u0e00-\u0e7f]")
_B_REVEALS = FLAG_SEPARATOR | FLAG_LEET | FLAG_HOMOGLYPH | FLAG_MASK
_VOWELS = frozenset("aeiou")
MASK_MIN_LETTERS = 4


def masked_variants(key: str, vowels_from: str | None = None) -> list[str]:
    """A Latin view-B key with one vowel, or every vowel, written as ``*`` ("st*n gun", "st*n g*n").
    ``vowels_from``: the key before the leetspeak skeleton (same length), which says where the vowels
    really are (the skeleton writes "l" as "i": "sildenafil" has no vowel where its "l"s stand)."""
    if not key.isascii() or sum(c.isalpha() for c in key) < MASK_MIN_LETTERS:
        return []
    src = vowels_from if vowels_from is not None and len(vowels_from) == len(key) else key
    pos = [i for i, c in enumerate(src) if c in _VOWELS and 0 < i < len(key) - 1
           and key[i - 1].isalpha() and key[i + 1].isalpha()]
    out = [key[:i] + "*" + key[i + 1:] for i in pos]
    if len(pos) > 1:
        out.append("".join("*" if i in pos else c for i, c in enumerate(key)))
    return out
_TOKEN = re.compile(r"[^\W_]{3,}")
FUZZY_MIN_LEN = 6
FUZZY_MAX_TOKENS = 64
NEAR_CACHE_MAX = 100_000  # candidate texts whose near misses are remembered


def _number_read_as_letter(norm: NormText, s: int, e: int) -> bool:
    """Whether the view-B span ``[s, e)`` reads a digit of a stand-alone number as a letter
    (``D-3 Liquid`` -> ``d e iiquid``). Leetspeak swaps digits *inside* words (``E-C1G``, ``P3N``,
    ``1ce``); a number on its own is a number."""
    a = norm.text
    for i in range(s, e):
        j = norm.b_to_a(i, i + 1)[0]
        c = a[j]
        if not c.isdigit() or norm.deobf[i] == c:
            continue
        lo = j
        while lo > 0 and a[lo - 1].isdigit():
            lo -= 1
        hi = j + 1
        while hi < len(a) and a[hi].isdigit():
            hi += 1
        if not (lo > 0 and a[lo - 1].isalpha()) and not (hi < len(a) and a[hi].isalpha()):
            return True
        # a digit on the edge of the match that belongs to a number going on outside it
        # ("E-Liquid5% nicotine" is not "e-liquids", "Pod5000" is not "pods")
        if i == e - 1 and (hi > j + 1 or (hi < len(a) and a[hi] in "%.,")):
            return True
        if i == s and (lo < j or (lo > 0 and a[lo - 1] in ".,")):
            return True
    return False


@dataclass(frozen=True, slots=True)
class FieldText:
    name: str
    norm: NormText
    fuzzy: bool = False  # look for near-miss brand names here (title, keywords)
    scan: bool = True    # False: not searched for terms (the category path), only cited as evidence


class Hit:
    """One matched term or pattern. Positions are kept in view A; the original span, the method and
    the transforms are worked out on first use (most hits never reach a decision)."""

    __slots__ = ("family", "entry_id", "signal", "strength", "matched", "ft", "fi", "a_s", "a_e",
                 "_b", "_reveals", "_method", "_resolved")

    def __init__(self, family: str, entry_id: str, signal: str, strength: str, matched: str,
                 ft: FieldText, fi: int, a_s: int, a_e: int, b: tuple[int, int] | None = None,
                 reveals: str | None = None, method: str | None = None):
        self.family = family
        self.entry_id = entry_id
        self.signal = signal
        self.strength = strength
        self.matched = matched
        self.ft = ft
        self.fi = fi
        self.a_s = a_s
        self.a_e = a_e
        self._b = b
        self._reveals = reveals
        self._method = method
        self._resolved = None

    def resolve(self) -> tuple[int, int, str, str, tuple[str, ...]]:
        """``(start, end, text, method, transforms)`` in the original field text."""
        if self._resolved is None:
            norm = self.ft.norm
            o_s, o_e = norm.span_a(self.a_s, self.a_e)
            flags = norm.flags_b(*self._b) if self._b else norm.flags_a(self.a_s, self.a_e)
            method = self._method or ("deobfuscated" if self._b else norm.method(self.a_s, self.a_e, flags, (o_s, o_e)))
            transforms = tuple(transform_labels(flags)) if method == "deobfuscated" else ()
            if self._reveals:
                method = "deobfuscated"
                transforms = tuple(sorted({*transforms, self._reveals}))
            self._resolved = (o_s, o_e, norm.original[o_s:o_e], method, transforms)
        return self._resolved

    @property
    def field(self) -> str:
        return self.ft.name

    @property
    def start(self) -> int:
        return self.resolve()[0]

    @property
    def end(self) -> int:
        return self.resolve()[1]

    @property
    def text(self) -> str:
        return self.resolve()[2]

    @property
    def method(self) -> str:
        return self.resolve()[3]

    @property
    def transforms(self) -> tuple[str, ...]:
        return self.resolve()[4]

    @property
    def deobfuscated(self) -> bool:
        return self.method == "deobfuscated"

    def __repr__(self) -> str:
        return f"Hit({self.entry_id}, {self.field}[{self.start}:{self.end}]={self.text!r}, {self.method})"


@dataclass(slots=True)
class FamilyResult:
    family: str
    fired: dict[str, list[Hit]] = field(default_factory=dict)
    grey: list[Hit] = field(default_factory=list)
    phrases: set[str] = field(default_factory=set)  # co-term phrases present in the listing
    phrase_spans: dict = field(default_factory=dict)  # phrase -> [(field index, start, end)] in view A
    external: list = field(default_factory=list)  # [(field index, start, end, value)] of a check's own keys

    def has(self, *signals: str) -> bool:
        return any(s in self.fired for s in signals)

    def hits(self, *signals: str) -> list[Hit]:
        return [h for s in signals for h in self.fired.get(s, ())]


@dataclass(frozen=True, slots=True)
class _Coterms:
    signals: frozenset[str]   # signal names (groups expanded)
    phrases: tuple[str, ...]  # literal phrases, folded like view A


@dataclass(frozen=True, slots=True)
class _Entry:
    family: str
    id: str
    signal: str
    strength: str
    coterms: "_Coterms"       # expanded signal names and folded phrases
    reveals: str | None = None  # the forms are a disguise themselves (pinyin): hits are de-obfuscated


@dataclass(frozen=True, slots=True)
class _Payload:
    kind: str          # term | exclude | review_if | coterm
    family: str
    entry: int         # index into Matcher._entries (term/review_if/exclude target), -1 family-wide
    form: str
    boundary: bool

    @property
    def has_digit(self) -> bool:
        return any(c.isdigit() for c in self.form)


def _value(payloads: list[_Payload]) -> tuple[tuple[_Payload, ...], bool]:
    """An automaton value: the key's payloads, and whether every payload needs word boundaries
    (then a match inside a word is dropped before any other work)."""
    return tuple(payloads), all(p.boundary for p in payloads)


class Matcher:
    skip_phrase_only = True  # (False: resolve phrase-only families too; the tests compare both)

    def __init__(self, lexicons: list[Lexicon], normalizer: Normalizer,
                 external: dict[str, dict[str, object]] | None = None):
        """``external``: keys a check wants found in view A (family -> {folded key: value}), so that
        one automaton pass serves it too; their matches come back unfiltered in
        ``FamilyResult.external`` and the check applies its own boundaries."""
        self.normalizer = normalizer
        self.families = [lx.family for lx in lexicons] + [f for f in (external or {}) if f not in
                                                            {lx.family for lx in lexicons}]
        self._external_values: dict[tuple[str, str], object] = {}
        self._external_families = frozenset(external or ())
        self._entries: list[_Entry] = []
        self._patterns: dict[str, list[tuple[object, re.Pattern, tuple[str, ...]]]] = defaultdict(list)
        self._fuzzy: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
        self._phrase_entries: dict[tuple[str, str, str], set[int]] = defaultdict(set)
        keys_a: dict[str, list[_Payload]] = defaultdict(list)
        keys_b: dict[str, list[_Payload]] = defaultdict(list)
        keys_m: dict[str, list[_Payload]] = defaultdict(list)  # masked variants ("st*n g*n")

        def add(form: str, payload_kind: str, family: str, entry: int, boundary: bool | None) -> None:
            a = normalizer.term_a(form)
            if not a:
                raise ValueError(f"{family}: form {form!r} normalises to nothing")
            bnd = boundary if boundary is not None else not _NO_BOUNDARY_SCRIPT.search(a)
            if payload_kind != "term":
                # a phrase is present or not: one payload per kind, family and phrase; the entries an
                # exclusion or review phrase applies to are kept beside it (-1: the whole family)
                self._phrase_entries[(payload_kind, family, a)].add(entry)
                entry, form = -1, a
            p = _Payload(payload_kind, family, entry, form, bnd)
            b = normalizer.term_b(form)
            squeezed = b.replace(" ", "")
            targets = [(keys_a, a), (keys_b, b)]
            if squeezed != b and len(squeezed) >= 5:
                targets.append((keys_b, squeezed))
            # masked variants of terms, and of the phrases that qualify or cancel them (a masked
            # "cr*ssb*w sc*pe" is still the crossbow-scope look-alike)
            targets.extend((keys_m, v) for v in masked_variants(b, a))
            for keys, key in targets:
                if p not in keys[key]:
                    keys[key].append(p)

        for lx in lexicons:
            groups = lx.signal_groups

            def expand(cos: list[str]) -> _Coterms:
                signals: set[str] = set()
                phrases: list[str] = []
                for co in cos:
                    if co.startswith("@"):
                        signals.update(groups.get(co[1:], [co[1:]]))
                    else:
                        phrases.append(normalizer.term_a(co))
                return _Coterms(frozenset(signals), tuple(phrases))

            fuzzy_choices: list[str] = []
            fuzzy_entries: list[tuple[int, str]] = []
            for term in lx.terms:
                idx = len(self._entries)
                self._entries.append(_Entry(lx.family, term.id, term.signal, term.strength,
                                            expand(term.coterms), term.reveals))
                for form in term.forms:
                    add(form, "term", lx.family, idx, term.boundary)
                    if term.fuzzy and len(normalizer.term_a(form)) >= FUZZY_MIN_LEN:
                        fuzzy_choices.append(normalizer.term_a(form))
                        fuzzy_entries.append((idx, form))
                for phrase in term.exclude:
                    add(phrase, "exclude", lx.family, idx, None)
                for phrase in term.review_if:
                    add(phrase, "review_if", lx.family, idx, None)
                for co in term.coterms:
                    if not co.startswith("@"):
                        add(co, "coterm", lx.family, idx, None)
            for phrase in lx.exclude:
                add(phrase, "exclude", lx.family, -1, None)
            for pat in lx.patterns:
                for co in pat.coterms:
                    if not co.startswith("@"):
                        add(co, "coterm", lx.family, -1, None)
                # two compilations: the ASCII one is several times faster and means the same on ASCII text
                rx = (re.compile(pat.regex, re.IGNORECASE), re.compile(pat.regex, re.IGNORECASE | re.ASCII))
                self._patterns[lx.family].append((pat, rx, expand(pat.coterms),
                                                  tuple(normalizer.term_a(x) for x in pat.prefilter)))
            if fuzzy_choices:
                self._fuzzy[lx.family] = (fuzzy_choices, fuzzy_entries)
        # all families' near-miss choices in one list: one distance matrix per listing serves them all
        self._fuzzy_all: list[str] = []
        self._near_cache: dict[str, tuple[tuple[str, int], ...]] = {}
        self._fuzzy_slices: dict[str, tuple[int, int]] = {}
        for fam, (choices, _) in self._fuzzy.items():
            self._fuzzy_slices[fam] = (len(self._fuzzy_all), len(self._fuzzy_all) + len(choices))
            self._fuzzy_all.extend(choices)

        for fam, keys in (external or {}).items():
            for key, value in keys.items():
                self._external_values[(fam, key)] = value
                keys_a[key].append(_Payload("external", fam, -1, key, False))
        self._auto_a = LiteralSet({key: _value(p) for key, p in keys_a.items()})
        self._auto_b = LiteralSet({key: _value(p) for key, p in keys_b.items()})
        # masked variants live in an automaton of their own, searched only in text that has a "*"
        # inside a word: they multiply the keys, and ordinary text never needs them
        self._auto_m = LiteralSet({key: _value(p) for key, p in keys_m.items()}) if keys_m else None
        # one Hyperscan pass per field says which lexicon patterns can match there at all
        self._pattern_index: dict[str, int] = {}
        regexes: list[str] = []
        for pats in self._patterns.values():
            for pat, *_ in pats:
                self._pattern_index[pat.id] = len(regexes)
                regexes.append(pat.regex)
        self._screen = PatternScreen(regexes)
        self._family_patterns = {fam: frozenset(self._pattern_index[pat.id] for pat, *_ in pats)
                                 for fam, pats in self._patterns.items()}
        self.term_count = len(self._entries)
        self.form_count = len(keys_a)

    # ------------------------------------------------------------------------------------------
    def scan(self, fields: list[FieldText], presets: dict[str, list[tuple[str, int]]] | None = None,
             ) -> dict[str, FamilyResult]:
        """Scan ``fields``; ``presets`` are signals a check derives from structured data (family ->
        ``[(signal, index of the field that shows it)]``, e.g. the designated category): they count
        as fired from the start, with the whole field as their evidence (method ``rule``)."""
        # raw matches as (payload, field index, start, end in view A, view-B span or None), by family
        raws: dict[str, list[tuple]] = defaultdict(list)
        screened: dict[int, set[int] | None] = {}  # field -> the lexicon patterns that can match there
        for fi, ft in enumerate(fields):
            if ft.scan:
                self._scan_a(fi, raws, ft.norm.text)
                screened[fi] = self._screen.possible(ft.norm.text)
                self._scan_b_view(fi, ft.norm, raws)
        results = {fam: FamilyResult(fam) for fam in self.families}
        for fam, sigs in (presets or {}).items():
            if fam in results:
                for signal, fi in sigs:
                    ft = fields[fi]
                    results[fam].fired.setdefault(signal, []).append(
                        Hit(fam, f"{fam}.preset.{signal}", signal, "decisive", ft.norm.original, ft, fi,
                            0, len(ft.norm.text), method="rule"))
        by_family: dict[str, list[tuple]] = {}
        for fam, rs in raws.items():
            if fam in self._external_families:  # a check's own keys: handed over as they are
                ext = [r for r in rs if r[0].kind == "external"]
                if ext:
                    rs = [r for r in rs if r[0].kind != "external"]
                    results[fam].external.extend(
                        (fi, a_s, a_e, self._external_values[(p.family, p.form)])
                        for p, fi, a_s, a_e, b in ext if b is None)
            by_family[fam] = rs
        fuzzy = self._fuzzy_distances(fields) if self._fuzzy else None
        for fam in self.families:
            res = results[fam]
            rs = by_family.get(fam, ())
            pats = self._patterns.get(fam, ())
            if pats and not self._any_possible(fam, screened):
                pats = ()  # no pattern of the family can match anywhere
            if rs and not pats and self.skip_phrase_only and not any(r[0].kind == "term" for r in rs):
                # only phrases (co-terms, exclusions, review phrases): with no term and no pattern
                # for them to qualify or cancel, they decide nothing (the usual case in benign text)
                rs_resolved = ()
            else:
                rs_resolved = rs
            if rs_resolved or pats or res.fired:
                pending = self._resolve(fam, rs, fields, res) if rs_resolved else []
                # Terms and patterns are resolved to one fixpoint: a pattern hit can satisfy a term's
                # co-term and the other way round.
                done: set[str] = set()
                while True:
                    pending, _ = self._fixpoint(pending, res.phrases, res)
                    if not pats or not self._run_patterns(fam, pats, fields, res, done, pending, screened):
                        break
            if fuzzy is not None and fam in self._fuzzy:
                self._fuzzy_scan(fam, fields, res, rs, fuzzy)
        return results

    def _any_possible(self, fam: str, screened: dict[int, set[int] | None]) -> bool:
        mine = self._family_patterns[fam]
        return any(p is None or not mine.isdisjoint(p) for p in screened.values())

    def _scan_b_view(self, fi: int, norm: NormText, out: dict) -> None:
        reveals = norm.b_reveals()
        if not reveals:
            return  # view B shows nothing view A does not
        text = norm.deobf
        if self._auto_m is not None and norm.has_masks():
            self._scan_b(fi, norm, out, text, self._auto_m, reveals)
        self._scan_b(fi, norm, out, text, self._auto_b, reveals)

    def _scan_a(self, fi: int, out: dict, text: str) -> None:
        n = len(text)
        no_boundary = _NO_BOUNDARY_SCRIPT.match
        values = self._auto_a.values
        for idx, s, e in self._auto_a.find(text):
            payloads, all_bounded = values[idx]
            # word boundaries first: the cheapest test, and many automaton matches are inside words
            # (the same test as in _scan_b, written out in both loops: they run once per match)
            c = text[s - 1] if s else " "
            bounded = not (c.isalnum() and (c < "\u0e00" or not no_boundary(c)))
            if bounded and e < n:
                c = text[e]
                bounded = not (c.isalnum() and (c < "\u0e00" or not no_boundary(c)))
            if not bounded:
                if all_bounded:
                    continue
                for p in payloads:
                    if not p.boundary:
                        out[p.family].append((p, fi, s, e, None))
            else:
                for p in payloads:
                    out[p.family].append((p, fi, s, e, None))

    def _scan_b(self, fi: int, norm: NormText, out: dict, text: str, keys: LiteralSet, reveals) -> None:
        n = len(text)
        no_boundary = _NO_BOUNDARY_SCRIPT.match
        values = keys.values
        last = len(reveals)
        for idx, s, e in keys.find(text):
            # a view-B match counts only with a revealing position inside it (else view A has it);
            # most matches have none, so this test comes first
            k = bisect_left(reveals, s)
            if k == last or reveals[k] >= e:
                continue
            payloads, all_bounded = values[idx]
            c = text[s - 1] if s else " "
            bounded = not (c.isalnum() and (c < "\u0e00" or not no_boundary(c)))
            if bounded and e < n:
                c = text[e]
                bounded = not (c.isalnum() and (c < "\u0e00" or not no_boundary(c)))
            if all_bounded and not bounded:
                continue
            flags = norm.flags_b_own(s, e)
            if not flags & _B_REVEALS:
                continue  # view A already sees it (or it is a mere skeleton collision)
            # "Vitamin D-3 Liquid" is not "e-liquid": a number is not leetspeak -- unless the term
            # itself has digits there ("n@ked 100": the number is part of the name)
            numeric = bool(flags & FLAG_LEET and not flags & FLAG_SEPARATOR and _number_read_as_letter(norm, s, e))
            if numeric and not any(p.has_digit for p in payloads):
                continue
            a_s, a_e = norm.b_to_a(s, e)
            b = (s, e)
            for p in payloads:
                if (p.boundary and not bounded) or (numeric and not p.has_digit):
                    continue
                out[p.family].append((p, fi, a_s, a_e, b))

    def _resolve(self, fam: str, rs: list[tuple], fields: list[FieldText], res: FamilyResult) -> list:
        """Exclusions and review phrases applied; returns the hits still waiting for a co-term.
        ``rs``: raw matches ``(payload, field index, start, end, view-B span or None)``."""
        phrase_entries = self._phrase_entries
        excl: dict[int, list[tuple[int, int, set[int]]]] = {}
        review_fields: set[tuple[int, int]] = set()
        terms: list[tuple] = []
        coterms: list[tuple] = []
        for r in rs:
            kind = r[0].kind
            if kind == "term":
                terms.append(r)
            elif kind == "coterm":
                coterms.append(r)
            elif kind == "exclude":
                excl.setdefault(r[1], []).append((r[2], r[3], phrase_entries[("exclude", fam, r[0].form)]))
            elif kind == "review_if":
                review_fields.update((e, r[1]) for e in phrase_entries[("review_if", fam, r[0].form)])

        def excluded(fi: int, a_s: int, a_e: int, entry: int | None) -> bool:
            xs = excl.get(fi)
            if not xs:
                return False
            for x_s, x_e, entries in xs:
                if x_s <= a_s and a_e <= x_e and (entry is None or -1 in entries or entry in entries):
                    return True
            return False

        # A co-term phrase inside an exclusion span is part of the benign look-alike the exclusion
        # names ("ultrasonic atomizer" is no atomizer co-term, "coffee pods" no pod co-term).
        where: dict[str, list[tuple[int, int, int]]] = {}
        for p, fi, a_s, a_e, _ in coterms:
            if not (excl and excluded(fi, a_s, a_e, None)):
                where.setdefault(p.form, []).append((fi, a_s, a_e))  # (form is the folded phrase)
        best: dict[tuple, tuple] = {}
        for r in terms:
            p, fi, a_s, a_e, b = r
            if excl and excluded(fi, a_s, a_e, p.entry):
                continue
            key = (p.entry, fi, a_s, a_e)
            prev = best.get(key)
            if prev is None or (prev[4] is not None and b is None):
                best[key] = r
        pending: list[tuple[_Entry, Hit, bool]] = []
        entries = self._entries
        for key in sorted(best):
            p, fi, a_s, a_e, b = best[key]
            entry = entries[key[0]]
            to_review = bool(review_fields) and (key[0], fi) in review_fields
            hit = Hit(fam, entry.id, entry.signal, entry.strength, p.form, fields[fi], fi, a_s, a_e, b, entry.reveals)
            if entry.strength == "grey" or (to_review and entry.strength == "decisive"):
                res.grey.append(hit)
            else:  # a co-term hit next to a review phrase asks for review only once its co-term is met
                pending.append((entry, hit, to_review))
        res.phrases = set(where)
        res.phrase_spans = where
        return pending

    @staticmethod
    def _satisfied(coterms: "_Coterms", fired: dict, phrases: set[str], hit: Hit | None = None,
                   spans: dict | None = None) -> bool:
        """A co-term signal has fired, or a co-term phrase occurs in the listing -- outside the hit's
        own span ("换弹" does not qualify itself through the phrase "换弹式")."""
        if coterms.signals and not coterms.signals.isdisjoint(fired):
            return True
        for co in coterms.phrases:
            if co in phrases:
                if hit is None or spans is None:
                    return True
                for fi, s, e in spans.get(co, ()):
                    if fi != hit.fi or e <= hit.a_s or s >= hit.a_e:
                        return True
        return False

    def _fixpoint(self, pending: list[tuple[_Entry, Hit, bool]], phrases: set[str], res: FamilyResult):
        """Fire every pending hit whose co-terms are met, until nothing changes (a hit flagged for
        review becomes a review hit instead). Returns the hits still pending and whether anything fired."""
        changed = True
        grew = False
        while changed and pending:
            changed = False
            rest = []
            for entry, hit, to_review in pending:
                if entry.strength == "decisive" or self._satisfied(
                        entry.coterms, res.fired, phrases, hit, res.phrase_spans):
                    if to_review:
                        res.grey.append(hit)
                    else:
                        res.fired.setdefault(hit.signal, []).append(hit)
                        changed = grew = True
                else:
                    rest.append((entry, hit, to_review))
            pending = rest
        return pending, grew

    def _run_patterns(self, fam, pats, fields: list[FieldText], res: FamilyResult, done: set[str],
                      pending: list, screened: dict | None = None) -> bool:
        """Run every pattern whose co-terms are met (once each, ids in ``done``); a ``coterm_only``
        pattern runs only while something waits for its signal. Returns whether a new signal fired."""
        phrases = res.phrases
        before = set(res.fired)
        changed = True
        wanted: set[str] | None = None
        while changed:
            changed = False
            for pat, rx, coterms, prefilter in pats:
                if pat.id in done:
                    continue
                if pat.signal in res.fired and pat.strength != "grey":
                    # its signal already fired: it could add evidence but never a signal or a co-term,
                    # so never a different action (only a zero-width character inside a number could
                    # still earn the distortion point, and then only where the pattern fires the signal)
                    continue
                if pat.strength == "coterm" and not self._satisfied(coterms, res.fired, phrases):
                    continue
                if pat.coterm_only:
                    if wanted is None:  # the signals that something still waits for
                        entries = {id(entry): entry for entry, _, _ in pending}
                        wanted = {sig for entry in entries.values() for sig in entry.coterms.signals}
                        wanted.update(sig for p, _, cos, _ in pats if p.id not in done for sig in cos.signals)
                    if pat.signal not in wanted:
                        continue
                done.add(pat.id)
                pidx = self._pattern_index[pat.id]
                for fi, ft in enumerate(fields):
                    if not ft.scan:
                        continue
                    text = ft.norm.text
                    possible = screened.get(fi) if screened is not None else None
                    if possible is not None and pidx not in possible:
                        continue
                    if prefilter:
                        for p in prefilter:
                            if p in text:
                                break
                        else:
                            continue
                    for m in rx[text.isascii()].finditer(text):
                        s, e = m.span()
                        if e <= s:
                            continue
                        # "matched" is what the pattern recognised, as normalised (the id names the pattern)
                        hit = Hit(fam, pat.id, pat.signal, pat.strength, m.group(0), ft, fi, s, e)
                        if pat.strength == "grey":
                            res.grey.append(hit)
                        else:
                            res.fired.setdefault(pat.signal, []).append(hit)
                            changed = True
        return set(res.fired) != before

    def _fuzzy_distances(self, fields: list[FieldText]):
        """The near misses among the candidates of the fuzzy fields (words and word pairs of at least
        ``FUZZY_MIN_LEN`` characters, the first ``FUZZY_MAX_TOKENS`` of them): ``(candidates,
        near)``, ``near`` holding ``(candidate index, family, choice index in the family)`` for each
        family whose nearest choice is exactly one edit away -- or ``None`` when there is none.

        A candidate's near misses depend only on its text, and titles repeat their words: they are
        kept in a bounded cache, and the misses of a listing are computed in one distance matrix."""
        cands: list[tuple[int, int, int]] = []
        for fi, ft in enumerate(fields):
            if not ft.fuzzy:
                continue
            toks = [m.span() for m in _TOKEN.finditer(ft.norm.text)]
            for s, e in toks + [(a[0], b[1]) for a, b in zip(toks, toks[1:])]:
                if e - s >= FUZZY_MIN_LEN:
                    cands.append((fi, s, e))
        del cands[FUZZY_MAX_TOKENS:]
        if not cands:
            return None
        texts = [fields[fi].norm.text[s:e] for fi, s, e in cands]
        cache = self._near_cache
        found: dict[str, tuple] = {}
        todo: list[str] = []
        for t in set(texts):
            got = cache.get(t)
            if got is None:
                todo.append(t)
            else:
                found[t] = got
        if todo:
            dist = process.cdist(todo, self._fuzzy_all, scorer=Levenshtein.distance, score_cutoff=1,
                                 dtype=np.uint8, workers=1)
            if 1 not in dist:  # (the usual case: nothing is one edit away)
                new = dict.fromkeys(todo, ())
            else:
                new = {}
                for t, row in zip(todo, dist):
                    near_t = []
                    for fam, (a, b) in self._fuzzy_slices.items():
                        sub = row[a:b]
                        if sub.min() == 1:  # (0: an exact form; the exact scan has it)
                            near_t.append((fam, int(sub.argmin())))
                    new[t] = tuple(near_t)
            found.update(new)
            if len(cache) + len(new) > NEAR_CACHE_MAX:
                cache.clear()
            cache.update(new)
        near = [(i, fam, j) for i, t in enumerate(texts) for fam, j in found[t]]
        return (cands, near) if near else None

    def _fuzzy_scan(self, fam: str, fields: list[FieldText], res: FamilyResult, rs, fuzzy) -> None:
        """Grey hits for near misses (distance exactly 1) of the family's fuzzy forms; the nearest
        choice, the first of equals, wins (as ``rapidfuzz.process.extractOne`` would pick it), and an
        entry already matched exactly, or already near-missed, is not reported again."""
        cands, near = fuzzy
        entries = self._fuzzy[fam][1]
        seen_entries = {r[0].entry for r in rs if r[0].kind == "term"}
        for i, f, j in near:
            if f != fam:
                continue
            fi, s, e = cands[i]
            idx, form = entries[j]
            if idx in seen_entries:
                continue
            entry = self._entries[idx]
            res.grey.append(Hit(fam, entry.id, entry.signal, "grey", form, fields[fi], fi, s, e,
                                method="fuzzy"))
            seen_entries.add(idx)
