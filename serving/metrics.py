"""Prometheus metrics: TF Serving's names and format, plus ours.

The page is written by hand in TF Serving's exposition format
(`util/prometheus_exporter.cc`): `# TYPE` lines even before the first point,
no `# HELP`, counters without a `_total` suffix, histograms as cumulative
`_bucket{le=..}` + `_sum` + `_count`. prometheus-client would rename the
counters, so clients' existing dashboards would break.

Every metric name lives in this module, once.
"""
import bisect
import threading
import time


def exponential_buckets(scale: float, growth: float, count: int) -> list:
    """TF's `Buckets::Exponential`: scale * growth**i, i < count."""
    return [scale * growth ** i for i in range(count)]


# TF Serving (servables/tensorflow/util.cc, core/request_logger.cc,
# batching/batching_session.cc, cc/saved_model/loader.cc).
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
EXAMPLE_COUNTS = ":tensorflow:serving:request_example_counts"
EXAMPLE_COUNT_TOTAL = ":tensorflow:serving:request_example_count_total"
QUEUING_LATENCY = ":tensorflow:serving:batching_session:queuing_latency"
INPUT_BATCH_SIZE = ":tensorflow:serving:batching_session:input_batch_size"
PROCESSED_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
PADDING_SIZE = ":tensorflow:serving:batching_session:padding_size"
LOAD_ATTEMPT_COUNT = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
# Ours.
PREDICTION_CONFIDENCE = ":tfx_prod:serving:prediction_confidence"
PREDICTION_SCORE = ":tfx_prod:serving:prediction_score"
VALIDATION_ERRORS = ":tfx_prod:serving:validation_errors"
OUT_OF_DOMAIN_VALUES = ":tfx_prod:serving:out_of_domain_values"
FEATURE_DRIFT = ":tfx_prod:serving:feature_drift"
FEATURE_DRIFT_WINDOW = ":tfx_prod:serving:feature_drift_window"
FEATURE_DRIFT_THRESHOLD = ":tfx_prod:serving:feature_drift_threshold"
MODEL_VERSION_STATE = ":tfx_prod:serving:model_version_state"
SCHEMA_VALIDATION = ":tfx_prod:serving:schema_validation_enabled"
BATCH_QUEUE_REJECTIONS = ":tfx_prod:serving:batch_queue_rejections"
# Per version (TF Serving's request_count has no version label; a canary
# is judged against stable by these).
VERSION_REQUEST_COUNT = ":tfx_prod:serving:version_request_count"
VERSION_REQUEST_LATENCY = ":tfx_prod:serving:version_request_latency"
# Rollout (serving/rollout.py).
ROLLOUT_TRAFFIC_PERCENT = ":tfx_prod:serving:rollout_traffic_percent"
ROLLOUT_DECISIONS = ":tfx_prod:serving:rollout_decisions"
# Online feedback (serving/online.py): labels joined to predictions by
# request id; accuracy/AUC over each version's newest joined rows.
FEEDBACK_LABELS = ":tfx_prod:serving:feedback_labels"
FEEDBACK_REJECTIONS = ":tfx_prod:serving:feedback_rejections"
ONLINE_ACCURACY = ":tfx_prod:serving:online_accuracy"
ONLINE_AUC = ":tfx_prod:serving:online_auc"
ONLINE_LABELLED_ROWS = ":tfx_prod:serving:online_labelled_rows"

LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 14)
LOAD_LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)
CONFIDENCE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
                      0.8, 0.85, 0.9, 0.95, 0.99, 1.0]
SCORE_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]


def _number(value) -> str:
    if isinstance(value, int):
        return str(value)
    return "%g" % value


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n")


def _labels(names, values) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


class Counter:
    kind = "counter"

    def __init__(self, name: str, labels: tuple):
        self.name, self.labels = name, labels
        self._values = {}
        self._lock = threading.Lock()

    def inc(self, label_values: tuple, amount: int = 1) -> None:
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0) + amount

    def value(self, label_values: tuple) -> int:
        return self._values.get(label_values, 0)

    def lines(self):
        yield f"# TYPE {self.name} {self.kind}"
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{{{_labels(self.labels, key)}}} {_number(value)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, label_values: tuple, value) -> None:
        with self._lock:
            self._values[label_values] = value

    def remove_matching(self, predicate) -> None:
        with self._lock:
            for key in [k for k in self._values if predicate(k)]:
                del self._values[key]


class Histogram:
    def __init__(self, name: str, labels: tuple, bounds: list):
        self.name, self.labels, self.bounds = name, labels, list(bounds)
        self._points = {}              # labels -> [counts..., sum]
        self._lock = threading.Lock()

    def observe(self, label_values: tuple, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            point = self._points.get(label_values)
            if point is None:
                point = self._points[label_values] = [0] * (len(self.bounds) + 2)
            point[index] += 1
            point[-1] += value

    def observe_many(self, label_values: tuple, values) -> None:
        for value in values:
            self.observe(label_values, value)

    def count(self, label_values: tuple) -> int:
        point = self._points.get(label_values)
        return sum(point[:-1]) if point else 0

    def lines(self):
        yield f"# TYPE {self.name} histogram"
        for key, point in sorted(self._points.items()):
            labels = _labels(self.labels, key)
            prefix = f"{self.name}_bucket{{{labels}{',' if labels else ''}"
            cumulative = 0
            for bound, count in zip(self.bounds + ["+Inf"], point[:-1]):
                cumulative += count
                le = bound if bound == "+Inf" else _number(bound)
                yield f'{prefix}le="{le}"}} {cumulative}'
            yield f"{self.name}_sum{{{labels}}} {_number(point[-1])}"
            yield f"{self.name}_count{{{labels}}} {cumulative}"


class Metrics:
    """All metrics of one server; `page()` renders the Prometheus text."""

    def __init__(self):
        self.request_count = Counter(REQUEST_COUNT, ("model_name", "status"))
        self.request_latency = Histogram(
            REQUEST_LATENCY, ("model_name", "API", "entrypoint"),
            LATENCY_BUCKETS_US)
        self.runtime_latency = Histogram(
            RUNTIME_LATENCY, ("model_name", "API", "runtime"),
            LATENCY_BUCKETS_US)
        self.example_counts = Histogram(EXAMPLE_COUNTS, ("model",),
                                        EXAMPLE_COUNT_BUCKETS)
        self.example_count_total = Counter(EXAMPLE_COUNT_TOTAL, ("model",))
        self.queuing_latency = Histogram(QUEUING_LATENCY, ("thread_pool_name",),
                                         LATENCY_BUCKETS_US)
        self.input_batch_size = Histogram(INPUT_BATCH_SIZE, ("thread_pool_name",),
                                          BATCH_SIZE_BUCKETS)
        self.processed_batch_size = Histogram(
            PROCESSED_BATCH_SIZE, ("thread_pool_name",), BATCH_SIZE_BUCKETS)
        self.padding_size = Histogram(PADDING_SIZE, ("thread_pool_name",
                                                     "execution_batch_size"),
                                      BATCH_SIZE_BUCKETS)
        self.load_attempt_count = Counter(LOAD_ATTEMPT_COUNT,
                                          ("model_path", "status"))
        self.load_latency = Histogram(LOAD_LATENCY, ("model_path",),
                                      LOAD_LATENCY_BUCKETS_US)
        self.confidence = Histogram(PREDICTION_CONFIDENCE,
                                    ("model_name", "version"), CONFIDENCE_BUCKETS)
        self.score = Histogram(PREDICTION_SCORE, ("model_name", "version"),
                               SCORE_BUCKETS)
        self.validation_errors = Counter(VALIDATION_ERRORS,
                                         ("model_name", "feature", "rule"))
        self.out_of_domain = Counter(OUT_OF_DOMAIN_VALUES,
                                     ("model_name", "feature"))
        self.version_state = Gauge(MODEL_VERSION_STATE,
                                   ("model_name", "version", "state"))
        self.schema_validation = Gauge(SCHEMA_VALIDATION,
                                       ("model_name", "version"))
        self.queue_rejections = Counter(BATCH_QUEUE_REJECTIONS, ("model_name",))
        self.version_request_count = Counter(
            VERSION_REQUEST_COUNT, ("model_name", "version", "status"))
        self.version_request_latency = Histogram(
            VERSION_REQUEST_LATENCY, ("model_name", "version"),
            LATENCY_BUCKETS_US)
        self.rollout_traffic = Gauge(ROLLOUT_TRAFFIC_PERCENT,
                                     ("model_name", "version", "role"))
        self.rollout_decisions = Counter(ROLLOUT_DECISIONS,
                                         ("model_name", "decision"))
        self.feedback_labels = Counter(FEEDBACK_LABELS,
                                       ("model_name", "version"))
        self.feedback_rejections = Counter(FEEDBACK_REJECTIONS,
                                           ("model_name", "status"))
        self._drift_sources = []       # callables -> [(labels, drift, n, thr)]
        # callables -> [((model, version), {"n", "accuracy", "auc"})]
        self._online_sources = []
        self._started = time.time()

    def add_drift_source(self, source) -> None:
        self._drift_sources.append(source)

    def add_online_source(self, source) -> None:
        self._online_sources.append(source)

    def _online_lines(self):
        """Computed when scraped: AUC is O(n log n), too dear per label."""
        accuracy = Gauge(ONLINE_ACCURACY, ("model_name", "version"))
        auc = Gauge(ONLINE_AUC, ("model_name", "version"))
        rows = Gauge(ONLINE_LABELLED_ROWS, ("model_name", "version"))
        for source in list(self._online_sources):
            for (model, version), online in source():
                labels = (model, str(version))
                rows.set(labels, online["n"])
                if online["accuracy"] is not None:
                    accuracy.set(labels, float(online["accuracy"]))
                if online["auc"] is not None:
                    auc.set(labels, float(online["auc"]))
        for gauge in (accuracy, auc, rows):
            yield from gauge.lines()

    def _drift_lines(self):
        drift = Gauge(FEATURE_DRIFT, ("model_name", "version", "feature",
                                      "measure"))
        window = Gauge(FEATURE_DRIFT_WINDOW, ("model_name", "version",
                                              "feature"))
        threshold = Gauge(FEATURE_DRIFT_THRESHOLD, ("model_name", "version",
                                                    "feature", "measure"))
        for source in list(self._drift_sources):
            for (model, version, feature, measure), value, size, limit in source():
                drift.set((model, version, feature, measure), float(value))
                window.set((model, version, feature), size)
                if limit is not None:
                    threshold.set((model, version, feature, measure), float(limit))
        for gauge in (drift, window, threshold):
            yield from gauge.lines()

    def page(self) -> str:
        lines = []
        for metric in (self.request_count, self.request_latency,
                       self.runtime_latency, self.example_counts,
                       self.example_count_total, self.queuing_latency,
                       self.input_batch_size, self.processed_batch_size,
                       self.padding_size, self.load_attempt_count,
                       self.load_latency, self.confidence, self.score,
                       self.validation_errors, self.out_of_domain,
                       self.version_state, self.schema_validation,
                       self.queue_rejections, self.version_request_count,
                       self.version_request_latency, self.rollout_traffic,
                       self.rollout_decisions, self.feedback_labels,
                       self.feedback_rejections):
            lines.extend(metric.lines())
        lines.extend(self._online_lines())
        lines.extend(self._drift_lines())
        return "\n".join(lines) + "\n"
