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

:class:`FastCounts` computes the same hashed counts as the fitted ``HashingVectorizer`` for one text,
several times faster (bench/results/bench_classifier.md): scikit-learn builds every ``char_wb`` n-gram of a document in Python and hashes
them through a generator, while here a word's n-gram columns are computed once and kept in a bounded
LRU cache (``char_wb`` n-grams never cross a whitespace-separated word, so a document's counts are the
sum of its words'). Same preprocessing, same n-grams, same MurmurHash3 and column rule, so the counts
are identical, not approximately equal (tests/test_classifier_fast.py).
"""

from __future__ import annotations

import functools
import itertools
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


def column(gram: str, n_features: int) -> int:
    """The column ``HashingVectorizer`` (``FeatureHasher``) gives ``gram``: signed MurmurHash3 (seed 0)
    of its UTF-8 bytes, absolute value modulo ``n_features``, with scikit-learn's rule for -2**31
    (sklearn/feature_extraction/_hashing_fast.pyx)."""
    h = murmurhash3_32(gram, seed=0)
    if h == -2147483648:
        return (2147483647 - (n_features - 1)) % n_features
    return abs(h) % n_features


def ngram_columns(features: FeatureUnion, text: str) -> dict[int, list[str]]:
    """Column index (in the union's output) -> the n-grams of ``text`` hashed to it (the reference;
    :meth:`FastCounts.ngram_names` answers the same for a few columns)."""
    out: dict[int, list[str]] = {}
    offset = 0
    for _name, pipe in features.transformer_list:
        hv: HashingVectorizer = pipe.named_steps["hash"]
        analyze = hv.build_analyzer()
        for gram in set(analyze(text)):
            out.setdefault(offset + column(gram, hv.n_features), []).append(gram)
        offset += hv.n_features
    return out


# ------------------------------------------------------------------------------------------ fast counts
WORD_CACHE_SIZE = 1 << 15
"""Words whose n-gram columns are kept (LRU, one cache per vectoriser). Measured with tracemalloc: ~320
bytes per entry on real listing words (~10 MB when full)."""
CACHED_WORD_CHARS = 32
"""Longer words are hashed every time, never cached: an entry is bounded (<= 4 x 32 int32 columns), so
a stream of unique long words cannot grow the cache beyond ~23 MB (measured with 32-letter words)."""

try:  # scikit-learn's C loop behind FeatureHasher: hashes a list of strings without a Python call each
    from sklearn.feature_extraction._hashing_fast import transform as _hashing_transform
except ImportError:  # pragma: no cover - another scikit-learn layout: hash one n-gram at a time
    _hashing_transform = None


def columns_of(grams: list[str], n_features: int) -> np.ndarray:
    """:func:`column` of every n-gram, int32 (in bulk through scikit-learn's own hashing loop)."""
    if _hashing_transform is not None:
        idx = _hashing_transform([zip(grams, itertools.repeat(1))], n_features, np.float64, False, 0)[0]
        return np.asarray(idx, dtype=np.int32)
    return np.array([column(g, n_features) for g in grams], dtype=np.int32)


_EMPTY = np.zeros(0, dtype=np.int32)
_WORD_RUN = re.compile(r"\w+")


def unique_counts(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, float64 count of each) of a non-empty int array: ``np.unique(...,
    return_counts=True)`` with less overhead."""
    s = np.sort(cols)
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = first.nonzero()[0]
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = s.size
    ends -= starts
    return s[starts], ends.astype(np.float64)


def _plain(hv: HashingVectorizer) -> bool:
    """The vectoriser settings :class:`FastCounts` reproduces: text input, lowercase, no accent
    stripping, no custom preprocessor/tokenizer/analyser, no stop words, plain counts."""
    return (hv.input == "content" and hv.lowercase is True and not hv.strip_accents and hv.preprocessor is None
            and hv.tokenizer is None and hv.stop_words is None and not hv.binary and hv.norm is None
            and not hv.alternate_sign and np.dtype(hv.dtype) == np.float64
            and hv.analyzer in ("char_wb", "word"))


class FastCounts:
    """``hv.transform([text])`` of one fitted ``HashingVectorizer`` as (sorted column indices, counts).

    ``char_wb``: scikit-learn lowercases, replaces whitespace runs by one space, splits on whitespace
    and takes the n-grams of each word padded with one space on both sides
    (``_VectorizerMixin._char_wb_ngrams``). The columns of one word's n-grams are computed once and
    cached (bounded LRU, thread-safe: ``functools.lru_cache`` over a pure function); a document's
    counts are then one concatenation and one ``np.unique``. ``word``: lowercase, ``token_pattern``,
    n-grams joined by one space (``_word_ngrams``), each hashed. A vectoriser with other settings is
    delegated to its own ``transform`` (``self.exact`` is False), so the result never differs."""

    def __init__(self, hv: HashingVectorizer, cache_size: int = WORD_CACHE_SIZE):
        self.hv = hv
        self.n_features = int(hv.n_features)
        self.min_n, self.max_n = hv.ngram_range
        self.analyzer = hv.analyzer
        self.exact = _plain(hv) and 1 <= self.min_n <= self.max_n
        if self.analyzer == "word" and self.exact:
            # r"(?u)\b\w+\b" finds the same tokens as r"\w+" (a greedy run of word characters always
            # starts and ends at a word boundary), a little faster
            self._tokenize = (_WORD_RUN.findall if hv.token_pattern == r"(?u)\b\w+\b"
                              else hv.build_tokenizer())
        # char_wb: word -> the int32 columns of its n-grams, as bytes. Word n-grams are hashed in bulk
        # every time instead: bigrams repeat too seldom for a cache to pay.
        self._cached = functools.lru_cache(maxsize=cache_size)(self._word_columns)

    # -------------------------------------------------------------------- char_wb
    def word_grams(self, word: str) -> list[str]:
        """The ``char_wb`` n-grams of one (lowercased) word, in scikit-learn's order."""
        w = " " + word + " "
        w_len = len(w)
        grams = []
        for n in range(self.min_n, self.max_n + 1):
            offset = 0
            grams.append(w[offset:offset + n])
            while offset + n < w_len:
                offset += 1
                grams.append(w[offset:offset + n])
            if offset == 0:  # a short word (w_len < n) counts once
                break
        return grams

    def _word_columns(self, word: str) -> bytes:
        return columns_of(self.word_grams(word), self.n_features).tobytes()

    def words(self, text: str) -> list[str]:
        """The lowercased whitespace-separated words. scikit-learn first replaces runs of ``\\s`` by one
        space, which cannot change what ``str.split()`` returns: both use Python's one definition of
        whitespace (tests/test_classifier_fast.py checks every code point)."""
        return text.lower().split()

    def _char_columns(self, words: list[str]) -> list[bytes]:
        if not words:
            return []
        if max(map(len, words)) <= CACHED_WORD_CHARS:
            return list(map(self._cached, words))
        cached, direct, limit = self._cached, self._word_columns, CACHED_WORD_CHARS
        return [cached(w) if len(w) <= limit else direct(w) for w in words]

    # -------------------------------------------------------------------- word
    def word_ngrams(self, text: str) -> list[str]:
        """The word n-grams of ``text`` (scikit-learn's ``_word_ngrams`` without stop words)."""
        tokens = self._tokenize(text.lower())
        min_n, max_n = self.min_n, self.max_n
        if max_n == 1:
            return tokens
        if min_n == 1:
            grams = list(tokens)
            min_n += 1
        else:
            grams = []
        for n in range(min_n, min(max_n + 1, len(tokens) + 1)):
            # " ".join(tokens[i:i + n]) for every i, in scikit-learn's order
            grams.extend(map(" ".join, zip(*(tokens[j:] for j in range(n)))))
        return grams

    # -------------------------------------------------------------------- both
    def columns(self, text: str) -> np.ndarray:
        """The column of every n-gram occurrence of ``text`` (unsorted, with repeats), int32."""
        if self.analyzer == "char_wb":
            return np.frombuffer(b"".join(self._char_columns(self.words(text))), dtype=np.int32)
        grams = self.word_ngrams(text)
        if not grams:
            return np.zeros(0, dtype=np.int32)
        return columns_of(grams, self.n_features)

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices ascending, float64 counts): ``hv.transform([text])``'s one row."""
        if not self.exact:
            row = self.hv.transform([text])
            return row.indices, np.asarray(row.data, dtype=np.float64)
        cols = self.columns(text)
        if cols.size == 0:
            return _EMPTY, np.zeros(0)
        return unique_counts(cols)

    def ngram_names(self, text: str, wanted: set[int]) -> dict[int, set[str]]:
        """Column -> the distinct n-grams of ``text`` hashed to it, for the columns in ``wanted``."""
        out: dict[int, set[str]] = {}
        if not wanted:
            return out
        n = self.n_features
        if not self.exact:
            grams = set(self.hv.build_analyzer()(text))
        elif self.analyzer == "char_wb":
            words = list(dict.fromkeys(self.words(text)))
            blobs = self._char_columns(words)
            hit = [w for w, b in zip(words, blobs)
                   if not wanted.isdisjoint(np.frombuffer(b, dtype=np.int32).tolist())]
            grams = {g for w in hit for g in self.word_grams(w)}
        else:
            grams = set(self.word_ngrams(text))
        for g in grams:
            c = column(g, n)
            if c in wanted:
                out.setdefault(c, set()).add(g)
        return out

    def cache_info(self):
        return self._cached.cache_info()
