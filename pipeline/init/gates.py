"""Default Evaluator/Quantizer gates per task, each with the reason it has
that value (written next to it in the project file). Rules in rules.py; the
gates without a data-driven value are pipeline/project.py's defaults."""
import math

from pipeline import project
from pipeline.init import rules
from pipeline.init.task import LabelPlan


def _round_down(value: float, digits: int = 2) -> float:
    return math.floor(value * 10 ** digits) / 10 ** digits


def _round_up_significant(value: float, significant: int = 3) -> float:
    """Round up to `significant` significant digits (a ceiling stays one)."""
    if value <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(value)) - significant + 1)
    return round(math.ceil(value / step - 1e-9) * step, 12)


def gates(label: LabelPlan) -> list[tuple[str, float, str]]:
    """(key, value, why) in the order the file lists them."""
    defaults = project.default_gates(label.task)
    if label.task == "regression":
        std = label.std or 0.0
        return [
            ("max_rmse", _round_up_significant(rules.MAX_RMSE_STD * std),
             f"{rules.MAX_RMSE_STD:g} x the label's std ({std:.4g}): always "
             f"predicting the mean scores RMSE = std; this asks for >= "
             f"{1 - rules.MAX_RMSE_STD ** 2:.0%} of the variance explained"),
            ("max_rmse_increase",
             _round_up_significant(rules.MAX_RMSE_INCREASE_STD * std),
             f"{rules.MAX_RMSE_INCREASE_STD:g} x std: a retrain may be this "
             f"much worse than the served model (noise), no more"),
            ("quantization_max_rmse_increase",
             _round_up_significant(rules.QUANTIZATION_MAX_RMSE_STD * std),
             f"{rules.QUANTIZATION_MAX_RMSE_STD:g} x std: the RMSE a TFLite "
             f"variant may cost and still ship"),
        ]
    accuracy = max(0.0, _round_down(label.majority_rate - rules.ACCURACY_MARGIN))
    return [
        ("min_auc", rules.MIN_AUC,
         f"0.5 is a coin flip; {rules.MIN_AUC:g} asks that the model learned "
         f"something (raise it once you know what yours reaches)"),
        ("min_accuracy", accuracy,
         f"always answering {label.majority!r} scores "
         f"{label.majority_rate:.3f}; less {rules.ACCURACY_MARGIN:g} for the "
         f"eval split's sampling noise"),
        ("max_auc_regression", defaults["max_auc_regression"],
         "a retrain may lose this much AUC against the served model, no more"),
        ("quantization_max_auc_drop", defaults["quantization_max_auc_drop"],
         "the AUC a TFLite variant may cost and still ship"),
    ]
