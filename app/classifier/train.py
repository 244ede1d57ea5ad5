"""Deterministic training: data -> split -> two model families side by side -> the better one ->
per-category thresholds from validation data -> metrics on the test split -> model file, card and the
``classifier:`` section of the policy file.

* **Split** (:mod:`app.classifier.data`): train 70 % / validation 15 % / test 15 % by a seeded hash of
  each row's group. Authored rows are split the same way by template.
* **Families**: multinomial logistic regression, and a linear SVM calibrated with Platt scaling
  (``CalibratedClassifierCV(method="sigmoid")``). Both see the same features and the same training rows.
  The one with the higher mean average precision on the *real* validation rows is kept.
* **Thresholds** (validation rows; real ones only, unless a category has fewer than
  ``MIN_REAL_VAL_POSITIVES`` real positives, then real + authored and the card says so):
  ``review`` = the score maximising F2 among thresholds with precision >= ``REVIEW_MIN_PRECISION``;
  ``block`` = walking down the real validation scores, the lowest cut before the precision of the
  rows above it first drops below ``BLOCK_PRECISION`` (counted from ``BLOCK_MIN_POSITIVES`` true
  positives on), *and* the precision at that score on the real test rows is
  >= ``BLOCK_PRECISION`` too; only for categories whose §3 action follows from the text alone
  (``BLOCK_ELIGIBLE``: chemicals, medical devices and epidemic products depend on the seller's lists,
  permits and qualifications, which the text model cannot see).
* **Metrics**: on the real test rows only (no training run saw them; thresholds were chosen on the
  validation rows).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from app.classifier import features as F
from app.classifier.authored import generate
from app.classifier.data import Row, bucket, load_real, sha256_file  # noqa: F401 (re-exported)

SEED = 20261123
REVIEW_MIN_PRECISION = 0.7
BLOCK_PRECISION = 0.99
BLOCK_MIN_POSITIVES = 30
MIN_REAL_VAL_POSITIVES = 10
BLOCK_ELIGIBLE = ("controlled_instrument", "e_cigarette", "sexual_health_drug", "live_animals_plants")
MODEL_NAME = "classifier.skops"
MAX_MODEL_BYTES = 50 * 1024 * 1024

# Every type the model file may contain: the loader trusts these and nothing else.
TRUSTED_TYPES = [
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.svm._classes.LinearSVC",
    "builtins.slice",
]


def families(seed: int) -> dict[str, Any]:
    """The model families compared, by name (unfitted)."""
    return {
        "logistic_regression": LogisticRegression(C=20.0, max_iter=3000),
        "linear_svm_sigmoid": CalibratedClassifierCV(
            LinearSVC(C=0.5, random_state=seed, max_iter=5000), method="sigmoid", cv=3, ensemble=False),
    }


@dataclass
class Dataset:
    rows: list[Row]
    files: dict[str, str]
    dropped: dict[str, int]
    authored: int
    data_dir: str

    def of(self, split: str, real: bool | None = None) -> list[Row]:
        return [r for r in self.rows if r.split == split and (real is None or r.real == real)]


def load_dataset(data_dir: Path, seed: int = SEED, lists_dir: Path | None = None,
                 limit_per_file: int | None = None, authored_per_template: int | None = None) -> Dataset:
    real = load_real(data_dir, seed, lists_dir, limit_per_file)
    kw = {} if authored_per_template is None else {"per_template": authored_per_template}
    auth = generate(seed, **kw)
    rows = list(real.rows)
    for a in auth:
        group = f"template:{a.template}"
        rows.append(Row(F.listing_text(a.title, (), a.category, a.description), a.label, "authored", group,
                        bucket(seed, "authored", group), a.title, a.category, a.description))
    return Dataset(rows, real.files, dict(real.dropped), len(auth), str(data_dir))


# ----------------------------------------------------------------------------------------- metrics

def _pr(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, int, int]:
    flagged = s >= t
    tp = int((flagged & y).sum())
    n = int(flagged.sum())
    pos = int(y.sum())
    return (tp / n if n else 1.0), (tp / pos if pos else 0.0), tp, n


def review_threshold(y: np.ndarray, s: np.ndarray) -> float:
    """The score maximising F2 among those with precision >= REVIEW_MIN_PRECISION (ties: the higher
    score); without any such score, the one maximising F1."""
    cands = np.unique(s[y]) if y.any() else np.array([0.5])
    best, best_key = 0.5, None
    for t in cands:
        p, r, _tp, _n = _pr(y, s, t)
        if p < REVIEW_MIN_PRECISION:
            continue
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        key = (round(f2, 9), t)
        if best_key is None or key > best_key:
            best, best_key = float(t), key
    if best_key is None:
        for t in cands:
            p, r, _tp, _n = _pr(y, s, t)
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            key = (round(f1, 9), t)
            if best_key is None or key > best_key:
                best, best_key = float(t), key
    return best


def block_threshold(y: np.ndarray, s: np.ndarray) -> float | None:
    """Walking down from the highest score: once BLOCK_MIN_POSITIVES true positives are above the cut,
    the precision of the rows above it must stay >= BLOCK_PRECISION; the block threshold is the lowest
    score reached before it first drops below (None if it is below already at that point)."""
    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys)
    prec = tp / np.arange(1, len(ys) + 1)
    best = None
    for i in range(len(ys)):
        if i + 1 < len(ys) and ss[i + 1] == ss[i]:
            continue  # only cut between different scores
        if tp[i] < BLOCK_MIN_POSITIVES:
            continue
        if prec[i] < BLOCK_PRECISION:
            break
        best = float(ss[i])
    return best


@dataclass
class CategoryResult:
    category: str
    review: float
    block: float | None
    basis: str                       # "real" or "real+authored"
    block_note: str
    val_positives: int
    test_positives: int
    test: dict[str, Any] = field(default_factory=dict)


def _scores_of(model, texts: list[str]) -> np.ndarray:
    proba = model.predict_proba(texts)
    classes = list(model.classes_)
    return np.column_stack([proba[:, classes.index(c)] if c in classes else np.zeros(len(texts))
                            for c in F.LABELS])


def _scores(model, rows: list[Row]) -> np.ndarray:
    if not rows:
        return np.zeros((0, len(F.LABELS)))
    return _scores_of(model, [r.text for r in rows])


def lookalike_texts(lexicon_dir: Path | None = None) -> dict[str, list[str]]:
    """The benign look-alikes the lexicons name (every ``counter_examples`` entry that does not expect
    a block), per category (a lexicon's family is its category): a block threshold must pass them."""
    from app.config import Settings
    from app.matching import load_lexicon

    out: dict[str, list[str]] = {}
    for path in sorted((lexicon_dir or Settings().lexicon_path).glob("*.yaml")):
        lx = load_lexicon(path)
        for entry in [*lx.terms, *lx.patterns]:
            for ex in entry.counter_examples:
                if ex.expect != "block":
                    out.setdefault(lx.family, []).append(
                        F.listing_text(ex.title, ex.keywords, ex.category, ex.description))
    return out


def choose_thresholds(model, ds: Dataset, lookalikes: dict[str, list[str]] | None = None,
                      ) -> dict[str, CategoryResult]:
    """Per category: the review threshold, and a block threshold only where validation and test
    precision reach BLOCK_PRECISION *and* no benign look-alike of the lexicons (their counter-examples)
    would be blocked: the threshold is raised above the highest look-alike score, then re-checked."""
    if lookalikes is None:
        lookalikes = lookalike_texts()
    val_real, val_all, test = ds.of("val", True), ds.of("val"), ds.of("test", True)
    S_vr, S_va, S_t = _scores(model, val_real), _scores(model, val_all), _scores(model, test)
    y_vr = np.array([r.label for r in val_real])
    y_va = np.array([r.label for r in val_all])
    y_t = np.array([r.label for r in test])
    out: dict[str, CategoryResult] = {}
    for j, cat in enumerate(F.CATEGORIES):
        real_pos = int((y_vr == cat).sum())
        if real_pos >= MIN_REAL_VAL_POSITIVES:
            basis, yv, sv = "real", y_vr == cat, S_vr[:, j]
        else:
            basis, yv, sv = "real+authored", y_va == cat, S_va[:, j]
        review = round(review_threshold(yv, sv), 4)
        block, note = None, ""
        if cat not in BLOCK_ELIGIBLE:
            note = "not eligible: the §3 action depends on lists, permits or qualifications the text does not show"
        elif real_pos < BLOCK_MIN_POSITIVES:
            note = f"too few real validation positives ({real_pos} < {BLOCK_MIN_POSITIVES})"
        else:
            b = block_threshold(y_vr == cat, S_vr[:, j])
            if b is None:
                note = f"validation precision never reaches {BLOCK_PRECISION:.0%} on {BLOCK_MIN_POSITIVES}+ positives"
            else:
                b = max(round(b, 4), review)
                looks = lookalikes.get(cat, [])
                worst = float(_scores_of(model, looks)[:, j].max()) if looks else 0.0
                raised = ""
                if worst >= b:
                    b = round(worst + 0.0001, 4)
                    raised = f"; raised above the highest of {len(looks)} lexicon look-alikes ({worst:.4f})"
                p_t, _r, _tp, n_t = _pr(y_t == cat, S_t[:, j], b)
                if n_t == 0:
                    note = f"no real test listing scores above {b}{raised}: no block threshold"
                elif p_t < BLOCK_PRECISION:
                    note = f"test precision at {b} is {p_t:.2%} < {BLOCK_PRECISION:.0%}"
                else:
                    block, note = b, f"validation and test precision >= {BLOCK_PRECISION:.0%}{raised}"
        res = CategoryResult(cat, review, block, basis, note, int((yv).sum()), int((y_t == cat).sum()))
        res.test = category_metrics(y_t == cat, S_t[:, j], review, block)
        out[cat] = res
    return out


def category_metrics(y: np.ndarray, s: np.ndarray, review: float, block: float | None) -> dict[str, Any]:
    m: dict[str, Any] = {"positives": int(y.sum()), "rows": int(len(y))}
    if y.any():
        m["average_precision"] = round(float(average_precision_score(y, s)), 4)
    p, r, tp, n = _pr(y, s, review)
    m["review"] = {"threshold": review, "precision": round(p, 4), "recall": round(r, 4), "flagged": n, "true_positives": tp}
    if block is not None:
        p, r, tp, n = _pr(y, s, block)
        m["block"] = {"threshold": block, "precision": round(p, 4), "recall": round(r, 4), "flagged": n, "true_positives": tp}
    return m


def family_report(model, ds: Dataset) -> dict[str, Any]:
    """Average precision per category on the real validation and test rows (threshold-free)."""
    out: dict[str, Any] = {}
    for split in ("val", "test"):
        rows = ds.of(split, True)
        S = _scores(model, rows)
        y = np.array([r.label for r in rows])
        aps = {c: round(float(average_precision_score(y == c, S[:, j])), 4)
               for j, c in enumerate(F.CATEGORIES) if (y == c).any()}
        out[split] = {"average_precision": aps, "mean_average_precision": round(float(np.mean(list(aps.values()))), 4)
                      if aps else None}
    return out


# ----------------------------------------------------------------------------------------- artefact

def canonical_skops(raw: bytes) -> bytes:
    """A skops archive made byte-for-byte reproducible: skops names array files and memo entries by
    ``id()`` of the objects, which differs between runs; they are renumbered in document order of the
    schema, entries are sorted and get a fixed timestamp. The loader reads the result as usual."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    names = set(src.namelist()) - {"schema.json"}
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "__id__" and isinstance(v, int):
                    node[k] = ids.setdefault(v, len(ids) + 1)
                elif k == "file" and isinstance(v, str) and v in names:
                    node[k] = files.setdefault(v, f"{len(files):06d}{Path(v).suffix}")
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    if set(files) != names:
        raise ValueError(f"skops archive entries not referenced by its schema: {sorted(names - set(files))[:5]}")
    entries = {"schema.json": json.dumps(schema, indent=2, sort_keys=False).encode()}
    entries.update({files[n]: src.read(n) for n in names})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2021, 12, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, entries[name], compresslevel=9)
    return buf.getvalue()


def dump_model(model, path: Path) -> str:
    """Write the model with skops (:func:`canonical_skops`); returns the sha256 of the file."""
    import skops.io as sio

    # scikit-learn caches id(stop_words) on a vectoriser that built its analyzer: a memory address, so
    # a different number in every process; it is only a cache, dropped before writing
    for _name, pipe in model.named_steps["features"].transformer_list:
        vars(pipe.named_steps["hash"]).pop("_stop_words_id", None)
    data = canonical_skops(sio.dumps(model))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def load_model(path: Path):
    """Load a model file trusting only :data:`TRUSTED_TYPES`; anything else is refused."""
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ValueError(f"{path.name}: contains types that are not trusted: {untrusted}")
    return sio.load(path, trusted=TRUSTED_TYPES)


def make_pipeline(family: str, seed: int) -> Pipeline:
    return Pipeline([("features", F.build_features()), ("clf", families(seed)[family])])


# ----------------------------------------------------------------------------------------- policy file

HEADER = "# ---------------------------------------------------------------- classifier (issue 7)"


def policy_section(model_file: str, sha256: str, results: dict[str, CategoryResult], top_ngrams: int) -> str:
    lines = [
        HEADER,
        "# Written by `moderate train` from held-out data (see models/MODEL_CARD.md): the model file, its",
        "# sha256 (the service refuses to start when the file differs) and per category the score from",
        "# which a listing goes to review and, only where held-out precision was >= 99 %, is blocked.",
        "classifier:",
        f"  model: {model_file}",
        f'  sha256: "{sha256}"',
        f"  top_ngrams: {top_ngrams}",
        "  categories:",
    ]
    for cat in F.CATEGORIES:
        r = results[cat]
        block = "null" if r.block is None else f"{r.block}"
        block_rule = "null" if r.block is None else f"classifier.{cat}.block"
        lines.append(f"    {cat}: {{review: {r.review}, block: {block}, review_rule: classifier.{cat}, "
                     f"block_rule: {block_rule}}}")
    return "\n".join(lines) + "\n"


def write_policy_section(policy_path: Path, section: str) -> bool:
    """Replace the ``classifier:`` section (with its comment header) of the policy file, or insert it
    before ``rules:``. Returns whether the file changed."""
    text = policy_path.read_text(encoding="utf-8")
    start = text.find("\n" + HEADER + "\n")
    if start < 0:
        start = text.find("\nclassifier:\n")
    start = start + 1 if start >= 0 else -1
    if start >= 0:
        m = re.compile(r"^classifier:\n(?:(?:[ \t].*|)\n)*", re.M).search(text, start)
        if m is None:
            raise ValueError(f"{policy_path.name}: a classifier header without a classifier: section")
        new = text[:start] + section + text[m.end():]
    else:
        at = text.find("\nrules:\n")
        if at < 0:
            raise ValueError(f"{policy_path.name}: no rules: section to insert the classifier section before")
        new = text[: at + 1] + section + "\n" + text[at + 1:]
    if new != text:
        tmp = policy_path.with_suffix(".yaml.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(policy_path)
        return True
    return False


# ----------------------------------------------------------------------------------------- training

@dataclass
class TrainResult:
    chosen: str
    model: Any
    comparison: dict[str, Any]
    categories: dict[str, CategoryResult]
    dataset: Dataset
    seed: int
    seconds: float
    counts: dict[str, Any]
    none_review_rate: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        """Everything a retrain must reproduce (the reproducibility test compares this)."""
        return {"chosen": self.chosen, "comparison": self.comparison,
                "categories": {c: {"review": r.review, "block": r.block, "test": r.test}
                               for c, r in self.categories.items()},
                "none_review_rate": self.none_review_rate}


def _counts(ds: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in ds.rows:
        key = "authored" if not r.real else "real"
        out.setdefault(r.split, {}).setdefault(key, {}).setdefault(r.label, 0)
        out[r.split][key][r.label] += 1
    return {s: {k: dict(sorted(v.items())) for k, v in sorted(d.items())} for s, d in sorted(out.items())}


def false_review_rate(model, ds: Dataset, cats: dict[str, CategoryResult]) -> dict[str, Any]:
    """Real test rows labelled ``none`` that the classifier alone would flag for review, per file."""
    rows = [r for r in ds.of("test", True) if r.label == F.NONE]
    S = _scores(model, rows)
    th = np.array([cats[c].review for c in F.CATEGORIES])
    flagged = (S[:, : len(F.CATEGORIES)] >= th).any(axis=1)
    out: dict[str, Any] = {}
    for f in sorted({r.file for r in rows}):
        idx = np.array([r.file == f for r in rows])
        out[f] = {"rows": int(idx.sum()), "flagged": int(flagged[idx].sum()),
                  "rate": round(float(flagged[idx].mean()), 4) if idx.any() else 0.0}
    return out


def train(data_dir: Path, seed: int = SEED, lists_dir: Path | None = None, limit_per_file: int | None = None,
          authored_per_template: int | None = None, family: str | None = None, log=print) -> TrainResult:
    t0 = time.time()
    ds = load_dataset(data_dir, seed, lists_dir, limit_per_file, authored_per_template)
    train_rows = ds.of("train")
    texts = [r.text for r in train_rows]
    labels = [r.label for r in train_rows]
    log(f"training rows: {len(train_rows)} ({sum(r.real for r in train_rows)} real, "
        f"{sum(not r.real for r in train_rows)} authored)")
    comparison: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    names = [family] if family else list(families(seed))
    for name in names:
        t = time.time()
        # one BLAS thread: a multi-threaded reduction sums in a different order from run to run, and the
        # model file would then differ in its last bits
        with threadpool_limits(limits=1):
            model = make_pipeline(name, seed).fit(texts, labels)
        fitted[name] = model
        comparison[name] = family_report(model, ds)
        comparison[name]["fit_seconds"] = round(time.time() - t, 1)
        log(f"{name}: validation mAP {comparison[name]['val']['mean_average_precision']}, "
            f"test mAP {comparison[name]['test']['mean_average_precision']}")
    chosen = max(names, key=lambda n: (comparison[n]["val"]["mean_average_precision"] or 0.0, n))
    for n in names:
        comparison[n].pop("fit_seconds")  # wall-clock: not part of what must reproduce
    model = fitted[chosen]
    cats = choose_thresholds(model, ds)
    result = TrainResult(chosen, model, comparison, cats, ds, seed, time.time() - t0, _counts(ds),
                         false_review_rate(model, ds, cats))
    return result


def save(result: TrainResult, models_dir: Path, policy_path: Path | None, top_ngrams: int = 5,
         write_policy: bool = True) -> dict[str, Any]:
    """Write the model, the card (json + md) and the policy section. Returns the card dict."""
    from app.classifier.card import write_card

    path = models_dir / MODEL_NAME
    sha = dump_model(result.model, path)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, above the {MAX_MODEL_BYTES} byte limit")
    check = load_model(path)  # the file loads with the trusted types only
    if list(check.classes_) != list(result.model.classes_):
        raise ValueError(f"{path.name}: reloaded model differs from the trained one")
    card = write_card(result, models_dir, MODEL_NAME, sha, size)
    if write_policy and policy_path is not None:
        changed = write_policy_section(policy_path, policy_section(MODEL_NAME, sha, result.categories, top_ngrams))
        card["policy_changed"] = changed
    return card

