"""Canary rollout with automatic rollback, inside the server.

TF Serving's "latest" policy sends all traffic to a new version the moment
it loads. With rollouts on, default traffic (no version or label in the
request) goes to the model's *stable* version, and during a rollout a
sticky share of it to the *canary*: a request's key (a header or a named
feature) hashes to one of 10,000 buckets, so one client sees one model.

Each step (e.g. 5% -> 50% -> 100%) holds for `hold_seconds` and advances only
while the canary stays within `rollout_stats.Bounds` of stable; a breach
rolls it back to 0% at once, with the numbers in the decision record. The
last step (100) is the promotion: the canary becomes stable. A canary's
model error is retried on stable, so a bad canary costs latency, not failed
requests. State is durable (`rollout_state`); the decision loop runs on its
own thread every `check_seconds`.
"""
import hashlib
import logging
import random
import threading
import time
from typing import Callable, Optional

from serving import rollout_state as rs
from serving.rollout_stats import Bounds, VersionWindow, judge

log = logging.getLogger("serving.rollout")
BUCKETS = 10_000
# A freshly loaded version's first calls pay one-off costs (graph
# optimization, allocator growth); their latencies would make every canary's
# P99 look slow. They still count as requests and for errors.
WARMUP_REQUESTS = 20
DEFAULT_STEPS = (5, 50, 100)
DEFAULT_HOLD_SECONDS = 600.0


class RolloutError(ValueError):
    """A rollout request that cannot be honoured; the message says why."""


def parse_steps(text) -> tuple:
    """'5,50,100' -> (5.0, 50.0, 100.0): rising percents ending at 100."""
    parts = text.split(",") if isinstance(text, str) else text
    try:
        steps = tuple(float(part) for part in parts if str(part).strip())
    except (TypeError, ValueError):  # a JSON body may send any type
        raise RolloutError(f"--steps: not a comma list of percents: {text!r}")
    if not steps or steps[-1] != 100 or any(
            not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise RolloutError(f"--steps must be rising percents in (0, 100] "
                           f"ending at 100 (e.g. 5,50,100), got {text!r}")
    return steps


def bucket(key: Optional[str]) -> int:
    """A request key's bucket; keyless requests are spread at random."""
    if key is None:
        return random.randrange(BUCKETS)
    digest = hashlib.blake2b(key.encode("utf-8", "replace"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Rollouts:
    def __init__(self, store: rs.RolloutStore, metrics, *,
                 bounds: Bounds = Bounds(), steps=DEFAULT_STEPS,
                 hold_seconds: float = DEFAULT_HOLD_SECONDS,
                 auto_canary: bool = False,
                 evidence: Optional[Callable] = None,
                 clock: Callable[[], float] = time.time):
        self.store, self.metrics = store, metrics
        self.bounds, self.steps = bounds, parse_steps(steps)
        self.hold_seconds, self.auto_canary = hold_seconds, auto_canary
        # (state) -> None (no requirement) | {"passed": bool, ...}: the A/B
        # test on labelled feedback a promotion must pass.
        self.evidence = evidence
        self.clock = clock
        self._states = {}
        self._serving = False          # set after the first poll
        self._windows = {}             # (model, version) -> VersionWindow
        self._seen = {}                # (model, version) -> requests so far
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None

    # --- state ---------------------------------------------------------------
    def _state(self, model_name: str) -> rs.RolloutState:
        state = self._states.get(model_name)
        if state is None:
            state = self.store.load(model_name) or rs.RolloutState(model_name)
            self._states[model_name] = state
            if state.active:
                self._open_windows(state)
                self._event(state, "resumed", f"server started; canary "
                            f"{state.canary} at {state.percent:g}%")
            self._export(state)
        return state

    def load(self, model_names) -> None:
        """Reads every model's saved state (at server start, before the
        first poll, so the pinned versions load with the others)."""
        with self._lock:
            for name in model_names:
                self._state(name)

    def _save(self, state, event: str, reason: str, **details) -> dict:
        state.reason = reason
        self.store.save(state)
        self._export(state)
        self.metrics.rollout_decisions.inc((state.model_name, event))
        return self._event(state, event, reason, **details)

    def _event(self, state, event: str, reason: str, **details) -> dict:
        record = self.store.append_event(state.model_name, {
            "event": event, "reason": reason, "stable": state.stable,
            "canary": state.canary, "percent": state.percent, **details})
        log.info("rollout %s: %s: %s", state.model_name, event, reason)
        return record

    def _export(self, state) -> None:
        name = state.model_name
        self.metrics.rollout_traffic.remove_matching(lambda k: k[0] == name)
        if state.stable is not None:
            self.metrics.rollout_traffic.set(
                (name, str(state.stable), "stable"),
                100.0 - (state.percent if state.active else 0.0))
        if state.active:
            self.metrics.rollout_traffic.set(
                (name, str(state.canary), "canary"), state.percent)

    def _open_windows(self, state) -> None:
        for version in (state.stable, state.canary):
            self._windows[(state.model_name, version)] = VersionWindow()

    def _close_windows(self, model_name: str) -> None:
        for key in [k for k in self._windows if k[0] == model_name]:
            del self._windows[key]

    # --- what the ModelManager asks ------------------------------------------
    def pinned(self, model_name: str) -> set:
        """Versions that must stay loaded whatever the version policy says."""
        state = self._states.get(model_name)
        if state is None:
            return set()
        return {v for v in (state.stable, state.canary) if v is not None}

    def rejected(self, model_name: str) -> set:
        state = self._states.get(model_name)
        return set(state.rejected) if state else set()

    def begin_serving(self, served: dict) -> None:
        """After the first poll ({model: [versions served]}): a model with
        no saved state takes the newest version it serves as stable, so the
        versions already on disk are not canaried at start."""
        with self._lock:
            self._serving = True
            for name, versions in served.items():
                state = self._state(name)
                if state.stable is None and versions:
                    state.stable = max(versions)
                    self._save(state, "stable", f"version {state.stable} was "
                               "the newest served at start")

    def on_available(self, model_name: str, version: int) -> None:
        """A version became AVAILABLE: the first becomes stable; a newer one
        becomes the canary if --auto_canary."""
        if not self._serving:
            return
        with self._lock:
            state = self._state(model_name)
            if state.stable is None:
                state.stable = version
                self._save(state, "stable", f"version {version} is the first "
                           "one served")
                return
            newer = max(filter(None, (state.stable, state.canary)))
            if not self.auto_canary or version <= newer or \
                    version in state.rejected:
                return
            if state.active:
                self._finish(state, rs.ABORTED, "abort",
                             f"superseded by version {version}")
            self._begin(state, version, self.steps, self.hold_seconds,
                        f"auto-canary: version {version} was pushed")

    def labels(self, model_name: str) -> dict:
        """`/labels/stable` and `/labels/canary` follow the rollout unless
        the model config defines those labels itself."""
        state = self._states.get(model_name)
        if state is None:
            return {}
        labels = {"stable": state.stable} if state.stable is not None else {}
        if state.active:
            labels["canary"] = state.canary
        return labels

    def route(self, model_name: str, served: dict, key: Optional[str],
              canary: bool = True):
        """-> (servable, fallback servable or None), or None when this
        model has no stable version served (the manager then uses latest).
        `canary=False`: stable only (metadata requests)."""
        state = self._states.get(model_name)
        if state is None or state.stable not in served:
            return None
        stable = served[state.stable]
        if canary and state.active and state.canary in served and \
                bucket(key) < round(state.percent * BUCKETS / 100):
            return served[state.canary], stable
        return stable, None

    # --- what the request path reports ----------------------------------------
    def observe_request(self, servable, latency_ms: float,
                        model_error: bool) -> None:
        key = (servable.model_name, servable.version)
        window = self._windows.get(key)
        if window is not None:
            seen = self._seen[key] = self._seen.get(key, 0) + 1
            window.observe_request(
                None if seen <= WARMUP_REQUESTS else latency_ms, model_error)

    def observe_confidence(self, servable, values) -> None:
        window = self._windows.get((servable.model_name, servable.version))
        if window is not None:
            window.observe_confidence(values)

    # --- operator commands -------------------------------------------------------
    def start(self, model_name: str, canary: int, steps=None,
              hold_seconds: Optional[float] = None) -> dict:
        with self._lock:
            state = self._state(model_name)
            if state.active:
                raise RolloutError(
                    f"a rollout of version {state.canary} is running "
                    f"({state.percent:g}%); promote or abort it first")
            if state.stable is None:
                raise RolloutError(f"model {model_name} has no stable version "
                                   "yet (none served)")
            if canary == state.stable:
                raise RolloutError(f"version {canary} is already stable")
            return self._begin(
                state, canary, parse_steps(steps) if steps else self.steps,
                self.hold_seconds if hold_seconds is None else hold_seconds,
                f"started by operator: version {canary}")

    def promote(self, model_name: str) -> dict:
        with self._lock:
            state = self._require_active(model_name)
            return self._promote(state, "promoted by operator")

    def abort(self, model_name: str) -> dict:
        with self._lock:
            state = self._require_active(model_name)
            return self._finish(state, rs.ABORTED, "abort",
                                "aborted by operator")

    def _require_active(self, model_name: str) -> rs.RolloutState:
        state = self._state(model_name)
        if not state.active:
            raise RolloutError(f"no rollout is running for model "
                               f"{model_name} (state: {state.state})")
        return state

    # --- transitions ---------------------------------------------------------------
    def _begin(self, state, canary: int, steps, hold_seconds, reason) -> dict:
        state.canary, state.state, state.steps = canary, rs.RUNNING, steps
        state.step, state.percent = 0, steps[0]
        state.hold_seconds = hold_seconds
        state.started = state.step_started = self.clock()
        state.rejected = tuple(v for v in state.rejected if v != canary)
        self._open_windows(state)
        return self._save(state, "start", reason, steps=list(steps),
                          hold_seconds=hold_seconds)

    def _promote(self, state, reason: str, **details) -> dict:
        old = state.stable
        state.stable, state.canary = state.canary, None
        state.state, state.percent = rs.PROMOTED, 0.0
        self._close_windows(state.model_name)
        return self._save(state, "promote", reason, previous_stable=old,
                          **details)

    def _finish(self, state, outcome: str, event: str, reason: str,
                **details) -> dict:
        canary = state.canary
        if outcome == rs.ROLLED_BACK:
            state.rejected = tuple(sorted({*state.rejected, canary}))
        state.state, state.percent, state.canary = outcome, 0.0, None
        self._close_windows(state.model_name)
        return self._save(state, event, reason, rolled_back_version=canary,
                          **details)

    # --- the decision loop -------------------------------------------------------
    def status(self, model_name: str) -> dict:
        with self._lock:
            state = self._state(model_name)
            document = state.as_dict()
            if state.active:
                document["verdict"] = self._verdict(state)
            if self.evidence is not None and state.canary is not None:
                document["evidence"] = self.evidence(state)
            document["bounds"] = self.bounds.as_dict()
            return document

    def _verdict(self, state) -> dict:
        # Every running rollout has both windows (_begin, _state open them).
        canary = self._windows[(state.model_name, state.canary)]
        stable = self._windows[(state.model_name, state.stable)]
        return judge(canary.summary(), stable.summary(), self.bounds)

    def check(self) -> list:
        """One pass over every running rollout; -> the decisions taken."""
        decisions = []
        with self._lock:
            for state in list(self._states.values()):
                if state.active:
                    decision = self._check_one(state)
                    if decision:
                        decisions.append(decision)
        return decisions

    def _check_one(self, state) -> Optional[dict]:
        verdict = self._verdict(state)
        numbers = verdict["numbers"]
        if verdict["breaches"]:
            return self._finish(state, rs.ROLLED_BACK, "rollback",
                                "; ".join(verdict["breaches"]),
                                numbers=numbers)
        hold = state.hold_seconds
        if not verdict["ready"] or self.clock() - state.step_started < hold:
            return None
        following = state.steps[state.step + 1] if \
            state.step + 1 < len(state.steps) else 100.0
        if following >= 100:
            evidence = self.evidence(state) if self.evidence else None
            if evidence is not None and not evidence.get("passed"):
                if evidence.get("worse"):
                    return self._finish(state, rs.ROLLED_BACK, "rollback",
                                        evidence.get("reason", "A/B test"),
                                        numbers=numbers, evidence=evidence)
                return None            # keep holding: not enough labels yet
            reason = f"within bounds for {hold:g}s at {state.percent:g}%"
            if evidence is not None and evidence.get("reason"):
                reason += f"; {evidence['reason']}"
            return self._promote(state, reason, numbers=numbers,
                                 evidence=evidence)
        previous = state.percent
        state.step += 1
        state.percent, state.step_started = following, self.clock()
        self._open_windows(state)
        return self._save(state, "advance", f"within bounds for {hold:g}s at "
                          f"{previous:g}%; now {following:g}%",
                          numbers=numbers)

    def start_loop(self, check_seconds: float) -> None:
        def loop():
            while not self._stop.wait(check_seconds):
                try:
                    self.check()
                except Exception:  # never let one bad pass stop rollouts
                    log.exception("rollout check failed")
        self._thread = threading.Thread(target=loop, name="rollout",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
