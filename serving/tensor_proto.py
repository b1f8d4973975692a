"""numpy <-> TensorProto for gRPC, the way TF Serving writes outputs.

Outputs go into the typed repeated fields (`float_val`, ...) like
`Tensor::AsProtoField`; inputs are read from either form (`tensor_content`
or typed fields), like `tf.make_ndarray`.
"""
import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.signatures import dtype_enum_of, dtype_string, numpy_dtype
from serving.status import invalid_argument

_FIELD = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val",
}


def to_numpy(proto, expected_dtype: int, alias: str) -> np.ndarray:
    if proto.dtype != expected_dtype:
        raise invalid_argument(
            f"Expects arg[{alias}] to be {dtype_string(expected_dtype)} but "
            f"{dtype_string(proto.dtype)} is provided")
    field = _FIELD.get(proto.dtype)
    if field is None:
        raise invalid_argument(f"input {alias}: dtype "
                               f"{types_pb2.DataType.Name(proto.dtype)} is not "
                               "supported")
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument(f"input {alias}: the tensor_shape has unknown "
                               "rank; send the full shape")
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise invalid_argument(f"input {alias}: negative dimension in "
                               f"tensor_shape {shape}")
    count = int(np.prod(shape)) if shape else 1
    dtype = numpy_dtype(proto.dtype)
    if proto.tensor_content:
        if proto.dtype == types_pb2.DT_STRING:
            raise invalid_argument(f"input {alias}: DT_STRING cannot use "
                                   "tensor_content; use string_val")
        if len(proto.tensor_content) != count * np.dtype(dtype).itemsize:
            raise invalid_argument(
                f"input {alias}: tensor_content has "
                f"{len(proto.tensor_content)} bytes, shape {shape} needs "
                f"{count * np.dtype(dtype).itemsize}")
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    values = getattr(proto, field)
    if proto.dtype == types_pb2.DT_STRING:
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    elif proto.dtype == types_pb2.DT_HALF:
        array = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype=dtype)
    if array.size == count:
        return array.reshape(shape)
    if array.size == 1 and count > 1:       # TF's "fill with the one value"
        return np.full(shape, array[0], dtype=array.dtype)
    raise invalid_argument(f"input {alias}: {array.size} values do not fill "
                           f"tensor_shape {shape} ({count} values)")


def from_numpy(array: np.ndarray, proto=None):
    proto = proto if proto is not None else tensor_pb2.TensorProto()
    dtype = dtype_enum_of(array)
    proto.dtype = dtype
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    field = getattr(proto, _FIELD[dtype])
    flat = array.reshape(-1)
    if dtype == types_pb2.DT_STRING:
        field.extend(v if isinstance(v, bytes) else str(v).encode()
                     for v in flat.tolist())
    elif dtype == types_pb2.DT_HALF:
        field.extend(flat.view(np.uint16).tolist())
    else:
        field.extend(flat.tolist())
    return proto
