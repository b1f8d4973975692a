"""GetModelStatus / GetModelMetadata responses, shared by REST and gRPC."""
from google.protobuf import json_format
from tensorflow_serving.apis import (get_model_metadata_pb2,
                                     get_model_status_pb2, model_pb2)

from serving.signatures import signature_def_map
from serving.status import invalid_argument

SIGNATURE_DEF_FIELD = "signature_def"


def status_response(manager, name: str, version=None):
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in manager.statuses(name, version):
        status = response.model_version_status.add(version=entry.version,
                                                   state=entry.state)
        status.status.error_code = int(entry.error_code)
        status.status.error_message = entry.error_message
    return response


def metadata_response(servable, fields=(SIGNATURE_DEF_FIELD,)):
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least "
                               "one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.model_name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(
        signature_def_map(servable.signature_defs))
    return response


def _to_dict(message, proto_names: bool) -> dict:
    return json_format.MessageToDict(message,
                                     including_default_value_fields=True,
                                     preserving_proto_field_name=proto_names)


def status_json(response) -> dict:
    return _to_dict(response, proto_names=False)


def metadata_json(servable) -> dict:
    """TF Serving's REST metadata (model_spec + signature_def map) plus our
    `tfx_prod` block: lineage and what validation and drift cover."""
    spec = model_pb2.ModelSpec(name=servable.model_name)
    spec.version.value = servable.version
    return {
        "model_spec": _to_dict(spec, proto_names=True),
        "metadata": {
            SIGNATURE_DEF_FIELD: _to_dict(
                signature_def_map(servable.signature_defs), proto_names=True),
            "tfx_prod": servable.describe(),
        },
    }
