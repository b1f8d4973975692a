"""Input drift: served values vs the training statistics, over a sliding window.

The measures are TFDV's: L-infinity distance for categorical features (string
stats: the largest difference in any value's frequency) and Jensen-Shannon
divergence (base 2, in [0, 1]) for numeric ones, over the training histogram's
buckets plus one underflow and one overflow bucket. The window is the last N
values each feature received, so the gauge follows traffic, not history.
Thresholds come from the schema's `drift_comparator` when it sets them.
"""
import collections
import dataclasses
import threading
from typing import Optional

import numpy as np

L_INFINITY, JENSEN_SHANNON = "l_infinity", "jensen_shannon"
DEFAULT_WINDOW = 1000


@dataclasses.dataclass
class _Numeric:
    edges: np.ndarray                 # ascending bucket boundaries
    probabilities: np.ndarray         # len(edges) + 1 buckets incl. under/overflow

    def distance(self, values: np.ndarray) -> float:
        index = np.searchsorted(self.edges, values, side="right")
        # Values equal to the last edge belong to the last real bucket.
        index[values == self.edges[-1]] = len(self.edges) - 1
        counts = np.bincount(index, minlength=len(self.edges) + 1)
        return jensen_shannon(self.probabilities, counts / counts.sum())


@dataclasses.dataclass
class _Categorical:
    probabilities: dict               # value (bytes) -> training frequency

    def distance(self, values) -> float:
        counts = collections.Counter(
            v if isinstance(v, bytes) else str(v).encode() for v in values)
        total = sum(counts.values())
        keys = set(counts) | set(self.probabilities)
        return max(abs(counts.get(k, 0) / total - self.probabilities.get(k, 0.0))
                   for k in keys)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
    return max(0.0, min(1.0, (kl(p, m) + kl(q, m)) / 2))


def _training_dataset(statistics):
    datasets = list(statistics.datasets)
    for dataset in datasets:
        if dataset.name.lower() in ("train", "training"):
            return dataset
    return datasets[0] if datasets else None


def _feature_name(feature) -> str:
    return feature.path.step[-1] if feature.path.step else feature.name


def references_from_statistics(statistics) -> dict:
    """DatasetFeatureStatisticsList -> {feature: reference distribution}."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    dataset = _training_dataset(statistics)
    references = {}
    if dataset is None:
        return references
    for feature in dataset.features:
        name = _feature_name(feature)
        if feature.HasField("string_stats"):
            stats = feature.string_stats
            buckets = [(b.label, b.sample_count)
                       for b in stats.rank_histogram.buckets] or [
                (v.value, v.frequency) for v in stats.top_values]
            total = stats.common_stats.num_non_missing or sum(
                c for _, c in buckets)
            if buckets and total:
                references[name] = _Categorical(
                    {label.encode(): count / total for label, count in buckets})
        elif feature.HasField("num_stats"):
            for histogram in feature.num_stats.histograms:
                if histogram.type != statistics_pb2.Histogram.STANDARD:
                    continue
                buckets = list(histogram.buckets)
                total = sum(b.sample_count for b in buckets)
                if not buckets or not total:
                    continue
                edges = np.array([b.low_value for b in buckets]
                                 + [buckets[-1].high_value])
                probabilities = np.array(
                    [0.0] + [b.sample_count / total for b in buckets] + [0.0])
                references[name] = _Numeric(edges, probabilities)
                break
    return references


def thresholds_from_schema(schema) -> dict:
    """{(feature, measure): threshold} from the schema's drift_comparator."""
    thresholds = {}
    if schema is None:
        return thresholds
    for feature in schema.feature:
        if not feature.HasField("drift_comparator"):
            continue
        comparator = feature.drift_comparator
        if comparator.HasField("infinity_norm"):
            thresholds[(feature.name, L_INFINITY)] = \
                comparator.infinity_norm.threshold
        if comparator.HasField("jensen_shannon_divergence"):
            thresholds[(feature.name, JENSEN_SHANNON)] = \
                comparator.jensen_shannon_divergence.threshold
    return thresholds


class DriftMonitor:
    """Sliding windows of served values, one per feature with a reference."""

    def __init__(self, references: dict, window: int = DEFAULT_WINDOW,
                 thresholds: Optional[dict] = None):
        self.references = references
        self.thresholds = thresholds or {}
        self._windows = {name: collections.deque(maxlen=window)
                         for name in references}
        self._lock = threading.Lock()

    def observe(self, observed: dict) -> None:
        for name, values in observed.items():
            window = self._windows.get(name)
            if window is not None and len(values):
                window.extend(values.tolist() if hasattr(values, "tolist")
                              else values)

    def distances(self) -> list:
        """[(feature, measure, distance, window size)] for non-empty windows."""
        result = []
        with self._lock:
            for name, window in self._windows.items():
                if not window:
                    continue
                reference = self.references[name]
                if isinstance(reference, _Numeric):
                    values = np.fromiter(window, float, len(window))
                    values = values[np.isfinite(values)]
                    if not values.size:
                        continue
                    result.append((name, JENSEN_SHANNON,
                                   reference.distance(values), len(window)))
                else:
                    result.append((name, L_INFINITY,
                                   reference.distance(list(window)),
                                   len(window)))
        return result
