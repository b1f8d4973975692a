"""`--runtime onnx`: model.onnx read through tf.io.gfile (here from TF's
in-memory ram:// filesystem, as from gs://), its signature named by the
model's metadata, and clear refusals for what it cannot serve."""
import uuid

import numpy as np
import pytest
import tensorflow as tf

from serving import layout
from serving.runtimes import LoadError, OnnxRuntime, load_runtime


def _onnx_model(signature_key="predict_transformed"):
    """A tiny dense model (x [None, 3] -> probabilities [None, 1]) in ONNX."""
    import tf2onnx
    spec = tf.TensorSpec([None, 3], tf.float32, name="x")

    @tf.function(input_signature=[spec])
    def model(x):
        weights = tf.constant([[0.5], [-1.0], [2.0]])  # a graph constant
        return {"probabilities": tf.sigmoid(tf.matmul(x, weights))}
    proto, _ = tf2onnx.convert.from_function(model, input_signature=[spec],
                                             opset=17)
    if signature_key:
        entry = proto.metadata_props.add()
        entry.key, entry.value = layout.ONNX_SIGNATURE_KEY, signature_key
    return proto.SerializeToString()


def _version(content) -> str:
    path = f"ram://onnx-test-{uuid.uuid4().hex}/m/1"
    tf.io.gfile.makedirs(path)
    if content is not None:
        with tf.io.gfile.GFile(layout.join(path, layout.ONNX_FILE), "wb") as f:
            f.write(content)
    return path


def test_serves_the_signature_the_model_names_from_a_ram_uri():
    runtime = load_runtime("onnx", _version(_onnx_model()))
    assert runtime.name == "ONNX"
    signature = runtime.signatures["predict_transformed"]
    assert list(signature.inputs) == ["x"]
    assert list(signature.outputs) == ["probabilities"]
    proto = runtime.signature_defs["predict_transformed"]
    assert [d.size for d in proto.inputs["x"].tensor_shape.dim] == [-1, 3]
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], np.float32)
    result = runtime.run("predict_transformed", {"x": rows},
                         ("probabilities",))
    expected = 1 / (1 + np.exp(-np.array([[0.5], [1.0]])))
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-6)


def test_a_version_without_model_onnx_says_how_to_make_one():
    with pytest.raises(LoadError, match="tfx-prod export onnx"):
        OnnxRuntime(_version(None))


def test_a_model_that_names_no_signature_or_is_not_onnx_is_refused():
    with pytest.raises(LoadError, match="names no signature key"):
        OnnxRuntime(_version(_onnx_model(signature_key=None)))
    with pytest.raises(LoadError, match="does not load in ONNX Runtime"):
        OnnxRuntime(_version(b"not an onnx model"))
