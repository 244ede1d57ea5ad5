"""Programmatic evasion set (AUTHORED test data: generated here from the lexicons, not real listings).

Usage::

    python bench/gen_evasion.py [--out PATH.jsonl] [--families a,b] [--seed N]

**Positives.** Every form of every *decisive* term of the evaluated families (``FAMILIES``) is put in a
short carrier listing (the form alone, or the form plus a product word when the family needs one, e.g.
a claim needs an absorbable product). Only forms whose plain carrier already produces a non-allow
violation of the family are kept (qualifiers such as "capsules" or "plant" never fire alone). Each kept
form is then written in every way the normaliser is meant to undo (policy.md §2, issue 4 item 6):

* ``zero_width``   -- a zero-width character (U+200B/200C/200D/2060/FEFF/00AD) inside every word;
* ``homoglyph``    -- one Latin letter per word replaced by its Cyrillic look-alike (a mixed-script word);
* ``leet``         -- letters written as digits/symbols (a->4/@, e->3, i->1/!, o->0, s->5/$, t->7/+);
* ``separator``    -- a separator between the letters of every word (``v.a.p.e``, ``电 子 烟``, ``v-a-p-e``);
* ``masked``       -- an inner vowel of every long Latin word written as ``*`` (``st*n g*n``);
* ``fullwidth``    -- ASCII written as full-width forms (``ｖａｐｅ``);
* ``traditional``  -- Chinese forms in traditional characters (OpenCC s2t);
* ``leet+zero_width``, ``fullwidth+separator`` -- two at once.

A transform that does not apply to a form (homoglyphs of a Chinese term, traditional characters of a
Latin one) yields no variant. The first five are deliberate distortions: they must also earn the
keyword-distortion point; full-width and traditional writing is ordinary text hygiene (no point).

**Hard negatives.** The look-alikes the lexicons themselves name -- every exclusion phrase of every term
(alone) and every counter-example -- plainly and under the same transforms: a benign text written
oddly must stay benign. ``expect_family_violation`` is false for them.

Deterministic for a given seed and lexicon content.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

FAMILIES = ("e_cigarette", "controlled_instrument", "sexual_health_drug", "live_animals_plants")
# product words tried after a form whose plain carrier does not fire alone
CARRIER_SUFFIXES = {
    "sexual_health_drug": [" capsules", ""],  # a claim needs a product form: give every form one
    "e_cigarette": [""],
    "controlled_instrument": [""],
    "live_animals_plants": [""],
}
DISTORTIONS = ("zero_width", "homoglyph", "leet", "separator", "masked", "leet+zero_width")
HYGIENE = ("fullwidth", "traditional", "fullwidth+separator")
TRANSFORMS = DISTORTIONS[:5] + ("fullwidth", "traditional", "leet+zero_width", "fullwidth+separator")

_ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
# Cyrillic letters that Unicode's confusables table (UTS #39) lists as look-alikes of a Latin letter
_HOMOGLYPH = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ",
              "j": "ј", "h": "һ"}
# only mappings the normaliser reads back (app/normalization/text.py: _SKELETON, _SYMBOL_LEET)
_LEET = {"a": ["4", "@"], "e": ["3"], "i": ["1", "!"], "o": ["0"], "s": ["5", "$"], "t": ["7", "+"]}
_SEPS = [".", "-", " ", "*", "_", "·", "/"]
_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_WORD = re.compile(r"\w+")


def _s2t():
    from opencc import OpenCC
    return OpenCC("s2t")


@dataclass
class Case:
    family: str
    entry: str
    form: str
    transform: str          # "plain" or a transform name
    title: str
    expect_family_violation: bool
    distortion: bool        # a deliberate distortion (must earn the circumvention point)
    disguise: bool = False  # the form is itself a disguise (pinyin): it earns the point even written plainly


# ------------------------------------------------------------------------------------ transforms
def t_zero_width(s: str, rng: random.Random) -> str | None:
    def ins(m):
        w = m.group(0)
        if len(w) < 2:
            return w
        i = rng.randrange(1, len(w))
        return w[:i] + rng.choice(_ZW) + w[i:]
    out = _WORD.sub(ins, s)
    return out if out != s else None


def t_homoglyph(s: str, rng: random.Random) -> str | None:
    def sub(m):
        w = m.group(0)
        pos = [i for i, c in enumerate(w) if c.lower() in _HOMOGLYPH]
        if len(w) < 3 or not pos:
            return w
        i = rng.choice(pos)
        c = _HOMOGLYPH[w[i].lower()]
        return w[:i] + (c.upper() if w[i].isupper() else c) + w[i + 1:]
    out = _LATIN_WORD.sub(sub, s)
    return out if out != s else None


def t_leet(s: str, rng: random.Random) -> str | None:
    def sub(m):
        w = m.group(0)
        pos = [i for i, c in enumerate(w) if c.lower() in _LEET]
        if len(w) < 3 or not pos:
            return w
        rng.shuffle(pos)
        chosen: set[int] = set()
        for i in pos:  # about half the letters, never two side by side (a leet pair reads as a number)
            if len(chosen) < max(1, len(pos) // 2) and i - 1 not in chosen and i + 1 not in chosen:
                chosen.add(i)
        # a symbol stands for a letter only inside a word ("sal+" is "sal" and a plus sign)
        return "".join((rng.choice(_LEET[c.lower()]) if i < len(w) - 1 else _LEET[c.lower()][0])
                       if i in chosen else c for i, c in enumerate(w))
    out = _LATIN_WORD.sub(sub, s)
    return out if out != s else None


def t_separator(s: str, rng: random.Random) -> str | None:
    sep = rng.choice(_SEPS)

    def sub(m):
        w = m.group(0)
        if _HAN.search(w):
            return sep.join(w) if len(w) >= 2 else w
        return sep.join(w) if len(w) >= 3 else w
    out = _WORD.sub(sub, s)
    return out if out != s else None


def t_masked(s: str, rng: random.Random) -> str | None:
    """One inner vowel of the form, or every inner vowel, written as ``*`` (the two shapes the matcher
    reads: "st*n gun", "st*n g*n"); Latin forms of four letters or more."""
    if not s.isascii() or sum(c.isalpha() for c in s) < 4:
        return None
    pos = [i for i in range(1, len(s) - 1) if s[i].lower() in "aeiou" and s[i - 1].isalpha() and s[i + 1].isalpha()]
    if not pos:
        return None
    chosen = {rng.choice(pos)} if rng.random() < 0.5 else set(pos)
    return "".join("*" if i in chosen else c for i, c in enumerate(s))


def t_fullwidth(s: str, rng: random.Random) -> str | None:
    out = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)
    return out if out != s else None


_CONV = None


def t_traditional(s: str, rng: random.Random) -> str | None:
    global _CONV
    if not _HAN.search(s):
        return None
    if _CONV is None:
        _CONV = _s2t()
    out = _CONV.convert(s)
    return out if out != s else None


def _chain(*fs):
    def run(s, rng):
        for f in fs:
            s2 = f(s, rng)
            if s2 is None:
                return None
            s = s2
        return s
    return run


TRANSFORM_FUNCS = {
    "zero_width": t_zero_width, "homoglyph": t_homoglyph, "leet": t_leet, "separator": t_separator,
    "masked": t_masked, "fullwidth": t_fullwidth, "traditional": t_traditional,
    "leet+zero_width": _chain(t_leet, t_zero_width), "fullwidth+separator": _chain(t_separator, t_fullwidth),
}


# ------------------------------------------------------------------------------------ the set
def lexicon_violation(d, family: str) -> bool:
    """A non-allow violation of ``family`` from its lexicon rules (the text classifier of
    ``app/classifier``, when it is on, is not what this set measures)."""
    return any(v.category == family and v.action != "allow" and not v.rule_id.startswith("classifier.")
               for v in d.violations)


def _fires(engine, family: str, title: str) -> bool:
    from app.models import Listing
    return lexicon_violation(engine.moderate(Listing(listing_id="evasion", title=title)), family)


def generate(engine, families=FAMILIES, seed: int = 20261123) -> tuple[list[Case], list[Case]]:
    """``(positives, hard_negatives)``: plain and transformed cases."""
    lexicons = engine.snapshot.lexicons
    rng = random.Random(seed)
    positives: list[Case] = []
    negatives: list[Case] = []
    for fam in families:
        lx = lexicons.get(fam)
        if lx is None:
            continue
        seen: set[str] = set()
        for term in lx.terms:
            if term.strength != "decisive":
                continue
            for form in term.forms:
                if form.casefold() in seen:
                    continue
                seen.add(form.casefold())
                for suffix in CARRIER_SUFFIXES.get(fam, [""]):
                    if _fires(engine, fam, form + suffix):
                        break
                else:
                    continue  # a qualifier: does not fire alone
                disguise = term.reveals is not None
                positives.append(Case(fam, term.id, form, "plain", form + suffix, True, False, disguise))
                for name in TRANSFORMS:
                    v = TRANSFORM_FUNCS[name](form, rng)
                    if v is None:
                        continue
                    positives.append(Case(fam, term.id, form, name, v + suffix, True, name in DISTORTIONS, disguise))
        phrases: list[tuple[str, str]] = []
        for entry in [*lx.terms, *lx.patterns]:
            for phrase in getattr(entry, "exclude", []):
                phrases.append((entry.id, phrase))
            for ex in entry.counter_examples:
                phrases.append((entry.id, ex.title))
        phrases += [(f"{fam}.exclude", p) for p in lx.exclude]
        done: set[str] = set()
        for entry_id, text in phrases:
            if text.casefold() in done:
                continue
            done.add(text.casefold())
            negatives.append(Case(fam, entry_id, text, "plain", text, False, False))
            for name in TRANSFORMS:
                v = TRANSFORM_FUNCS[name](text, rng)
                if v is not None:
                    negatives.append(Case(fam, entry_id, text, name, v, False, name in DISTORTIONS))
    return positives, negatives


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="write the cases as JSON lines (default: counts only)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args(argv)
    from app.engine import Engine
    pos, neg = generate(Engine(), tuple(a.families.split(",")), a.seed)
    print(f"{len(pos)} positive cases, {len(neg)} hard-negative cases")
    if a.out:
        with a.out.open("w", encoding="utf-8") as fh:
            for c in [*pos, *neg]:
                fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
