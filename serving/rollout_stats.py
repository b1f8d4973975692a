"""What a canary is judged on: per-version windows of requests since the
current rollout step began, and the bounds that compare canary with stable.

Three signals, each against stable over the same step (same traffic mix, same
machine load), because absolute thresholds would page on a busy hour:
- model error rate: requests whose model run failed (validation errors are
  the client's and count for neither);
- P99 latency: canary P99 <= stable P99 * ratio + slack (a lone outlier
  never counts: _p99). Both versions
  share one process and its CPUs, so a canary that is slow because it
  burns CPU slows stable too (measured on 2 cores: canary 33 ms, stable
  18 ms instead of ~3 ms) and can pass; it catches a canary whose own
  calls take longer (waits, bigger graphs on idle cores). Separate canary
  pods compare cleanly;
- prediction confidence: the Jensen-Shannon distance (base 2, 0..1) between
  the two confidence histograms, which catches a model that answers a
  constant or has flipped its scores while erroring on nothing.
"""
import collections
import dataclasses
import math
import threading

import numpy as np

from serving.metrics import CONFIDENCE_BUCKETS

LATENCY_SAMPLES = 5000


@dataclasses.dataclass(frozen=True)
class Bounds:
    """How far a canary may be from stable; the one home of the defaults."""
    min_requests: int = 100
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 2.0
    p99_slack_ms: float = 5.0
    max_confidence_distance: float = 0.2

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class VersionWindow:
    """Counts for one version during one step; cheap on the request path."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = 0
        self.model_errors = 0
        self.latencies_ms = collections.deque(maxlen=LATENCY_SAMPLES)
        self.confidence = [0] * (len(CONFIDENCE_BUCKETS) + 1)

    def observe_request(self, latency_ms, model_error: bool) -> None:
        """`latency_ms` None: a warm-up request (counted, not timed)."""
        with self._lock:
            self.requests += 1
            if model_error:
                self.model_errors += 1
            elif latency_ms is not None:
                self.latencies_ms.append(latency_ms)

    def observe_confidence(self, values) -> None:
        indices = np.searchsorted(CONFIDENCE_BUCKETS, np.asarray(values,
                                                                 float))
        counts = np.bincount(indices, minlength=len(self.confidence))
        with self._lock:
            for i, count in enumerate(counts.tolist()):
                self.confidence[i] += count

    def summary(self) -> dict:
        with self._lock:
            latencies = list(self.latencies_ms)
            histogram = list(self.confidence)
            requests, errors = self.requests, self.model_errors
        p99 = _p99(latencies)
        return {"requests": requests, "model_errors": errors,
                "error_rate": errors / requests if requests else 0.0,
                "p99_ms": None if p99 is None else round(p99, 3),
                "confidence_histogram": histogram,
                "predictions": sum(histogram)}


def _p99(latencies: list):
    """P99, but never a lone maximum: below ~100 samples P99 is the largest
    one, and a single stall (a GC pause, a page fault) would roll back a good
    canary. A slow canary is slow on every call, so its second-largest
    sample is slow too. From 101 samples on this is plain P99."""
    if not latencies:
        return None
    p99 = float(np.percentile(latencies, 99))
    return min(p99, sorted(latencies)[-2]) if len(latencies) > 1 else p99


def js_distance(p: list, q: list) -> float:
    """Jensen-Shannon distance (sqrt of the base-2 divergence), in [0, 1]."""
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
    return math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2))


def judge(canary: dict, stable: dict, bounds: Bounds) -> dict:
    """-> {"ready": enough traffic to judge, "breaches": [why, ...],
    "numbers": {...}}. Breaches are worded for the decision record."""
    numbers = {"canary": _brief(canary), "stable": _brief(stable)}
    breaches = []
    ready = canary["requests"] >= bounds.min_requests and \
        stable["requests"] >= bounds.min_requests
    # An erroring canary is stopped even before min_requests: every error
    # is a request that needed a fallback.
    error_gap = canary["error_rate"] - stable["error_rate"]
    if canary["model_errors"] and (ready or canary["model_errors"] >= 10) \
            and error_gap > bounds.max_error_rate_increase:
        breaches.append(
            f"error rate {canary['error_rate']:.3f} vs stable "
            f"{stable['error_rate']:.3f} (+{error_gap:.3f} > "
            f"{bounds.max_error_rate_increase:g})")
    if ready and canary["p99_ms"] is not None and stable["p99_ms"] is not None:
        limit = stable["p99_ms"] * bounds.max_p99_ratio + bounds.p99_slack_ms
        if canary["p99_ms"] > limit:
            breaches.append(
                f"P99 {canary['p99_ms']:.1f} ms > {limit:.1f} ms (stable "
                f"{stable['p99_ms']:.1f} ms x {bounds.max_p99_ratio:g} + "
                f"{bounds.p99_slack_ms:g} ms)")
    distance = js_distance(canary["confidence_histogram"],
                           stable["confidence_histogram"])
    numbers["confidence_distance"] = round(distance, 4)
    if ready and min(canary["predictions"], stable["predictions"]) >= \
            bounds.min_requests and distance > bounds.max_confidence_distance:
        breaches.append(f"confidence distribution distance {distance:.3f} > "
                        f"{bounds.max_confidence_distance:g} (Jensen-Shannon)")
    return {"ready": ready, "breaches": breaches, "numbers": numbers}


def _brief(summary: dict) -> dict:
    return {key: summary[key] for key in ("requests", "model_errors",
                                          "error_rate", "p99_ms")}
