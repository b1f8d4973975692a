"""What to serve and how: models, version policy, labels, batching, monitoring.

Model configs are TF Serving's own `ModelServerConfig` text proto (the
`--model_config_file` a user already has), parsed with the protos shipped in
`tensorflow-serving-api`. `BatchingParameters` and `MonitoringConfig` are not
shipped there, so their descriptors are declared here with TF Serving's field
names and numbers (`session_bundle_config.proto`, `monitoring_config.proto`)
and parsed with protobuf's real text-format parser: same syntax, same errors.
"""
import dataclasses
import os
from typing import Optional

from google.protobuf import (descriptor_pb2, descriptor_pool, message_factory,
                             text_format, wrappers_pb2)
from tensorflow_serving.config import model_server_config_pb2

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


class ConfigError(ValueError):
    """A config file that cannot be used; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """`model_version_policy`: latest N (TF Serving's default, N=1), all, specific."""
    kind: str = "latest"              # "latest" | "all" | "specific"
    num_versions: int = 1
    versions: tuple = ()

    def choose(self, available: list) -> list:
        """The versions to serve among `available` (ascending ints)."""
        if self.kind == "all":
            return list(available)
        if self.kind == "specific":
            return [v for v in available if v in self.versions]
        return list(available[-self.num_versions:]) if available else []

    def describe(self) -> str:
        if self.kind == "specific":
            return f"specific {list(self.versions)}"
        return "all" if self.kind == "all" else f"latest {self.num_versions}"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: tuple = ()                 # ((label, version), ...)

    def label_map(self) -> dict:
        return dict(self.labels)


def _policy_from_proto(proto) -> VersionPolicy:
    which = proto.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy("all")
    if which == "specific":
        if not proto.specific.versions:
            raise ConfigError("model_version_policy { specific {} } lists no "
                              "versions; add `versions: N` lines")
        return VersionPolicy("specific", versions=tuple(proto.specific.versions))
    if which == "latest":
        count = proto.latest.num_versions or 1
        if count < 1:
            raise ConfigError("latest { num_versions } must be >= 1")
        return VersionPolicy("latest", num_versions=count)
    return VersionPolicy()


def parse_model_config_text(text: str, source: str = "<text>") -> list:
    """`ModelServerConfig` text -> ModelConfigs (TF Serving's error wording)."""
    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ConfigError(f"Error parsing text-format "
                          f"tensorflow.serving.ModelServerConfig in {source}: "
                          f"{e}") from e
    if proto.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source}: only model_config_list is supported "
                          "(custom_model_config is a TF Serving plugin hook)")
    configs, seen = [], set()
    for entry in proto.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise ConfigError(f"{source}: every config needs a name and a "
                              f"base_path; got {entry}")
        if entry.name in seen:
            raise ConfigError(f"{source}: model {entry.name!r} is configured "
                              "twice")
        if entry.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{source}: model {entry.name!r}: model_platform "
                              f"{entry.model_platform!r} is not served; use "
                              "'tensorflow' (and --runtime for TFLite)")
        seen.add(entry.name)
        configs.append(ModelConfig(
            name=entry.name, base_path=entry.base_path,
            policy=_policy_from_proto(entry.model_version_policy),
            labels=tuple(sorted(entry.version_labels.items()))))
    return configs


def read_model_config_file(path: str) -> list:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read --model_config_file {path}: {e}") from e
    return parse_model_config_text(text, source=path)


def single_model_config(name: str, base_path: str) -> list:
    """`--model_name` + `--model_base_path`: latest 1, no labels."""
    return [ModelConfig(name=name, base_path=base_path)]


# --- BatchingParameters / MonitoringConfig ----------------------------------

def _build_message_classes():
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(
        name="tfx_prod_serving/tf_serving_configs.proto",
        package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    field = descriptor_pb2.FieldDescriptorProto
    optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED

    def add(message, name, number, kind, type_name=None, label=optional):
        entry = message.field.add(name=name, number=number, type=kind,
                                  label=label)
        if type_name:
            entry.type_name = type_name

    batching = file.message_type.add(name="BatchingParameters")
    int64_wrapper = ".google.protobuf.Int64Value"
    for name, number in (("max_batch_size", 1), ("batch_timeout_micros", 2),
                         ("max_enqueued_batches", 3), ("num_batch_threads", 4),
                         ("max_execution_batch_size", 9)):
        add(batching, name, number, field.TYPE_MESSAGE, int64_wrapper)
    add(batching, "thread_pool_name", 5, field.TYPE_MESSAGE,
        ".google.protobuf.StringValue")
    add(batching, "allowed_batch_sizes", 6, field.TYPE_INT64, label=repeated)
    add(batching, "pad_variable_length_inputs", 7, field.TYPE_BOOL)
    add(batching, "enable_large_batch_splitting", 8, field.TYPE_MESSAGE,
        ".google.protobuf.BoolValue")
    prometheus = file.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, field.TYPE_BOOL)
    add(prometheus, "path", 2, field.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, field.TYPE_MESSAGE,
        ".tensorflow.serving.PrometheusConfig")
    pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    return (factory.GetPrototype(
                pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")),
            factory.GetPrototype(
                pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")))


BatchingParametersProto, MonitoringConfigProto = _build_message_classes()


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's names; defaults are TF's shared batch scheduler defaults."""
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(
        default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple = ()
    enable_large_batch_splitting: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches",
                     "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"batching parameter {name} must be >= 1")
        if self.batch_timeout_micros < 0:
            raise ConfigError("batch_timeout_micros must be >= 0")
        sizes = self.allowed_batch_sizes
        if sizes:
            if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise ConfigError("allowed_batch_sizes must be positive and "
                                  f"strictly increasing; got {list(sizes)}")
            if sizes[-1] != self.max_batch_size:
                raise ConfigError(
                    "Last entry in allowed_batch_sizes must match "
                    f"max_batch_size; last entry was {sizes[-1]}; expected "
                    f"{self.max_batch_size}")


def parse_batching_parameters(text: str, source: str = "<text>") -> BatchingParameters:
    proto = BatchingParametersProto()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ConfigError(f"Error parsing text-format "
                          f"tensorflow.serving.BatchingParameters in {source}: "
                          f"{e}") from e
    values = {}
    for name in ("max_batch_size", "batch_timeout_micros",
                 "max_enqueued_batches", "num_batch_threads"):
        if proto.HasField(name):
            values[name] = getattr(proto, name).value
    if proto.HasField("enable_large_batch_splitting"):
        values["enable_large_batch_splitting"] = \
            proto.enable_large_batch_splitting.value
    values["allowed_batch_sizes"] = tuple(proto.allowed_batch_sizes)
    return BatchingParameters(**values)


def read_batching_parameters(path: Optional[str]) -> BatchingParameters:
    if not path:
        return BatchingParameters()
    try:
        with open(path) as f:
            return parse_batching_parameters(f.read(), source=path)
    except OSError as e:
        raise ConfigError(f"cannot read --batching_parameters_file {path}: "
                          f"{e}") from e


def read_prometheus_path(path: Optional[str]) -> Optional[str]:
    """The metrics URL path if `--monitoring_config_file` enables Prometheus."""
    if not path:
        return None
    proto = MonitoringConfigProto()
    try:
        with open(path) as f:
            text_format.Parse(f.read(), proto)
    except OSError as e:
        raise ConfigError(f"cannot read --monitoring_config_file {path}: "
                          f"{e}") from e
    except text_format.ParseError as e:
        raise ConfigError(f"Error parsing text-format "
                          f"tensorflow.serving.MonitoringConfig in {path}: "
                          f"{e}") from e
    if not proto.prometheus_config.enable:
        return None
    return proto.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
