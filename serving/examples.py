"""tf.Example inputs for Classify / Regress (and Predict on serialized
Examples): JSON objects and `tensorflow.serving.Input` protos to serialized
Examples, and each Example's features in the validator's form
{name: (kind, values)}.
"""
import numpy as np
from tensorflow.core.example import example_pb2

from serving.json_codec import decode_base64, is_base64_object, json_type
from serving.status import invalid_argument

_KIND_OF_LIST = {"int64_list": "INT", "float_list": "FLOAT",
                 "bytes_list": "BYTES", None: None}
_KIND_NAMES = {"INT": "int64", "FLOAT": "float", "BYTES": "bytes",
               None: "UNKNOWN"}


def _feature_from_json(name: str, content):
    """`MakeExampleFromJsonObject` for one feature -> (kind, values)."""
    items = content if isinstance(content, list) else [content]
    kind, values = None, []
    for value in items:
        if value is None or isinstance(value, list) or (
                isinstance(value, dict) and not is_base64_object(value)):
            raise invalid_argument(f"Feature: {name} has element with "
                                   f"unexpected JSON type: {json_type(value)}")
        if isinstance(value, bool):
            this, item = "INT", int(value)
        elif isinstance(value, dict):
            this, item = "BYTES", decode_base64(value)
        elif isinstance(value, str):
            this, item = "BYTES", value.encode("utf-8")
        elif isinstance(value, float):
            this, item = "FLOAT", value
        else:
            if value >= 2**63 or value < -2**63:
                raise invalid_argument(f"Feature: {name} has uint64_t element. "
                                       "Only int64_t is supported.")
            this, item = "INT", value
        if kind is not None and this != kind:
            raise invalid_argument(f"Unexpected element type in feature: {name}"
                                   f" expecting type: {_KIND_NAMES[kind]}")
        kind = this
        values.append(item)
    return kind, values


def features_from_json(obj) -> dict:
    if not isinstance(obj, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON "
                               f"{json_type(obj)}")
    return {name: _feature_from_json(name, content)
            for name, content in obj.items()}


def serialize(features: dict) -> bytes:
    example = example_pb2.Example()
    feature_map = example.features.feature
    for name, (kind, values) in features.items():
        feature = feature_map[name]
        if kind == "INT":
            feature.int64_list.value.extend(values)
        elif kind == "FLOAT":
            feature.float_list.value.extend(values)
        elif kind == "BYTES":
            feature.bytes_list.value.extend(values)
        else:
            feature.SetInParent()
    return example.SerializeToString()


def features_of_proto(example) -> dict:
    result = {}
    for name, feature in example.features.feature.items():
        which = feature.WhichOneof("kind")
        result[name] = (_KIND_OF_LIST[which],
                        list(getattr(feature, which).value) if which else [])
    return result


def from_json_request(document: dict, method: str):
    """(feature dicts, serialized Examples) from a :classify/:regress body;
    the context's features are merged under each example's, as TF Serving
    concatenates the serialized context and example."""
    context = None
    if "context" in document:
        context = features_from_json(document["context"])
    if "examples" not in document:
        raise invalid_argument(f"When method is {method}, key 'examples' is "
                               "expected and was not found")
    items = document["examples"]
    if not isinstance(items, list):
        raise invalid_argument("Expecting 'examples' value to be an list/array")
    if not items:
        raise invalid_argument("'examples' value is an empty array")
    dicts = [features_from_json(item) for item in items]
    if context is not None:
        dicts = [{**context, **d} for d in dicts]
    return dicts, [serialize(d) for d in dicts]


def from_input_proto(request_input):
    """(feature dicts, serialized Examples) from a `tensorflow.serving.Input`."""
    which = request_input.WhichOneof("kind")
    if which == "example_list":
        examples = list(request_input.example_list.examples)
        context = None
    elif which == "example_list_with_context":
        examples = list(request_input.example_list_with_context.examples)
        context = request_input.example_list_with_context.context
    else:
        raise invalid_argument("Input is empty: set example_list or "
                               "example_list_with_context")
    if not examples:
        raise invalid_argument("Input is empty.")
    if context is None:
        return ([features_of_proto(e) for e in examples],
                [e.SerializeToString() for e in examples])
    context_bytes = context.SerializeToString()
    context_features = features_of_proto(context)
    return ([{**context_features, **features_of_proto(e)} for e in examples],
            [context_bytes + e.SerializeToString() for e in examples])


def parse_serialized(values) -> list:
    """Serialized Examples (a DT_STRING tensor) -> feature dicts, for
    validating Predict calls on signatures that parse tf.Examples."""
    dicts = []
    for index, data in enumerate(np.asarray(values, dtype=object).reshape(-1)):
        example = example_pb2.Example()
        try:
            example.ParseFromString(data if isinstance(data, bytes)
                                    else bytes(data))
        except Exception:  # protobuf's DecodeError and TypeError alike
            raise invalid_argument(
                f"input example {index} is not a serialized tf.Example",
                feature="_request_", rule="type") from None
        dicts.append(features_of_proto(example))
    return dicts


def string_tensor(serialized: list) -> np.ndarray:
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array

