"""Text normalisation with an offset map back to what the seller typed.

Two views of every field:

* **view A** (``NormText.text``): ordinary hygiene that is *not* evidence of distortion -- HTML to
  text, NFKC, case folding, diacritics, hyphen/underscore as space, whitespace runs, traditional to
  simplified Chinese -- plus the two passes that are always safe to apply but *are* distortion when
  they sit inside a matched term: zero-width/format characters removed and look-alike characters in
  mixed-script words folded to Latin.
* **view B** (``NormText.deobf``): view A with separators between single characters removed
  (``v.a.p.e``, ``电 子 烟``) and a leetspeak skeleton (``0->o``, ``1/l/!->i``, ``@/4->a`` ...).
  Lexicon terms are folded the same way, and a match found only here is ``deobfuscated``.

Every position of either view maps back to a ``[start, end)`` range of the original string.
"""

from app.normalization.text import (
    FLAG_HOMOGLYPH,
    FLAG_LEET,
    FLAG_MASK,
    FLAG_NORMALIZED,
    FLAG_SEPARATOR,
    FLAG_ZERO_WIDTH,
    NormText,
    Normalizer,
    transform_labels,
)

__all__ = [
    "FLAG_HOMOGLYPH",
    "FLAG_LEET",
    "FLAG_MASK",
    "FLAG_NORMALIZED",
    "FLAG_SEPARATOR",
    "FLAG_ZERO_WIDTH",
    "NormText",
    "Normalizer",
    "transform_labels",
]
