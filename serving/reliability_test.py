"""Reliability under a bounded loopback load: hot load with zero failed
requests, kill -9 and restart to the same versions, malformed floods."""
import http.client
import json
import os
import shutil
import signal
import time

import pytest

from serving import layout, testutil
from serving.testutil import Load, rest_json, wait_for


def _states(server):
    _, body = rest_json(f"{server.url}/v1/models/m")
    return [(e["version"], e["state"]) for e in body["model_version_status"]]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """Versions 1 (b=2) and 2 (b=3), written aside, to publish during tests."""
    root = tmp_path_factory.mktemp("staged")
    for version, b in ((1, 2.0), (2, 3.0)):
        module, signatures = testutil.half_plus_two(b=b)
        testutil.write_version(str(root), version, module, signatures,
                               schema=testutil.HALF_PLUS_TWO_SCHEMA)
    return root


def test_hot_load_under_load_with_zero_failed_requests(staged, tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(staged / "1", base / "1")
    with testutil.ServerProcess("--model_name=m", f"--model_base_path={base}",
                                "--file_system_poll_wait_seconds=0.2",
                                "--port=0") as server:
        with Load(server.rest_port, "/v1/models/m:predict",
                  b'{"instances": [2.0]}') as load:
            time.sleep(1.0)
            # Publish like the Pusher: copy without the manifest, then add it.
            shutil.copytree(staged / "2", base / "2",
                            ignore=shutil.ignore_patterns("manifest.json"))
            time.sleep(0.6)
            assert _states(server) == [("1", "AVAILABLE")]   # incomplete: ignored
            shutil.copy(staged / "2" / layout.MANIFEST_FILE,
                        base / "2" / layout.MANIFEST_FILE)
            assert wait_for(lambda: _states(server) == [("2", "AVAILABLE"),
                                                         ("1", "END")])
            ok_at_switch = load.ok
            assert wait_for(lambda: load.ok > ok_at_switch + 50)
        assert load.failed == []
        assert load.answers == {b'{"predictions": [3.0]}', b'{"predictions": [4.0]}'}
        print(f"\nhot load: {load.ok} requests, 0 failed, answers switched "
              "3.0 -> 4.0")


def test_kill_9_under_load_then_restart_serves_the_same_versions(staged, tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    for version in ("1", "2"):
        shutil.copytree(staged / version, base / version)
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'm' base_path: '%s' "
                      "model_version_policy { all {} } "
                      "version_labels { key: 'stable' value: 1 } } }" % base)
    flags = (f"--model_config_file={config}", "--port=0")
    server = testutil.ServerProcess(*flags)
    before = _states(server)
    with Load(server.rest_port, "/v1/models/m/labels/stable:predict",
              b'{"instances": [2.0]}') as load:
        time.sleep(1.0)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    assert load.ok > 0
    restarted = testutil.ServerProcess(*flags)
    try:
        rest_port = restarted.rest_port
        assert _states(restarted) == before == [("2", "AVAILABLE"),
                                                ("1", "AVAILABLE")]
        assert rest_json(f"http://127.0.0.1:{rest_port}/v1/models/m/labels/"
                         "stable:predict", {"instances": [2.0]}) == (
            200, {"predictions": [3.0]})
    finally:
        restarted.stop()


MALFORMED = [
    b"", b"{", b"[]", b"null", b'{"instances": 5}', b'{"instances": []}',
    b'{"instances": ["a"]}', b'{"instances": [[1.0], 2.0]}',
    b'{"inputs": {"y": [1.0]}}', b'{"instances": [1e400]}',
    b'{"instances": [{"b64": "@@"}]}', b'{"signature_name": 7, "instances": [1]}',
    b'{"instances": [NaN]}', b'{"instances": [2000.0]}', b"\xff\xfe\x00",
    b'{"instances": [[[[[[[[[[1.0]]]]]]]]]]}', b'{"examples": [{"x": null}]}',
]


def test_a_thousand_malformed_requests_are_all_4xx(staged, tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(staged / "1", base / "1")
    with testutil.ServerProcess("--model_name=m", f"--model_base_path={base}",
                                "--port=0") as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port)
        statuses = []
        for i in range(1000):
            verb = ("predict", "classify", "regress")[i % 3]
            connection.request("POST", f"/v1/models/m:{verb}",
                               body=MALFORMED[i % len(MALFORMED)])
            response = connection.getresponse()
            body = response.read()
            statuses.append(response.status)
            assert b"Traceback" not in body
            assert json.loads(body)["error"]
        assert len(statuses) == 1000 and all(400 <= s < 500 for s in statuses), \
            sorted(set(statuses))
        assert rest_json(f"{server.url}/v1/models/m:predict",
                         {"instances": [2.0]}) == (200, {"predictions": [3.0]})
