"""PredictionLog on a real directory: buffering, rotation, a crash's
truncated line, and reading back (also from ram://, as from gs://)."""
import json
import os
import time
import uuid

import numpy as np
import pytest
import tensorflow as tf

from serving.prediction_log import LOG_FILE, PredictionLog, iter_log_rows


def _record(i: int) -> dict:
    """Every record serializes to the same length (rotation is by bytes)."""
    return {"request_id": f"r{i:03d}", "row": 0, "time": 1.5, "model_name": "taxi",
            "version": 1, "features": {"fare": 10.0 + i % 10,
                                       "payment_type": "Cash"},
            "score": 0.25}


def test_records_come_back_in_order_and_schema_shaped(tmp_path):
    with PredictionLog(str(tmp_path)) as log:
        for i in range(3):
            log.append(_record(i))
        log.append({**_record(3), "features": {
            "fare": np.float32(2.5), "trip_start_hour": np.int64(7),
            "company": b"Flash Cab", "areas": np.array([1, 2])}})
    rows = list(iter_log_rows(str(tmp_path)))
    assert rows[:3] == [_record(i) for i in range(3)]
    assert rows[3]["features"] == {"fare": 2.5, "trip_start_hour": 7,
                                   "company": "Flash Cab", "areas": [1, 2]}
    assert log.written == 4 and log.dropped == 0


def test_buffered_records_reach_the_file_within_the_flush_interval(tmp_path):
    log = PredictionLog(str(tmp_path), flush_seconds=0.2)
    try:
        log.append(_record(0))
        path = tmp_path / LOG_FILE
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
                path.exists() and path.read_text()):
            time.sleep(0.05)
        assert json.loads(path.read_text()) == _record(0)
    finally:
        log.close()


def test_a_full_buffer_wakes_the_writer_before_the_interval(tmp_path):
    log = PredictionLog(str(tmp_path), flush_seconds=60, flush_records=10)
    try:
        for i in range(10):
            log.append(_record(i))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and log.written < 10:
            time.sleep(0.05)
        assert log.written == 10
    finally:
        log.close()


def test_files_rotate_by_size_and_the_oldest_are_deleted(tmp_path):
    line = len(json.dumps(_record(0), separators=(",", ":"))) + 1
    with PredictionLog(str(tmp_path), max_bytes=10 * line,
                       backup_count=2) as log:
        for i in range(45):
            log.append(_record(i))
    assert sorted(os.listdir(tmp_path)) == [
        "predictions.1.jsonl", "predictions.2.jsonl", LOG_FILE]
    assert all(os.path.getsize(tmp_path / name) <= 10 * line
               for name in os.listdir(tmp_path))
    ids = [row["request_id"] for row in iter_log_rows(str(tmp_path))]
    assert ids == [f"r{i:03d}" for i in range(20, 45)]
    assert len(ids) == 25 and log.rotations == 4


def test_a_truncated_last_line_is_skipped_and_rotated_away(tmp_path):
    with PredictionLog(str(tmp_path)) as log:
        log.append(_record(0))
    with open(tmp_path / LOG_FILE, "a") as f:
        f.write('{"request_id": "r1", "fea')          # the crash
    assert [r["request_id"] for r in iter_log_rows(str(tmp_path))] == [
        "r000"]
    with PredictionLog(str(tmp_path)) as log:           # the restart
        log.append(_record(2))
    assert (tmp_path / "predictions.1.jsonl").read_text().endswith('"fea')
    assert [r["request_id"] for r in iter_log_rows(str(tmp_path))] == [
        "r000", "r002"]


def test_a_corrupt_line_inside_a_file_is_an_error_naming_it(tmp_path):
    (tmp_path / LOG_FILE).write_text(
        json.dumps(_record(0)) + "\nnot json\n" + json.dumps(_record(1)) + "\n")
    with pytest.raises(ValueError, match=r"predictions.jsonl:2 is not a JSON"):
        list(iter_log_rows(str(tmp_path)))


def test_records_after_close_are_dropped_and_counted(tmp_path):
    log = PredictionLog(str(tmp_path))
    log.close()
    log.append(_record(0))
    assert log.dropped == 1 and not list(iter_log_rows(str(tmp_path)))


def test_reading_and_writing_through_tf_io_gfile():
    directory = f"ram://prediction-log-{uuid.uuid4().hex}"
    line = len(json.dumps(_record(0), separators=(",", ":"))) + 1
    with PredictionLog(directory, max_bytes=2 * line, backup_count=3) as log:
        for i in range(6):
            log.append(_record(i))
    assert len(tf.io.gfile.listdir(directory)) == 3
    assert [r["request_id"] for r in iter_log_rows(directory)] == [
        f"r{i:03d}" for i in range(6)]


def test_a_missing_directory_says_which_flag_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="--prediction_log_dir"):
        list(iter_log_rows(str(tmp_path / "absent")))
