"""A project file (`tfx-prod.yaml`): what a dataset is and how to train on it.

Bring-your-own-data is a configuration, not a code change: `tfx-prod init`
writes this file next to the data, `tfx-prod run --config FILE` reads it. It
names the dataset (hence its pipeline, ML Metadata context and serving model
name), the label and the task, null tokens, how each column is encoded, the
slices and the gates. User modules stay the way to customise: `modules:`
points at your own preprocessing_fn, as the taxi example does.

Every rule about the file's content lives here: `load` raises ProjectError
naming the file and the key, with what to write instead.
"""
import dataclasses
import math
import os
import re
from typing import Any, Optional

import yaml

TASKS = ("binary", "multiclass", "regression")
ENCODINGS = ("numeric", "log_numeric", "integer_categorical", "categorical")
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# Column names become tensor and signature input names, which TF restricts.
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
MAX_CLASSES = 100
DEFAULT_TOP_K = 50
GENERIC_PREPROCESSING_FN = "modules.generic.preprocessing.preprocessing_fn"


class ProjectError(ValueError):
    """The project file is wrong; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input column and its encoding (see modules/generic/)."""
    name: str
    encoding: str
    top_k: int = DEFAULT_TOP_K          # categorical: vocabulary size
    low: Optional[int] = None           # integer_categorical: inclusive
    high: Optional[int] = None

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None}


def default_gates(task: str) -> dict:
    if task == "regression":
        # No absolute ceiling by default: `init` writes one from the data.
        return {"max_rmse": None, "max_rmse_increase": 0.0,
                "quantization_max_rmse_increase": 0.0}
    return {"min_auc": 0.5, "min_accuracy": 0.0, "max_auc_regression": 0.002,
            "quantization_max_auc_drop": 0.01}


@dataclasses.dataclass(frozen=True)
class Project:
    """A loaded, validated project file."""
    path: str
    name: str
    data_root: str
    schema_path: Optional[str]
    label: str
    task: str
    features: tuple[Feature, ...]
    positive: Optional[str] = None
    classes: tuple[str, ...] = ()
    null_values: tuple[str, ...] = ()
    missing_values: dict = dataclasses.field(default_factory=dict)
    drop: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()
    gates: dict = dataclasses.field(default_factory=dict)
    train_steps: Optional[int] = None
    preprocessing_fn: str = GENERIC_PREPROCESSING_FN

    @property
    def pipeline_name(self) -> str:
        return f"tfx-prod-{self.name}"

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def label_key(self) -> str:
        """The label's name after Transform, which the Trainer reads.

        The generic preprocessing writes `<label>_xf` (so TFMA never confuses
        it with the raw column); a user module that derives the label (taxi)
        writes it under `label` itself.
        """
        if self.preprocessing_fn == GENERIC_PREPROCESSING_FN:
            return f"{self.label}_xf"
        return self.label

    def feature_plan(self) -> dict:
        """What the generic modules need, as JSON (Transform/Trainer config)."""
        return {"label": self.label, "task": self.task,
                "positive": self.positive, "classes": list(self.classes),
                "features": [f.to_json() for f in self.features]}


def _error(path: str, key: str, problem: str) -> ProjectError:
    return ProjectError(f"{path}: `{key}`: {problem}")


def _check_column(path: str, key: str, name: str) -> None:
    if not COLUMN.fullmatch(name):
        raise _error(path, key, f"column {name!r}: TensorFlow needs names of "
                     "letters, digits, '_', '.', '-' (starting with a letter "
                     "or '_') for model inputs; rename the column in the CSV "
                     f"header, e.g. {re.sub(r'[^A-Za-z0-9_]+', '_', name).strip('_')!r}")


def _feature(path: str, name: str, value: Any) -> Feature:
    _check_column(path, f"features.{name}", name)
    spec = {"encoding": value} if isinstance(value, str) else dict(value or {})
    encoding = spec.pop("encoding", None)
    if encoding not in ENCODINGS:
        raise _error(path, f"features.{name}",
                     f"encoding must be one of {', '.join(ENCODINGS)}; got "
                     f"{encoding!r}")
    unknown = set(spec) - {"top_k", "low", "high"}
    if unknown:
        raise _error(path, f"features.{name}", f"unknown keys {sorted(unknown)}")
    feature = Feature(name, encoding, **spec)
    if encoding == "integer_categorical" and not (
            isinstance(feature.low, int) and isinstance(feature.high, int)
            and feature.low <= feature.high):
        raise _error(path, f"features.{name}", "integer_categorical needs "
                     "integer `low` <= `high` (the inclusive domain)")
    if not isinstance(feature.top_k, int) or feature.top_k < 1:
        raise _error(path, f"features.{name}.top_k", "must be an integer >= 1")
    return feature


def _relative(path: str, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if "://" in value or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(os.path.dirname(
        os.path.abspath(path)), value))


def _check_gates(path: str, task: str, gates: dict) -> dict:
    merged = {**default_gates(task), **gates}
    unknown = set(merged) - set(default_gates(task))
    if unknown:
        raise _error(path, "gates", f"unknown for task {task}: "
                     f"{sorted(unknown)}; known: {sorted(default_gates(task))}")
    for key, value in merged.items():
        if value is None:
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or (
                value < 0):
            raise _error(path, f"gates.{key}", f"must be a finite number >= 0; "
                         f"got {value!r}")
        if key.startswith(("min_", "max_auc", "quantization_max_auc")) and (
                value > 1):
            raise _error(path, f"gates.{key}", f"must be in [0, 1]; got {value}")
    return merged


def load(path: str) -> Project:
    """Reads and validates a project file."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except OSError as error:
        raise ProjectError(f"{path}: cannot read the project file: {error}")
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}")
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: expected a mapping of settings; see "
                           "`tfx-prod init --help` for a generated example")
    known = {"name", "data", "schema", "label", "task", "positive", "classes",
             "null_values", "missing_values", "features", "drop", "slices",
             "gates", "train_steps", "modules"}
    unknown = set(raw) - known
    if unknown:
        raise _error(path, sorted(unknown)[0], f"unknown key; known keys: "
                     f"{', '.join(sorted(known))}")
    for key in ("name", "label", "task", "features"):
        if raw.get(key) in (None, "", {}):
            raise _error(path, key, "is required")
    name = str(raw["name"])
    if not NAME.fullmatch(name):
        raise _error(path, "name", "use lowercase letters, digits and '-' "
                     f"(it names the pipeline and the served model); got "
                     f"{name!r}")
    task = raw["task"]
    if task not in TASKS:
        raise _error(path, "task", f"must be one of {', '.join(TASKS)}; got "
                     f"{task!r}")
    if not isinstance(raw["features"], dict):
        raise _error(path, "features", "must map column names to encodings")
    features = tuple(_feature(path, str(k), v)
                     for k, v in raw["features"].items())
    label = str(raw["label"])
    _check_column(path, "label", label)
    if label in {f.name for f in features}:
        raise _error(path, "features", f"the label {label!r} cannot also be "
                     "a feature")
    classes = tuple(str(c) for c in raw.get("classes") or ())
    positive = raw.get("positive")
    if task == "multiclass" and len(classes) < 3:
        raise _error(path, "classes", "a multiclass task lists its 3 or more "
                     "label values (`tfx-prod init` fills them from the data); "
                     "two classes are a binary task")
    if task == "binary" and positive is None:
        raise _error(path, "positive", "a binary task names the label value "
                     "that counts as positive (1)")
    if task == "binary" and classes and len(classes) != 2:
        raise _error(path, "classes", "a binary task's classes are "
                     "[negative name, positive name]")
    feature_names = {f.name for f in features}
    missing_values = raw.get("missing_values") or {}
    if not isinstance(missing_values, dict) or not set(
            missing_values) <= feature_names:
        raise _error(path, "missing_values", "must map feature names to the "
                     "value that means 'no value' for them")
    for key, listed in (("slices", raw.get("slices")), ("drop", raw.get("drop"))):
        if listed is not None and not isinstance(listed, list):
            raise _error(path, key, "must be a list of column names")
    modules = raw.get("modules") or {}
    if set(modules) - {"preprocessing_fn"}:
        raise _error(path, "modules", "only `preprocessing_fn` can be "
                     "replaced today (a dotted path to your function)")
    steps = raw.get("train_steps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise _error(path, "train_steps", f"must be an integer >= 1; got "
                     f"{steps!r}")
    return Project(
        path=os.path.abspath(path), name=name,
        data_root=_relative(path, raw.get("data") or "."),
        schema_path=_relative(path, raw.get("schema")),
        label=label, task=task, features=features,
        positive=None if positive is None else str(positive),
        classes=classes,
        null_values=tuple(str(v) for v in raw.get("null_values") or ()),
        missing_values=dict(missing_values),
        drop=tuple(str(v) for v in raw.get("drop") or ()),
        slices=tuple(str(v) for v in raw.get("slices") or ()),
        gates=_check_gates(path, task, raw.get("gates") or {}),
        train_steps=steps,
        preprocessing_fn=modules.get("preprocessing_fn")
        or GENERIC_PREPROCESSING_FN)
