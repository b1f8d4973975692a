"""JSON <-> tensors, against the cases of TF Serving's util/json_tensor_test.cc."""
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2

from serving import json_codec
from serving.signatures import TensorSpec
from serving.status import ServingError


def test_float_output_six_digit_precision():
    """FromJsonSingleFloatTensorSixDigitPrecision and WriteDecimal's rules."""
    values = np.array([[9e6, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]], np.float32)
    assert json_codec.tensor_json(values, "y") == \
        "[[9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]]"
    assert json_codec.format_float32(float(np.float32(0.1))) == "0.1"
    assert json_codec.format_float32(float(np.float32(1435774380))) == "1.43577434e+09"
    assert [json_codec.format_float32(v) for v in (float("nan"), float("inf"),
                                                   float("-inf"))] == \
        ["NaN", "Infinity", "-Infinity"]


def test_overflow_to_inf_and_bytes_outputs():
    array = json_codec.tensor_from_json([1e39, 1e-50], types_pb2.DT_FLOAT)
    assert array.dtype == np.float32 and array[0] == np.inf and array[1] == 0.0
    assert json_codec.predict_response(
        {"out_bytes": np.array([b"\x00\xff"], object)}, row_format=True) == \
        b'{"predictions": [{"b64": "AP8="}]}'


def test_row_and_columnar_inputs_with_b64():
    inputs = {"a": TensorSpec("a", "a:0", types_pb2.DT_STRING, (-1,)),
              "b": TensorSpec("b", "b:0", types_pb2.DT_INT64, (-1, 2))}
    tensors, row = json_codec.predict_inputs(
        {"instances": [{"a": {"b64": "aGk="}, "b": [1, 2]},
                       {"a": "yo", "b": [3, 4]}]}, inputs)
    assert row and tensors["a"].tolist() == [b"hi", b"yo"]
    assert tensors["b"].tolist() == [[1, 2], [3, 4]]
    tensors, row = json_codec.predict_inputs(
        {"inputs": {"a": ["x"], "b": [[5, 6]]}}, inputs)
    assert not row and tensors["b"].shape == (1, 2)
    with pytest.raises(ServingError, match="Missing named input: b in 'inputs'"):
        json_codec.predict_inputs({"inputs": {"a": ["x"]}}, inputs)
    with pytest.raises(ServingError, match="Unable to base64 decode"):
        json_codec.predict_inputs({"inputs": {"a": [{"b64": "a-_b"}], "b": [[1, 2]]}},
                                  inputs)
    with pytest.raises(ServingError, match="is not of expected type: int64"):
        json_codec.predict_inputs({"inputs": {"a": ["x"], "b": [[1.5, 2]]}}, inputs)


def test_ragged_input_is_rejected():
    with pytest.raises(ServingError, match="Encountered list at unexpected size"):
        json_codec.tensor_from_json([[1.0, 2.0], [3.0]], types_pb2.DT_FLOAT)
    with pytest.raises(ServingError, match="found at incorrect level"):
        json_codec.tensor_from_json([[1.0], 2.0], types_pb2.DT_FLOAT)
