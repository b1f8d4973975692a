"""Is the canary no worse than stable? Tests on labelled feedback.

Both tests are non-inferiority tests: H0 "canary <= stable - margin" is
rejected (the canary passes) only when the data make it unlikely, i.e.
p_value < 1 - confidence. So absence of evidence fails: two identical
models pass at margin 0.02 with a few thousand labels each, not with ten,
and not at margin 0 (there, p is about 0.5 by symmetry).

- accuracy: one-sided two-proportion z-test with the unpooled (Wald)
  standard error, the usual choice when H0 is shifted by a margin.
- AUC: stratified bootstrap (each version's positives and negatives
  resampled separately, so every resample has both classes); p is the
  share of resampled deltas <= -margin, counted as (k + 1) / (B + 1) so a
  finite bootstrap never claims p = 0.

Worse is the mirror test on the same statistic: H0 "canary >= stable -
margin" rejected (p_worse < 1 - confidence) means the canary is inferior by
more than the tolerated margin, so a rollout rolls it back instead of
holding. For the z-test p_worse = 1 - p_value; for the bootstrap it is the
share of deltas >= -margin, (k + 1) / (B + 1). The two tests cannot both
reject, and between them (too little data, or a delta right at -margin)
the verdict is "hold": keep collecting labels. Each test alone errs at most
1 - confidence when its H0 holds.

Every Decision carries what a reviewer of the promotion needs: both
values, the delta, both p-values, the sample sizes, the method and a
sentence.
"""
import dataclasses
import math
from typing import Optional

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MARGIN = 0.0
DEFAULT_MIN_SAMPLES = 100
DEFAULT_ITERATIONS = 1000
# Bootstrap work per chunk (resamples x rows) bounds memory on big windows.
_CHUNK_CELLS = 4_000_000


@dataclasses.dataclass(frozen=True)
class Decision:
    passed: bool
    metric: str                 # "accuracy" | "auc"
    canary: Optional[float]
    stable: Optional[float]
    delta: Optional[float]      # canary - stable
    p_value: Optional[float]    # of H0: canary <= stable - margin
    n_canary: int
    n_stable: int
    method: str
    reason: str
    margin: float = DEFAULT_MARGIN
    confidence: float = DEFAULT_CONFIDENCE
    worse: bool = False         # canary significantly worse: roll back
    p_worse: Optional[float] = None  # of H0: canary >= stable - margin

    def as_dict(self) -> dict:
        """The JSON decision record (floats rounded for humans)."""
        record = dataclasses.asdict(self)
        for key in ("canary", "stable", "delta"):
            if record[key] is not None:
                record[key] = round(record[key], 6)
        for key in ("p_value", "p_worse"):
            if record[key] is not None:
                record[key] = float(f"{record[key]:.4g}")
        return record


def _check(margin: float, confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got "
                         f"{confidence}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), e.g. 0.01 (one point of "
                         f"accuracy); got {margin}")


def _verdict(metric: str, canary: float, stable: float, p_value: float,
             p_worse: float, n_canary: int, n_stable: int, margin: float,
             confidence: float) -> tuple:
    """-> (passed, worse, reason)."""
    passed = p_value < 1 - confidence
    worse = not passed and p_worse < 1 - confidence
    claim = (f"the canary is no worse than stable - {margin:g}" if margin
             else "the canary is no worse than stable")
    level = f"{100 * confidence:.4g}%"     # 99.69%, not a rounded 100%
    evidence = (f"p={p_value:.3g} {'<' if passed else '>='} "
                f"{1 - confidence:.3g}, n={n_canary}/{n_stable}")
    reason = (f"canary {metric} {canary:.4f} vs stable {stable:.4f} "
              f"(delta {canary - stable:+.4f}): "
              + (f"{claim} at {level} confidence ({evidence})"
                 if passed else
                 f"no evidence at {level} confidence that {claim} "
                 f"({evidence})"))
    if worse:
        worse_than = f"stable - {margin:g}" if margin else "stable"
        reason += (f"; it is worse than {worse_than} at {level} "
                   f"confidence (p_worse={p_worse:.3g} < {1 - confidence:.3g})")
    return passed, worse, reason


def _too_few(metric: str, method: str, need: str, n_canary: int,
             n_stable: int, margin: float, confidence: float,
             canary=None, stable=None) -> Decision:
    delta = None if canary is None or stable is None else canary - stable
    return Decision(False, metric, canary, stable, delta, None, n_canary,
                    n_stable, method,
                    f"need {need}, have canary {n_canary}, stable {n_stable}",
                    margin, confidence)


def accuracy_non_inferiority(canary_correct: int, canary_n: int,
                             stable_correct: int, stable_n: int,
                             margin: float = DEFAULT_MARGIN,
                             confidence: float = DEFAULT_CONFIDENCE,
                             min_samples: int = DEFAULT_MIN_SAMPLES
                             ) -> Decision:
    """One-sided z-test of H0: acc_canary <= acc_stable - margin."""
    _check(margin, confidence)
    for correct, n in ((canary_correct, canary_n), (stable_correct, stable_n)):
        if n < 0 or not 0 <= correct <= max(n, 0):
            raise ValueError(f"correct ({correct}) must be in 0..n ({n})")
    method = "one-sided two-proportion z-test (unpooled)"
    if min(canary_n, stable_n) < max(min_samples, 1):
        canary = canary_correct / canary_n if canary_n else None
        stable = stable_correct / stable_n if stable_n else None
        return _too_few("accuracy", method,
                        f"≥ {max(min_samples, 1)} labelled predictions per "
                        "version", canary_n, stable_n, margin, confidence,
                        canary, stable)
    canary, stable = canary_correct / canary_n, stable_correct / stable_n
    delta = canary - stable
    se = math.sqrt(canary * (1 - canary) / canary_n
                   + stable * (1 - stable) / stable_n)
    if se > 0:
        p_value = float(stats.norm.sf((delta + margin) / se))
        p_worse = float(stats.norm.cdf((delta + margin) / se))
    else:   # both all-right or all-wrong: no spread, the delta decides
        p_value = 0.0 if delta > -margin else 1.0
        p_worse = 0.0 if delta < -margin else 1.0
    passed, worse, reason = _verdict("accuracy", canary, stable, p_value,
                                     p_worse, canary_n, stable_n, margin,
                                     confidence)
    return Decision(passed, "accuracy", canary, stable, delta, p_value,
                    canary_n, stable_n, method, reason, margin, confidence,
                    worse, p_worse)


def _aucs(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """AUC of each row: positives [B, P] and negatives [B, N] scores."""
    both = np.concatenate([positives, negatives], axis=1)
    ranks = stats.rankdata(both, axis=1)
    count_p, count_n = positives.shape[1], negatives.shape[1]
    return ((ranks[:, :count_p].sum(axis=1) - count_p * (count_p + 1) / 2)
            / (count_p * count_n))


def auc(scores, labels) -> Optional[float]:
    """ROC AUC by ranks (Mann-Whitney U, ties count half); None unless both
    classes are present."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    if labels.all() or not labels.any():
        return None
    return float(_aucs(scores[labels][None], scores[~labels][None])[0])


def _resampled_aucs(scores: np.ndarray, labels: np.ndarray, iterations: int,
                    rng: np.random.Generator) -> np.ndarray:
    positives, negatives = scores[labels], scores[~labels]
    chunk = max(1, _CHUNK_CELLS // scores.size)
    out = []
    for start in range(0, iterations, chunk):
        size = min(chunk, iterations - start)
        out.append(_aucs(
            positives[rng.integers(0, positives.size, (size, positives.size))],
            negatives[rng.integers(0, negatives.size, (size, negatives.size))]))
    return np.concatenate(out)


def _binary(scores, labels, name: str) -> tuple:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels)
    if scores.shape != labels.reshape(-1).shape:
        raise ValueError(f"{name}: {scores.size} scores but {labels.size} "
                         "labels; pass one score per label")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name}: AUC needs binary labels 0/1")
    return scores, labels.reshape(-1).astype(bool)


def auc_bootstrap(canary_scores, canary_labels, stable_scores, stable_labels,
                  margin: float = DEFAULT_MARGIN,
                  confidence: float = DEFAULT_CONFIDENCE,
                  iterations: int = DEFAULT_ITERATIONS, seed: int = 0,
                  min_samples: int = DEFAULT_MIN_SAMPLES) -> Decision:
    """Bootstrap test of H0: auc_canary <= auc_stable - margin."""
    _check(margin, confidence)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    canary_scores, canary_labels = _binary(canary_scores, canary_labels,
                                           "canary")
    stable_scores, stable_labels = _binary(stable_scores, stable_labels,
                                           "stable")
    method = f"stratified bootstrap of AUC, {iterations} resamples, seed {seed}"
    n_canary, n_stable = canary_labels.size, stable_labels.size
    both_classes = all(0 < labels.sum() < labels.size
                       for labels in (canary_labels, stable_labels))
    if min(n_canary, n_stable) < max(min_samples, 1) or not both_classes:
        return _too_few("auc", method,
                        f"≥ {max(min_samples, 1)} labelled predictions per "
                        "version, with both classes", n_canary, n_stable,
                        margin, confidence)
    canary = auc(canary_scores, canary_labels)
    stable = auc(stable_scores, stable_labels)
    rng = np.random.default_rng(seed)
    deltas = (_resampled_aucs(canary_scores, canary_labels, iterations, rng)
              - _resampled_aucs(stable_scores, stable_labels, iterations, rng))
    p_value = float((np.sum(deltas <= -margin) + 1) / (iterations + 1))
    p_worse = float((np.sum(deltas >= -margin) + 1) / (iterations + 1))
    passed, worse, reason = _verdict("AUC", canary, stable, p_value, p_worse,
                                     n_canary, n_stable, margin, confidence)
    return Decision(passed, "auc", canary, stable, canary - stable, p_value,
                    n_canary, n_stable, method, reason, margin, confidence,
                    worse, p_worse)
