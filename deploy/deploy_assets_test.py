"""deploy/'s Kubernetes manifests and Grafana dashboard, checked with the
real parsers: the `kubernetes` client's models, TF Serving's
ModelServerConfig proto, `tfx-prod serve`'s argparse parser, a real server
for the probes, and the metric names serving/metrics.py exports. There is no
cluster, Docker engine, TF Serving binary or Grafana here. Elsewhere:
serving/config_test.py parses deploy/serving/*.config, and
serving/prometheus_test.py runs every dashboard query on a real Prometheus.
"""
import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from kubernetes.client import ApiClient
from tensorflow_serving.config import model_server_config_pb2

from serving import config, metrics, options, testutil

DEPLOY = Path(__file__).resolve().parent
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
SERVING_CONFIGS = DEPLOY / "serving"
DASHBOARD = DEPLOY / "grafana" / "tfx-prod-serving.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"


def _documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def _model_class(document) -> str:
    """apps/v1 Deployment -> V1Deployment, autoscaling/v2 ... -> V2..."""
    version = document["apiVersion"].split("/")[-1]
    return version[0].upper() + version[1:] + document["kind"]


def _by_kind(path) -> dict:
    found = {}
    for document in _documents(path):
        assert document["kind"] not in found, f"{path.name}: two {document['kind']}s"
        found[document["kind"]] = document
    return found


def _container(path) -> dict:
    (container,) = _by_kind(path)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def _flags(args) -> dict:
    values = {}
    for arg in args:
        assert arg.startswith("--") and "=" in arg, f"{arg}: want --name=value"
        name, value = arg[2:].split("=", 1)
        values[name] = value
    return values


def _mounted_files(path) -> dict:
    """{path inside the container: text} for every ConfigMap key mounted."""
    kinds = _by_kind(path)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for mount in _container(path)["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source:
            assert source["name"] == kinds["ConfigMap"]["metadata"]["name"]
            for key, text in kinds["ConfigMap"]["data"].items():
                files[f"{mount['mountPath']}/{key}"] = text
    return files


def _models_mount(path) -> str:
    pod = _by_kind(path)["Deployment"]["spec"]["template"]["spec"]
    claims = {v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    (mount,) = [m for m in _container(path)["volumeMounts"] if m["name"] in claims]
    assert mount["readOnly"] is True
    return mount["mountPath"]


def _model_names(text: str) -> list:
    proto = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return [c.name for c in proto.model_config_list.config]


def _port_number(container, port) -> int:
    names = {p["name"]: p["containerPort"] for p in container["ports"]}
    return names[port] if isinstance(port, str) else port


# --- Kubernetes models ----------------------------------------------------------

@pytest.mark.parametrize("path,index", [
    (path, index) for path in MANIFESTS
    for index in range(len(_documents(path)))],
    ids=lambda value: value.name if isinstance(value, Path) else str(value))
def test_manifest_document_round_trips_through_its_kubernetes_model(path, index):
    """The deserializer drops unknown (misspelt) fields silently; the round
    trip back to a dict shows them."""
    document = _documents(path)[index]
    client = ApiClient()
    model = client._ApiClient__deserialize(document, _model_class(document))
    assert type(model).__name__ == _model_class(document)
    assert client.sanitize_for_serialization(model) == document


def test_both_manifests_hold_the_kinds_a_deployment_needs():
    for path in MANIFESTS:
        assert {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                "PodDisruptionBudget"} <= set(_by_kind(path)), path.name


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_service_hpa_and_pdb_point_at_the_deployments_pods(path):
    kinds = _by_kind(path)
    deployment = kinds["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert kinds["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment", deployment["metadata"]["name"])
    assert kinds["HorizontalPodAutoscaler"]["spec"]["minReplicas"] > \
        kinds["PodDisruptionBudget"]["spec"]["minAvailable"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in kinds["Service"]["spec"]["ports"]} <= port_names
    assert container["resources"]["requests"]["cpu"]   # HPA Utilization needs it


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_configmaps_hold_deploy_serving_files_verbatim(path):
    data = _by_kind(path)["ConfigMap"]["data"]
    assert sorted(data) == sorted(p.name for p in SERVING_CONFIGS.glob("*.config"))
    for name, text in data.items():
        assert text == (SERVING_CONFIGS / name).read_text(), \
            f"{path.name}: ConfigMap {name} differs from deploy/serving/{name}"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_pods_run_as_non_root_with_a_read_only_root(path):
    pod = _by_kind(path)["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    context = _container(path)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False


# --- flags and probes -----------------------------------------------------------

def _tfx_prod_options(args):
    # Whole names only: the server would take a prefix, TF Serving would not.
    parser = argparse.ArgumentParser(allow_abbrev=False)
    options.add_arguments(parser)
    parsed, unknown = parser.parse_known_args(args)
    assert not unknown, f"flags `tfx-prod serve` does not accept: {unknown}"
    return options.from_args(parsed)


def test_tfx_prod_args_are_flags_the_server_accepts_and_files_it_can_read():
    path = DEPLOY / "k8s" / "tfx-prod-serve.yaml"
    container = _container(path)
    assert container["command"] == ["python", "-m", "serving"]
    served = _tfx_prod_options(container["args"])
    assert served.check() is None
    files = _mounted_files(path)
    for name in ("model_config_file", "batching_parameters_file",
                 "monitoring_config_file"):
        assert getattr(served, name) in files, f"--{name} is not a mounted file"
    models = _models_mount(path)
    proto = text_format.Parse(files[served.model_config_file],
                              model_server_config_pb2.ModelServerConfig())
    assert all(c.base_path.startswith(models + "/")
               for c in proto.model_config_list.config)
    # The server's own readers accept what it will be given.
    config.parse_model_config_text(files[served.model_config_file])
    config.parse_batching_parameters(files[served.batching_parameters_file])
    assert served.enable_batching


def test_tfx_prod_probes_point_at_what_the_server_serves(tmp_path):
    path = DEPLOY / "k8s" / "tfx-prod-serve.yaml"
    container = _container(path)
    served = _tfx_prod_options(container["args"])
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text(_mounted_files(path)[served.monitoring_config_file])
    metrics_path = config.read_prometheus_path(str(monitoring))
    for probe in ("livenessProbe", "startupProbe"):
        action = container[probe]["httpGet"]
        assert action["path"] == metrics_path
        assert _port_number(container, action["port"]) == served.rest_api_port
    readiness = container["readinessProbe"]["exec"]["command"]
    assert readiness[-1] == str(served.rest_api_port)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_NAME"] in _model_names(
        _mounted_files(path)[served.model_config_file])
    annotations = _by_kind(path)["Deployment"]["spec"]["template"]["metadata"][
        "annotations"]
    assert annotations["prometheus.io/path"] == metrics_path
    assert annotations["prometheus.io/port"] == str(served.rest_api_port)


def test_tensorflow_serving_config_flags_name_mounted_files():
    """Its flags are tfx-prod serve's (TF Serving's names, which the real
    parser above accepts) plus enable_grpc_healthcheck_service, a flag of
    tensorflow/serving 2.16.1's model_servers/main.cc that ours lacks."""
    path = DEPLOY / "k8s" / "tensorflow-serving.yaml"
    container = _container(path)
    flags = _flags(container["args"])
    files = _mounted_files(path)
    for name in ("model_config_file", "batching_parameters_file",
                 "monitoring_config_file"):
        assert flags[name] in files, f"--{name} is not a mounted file"
    names = _model_names(files[flags["model_config_file"]])
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness == container["startupProbe"]["httpGet"]
    assert readiness["path"] in {f"/v1/models/{n}" for n in names}
    assert _port_number(container, readiness["port"]) == int(flags["rest_api_port"])
    liveness = container["livenessProbe"]["grpc"]
    assert liveness["port"] == int(flags["port"])
    assert flags["enable_grpc_healthcheck_service"] == "true"
    # Same flags as tfx-prod serve's manifest, but for the file locations.
    ours = _flags(_container(DEPLOY / "k8s" / "tfx-prod-serve.yaml")["args"])
    assert {k: os.path.basename(v) for k, v in ours.items()} == {
        k: os.path.basename(v) for k, v in flags.items()
        if k != "enable_grpc_healthcheck_service"}


@pytest.fixture(scope="module")
def probe_server(tmp_path_factory):
    """A real server with one good model and one whose only version fails to
    load (END with its error: GET /v1/models/broken still answers 200)."""
    root = tmp_path_factory.mktemp("probe-models")
    module, signatures = testutil.half_plus_two()
    testutil.write_version(str(root / "good"), 1, module, signatures)
    broken = testutil.write_version(str(root / "broken"), 1, module, signatures)
    with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
        f.write(b"not a SavedModel")
    from serving import layout
    layout.write_manifest(broken)          # complete, so the server tries it
    models = root / "models.config"
    models.write_text("model_config_list {\n" + "".join(
        f' config {{ name: "{n}" base_path: "{root / n}" }}\n'
        for n in ("good", "broken")) + "}\n")
    with testutil.ServerProcess(f"--model_config_file={models}", "--port=0",
                                "--max_num_load_retries=0") as server:
        yield server


def _run_readiness_probe(server, model_name):
    command = _container(DEPLOY / "k8s" / "tfx-prod-serve.yaml")[
        "readinessProbe"]["exec"]["command"]
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:-1], str(server.rest_port)],
                          env=dict(os.environ, MODEL_NAME=model_name),
                          capture_output=True, text=True, timeout=30)


def test_liveness_and_startup_probes_get_200_from_a_real_server(probe_server):
    """Whatever the models' state: the probe_server has a broken model."""
    container = _container(DEPLOY / "k8s" / "tfx-prod-serve.yaml")
    for probe in ("livenessProbe", "startupProbe"):
        status, _ = testutil.call_rest(
            probe_server.url + container[probe]["httpGet"]["path"])
        assert status == 200, probe


def test_readiness_probe_passes_only_with_an_available_version(probe_server):
    assert _run_readiness_probe(probe_server, "good").returncode == 0
    status, body = testutil.rest_json(f"{probe_server.url}/v1/models/broken")
    assert status == 200                     # why an httpGet probe is not enough
    assert body["model_version_status"][0]["state"] == "END"
    failed = _run_readiness_probe(probe_server, "broken")
    assert failed.returncode == 1 and "no AVAILABLE version" in failed.stderr
    assert _run_readiness_probe(probe_server, "absent").returncode == 1


# --- Grafana dashboard ----------------------------------------------------------

_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on",
             "ignoring", "group_left", "group_right", "inf", "nan"}


def metric_names(expression: str) -> set:
    """The metric names a PromQL expression selects (not functions, labels,
    keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                  " ", text)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end():].lstrip().startswith("(") or \
                match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def exported_names() -> set:
    """Every series name serving/metrics.py's page declares (histograms as
    _bucket/_sum/_count)."""
    names = set()
    for line in metrics.Metrics().page().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= ({f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                      if kind == "histogram" else {name})
    return names


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_panels():
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_metric_name_parser_finds_names_and_only_names():
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate('
                        ':a:b_bucket{x=~"$m",le="0.5"}[$__rate_interval])))'
                        ' / on (x) group_left c offset 5m') == {":a:b_bucket", "c"}


def test_dashboard_is_an_importable_grafana_dashboard():
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    (source,) = board["__inputs"]
    assert (source["name"], source["pluginId"]) == ("DS_PROMETHEUS", "prometheus")
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert "Rollout" in rows


def test_every_panel_queries_prometheus_for_metrics_the_server_exports():
    exported = exported_names()
    board = dashboard()
    for variable in board["templating"]["list"]:
        metric, _ = re.fullmatch(r"label_values\((.+), *(\w+)\)",
                                 variable["definition"]).groups()
        assert metric_names(metric) <= exported
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} selects nothing"
            assert names <= exported, (panel["title"], names - exported)


def test_dashboard_covers_the_asked_for_metrics():
    used = set().union(*(metric_names(t["expr"]) for p in dashboard_panels()
                         for t in p["targets"]))
    for name in (metrics.REQUEST_COUNT, metrics.VALIDATION_ERRORS,
                 metrics.FEATURE_DRIFT, metrics.FEATURE_DRIFT_THRESHOLD,
                 metrics.BATCH_QUEUE_REJECTIONS, metrics.MODEL_VERSION_STATE,
                 metrics.VERSION_REQUEST_COUNT, metrics.ROLLOUT_TRAFFIC_PERCENT,
                 metrics.ROLLOUT_DECISIONS):
        assert name in used, name
    for name in (metrics.REQUEST_LATENCY, metrics.VERSION_REQUEST_LATENCY,
                 metrics.PREDICTION_CONFIDENCE):
        assert f"{name}_bucket" in used, name


def test_drift_panel_falls_back_to_the_alerts_default_threshold():
    with open(ALERTS) as f:
        rules = {r.get("alert"): r for g in yaml.safe_load(f)["groups"]
                 for r in g["rules"]}
    (alert_default,) = re.findall(r"feature_drift > ([0-9.]+)",
                                  rules["ServingFeatureDrift"]["expr"])
    (panel,) = [p for p in dashboard_panels()
                if p["title"] == "Feature drift vs threshold"]
    (panel_default,) = re.findall(r"\* 0 \+ ([0-9.]+)", panel["targets"][1]["expr"])
    assert float(panel_default) == float(alert_default)
