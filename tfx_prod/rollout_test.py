"""`tfx-prod rollout` against a real operator-driven server (--enable_rollouts):
a pushed version waits as a candidate, the CLI starts, reads and promotes
its rollout; a server without rollouts says how to turn them on."""
import json

import pytest

from serving import testutil
from tfx_prod import cli


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_rollout") / "m"
    for version, bias in ((1, 0.0), (2, 0.01)):
        module, signatures = testutil.taxi_like(bias)
        testutil.write_version(str(root), version, module, signatures,
                               schema=testutil.TAXI_LIKE_SCHEMA)
    return root


def _cli(capsys, server, *args):
    code = cli.main(["rollout", *args, "--server", server.url, "--model", "m"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_operator_rollout_from_the_command_line(base, capsys):
    with testutil.ServerProcess(f"--model_base_path={base}", "--model_name=m",
                                "--enable_rollouts") as server:
        code, out, _ = _cli(capsys, server, "status")
        # Both versions were on disk at start: the newest is stable.
        assert code == 0 and "no rollout running" in out and "stable 2" in out
        code, _, err = _cli(capsys, server, "start", "--canary", "2")
        assert code == 1 and "already stable" in err
        code, _, err = _cli(capsys, server, "start", "--canary", "9")
        assert code == 1 and "not a complete version" in err
        code, out, _ = _cli(capsys, server, "start", "--canary", "1",
                            "--steps", "30,100", "--hold", "1h")
        assert code == 0 and "start" in out
        code, out, _ = _cli(capsys, server, "status", "--json")
        state = json.loads(out)
        assert (state["canary"], state["percent"], state["hold_seconds"]) == (
            1, 30.0, 3600.0)
        code, out, _ = _cli(capsys, server, "status", "--history")
        assert "canary 1 at 30%" in out and "start" in out
        code, out, _ = _cli(capsys, server, "promote")
        assert code == 0 and "promote" in out
        code, out, _ = _cli(capsys, server, "status")
        assert "stable 1" in out


def test_a_server_without_rollouts_says_how_to_turn_them_on(base, capsys):
    with testutil.ServerProcess(f"--model_base_path={base}",
                                "--model_name=m") as server:
        code, _, err = _cli(capsys, server, "status")
        assert code == 1 and "--enable_rollouts" in err
        code, _, err = cli.main(["rollout", "status", "--server",
                                 server.url, "--model", "nope"]), None, \
            capsys.readouterr().err
        assert code == 1 and "no model named 'nope'" in err


def test_unreachable_server_is_a_clear_error(capsys):
    code = cli.main(["rollout", "status", "--server", "http://127.0.0.1:9",
                     "--model", "m"])
    assert code == 1 and "is `tfx-prod serve` running" in capsys.readouterr().err


def _predict(server, request_id):
    body = json.dumps({"instances": testutil.taxi_like_rows(2, seed=5)})
    status, _ = testutil.call_rest(f"{server.url}/v1/models/m:predict",
                                   body.encode(),
                                   headers={"X-Request-Id": request_id})
    assert status == 200


def test_feedback_file_import_and_the_a_b_status(base, tmp_path, capsys):
    with testutil.ServerProcess(
            f"--model_base_path={base}", "--model_name=m",
            "--enable_rollouts", "--rollout_require=accuracy",
            "--rollout_require_min_labels=5",
            f"--rollout_state_dir={tmp_path / 'state'}") as server:
        for request_id in ("r1", "r2"):
            _predict(server, request_id)
        labels = tmp_path / "labels.jsonl"
        labels.write_text('{"request_id": "r1", "labels": [1, 0]}\n\n'
                          '{"feedback": [{"request_id": "r2", "labels": '
                          '[0, 0]}, {"request_id": "nope", "labels": [1]}]}\n')
        code, out, _ = _cli(capsys, server, "feedback", str(labels),
                            "--batch", "2")
        assert code == 1, out              # one item was rejected
        assert "joined 2 of 3 items (4 rows" in out
        assert "item 3 (request nope): no prediction with request id nope" \
            in out
        # Importing it again joins nothing twice.
        code, out, _ = _cli(capsys, server, "feedback", str(labels), "--json")
        assert json.loads(out)["joined"] == 0
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"request_id": "r1", "labels": [1, 0]}\n{"x": 1}\n')
        code, _, err = _cli(capsys, server, "feedback", str(bad))
        assert code == 2 and f"{bad}:2" in err and "unknown field" in err
        code, _, err = _cli(capsys, server, "feedback",
                            str(tmp_path / "absent.jsonl"))
        assert code == 2 and "cannot read feedback file" in err
        # Status: online accuracy per version, and the A/B line.
        code, _, _ = _cli(capsys, server, "start", "--canary", "1",
                          "--hold", "1h")
        assert code == 0
        code, out, _ = _cli(capsys, server, "status")
        assert "online stable 2: accuracy " in out and "(4 labelled rows)" \
            in out
        assert "A/B accuracy (holding): p=-, n=0 canary / 0 stable" in out
        assert "need ≥ 5 labelled predictions per version" in out


def test_feedback_to_a_server_without_it_says_how_to_turn_it_on(
        base, tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"request_id": "r1", "labels": [1]}\n')
    with testutil.ServerProcess(f"--model_base_path={base}",
                                "--model_name=m") as server:
        code, _, err = _cli(capsys, server, "feedback", str(labels))
    assert code == 1 and "--enable_feedback" in err
