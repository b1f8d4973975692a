"""A/B decisions on synthetic feedback whose answer is known.

The z-test's p-value is checked against the formula computed here with
math.erfc, and its error rate at the boundary of H0 by simulation; the
bootstrap's p-value against the normal approximation with DeLong's
variance, an independent estimate of an AUC's standard error.
"""
import math

import numpy as np
import pytest

from serving import abtest
from serving.abtest import accuracy_non_inferiority, auc_bootstrap


def _z_test_p(correct_c, n_c, correct_s, n_s, margin) -> float:
    """H0: p_c <= p_s - margin; p = P(Z >= z), by the textbook formula."""
    p_c, p_s = correct_c / n_c, correct_s / n_s
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_s * (1 - p_s) / n_s)
    z = (p_c - p_s + margin) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize("canary,stable,margin", [
    ((1700, 2000), (1700, 2000), 0.02),
    ((1660, 2000), (1700, 2000), 0.02),
    ((880, 1000), (1700, 2000), 0.0),
    ((1400, 2000), (1700, 2000), 0.0),
])
def test_z_test_p_value_is_the_formula(canary, stable, margin):
    decision = accuracy_non_inferiority(*canary, *stable, margin=margin)
    assert decision.p_value == pytest.approx(
        _z_test_p(*canary, *stable, margin), rel=1e-9)
    assert decision.passed == (decision.p_value < 0.05)


def test_clearly_worse_canary_fails():
    decision = accuracy_non_inferiority(1400, 2000, 1700, 2000)
    assert not decision.passed
    assert decision.p_value > 0.999       # no evidence at all for H1
    assert decision.delta == pytest.approx(-0.15)
    assert (decision.n_canary, decision.n_stable) == (2000, 2000)
    assert "no evidence at 95% confidence" in decision.reason


def test_better_canary_passes_without_a_margin():
    decision = accuracy_non_inferiority(1760, 2000, 1700, 2000)
    assert decision.passed and decision.p_value < 0.01
    assert "the canary is no worse than stable at 95%" in decision.reason


def test_identical_models_pass_with_a_margin_but_not_without():
    at_margin = accuracy_non_inferiority(2550, 3000, 2550, 3000, margin=0.03)
    assert at_margin.passed and at_margin.p_value < 0.001
    without = accuracy_non_inferiority(2550, 3000, 2550, 3000, margin=0.0)
    assert not without.passed and without.p_value == pytest.approx(0.5)


def test_tiny_samples_fail_for_lack_of_evidence():
    decision = accuracy_non_inferiority(10, 10, 5, 10, min_samples=100)
    assert not decision.passed and decision.p_value is None
    assert decision.reason == ("need ≥ 100 labelled predictions per version, "
                               "have canary 10, stable 10")
    assert decision.as_dict()["canary"] == 1.0


def test_false_pass_rate_at_the_boundary_is_about_one_minus_confidence():
    """Canary exactly `margin` worse: H0 is true, so it may pass in ~5%."""
    rng = np.random.default_rng(0)
    n, margin, trials = 1500, 0.03, 2000
    canary = rng.binomial(n, 0.82, trials)
    stable = rng.binomial(n, 0.85, trials)
    passed = sum(accuracy_non_inferiority(int(c), n, int(s), n,
                                          margin=margin).passed
                 for c, s in zip(canary, stable))
    assert 0.03 < passed / trials < 0.07


def test_no_spread_is_decided_by_the_delta():
    assert accuracy_non_inferiority(500, 500, 500, 500, margin=0.01).passed
    assert not accuracy_non_inferiority(500, 500, 500, 500).passed


@pytest.mark.parametrize("arguments", [
    dict(canary_correct=11, canary_n=10, stable_correct=1, stable_n=10),
    dict(canary_correct=1, canary_n=10, stable_correct=1, stable_n=10,
         confidence=95),
    dict(canary_correct=1, canary_n=10, stable_correct=1, stable_n=10,
         margin=-0.1),
])
def test_impossible_arguments_are_errors(arguments):
    with pytest.raises(ValueError):
        accuracy_non_inferiority(**arguments)


def test_decision_record_is_plain_json():
    import json
    record = accuracy_non_inferiority(1700, 2000, 1690, 2000,
                                      margin=0.02).as_dict()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"passed", "metric", "canary", "stable", "delta",
                           "p_value", "n_canary", "n_stable", "method",
                           "reason", "margin", "confidence", "worse",
                           "p_worse"}


def test_clearly_worse_canary_is_worse_by_the_mirror_test():
    decision = accuracy_non_inferiority(1400, 2000, 1700, 2000, margin=0.02)
    assert decision.worse and not decision.passed
    # H0 canary >= stable - margin; p_worse = P(Z <= z), the other tail.
    assert decision.p_worse == pytest.approx(
        1 - _z_test_p(1400, 2000, 1700, 2000, 0.02), rel=1e-9)
    assert "worse than stable - 0.02 at 95% confidence (p_worse=" in \
        decision.reason


@pytest.mark.parametrize("canary", [(1700, 2000), (1680, 2000), (9, 10)])
def test_no_worse_or_too_little_data_is_never_worse(canary):
    """Equal, slightly lower (inside the margin) or tiny: hold, not roll back."""
    decision = accuracy_non_inferiority(*canary, 1700, 2000, margin=0.02)
    assert not decision.worse


def test_false_worse_rate_at_the_boundary_is_about_one_minus_confidence():
    """Canary exactly `margin` worse: "worse" (H0 canary >= stable - margin)
    is wrongly claimed in ~5%, and a pass never coincides with it."""
    rng = np.random.default_rng(1)
    n, margin, trials = 1500, 0.03, 2000
    decisions = [accuracy_non_inferiority(int(c), n, int(s), n, margin=margin)
                 for c, s in zip(rng.binomial(n, 0.82, trials),
                                 rng.binomial(n, 0.85, trials))]
    assert 0.03 < sum(d.worse for d in decisions) / trials < 0.07
    assert not any(d.worse and d.passed for d in decisions)


# --- AUC ---------------------------------------------------------------------

def _scores(n: int, separation: float, seed: int):
    """Binary labels and logistic scores; larger separation = better AUC."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    logits = separation * (2 * labels - 1) + rng.normal(size=n)
    return 1 / (1 + np.exp(-logits)), labels


def _delong_variance(scores, labels) -> float:
    """DeLong's variance of an AUC estimate, from its placement values."""
    positives = np.sort(scores[labels == 1])
    negatives = np.sort(scores[labels == 0])

    def below(sorted_values, points):   # share below each point, ties 1/2
        return (np.searchsorted(sorted_values, points, "left")
                + np.searchsorted(sorted_values, points, "right")) / 2 \
            / sorted_values.size
    v10 = below(negatives, positives)
    v01 = 1 - below(positives, negatives)
    return v10.var(ddof=1) / positives.size + v01.var(ddof=1) / negatives.size


def test_rank_auc_is_the_pairwise_definition():
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.3, 0.9])
    labels = np.array([0, 0, 1, 1, 0, 1])
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0
               for p in scores[labels == 1] for q in scores[labels == 0])
    assert abtest.auc(scores, labels) == pytest.approx(wins / 9)
    assert abtest.auc(scores, np.ones(6)) is None


def test_bootstrap_p_agrees_with_delong():
    canary, stable = _scores(2000, 1.0, 1), _scores(2000, 1.0, 2)
    auc_c, auc_s = abtest.auc(*canary), abtest.auc(*stable)
    se = math.sqrt(_delong_variance(*canary) + _delong_variance(*stable))
    for margin in (0.0, 0.005):
        expected = 0.5 * math.erfc((auc_c - auc_s + margin) / se
                                   / math.sqrt(2))
        assert 0.03 < expected < 0.5, "compare where p is away from 0 and 1"
        decision = auc_bootstrap(*canary, *stable, margin=margin,
                                 iterations=2000)
        assert decision.p_value == pytest.approx(expected, abs=0.03)
    assert decision.canary == pytest.approx(auc_c)
    assert decision.delta == pytest.approx(auc_c - auc_s)


def test_bootstrap_identical_models_pass_at_a_margin():
    decision = auc_bootstrap(*_scores(2000, 1.0, 1), *_scores(2000, 1.0, 2),
                             margin=0.04)
    assert decision.passed, decision.reason
    assert decision.metric == "auc" and decision.n_canary == 2000


def test_bootstrap_clearly_worse_canary_fails():
    decision = auc_bootstrap(*_scores(2000, 0.4, 1), *_scores(2000, 1.0, 2),
                             margin=0.02)
    assert not decision.passed and decision.p_value > 0.99
    assert decision.delta < -0.1
    assert decision.worse and decision.p_worse < 0.01


def test_bootstrap_identical_models_are_not_worse():
    decision = auc_bootstrap(*_scores(2000, 1.0, 1), *_scores(2000, 1.0, 2))
    assert not decision.worse and decision.p_worse > 0.05


def test_bootstrap_better_canary_passes():
    decision = auc_bootstrap(*_scores(2000, 1.4, 1), *_scores(2000, 1.0, 2))
    assert decision.passed and decision.p_value < 0.01


def test_bootstrap_is_reproducible_by_seed():
    canary, stable = _scores(500, 1.0, 1), _scores(500, 1.0, 2)
    first = auc_bootstrap(*canary, *stable, margin=0.02, seed=3)
    assert auc_bootstrap(*canary, *stable, margin=0.02, seed=3) == first
    assert auc_bootstrap(*canary, *stable, margin=0.02, seed=4).p_value != \
        first.p_value


def test_bootstrap_needs_samples_and_both_classes():
    tiny = auc_bootstrap(*_scores(20, 1.0, 1), *_scores(2000, 1.0, 2))
    assert not tiny.passed and tiny.p_value is None
    assert tiny.reason.startswith("need ≥ 100 labelled predictions per "
                                  "version, with both classes, have canary 20")
    one_class = auc_bootstrap(np.full(200, 0.9), np.ones(200),
                              *_scores(2000, 1.0, 2))
    assert not one_class.passed and "both classes" in one_class.reason


def test_bootstrap_rejects_mismatched_or_non_binary_input():
    with pytest.raises(ValueError, match="one score per label"):
        auc_bootstrap([0.1, 0.2], [0], [0.1], [1])
    with pytest.raises(ValueError, match="binary labels"):
        auc_bootstrap([0.1, 0.2], [0, 2], [0.1], [1])
