"""FeedbackStore and the feedback wire format, on synthetic predictions whose
metrics are computed independently here (pairwise AUC, counted accuracy)."""
import itertools
import threading
import uuid

import numpy as np
import pytest
import tensorflow as tf

from serving import feedback
from serving.feedback import (BadFeedback, DuplicateFeedback, FeedbackStore,
                              UnknownRequest, parse_feedback_body,
                              read_feedback_file)
from serving.status import Code


def _pairwise_auc(scores, labels) -> float:
    """AUC by its definition: P(score of a positive > a negative), ties 1/2."""
    positives = [s for s, y in zip(scores, labels) if y == 1]
    negatives = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0
               for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


def test_online_accuracy_and_auc_match_an_independent_computation():
    rng = np.random.default_rng(3)
    store = FeedbackStore()
    all_scores, all_labels = [], []
    for i in range(60):
        rows = int(rng.integers(1, 4))
        labels = rng.integers(0, 2, rows).tolist()
        # Rounded scores make ties, which AUC must count as one half.
        scores = np.round(np.clip(0.3 * np.array(labels) + rng.uniform(
            0, 0.7, rows), 0, 1), 1).tolist()
        store.record(f"id-{i}", "taxi", 2, scores)
        joined = store.add_feedback(f"id-{i}", labels)
        assert joined == {"model_name": "taxi", "version": 2, "rows": rows,
                          "correct": sum((s >= 0.5) == y
                                         for s, y in zip(scores, labels))}
        all_scores += scores
        all_labels += labels
    online = store.online_metrics("taxi", 2)
    correct = sum((s >= 0.5) == y for s, y in zip(all_scores, all_labels))
    assert online["n"] == len(all_labels)
    assert online["correct"] == correct
    assert online["accuracy"] == pytest.approx(correct / len(all_labels))
    assert online["auc"] == pytest.approx(_pairwise_auc(all_scores, all_labels))
    scores, labels = store.pairs("taxi", 2)
    np.testing.assert_allclose(scores, all_scores)
    np.testing.assert_array_equal(labels, all_labels)
    assert store.online_metrics("taxi", 1) == {"n": 0, "correct": 0,
                                               "accuracy": None, "auc": None}


def test_auc_is_none_until_both_classes_are_seen():
    store = FeedbackStore()
    store.record("a", "m", 1, [0.9, 0.8])
    store.add_feedback("a", [1, 1])
    assert store.online_metrics("m", 1)["auc"] is None
    assert store.online_metrics("m", 1)["accuracy"] == 1.0
    store.record("b", "m", 1, [0.7])
    store.add_feedback("b", [0])
    assert store.online_metrics("m", 1)["auc"] == pytest.approx(1.0)


def test_versions_are_kept_apart():
    store = FeedbackStore()
    store.record("stable", "m", 1, [0.9])
    store.record("canary", "m", 2, [0.9])
    store.add_feedback("stable", [1])
    store.add_feedback("canary", [0])
    assert store.online_metrics("m", 1)["accuracy"] == 1.0
    assert store.online_metrics("m", 2)["accuracy"] == 0.0


def test_unknown_id_is_not_found_and_says_why():
    store = FeedbackStore()
    with pytest.raises(UnknownRequest) as error:
        store.add_feedback("never-made", [1])
    assert error.value.code == Code.NOT_FOUND
    assert "no prediction with request id never-made" in str(error.value)


def test_oldest_pending_are_evicted_and_counted():
    store = FeedbackStore(max_pending=3)
    for i in range(5):
        assert store.record(f"r{i}", "m", 1, [0.2])
    assert store.pending() == 3 and store.evictions == 2
    with pytest.raises(UnknownRequest, match="r0 was evicted.*newest 3"):
        store.add_feedback("r0", [0])
    assert store.add_feedback("r4", [0])["correct"] == 1


def test_label_count_mismatch_is_invalid_and_loses_nothing():
    store = FeedbackStore()
    store.record("two-rows", "m", 1, [0.9, 0.1])
    with pytest.raises(BadFeedback) as error:
        store.add_feedback("two-rows", [1])
    assert error.value.code == Code.INVALID_ARGUMENT
    assert "predicted 2 row(s)" in str(error.value)
    assert store.online_metrics("m", 1)["n"] == 0
    assert store.add_feedback("two-rows", [1, 0])["correct"] == 2


@pytest.mark.parametrize("label", [2, -1, 0.5, "1", None])
def test_a_label_outside_the_classes_is_rejected(label):
    store = FeedbackStore()
    store.record("a", "m", 1, [0.9])
    with pytest.raises(BadFeedback, match="binary: 0 or 1"):
        store.add_feedback("a", [label])
    assert store.add_feedback("a", [True])["correct"] == 1


def test_duplicate_feedback_is_rejected_not_double_counted():
    store = FeedbackStore()
    store.record("a", "m", 1, [0.9])
    store.add_feedback("a", [1])
    with pytest.raises(DuplicateFeedback) as error:
        store.add_feedback("a", [1])
    assert error.value.code == Code.ALREADY_EXISTS
    assert store.online_metrics("m", 1)["n"] == 1
    assert not store.record("a", "m", 1, [0.1]), "a labelled id is not reused"


def test_a_repeated_request_id_keeps_the_first_prediction():
    store = FeedbackStore()
    assert store.record("a", "m", 1, [0.9])
    assert not store.record("a", "m", 2, [0.1])
    assert store.add_feedback("a", [1])["version"] == 1


def test_feedback_for_another_model_is_refused():
    store = FeedbackStore()
    store.record("a", "taxi", 1, [0.9])
    with pytest.raises(UnknownRequest, match="/v1/models/taxi/feedback"):
        store.add_feedback("a", [1], model_name="other")
    assert store.add_feedback("a", [1], model_name="taxi")["rows"] == 1


def test_multi_class_rows_use_argmax_and_have_no_auc():
    store = FeedbackStore()
    store.record("a", "m", 1, [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert store.add_feedback("a", [1, 2])["correct"] == 1
    store.record("b", "m", 1, [[0.2, 0.3, 0.5]])
    with pytest.raises(BadFeedback, match="indices 0..2"):
        store.add_feedback("b", [3])
    online = store.online_metrics("m", 1)
    assert (online["n"], online["accuracy"], online["auc"]) == (2, 0.5, None)
    assert store.pairs("m", 1)[0].shape == (2, 3)


def test_two_column_rows_are_binary_with_p1_in_the_second_column():
    store = FeedbackStore()
    store.record("a", "m", 1, np.array([[0.2, 0.8], [0.9, 0.1]]))
    store.add_feedback("a", [1, 0])
    np.testing.assert_allclose(store.pairs("m", 1)[0], [0.8, 0.1])
    assert store.online_metrics("m", 1)["auc"] == 1.0


@pytest.mark.parametrize("scores", [[3.5], [float("nan")], [], "high"])
def test_regression_or_broken_scores_are_not_recorded(scores):
    store = FeedbackStore()
    with pytest.raises(ValueError):
        store.record("a", "m", 1, scores)
    assert store.pending() == 0


def test_joined_rows_per_version_keep_the_newest():
    store = FeedbackStore(max_pairs=4)
    for i, (score, label) in enumerate([(0.9, 0), (0.9, 0), (0.9, 1),
                                        (0.1, 0), (0.8, 1), (0.2, 0)]):
        store.record(str(i), "m", 1, [score])
        store.add_feedback(str(i), [label])
    scores, labels = store.pairs("m", 1)
    np.testing.assert_allclose(scores, [0.9, 0.1, 0.8, 0.2])
    np.testing.assert_array_equal(labels, [1, 0, 1, 0])
    assert store.online_metrics("m", 1)["correct"] == 4


def test_concurrent_record_and_feedback_count_every_row_once():
    store = FeedbackStore()

    def client(index):
        for i in range(200):
            rid = f"{index}-{i}"
            store.record(rid, "m", 1, [0.9])
            store.add_feedback(rid, [i % 2])
    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    online = store.online_metrics("m", 1)
    assert (online["n"], online["correct"]) == (1600, 800)


# --- the wire format -----------------------------------------------------------

def test_body_one_item_or_a_batch():
    assert parse_feedback_body(b'{"request_id": "a", "labels": [1, 0]}') == [
        ("a", [1, 0])]
    assert parse_feedback_body(
        b'{"feedback": [{"request_id": "a", "labels": [1]},'
        b' {"request_id": "b", "labels": [0, 0]}]}') == [("a", [1]),
                                                        ("b", [0, 0])]


@pytest.mark.parametrize("body,names", [
    (b"", "not JSON"),
    (b"[1]", "item is an object"),
    (b'{"labels": [1]}', "request_id"),
    (b'{"request_id": "", "labels": [1]}', "request_id"),
    (b'{"request_id": 7, "labels": [1]}', "request_id"),
    (b'{"request_id": "a"}', "labels"),
    (b'{"request_id": "a", "labels": 1}', "labels"),
    (b'{"request_id": "a", "labels": []}', "labels"),
    (b'{"request_id": "a", "labels": ["yes"]}', "labels"),
    (b'{"request_id": "a", "labels": [1], "label": 1}', "unknown field(s) label"),
    (b'{"feedback": []}', '"feedback"'),
    (b'{"feedback": [{"request_id": "a", "labels": [1]}, 3]}', "feedback[1]"),
])
def test_malformed_bodies_name_the_field_and_the_fix(body, names):
    with pytest.raises(BadFeedback) as error:
        parse_feedback_body(body)
    assert isinstance(error.value, ValueError)
    assert error.value.code == Code.INVALID_ARGUMENT
    assert names in str(error.value)
    assert "e.g." in str(error.value) or "send {" in str(error.value)


def test_feedback_file_of_json_lines_on_any_filesystem():
    path = f"ram://feedback-{uuid.uuid4().hex}/labels.jsonl"
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, "w") as f:
        f.write('{"request_id": "a", "labels": [1]}\n\n'
                '{"request_id": "b", "labels": [0, 1]}\n')
    assert read_feedback_file(path) == [("a", [1]), ("b", [0, 1])]
    with tf.io.gfile.GFile(path, "a") as f:
        f.write('{"request_id": "c", "labels": [1]\n')
    with pytest.raises(BadFeedback, match=r"labels.jsonl:4 is not JSON"):
        read_feedback_file(path)
    with pytest.raises(BadFeedback, match="cannot read feedback file"):
        read_feedback_file(path + ".missing")


def test_prediction_log_is_reachable_from_this_module():
    from serving import prediction_log
    assert feedback.PredictionLog is prediction_log.PredictionLog
    assert feedback.iter_log_rows is prediction_log.iter_log_rows


def test_pairs_since_keep_only_predictions_made_in_the_window():
    """An A/B test compares both versions over the rollout's period: rows
    predicted before it started (labelled during it or not) stay out."""
    store = FeedbackStore()
    store.record("old", "m", 1, [0.9, 0.2], predicted_at=100.0)
    store.record("new", "m", 1, [0.7], predicted_at=200.0)
    store.add_feedback("new", [1])
    store.add_feedback("old", [1, 0])       # labelled later, predicted before
    scores, labels = store.pairs("m", 1, since=150.0)
    np.testing.assert_allclose(scores, [0.7])
    np.testing.assert_array_equal(labels, [1])
    assert len(store.pairs("m", 1)[1]) == 3
    assert store.versions() == [("m", 1)]
