"""Table rows and goal checks of the optimizations phase, JSON-ready.

Goals come from the project brief. Every goal also carries `explain`: the
measured numbers behind it, printed where a goal is missed so the reason
is visible without opening results.json. `compute` is one repeat;
`merge` summarizes repeats (median and min–max, goals on the median).
"""
from benchmarks import stats
from components.quantizer import tasks

MODELS = ("baseline", "pruned", "distilled")
FORMATS = ("SavedModel", "float32", "dynamic_range", "float16", "int8")
INT8_SIZE_MAX = 0.27         # int8 / float32 TFLite size
INT8_SPEEDUP_MIN = 2.0       # float32 TFLite p50 / int8 p50, batch 1
AUC_DROP_MAX = 0.01          # one AUC point
PRUNED_GZIP_MAX = 0.35       # pruned / baseline gzipped SavedModel
STUDENT_PARAMS_MAX = 0.10    # student / teacher params
STUDENT_RETENTION_MIN = 0.97  # student / teacher AUC


def _quantization(model):
    """The model's Quantizer report with current keys (tasks.readable), or {}."""
    found = (model or {}).get("quantization")
    return tasks.readable(found) if found else {}


def _variant(model, name):
    for variant in _quantization(model).get("variants") or []:
        if variant.get("name") == name:
            return variant
    return None


def _reference(model):
    return _quantization(model).get("reference") or {}


def _report(model):
    return (model or {}).get("optimization") or {}


def _weights(model):
    stats = (model or {}).get("weights") or {}
    return {} if stats.get("error") else stats


def params(model):
    """From the Trainer's report, else counted in the SavedModel."""
    return _report(model).get("params") or _weights(model).get("params")


def sparsity(model):
    """Zero fraction of Dense kernels: the report's, else measured."""
    value = _report(model).get("sparsity")
    return value if value is not None else _weights(model).get("sparsity")


_ratio = stats.ratio


def _unmeasured(model):
    """Why a model has no numbers, or None if it has them."""
    if model is None:
        return "its run failed (see Failures in results.md)"
    if not model.get("quantization"):
        return ("no quantization report (not blessed, or the Quantizer "
                "failed)")
    task = _quantization(model)["task"]
    if task != "binary":
        return (f"a {task} model: the bench's tables and goals are in AUC "
                "(binary models only)")
    return None


def _rows_of(name, model, base_auc):
    """One row per format; TFLite rows carry the variant's own numbers."""
    why = _unmeasured(model)
    if why:
        return [{"model": name, "format": None, "error": why}]
    ref = _reference(model)
    common = {"model": name, "params": params(model),
              "sparsity": sparsity(model)}
    f32 = _variant(model, "float32") or {}
    rows = [dict(common, format="SavedModel",
                 saved_model_bytes=ref.get("size_bytes"),
                 gzip_bytes=model.get("saved_model_gzip_bytes"),
                 tflite_bytes=None,
                 latency_ms_p50=ref.get("latency_ms_p50"),
                 speedup_vs_float32=_ratio(f32.get("latency_ms_p50"),
                                           ref.get("latency_ms_p50")),
                 # The Quantizer times the SavedModel at batch 1 only.
                 throughput_rows_per_s=None, throughput_vs_float32=None,
                 throughput_batch_rows=None,
                 auc=ref.get("auc"), error=None)]
    for fmt in FORMATS[1:]:
        variant = _variant(model, fmt) or {"error": "variant missing"}
        rows.append(dict(
            common, format=fmt, saved_model_bytes=None,
            gzip_bytes=model["tflite_gzip_bytes"].get(fmt),
            tflite_bytes=variant.get("size_bytes"),
            latency_ms_p50=variant.get("latency_ms_p50"),
            speedup_vs_float32=variant.get("speedup_vs_float32"),
            throughput_rows_per_s=variant.get("throughput_rows_per_s"),
            throughput_vs_float32=variant.get("throughput_vs_float32"),
            throughput_batch_rows=variant.get("throughput_batch_rows"),
            auc=variant.get("auc"), error=variant.get("error")))
    for row in rows:
        row["auc_delta_vs_baseline"] = (
            None if None in (row["auc"], base_auc) else row["auc"] - base_auc)
    return rows


def _explained_by(goals, why):
    """Goals of a model without numbers: say why once, not n/a each."""
    if why:
        for goal in goals:
            goal["explain"] = why
    return goals


def _goal(goal_id, text, value, target, better, explain):
    """Not measured counts as missed: the phase ran, so the number is owed."""
    return stats.goal(goal_id, text, value, target, better, owed=True,
                      explain=explain)


def _num(value, fmt):
    return "n/a" if value is None else format(value, fmt)


def _batch_note(int8):
    """int8's throughput ratio at batch 256, where measured."""
    if int8.get("throughput_vs_float32") is None:
        return ""
    return (f"; at batch {int8['throughput_batch_rows']} int8 does "
            f"{int8['throughput_vs_float32']:.2f}× float32's rows/s")


def _int8_goals(name, model):
    int8, f32 = _variant(model, "int8") or {}, _variant(model, "float32") or {}
    ref = _reference(model)
    why = int8.get("error") or ("" if int8 else "no int8 variant")
    prefix = f"{why}; " if why else ""
    return [
        _goal(f"int8_size_{name}", f"{name}: int8 ≤ 0.27× float32 TFLite "
              "size", int8.get("size_ratio_vs_float32"), INT8_SIZE_MAX, "<=",
              f"{prefix}int8 {_num(int8.get('size_bytes'), ',')} B vs "
              f"float32 {_num(f32.get('size_bytes'), ',')} B"),
        _goal(f"int8_speed_{name}", f"{name}: int8 batch-1 ≥ 2× faster than "
              "float32 TFLite", int8.get("speedup_vs_float32"),
              INT8_SPEEDUP_MIN, ">=",
              f"{prefix}p50 float32 {_num(f32.get('latency_ms_p50'), '.3f')}"
              f" ms vs int8 {_num(int8.get('latency_ms_p50'), '.3f')} ms "
              f"(SavedModel {_num(ref.get('latency_ms_p50'), '.3f')} ms); "
              f"float32 TFLite {_num(f32.get('size_bytes'), ',')} B, "
              f"{_num(params(model), ',')} params{_batch_note(int8)}"),
        _goal(f"int8_auc_{name}", f"{name}: int8 loses ≤ 1 AUC point vs its "
              "float SavedModel", int8.get("metric_loss"), AUC_DROP_MAX, "<=",
              f"{prefix}AUC float {_num(ref.get('auc'), '.4f')} vs int8 "
              f"{_num(int8.get('auc'), '.4f')}"),
    ]


def _pruned_goals(base, pruned):
    base_auc, pruned_auc = _reference(base).get("auc"), \
        _reference(pruned).get("auc")
    lost = None if None in (base_auc, pruned_auc) else base_auc - pruned_auc
    gz_base = (base or {}).get("saved_model_gzip_bytes")
    gz_pruned = (pruned or {}).get("saved_model_gzip_bytes")
    wb, wp = _weights(base), _weights(pruned)
    return [
        _goal("pruned_auc", "pruned (80% target sparsity): loses ≤ 1 AUC "
              "point vs baseline", lost, AUC_DROP_MAX, "<=",
              f"AUC baseline {_num(base_auc, '.4f')} vs pruned "
              f"{_num(pruned_auc, '.4f')} at measured sparsity "
              f"{_num(sparsity(pruned), '.1%')}"),
        _goal("pruned_gzip", "pruned: gzipped SavedModel ≤ 0.35× the "
              "baseline's", _ratio(gz_pruned, gz_base), PRUNED_GZIP_MAX, "<=",
              f"gzipped SavedModel baseline {_num(gz_base, ',')} B vs pruned "
              f"{_num(gz_pruned, ',')} B; weights alone gzipped "
              f"{_num(wb.get('weights_gzip_bytes'), ',')} B vs "
              f"{_num(wp.get('weights_gzip_bytes'), ',')} B; optimizer "
              f"slots (raw) {_num(wb.get('optimizer_bytes'), ',')} B vs "
              f"{_num(wp.get('optimizer_bytes'), ',')} B"),
    ]


def _student_goals(distilled):
    report = _report(distilled)
    return [
        _goal("student_params", "distilled: student ≤ 10% of teacher params",
              report.get("param_ratio"), STUDENT_PARAMS_MAX, "<=",
              f"student {_num(report.get('params'), ',')} vs teacher "
              f"{_num(report.get('teacher_params'), ',')} params"),
        _goal("student_auc", "distilled: student keeps ≥ 97% of teacher AUC",
              report.get("auc_retention"), STUDENT_RETENTION_MIN, ">=",
              f"AUC student {_num(report.get('student_auc'), '.4f')} vs "
              f"teacher {_num(report.get('teacher_auc'), '.4f')} on "
              f"{_num(report.get('eval_examples'), ',')} eval rows, each "
              "scored once"),
    ]


def weights_gzip_ratio(models, name):
    """Gzipped weights alone (no optimizer slots), `name` over baseline."""
    return _ratio(_weights(models.get(name)).get("weights_gzip_bytes"),
                  _weights(models.get("baseline")).get("weights_gzip_bytes"))


def compute(models):
    """One repeat's rows, goals and weight figures for the models present."""
    base_auc = _reference(models.get("baseline")).get("auc")
    rows, goals = [], []
    for name in MODELS:
        if name not in models:
            continue
        rows += _rows_of(name, models[name], base_auc)
        goals += _explained_by(_int8_goals(name, models[name]),
                               _unmeasured(models[name]))
    if "pruned" in models:
        goals += _explained_by(
            _pruned_goals(models.get("baseline"), models["pruned"]),
            _unmeasured(models["pruned"])
            or _unmeasured(models.get("baseline")))
    if "distilled" in models:
        # The Trainer's report needs no Quantizer: only a failed run hides it.
        goals += _explained_by(
            _student_goals(models["distilled"]),
            None if models["distilled"] else _unmeasured(None))
    weights = [{"model": name,
                "optimizer_bytes": _weights(models.get(name)).get(
                    "optimizer_bytes"),
                "weights_gzip_vs_baseline": (None if name == "baseline" else
                                             weights_gzip_ratio(models, name))}
               for name in MODELS if models.get(name)]
    return {"rows": rows, "goals": goals, "weights": weights}


def merge(per_repeat):
    """Rows and goals over repeats; `per_repeat` holds `compute` outputs."""
    present = [r for r in per_repeat if r]
    return {"rows": stats.merge_rows([r["rows"] for r in present],
                                     ("model", "format")),
            "goals": stats.merge_goals([r["goals"] for r in present]),
            "weights": stats.merge_rows([r["weights"] for r in present],
                                        ("model",))}
