"""ServedBaseline's driver: puts "what the result depends on" into the cache key.

The served model is read from the serving directory, not from an input
artifact, so TFX alone would reuse a cached baseline after the directory
changed. TFX runs a component's driver before its cache lookup (as it does
for ExampleGen's file fingerprints), so this driver sets `serving_state_key`
to the digest of the versions the executor may pick, given this execution's
own inputs. Our own push of the candidate does not change it (that version
is excluded), so a re-run with nothing new stays cached; anything else that
would change the baseline does.

Only LocalDagRunner runs drivers; runs that do not cache (Kubeflow) need none.
"""
from tfx.dsl.components.base import base_driver
from tfx.orchestration.portable import base_driver as portable_driver
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import driver_output_pb2

from components.served_baseline import executor


class ServingStateDriver(base_driver.BaseDriver, portable_driver.BaseDriver):

    def __init__(self, metadata_handle):
        base_driver.BaseDriver.__init__(self, metadata_handle)
        portable_driver.BaseDriver.__init__(self, metadata_handle)

    def run(self, execution_info: data_types.ExecutionInfo
            ) -> driver_output_pb2.DriverOutput:
        result = driver_output_pb2.DriverOutput()
        model_base = execution_info.exec_properties[
            executor.MODEL_BASE_KEY].rstrip("/")
        result.exec_properties[executor.SERVING_STATE_KEY].string_value = (
            executor.state_key(model_base, execution_info.input_dict,
                               execution_info.exec_properties.get(
                                   executor.TRAINED_WITH_KEY)))
        return result
