"""The Evaluator's gate values and recipe: JSON-able, checked, tfma-free.

What a task's gates are, and the other facts that shape its EvalConfig.
Kept apart from eval_config.py (which builds the EvalConfig with tfma), so
`tfx-prod submit` can check a gates parameter without importing TFMA.
"""
import json
import math
from typing import Any, Dict, Sequence

RECIPE_KEY = "eval_recipe"
GATES_KEY = "gates"

# The gates each task's EvalConfig reads; `None` allowed only where optional.
GATE_KEYS = {
    "binary": ("min_auc", "min_accuracy", "max_auc_regression"),
    "multiclass": ("min_auc", "min_accuracy", "max_auc_regression"),
    "regression": ("max_rmse", "max_rmse_increase"),
}
OPTIONAL_GATES = {"max_rmse"}


def recipe(task: str, label_key: str, prediction_key: str,
           slice_features: Sequence[str] = (), num_classes: int = 0,
           signature_name: str = "serving_tf_example",
           preprocessing_function_names: Sequence[str] = ("transform_features",),
           ) -> dict:
    """What, besides the gate values, decides the EvalConfig.

    The signatures default to what modules/ exports: tf.Examples in, and the
    Transform graph to turn raw labels into the trained ones.
    """
    if task not in GATE_KEYS:
        raise ValueError(f"task must be one of {sorted(GATE_KEYS)}, not {task!r}")
    return {"task": task, "label_key": label_key,
            "prediction_key": prediction_key,
            "slice_features": list(slice_features), "num_classes": num_classes,
            "signature_name": signature_name,
            "preprocessing_function_names": list(preprocessing_function_names)}


def evaluation_gates(task: str, gates: Dict[str, Any]) -> dict:
    """The subset of a project's gates the Evaluator reads (not the Quantizer's)."""
    return {key: gates.get(key) for key in GATE_KEYS[task]}


def parse_gates(task: str, text: str) -> dict:
    """A gates JSON string, checked: every key the task needs, numbers >= 0.

    Raises:
        ValueError: naming the key and what it must be, and the keys known.
    """
    known = ", ".join(GATE_KEYS[task])
    try:
        gates = json.loads(text)
    except ValueError:
        raise ValueError(f"gates must be a JSON object with {known}; "
                         f"got {text!r}") from None
    if not isinstance(gates, dict):
        raise ValueError(f"gates must be a JSON object with {known}; got {text!r}")
    unknown = sorted(set(gates) - set(GATE_KEYS[task]))
    if unknown:
        raise ValueError(f"gates {unknown} are not {task} Evaluator gates "
                         f"(known: {known})")
    for key in GATE_KEYS[task]:
        value = gates.get(key)
        if value is None and key in OPTIONAL_GATES:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                not math.isfinite(value) or value < 0):
            raise ValueError(f"gate {key} must be a finite number >= 0 for a "
                             f"{task} task; got {value!r} (known: {known})")
    return gates
