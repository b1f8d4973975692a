"""Pusher's driver: a cached push is reused only while its version is intact.

TFX would reuse a cached push even after its version directory was deleted
or overwritten, so a re-run would report "pushed" for a model nobody serves.
This driver runs before TFX's cache lookup (as ExampleGen's driver does for
file fingerprints) and sets `serving_state_key` to the list of this model's
earlier pushes that no longer hold it: empty while every push is intact (a
re-run is cached), different as soon as one is gone (the Pusher runs again
and publishes a new version), and stable after that (cached again). With
$TFX_PROD_SIGNING_KEY set, the key's id is appended (components/pusher/
signing.py), so an unsigned cached push is not reused when signing is asked;
likewise the id of $TFX_PROD_ENCRYPTION_KEY (components/pusher/
encryption.py), and an encrypted push "holds" its model only if it
decrypts, with that key, to it.

Only LocalDagRunner runs drivers; Kubeflow runs do not cache.
"""
from tfx.dsl.components.base import base_driver
from tfx.orchestration.portable import base_driver as portable_driver
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import driver_output_pb2

from components.pusher import encryption as pusher_encryption
from components.pusher import executor
from components.pusher import signing as pusher_signing
from serving import layout


def _value(artifact, name):
    prop = artifact.custom_properties.get(name)
    return getattr(prop, prop.WhichOneof("value")) if prop is not None and (
        prop.WhichOneof("value")) else None


def holds(destination: str, payload: str, encrypter=None) -> bool:
    """True if `destination` is a complete version serving `payload`.

    Hashes the files (one model per earlier push of this model), so a version
    whose bytes were replaced behind the manifest's back counts as gone.
    `encrypter` (pusher encryption.Encrypter): the configured KEK, which an
    encrypted version must decrypt with.
    """
    manifest = layout.read_manifest(destination)
    return (manifest is not None
            and pusher_encryption.payload_digest(
                destination, manifest, encrypter) == payload
            and not layout.changed_files(destination, manifest))


class RepushDriver(base_driver.BaseDriver, portable_driver.BaseDriver):

    def __init__(self, metadata_handle):
        base_driver.BaseDriver.__init__(self, metadata_handle)
        portable_driver.BaseDriver.__init__(self, metadata_handle)

    def _earlier_pushes(self, model_id: int) -> list:
        with self._mlmd_connection as handle:
            types = {t.name for t in handle.store.get_artifact_types()}
            if "PushedModel" not in types:
                return []
            return [a for a in handle.store.get_artifacts_by_type("PushedModel")
                    if _value(a, executor.SOURCE_MODEL_ID) == model_id
                    and _value(a, executor.PUSHED) == 1]

    def run(self, execution_info: data_types.ExecutionInfo
            ) -> driver_output_pb2.DriverOutput:
        [model] = execution_info.input_dict[executor.MODEL_KEY]
        encrypter = pusher_encryption.from_environment()
        broken = sorted(
            _value(a, executor.PUSHED_DESTINATION)
            for a in self._earlier_pushes(model.id)
            if not holds(_value(a, executor.PUSHED_DESTINATION),
                         _value(a, executor.PAYLOAD_DIGEST), encrypter))
        result = driver_output_pb2.DriverOutput()
        result.exec_properties[executor.SERVING_STATE_KEY].string_value = (
            ("gone:" + ",".join(broken) if broken else "intact")
            + pusher_signing.cache_state() + pusher_encryption.cache_state())
        return result
