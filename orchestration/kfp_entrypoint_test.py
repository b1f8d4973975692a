"""orchestration.kfp_entrypoint: a real TFX executor fed an ExecutorInput as KFP OSS 2.0.5 builds it.

The subprocess pair shows why the shim exists: TFX's own entrypoint dies on
the untyped input artifact that KFP OSS sends, the shim runs the same argv.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration import kfp_entrypoint

ROOT = Path(__file__).resolve().parents[1]
TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
EXECUTOR = "tfx.components.statistics_gen.executor.Executor"


def _write_examples(split_dir: Path, n: int) -> None:
    """A couple of tf.Examples in one gzipped TFRecord file, as CsvExampleGen lays them out."""
    import tensorflow as tf

    split_dir.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as writer:
        for i in range(n):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5 * i])),
                "company": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"c%d" % (i % 2)])),
            }))
            writer.write(ex.SerializeToString())


def _inputs_spec() -> str:
    """The inputs spec exactly as TFX's step_builder compiles it (use_pipeline_spec_2_1=True)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.types import channel, standard_artifacts

    spec = pb.ComponentInputsSpec()
    spec.artifacts["examples"].CopyFrom(
        compiler_utils.build_input_artifact_spec(channel.Channel(type=standard_artifacts.Examples)))
    spec.parameters["exclude_splits"].parameter_type = pb.ParameterType.STRING
    return json_format.MessageToJson(spec, sort_keys=True)


def _output_schema() -> str:
    """Output types come typed from outputDefinitions (only inputs lose theirs)."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.types import standard_artifacts

    schema = compiler_utils.get_artifact_schema(standard_artifacts.ExampleStatistics)
    return schema.decode() if isinstance(schema, bytes) else schema


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """Upstream Examples on disk plus the spec pieces; each run gets its own outputs."""
    root = tmp_path_factory.mktemp("kfp")
    examples = root / "pipe" / "run-1" / "CsvExampleGen" / "examples"
    _write_examples(examples / "Split-train", 6)
    _write_examples(examples / "Split-eval", 3)
    return {"root": root, "examples": str(examples), "spec": _inputs_spec(),
            "out_schema": _output_schema()}


def _executor_input(task, name: str) -> dict:
    """camelCase, input untyped with MLMD metadata, outputs under the run root, fresh outputFile."""
    return {
        "inputs": {
            "parameterValues": {"exclude_splits": "[]"},
            "artifacts": {"examples": {"artifacts": [{
                "name": "42", "type": {"instanceSchema": ""}, "uri": task["examples"],
                "metadata": {"split_names": '["train","eval"]', "span": 0.0, "version": 0.0,
                             "file_format": "tfrecords_gzip", "payload_format": "FORMAT_TF_EXAMPLE",
                             "tfx_version": "1.16.0"}}]}},
        },
        "outputs": {
            "artifacts": {"statistics": {"artifacts": [{
                "type": {"instanceSchema": task["out_schema"]},
                "uri": str(task["root"] / "pipe" / name / "StatisticsGen" / "statistics")}]}},
            "outputFile": str(task["root"] / name / "kfp_outputs" / "output_metadata.json"),
        },
    }


def _start(module: str, executor_input: dict, spec: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", module, "--executor_class_path", EXECUTOR,
            "--json_serialized_invocation_args", json.dumps(executor_input)]
    if spec:
        argv += ["--json_serialized_inputs_spec_args", spec]
    argv += ["--direct_running_mode=in_memory"]  # a beam arg, passed through as KFP does
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs(task):
    """The three subprocess runs, started together to keep the module fast."""
    cases = {
        "unpatched": (TFX_ENTRYPOINT, task["spec"]),
        "shim": ("orchestration.kfp_entrypoint", task["spec"]),
        "nospec": ("orchestration.kfp_entrypoint", ""),
    }
    procs = {name: (_executor_input(task, name), _start(module, _executor_input(task, name), spec))
             for name, (module, spec) in cases.items()}
    results = {}
    for name, (executor_input, proc) in procs.items():
        try:
            _, stderr = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        results[name] = (executor_input, proc.returncode, stderr)
    return results


def test_unpatched_tfx_entrypoint_fails_on_untyped_input(runs):
    executor_input, returncode, stderr = runs["unpatched"]
    assert returncode != 0
    assert "_retrieve_class_path" in stderr, stderr[-3000:]
    assert not Path(executor_input["outputs"]["outputFile"]).exists()


def test_shim_runs_statistics_gen_and_writes_executor_output(runs):
    executor_input, returncode, stderr = runs["shim"]
    assert returncode == 0, stderr[-3000:]
    out = json.loads(Path(executor_input["outputs"]["outputFile"]).read_text())
    produced = out["artifacts"]["statistics"]["artifacts"][0]
    stats_uri = executor_input["outputs"]["artifacts"]["statistics"]["artifacts"][0]["uri"]
    assert produced["uri"] == stats_uri
    assert json.loads(produced["metadata"]["split_names"]) == ["train", "eval"]
    for split in ("train", "eval"):
        assert (Path(stats_uri) / f"Split-{split}" / "FeatureStats.pb").stat().st_size > 0


def test_shim_exits_1_naming_the_input_without_a_type(runs):
    executor_input, returncode, stderr = runs["nospec"]
    assert returncode == 1
    assert "InputTypeError" in stderr and "'examples'" in stderr, stderr[-3000:]
    assert "use_pipeline_spec_2_1=True" in stderr
    assert not Path(executor_input["outputs"]["outputFile"]).exists()


# --- the JSON rewrite -------------------------------------------------------

_SPEC = json.dumps({"artifacts": {"examples": {"artifactType": {
    "instanceSchema": "title: tfx.Examples\ntype: object\n"}}}})


def _invocation(type_schema) -> str:
    return json.dumps({"inputs": {"artifacts": {"examples": {"artifacts": [
        {"name": "1", "uri": "/u", "type": type_schema}]}}}})


def _typed(invocation_json: str) -> dict:
    return json.loads(invocation_json)["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"]


@pytest.mark.parametrize("untyped", [{"instanceSchema": ""}, {}, {"schemaTitle": "system.Dataset"},
                                     {"instance_schema": "title: system.Artifact\n"}])
def test_untyped_input_gets_the_spec_type(untyped):
    rewritten = kfp_entrypoint.fill_input_types(_invocation(untyped), _SPEC)
    assert _typed(rewritten) == {"instanceSchema": "title: tfx.Examples\ntype: object\n"}


def test_typed_input_is_left_alone():
    own = {"instanceSchema": "title: tfx.ExampleStatistics\n"}
    assert _typed(kfp_entrypoint.fill_input_types(_invocation(own), _SPEC)) == own


def test_missing_type_names_the_input_key():
    spec = json.dumps({"artifacts": {"schema": {"artifactType": {"instanceSchema": "title: tfx.Schema\n"}}}})
    with pytest.raises(kfp_entrypoint.InputTypeError, match="'examples'.*inputs spec has no type"):
        kfp_entrypoint.fill_input_types(_invocation({"instanceSchema": ""}), spec)
    with pytest.raises(kfp_entrypoint.InputTypeError, match="'examples'.*use_pipeline_spec_2_1"):
        kfp_entrypoint.fill_input_types(_invocation({"instanceSchema": ""}), None)


# --- GCS directory markers (kubeflow/pipelines#13476) -----------------------

class FakeBlob:
    def __init__(self, bucket, name, size):
        self.bucket, self.name, self.size = bucket, name, size

    def delete(self):
        del self.bucket.blobs[self.name]


class FakeBucket:
    """A boundary fake of google.cloud.storage.Bucket: GCS cannot be reached from here."""

    def __init__(self, sizes):
        self.blobs = {name: FakeBlob(self, name, size) for name, size in sizes.items()}

    def list_blobs(self, prefix=""):
        return [b for n, b in sorted(self.blobs.items()) if n.startswith(prefix)]


class FakeClient:
    """A boundary fake of google.cloud.storage.Client over one FakeBucket."""

    def __init__(self, name, bucket):
        self.name, self.bucket_obj = name, bucket

    def bucket(self, name):
        assert name == self.name
        return self.bucket_obj


def test_marker_cleanup_deletes_only_zero_byte_dir_blobs_under_outputs():
    bucket = FakeBucket({
        "root/run/Trainer/model/": 0,                                # the marker that breaks #13476
        "root/run/Trainer/model/Format-Serving/": 0,
        "root/run/Trainer/model/Format-Serving/saved_model.pb": 10,
        "root/run/Trainer/model/Format-Serving/empty.txt": 0,        # a real empty file stays
        "root/run/Trainer/model/odd-dir/": 5,                       # not zero bytes: not a marker
        "root/run/Trainer/model_run/": 0,                           # a sibling, not under the URI
        "root/run/": 0,                                             # above the output URI
    })
    deleted = kfp_entrypoint.remove_gcs_dir_markers(
        ["gs://b/root/run/Trainer/model", "/local/not/gcs"], FakeClient("b", bucket))
    assert deleted == ["gs://b/root/run/Trainer/model/",
                       "gs://b/root/run/Trainer/model/Format-Serving/"]
    assert sorted(bucket.blobs) == [
        "root/run/", "root/run/Trainer/model/Format-Serving/empty.txt",
        "root/run/Trainer/model/Format-Serving/saved_model.pb",
        "root/run/Trainer/model/odd-dir/", "root/run/Trainer/model_run/"]


def test_output_uris_come_from_every_output_artifact():
    invocation = json.dumps({"outputs": {"artifacts": {
        "model": {"artifacts": [{"uri": "gs://b/m"}]}, "run": {"artifacts": [{"uri": "gs://b/r"}]}}}})
    assert sorted(kfp_entrypoint.output_uris(invocation)) == ["gs://b/m", "gs://b/r"]
