"""A real Prometheus (Debian's) scrapes the server with deploy/'s config and
rules; its HTTP API answers the latency quantile, the confidence histogram
and the drift gauges. `make test-system-deps` installs prometheus."""
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


@pytest.fixture
def prometheus(server, tmp_path):
    """Debian's prometheus on loopback, deploy/'s config pointed at `server`."""
    with open(f"{DEPLOY}/prometheus.yml") as f:
        config = yaml.safe_load(f)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [f"{DEPLOY}/{name}" for name in config["rule_files"]]
    job = config["scrape_configs"][0]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{server.rest_port}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = portpicker.pick_unused_port()
    process = subprocess.Popen(
        [_tool("prometheus"), f"--config.file={path}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while call_rest(url + "/-/ready")[0] != 200:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "prometheus did not get ready"
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


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
