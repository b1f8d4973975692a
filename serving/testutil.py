"""Test models laid out as pushed versions, and a real server process.

The half_plus_two family mirrors TF Serving's testdata (y = 0.5x + 2 with
`serving_default`, `classify_x_to_y`, `regress_x_to_y`); `taxi_like` is a
small model with float/int/string inputs, a tf.Example signature, a
classify and a regress signature, and a schema with every rule kind. Each
version is written the way the Pusher writes it (serving/layout.py): model
first, then schema/statistics/lineage, the manifest last.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import portpicker

from serving import layout

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HALF_PLUS_TWO_SCHEMA = """
feature { name: "x" type: FLOAT value_count { min: 1 max: 1 }
          presence { min_fraction: 1.0 } float_domain { min: -1000 max: 1000 } }
"""

TAXI_LIKE_SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "fare" type: FLOAT value_count { min: 1 max: 1 }
          presence { min_fraction: 1.0 } float_domain { min: 0 } }
feature { name: "trip_start_hour" type: INT value_count { min: 1 max: 1 }
          presence { min_fraction: 1.0 } int_domain { min: 0 max: 23 } }
feature { name: "payment_type" type: BYTES value_count { min: 1 max: 1 }
          presence { min_fraction: 1.0 }
          string_domain { value: "Cash" value: "Credit Card" } }
feature { name: "company" type: BYTES value_count { max: 1 }
          presence { min_fraction: 0.5 }
          string_domain { value: "Flash Cab" value: "Taxi Affiliation" value: "" }
          distribution_constraints { min_domain_mass: 0.9 } }
feature { name: "dropoff_area" type: INT value_count { max: 1 }
          presence { min_fraction: 0.9 } int_domain { min: 1 max: 77 } }
feature { name: "tips" type: FLOAT presence { min_fraction: 1.0 }
          not_in_environment: "SERVING" }
"""
TAXI_LIKE_MISSING = {"company": "", "dropoff_area": -1}


def half_plus_two(a: float = 0.5, b: float = 2.0):
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = tf.Variable(a), tf.Variable(b)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        def _parse(self, serialized):
            return tf.io.parse_example(serialized, {
                "x": tf.io.FixedLenFeature([1], tf.float32)})["x"]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, serialized):
            return {"scores": self.a * self._parse(serialized) + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, serialized):
            return {"outputs": self.a * self._parse(serialized) + self.b}

    module = HalfPlusTwo()
    return module, {"serving_default": module.predict,
                    "classify_x_to_y": module.classify,
                    "regress_x_to_y": module.regress}


def slow_half_plus_two(iterations: int = 60):
    """half_plus_two that first burns CPU (a matmul loop): makes queues fill."""
    import tensorflow as tf

    class Slow(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x):
            def body(i, m):
                return i + 1, tf.matmul(m, m) / 256.0
            _, m = tf.while_loop(lambda i, m: i < iterations, body,
                                 [tf.constant(0), tf.ones([256, 256])])
            return {"y": 0.5 * x + 2.0 + 0.0 * tf.reduce_mean(m)}

    module = Slow()
    return module, {"serving_default": module.predict}


SLOW_CANARY_SLEEP_US = 60_000  # tf.data sleeps it twice: ~120 ms a call


def taxi_like(bias: float = 0.0, fault: str = None):
    """A small binary classifier over taxi-like raw features. `fault` makes a
    deliberately bad canary: "constant" (always 0.5), "slow" (waits
    SLOW_CANARY_SLEEP_US twice per call, using no CPU) or "error" (every
    call fails inside the model)."""
    import tensorflow as tf
    spec = {"fare": tf.io.FixedLenFeature([], tf.float32),
            "trip_start_hour": tf.io.FixedLenFeature([], tf.int64),
            "payment_type": tf.io.FixedLenFeature([], tf.string),
            "company": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "dropoff_area": tf.io.FixedLenFeature([], tf.int64, default_value=-1)}

    class TaxiLike(tf.Module):
        def __init__(self):
            super().__init__()
            self.bias = tf.Variable(bias)

        def _probability(self, f):
            logit = (0.05 * f["fare"] - 0.5
                     + 0.1 * (tf.cast(f["trip_start_hour"], tf.float32) - 12) / 12
                     + tf.cast(tf.equal(f["payment_type"], "Credit Card"),
                               tf.float32) + self.bias)
            if fault == "constant":
                logit = 0.0 * logit
            elif fault == "slow":
                # A wait, not CPU work: a CPU-bound canary in the same
                # process slows stable as much as itself on 2 cores, and
                # "2x stable" then never trips (see rollout_stats.py).
                # tf.data's test-only sleep sits in the graph, fed by the
                # input so nothing folds it at load time.
                from tensorflow.python.data.experimental.ops import testing
                waited = tf.data.Dataset.from_tensors(f["fare"]).apply(
                    testing.sleep(SLOW_CANARY_SLEEP_US)).get_single_element()
                logit += 0.0 * tf.reduce_sum(waited)
            elif fault == "error":
                with tf.control_dependencies([tf.debugging.assert_less(
                        f["fare"], -1e9, message="deliberately failing model")]):
                    logit = tf.identity(logit)
            return tf.sigmoid(logit)[:, None]

        @tf.function(input_signature=[{
            "fare": tf.TensorSpec([None], tf.float32, name="fare"),
            "trip_start_hour": tf.TensorSpec([None], tf.int64, name="trip_start_hour"),
            "payment_type": tf.TensorSpec([None], tf.string, name="payment_type"),
            "company": tf.TensorSpec([None], tf.string, name="company"),
            "dropoff_area": tf.TensorSpec([None], tf.int64, name="dropoff_area")}])
        def serve_raw(self, columns):
            return {"probabilities": self._probability(columns)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, serialized):
            return {"probabilities": self._probability(
                tf.io.parse_example(serialized, spec))}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, serialized):
            p = self._probability(tf.io.parse_example(serialized, spec))
            batch = tf.shape(p)[0]
            return {"classes": tf.tile([["0", "1"]], [batch, 1]),
                    "scores": tf.concat([1 - p, p], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, serialized):
            return {"outputs": 0.2 * tf.io.parse_example(serialized, spec)["fare"]}

    module = TaxiLike()
    return module, {"serving_default": module.serve_raw,
                    "serving_tf_example": module.serve_examples,
                    "classify": module.classify, "regress": module.regress}


def taxi_like_rows(count: int, seed: int = 0) -> list:
    """Rows as a REST client sends them (what training statistics describe)."""
    rng = np.random.default_rng(seed)
    return [{"fare": round(float(rng.gamma(2.0, 6.0)), 2),
             "trip_start_hour": int(rng.integers(0, 24)),
             "payment_type": str(rng.choice(["Cash", "Credit Card"], p=[0.6, 0.4])),
             "company": str(rng.choice(["Flash Cab", "Taxi Affiliation", ""])),
             "dropoff_area": int(rng.integers(1, 78))} for _ in range(count)]


def statistics_for(rows: list):
    """Training statistics computed by TFDV itself, as StatisticsGen would."""
    import pandas as pd
    import tensorflow_data_validation as tfdv
    frame = pd.DataFrame(rows)
    return tfdv.generate_statistics_from_dataframe(frame)


def write_version(base: str, version: int, module, signatures: dict, *,
                  schema: str = None, statistics=None, lineage: dict = None,
                  missing_values: dict = None, tflite_signature: str = None,
                  manifest: bool = True) -> str:
    """Writes `base/version` in the Pusher's layout; returns its path."""
    import tensorflow as tf
    path = layout.version_dir(base, version)
    tf.saved_model.save(module, path, signatures=signatures)
    if tflite_signature:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            path, signature_keys=[tflite_signature])
        with open(os.path.join(path, layout.TFLITE_FILE), "wb") as f:
            f.write(converter.convert())
    os.makedirs(os.path.join(path, layout.META_DIR), exist_ok=True)
    if schema is not None:
        with open(os.path.join(path, layout.SCHEMA_FILE), "w") as f:
            f.write(schema)
    if statistics is not None:
        with open(os.path.join(path, layout.STATISTICS_FILE), "wb") as f:
            f.write(statistics.SerializeToString())
    if missing_values:
        layout.write_missing_values(path, missing_values)
    with open(os.path.join(path, layout.LINEAGE_FILE), "w") as f:
        json.dump(lineage or {"version": version}, f)
    if manifest:
        layout.write_manifest(path)
    return path


def version_statuses(server, model: str = "m") -> dict:
    """{version: (state, error message)} from GET /v1/models/MODEL."""
    _, body = rest_json(f"{server.url}/v1/models/{model}")
    return {e["version"]: (e["state"], e["status"].get("error_message", ""))
            for e in body["model_version_status"]}


def encrypt_version(path: str, kek_id: str, kek: bytes, sign=None) -> None:
    """Encrypts the version at `path` (any gfile URI) in place as the Pusher
    writes one: every file but serving.encryption.PLAINTEXT sealed with a
    fresh data key, the envelope, then the manifest of the encrypted bytes
    (signed with `sign`, serving/signing.signer, if given)."""
    import tensorflow as tf
    from serving import encryption
    sealer = encryption.Sealer(kek_id, kek)
    for directory, _, files in list(tf.io.gfile.walk(path)):
        for name in files:
            file_path = layout.join(directory, name)
            relative = file_path[len(path):].strip("/")
            if relative in (layout.MANIFEST_FILE, layout.SIGNATURE_FILE):
                tf.io.gfile.remove(file_path)
                continue
            with tf.io.gfile.GFile(file_path, "rb") as f:
                sealed = sealer.seal(relative, f.read())
            tf.io.gfile.remove(file_path)  # ram:// does not truncate
            with tf.io.gfile.GFile(file_path, "wb") as f:
                f.write(sealed)
    encryption.write_envelope(path, sealer.envelope)
    layout.write_manifest(path, sign=sign)


# --- a real server process --------------------------------------------------

class ServerProcess:
    """`python -m serving` on free loopback ports; stopped on exit."""

    def __init__(self, *flags, env=None, wait=True, timeout=120,
                 command=(sys.executable, "-m", "serving")):
        self.grpc_port = portpicker.pick_unused_port()
        self.rest_port = portpicker.pick_unused_port()
        self.log_path = None
        command = [*command, "--host=127.0.0.1",
                   f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}",
                   *flags]
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                           PYTHONPATH=REPO, **(env or {}))
        self.process = subprocess.Popen(command, cwd=REPO, env=environment,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.output = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready(timeout)

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def log(self) -> str:
        return "".join(self.output)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def wait_ready(self, timeout=120):
        """TF Serving's WaitForServerReady: poll until the server answers
        NOT_FOUND with 'Servable' for a model that does not exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}:\n"
                                   f"{self.log[-4000:]}")
            status, body = call_rest(
                self.url + "/v1/models/intentionally_missing_model:predict",
                b'{"instances": [1]}', retries=0)
            if status == 404 and b"Servable" in body:
                return
            time.sleep(0.2)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.log[-4000:]}")

    def rss_bytes(self) -> int:
        import psutil
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Load:
    """N keep-alive clients posting predicts until stopped; counts outcomes."""

    def __init__(self, port: int, path: str, body: bytes, clients: int = 4,
                 keys_per_client: int = 0):
        self.port, self.path, self.body = port, path, body
        # keys_per_client > 0: each request carries X-Rollout-Key, one of
        # that many per client (sticky canary routing sees many users).
        self.keys_per_client = keys_per_client
        self.ok, self.failed, self.answers = 0, [], set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,),
                                          daemon=True)
                         for i in range(clients)]

    def _client(self, index: int):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = 0
        while not self._stop.is_set():
            headers = {}
            if self.keys_per_client:
                sent += 1
                headers["X-Rollout-Key"] = (
                    f"user-{index}-{sent % self.keys_per_client}")
            try:
                connection.request("POST", self.path, body=self.body,
                                   headers=headers)
                response = connection.getresponse()
                reply = response.read()
                with self._lock:
                    if response.status == 200:
                        self.ok += 1
                        self.answers.add(reply)
                    else:
                        self.failed.append((response.status, reply[:200]))
            except (OSError, http.client.HTTPException) as e:
                with self._lock:
                    self.failed.append(("connection", repr(e)))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                        timeout=30)
                time.sleep(0.05)
            time.sleep(0.002)   # bounded: a few hundred requests per second

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def wait_for(predicate, timeout=60.0) -> bool:
    """Polls `predicate` until true (-> True) or `timeout` s (-> False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def call_rest(url: str, data: bytes = None, retries: int = 0, timeout=30,
              headers=None):
    """TF Serving's CallREST: plain urllib, no content type; (status, body)."""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, ConnectionError, OSError):
            if attempt == retries:
                return None, b""
            time.sleep(0.5)
    return None, b""


def rest_json(url: str, document=None, **kwargs):
    data = None if document is None else (
        document if isinstance(document, bytes) else json.dumps(document).encode())
    status, body = call_rest(url, data, **kwargs)
    return status, json.loads(body) if body else None
