"""Online feedback inside the server: request ids, the predictions they
name, the labels joined to them, and the A/B evidence a promotion requires.

A predict/classify answer carries `X-Request-Id` (the client's, else a new
uuid4 hex; gRPC: `x-request-id` trailing metadata). With feedback on, its
probabilities are remembered under that id (serving/feedback.py) and, with
--prediction_log_dir, every row is logged (serving/prediction_log.py);
`POST /v1/models/NAME/feedback` joins labels to them. Without feedback or a
log, no id is made up and a response carries no header the client did not
send one for: the wire stays TF Serving's.

`Evidence` is the `Rollouts(evidence=...)` callable: the canary and stable
pairs predicted since the rollout started (the same period for both, so a
shift in the label mix over time is not mistaken for a model difference),
tested by serving/abtest.py.
"""
import json
import logging
import re
import time
import uuid
from typing import Optional

import numpy as np

from serving import abtest, feedback
from serving import examples as examples_lib
from serving.core import CONFIDENCE_OUTPUTS, EXAMPLE_INPUTS
from serving.prediction_log import PredictionLog
from serving.status import Code, ServingError, invalid_argument

log = logging.getLogger("serving")
REQUEST_ID_HEADER = "x-request-id"
# Printable ASCII without spaces: safe to echo in a header and to type.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,%d}" % feedback.MAX_REQUEST_ID)
FEEDBACK_OFF = ("feedback is off on this server: start it with "
                "--enable_feedback (or --rollout_require=accuracy|auc)")


def request_id(sent: Optional[str], make: bool) -> Optional[str]:
    """The request's id: the client's (checked when `make`, i.e. when the
    server uses ids), else a new one when `make`, else None."""
    if sent:
        if _REQUEST_ID.fullmatch(sent):
            return sent
        if make:
            raise invalid_argument(
                f"X-Request-Id {sent[:40]!r}: a request id is 1 to "
                f"{feedback.MAX_REQUEST_ID} printable ASCII characters "
                "without spaces; omit the header and the server makes one")
        return None
    return uuid.uuid4().hex if make else None


def _scores(outputs: dict) -> Optional[np.ndarray]:
    """The first probability output (as core._observe picks it), per row."""
    for alias in CONFIDENCE_OUTPUTS:
        array = outputs.get(alias)
        if array is None or array.dtype.kind != "f" or array.ndim == 0 \
                or array.size == 0:
            continue
        try:
            return feedback._score_rows(array.reshape(array.shape[0], -1))
        except ValueError:          # not probabilities: nothing to judge
            return None
    return None


def _value(value):
    """A feature value as a log row holds it: one value -> a scalar."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist() if value.size != 1 \
            else value.reshape(-1)[0]
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, np.float32):     # its shortest repr, not 12.92000007
        return float(str(value))
    return value.item() if isinstance(value, np.generic) else value


def feature_rows(inputs: Optional[dict], dicts: Optional[list]) -> list:
    """Per-row {feature: value} from dense inputs or tf.Example dicts."""
    if dicts is None and len(inputs or {}) == 1:
        (alias, array), = inputs.items()
        if alias in EXAMPLE_INPUTS and array.dtype == object:
            dicts = examples_lib.parse_serialized(array)
    if dicts is None and not inputs:
        return []
    if dicts is not None:
        return [{name: _value(values) for name, (_, values) in d.items()}
                for d in dicts]
    rows = min((a.shape[0] for a in inputs.values() if a.ndim), default=0)
    return [{name: _value(array[i]) for name, array in inputs.items()}
            for i in range(rows)]


class Online:
    """One server's feedback store, prediction log and feedback endpoint."""

    def __init__(self, metrics, *, feedback_on: bool, max_pending: int,
                 log_dir: Optional[str] = None):
        self.metrics = metrics
        self.store = feedback.FeedbackStore(max_pending=max_pending) \
            if feedback_on else None
        self.prediction_log = PredictionLog(log_dir) if log_dir else None
        if self.store is not None:
            metrics.add_online_source(self._points)

    def observe(self, servable, request_id: Optional[str], outputs: dict,
                inputs: Optional[dict] = None,
                dicts: Optional[list] = None) -> None:
        """After a successful predict/classify: remember and log it. Never
        raises: the answer is computed, bookkeeping must not fail it."""
        if request_id is None:
            return
        try:
            self._observe(servable, request_id, outputs, inputs, dicts)
        except Exception:
            log.exception("feedback/log of request %s failed", request_id)

    def _observe(self, servable, request_id, outputs, inputs, dicts) -> None:
        scores = _scores(outputs)
        now = time.time()
        if scores is not None and self.store is not None:
            self.store.record(request_id, servable.model_name,
                              servable.version, scores, now)
        if self.prediction_log is not None:
            for row, features in enumerate(feature_rows(inputs, dicts)):
                score = None if scores is None or row >= len(scores) \
                    else scores[row]
                self.prediction_log.append({
                    "request_id": request_id, "row": row, "time": now,
                    "model_name": servable.model_name,
                    "version": servable.version, "features": features,
                    "score": score})

    def post_feedback(self, model_name: str, body: bytes) -> dict:
        """The feedback endpoint's answer. One item: any rejection is the
        error. A batch ({"feedback": [...]}): every valid item joins, the
        rejected ones are listed, so a retried import is idempotent."""
        if self.store is None:
            raise ServingError(Code.FAILED_PRECONDITION, FEEDBACK_OFF)
        try:
            items = feedback.parse_feedback_body(body)
        except ServingError as e:
            self.metrics.feedback_rejections.inc((model_name, e.code.name))
            raise
        document = json.loads(body)         # parsed fine just above
        batch = isinstance(document, dict) and "feedback" in document
        answer = {"joined": 0, "rows": 0, "correct": 0, "rejected": []}
        for index, (rid, labels) in enumerate(items):
            try:
                joined = self.store.add_feedback(rid, labels, model_name)
            except ServingError as e:
                self.metrics.feedback_rejections.inc((model_name, e.code.name))
                if not batch:
                    raise
                answer["rejected"].append({"index": index, "request_id": rid,
                                           "status": e.code.name,
                                           "error": e.message})
                continue
            self.metrics.feedback_labels.inc(
                (model_name, str(joined["version"])), joined["rows"])
            answer["joined"] += 1
            answer["rows"] += joined["rows"]
            answer["correct"] += joined["correct"]
        return answer

    def versions(self, model_name: str) -> dict:
        """{version: {"n", "correct", "accuracy", "auc"}} with labels."""
        if self.store is None:
            return {}
        return {str(version): self.store.online_metrics(name, version)
                for name, version in self.store.versions()
                if name == model_name}

    def _points(self):
        for name, version in self.store.versions():
            yield (name, version), self.store.online_metrics(name, version)

    def close(self) -> None:
        if self.prediction_log is not None:
            self.prediction_log.close()


def _correct(scores: np.ndarray, labels: np.ndarray) -> int:
    predicted = (scores >= 0.5).astype(np.int64) if scores.ndim == 1 \
        else np.argmax(scores, axis=1)
    return int(np.sum(predicted == labels))


class Evidence:
    """`Rollouts(evidence=...)`: state -> the A/B decision record.

    The decision loop asks every few seconds while labels arrive; testing
    each time at the full 1 - confidence would let chance win sooner or
    later (optional stopping). So the test runs only at looks: look k
    (k = 0, 1, ...) uses the first min_labels * 2**k rows per version and
    spends alpha / 2**(k+1) of alpha = 1 - confidence (Bonferroni over all
    looks: sum <= alpha), so neither a false pass nor a false "worse" is
    likelier than alpha however long the rollout runs. Between looks the
    record is the cached one (a status poll never reruns a bootstrap).
    """

    def __init__(self, store: feedback.FeedbackStore, metric: str, *,
                 confidence: float, margin: float, min_labels: int):
        if metric not in ("accuracy", "auc"):
            raise ValueError(f"metric must be accuracy or auc, got {metric!r}")
        self.store, self.metric = store, metric
        self.confidence, self.margin = confidence, margin
        self.min_labels = max(1, min_labels)
        self._cached = (None, None)     # (what it was computed on, record)

    def _look(self, rows: int) -> Optional[int]:
        """The last look `rows` labelled rows per version reach, or None."""
        if rows < self.min_labels:
            return None
        return (rows // self.min_labels).bit_length() - 1

    def __call__(self, state) -> dict:
        name, since = state.model_name, state.started
        canary = self.store.pairs(name, state.canary, since=since)
        stable = self.store.pairs(name, state.stable, since=since)
        look = self._look(min(len(canary[1]), len(stable[1])))
        key = (name, state.canary, state.stable, since,
               (len(canary[1]), len(stable[1])) if look is None else look)
        if self._cached[0] != key:
            if look is not None:
                size = self.min_labels * 2 ** look
                canary = canary[0][:size], canary[1][:size]
                stable = stable[0][:size], stable[1][:size]
            self._cached = (key, self._decide(canary, stable, look))
        return dict(self._cached[1])

    def _decide(self, canary: tuple, stable: tuple,
                look: Optional[int]) -> dict:
        alpha = (1 - self.confidence) / 2 ** ((look or 0) + 1)
        common = dict(margin=self.margin, confidence=1 - alpha,
                      min_samples=self.min_labels)
        if self.metric == "accuracy":
            decision = abtest.accuracy_non_inferiority(
                _correct(*canary), len(canary[1]), _correct(*stable),
                len(stable[1]), **common)
        elif canary[0].ndim > 1 or stable[0].ndim > 1:
            return {"passed": False, "worse": False, "metric": "auc",
                    "p_value": None, "n_canary": len(canary[1]),
                    "n_stable": len(stable[1]), "method": "none",
                    "reason": "--rollout_require=auc needs a binary model; "
                              "this one is multi-class: use accuracy"}
        else:
            decision = abtest.auc_bootstrap(*canary, *stable, **common)
        record = decision.as_dict()
        record["look"] = None if look is None else look + 1
        record["reason"] = (
            f"A/B test on labels ({decision.method}"
            + ("" if look is None else
               f"; look {look + 1}, alpha {1 - self.confidence:g}/"
               f"{2 ** (look + 1)}")
            + f"): {decision.reason}")
        return record
