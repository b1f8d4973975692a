"""Served traffic as rotating JSON-lines files, for the pipeline to read back.

The server writes it with `--prediction_log_dir DIR` (serving/online.py):
every row of every successful REST/gRPC predict and classify.

One record per example row:
    {"request_id", "row", "time", "model_name", "version",
     "features": {name: value}, "score"}
`features` is the raw feature row as the schema names it (scalars as JSON
scalars, bytes as UTF-8 text); `tfx-prod drift --serving-log` computes TFDV
statistics on those rows and compares them with the training statistics.

The request path only serializes and appends to a buffer; a writer thread
flushes it every `flush_seconds` or every `flush_records` records, and on
`close()`. Files rotate by size like logging's RotatingFileHandler:
`predictions.jsonl` (newest), `predictions.1.jsonl`, …,
`predictions.<backup_count>.jsonl` (oldest; older ones are deleted).
Everything goes through tf.io.gfile, but writing needs append and rename:
a local directory (or ram:// in tests); object stores have neither, so ship
rotated files to gs:// with your log shipper; `iter_log_rows("gs://…")` then
reads them where they landed. A crash mid-write leaves a truncated
last line: the reader skips it, and a restarted log rotates that file away
first so the fragment never sits in the middle of a file.
"""
import json
import logging
import threading
from typing import Iterator

import numpy as np
import tensorflow as tf

log = logging.getLogger("serving")

LOG_FILE = "predictions.jsonl"
DEFAULT_MAX_BYTES = 64 << 20
DEFAULT_BACKUP_COUNT = 5
DEFAULT_FLUSH_SECONDS = 1.0
DEFAULT_FLUSH_RECORDS = 1000
# Records waiting for the writer; beyond it (a stalled disk) new records are
# dropped and counted rather than growing the server's memory.
DEFAULT_MAX_BUFFERED = 100_000


def log_file(directory: str, index: int = 0) -> str:
    """predictions.jsonl, predictions.1.jsonl, ... (0 = the current file)."""
    name = LOG_FILE if index == 0 else LOG_FILE.replace(
        ".jsonl", f".{index}.jsonl")
    return f"{directory.rstrip('/')}/{name}"


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _size(path: str) -> int:
    return tf.io.gfile.stat(path).length if tf.io.gfile.exists(path) else 0


def _ends_with_newline(path: str, size: int) -> bool:
    with tf.io.gfile.GFile(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


class PredictionLog:
    def __init__(self, directory: str, max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUP_COUNT, *,
                 flush_seconds: float = DEFAULT_FLUSH_SECONDS,
                 flush_records: int = DEFAULT_FLUSH_RECORDS,
                 max_buffered: int = DEFAULT_MAX_BUFFERED):
        if max_bytes < 1 or backup_count < 0:
            raise ValueError("max_bytes must be >= 1 and backup_count >= 0")
        self.directory, self.max_bytes = directory, max_bytes
        self.backup_count = backup_count
        self.flush_seconds, self.flush_records = flush_seconds, flush_records
        self.max_buffered = max_buffered
        self.written = self.dropped = self.rotations = 0
        tf.io.gfile.makedirs(directory)
        self._buffer = []
        self._lock = threading.Lock()          # the buffer
        self._wake = threading.Event()
        self._closed = False
        self._file, self._bytes = None, 0
        self._open()
        self._writer = threading.Thread(target=self._run, daemon=True,
                                        name="prediction-log")
        self._writer.start()

    # --- the request path ---------------------------------------------------
    def append(self, record: dict) -> None:
        """Queues one record; never blocks on disk. After close(), or with
        the buffer full, the record is dropped and counted (`dropped`)."""
        line = json.dumps(record, default=_jsonable, separators=(",", ":"))
        with self._lock:
            if self._closed or len(self._buffer) >= self.max_buffered:
                self.dropped += 1
                return
            self._buffer.append(line)
            if len(self._buffer) >= self.flush_records:
                self._wake.set()

    def close(self) -> None:
        """Writes everything queued and closes the file; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._writer.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the writer thread ----------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            with self._lock:
                lines, self._buffer = self._buffer, []
                closing = self._closed
            try:
                self._write(lines)
            except (OSError, tf.errors.OpError) as e:
                with self._lock:
                    self.dropped += len(lines)
                log.error("prediction log %s: %d records lost: %s",
                          self.directory, len(lines), e)
            if closing:
                self._file.close()
                return

    def _write(self, lines: list) -> None:
        for line in lines:
            data = line + "\n"
            if self._bytes and self._bytes + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._bytes += len(data)
            self.written += 1
        if lines:
            self._file.flush()

    def _open(self) -> None:
        current = log_file(self.directory)
        size = _size(current)
        if size and not _ends_with_newline(current, size):
            self._shift()      # a crash's truncated line stays a last line
            size = 0
        self._file = tf.io.gfile.GFile(current, "a")
        self._bytes = size

    def _shift(self) -> None:
        """predictions.N.jsonl -> N+1 (the oldest is deleted), current -> 1."""
        oldest = log_file(self.directory, self.backup_count)
        if self.backup_count == 0 or tf.io.gfile.exists(oldest):
            victim = oldest if self.backup_count else log_file(self.directory)
            tf.io.gfile.remove(victim)
        for index in range(self.backup_count - 1, -1, -1):
            source = log_file(self.directory, index)
            if tf.io.gfile.exists(source):
                tf.io.gfile.rename(source, log_file(self.directory, index + 1))
        self.rotations += 1

    def _rotate(self) -> None:
        self._file.close()
        self._shift()
        self._file = tf.io.gfile.GFile(log_file(self.directory), "a")
        self._bytes = 0


def _log_files(directory: str) -> list:
    """Existing log files, oldest first."""
    indexed = []
    for name in tf.io.gfile.listdir(directory):
        name = name.rstrip("/")
        if name == LOG_FILE:
            indexed.append((0, name))
        elif name.startswith("predictions.") and name.endswith(".jsonl"):
            middle = name[len("predictions."):-len(".jsonl")]
            if middle.isdigit():
                indexed.append((int(middle), name))
    return [log_file(directory, index)
            for index, _ in sorted(indexed, reverse=True)]


def iter_log_rows(directory: str) -> Iterator[dict]:
    """Every record in `directory`'s log files, oldest first. A line that
    does not parse is skipped only where a crash leaves one (a file's last
    line without its newline); anywhere else it is an error naming it."""
    if not tf.io.gfile.isdir(directory):
        raise FileNotFoundError(f"no prediction log directory {directory} "
                                "(the server's --prediction_log_dir)")
    for path in _log_files(directory):
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
        lines = text.split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(lines):       # no newline after it: truncated
                    log.warning("%s: skipping a truncated last line", path)
                    continue
                raise ValueError(f"{path}:{number} is not a JSON record; the "
                                 "log was edited or corrupted") from None
            yield record
