"""Input validation against the schema the model was trained with.

Every request is checked before it reaches the model; a violation is an
INVALID_ARGUMENT (HTTP 400) that names the feature and the rule, e.g.
`feature 'trip_start_hour': range: row 0 has 24, the schema allows [0, 23]`.

Rules (the `rule` label of the validation-error counter):
  type        value kind differs from the schema type (tf.Example inputs)
  value_count values per row outside the schema's value_count
  required    a feature the schema marks always present (presence.min_fraction
              1.0 in the SERVING environment) is absent. Dense inputs holding
              the version's missing-value sentinel (layout.MISSING_VALUES_FILE)
              count as absent for optional features only
  non_finite  NaN or +/-Inf in a float input (allowed only where the schema's
              float_domain says `disallow_nan: false` / `disallow_inf: false`)
  range       outside int_domain / float_domain [min, max]
  domain      a string not in string_domain. Where the schema tolerates
              out-of-domain mass (distribution_constraints.min_domain_mass
              < 1) the value is accepted and only counted, as TFDV does.
  shape, batch_size, body_size   request-level limits (see `limits`)

Schema environments follow TFDV: features `not_in_environment: "SERVING"`
(the label) are not expected in requests.
"""
import dataclasses
import math
from typing import Optional

import numpy as np

from serving.status import invalid_argument

SERVING_ENVIRONMENT = "SERVING"
REQUEST_FEATURE = "_request_"   # the feature label of request-level rules
_SMALL = 64                     # below this many values, plain Python is faster


def _in_serving(schema, feature) -> bool:
    if SERVING_ENVIRONMENT in feature.in_environment:
        return True
    if feature.in_environment:
        return False
    if SERVING_ENVIRONMENT in feature.not_in_environment:
        return False
    defaults = list(schema.default_environment)
    return not defaults or SERVING_ENVIRONMENT in defaults


@dataclasses.dataclass
class FeatureRule:
    name: str
    kind: str                          # "INT" | "FLOAT" | "BYTES"
    required: bool = False
    min_count: Optional[int] = None
    max_count: Optional[int] = None
    low: Optional[float] = None
    high: Optional[float] = None
    allow_nan: bool = False
    allow_inf: bool = False
    domain: Optional[frozenset] = None
    domain_tolerated: bool = False
    missing: object = None             # the dense missing-value sentinel

    def range_text(self) -> str:
        low = "-inf" if self.low is None else _number(self.low)
        high = "+inf" if self.high is None else _number(self.high)
        return f"[{low}, {high}]"


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def compile_rules(schema, missing_values: Optional[dict] = None) -> dict:
    """Schema proto -> {feature name: FeatureRule} for the SERVING environment."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    missing_values = missing_values or {}
    shared_domains = {d.name: d for d in schema.string_domain}
    kinds = {schema_pb2.INT: "INT", schema_pb2.FLOAT: "FLOAT",
             schema_pb2.BYTES: "BYTES"}
    rules = {}
    for feature in schema.feature:
        if feature.type not in kinds or not _in_serving(schema, feature):
            continue
        if feature.HasField("lifecycle_stage") and feature.lifecycle_stage in (
                schema_pb2.DEPRECATED, schema_pb2.PLANNED, schema_pb2.ALPHA,
                schema_pb2.DEBUG_ONLY, schema_pb2.DISABLED):
            continue
        missing = missing_values.get(feature.name)
        rule = FeatureRule(feature.name, kinds[feature.type],
                           missing=missing.encode() if isinstance(missing, str)
                           else missing)
        if feature.HasField("presence"):
            rule.required = feature.presence.min_fraction >= 1.0
        if feature.HasField("value_count"):
            if feature.value_count.HasField("min"):
                rule.min_count = feature.value_count.min
            if feature.value_count.HasField("max"):
                rule.max_count = feature.value_count.max
        kind = feature.WhichOneof("domain_info")
        if kind == "int_domain":
            domain = feature.int_domain
            rule.low = domain.min if domain.HasField("min") else None
            rule.high = domain.max if domain.HasField("max") else None
        elif kind == "float_domain":
            domain = feature.float_domain
            rule.low = domain.min if domain.HasField("min") else None
            rule.high = domain.max if domain.HasField("max") else None
            rule.allow_nan = (domain.HasField("disallow_nan")
                              and not domain.disallow_nan)
            rule.allow_inf = (domain.HasField("disallow_inf")
                              and not domain.disallow_inf)
        elif kind in ("string_domain", "domain"):
            domain = (feature.string_domain if kind == "string_domain"
                      else shared_domains.get(feature.domain))
            if domain is not None:
                rule.domain = frozenset(v.encode() for v in domain.value)
                mass = feature.distribution_constraints.min_domain_mass \
                    if feature.HasField("distribution_constraints") else 1.0
                rule.domain_tolerated = mass < 1.0
        rules[feature.name] = rule
    return rules


def _is_missing(values, missing):
    """Elementwise "is the no-value marker"; a NaN marker matches NaNs."""
    if isinstance(missing, float) and missing != missing:
        return (np.isnan(values) if np.issubdtype(values.dtype, np.floating)
                else np.zeros(values.shape, bool))
    return values == missing


class Validator:
    """Checks dense signature inputs and tf.Example features against rules.

    Each check returns the values it saw per feature (missing ones dropped),
    which the drift monitor consumes; `out_of_domain` counts tolerated values.
    """

    def __init__(self, rules: dict, on_tolerated=None):
        self.rules = rules
        self._on_tolerated = on_tolerated or (lambda feature, count: None)

    # --- dense inputs: one numpy array per signature input -----------------
    def check_dense(self, inputs: dict) -> dict:
        seen = {}
        for name, array in inputs.items():
            rule = self.rules.get(name)
            if rule is None or array.ndim == 0:
                continue
            if array.ndim == 1 and array.size <= _SMALL:
                seen[name] = self._check_column(rule, array.tolist())
                continue
            rows = array.shape[0]
            per_row = int(np.prod(array.shape[1:])) if array.ndim > 1 else 1
            values = array.reshape(-1)
            # The sentinel marks "no value" only where the schema allows
            # absence: for an always-present feature it is an ordinary value
            # (a 0.0 fare is a real fare).
            if rule.missing is not None and not rule.required and values.size:
                present_mask = ~_is_missing(values, rule.missing)
                if not present_mask.all():
                    values = values[present_mask]
                    self._check_counts(rule, present_mask.reshape(rows, -1)
                                       .sum(axis=1))
                else:
                    self._check_counts(rule, None, per_row)
            else:
                self._check_counts(rule, None, per_row)
            seen[name] = self._check_values(rule, values)
        return seen

    def _check_column(self, rule, items: list) -> list:
        """Fast path for a small 1-D input (one value per row): plain Python."""
        if rule.missing is not None and not rule.required:
            blank = [bool(_is_missing(np.asarray(v), rule.missing))
                     if isinstance(v, float) else v == rule.missing
                     for v in items]
            present = [v for v, b in zip(items, blank) if not b]
            if len(present) != len(items) and rule.min_count:
                row = blank.index(True)
                raise _error(rule, "value_count", f"row {row} has 0 values, the "
                             f"schema needs at least {rule.min_count}")
            items = present
        if rule.max_count is not None and rule.max_count < 1 and items:
            raise _error(rule, "value_count", "row 0 has 1 values, the schema "
                         f"allows at most {rule.max_count}")
        if not items:
            return items
        if rule.kind == "BYTES":
            if rule.domain is not None:
                self._check_domain(rule, [v for v in items
                                          if v not in rule.domain])
            return items
        finite = items
        if isinstance(items[0], float):
            bad = [v for v in items if not math.isfinite(v)]
            if bad:
                self._check_non_finite(rule, bad)
                finite = [v for v in items if math.isfinite(v)]
        if finite and rule.low is not None:
            low = min(finite)
            if low < rule.low:
                raise _error(rule, "range", f"{_number(low)} is below the "
                             f"schema's range {rule.range_text()}")
        if finite and rule.high is not None:
            high = max(finite)
            if high > rule.high:
                raise _error(rule, "range", f"{_number(high)} is above the "
                             f"schema's range {rule.range_text()}")
        return items

    def _check_domain(self, rule, outside):
        """Strings not in the schema's domain: refused, or (where the schema
        tolerates out-of-domain mass) counted."""
        if not outside:
            return
        if not rule.domain_tolerated:
            raise _error(rule, "domain", f"{outside[0]!r} is not in the "
                         f"schema's string_domain ({len(rule.domain)} values)")
        self._on_tolerated(rule.name, len(outside))

    def _check_counts(self, rule, counts, per_row=None):
        if rule.min_count is None and rule.max_count is None:
            return
        if counts is None:
            counts = [per_row]
        for row, count in enumerate(np.asarray(counts).tolist()):
            _check_count(rule, f"row {row}", count)

    def _check_values(self, rule, values):
        """Range / domain / non-finite checks on a flat array of values."""
        if values.size == 0:
            return values
        if rule.kind == "BYTES":
            if rule.domain is not None:
                if values.size <= _SMALL:
                    outside = [v for v in values.tolist() if v not in rule.domain]
                else:
                    outside = [v for v in set(values.tolist())
                               if v not in rule.domain]
                self._check_domain(rule, outside)
            return values
        if values.dtype.kind == "f":
            if values.size <= _SMALL:
                bad = [v for v in values.tolist() if not math.isfinite(v)]
                if bad:
                    self._check_non_finite(rule, bad)
            elif not np.isfinite(values).all():
                self._check_non_finite(rule, values[~np.isfinite(values)].tolist())
        if rule.low is not None or rule.high is not None:
            if values.size <= _SMALL:
                items = values.tolist()
                if values.dtype.kind == "f":
                    items = [v for v in items if math.isfinite(v)] or [0.0]
                low = min(items) if rule.low is not None else None
                high = max(items) if rule.high is not None else None
            else:
                finite = values[np.isfinite(values)] if values.dtype.kind == "f" \
                    else values
                low = finite.min().item() if finite.size and rule.low is not None else None
                high = finite.max().item() if finite.size and rule.high is not None else None
            if low is not None and low < rule.low and not math.isinf(low):
                raise _error(rule, "range", f"{_number(low)} is below the "
                             f"schema's range {rule.range_text()}")
            if high is not None and high > rule.high and not math.isinf(high):
                raise _error(rule, "range", f"{_number(high)} is above the "
                             f"schema's range {rule.range_text()}")
        return values

    def _check_non_finite(self, rule, bad):
        for value in bad:
            if math.isnan(value) and not rule.allow_nan:
                raise _error(rule, "non_finite", "NaN is not allowed (the "
                             "schema's float_domain has no `disallow_nan: "
                             "false`)")
            if math.isinf(value) and not rule.allow_inf:
                raise _error(rule, "non_finite", f"{value} is not allowed (the "
                             "schema's float_domain has no `disallow_inf: "
                             "false`)")

    # --- tf.Example inputs --------------------------------------------------
    def check_examples(self, examples: list) -> dict:
        """`examples`: one {feature: (kind, values list)} dict per example,
        kind in "INT" | "FLOAT" | "BYTES" | None (a feature with no list)."""
        seen = {name: [] for name in self.rules}
        for index, example in enumerate(examples):
            for name, rule in self.rules.items():
                entry = example.get(name)
                if entry is None:
                    if rule.required:
                        raise _error(rule, "required", f"example {index} lacks "
                                     "it, but the schema says every request "
                                     "has it (presence.min_fraction 1.0)")
                    continue
                kind, values = entry
                if kind is not None and kind != rule.kind:
                    raise _error(rule, "type", f"example {index} has "
                                 f"{_LIST_NAMES[kind]}, the schema says "
                                 f"{rule.kind} ({_LIST_NAMES[rule.kind]})")
                _check_count(rule, f"example {index}", len(values))
                seen[name].extend(values)
        observed = {}
        for name, values in seen.items():
            if values:
                rule = self.rules[name]
                dtype = {"INT": np.int64, "FLOAT": np.float32}.get(rule.kind,
                                                                   object)
                observed[name] = self._check_values(rule, np.asarray(values,
                                                                     dtype))
        return observed


_LIST_NAMES = {"INT": "int64_list", "FLOAT": "float_list",
               "BYTES": "bytes_list"}


def _check_count(rule, where: str, count: int) -> None:
    """The schema's value_count for one row or example (`where` names it)."""
    if rule.min_count is not None and count < rule.min_count:
        raise _error(rule, "value_count", f"{where} has {count} values, the "
                     f"schema needs at least {rule.min_count}")
    if rule.max_count is not None and count > rule.max_count:
        raise _error(rule, "value_count", f"{where} has {count} values, the "
                     f"schema allows at most {rule.max_count}")


def _error(rule: FeatureRule, name: str, detail: str):
    return invalid_argument(f"feature '{rule.name}': {name}: {detail}",
                            feature=rule.name, rule=name)


def limit_error(rule: str, detail: str):
    return invalid_argument(f"request: {rule}: {detail}",
                            feature=REQUEST_FEATURE, rule=rule)
