"""A Pusher executor that publishes a model version with a single rename.

TFX's Pusher copies the model straight into `<base>/<version>`, so TF Serving,
which polls `<base>` for numeric dirs, can find a half-copied version (and a
failed copy leaves one behind). Here the copy goes to a hidden sibling
`<base>/.<version>.incomplete-<random>` and is then renamed into place, which
on a local filesystem is atomic: the version dir is either absent or complete.
"""
import errno
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

_Versioning = pusher_pb2.Versioning

INCOMPLETE_MARKER = ".incomplete-"


def is_local_path(path: str) -> bool:
    """True for plain paths; gs://, s3://, hdfs://, file:// etc. are not."""
    return "://" not in path


def _fsync_tree(root: str) -> None:
    """Flush every file and dir under root so a crash cannot publish holes."""
    for dir_name, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dir_name, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(dir_name)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicPusherExecutor(tfx_pusher_executor.Executor):
    """TFX Pusher whose filesystem push never exposes a partial version dir.

    Blessing checks, model path selection, versioning, the "version already
    exists -> skip" rule and the PushedModel properties are those of TFX.
    Non-local destinations (gs://, s3://, ...) have no atomic directory
    rename, so they use TFX's own copy unchanged.
    """

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        push_destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
            push_destination)
        if push_destination.WhichOneof("destination") != "filesystem":
            return super().Do(input_dict, output_dict, exec_properties)
        base_directory = push_destination.filesystem.base_directory
        if not is_local_path(base_directory):
            logging.warning(
                "AtomicPusher: %s is not a local path; an atomic directory "
                "rename is not available there, so the standard TFX copy is "
                "used and a partially copied version can be visible while "
                "the push runs.", base_directory)
            return super().Do(input_dict, output_dict, exec_properties)

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return None
        model_path = self.GetModelPath(input_dict)
        if not is_local_path(model_path):
            logging.warning(
                "AtomicPusher: model %s is not on a local path; using the "
                "standard TFX copy.", model_path)
            return super().Do(input_dict, output_dict, exec_properties)
        model_version = self.ModelVersion(push_destination.filesystem)
        logging.info("Model version: %s", model_version)
        serving_path = os.path.join(base_directory, model_version)

        if os.path.exists(serving_path):
            logging.info("Destination directory %s already exists, skipping "
                         "current push.", serving_path)
        else:
            publish_atomically(model_path, base_directory, model_version)

        # Archive copy in the PushedModel artifact, as TFX's Pusher does.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=model_version)
        logging.info("Model pushed to %s.", model_push.uri)
        return None

    def ModelVersion(
            self, fs_config: pusher_pb2.PushDestination.Filesystem) -> str:
        """TFX 1.16's rule (AUTO = UNIX_TIMESTAMP); a hook for subclasses."""
        if fs_config.versioning in (_Versioning.AUTO,
                                    _Versioning.UNIX_TIMESTAMP):
            return str(int(time.time()))
        raise NotImplementedError(f"Invalid Versioning {fs_config.versioning}")


def publish_atomically(model_path: str, base_directory: str,
                       version: str) -> bool:
    """Copy model_path to a hidden temp dir, then rename it to base/version.

    Returns False (and leaves the existing dir alone) if base/version appeared
    meanwhile, e.g. from a concurrent push of the same version.
    """
    if not os.path.isdir(model_path) or not os.listdir(model_path):
        raise FileNotFoundError(
            f"Model directory {model_path} is missing or empty, so there is "
            "nothing to push. Check the Trainer wrote its SavedModel to "
            "<model uri>/Format-Serving (fn_args.serving_model_dir).")
    if not os.path.exists(os.path.join(model_path, "saved_model.pb")):
        logging.warning("No saved_model.pb in %s; TF Serving will not load "
                        "this version.", model_path)
    os.makedirs(base_directory, exist_ok=True)
    serving_path = os.path.join(base_directory, version)
    temp_path = tempfile.mkdtemp(
        prefix=f".{version}{INCOMPLETE_MARKER}", dir=base_directory)
    try:
        # copytree also copies the source dir's mode onto the temp dir, so
        # the version dir is not left with mkdtemp's 0700 (unreadable to a
        # model server running as another user).
        try:
            shutil.copytree(model_path, temp_path, dirs_exist_ok=True)
        except OSError as e:
            raise OSError(
                f"Copying {model_path} for version {version} failed, so "
                f"nothing was published under {base_directory}: {e}") from e
        _fsync_tree(temp_path)
        try:
            os.rename(temp_path, serving_path)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            logging.info("Destination directory %s appeared during the push, "
                         "skipping current push.", serving_path)
            return False
        _fsync_dir(base_directory)
    finally:
        if os.path.lexists(temp_path):
            shutil.rmtree(temp_path, ignore_errors=True)
    logging.info("Model written to serving path %s.", serving_path)
    return True
