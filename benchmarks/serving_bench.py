"""Serving benchmark: `tfx-prod serve` against the Flask servers people write.

Stacks (batch-1 requests built from real taxi rows, load from wrk in its own
process on loopback, concurrency 1/8/64):
  (a) flask-keras      the guide's microservice, Keras `model.predict`
  (b) flask-signature  Flask calling the SavedModel signature
  (c) rest-savedmodel  tfx-prod serve REST, SavedModel runtime, batching
  (d) rest-tflite      tfx-prod serve REST, the blessed model.tflite
      rest-onnx        tfx-prod serve REST, `tfx-prod export onnx`'s model.onnx
  (e) grpc-savedmodel  tfx-prod serve gRPC (asyncio client: wrk has no gRPC)
  (f) flask-constant / ours-constant: each HTTP stack answering a constant
  (g) in-process model calls (the floor)
Every figure is a ratio against an anchor measured in the same repeat;
repeats give median and min-max. `run(repeats)` -> results["serving"].
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

from benchmarks import machine, stats, workdirs
from benchmarks.progress import say
from benchmarks.serving_load import lua_script, run_child, wrk_run

NAME = "serving"
CONCURRENCY = (1, 8, 64)
SECONDS = 5
ROWS = 200
HOME = os.path.join(workdirs.WORK_DIR, "serving-home")
WORK = os.path.join(workdirs.WORK_DIR, "serving")
# Ours runs with the batching config deploy/ ships.
BATCHING_FILE = os.path.join(workdirs.REPO_DIR, "deploy", "serving",
                             "batching.config")
STACKS = ("flask-keras", "flask-signature", "rest-savedmodel", "rest-tflite",
          "rest-onnx", "grpc-savedmodel", "flask-constant", "ours-constant")
# Our model-serving stacks: the runtime each runs and its in-process floor.
RUNTIME_OF = {"rest-savedmodel": "savedmodel", "grpc-savedmodel": "savedmodel",
              "rest-tflite": "tflite", "rest-onnx": "onnx"}
PREDICT_STACKS = ("rest-savedmodel", "rest-tflite", "rest-onnx")
FLOOR_OF = {"rest-savedmodel": "session_call_ms",
            "rest-tflite": "tflite_call_ms", "rest-onnx": "onnx_call_ms"}
# Stacks fed Transform outputs (the dense `predict_transformed` signature).
DENSE_STACKS = ("flask-keras", "rest-tflite", "rest-onnx")


def _env():
    return dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
                PYTHONPATH=workdirs.REPO_DIR)


def _pushed_version(model_base=None):
    """The newest complete version the pipeline pushed to `model_base`
    (default: HOME, where the pipeline runs once if nothing is there)."""
    from serving import layout
    base = model_base
    if not base or layout.newest_complete_version(base) is None:
        base = os.path.join(HOME, "serving", "taxi")
    if layout.newest_complete_version(base) is None:
        say("serving: no pushed model yet; running tfx-prod run once")
        subprocess.run([workdirs.venv_script("tfx-prod"), "run", "--home", HOME],
                       check=True, env=_env(), cwd=workdirs.REPO_DIR,
                       stdout=subprocess.DEVNULL)
    version = layout.newest_complete_version(base)
    return layout.version_dir(base, version)


def _prepare(pushed):
    """The bench's copy of the version, with the missing-value sentinels the
    Pusher is to ship (serving/layout.py MISSING_VALUES_FILE) and the
    model.onnx `tfx-prod export onnx` adds."""
    from modules.taxi import features
    from serving import layout
    from tfx_prod import export
    shutil.rmtree(WORK, ignore_errors=True)
    target = os.path.join(WORK, "models", "taxi", os.path.basename(pushed))
    shutil.copytree(pushed, target)
    if not os.path.exists(os.path.join(target, layout.MISSING_VALUES_FILE)):
        layout.write_missing_values(target, {
            n: features.missing_value(n) for n in features.model_input_features()})
    with open(os.path.join(target, layout.ONNX_FILE), "wb") as f:
        f.write(export.convert(target)[0])
    layout.write_manifest(target)
    return target


def _requests(version_dir):
    """Raw-feature rows and their Transform outputs, from real eval rows."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from modules.taxi import features
    frame = pd.read_csv(os.path.join(workdirs.SPAN_DIR, "data.csv")).sample(
        n=ROWS, random_state=11)
    raw, examples = [], []
    for record in frame.to_dict("records"):
        row, feature = {}, {}
        for name in features.model_input_features():
            value, kind = record[name], features.raw_dtype(name)
            missing = value != value
            value = features.missing_value(name) if missing else value
            row[name] = (str(value) if kind == "string" else
                         int(value) if kind == "int" else float(value))
            if not missing:
                feature[name] = (
                    tf.train.Feature(bytes_list=tf.train.BytesList(value=[row[name].encode()]))
                    if kind == "string" else
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[row[name]]))
                    if kind == "int" else
                    tf.train.Feature(float_list=tf.train.FloatList(value=[row[name]])))
        raw.append(row)
        examples.append(tf.train.Example(features=tf.train.Features(
            feature=feature)).SerializeToString())
    loaded = tf.saved_model.load(version_dir)
    out = loaded.signatures["transform_features"](examples=tf.constant(examples))
    names = list(loaded.signatures["predict_transformed"]
                 .structured_input_signature[1])
    transformed = [{n: np.asarray(out[n][i]).astype(float).tolist() for n in names}
                   for i in range(ROWS)]
    return raw, transformed, loaded


def _in_process(version_dir, raw, transformed, loaded):
    """(g): P50 of one batch-1 call, three ways."""
    import numpy as np
    import tensorflow as tf
    from serving.runtimes import OnnxRuntime, SavedModelRuntime, TFLiteRuntime

    def p50(call, inputs):
        for item in inputs[:20]:
            call(item)
        times = []
        for item in inputs:
            started = time.perf_counter()
            call(item)
            times.append((time.perf_counter() - started) * 1e3)
        return stats.summarize(times)["median"]
    signature = loaded.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    tf_raw = [{n: tf.constant([r[n]], specs[n].dtype) for n in specs} for r in raw]
    np_raw = [{n: (np.array([r[n].encode()], object) if specs[n].dtype == tf.string
                   else np.array([r[n]], specs[n].dtype.as_numpy_dtype))
               for n in specs} for r in raw]
    session = SavedModelRuntime(version_dir)
    tflite = TFLiteRuntime(version_dir)
    onnx = OnnxRuntime(version_dir)
    np_transformed = [{n: np.array([v], np.float32) for n, v in t.items()}
                      for t in transformed]
    return {
        "signature_call_ms": p50(lambda x: signature(**x), tf_raw),
        "session_call_ms": p50(lambda x: session.run(
            "serving_default", x, ("probabilities",)), np_raw),
        "tflite_call_ms": p50(lambda x: tflite.run(
            "predict_transformed", x, ("probabilities",)), np_transformed),
        "onnx_call_ms": p50(lambda x: onnx.run(
            "predict_transformed", x, ("probabilities",)), np_transformed),
    }


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command, port, body):
    """Starts a server process; returns it once a predict answers 200."""
    import urllib.request
    process = subprocess.Popen(command, env=_env(), cwd=workdirs.REPO_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited {process.returncode}")
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/models/taxi:predict", body)
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise TimeoutError(f"{command} not ready")


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _rss_mb(process):
    import psutil
    return psutil.Process(process.pid).memory_info().rss / 2**20


def _ours(version_dir, port, grpc_port, runtime):
    batching = BATCHING_FILE
    return [sys.executable, "-m", "serving", "--host=127.0.0.1",
            f"--port={grpc_port}", f"--rest_api_port={port}", "--model_name=taxi",
            f"--model_base_path={os.path.dirname(version_dir)}",
            f"--runtime={runtime}", "--enable_batching",
            f"--batching_parameters_file={batching}"]


def _grpc_requests(raw, path):
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from modules.taxi import features
    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    with open(path, "wb") as f:
        for row in raw:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "taxi"
            for name, value in row.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(
                    np.array([value]), dtype=dtypes[features.raw_dtype(name)]))
            f.write(request.SerializeToString() + b"\0REQ\0")


def _measure_http(stack, port, script, seconds):
    points = {}
    wrk_run(port, script, 8, 1)                     # warm-up, unmeasured
    for concurrency in CONCURRENCY:
        points[concurrency] = wrk_run(port, script, concurrency, seconds)
        say(f"serving: {stack} c={concurrency}: "
            f"{points[concurrency]['requests_per_s']:.0f} req/s, "
            f"p99 {points[concurrency]['p99_ms']} ms, "
            f"errors {points[concurrency]['errors']}")
    return points


def _one_repeat(version_dir, bodies, seconds):
    result, rss = {}, {}
    raw_script = os.path.join(WORK, "raw.lua")
    transformed_script = os.path.join(WORK, "transformed.lua")
    lua_script(raw_script, "/v1/models/taxi:predict", bodies["raw"])
    lua_script(transformed_script, "/v1/models/taxi:predict", bodies["transformed"])
    for stack in STACKS:
        port = _free_port()
        script = transformed_script if stack in DENSE_STACKS else raw_script
        first = (bodies["transformed"] if script == transformed_script
                 else bodies["raw"])[0]
        if stack.startswith("flask") or stack == "ours-constant":
            command = [sys.executable, "-m", "benchmarks.serving_apps", stack,
                       str(port), version_dir]
            grpc_port = None
        else:
            grpc_port = _free_port()
            command = _ours(version_dir, port, grpc_port, RUNTIME_OF[stack])
        process = _start(command, port, first)
        try:
            if stack == "grpc-savedmodel":
                run_child("grpc", f"127.0.0.1:{grpc_port}",
                          os.path.join(WORK, "grpc.requests"), 8, 1)
                result[stack] = {c: run_child(
                    "grpc", f"127.0.0.1:{grpc_port}",
                    os.path.join(WORK, "grpc.requests"), c, seconds)
                    for c in CONCURRENCY}
                say(f"serving: {stack} c=64: "
                    f"{result[stack][64]['requests_per_s']:.0f} req/s")
            else:
                # Keras predict answers a few requests per second: give it
                # long enough that 64 connections complete more than once.
                result[stack] = _measure_http(
                    stack, port, script,
                    max(seconds, 10) if stack == "flask-keras" else seconds)
            if stack.startswith(("rest", "grpc")):
                rss[stack] = _rss_mb(process)
            if stack in (*PREDICT_STACKS, "ours-constant"):
                result[stack]["half_load"] = _half_load(stack, port, result,
                                                        bodies, seconds)
        finally:
            _stop(process)
    return result, rss


def _half_load(stack, port, result, bodies, seconds):
    """P99 at half the stack's best throughput (open loop, fixed rate)."""
    if stack == "ours-constant":
        predict = max(PREDICT_STACKS,
                      key=lambda s: result[s][64]["requests_per_s"])
        rate = result[predict]["half_load"]["rate"]
    else:
        rate = max(p["requests_per_s"] for c, p in result[stack].items()
                   if c in CONCURRENCY) / 2
    body_file = os.path.join(WORK, f"{stack}.bodies.json")
    kind = "transformed" if stack in DENSE_STACKS else "raw"
    with open(body_file, "w") as f:
        json.dump([b.decode() for b in bodies[kind]], f)
    point = run_child("rate", port, body_file, rate, seconds, 32)
    point["rate"] = rate
    return point


def _summaries(repeats):
    out = {}
    for stack in STACKS:
        out[stack] = {}
        for c in CONCURRENCY:
            out[stack][str(c)] = {
                key: stats.summarize([r["stacks"][stack][c][key] for r in repeats])
                for key in ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "errors")}
    return out


def _goals(repeats):
    def per_repeat(fn):
        values = []
        for r in repeats:
            try:
                values.append(fn(r))
            except ZeroDivisionError:   # a stack that answered nothing
                values.append(None)
        return stats.summarize(values)

    def rps(r, stack, c=64):
        return r["stacks"][stack][c]["requests_per_s"]

    def faster(r):
        return max(PREDICT_STACKS, key=lambda s: rps(r, s))

    def half_bound(r):
        stack = faster(r)
        floor = r["in_process"][FLOOR_OF[stack]]
        constant = r["stacks"]["ours-constant"]["half_load"]["p99_ms"]
        return r["stacks"][stack]["half_load"]["p99_ms"] / (2 * (floor + constant))
    errors = sum(r["stacks"][s][64]["errors"] for r in repeats
                 for s in RUNTIME_OF)
    return [
        stats.goal("vs_signature", "REST SavedModel >= 10x Flask+signature at "
                   "c=64", per_repeat(lambda r: rps(r, "rest-savedmodel")
                                      / rps(r, "flask-signature")), 10, ">="),
        stats.goal("vs_keras", "REST SavedModel >= 100x Flask+Keras predict at "
                   "c=64", per_repeat(lambda r: rps(r, "rest-savedmodel")
                                      / rps(r, "flask-keras")), 100, ">="),
        stats.goal("errors", "zero errors at c=64 (ours, all repeats)",
                   errors, 0, "<="),
        stats.goal("ceiling", "our HTTP ceiling >= 5x Flask's (constant, c=64)",
                   per_repeat(lambda r: rps(r, "ours-constant")
                              / rps(r, "flask-constant")), 5, ">="),
        stats.goal("predict_vs_ceiling", "faster runtime's predict >= 50% of "
                   "our ceiling (c=64)", per_repeat(
                       lambda r: rps(r, faster(r)) / rps(r, "ours-constant")),
                   0.5, ">="),
        stats.goal("p99_half_load", "P99 at half max <= 2x (in-process call + "
                   "constant stack's P99 at that rate); value = P99 / bound",
                   per_repeat(half_bound), 1.0, "<="),
    ]


def run(repeats: int = 3, seconds: int = SECONDS, model_base=None) -> dict:
    started = time.monotonic()
    pushed = _pushed_version(model_base)
    version_dir = _prepare(pushed)
    raw, transformed, loaded = _requests(version_dir)
    bodies = {"raw": [json.dumps({"instances": [r]}).encode() for r in raw],
              "transformed": [json.dumps({"signature_name": "predict_transformed",
                                          "instances": [t]}).encode()
                              for t in transformed[:50]]}
    _grpc_requests(raw, os.path.join(WORK, "grpc.requests"))
    runs = []
    for index in range(repeats):
        say(f"serving: repeat {index + 1}/{repeats}")
        floors = _in_process(version_dir, raw, transformed, loaded)
        stacks, rss = _one_repeat(version_dir, bodies, seconds)
        runs.append({"stacks": stacks, "rss_mb": rss, "in_process": floors})
    return {
        "status": "succeeded",
        "machine": machine.describe(),
        "model": pushed,
        "settings": {"concurrency": list(CONCURRENCY), "seconds": seconds,
                     "rows": ROWS, "batching": [line for line in open(BATCHING_FILE).read().splitlines()
                                  if line and not line.startswith("#")],
                     "load": "wrk 1 thread (HTTP), asyncio grpc client (gRPC), "
                             "open-loop asyncio client (half load)"},
        "repeats": len(runs),
        "stacks": _summaries(runs),
        "in_process": {k: stats.summarize([r["in_process"][k] for r in runs])
                       for k in runs[0]["in_process"]},
        "rss_mb": {k: stats.summarize([r["rss_mb"][k] for r in runs])
                   for k in runs[0]["rss_mb"]},
        "half_load": {s: {k: stats.summarize([r["stacks"][s]["half_load"][k]
                                              for r in runs])
                          for k in ("rate", "p99_ms", "errors")}
                      for s in (*PREDICT_STACKS, "ours-constant")},
        "goals": _goals(runs),
        "runs": [_jsonable(r) for r in runs],
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 3,
                 int(sys.argv[2]) if len(sys.argv) > 2 else SECONDS,
                 sys.argv[3] if len(sys.argv) > 3 else None)
    print(json.dumps(result, indent=1, default=str))
    from benchmarks.serving_report import render_serving_table
    print(render_serving_table({"serving": result}))
