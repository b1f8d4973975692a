"""TF Serving's REST JSON <-> numpy, following `util/json_tensor.cc`.

Row (`instances`) and columnar (`inputs`) requests, `{"b64": ...}` strings,
TF Serving's type rules and error wording, and its float writing: six
significant digits when they round-trip, else max_digits10, `.0` on whole
numbers, bare NaN/Infinity tokens (`WriteDecimal`).
"""
import base64
import binascii
import json
import math
import struct
import warnings

import numpy as np
from tensorflow.core.framework import types_pb2

from serving.signatures import dtype_string, numpy_dtype
from serving.status import ServingError, Code, invalid_argument

BASE64_KEY = "b64"
BYTES_SUFFIX = "_bytes"
_FLOATS = (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF)
_SMALL_INTS = {types_pb2.DT_INT8: (-2**31, 2**31), types_pb2.DT_INT16: (-2**31, 2**31),
               types_pb2.DT_INT32: (-2**31, 2**31), types_pb2.DT_UINT8: (-2**31, 2**31),
               types_pb2.DT_INT64: (-2**63, 2**63), types_pb2.DT_UINT32: (0, 2**32),
               types_pb2.DT_UINT64: (0, 2**64)}
_pack_float = struct.Struct("f")
# JSON numbers beyond float32 become +/-inf, as in TF Serving; numpy's
# warning about it is noise (np.errstate per call costs more than the cast).
warnings.filterwarnings("ignore", "overflow encountered in cast", RuntimeWarning)


# --- errors, worded like TF Serving -----------------------------------------

def json_type(value) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def json_text(value) -> str:
    if isinstance(value, float):
        return format_double(value)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "..."


def _type_error(value, dtype: int) -> ServingError:
    return invalid_argument(f"JSON Value: {json_text(value)} Type: "
                            f"{json_type(value)} is not of expected type: "
                            f"{dtype_string(dtype)}")


# --- request parsing --------------------------------------------------------

def parse_json(body: bytes) -> dict:
    """The request document (an object), or TF Serving's parse errors."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except UnicodeDecodeError as e:
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. "
                               f"at offset: {e.start}") from None
    except json.JSONDecodeError as e:
        message = "Invalid value." if e.msg.startswith("Expecting value") \
            else e.msg
        raise invalid_argument(f"JSON Parse error: {message} at offset: "
                               f"{e.pos}") from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: nesting too deep") from None
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {json_text(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(f"JSON Value: {json_text(document)} not formatted"
                               " correctly. 'signature_name' key must be a "
                               "string value.")
    return name


def is_base64_object(value) -> bool:
    return (isinstance(value, dict) and len(value) == 1
            and isinstance(value.get(BASE64_KEY), str))


def decode_base64(value) -> bytes:
    if not is_base64_object(value):
        raise invalid_argument(f"JSON Value: {json_text(value)} not formatted "
                               "correctly for base64 data")
    try:
        return base64.b64decode(value[BASE64_KEY], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _shape(value) -> list:
    """`GetDenseTensorShape`: sizes along the first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _leaf(value, dtype: int):
    if dtype in _FLOATS:
        if type(value) is float or type(value) is int:
            return value
    elif dtype == types_pb2.DT_STRING:
        if type(value) is str:
            return value.encode("utf-8")
        if isinstance(value, dict):
            return decode_base64(value)
    elif dtype == types_pb2.DT_BOOL:
        if type(value) is bool:
            return value
    elif dtype in _SMALL_INTS:
        low, high = _SMALL_INTS[dtype]
        if type(value) is int and low <= value < high:
            return value
    else:
        raise ServingError(Code.UNIMPLEMENTED, f"Conversion of JSON Value: "
                           f"{json_text(value)} to type: {dtype_string(dtype)}")
    raise _type_error(value, dtype)


def _fill(value, level: int, shape: list, dtype: int, out: list) -> None:
    """`FillTensorProto`: leaves at depth == rank, lists of the right size."""
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid_argument(f"JSON Value: {json_text(value)} found at "
                                   f"incorrect level: {level + 1} in the JSON "
                                   f"DOM. Expected at level: {len(shape)}")
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise invalid_argument(f"Encountered list at unexpected level: {level} "
                               f"expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid_argument(f"Encountered list at unexpected size: "
                               f"{len(value)} at level: {level} expected size: "
                               f"{shape[level]}")
    if level == len(shape) - 1:
        for item in value:
            if isinstance(item, list):
                raise invalid_argument(f"Encountered list at unexpected level: "
                                       f"{level + 1} expected < {len(shape)}")
            out.append(_leaf(item, dtype))
        return
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _array(leaves: list, shape: list, dtype: int) -> np.ndarray:
    np_dtype = numpy_dtype(dtype)
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    if dtype in _SMALL_INTS and dtype != types_pb2.DT_INT64:
        return np.array(leaves, dtype=np.int64).astype(np_dtype).reshape(shape)
    return np.array(leaves, dtype=np_dtype).reshape(shape)


def tensor_from_json(value, dtype: int) -> np.ndarray:
    shape = _shape(value)
    leaves = []
    _fill(value, 0, shape, dtype, leaves)
    return _array(leaves, shape, dtype)


def _instances(items: list, inputs: dict) -> dict:
    """`FillTensorMapFromInstancesList`."""
    first = items[0]
    as_objects = isinstance(first, dict) and not is_base64_object(first)
    if not as_objects and len(inputs) > 1:
        raise invalid_argument("instances is a plain list, but expecting list "
                               "of objects as multiple input tensors required "
                               "as per tensorinfo_map")
    names = sorted(inputs)
    leaves = {name: [] for name in names}
    shapes = {}
    for index, item in enumerate(items):
        if as_objects:
            if not isinstance(item, dict) or is_base64_object(item):
                raise invalid_argument(f"Expecting object but got list at item "
                                       f"{index} of input list")
            row = item
            if len(row) != len(names) or any(n not in row for n in names):
                for key in row:
                    if key not in inputs:
                        raise invalid_argument(
                            f"Failed to process element: {index} key: {key} of"
                            " 'instances' list. Error: INVALID_ARGUMENT: JSON "
                            f"object: does not have named input: {key}",
                            feature=str(key), rule="unknown_input")
                missing = [n for n in names if n not in row]
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list."
                    f" JSON object: {json_text(item)} keys must be equal to: "
                    f"{','.join(names)}", feature=missing[0], rule="required")
        else:
            if isinstance(item, dict) and not is_base64_object(item):
                raise invalid_argument(f"Expecting value/list but got object at "
                                       f"item {index} of input list")
            row = {names[0]: item}
        for name in names:
            value = row[name]
            shape = _shape(value) if isinstance(value, list) else []
            try:
                if name not in shapes:
                    shapes[name] = shape
                elif shapes[name] != shape:
                    size = math.prod(shape)
                    if size != math.prod(shapes[name]):
                        raise invalid_argument(
                            f"Expecting tensor size: {math.prod(shapes[name])}"
                            f" but got: {size}")
                    raise invalid_argument(
                        f"Expecting shape [{','.join(map(str, shapes[name]))}] "
                        f"but got: [{','.join(map(str, shape))}]")
                if shape:
                    _fill(value, 0, shape, inputs[name].dtype, leaves[name])
                else:
                    leaves[name].append(_leaf(value, inputs[name].dtype))
            except ServingError as e:
                key = f" key: {name}" if as_objects else ""
                raise invalid_argument(
                    f"Failed to process element: {index}{key} of 'instances' "
                    f"list. Error: {e.code.name}: {e.message}",
                    feature=name, rule=e.rule or "type") from None
    return {name: _array(leaves[name], [len(items)] + shapes[name],
                         inputs[name].dtype) for name in names}


def _columns(value, inputs: dict) -> dict:
    """`FillTensorMapFromInputsMap`."""
    if not isinstance(value, dict) or is_base64_object(value):
        if len(inputs) > 1:
            raise invalid_argument("inputs is a plain value/list, but expecting "
                                   "an object as multiple input tensors "
                                   "required as per tensorinfo_map")
        (name, spec), = inputs.items()
        return {name: _named_tensor(value, name, spec.dtype)}
    tensors = {}
    for name in sorted(inputs):
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' "
                                   "object.", feature=name, rule="required")
        tensors[name] = _named_tensor(value[name], name, inputs[name].dtype)
    return tensors


def _named_tensor(value, name: str, dtype: int) -> np.ndarray:
    try:
        return tensor_from_json(value, dtype)
    except ServingError as e:
        e.feature, e.rule = name, e.rule or "type"
        raise


def predict_inputs(document: dict, inputs: dict):
    """(tensors by input alias, row_format) from a `:predict` document."""
    if "instances" in document:
        if "inputs" in document:
            raise invalid_argument(
                f"JSON Value: {json_text(document)} Not formatted correctly "
                "expecting only one of 'inputs' or 'instances' keys to exist ")
        items = document["instances"]
        if not isinstance(items, list):
            raise invalid_argument(f"JSON Value: {json_text(document)} Expecting"
                                   " 'instances' to be an list/array")
        if not items:
            raise invalid_argument(f"JSON Value: {json_text(document)} No values"
                                   " in 'instances' array")
        return _instances(items, inputs), True
    if "inputs" in document:
        return _columns(document["inputs"], inputs), False
    raise invalid_argument("Missing 'inputs' or 'instances' key")


# --- response writing -------------------------------------------------------

def format_float32(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    text = "%g" % value
    if _pack_float.unpack(_pack_float.pack(float(text)))[0] != value:
        text = "%.9g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def format_double(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    text = "%g" % value
    if float(text) != value:
        text = "%.17g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _writer(array: np.ndarray, alias: str):
    kind = array.dtype.kind
    if kind == "f":
        return format_double if array.dtype == np.float64 else format_float32
    if kind == "b":
        return lambda v: "true" if v else "false"
    if kind in "iu":
        return str
    if alias.endswith(BYTES_SUFFIX):
        return lambda v: '{"b64": "%s"}' % base64.b64encode(
            v if isinstance(v, bytes) else str(v).encode()).decode()
    return lambda v: json.dumps(v.decode("utf-8", "replace")
                                if isinstance(v, bytes) else str(v),
                                ensure_ascii=False)


def _write(value, write, out: list) -> None:
    if isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _write(item, write, out)
        out.append("]")
    else:
        out.append(write(value))


def tensor_json(array: np.ndarray, alias: str) -> str:
    out = []
    _write(array.tolist(), _writer(array, alias), out)
    return "".join(out)


def predict_response(outputs: dict, row_format: bool) -> bytes:
    """`MakeJsonFromTensors`: `predictions` per row, or columnar `outputs`."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            body = tensor_json(outputs[names[0]], names[0])
        else:
            body = "{" + ", ".join(f"{json.dumps(n)}: {tensor_json(outputs[n], n)}"
                                   for n in names) + "}"
        return ('{"outputs": ' + body + "}").encode()
    batch = None
    for name in names:
        array = outputs[name]
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape "
                                   "information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(f"Tensor name: {name} has inconsistent batch "
                                   f"size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    if len(names) == 1:
        body = tensor_json(outputs[names[0]], names[0])
    else:
        columns = {n: (outputs[n].tolist(), _writer(outputs[n], n)) for n in names}
        rows = []
        for i in range(batch):
            fields = []
            for n in names:
                values, write = columns[n]
                out = []
                _write(values[i], write, out)
                fields.append(f"{json.dumps(n)}: {''.join(out)}")
            rows.append("{" + ", ".join(fields) + "}")
        body = "[" + ", ".join(rows) + "]"
    return ('{"predictions": ' + body + "}").encode()


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}, indent=4).encode()
