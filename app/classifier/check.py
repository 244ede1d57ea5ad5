"""``ClassifierCheck``: the text classifier as one more check (policy.md §1: "a classifier suspicion no
deterministic rule confirmed" is a review case).

For every category whose score reaches its ``review`` threshold (policy file, section
``classifier:``) the check emits one finding of that category's review rule (``review: true``), or of
its block rule when the score also reaches a ``block`` threshold (set only where held-out precision
was >= 99 %). Each finding carries

* ``detail.score`` (the calibrated probability), ``detail.threshold``, ``detail.classifier_category``,
  ``detail.model`` (the first 12 hex digits of the model file's sha256) and ``detail.top_ngrams``: the
  n-grams that pushed the score up most, with their weight;
* one ``Evidence`` per top n-gram found in the seller's text, ``method: classifier``, with its span
  in the original field.

Precedence: a lexicon or list finding of the same category wins. That rule lives where findings are
combined (:func:`app.policy.decide.decide` drops a finding of a classifier rule when a finding of
another rule exists for the same category), so the check stays independent of the other checks. A
check that settles a listing as allowed emits nothing, though (an admitted epidemic-products
manufacturer, a blade under the length limit), so the check itself also stays silent on a category
whose lexicon family fired a signal in the shared scan: there the deterministic rules had their say.

The model is loaded once, when the snapshot is built, after its sha256 was compared with the one the
policy records; a missing or different file stops the start-up with a message saying what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.checks.base import Finding, PreparedListing
from app.classifier.features import NONE, FastCounts, ngram_columns, text_of, unique_counts
from app.classifier.train import load_model
from app.models.decision import Evidence

_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


class ModelFileError(ValueError):
    """The model file named by the policy is missing, unreadable or not the one the policy recorded."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_verified(path: Path, expected_sha256: str):
    """The model at ``path`` after checking its sha256; cached per (path, digest), so a reload that
    finds the same file does not parse it again."""
    if not path.is_file():
        raise ModelFileError(
            f"{path}: the classifier model file is missing. Rebuild it with `moderate train --data DIR` "
            "(see models/MODEL_CARD.md), or start with MODERATE_CLASSIFIER=off for lexicon-only moderation")
    digest = _sha256(path)
    if digest != expected_sha256:
        raise ModelFileError(
            f"{path.name}: sha256 {digest} does not match classifier.sha256 {expected_sha256} in the policy "
            "file. The model and the policy (thresholds) belong together: retrain with `moderate train`, or "
            "restore the model file the policy names")
    key = (str(path.resolve()), digest)
    with _CACHE_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            try:
                model = load_model(path)
            except Exception as exc:  # noqa: BLE001 - any parse failure is a start-up error naming the file
                raise ModelFileError(f"{path.name}: cannot load the classifier model: {exc}") from exc
            _MODEL_CACHE[key] = model
    return model


def _linear_weights(clf) -> np.ndarray:
    """Per-class weights whose product with the features ranks n-grams by how much they raise a class."""
    if hasattr(clf, "calibrated_classifiers_"):
        base = clf.calibrated_classifiers_[0].estimator
        return np.asarray(base.coef_)  # one-vs-rest: each row scores its class against all others
    coef = np.asarray(clf.coef_)
    classes = list(clf.classes_)
    if NONE in classes and coef.shape[0] == len(classes):
        return coef - coef[classes.index(NONE)]  # multinomial: relative to "none"
    return coef


class FastScorer:
    """The fitted pipeline's arithmetic for one listing, without scikit-learn's per-call input
    validation (which costs milliseconds on a single row): hashed counts per block, then sublinear
    TF x IDF and L2 per block, the linear scores and the calibration, exactly as ``predict_proba``
    computes them. The counts come from :class:`app.classifier.features.FastCounts` (cached per-word
    n-gram columns, the same counts as the fitted ``HashingVectorizer``), or with ``fast_counts=False``
    from the vectoriser's own ``transform`` (the reference, kept for tests and the benchmark).
    :meth:`verify` compares the result with ``predict_proba`` on sample texts when the check is built."""

    def __init__(self, features, clf, fast_counts: bool = True):
        if getattr(features, "transformer_weights", None):
            raise ModelFileError("the classifier's features are weighted: not the ones the fast path computes")
        self.fast_counts = fast_counts
        self.blocks = []
        offset = 0
        for _name, pipe in features.transformer_list:
            hv, tf = pipe.named_steps["hash"], pipe.named_steps["tfidf"]
            if not (tf.sublinear_tf and tf.use_idf and tf.norm == "l2" and hv.norm is None):
                raise ModelFileError("the classifier's features are not the ones the fast path computes")
            self.blocks.append((hv, FastCounts(hv), np.asarray(tf.idf_, dtype=np.float64), offset))
            offset += hv.n_features
        self.features = features
        # all blocks reproduced exactly by FastCounts: count them together
        self.joint = fast_counts and all(fc.exact for _hv, fc, _idf, _o in self.blocks)
        self._starts = np.array([o for _hv, _fc, _idf, o in self.blocks], dtype=np.int64)
        if hasattr(clf, "calibrated_classifiers_"):
            cal = clf.calibrated_classifiers_[0]
            base = cal.estimator
            self.kind = "sigmoid"
            self.a = np.array([c.a_ for c in cal.calibrators], dtype=np.float64)
            self.b = np.array([c.b_ for c in cal.calibrators], dtype=np.float64)
            if len(cal.calibrators) != len(clf.classes_) or not all(hasattr(c, "a_") for c in cal.calibrators):
                raise ModelFileError("the classifier's calibration is not one sigmoid per class")
        else:
            base = clf
            self.kind = "softmax"
            if getattr(base, "multi_class", "auto") not in ("auto", "multinomial") or len(base.classes_) < 3:
                raise ModelFileError("the classifier is not a multinomial linear model")
        self.wt = np.ascontiguousarray(np.asarray(base.coef_, dtype=np.float64).T)  # (features, classes)
        self.intercept = np.asarray(base.intercept_, dtype=np.float64)
        self.n_classes = len(clf.classes_)

    def counts(self, hv, fc, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ascending columns, counts) of one block for ``text``."""
        if self.fast_counts:
            return fc.counts(text)
        row = hv.transform([text])
        return row.indices, row.data

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the feature row of ``text`` in the union's column space."""
        if self.joint:
            return self._vector_joint(text)
        cols, vals = [], []
        for hv, fc, idf, offset in self.blocks:
            idx, counts = self.counts(hv, fc, text)
            if idx.size == 0:
                continue
            v = (np.log(counts) + 1.0) * idf[idx]
            v /= np.sqrt(np.dot(v, v))
            cols.append(idx + offset)
            vals.append(v)
        if not cols:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        return np.concatenate(cols), np.concatenate(vals)

    def _vector_joint(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`vector` with every block's n-gram columns counted in one sort (union column space),
        then TF x IDF and L2 per block as above."""
        parts = [fc.columns(text) + offset if offset else fc.columns(text) for _hv, fc, _idf, offset in self.blocks]
        cols = np.concatenate(parts)
        if cols.size == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        idx, counts = unique_counts(cols)
        cuts = np.searchsorted(idx, self._starts).tolist() + [idx.size]
        vals = []
        for i, (_hv, _fc, idf, offset) in enumerate(self.blocks):
            a, b = cuts[i], cuts[i + 1]
            if a == b:
                continue
            v = (np.log(counts[a:b]) + 1.0) * idf[idx[a:b] - offset]
            v /= np.sqrt(np.dot(v, v))
            vals.append(v)
        return idx, (vals[0] if len(vals) == 1 else np.concatenate(vals))

    def ngram_names(self, text: str, cols) -> dict[int, list[str]]:
        """Union column -> the distinct n-grams of ``text`` hashed to it, for ``cols`` (the same as
        :func:`app.classifier.features.ngram_columns` restricted to those columns)."""
        if not self.fast_counts:
            names = ngram_columns(self.features, text)
            return {c: names[c] for c in cols if c in names}
        out: dict[int, list[str]] = {}
        for hv, fc, _idf, offset in self.blocks:
            wanted = {c - offset for c in cols if offset <= c < offset + hv.n_features}
            for c, grams in fc.ngram_names(text, wanted).items():
                out[c + offset] = sorted(grams)
        return out

    def proba(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        scores = vals @ np.take(self.wt, cols, axis=0) + self.intercept if len(cols) else self.intercept.copy()
        if self.kind == "sigmoid":
            p = 1.0 / (1.0 + np.exp(self.a * scores + self.b))
            total = p.sum()
            p = p / total if total != 0 else np.full(self.n_classes, 1.0 / self.n_classes)
            p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
            return p
        z = np.exp(scores - scores.max())
        return z / z.sum()

    def verify(self, features, clf, texts: list[str], tol: float = 1e-9) -> None:
        ref = clf.predict_proba(features.transform(texts))
        for hv, fc, _idf, _offset in self.blocks:  # the fast counts are exactly the vectoriser's
            rows = hv.transform(texts)
            for i, t in enumerate(texts):
                idx, cnt = fc.counts(t)
                row = rows[[i]]
                if not (np.array_equal(idx, row.indices) and np.array_equal(cnt, row.data)):
                    raise ModelFileError(f"fast n-gram counts differ from the vectoriser's on {t!r}")
        for i, t in enumerate(texts):
            got = self.proba(*self.vector(t))
            if not np.allclose(got, ref[i], rtol=0, atol=tol):
                raise ModelFileError(f"fast scoring differs from the model's predict_proba on {t!r}")


_VERIFY_TEXTS = ["disposable vape 5000 puffs mango ice", "organic whole milk 1 gallon", "live monstera plant",
                 "一次性电子烟", "Springmesser automatisch", "", "x", "blood glucose meter 50 strips",
                 "Ünïcödé  ＶＡＰＥ\t\u00a0 pods\n\n x | İstanbul ΣΊΣΥΦΟΣ"]


class ClassifierCheck:
    name: ClassVar[str] = "classifier"
    families: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model, thresholds: dict[str, Any], sha256: str, top_ngrams: int = 5, policy=None):
        """``thresholds``: category -> object with ``review``, ``block``, ``review_rule``, ``block_rule``.
        ``policy``: when given, a block rule not yet in force on the listing's date falls back to the
        review rule (live plants were review-only before 2021-11-23)."""
        self.model = model
        self.policy = policy
        self.sha256 = sha256
        self.top_ngrams = top_ngrams
        self.features = model.named_steps["features"]
        self.clf = model.named_steps["clf"]
        classes = list(self.clf.classes_)
        missing = [c for c in thresholds if c not in classes]
        if missing:
            raise ModelFileError(f"the classifier model does not predict the policy's categories {missing}")
        self.thresholds = dict(sorted(thresholds.items()))
        self._cols = [(c, classes.index(c), t) for c, t in self.thresholds.items()]
        self._weights = _linear_weights(self.clf)
        self.fast = FastScorer(self.features, self.clf)
        self.fast.verify(self.features, self.clf, _VERIFY_TEXTS)
        self._wrow = {c: classes.index(c) for c in classes}
        self.rule_ids: tuple[str, ...] = tuple(sorted(
            {t.review_rule for t in self.thresholds.values()} | {t.block_rule for t in self.thresholds.values()
                                                                if t.block_rule}))

    # -------------------------------------------------------------------------------- scoring
    def scores(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in ``self.clf.classes_`` order."""
        return self.clf.predict_proba(self.features.transform(texts))

    def suspicions(self, proba_row: np.ndarray) -> list[tuple[str, float, bool]]:
        """(category, score, blocked) for every category at or above its review threshold."""
        out = []
        for cat, j, t in self._cols:
            p = float(proba_row[j])
            if p >= t.review:
                out.append((cat, p, t.block is not None and p >= t.block))
        return out

    # -------------------------------------------------------------------------------- the check
    def run(self, item: PreparedListing) -> list[Finding]:
        text = text_of(item.listing)
        cols, vals = self.fast.vector(text)
        hits = self.suspicions(self.fast.proba(cols, vals))
        # where the lexicon scan recognised the category (a signal fired, or a chemical name of the
        # lists), that category's check has applied the rules, including the ones that allow (an
        # admitted manufacturer, a blade under the length limit): the model adds nothing there
        hits = [h for h in hits if not self._lexicon_saw(item, h[0])]
        if not hits:
            return []
        findings = []
        as_of = item.listing.as_of or dt.datetime.now(dt.timezone.utc).date()
        for cat, p, blocked in hits:
            t = self.thresholds[cat]
            if blocked and self.policy is not None and not self.policy.rule(t.block_rule).in_force(as_of):
                blocked = False
            grams = self.top_contributions(text, cols, vals, cat)
            evidence = tuple(self._evidence(item.listing, cat, grams))
            detail = {"classifier_category": cat, "score": round(p, 4),
                      "threshold": t.block if blocked else t.review, "model": self.sha256[:12],
                      "top_ngrams": [{"ngram": g, "weight": w} for g, w in grams]}
            findings.append(Finding(t.block_rule if blocked else t.review_rule, evidence,
                                    tuple(sorted(detail.items())), review=not blocked))
        return findings

    @staticmethod
    def _lexicon_saw(item: PreparedListing, category: str) -> bool:
        fam = item.families.get(category)
        return fam is not None and bool(fam.fired or fam.external)

    def top_contributions(self, text: str, cols: np.ndarray, vals: np.ndarray, category: str) -> list[tuple[str, float]]:
        """The n-grams of ``text`` with the largest positive contribution (feature value x weight) to
        ``category``; an n-gram that shares its hashed column with others is listed once, longest first."""
        w = self._weights[self._wrow[category]][cols] * vals
        order = np.argsort(-w, kind="stable")
        chosen = [(int(cols[i]), float(w[i])) for i in order[: self.top_ngrams * 2] if w[i] > 0]
        if not chosen:
            return []
        names = self.fast.ngram_names(text, {c for c, _w in chosen})
        out: list[tuple[str, float]] = []
        seen: set[str] = set()
        for col, weight in chosen:
            grams = sorted(names.get(col, []), key=lambda g: (-len(g.strip()), g))
            if not grams:
                continue
            g = grams[0].strip()
            if g and g.casefold() not in seen:
                seen.add(g.casefold())
                out.append((g, round(weight, 4)))
            if len(out) >= self.top_ngrams:
                break
        return out

    def _evidence(self, listing, category: str, grams: list[tuple[str, float]]):
        fields = [("title", listing.title)]
        fields += [(f"keywords[{i}]", k) for i, k in enumerate(listing.keywords) if k]
        if listing.category:
            fields.append(("category", listing.category))
        if listing.description:
            fields.append(("description", listing.description))
        for gram, weight in grams:
            pattern = r"\W+".join(re.escape(tok) for tok in gram.split())
            for name, value in fields:
                m = re.search(pattern, value, re.IGNORECASE)
                if m:
                    yield Evidence(field=name, start=m.start(), end=m.end(), text=m.group(0),
                                   matched=f"{gram} ({weight:+.3f})", method="classifier",
                                   source=f"classifier:{category}")
                    break
