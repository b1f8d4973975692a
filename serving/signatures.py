"""Signatures as TF Serving sees them: SignatureDef protos, plus the rules
that make one usable for Classify or Regress (`classifier.cc`, `regressor.cc`).
"""
import dataclasses
from typing import Optional

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.status import failed_precondition, invalid_argument

DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_INPUTS = REGRESS_INPUTS = "inputs"
CLASSIFY_CLASSES, CLASSIFY_SCORES = "classes", "scores"
REGRESS_OUTPUTS = "outputs"

# DataTypeString() spellings, used in TF Serving's error messages.
_DTYPES = {
    types_pb2.DT_FLOAT: (np.float32, "float"),
    types_pb2.DT_DOUBLE: (np.float64, "double"),
    types_pb2.DT_INT8: (np.int8, "int8"),
    types_pb2.DT_INT16: (np.int16, "int16"),
    types_pb2.DT_INT32: (np.int32, "int32"),
    types_pb2.DT_INT64: (np.int64, "int64"),
    types_pb2.DT_UINT8: (np.uint8, "uint8"),
    types_pb2.DT_UINT16: (np.uint16, "uint16"),
    types_pb2.DT_UINT32: (np.uint32, "uint32"),
    types_pb2.DT_UINT64: (np.uint64, "uint64"),
    types_pb2.DT_BOOL: (np.bool_, "bool"),
    types_pb2.DT_STRING: (np.object_, "string"),
    types_pb2.DT_HALF: (np.float16, "half"),
}
_ENUM_OF_NUMPY = {np.dtype(np_type): enum for enum, (np_type, _) in _DTYPES.items()}
_ENUM_OF_NUMPY[np.dtype(np.bytes_)] = types_pb2.DT_STRING


def numpy_dtype(dtype_enum: int):
    return _DTYPES[dtype_enum][0] if dtype_enum in _DTYPES else None


def dtype_string(dtype_enum: int) -> str:
    if dtype_enum in _DTYPES:
        return _DTYPES[dtype_enum][1]
    return types_pb2.DataType.Name(dtype_enum).replace("DT_", "").lower()


def dtype_enum_of(array: np.ndarray) -> int:
    if array.dtype.kind in "SUO":
        return types_pb2.DT_STRING
    return _ENUM_OF_NUMPY.get(array.dtype, types_pb2.DT_INVALID)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    alias: str
    tensor_name: str                  # graph tensor ("x:0") or TFLite name
    dtype: int                        # types_pb2 enum
    shape: Optional[tuple]            # None = unknown rank; -1 = unknown dim

    @classmethod
    def from_info(cls, alias: str, info) -> "TensorSpec":
        shape = None if info.tensor_shape.unknown_rank else tuple(
            d.size for d in info.tensor_shape.dim)
        return cls(alias, info.name, info.dtype, shape)

    def shape_text(self) -> str:
        if self.shape is None:
            return "[?]"
        return "[" + ",".join(str(d) for d in self.shape) + "]"

    def accepts_shape(self, shape: tuple) -> bool:
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape))


@dataclasses.dataclass(frozen=True)
class Signature:
    key: str
    method_name: str
    inputs: dict                      # alias -> TensorSpec, sorted by alias
    outputs: dict

    @classmethod
    def from_proto(cls, key: str, proto) -> "Signature":
        return cls(key, proto.method_name,
                   {a: TensorSpec.from_info(a, proto.inputs[a])
                    for a in sorted(proto.inputs)},
                   {a: TensorSpec.from_info(a, proto.outputs[a])
                    for a in sorted(proto.outputs)})


def read_signature_defs(saved_model_dir: str, tags=("serve",)) -> dict:
    """SignatureDefs of the meta graph with `tags`, read from saved_model.pb."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(f"{saved_model_dir}/saved_model.pb", "rb") as f:
        proto.ParseFromString(f.read())
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    found = [sorted(m.meta_info_def.tags) for m in proto.meta_graphs]
    raise ValueError(f"{saved_model_dir} has no meta graph tagged {list(tags)} "
                     f"(it has {found}); pass --saved_model_tags")


def signature_def_map(signature_defs: dict):
    """`tensorflow.serving.SignatureDefMap` for GetModelMetadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2
    result = get_model_metadata_pb2.SignatureDefMap()
    for key, proto in signature_defs.items():
        result.signature_def[key].CopyFrom(proto)
    return result


def make_signature_def(method_name: str, inputs: list, outputs: list):
    """SignatureDef from (alias, tensor name, dtype enum, shape) tuples."""
    proto = meta_graph_pb2.SignatureDef(method_name=method_name)
    for target, specs in ((proto.inputs, inputs), (proto.outputs, outputs)):
        for alias, name, dtype, shape in specs:
            info = target[alias]
            info.name, info.dtype = name, dtype
            for size in shape:
                info.tensor_shape.dim.add(size=int(size))
    return proto


def find_signature(signatures: dict, key: str, rest: bool) -> Signature:
    """The signature `key` (default serving_default); TF Serving's errors."""
    key = key or DEFAULT_SIGNATURE
    signature = signatures.get(key)
    if signature is None or key == INIT_OP_SIGNATURE:
        if rest:
            raise invalid_argument(f'Serving signature name: "{key}" not '
                                   "found in signature def")
        raise failed_precondition(f'Serving signature key "{key}" not found.')
    return signature


def check_classify_signature(signature: Signature) -> None:
    """`classifier.cc`: one DT_STRING input `inputs`; `classes` and/or `scores`."""
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if not 1 <= len(signature.outputs) <= 2:
        raise invalid_argument("Expected one or two output Tensors, found "
                               f"{len(signature.outputs)}")
    spec = signature.inputs.get(CLASSIFY_INPUTS)
    if spec is None or spec.dtype != types_pb2.DT_STRING:
        raise invalid_argument(
            "No classification inputs found in SignatureDef: a classify "
            f"signature takes one DT_STRING input named '{CLASSIFY_INPUTS}' "
            f"(serialized tf.Examples); {signature.key} has "
            f"{sorted(signature.inputs)}")
    if not ({CLASSIFY_CLASSES, CLASSIFY_SCORES} & set(signature.outputs)):
        raise invalid_argument(
            "Expected classification signature outputs to contain at least "
            f'one of "{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". Signature '
            f"{signature.key} has {sorted(signature.outputs)}")


def check_regress_signature(signature: Signature) -> None:
    """`regressor.cc`: one DT_STRING input `inputs`, one float `outputs`."""
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    spec = signature.inputs.get(REGRESS_INPUTS)
    if spec is None or spec.dtype != types_pb2.DT_STRING:
        raise invalid_argument(
            "No regression inputs found in SignatureDef: a regress signature "
            f"takes one DT_STRING input named '{REGRESS_INPUTS}'; "
            f"{signature.key} has {sorted(signature.inputs)}")
    if REGRESS_OUTPUTS not in signature.outputs:
        raise invalid_argument(
            "No regression outputs found in SignatureDef: expected an output "
            f"named '{REGRESS_OUTPUTS}'; {signature.key} has "
            f"{sorted(signature.outputs)}")
