"""The task's two scores of one model's outputs on the eval labels.

Keys and meaning come from tasks.TASKS; this module only computes them:
- binary: AUC of P(positive), accuracy at 0.5;
- multiclass: macro one-vs-rest AUC over all K classes, accuracy of the argmax;
- regression: RMSE, MAE.
"""
from typing import Callable, Dict, Tuple

import numpy as np
from sklearn import metrics as sk_metrics

from components.quantizer import tasks


def _binary(labels: np.ndarray, outputs: np.ndarray) -> Tuple[float, float]:
    unexpected = sorted(set(np.unique(labels)) - {0, 1})
    if unexpected:
        raise ValueError(f"Binary labels must be 0/1; the eval split has {unexpected[:5]}.")
    if len(np.unique(labels)) < 2:
        raise ValueError("Eval split has a single label class; AUC is undefined.")
    probabilities = outputs[:, 0]
    return (float(sk_metrics.roc_auc_score(labels, probabilities)),
            float(np.mean((probabilities >= 0.5) == (labels == 1))))


def _multiclass(labels: np.ndarray, outputs: np.ndarray) -> Tuple[float, float]:
    classes = outputs.shape[1]
    outside = sorted(set(np.unique(labels)) - set(range(classes)))
    if outside:
        raise ValueError(f"Labels must be class indices 0..{classes - 1} (the model "
                         f"outputs {classes} probabilities); the eval split has {outside[:5]}.")
    absent = sorted(set(range(classes)) - set(np.unique(labels)))
    if absent:
        raise ValueError(f"Eval split has no example of class(es) {absent}; "
                         "macro AUC is undefined.")
    # The mean of the per-class one-vs-rest AUCs: what sklearn's
    # roc_auc_score(multi_class="ovr", average="macro") computes, without its
    # demand that rows sum to 1 (a float16 or int8 softmax is off by ~1e-3).
    per_class = [sk_metrics.roc_auc_score(labels == k, outputs[:, k]) for k in range(classes)]
    return (float(np.mean(per_class)),
            float(np.mean(np.argmax(outputs, axis=1) == labels)))


def _regression(labels: np.ndarray, outputs: np.ndarray) -> Tuple[float, float]:
    if not np.all(np.isfinite(labels)):
        raise ValueError("Regression labels must be finite; the eval split has NaN or inf.")
    errors = outputs[:, 0].astype(np.float64) - labels
    return float(np.sqrt(np.mean(errors ** 2))), float(np.mean(np.abs(errors)))


_SCORERS: Dict[str, Callable[[np.ndarray, np.ndarray], Tuple[float, float]]] = {
    "binary": _binary,
    "multiclass": _multiclass,
    "regression": _regression,
}


def task_metrics(task: tasks.Task, labels: np.ndarray, outputs: np.ndarray) -> Dict[str, float]:
    """{task.metric: ..., task.secondary: ...} of `outputs` [N, width]."""
    primary, secondary = _SCORERS[task.name](labels, outputs)
    return {task.metric: primary, task.secondary: secondary}
