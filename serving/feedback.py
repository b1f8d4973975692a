"""Ground-truth labels joined to the predictions they judge.

A prediction is remembered under its request id (`record`) until its labels
arrive (`add_feedback`); the joined pairs give each version's online
accuracy and AUC and are what serving/abtest.py tests a canary on.

What a score is (one per example row):
- binary: P(class 1), a float in [0, 1]; a row [p0, p1] (a classify
  signature's two scores) is binary with P(class 1) = p1. Predicted class:
  1 when the score is >= 0.5. Labels are 0 or 1. Accuracy and AUC.
- multi-class: a probability row of k >= 3 floats; predicted class = argmax;
  labels are class indices 0..k-1. Accuracy only (AUC is None).
- regression is out of scope: a score outside [0, 1] is rejected, because
  "accuracy" of a real-valued output would be a lie.

Memory is bounded: at most `max_pending` unlabelled predictions (the oldest
are evicted and counted) and `max_pairs` joined rows per version (the newest
are kept). Ids that were evicted or already labelled are remembered (as
bounded as the pending ones) so the error can say which it was.
"""
import collections
import json
import threading
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from serving.abtest import auc
from serving.prediction_log import PredictionLog, iter_log_rows  # noqa: F401
from serving.status import Code, ServingError

MAX_REQUEST_ID = 128
DEFAULT_MAX_PENDING = 100_000
DEFAULT_MAX_PAIRS = 1_000_000
BODY_EXAMPLE = '{"request_id": "ID", "labels": [1, 0]}'


class UnknownRequest(ServingError, LookupError):
    """No remembered prediction has this id (never made, or evicted): 404."""

    def __init__(self, message: str):
        super().__init__(Code.NOT_FOUND, message)


class BadFeedback(ServingError, ValueError):
    """Malformed feedback or labels that do not fit the prediction: 400."""

    def __init__(self, message: str, code: Code = Code.INVALID_ARGUMENT):
        super().__init__(code, message)


class DuplicateFeedback(BadFeedback):
    """Labels for this id were already joined; counting twice would bias the
    metrics: 409."""

    def __init__(self, message: str):
        super().__init__(message, Code.ALREADY_EXISTS)


# --- scores -------------------------------------------------------------------

def _score_rows(scores) -> np.ndarray:
    """Scores -> float64 [n] (binary P(class 1)) or [n, k>=3] (multi-class)."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("scores must be a list of floats (binary P(class 1)) "
                         "or of probability rows") from None
    if array.ndim == 2 and array.shape[1] in (1, 2):
        array = array[:, -1]
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise ValueError(f"scores must be one float or one probability row per "
                         f"example, got shape {list(array.shape)}")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError("scores must be probabilities in [0, 1]; regression "
                         "outputs are not supported by online feedback")
    return array


def _predicted(scores: np.ndarray) -> np.ndarray:
    return (scores >= 0.5).astype(np.int64) if scores.ndim == 1 \
        else np.argmax(scores, axis=1)


def _classes(scores: np.ndarray) -> int:
    return 2 if scores.ndim == 1 else scores.shape[1]


class _Pairs:
    """One version's joined (score, label) rows: a ring of the newest."""

    def __init__(self, classes: int, capacity: int):
        self.classes, self.capacity = classes, capacity
        width = () if classes == 2 else (classes,)
        self.scores = np.empty((min(capacity, 1024), *width))
        self.labels = np.empty(min(capacity, 1024), np.int64)
        self.times = np.empty(min(capacity, 1024))   # when predicted
        self.size = self.start = self.correct = 0
        self.added = 0
        self._auc_at = (-1, None)   # (rows added when computed, auc)

    def add(self, scores: np.ndarray, labels: np.ndarray,
            predicted_at: float) -> None:
        for score, label in zip(scores, labels):
            self._add_one(score, label, predicted_at)
        self.added += len(labels)

    def _add_one(self, score, label, predicted_at: float) -> None:
        if self.size < self.capacity and self.size == len(self.labels):
            grow = min(self.capacity, 2 * self.size)
            self.scores = np.resize(self.scores, (grow, *self.scores.shape[1:]))
            self.labels = np.resize(self.labels, grow)
            self.times = np.resize(self.times, grow)
        if self.size < self.capacity:
            index = self.size
            self.size += 1
        else:   # full: overwrite the oldest
            index = self.start
            self.start = (self.start + 1) % self.capacity
            self.correct -= int(self._is_correct(self.scores[index],
                                                 self.labels[index]))
        self.scores[index], self.labels[index] = score, label
        self.times[index] = predicted_at
        self.correct += int(self._is_correct(score, label))

    def _is_correct(self, score, label) -> bool:
        predicted = int(score >= 0.5) if self.classes == 2 \
            else int(np.argmax(score))
        return predicted == int(label)

    def ordered(self, since: Optional[float] = None) -> tuple:
        order = (np.arange(self.size) + self.start) % max(self.size, 1)
        if since is not None:
            order = order[self.times[order] >= since]
        return self.scores[order].copy(), self.labels[order].copy()

    def auc(self) -> Optional[float]:
        if self.classes != 2:
            return None
        if self._auc_at[0] != self.added:
            scores, labels = self.ordered()
            self._auc_at = (self.added, auc(scores, labels))
        return self._auc_at[1]


# --- the store ------------------------------------------------------------------

def _check_labels(labels, classes: int, rows: int, request_id: str
                  ) -> np.ndarray:
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise BadFeedback(f"labels for request {request_id} must be a list "
                          f"with one label per row, e.g. {BODY_EXAMPLE}")
    if len(labels) != rows:
        raise BadFeedback(f"request {request_id} predicted {rows} row(s); "
                          f"send exactly one label per row in the same order "
                          f"(got {len(labels)})")
    values = []
    for label in labels:
        if isinstance(label, (bool, np.bool_)):
            label = int(label)
        if not isinstance(label, (int, float, np.integer, np.floating)) or \
                not float(label).is_integer() or not 0 <= label < classes:
            raise BadFeedback(
                f"label {label!r} for request {request_id}: labels are class "
                f"indices 0..{classes - 1} (binary: 0 or 1)")
        values.append(int(label))
    return np.array(values, np.int64)


class FeedbackStore:
    """Thread-safe; every method is O(rows) except AUC (O(n log n), cached)."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING,
                 max_pairs: int = DEFAULT_MAX_PAIRS):
        if max_pending < 1 or max_pairs < 1:
            raise ValueError("max_pending and max_pairs must be >= 1")
        self.max_pending, self.max_pairs = max_pending, max_pairs
        self._pending = collections.OrderedDict()  # id -> (model, version, scores)
        self._evicted = collections.OrderedDict()  # id -> None, bounded
        self._joined = collections.OrderedDict()   # id -> None, bounded
        self._pairs = {}                           # (model, version) -> _Pairs
        self.evictions = 0
        self._lock = threading.Lock()

    @staticmethod
    def _remember(ids: collections.OrderedDict, request_id: str,
                  limit: int) -> None:
        ids[request_id] = None
        while len(ids) > limit:
            ids.popitem(last=False)

    def record(self, request_id: str, model_name: str, version: int,
               scores, predicted_at: Optional[float] = None) -> bool:
        """Remembers one prediction; False (and nothing changes) when the id
        is already pending or labelled: the first prediction keeps it.
        Raises ValueError for scores this store does not support."""
        rows = _score_rows(scores)
        at = time.time() if predicted_at is None else predicted_at
        with self._lock:
            if request_id in self._pending or request_id in self._joined:
                return False
            self._pending[request_id] = (model_name, int(version), rows, at)
            self._evicted.pop(request_id, None)
            while len(self._pending) > self.max_pending:
                old, _ = self._pending.popitem(last=False)
                self._remember(self._evicted, old, self.max_pending)
                self.evictions += 1
        return True

    def add_feedback(self, request_id: str, labels,
                     model_name: Optional[str] = None) -> dict:
        """Joins one label per row -> {"model_name", "version", "rows",
        "correct"}. `model_name` (the URL's) must match the prediction's.
        A rejected call changes nothing, so a corrected retry still joins."""
        with self._lock:
            entry = self._pending.get(request_id)
            if entry is None:
                raise self._why_unknown(request_id)
            name, version, scores, predicted_at = entry
            if model_name is not None and model_name != name:
                raise UnknownRequest(
                    f"request {request_id} was a prediction of model {name}, "
                    f"not {model_name}; post its feedback to "
                    f"/v1/models/{name}/feedback")
            values = _check_labels(labels, _classes(scores), len(scores),
                                   request_id)
            pairs = self._pairs.get((name, version))
            if pairs is None:
                pairs = self._pairs[(name, version)] = _Pairs(
                    _classes(scores), self.max_pairs)
            elif pairs.classes != _classes(scores):
                raise BadFeedback(
                    f"request {request_id} has {_classes(scores)}-class scores "
                    f"but version {version} of {name} recorded "
                    f"{pairs.classes}-class ones", Code.FAILED_PRECONDITION)
            pairs.add(scores, values, predicted_at)
            del self._pending[request_id]
            self._remember(self._joined, request_id, self.max_pending)
        return {"model_name": name, "version": version, "rows": len(values),
                "correct": int(np.sum(_predicted(scores) == values))}

    def _why_unknown(self, request_id: str) -> ServingError:
        if request_id in self._joined:
            return DuplicateFeedback(
                f"request {request_id} already has feedback; each prediction "
                "is counted once")
        if request_id in self._evicted:
            return UnknownRequest(
                f"request {request_id} was evicted before its feedback "
                f"arrived: the server keeps the newest {self.max_pending} "
                "unlabelled predictions (--feedback_max_pending); send labels "
                "sooner or raise the limit")
        return UnknownRequest(
            f"no prediction with request id {request_id}: use the "
            "X-Request-Id of a predict or classify answered by this server "
            "since it started, by a signature that outputs probabilities "
            f"(it keeps the newest {self.max_pending})")

    def online_metrics(self, model_name: str, version: int) -> dict:
        """{"n", "correct", "accuracy", "auc"}: accuracy None until a label,
        AUC None until both classes were seen (and for multi-class)."""
        with self._lock:
            pairs = self._pairs.get((model_name, int(version)))
            if pairs is None or not pairs.size:
                return {"n": 0, "correct": 0, "accuracy": None, "auc": None}
            return {"n": pairs.size, "correct": pairs.correct,
                    "accuracy": pairs.correct / pairs.size,
                    "auc": pairs.auc()}

    def pairs(self, model_name: str, version: int,
              since: Optional[float] = None) -> tuple:
        """(scores, labels) numpy copies, oldest first: scores [n] for binary,
        [n, k] for multi-class; empty arrays before any feedback. `since`
        (epoch seconds): only predictions made then or later, so an A/B test
        compares both versions over the same period."""
        with self._lock:
            pairs = self._pairs.get((model_name, int(version)))
            if pairs is None:
                return np.empty(0), np.empty(0, np.int64)
            return pairs.ordered(since)

    def versions(self) -> list:
        """[(model, version)] that have joined pairs, sorted."""
        with self._lock:
            return sorted(self._pairs)

    def pending(self) -> int:
        return len(self._pending)


# --- the wire format ------------------------------------------------------------

def _item(document, where: str) -> tuple:
    if not isinstance(document, dict):
        raise BadFeedback(f"{where}: each feedback item is an object, e.g. "
                          f"{BODY_EXAMPLE}")
    unknown = sorted(set(document) - {"request_id", "labels"})
    if unknown:
        raise BadFeedback(f"{where}: unknown field(s) {', '.join(unknown)}; an "
                          f"item has only request_id and labels, e.g. "
                          f"{BODY_EXAMPLE}")
    rid = document.get("request_id")
    if not isinstance(rid, str) or not rid.strip() or \
            len(rid) > MAX_REQUEST_ID:
        raise BadFeedback(f"{where}: request_id must be the non-empty "
                          f"X-Request-Id string (at most {MAX_REQUEST_ID} "
                          f"characters) of the predict answer, e.g. "
                          f"{BODY_EXAMPLE}")
    labels = document.get("labels")
    if not isinstance(labels, list) or not labels or any(
            isinstance(v, (dict, list, str)) or v is None for v in labels):
        raise BadFeedback(f"{where}: labels must be a non-empty list of class "
                          f"numbers, one per predicted row, e.g. "
                          f'"labels": [1, 0]')
    return rid, labels


def _items(document, where: str) -> list:
    if isinstance(document, dict) and "feedback" in document:
        batch = document["feedback"]
        if len(document) != 1 or not isinstance(batch, list) or not batch:
            raise BadFeedback(f'{where}: "feedback" must be the only field, a '
                              f"non-empty list of items, e.g. "
                              f'{{"feedback": [{BODY_EXAMPLE}]}}')
        return [_item(item, f"{where} feedback[{i}]")
                for i, item in enumerate(batch)]
    return [_item(document, where)]


def _json(text, where: str):
    try:
        return json.loads(text)
    except ValueError as e:
        raise BadFeedback(f"{where} is not JSON ({e}); send {BODY_EXAMPLE} or "
                          '{"feedback": [...]}') from None


def parse_feedback_body(body: bytes) -> list:
    """A REST body -> [(request_id, labels)]; BadFeedback names the field."""
    return _items(_json(body or b"", "the body"), "the body")


def read_feedback_file(path: str) -> list:
    """A JSON-lines file (any tf.io.gfile URI) of feedback items -> [(id,
    labels)]; blank lines are skipped, a bad line is named by number."""
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    except tf.errors.OpError as e:
        raise BadFeedback(f"cannot read feedback file {path}: {e.message}",
                          Code.NOT_FOUND) from None
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            where = f"{path}:{number}"
            items.extend(_items(_json(line, where), where))
    return items
