"""Reliability benchmark: our server under load while things go wrong.

Small synthetic `taxi_like` model (serving/testutil.py; no pipeline run), a
fresh `python -m serving` per case: a constant canary hot-loaded and rolled
back by `--auto_canary` under 4 clients (failed requests, goal 0); kill -9
while a good canary holds at its first step, restart, same flags (rollout
state and version statuses, goal identical); capacity, then 80% of it for
`soak_seconds` (errors, goal 0; server RSS end vs start after a warm-up,
goal < 5%). Rollback and kill -9 run `repeats` times, the soak once (in
repeat 1); a goal is met only if every repeat meets it."""
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from benchmarks import machine, stats, workdirs
from benchmarks.progress import phase, say
from benchmarks.serving_load import run_child

NAME = "reliability"
LABEL = "serving reliability: rollback, kill -9, soak at 80% of capacity"
MODEL = "taxi"          # serving_load's rate client posts to /v1/models/taxi
# As serving/rollout_e2e_test.py's FLAGS: a bad canary is judged in seconds.
ROLLOUT_FLAGS = ("--auto_canary", "--rollout_steps=20,50,100",
                 "--rollout_check_seconds=0.3", "--rollout_min_requests=40",
                 "--file_system_poll_wait_seconds=0.3",
                 "--rollout_max_confidence_distance=0.2")
ROLLBACK_HOLD_SECONDS = 2
KILL_HOLD_SECONDS = 3600      # the rollout stays at its first step until killed
# What a restart must give back (serving/rollout_state.RolloutState).
STATE_FIELDS = ("stable", "canary", "percent", "step", "steps",
                "step_started", "state", "rejected")
SOAK_SECONDS = 600
SMOKE_SOAK_SECONDS = 20
SOAK_FRACTION = 0.8
WARMUP_SECONDS = 30
SAMPLE_SECONDS = 5
CONNECTIONS = 8
CAPACITY_REQUESTS = 6000       # ~5 s here
RSS_GROWTH_GOAL_PERCENT = 5.0
VERSIONS = {"stable": (1, {}), "constant": (2, {"fault": "constant"}),
            "good": (2, {"bias": 0.02})}


def write_models(staging):
    """staging/<kind>/<version>, written the Pusher's way (needs TF)."""
    from serving import testutil
    for kind, (version, model_args) in VERSIONS.items():
        module, signatures = testutil.taxi_like(**model_args)
        testutil.write_version(os.path.join(staging, kind), version, module,
                               signatures, schema=testutil.TAXI_LIKE_SCHEMA,
                               missing_values=testutil.TAXI_LIKE_MISSING)


def _stage(root):
    """Writes the models in a child process: the harness never loads TF."""
    staging = os.path.join(root, "staging")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from benchmarks import "
         "reliability; reliability.write_models(sys.argv[1])", staging],
        cwd=workdirs.REPO_DIR, capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                 PYTHONPATH=workdirs.REPO_DIR))
    if done.returncode:
        raise RuntimeError(f"writing the models failed:\n{done.stderr[-3000:]}")
    return staging


def _publish(staging, kind, base):
    """Copies a staged version beside `base`, then renames it in: the server
    sees it complete or not at all."""
    version = VERSIONS[kind][0]
    aside = f"{base}.incoming-{version}"
    shutil.copytree(os.path.join(staging, kind, str(version)), aside)
    os.rename(aside, os.path.join(base, str(version)))


def _fresh_base(staging, root, label):
    base = os.path.join(tempfile.mkdtemp(prefix=f"{label}-", dir=root), MODEL)
    os.makedirs(base)
    _publish(staging, "stable", base)
    return base


def _server(base, *flags):
    # serving.testutil loads TF: imported to measure only (run_all is TF-free)
    from serving import testutil
    return testutil.ServerProcess(f"--model_base_path={base}",
                                  f"--model_name={MODEL}", *flags)


def _rollout(server):
    from serving.testutil import rest_json
    status, body = rest_json(f"{server.url}/v1/models/{MODEL}/rollout")
    return body if status == 200 else None


def _wait_rollout(server, accept, timeout=180):
    """The first rollout state `accept`s, or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _rollout(server)
        if state and accept(state):
            return state
        time.sleep(0.2)
    return None


def _load(server):
    """4 keep-alive clients, 50 sticky rollout keys each (testutil.Load)."""
    from serving.testutil import Load, taxi_like_rows
    body = json.dumps({"instances": taxi_like_rows(4, seed=3)}).encode()
    return Load(server.rest_port, f"/v1/models/{MODEL}:predict", body,
                keys_per_client=50)


def rollback_once(staging, root):
    """Hot-load a constant canary under load; seconds until rolled back."""
    from serving.testutil import version_statuses, wait_for
    base = _fresh_base(staging, root, "rollback")
    bad = VERSIONS["constant"][0]
    with _server(base, *ROLLOUT_FLAGS,
                 f"--rollout_hold_seconds={ROLLBACK_HOLD_SECONDS}") as server:
        with _load(server) as load:
            time.sleep(1.0)                          # traffic before the push
            published = time.monotonic()
            _publish(staging, "constant", base)
            canary = _wait_rollout(server, lambda s: s["canary"] == bad
                                   or bad in s["rejected"])
            loaded = time.monotonic()
            state = _wait_rollout(server, lambda s: bad in s["rejected"])
            rolled_back = time.monotonic()
            unloaded = wait_for(lambda: [v for v, (s, _) in version_statuses(
                server, MODEL).items() if s == "AVAILABLE"] == ["1"], 30)
            time.sleep(0.5)                          # traffic after it too
    return {"requests": load.ok + len(load.failed), "failed": len(load.failed),
            "failures": [repr(f) for f in load.failed[:3]],
            "hot_loaded": canary is not None, "bad_version_unloaded": unloaded,
            "rolled_back": state is not None and state["stable"] == 1,
            "seconds_to_canary": round(loaded - published, 2),
            "seconds_to_rollback": state and round(rolled_back - published, 2),
            "reason": state and state["reason"]}


def _snapshot(server):
    from serving.testutil import version_statuses
    state = _rollout(server) or {}
    return ({f: state.get(f) for f in STATE_FIELDS},
            {v: list(s) for v, s in version_statuses(server, MODEL).items()})


def kill9_once(staging, root):
    """kill -9 while a good canary holds at its first step; restart."""
    from serving.testutil import wait_for
    base = _fresh_base(staging, root, "kill9")
    good = VERSIONS["good"][0]
    flags = (*ROLLOUT_FLAGS, f"--rollout_hold_seconds={KILL_HOLD_SECONDS}")
    with _server(base, *flags) as server, _load(server) as load:
        _publish(staging, "good", base)
        at_step = _wait_rollout(server, lambda s: s["canary"] == good
                                and s["state"] == "running")
        time.sleep(1.0)                  # canary traffic at that step
        before, versions = _snapshot(server)
        server.stop(signal.SIGKILL)
    started = time.monotonic()
    with _server(base, *flags) as restarted:
        ready = round(time.monotonic() - started, 2)
        # Versions load after the server answers: give them a minute.
        wait_for(lambda: _snapshot(restarted) == (before, versions), 60)
        after, versions_after = _snapshot(restarted)
    return {"at_intermediate_step": bool(at_step)
            and before["percent"] not in (None, 0, 100),
            "requests_before_kill": load.ok, "failed_before_kill": len(
                [f for f in load.failed if f[0] != "connection"]),
            "state_identical": before == after,
            "versions_identical": versions == versions_after,
            "restart_seconds": ready,
            "before": {"state": before, "versions": versions},
            "differences": {f: [before[f], after[f]] for f in STATE_FIELDS
                            if before[f] != after[f]},
            "versions_after": versions_after}


def soak(staging, root, soak_seconds=SOAK_SECONDS,
         warmup_seconds=WARMUP_SECONDS):
    """Capacity first, then SOAK_FRACTION of it for `soak_seconds`."""
    from serving.testutil import taxi_like_rows
    base = _fresh_base(staging, root, "soak")
    body_file = os.path.join(os.path.dirname(base), "bodies.json")
    with open(body_file, "w") as f:
        json.dump([json.dumps({"instances": [row]})
                   for row in taxi_like_rows(200, seed=5)], f)
    with _server(base) as server:
        port = server.rest_port

        def closed_loop(count):
            """A huge rate queues `count` requests at once; the connections
            drain them as fast as the server answers."""
            return run_child("rate", port, body_file, 1e6, count / 1e6,
                             CONNECTIONS)
        closed_loop(1000)                                   # warm-up
        capacity = closed_loop(CAPACITY_REQUESTS)
        rate = SOAK_FRACTION * capacity["requests_per_s"]
        say(f"{NAME}: capacity {capacity['requests_per_s']:.0f} req/s at "
            f"c={CONNECTIONS}; soaking at {rate:.0f} req/s for {soak_seconds}s")
        warmup = run_child("rate", port, body_file, rate, warmup_seconds,
                           CONNECTIONS, timeout=warmup_seconds + 600)
        started, samples = time.monotonic(), []
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            soaking = pool.submit(run_child, "rate", port, body_file, rate,
                                  soak_seconds, CONNECTIONS,
                                  timeout=soak_seconds + 600)
            while True:    # RSS, load average now, and once more at the end
                samples.append((round(time.monotonic() - started, 1),
                                server.rss_bytes() / 2**20, os.getloadavg()[0]))
                if soaking.done():
                    break
                concurrent.futures.wait([soaking], SAMPLE_SECONDS)
        # Again after: was the target still under what the machine gave?
        capacity_after = closed_loop(CAPACITY_REQUESTS)["requests_per_s"]
    load = soaking.result()
    start_mb, end_mb = samples[0][1], samples[-1][1]
    return {"capacity_requests_per_s": capacity["requests_per_s"],
            "capacity_errors": capacity["errors"], "seconds": soak_seconds,
            "capacity_after_requests_per_s": capacity_after,
            "load_average_max": max(avg for _, _, avg in samples),
            "target_requests_per_s": rate, "warmup_errors": warmup["errors"],
            "requests": load["requests"], "errors": load["errors"],
            "achieved_requests_per_s": load["requests_per_s"],
            "achieved_over_target": load["requests_per_s"] / rate,
            "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
            "rss_start_mb": start_mb, "rss_end_mb": end_mb,
            "rss_growth_percent": 100 * (end_mb - start_mb) / start_mb,
            "samples_s_mb_load": [[t, round(mb, 1), avg]
                                  for t, mb, avg in samples]}


def _guarded(name, fn):
    with phase(f"{NAME}: {name}"):
        try:
            return {"status": "succeeded", **fn()}
        except Exception:      # recorded; the other measurements still run
            return {"status": "failed", "error": traceback.format_exc(limit=5)}


# (id, text, part, field, target, better): met only if every repeat meets it.
GOALS = (
    ("rollback_failed", "hot-load + canary rollback under load: failed "
     "requests", "rollback", "failed", 0, "<="),
    ("rollback_done", "bad canary rolled back by itself", "rollback",
     "rolled_back", 1, ">="),
    ("kill9_state", "kill -9 mid-rollout + restart: rollout state identical",
     "kill9", "state_identical", 1, ">="),
    ("kill9_versions", "kill -9 mid-rollout + restart: version statuses "
     "identical", "kill9", "versions_identical", 1, ">="),
    ("soak_errors", "soak at 80% of capacity: errors", "soak", "errors", 0, "<="),
    ("soak_rss_growth", "soak at 80% of capacity: RSS growth %", "soak",
     "rss_growth_percent", RSS_GROWTH_GOAL_PERCENT, "<"))
_PASSES = {"<=": lambda v, t: v <= t, "<": lambda v, t: v < t,
           ">=": lambda v, t: v >= t}


def goals(runs):
    """Value = median over repeats (a missing number is a miss)."""
    out = []
    for goal_id, text, part, field, target, better in GOALS:
        values = [r[part].get(field) for r in runs if part in r]
        values = [int(v) if isinstance(v, bool) else v for v in values]
        spread = stats.summarize(values)
        out.append({"id": goal_id, "goal": text, "value": stats.median(spread),
                    "spread": spread, "target": target, "better": better,
                    "met": bool(values) and all(
                        v is not None and _PASSES[better](v, target)
                        for v in values)})
    return out


def run(repeats: int = 3, soak_seconds: int = SOAK_SECONDS) -> dict:
    started, root = time.monotonic(), tempfile.mkdtemp(prefix=f"{NAME}-")
    warmup = min(WARMUP_SECONDS, soak_seconds)
    try:
        with phase(f"{NAME}: write the taxi_like versions"):
            staging = _stage(root)
        runs = []
        for index in range(1, repeats + 1):
            of = f"{index}/{repeats}"
            record = {"repeat": index,
                      "rollback": _guarded(f"hot-load + rollback {of}",
                                           lambda: rollback_once(staging, root)),
                      "kill9": _guarded(f"kill -9 mid-rollout {of}",
                                        lambda: kill9_once(staging, root))}
            if index == 1:
                record["soak"] = _guarded(f"soak {soak_seconds}s", lambda: soak(
                    staging, root, soak_seconds, warmup))
            record["status"] = "succeeded" if all(
                part["status"] == "succeeded" for key, part in record.items()
                if key != "repeat") else "failed"
            runs.append(record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failed = any(r["status"] != "succeeded" for r in runs)
    return {"status": "failed" if failed else "succeeded", "label": LABEL,
            "machine": machine.describe(),
            "settings": {"repeats": repeats, "soak_seconds": soak_seconds,
                         "warmup_seconds": warmup, "soak_fraction": SOAK_FRACTION,
                         "connections": CONNECTIONS,
                         "rollout_flags": list(ROLLOUT_FLAGS),
                         "model": "taxi_like (serving/testutil.py)"},
            "repeats": runs, "goals": goals(runs),
            "wall_seconds": round(time.monotonic() - started, 1)}


def _cell(values, spec="{:.0f}", unit=""):
    spread = stats.summarize(values)
    if not spread:
        return "n/a"
    text = spec.format(spread["median"]) + unit
    if spread["n"] > 1:
        text += f" [{spec.format(spread['min'])}–{spec.format(spread['max'])}]"
    return text


def _kill9_cell(runs, field):
    """k/n repeats identical; the state fields that differed, if any."""
    done = [r["kill9"] for r in runs if r["kill9"].get("status") == "succeeded"]
    differed = sorted({f for k in done if not k[field] for f in k["differences"]})
    return (f"{sum(1 for k in done if k[field])}/{len(runs)} repeats"
            + (f" (differed: {', '.join(differed)})" if differed else ""))


def render(results) -> str:
    result = results.get(NAME) or {}
    if "goals" not in result:
        return ("_Reliability benchmark not measured yet "
                f"(`python -m benchmarks.run_all --refresh {NAME}`)_")
    runs, settings, m = result["repeats"], result["settings"], result["machine"]
    met = {g["id"]: "yes" if g["met"] else "**no**" for g in result["goals"]}

    def field(part, name):
        return [r[part].get(name) for r in runs if part in r]
    reason = next((r for r in field("rollback", "reason") if r), None)
    killed_at = "/".join(f"{p:g}%" for p in sorted(
        {k["state"]["percent"] for k in field("kill9", "before") if k}))
    rows = [("hot-load + canary rollback under load: failed requests",
             f"{_cell(field('rollback', 'failed'))} of "
             f"{_cell(field('rollback', 'requests'))}", "0",
             met["rollback_failed"]),
            ("constant canary rolled back by itself: seconds from publish",
             _cell(field("rollback", "seconds_to_rollback"), "{:.1f}", " s")
             + (f"; first reason: {reason}" if reason else ""),
             "every repeat", met["rollback_done"]),
            (f"kill -9 mid-rollout (canary at {killed_at or 'n/a'}) + "
             "restart: rollout state identical",
             _kill9_cell(runs, "state_identical"), "identical",
             met["kill9_state"]),
            ("kill -9 mid-rollout + restart: version statuses identical",
             _kill9_cell(runs, "versions_identical"), "identical",
             met["kill9_versions"])]
    soaked = next((r["soak"] for r in runs if "soak" in r), {})
    rss_goal = f"< {RSS_GROWTH_GOAL_PERCENT:g}%"
    after, load = (soaked.get(k) for k in ("capacity_after_requests_per_s",
                                          "load_average_max"))
    if soaked.get("status") == "succeeded":
        rows += [
            (f"soak {soaked['seconds']} s at 80% of capacity: errors",
             f"{soaked['errors']} of {soaked['requests']:,}", "0",
             met["soak_errors"]),
            ("soak: server RSS growth, end vs start",
             f"{soaked['rss_growth_percent']:+.2f}% "
             f"({soaked['rss_start_mb']:.0f} → {soaked['rss_end_mb']:.0f} "
             "MiB)", rss_goal, met["soak_rss_growth"]),
            ("soak: achieved / target rate (capacity "
             f"{soaked['capacity_requests_per_s']:.0f} req/s before"
             + (f", {after:.0f} after)" if after else ")"),
             f"{soaked['achieved_requests_per_s']:.0f} / "
             f"{soaked['target_requests_per_s']:.0f} req/s", "—", "—"),
            ("soak: P50 / P99 latency", f"{soaked['p50_ms']:.1f} / "
             f"{soaked['p99_ms']:.1f} ms", "—", "—")]
    else:
        rows.append(("soak at 80% of capacity", "failed (see results.json)",
                     f"errors 0, RSS growth {rss_goal}", "**no**"))
    lines = ["| figure | measured: median [min–max] | goal | met? |",
             "|---|---|---|---|"] + [f"| {' | '.join(row)} |" for row in rows]
    lines += ["", "Small synthetic `taxi_like` model (serving/testutil.py; no "
              f"pipeline run). {settings['repeats']} repeat(s) of rollback and "
              f"kill -9; one soak after a {settings['warmup_seconds']} s "
              f"warm-up at its rate, {settings['connections']} connections, "
              "capacity measured first in the same run"
              + (f"; 1-min load average up to {load:.1f} in the soak. "
                 if load is not None else ". ") +
              f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gb']} GB RAM, "
              f"shared machine, {m['date'][:10]}."]
    return "\n".join(lines)
