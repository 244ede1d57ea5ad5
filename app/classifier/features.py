"""What the classifier reads: one text per listing and a stateless hashed vectoriser.

The text is ``title | keywords | category | description`` (the description cut to ``DESC_CHARS``
characters, HTML tags dropped). Features are TF-IDF weighted, L2-normalised counts of

* character n-grams within word boundaries (``char_wb``, 2..5), robust to obfuscation, inflection and
  languages written without spaces (Chinese), and
* word unigrams and bigrams,

each hashed into a fixed number of columns (no vocabulary is stored, so the model file stays small and
its size does not grow with the training data). ``alternate_sign=False`` keeps every column a plain
count, so a column's weight can be traced back to the n-grams that hash to it
(:func:`ngram_columns`), which is how a finding names the n-grams that contributed most.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils import murmurhash3_32

# The categories of policy.md §3 the classifier predicts (listing_data is about malformed identifiers,
# not about what a listing sells, so it is not a text category), plus "none".
CATEGORIES = ("controlled_instrument", "e_cigarette", "sexual_health_drug", "hazardous_chemical",
              "medical_device", "epidemic_prevention", "live_animals_plants")
NONE = "none"
LABELS = CATEGORIES + (NONE,)

DESC_CHARS = 600
CHAR_NGRAMS = (2, 5)
WORD_NGRAMS = (1, 2)
CHAR_BITS = 18
WORD_BITS = 17
TOKEN_PATTERN = r"(?u)\b\w+\b"
SEP = " | "

_TAG = re.compile(r"<[^>]{0,200}>")


def listing_text(title: str, keywords: Iterable[str] = (), category: str | None = None,
                 description: str | None = None) -> str:
    parts = [title or ""]
    kws = [k for k in keywords if k]
    if kws:
        parts.append(", ".join(kws))
    if category:
        parts.append(category)
    if description:
        parts.append(_TAG.sub(" ", description[: DESC_CHARS * 2])[:DESC_CHARS])
    return SEP.join(parts)


def text_of(listing) -> str:
    """The classifier text of an :class:`app.models.Listing`."""
    return listing_text(listing.title, listing.keywords, listing.category, listing.description)


def _char_vectorizer(bits: int) -> HashingVectorizer:
    return HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, n_features=2 ** bits,
                             alternate_sign=False, norm=None, lowercase=True, dtype=np.float64)


def _word_vectorizer(bits: int) -> HashingVectorizer:
    return HashingVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, n_features=2 ** bits,
                             token_pattern=TOKEN_PATTERN, alternate_sign=False, norm=None, lowercase=True,
                             dtype=np.float64)


def build_features(char_bits: int = CHAR_BITS, word_bits: int = WORD_BITS) -> FeatureUnion:
    """The (unfitted) feature union: char and word blocks, each hashed counts -> sublinear TF-IDF -> L2."""
    return FeatureUnion([
        ("char", Pipeline([("hash", _char_vectorizer(char_bits)),
                           ("tfidf", TfidfTransformer(sublinear_tf=True))])),
        ("word", Pipeline([("hash", _word_vectorizer(word_bits)),
                           ("tfidf", TfidfTransformer(sublinear_tf=True))])),
    ])


def ngram_columns(features: FeatureUnion, text: str) -> dict[int, list[str]]:
    """Column index (in the union's output) -> the n-grams of ``text`` hashed to it."""
    out: dict[int, list[str]] = {}
    offset = 0
    for _name, pipe in features.transformer_list:
        hv: HashingVectorizer = pipe.named_steps["hash"]
        analyze = hv.build_analyzer()
        for gram in set(analyze(text)):
            col = offset + abs(murmurhash3_32(gram, seed=0)) % hv.n_features
            out.setdefault(col, []).append(gram)
        offset += hv.n_features
    return out
