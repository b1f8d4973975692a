"""Model runtimes: what turns a version directory into a callable model.

- `SavedModelRuntime` (default) loads the SavedModel the way TF Serving does,
  with the TF1 loader into a Session, and runs signatures by their graph
  tensor names (`Session.run`, no eager dispatch per call).
- `TFLiteRuntime` runs the Quantizer's blessed `model.tflite` in the TFLite
  interpreter (one interpreter per thread: it is not thread-safe), serving
  the signatures the flatbuffer holds, like `--prefer_tflite_model`.
- `OnnxRuntime` runs `model.onnx` (`tfx-prod export onnx`: the dense
  `predict_transformed` signature) in ONNX Runtime, whose session is
  thread-safe, under the signature key recorded in the model.
"""
import threading
from typing import Optional

import numpy as np

from serving import layout
from serving.options import RUNTIMES
from serving.signatures import (PREDICT_METHOD, INIT_OP_SIGNATURE, Signature,
                                dtype_enum_of, make_signature_def,
                                read_signature_defs)



class LoadError(RuntimeError):
    """A version that cannot be served; the message says why and what to do."""


class SavedModelRuntime:
    name = "TF1"   # TF Serving's `runtime` label for Session-based serving

    def __init__(self, version_dir: str, tags=("serve",), intra_op: int = 0,
                 inter_op: int = 0):
        import tensorflow as tf
        self.signature_defs = read_signature_defs(version_dir, tags)
        self.signatures = {k: Signature.from_proto(k, p)
                           for k, p in self.signature_defs.items()
                           if k != INIT_OP_SIGNATURE}
        self._graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=intra_op,
            inter_op_parallelism_threads=inter_op)
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        with self._graph.as_default():
            tf.compat.v1.saved_model.loader.load(self._session, list(tags),
                                                 version_dir)
        self._callables = {}
        self._lock = threading.Lock()

    def _callable(self, key: str, outputs: tuple):
        cached = self._callables.get((key, outputs))
        if cached is None:
            signature = self.signatures[key]
            feeds = [signature.inputs[a].tensor_name for a in signature.inputs]
            fetches = [signature.outputs[a].tensor_name for a in outputs]
            with self._lock:
                cached = self._session.make_callable(fetches, feed_list=feeds)
            self._callables[(key, outputs)] = cached
        return cached

    def run(self, key: str, inputs: dict, outputs: tuple) -> dict:
        signature = self.signatures[key]
        values = self._callable(key, outputs)(
            *[inputs[alias] for alias in signature.inputs])
        return dict(zip(outputs, values))

    def close(self):
        self._session.close()


class TFLiteRuntime:
    name = "TFLite"

    def __init__(self, version_dir: str, num_threads: Optional[int] = None):
        import tensorflow as tf
        self._path = layout.join(version_dir, layout.TFLITE_FILE)
        if not tf.io.gfile.exists(self._path):
            raise LoadError(
                f"{version_dir} has no {layout.TFLITE_FILE}: the Quantizer "
                "blessed no TFLite variant for this version. Serve it with "
                "--runtime savedmodel.")
        with tf.io.gfile.GFile(self._path, "rb") as f:
            self._content = f.read()
        self._num_threads = num_threads
        self._local = threading.local()
        interpreter = self._interpreter()
        self.signature_defs, self.signatures = {}, {}
        for key in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner(key)
            inputs = [(alias, d["name"], dtype_enum_of(np.empty(0, d["dtype"])),
                       d["shape_signature"]) for alias, d in
                      sorted(runner.get_input_details().items())]
            outputs = [(alias, d["name"], dtype_enum_of(np.empty(0, d["dtype"])),
                        d["shape_signature"]) for alias, d in
                       sorted(runner.get_output_details().items())]
            proto = make_signature_def(PREDICT_METHOD, inputs, outputs)
            self.signature_defs[key] = proto
            self.signatures[key] = Signature.from_proto(key, proto)
        if not self.signatures:
            raise LoadError(f"{self._path} holds no signatures; convert it "
                            "with a signature key (the Quantizer does)")

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            import tensorflow as tf
            interpreter = tf.lite.Interpreter(model_content=self._content,
                                              num_threads=self._num_threads)
            self._local.interpreter = interpreter
            self._local.runners = {}
        return interpreter

    def run(self, key: str, inputs: dict, outputs: tuple) -> dict:
        interpreter = self._interpreter()
        runner = self._local.runners.get(key)
        if runner is None:
            runner = self._local.runners[key] = \
                interpreter.get_signature_runner(key)
        results = runner(**inputs)
        return {alias: results[alias] for alias in outputs}

    def close(self):
        self._local = threading.local()


# ONNX tensor types -> numpy (what `tfx-prod export onnx` can produce).
_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(int32)": np.int32, "tensor(int64)": np.int64,
                "tensor(bool)": np.bool_}


class OnnxRuntime:
    name = "ONNX"

    def __init__(self, version_dir: str, intra_op: int = 0, inter_op: int = 0):
        import tensorflow as tf
        path = layout.join(version_dir, layout.ONNX_FILE)
        if not tf.io.gfile.exists(path):
            raise LoadError(
                f"{version_dir} has no {layout.ONNX_FILE}: make one with "
                "`tfx-prod export onnx`, or serve it with --runtime "
                "savedmodel")
        try:
            import onnxruntime
        except ImportError as error:
            raise LoadError(f"--runtime onnx needs onnxruntime ({error}); "
                            "it is in requirements.lock") from None
        with tf.io.gfile.GFile(path, "rb") as f:
            content = f.read()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op
        options.inter_op_num_threads = inter_op
        try:
            self._session = onnxruntime.InferenceSession(
                content, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own Fail/InvalidGraph
            raise LoadError(f"{path} does not load in ONNX Runtime: "
                            f"{error}") from None
        key = self._session.get_modelmeta().custom_metadata_map.get(
            layout.ONNX_SIGNATURE_KEY)
        if not key:
            raise LoadError(f"{path} names no signature key (metadata "
                            f"{layout.ONNX_SIGNATURE_KEY!r}); re-export it "
                            "with `tfx-prod export onnx`")

        def specs(values):
            found = []
            for value in values:
                if value.type not in _ONNX_DTYPES:
                    raise LoadError(f"{path}: {value.name} is {value.type}, "
                                    "which this server does not feed")
                found.append((value.name, value.name, dtype_enum_of(
                    np.empty(0, _ONNX_DTYPES[value.type])),
                    [d if isinstance(d, int) else -1 for d in value.shape]))
            return sorted(found)
        proto = make_signature_def(PREDICT_METHOD,
                                   specs(self._session.get_inputs()),
                                   specs(self._session.get_outputs()))
        self.signature_defs = {key: proto}
        self.signatures = {key: Signature.from_proto(key, proto)}

    def run(self, key: str, inputs: dict, outputs: tuple) -> dict:
        del key  # one signature
        return dict(zip(outputs, self._session.run(list(outputs), inputs)))

    def close(self):
        self._session = None


def load_runtime(kind: str, version_dir: str, *, tags=("serve",),
                 intra_op: int = 0, inter_op: int = 0):
    if kind == "onnx":
        return OnnxRuntime(version_dir, intra_op, inter_op)
    if kind == "tflite":
        return TFLiteRuntime(version_dir, num_threads=intra_op or None)
    if kind == "savedmodel":
        return SavedModelRuntime(version_dir, tags, intra_op, inter_op)
    raise LoadError(f"unknown runtime {kind!r}; choose one of {RUNTIMES}")
