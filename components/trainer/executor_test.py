"""record_report: the recipe's report lands on the Model artifact."""
import json
import os

from tfx.types import standard_artifacts

from components.trainer.executor import REPORT_PATH, record_report


def _model_with_report(tmp_path, report):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    path = os.path.join(model.uri, "Format-Serving", REPORT_PATH)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump(report, f)
    return model


def test_scalars_and_nested_values_become_custom_properties(tmp_path):
    report = {"optimization": "prune", "params": 158_000, "sparsity": 0.8,
              "xla": False,
              "sparsity_per_layer": {"dense_0": 0.8, "dense_1": 0.79}}
    model = _model_with_report(tmp_path, report)
    assert record_report(model) == report
    assert model.get_string_custom_property("optimization") == "prune"
    assert model.get_int_custom_property("params") == 158_000
    assert model.get_float_custom_property("sparsity") == 0.8
    assert model.get_int_custom_property("xla") == 0
    assert model.get_json_value_custom_property("sparsity_per_layer") == {
        "dense_0": 0.8, "dense_1": 0.79}


def test_a_model_without_report_records_nothing(tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "bare")
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    assert record_report(model) == {}
    assert not model.mlmd_artifact.custom_properties
