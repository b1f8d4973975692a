"""A real Prometheus (Debian's) scrapes the server with deploy/'s config and
rules; its HTTP API answers the latency quantile, the confidence histogram,
the drift gauges and every query of deploy/grafana's dashboard.
`make test-system-deps` installs prometheus."""
import concurrent.futures
import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse

import portpicker
import pytest
import yaml

from serving import testutil
from serving.testutil import call_rest, rest_json

DEPLOY = f"{testutil.REPO}/deploy/prometheus"


def _tool(name):
    path = shutil.which(name)
    assert path, (f"{name} is not installed: run `make test-system-deps` "
                  "(apt-get install prometheus)")
    return path


def test_promtool_accepts_deploy_config_and_rules():
    for args in (["check", "config", f"{DEPLOY}/prometheus.yml"],
                 ["check", "rules", f"{DEPLOY}/alerts.yml"]):
        result = subprocess.run([_tool("promtool"), *args], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rollout_alerts():
    """deploy/prometheus/alerts_test.yml: synthetic series, real rule engine."""
    result = subprocess.run([_tool("promtool"), "test", "rules", "alerts_test.yml"],
                            cwd=DEPLOY, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def _running_prometheus(rest_port, tmp_path):
    """Debian's prometheus on loopback, deploy/'s config pointed at a server."""
    with open(f"{DEPLOY}/prometheus.yml") as f:
        config = yaml.safe_load(f)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [f"{DEPLOY}/{name}" for name in config["rule_files"]]
    job = config["scrape_configs"][0]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{rest_port}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = portpicker.pick_unused_port()
    process = subprocess.Popen(
        [_tool("prometheus"), f"--config.file={path}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while call_rest(url + "/-/ready")[0] != 200:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "prometheus did not get ready"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def prometheus(server, tmp_path):
    with _running_prometheus(server.rest_port, tmp_path) as url:
        yield url


def _query(prometheus_url, expression):
    status, body = call_rest(prometheus_url + "/api/v1/query?" +
                             urllib.parse.urlencode({"query": expression}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def _eventually(prometheus_url, expression, accept, timeout=40):
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        result = _query(prometheus_url, expression)
        if result and accept(result):
            return result
        time.sleep(1)
    raise AssertionError(f"{expression}: {result}")


def test_prometheus_scrapes_latency_confidence_and_drift(server, prometheus):
    # Traffic whose fares are 4x the training distribution and all paid by
    # card: drift on both, in the version labelled "stable" (1).
    rows = testutil.taxi_like_rows(300, seed=9)
    for row in rows:
        row["fare"] *= 4
        row["payment_type"] = "Credit Card"
    url = f"{server.url}/v1/models/taxi_like/versions/1:predict"

    def value(result):
        return float(result[0]["value"][1])

    _eventually(prometheus, 'up{job="tfx-prod-serve"}', lambda r: value(r) == 1)
    for start in range(0, len(rows), 3):   # spread over several scrapes
        assert rest_json(url, {"instances": rows[start:start + 3]})[0] == 200
        time.sleep(0.03)

    p99 = _eventually(prometheus, 'histogram_quantile(0.99, sum by (le) ('
                      'rate(:tensorflow:serving:request_latency_bucket{'
                      'model_name="taxi_like",API="predict"}[1m])))',
                      lambda r: value(r) > 0)
    assert 0 < value(p99) < 30e6          # microseconds: a real, finite P99
    confidence = _eventually(
        prometheus, 'sum(:tfx_prod:serving:prediction_confidence_count{'
                    'model_name="taxi_like",version="1"})',
        lambda r: value(r) >= 300)
    assert value(confidence) >= 300
    buckets = _query(prometheus, ':tfx_prod:serving:prediction_confidence_bucket{'
                                 'model_name="taxi_like",version="1",le="0.4"}')
    assert buckets and value(buckets) == 0   # confidence = max(p, 1-p) >= 0.5
    fare = _eventually(prometheus, ':tfx_prod:serving:feature_drift{model_name='
                       '"taxi_like",version="1",feature="fare",measure='
                       '"jensen_shannon"}', lambda r: value(r) > 0.3)
    payment = _eventually(prometheus, ':tfx_prod:serving:feature_drift{model_name='
                          '"taxi_like",version="1",feature="payment_type"}',
                          lambda r: value(r) > 0.4)
    assert payment[0]["metric"]["measure"] == "l_infinity"
    assert value(fare) <= 1.0
    rules = json.loads(call_rest(prometheus + "/api/v1/rules")[1])
    names = {rule["name"] for group in rules["data"]["groups"]
             for rule in group["rules"]}
    assert {"ServingP99LatencyHigh", "ServingFeatureDrift",
            "ServingBatchQueueFull"} <= names
    alerts = _eventually(prometheus, 'ALERTS{alertname="ServingFeatureDrift"}',
                         lambda r: True)
    assert {a["metric"]["feature"] for a in alerts} >= {"fare", "payment_type"}


# --- every Grafana panel's query, against a real server ----------------------

DASHBOARD = f"{testutil.REPO}/deploy/grafana/tfx-prod-serving.json"
# What Grafana puts in for its variables; $model is the served model's name.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s",
                     "$__range": "5m"}
# A queue that fills at once, so a burst gets 503s (batch_queue_rejections).
TIGHT_BATCHING = ("max_batch_size { value: 4 }\nbatch_timeout_micros { value: 0 }\n"
                  "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 1 }\n")


def dashboard_queries(model_name):
    """(panel title, PromQL) for every target of every panel, as Grafana
    would send it for `model_name`."""
    with open(DASHBOARD) as f:
        board = json.load(f)
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"].replace("$model", model_name)
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, expression
            queries.append((panel["title"], expression))
    return queries


@pytest.fixture
def batching_server(models, tmp_path):
    """The contract tests' models, batching on with a tiny queue, deploy/'s
    monitoring config, rollouts on (they export the rollout gauges)."""
    params = tmp_path / "batching.config"
    params.write_text(TIGHT_BATCHING)
    with testutil.ServerProcess(
            f"--model_config_file={models / 'models.config'}",
            "--enable_batching", f"--batching_parameters_file={params}",
            f"--monitoring_config_file={testutil.REPO}/deploy/serving/monitoring.config",
            "--enable_rollouts", f"--rollout_state_dir={tmp_path / 'rollouts'}",
            "--rest_api_timeout_in_ms=5000") as process:
        yield process


def _drive_dashboard_traffic(server):
    """Drifted rows on v1, some on v2, schema violations, and bursts until
    the batch queue has refused some."""
    base = f"{server.url}/v1/models/taxi_like"
    rows = testutil.taxi_like_rows(300, seed=11)
    for row in rows:
        row["fare"] *= 4
        row["payment_type"] = "Credit Card"
    for version, count in ((1, len(rows)), (2, 60)):
        for start in range(0, count, 3):
            status, answer = rest_json(f"{base}/versions/{version}:predict",
                                       {"instances": rows[start:start + 3]})
            assert status == 200, answer
            time.sleep(0.02)
    bad = dict(rows[0], fare=-5.0)             # float_domain { min: 0 }
    for _ in range(10):
        assert rest_json(f"{base}/versions/1:predict", {"instances": [bad]})[0] == 400
    body = json.dumps({"instances": rows[:1]}).encode()
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        for _ in range(10):
            statuses = list(pool.map(lambda _: call_rest(
                f"{base}/versions/1:predict", body)[0], range(96)))
            if 503 in statuses:
                return
    raise AssertionError(f"no 503 from a full batch queue: {set(statuses)}")


def _start_and_abort_a_rollout(server):
    """Real decisions for the rollout_decisions panel: a canary of the
    version that is not stable, aborted (hold_seconds keeps it at 50%)."""
    base = f"{server.url}/v1/models/taxi_like/rollout"
    status, state = rest_json(base)
    assert status == 200, state
    canary = {1: 2, 2: 1}[state["stable"]]
    status, started = rest_json(base, {"canary": canary, "steps": [50, 100],
                                       "hold_seconds": 3600})
    assert (status, started["event"]) == (200, "start"), started
    status, aborted = rest_json(base + ":abort", {})
    assert (status, aborted["event"]) == (200, "abort"), aborted


def test_every_dashboard_panel_returns_data(batching_server, tmp_path):
    with _running_prometheus(batching_server.rest_port, tmp_path) as prometheus:
        _eventually(prometheus, 'up{job="tfx-prod-serve"}',
                    lambda r: float(r[0]["value"][1]) == 1)
        _drive_dashboard_traffic(batching_server)
        _start_and_abort_a_rollout(batching_server)
        _eventually(prometheus, ':tfx_prod:serving:rollout_decisions{'
                    'model_name="taxi_like",decision="abort"}',
                    lambda r: float(r[0]["value"][1]) == 1)
        missing = dashboard_queries("taxi_like")
        deadline = time.monotonic() + 45
        while missing and time.monotonic() < deadline:
            missing = [(title, query) for title, query in missing
                       if not _query(prometheus, query)]
            time.sleep(1)
    assert not missing, "dashboard panels without data:\n" + "\n".join(
        f"  {title}: {query}" for title, query in missing)
