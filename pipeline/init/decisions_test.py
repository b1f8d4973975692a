"""init's decisions on hand-made columns (no TFDV, no Beam: milliseconds).

Columns go through the real scan counters and profile join; only TFDV's
type and numeric summary are given by hand (`column(...)` below), so each
test names the fact a rule reads and the rule's answer.
"""
import statistics

import numpy as np
import pytest

from pipeline.init import (InitError, csv_scan, encodings, gates, profile,
                           project_name, rules, schema_text, task)
from pipeline.init.stats import FLOAT, INT, STRING, ColumnStats


def column(cells, kind, name="c") -> profile.Column:
    """A Column from cell texts ("" = blank), typed `kind` as TFDV would."""
    cells = [str(c) for c in cells]
    text = csv_scan.ColumnText(name)
    for cell in cells:
        if cell:
            text.add(cell)
        else:
            text.blank += 1
    filled = [c for c in cells if c]
    if kind == STRING or not filled:
        stats = ColumnStats(name, kind, len(filled))
    else:
        numbers = [float(c) for c in filled]
        stats = ColumnStats(name, kind, len(numbers), min(numbers),
                            max(numbers), statistics.fmean(numbers),
                            statistics.pstdev(numbers))
    table = csv_scan.Table(rows=len(cells), columns=[text])
    return profile.columns(table, {name: stats})[0]


# --- Task and label facts ------------------------------------------------------------
@pytest.mark.parametrize("values,kind,positive", [
    (["0", "1"], INT, "1"), (["no", "yes"], STRING, "yes"),
    (["False", "True"], STRING, "True"), (["-1", "1"], INT, "1"),
    (["N", "Y"], STRING, "Y")])
def test_two_values_are_binary_and_obvious_pairs_name_the_positive(
        values, kind, positive):
    plan = task.plan(column(values * 10, kind), None, None)
    assert (plan.task, plan.positive) == ("binary", positive)
    assert plan.majority_rate == 0.5


def test_an_ambiguous_binary_label_needs_positive_and_lists_its_values():
    label = column(["dog"] * 6 + ["cat"] * 4, STRING)
    with pytest.raises(InitError, match="--positive cat or --positive dog"):
        task.plan(label, None, None)
    assert task.plan(label, None, "cat").positive == "cat"
    with pytest.raises(InitError, match="'dog' \\(6 rows\\)"):
        task.plan(label, None, "bird")


def test_positive_is_matched_as_the_pipeline_sees_the_value():
    assert task.plan(column(["0", "1"] * 5, INT), None, "01").positive == "1"


def test_text_with_three_values_is_multiclass_with_classes_by_name():
    plan = task.plan(column(["b", "c", "a", "c"] * 5, STRING), None, None)
    assert plan.task == "multiclass"
    assert plan.classes == ("a", "b", "c")
    assert (plan.majority, plan.majority_rate) == ("c", 0.5)


def test_integer_codes_are_multiclass_sorted_numerically():
    plan = task.plan(column(["10", "2", "1"] * 4, INT), None, None)
    assert (plan.task, plan.classes) == ("multiclass", ("1", "2", "10"))


def test_many_integers_and_any_decimals_are_regression():
    many = [str(i) for i in range(rules.MULTICLASS_MAX_INTEGER_CLASSES + 1)]
    assert task.plan(column(many, INT), None, None).task == "regression"
    assert task.plan(column(many[:-1], INT), None, None).task == "multiclass"
    plan = task.plan(column(["1.5", "2.5", "4.0"], FLOAT), None, None)
    assert plan.task == "regression"
    assert plan.std == pytest.approx(np.std([1.5, 2.5, 4.0]))


def test_text_with_too_many_values_is_refused_unless_the_task_is_given():
    values = [f"v{i}" for i in range(rules.MULTICLASS_MAX_TEXT_CLASSES + 1)]
    with pytest.raises(InitError, match="--task multiclass"):
        task.plan(column(values, STRING), None, None)
    assert task.plan(column(values, STRING), "multiclass",
                     None).task == "multiclass"


@pytest.mark.parametrize("values,kind,given,message", [
    (["a", "b", "c"], STRING, "binary", "exactly 2"),
    (["a", "b"], STRING, "multiclass", "--task binary"),
    (["a", "b", "c"], STRING, "regression", "numeric label"),
])
def test_the_task_flag_must_fit_the_data(values, kind, given, message):
    with pytest.raises(InitError, match=message):
        task.plan(column(values * 3, kind), given, None)


def test_positive_is_only_for_binary_labels():
    with pytest.raises(InitError, match="--positive is for binary"):
        task.plan(column(["a", "b", "c"] * 3, STRING), None, "a")


@pytest.mark.parametrize("cells,message", [
    (["a", "", "b"], "blank in 1 of 3 rows"),
    (["a", "a", "a"], "one value \\('a'\\)")])
def test_a_label_must_be_filled_and_vary(cells, message):
    with pytest.raises(InitError, match=message):
        task.plan(column(cells, STRING), None, None)


# --- Encodings and drops -----------------------------------------------------------------
def _choose(cells, kind, name="c"):
    return encodings.choose(column(cells, kind, name))


def test_identifiers_are_dropped():
    n = rules.ID_MIN_ROWS
    rng = np.random.default_rng(0)
    wide = [str(v) for v in rng.choice(10 ** 6, n, replace=False)]
    assert _choose(range(n), INT).dropped                     # row number
    assert _choose(wide, INT, "customerID").dropped           # named id
    assert _choose([f"u{i}" for i in range(n)], STRING).dropped
    # Not ids: wide unique integers (amounts), decimals, small samples.
    assert _choose(wide, INT, "income").encoding == "numeric"
    assert _choose([f"{i}.5" for i in range(n)], FLOAT).encoding == "numeric"
    assert _choose([f"u{i}" for i in range(n - 1)], STRING).encoding == \
        "categorical"


def test_constant_columns_are_dropped_unless_blanks_carry_the_signal():
    assert _choose(["x"] * 20, STRING).dropped
    kept = _choose(["x"] * 12 + [""] * 8, STRING)
    assert kept.encoding == "categorical" and "signal" in kept.why


def test_mostly_blank_columns_are_dropped():
    blank = int(100 * rules.MOSTLY_BLANK_FRACTION)
    assert _choose(["a", "b"] * ((100 - blank) // 2) + [""] * blank,
                   STRING).dropped
    assert not _choose(["a", "b"] * 10 + [""] * 80, STRING).dropped
    assert _choose([""] * 10, STRING).why == "blank in every row"


def test_heavily_right_skewed_non_negative_numbers_are_log_numeric():
    rng = np.random.default_rng(1)
    tail = rng.lognormal(0, 1.2, 400)
    assert _choose([f"{v:.4f}" for v in tail], FLOAT).encoding == "log_numeric"
    # Right-skewed but with negatives (log1p would clip them): linear.
    assert _choose([f"{v - 0.5:.4f}" for v in tail], FLOAT).encoding == \
        "numeric"
    assert _choose([f"{-v:.4f}" for v in tail], FLOAT).encoding == "numeric"
    mild = rng.gamma(4, size=400)             # skewness ~1 < LOG_MIN_SKEWNESS
    assert _choose([f"{v:.4f}" for v in mild], FLOAT).encoding == "numeric"


def test_small_integer_ranges_are_one_hot_and_wide_few_valued_are_codes():
    span = rules.INTEGER_CATEGORICAL_MAX_SPAN
    hours = _choose([str(h % span) for h in range(100)], INT)
    assert (hours.encoding, hours.low, hours.high) == (
        "integer_categorical", 0, span - 1)
    wider = _choose([str(h % (span + 1)) for h in range(100)], INT)
    assert wider.encoding == "numeric"
    codes = _choose(["100", "200", "500", "900"] * 10, INT)
    assert (codes.encoding, codes.top_k) == ("categorical", 4)


def test_vocabulary_is_every_value_up_to_the_top_k_cap():
    few = _choose(["a", "b", "c"] * 10, STRING)
    assert few.spec() == {"encoding": "categorical", "top_k": 3}
    many = [f"v{i % 60}" for i in range(1200)]
    assert _choose(many, STRING).top_k == rules.CATEGORICAL_TOP_K


def test_slices_are_the_categoricals_with_fewest_values():
    choices = [_choose(["a", "b", "c"] * 10, STRING, "three"),
               _choose(["x", "y"] * 15, STRING, "two"),
               _choose([str(i % 11) for i in range(33)], STRING, "eleven"),
               _choose(["a", "b", "c", "d"] * 10, STRING, "four"),
               _choose([f"{i}.5" for i in range(30)], FLOAT, "number")]
    assert encodings.slices(choices) == ["two", "three"]


# --- Schema rules -------------------------------------------------------------------------
def test_presence_is_what_was_seen_less_a_margin():
    assert schema_text.presence(column(["a"] * 50, STRING))[:2] == (1.0, 1)
    # 92% of 150: 4 standard errors (0.089) exceed the 0.05 floor.
    ninety_two = column(["a"] * 138 + [""] * 12, STRING)
    assert schema_text.presence(ninety_two)[:2] == (0.83, 1)
    # 97% of 10,000: the 0.05 floor applies.
    big = column(["a"] * 9700 + [""] * 300, STRING)
    assert schema_text.presence(big)[:2] == (0.92, 1)
    sparse = column(["a"] * 10 + [""] * 90, STRING)
    assert schema_text.presence(sparse)[:2] == (0.0, 0)


def _domain(values, kind=FLOAT):
    return schema_text.numeric_domain(column(values, kind))[:2]


def test_numeric_ranges_get_headroom_and_keep_a_zero_floor():
    assert _domain(["4", "5", "6", "8"], INT) == (0, 12)
    assert _domain(["100", "104", "106", "110"], INT) == (90, 120)
    assert _domain(["-3.0", "1.0", "-1.0", "5.0"]) == (-11.0, 13.0)
    assert _domain(["0.12", "0.2", "0.25", "0.3"]) == (0.0, 0.48)
    assert _domain(["7", "7", "7"], INT) == (0, 14)


def test_long_tails_leave_that_side_of_the_range_open():
    rng = np.random.default_rng(2)
    tail = [f"{v:.3f}" for v in rng.lognormal(0, 1, 300)]
    assert _domain(tail) == (0.0, None)
    left = [f"{-v:.3f}" for v in rng.lognormal(0, 1, 300)]
    low, high = _domain(left)
    assert low is None and high is not None


def test_string_domains_need_few_values_with_enough_rows_each():
    per_value = rules.STRING_DOMAIN_MIN_ROWS_PER_VALUE
    fits = column(["a", "b", "c"] * per_value, STRING)
    assert schema_text.string_domain_fits(fits)
    one_row_short = (["a", "b", "c"] * per_value)[:-1]
    assert not schema_text.string_domain_fits(column(one_row_short, STRING))
    wide = [f"v{i % (rules.STRING_DOMAIN_MAX_VALUES + 1)}" for i in range(500)]
    assert not schema_text.string_domain_fits(column(wide, STRING))
    text = schema_text.feature(encodings.choose(fits))
    assert "string_domain" in text and "min_domain_mass: 0.99" in text


def test_label_classes_are_closed_and_required():
    labels = column(["a", "b", "c"] * 10, STRING, "y")
    text = schema_text.label_feature(labels, task.plan(labels, None, None))
    assert "string_domain" in text and "distribution_constraints" not in text
    assert "value_count { min: 1 max: 1 }" in text


def test_blankable_columns_have_no_minimum_value_count_and_no_shape():
    text = schema_text.feature(_choose(["1.5", "", "2.5"] * 20, FLOAT))
    assert "value_count { max: 1 }" in text and "shape" not in text
    full = schema_text.feature(_choose(["1.5", "2.5"] * 20, FLOAT))
    assert "value_count { min: 1 max: 1 }" in full


# --- Gates -----------------------------------------------------------------------------------
def test_classification_gates_beat_chance_and_the_majority_class():
    plan = task.plan(column(["a"] * 7 + ["b"] * 3, STRING), None, "a")
    found = {key: value for key, value, _ in gates.gates(plan)}
    assert found["min_auc"] == rules.MIN_AUC > 0.5
    assert found["min_accuracy"] == 0.68        # 0.7 majority - 0.02 margin


def test_regression_gates_scale_with_the_labels_spread():
    values = [str(v) for v in (10.0, 20.0, 30.0, 40.0)]
    plan = task.plan(column(values, FLOAT), None, None)
    found = {key: value for key, value, _ in gates.gates(plan)}
    std = np.std([10, 20, 30, 40])
    assert found["max_rmse"] == pytest.approx(
        rules.MAX_RMSE_STD * std, rel=1e-2)
    assert found["max_rmse"] >= rules.MAX_RMSE_STD * std   # rounded up
    assert 0 < found["max_rmse_increase"] < found[
        "quantization_max_rmse_increase"] < found["max_rmse"]


# --- Names --------------------------------------------------------------------------------------
def test_the_name_comes_from_the_file_name_or_a_valid_flag():
    assert project_name(None, "/data/Iris Data_v2.csv") == "iris-data-v2"
    assert project_name(None, "/data/___.csv") == "dataset"
    assert project_name("my-set", "x.csv") == "my-set"
    with pytest.raises(InitError, match="'my-set'"):
        project_name("My_Set", "x.csv")


# --- Hints --------------------------------------------------------------------------------------
def test_unconfigured_null_tokens_are_pointed_out_not_assumed():
    from pipeline.init import _hints
    numeric_but = column(["1.5", "2.5", "?"] + ["3.5"] * 30, STRING, "price")
    category = column(["red", "NA", "blue"] * 10, STRING, "color")
    clean = column(["red", "blue"] * 10, STRING, "other")
    hints = _hints([numeric_but, category, clean], ())
    assert len(hints) == 2
    assert "'price' is text only because of '?'" in hints[0]
    assert "--null-values '?'" in hints[0]     # quoted for the shell
    assert "'color' holds 'NA' (10 cells)" in hints[1]
    assert _hints([category], ("NA",)) == []
