"""Validated settings of each training recipe: the one home for their rules.

Pure Python (no TensorFlow), so the CLI checks flags with exactly the rules
the recipes apply, before a run costs anything, and the recipes re-check
what reaches them through `custom_config` from any other caller.
"""
import math
from typing import Any, Mapping

# tfmot's default; a smaller divisor of the pruning span is used when needed.
MAX_PRUNING_FREQUENCY = 100
TEACHER_SOURCES = ("trained", "base_model")
PRUNING_DEFAULTS = {"initial_sparsity": 0.5, "final_sparsity": 0.8,
                    "pruning_begin_step": 0}
DISTILLATION_DEFAULTS = {"temperature": 2.0, "alpha": 0.5,
                         "teacher": "trained",
                         "teacher_hidden_units": (512, 256, 128),
                         "student_hidden_units": (16,)}


def default_pruning_end(train_steps: int) -> int:
    """Final sparsity is reached at 80% of training, then held."""
    return max(1, int(0.8 * train_steps))


def _default_frequency(span: int) -> int:
    """Largest step interval <= 100 that divides the pruning span.

    tfmot only prunes on steps `begin + k * frequency` up to `end`, so if the
    frequency does not divide `end - begin` the final sparsity is never
    applied (e.g. span 160, frequency 100: the last mask is ~0.785, not 0.8).
    """
    return max(f for f in range(1, min(span, MAX_PRUNING_FREQUENCY) + 1)
               if span % f == 0)


def _finite(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}.")
    return value


def schedule_settings(options: Mapping[str, Any], train_steps: int) -> dict:
    """PolynomialDecay arguments for pruning; ValueError says what to fix."""
    options = {**PRUNING_DEFAULTS, **options}
    initial = _finite("initial_sparsity", options["initial_sparsity"])
    final = _finite("final_sparsity", options["final_sparsity"])
    begin = int(options["pruning_begin_step"])
    end = int(options.get("pruning_end_step")
              or default_pruning_end(train_steps))
    if not 0 <= initial <= final < 1:
        raise ValueError(
            f"Pruning needs 0 <= initial_sparsity <= final_sparsity < 1; got "
            f"initial_sparsity={initial}, final_sparsity={final}.")
    if not 0 <= begin < end <= train_steps:
        raise ValueError(
            f"Pruning needs 0 <= pruning_begin_step < pruning_end_step <= "
            f"train_steps; got begin={begin}, end={end}, "
            f"train_steps={train_steps}.")
    frequency = int(options.get("pruning_frequency",
                                _default_frequency(end - begin)))
    if frequency <= 0 or (end - begin) % frequency:
        raise ValueError(
            f"pruning_frequency={frequency} must be > 0 and divide "
            f"pruning_end_step - pruning_begin_step = {end - begin}, or "
            f"final_sparsity is never reached.")
    return {"initial_sparsity": initial, "final_sparsity": final,
            "begin_step": begin, "end_step": end, "frequency": frequency}


def distillation_settings(options: Mapping[str, Any]) -> dict:
    """Distillation knobs; ValueError says what to fix."""
    options = {**DISTILLATION_DEFAULTS, **options}
    settings = {
        "temperature": _finite("temperature", options["temperature"]),
        "alpha": _finite("alpha", options["alpha"]),
        "teacher": options["teacher"],
        "teacher_hidden_units": tuple(options["teacher_hidden_units"]),
        "student_hidden_units": tuple(options["student_hidden_units"]),
    }
    if settings["temperature"] <= 0:
        raise ValueError(f"temperature must be > 0; got "
                         f"{settings['temperature']}.")
    if not 0 <= settings["alpha"] <= 1:
        raise ValueError(f"alpha must be in [0, 1]; got {settings['alpha']}.")
    if settings["teacher"] not in TEACHER_SOURCES:
        raise ValueError(f"teacher must be one of {TEACHER_SOURCES}; got "
                         f"{settings['teacher']!r}.")
    for key in ("teacher_hidden_units", "student_hidden_units"):
        units = settings[key]
        if not units or not all(isinstance(u, int) and u > 0 for u in units):
            raise ValueError(f"{key} must be non-empty positive ints; got "
                             f"{units}.")
    return settings
