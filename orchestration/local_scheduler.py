"""`tfx-prod schedule --local`: retrain here on a cron, a new span, or drift.

One process in the foreground, one pipeline run at a time (a child
`tfx-prod run`). Every poll it looks at the data root and the clock and logs
each decision with its reason, to the terminal and a JSON-lines file:

  span-4 appeared                        (--on new-span fires)
  span-4: payment_type L-infinity drift 0.310 > 0.2   (--on drift fires)
  span-5: no drift (max fare 0.004 <= 0.1)            (--on drift does not)
  cron tick 03:00 skipped: run in progress            (ticks never stack)

Drift is measured with the pipeline's own rule (components/drift_check) on
the new span against the newest complete served version. SIGTERM/Ctrl-C:
a run in progress gets SIGTERM (`tfx-prod run` marks unfinished steps
interrupted, never done), is waited for, and its outcome is logged.
"""
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import time
from typing import Callable, List, Optional

from orchestration import cron as cron_lib

TRIGGERS = ("new-span", "drift")
STOP_GRACE_SECONDS = 300


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def newest_span(data_root: str) -> Optional[int]:
    """The largest N of the `span-N` folders under `data_root`."""
    numbers = [int(name.split("-", 1)[1]) for name in (
        os.listdir(data_root) if os.path.isdir(data_root) else [])
        if name.startswith("span-") and name.split("-", 1)[1].isdigit()
        and os.path.isdir(os.path.join(data_root, name))]
    return max(numbers) if numbers else None


def _files(span_dir: str) -> tuple:
    """(name, size, mtime) of a span's visible files: unchanged = settled."""
    entries = []
    for name in sorted(os.listdir(span_dir)):
        path = os.path.join(span_dir, name)
        if not name.startswith(".") and os.path.isfile(path):
            stat = os.stat(path)
            entries.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def drift_reasons(span_dir: str, model_base: str) -> tuple[List[str], str]:
    """(reasons to retrain, a one-line verdict) for a span vs what is served."""
    from components.drift_check import drift
    from serving import layout
    served = layout.complete_versions(model_base)
    if not served:
        return ["nothing served yet"], "nothing served to compare with"
    measured = drift.span_drift(span_dir, layout.version_dir(
        model_base, served[-1]))
    drifted = [d.describe() for d in measured if d.drifted]
    if drifted:
        return drifted, "; ".join(drifted)
    if not measured:
        return [], "no drift_comparator in the served version's schema"
    top = max(measured, key=lambda d: d.value / d.threshold if d.threshold else 0)
    return [], f"no drift against version {served[-1]} (max {top.describe()})"


@dataclasses.dataclass
class Scheduler:
    data_root: str
    model_base: str
    run_argv: List[str]          # the `tfx-prod run ...` command
    decisions_path: str
    state_path: str
    triggers: tuple = ()
    cron: Optional[cron_lib.Cron] = None
    poll_seconds: float = 30.0
    clock: Callable[[], datetime.datetime] = _now
    echo: Callable[[str], None] = print
    _child: Optional[subprocess.Popen] = None
    _run_reasons: List[str] = dataclasses.field(default_factory=list)
    _stopping: Optional[str] = None
    _last_tick_check: Optional[datetime.datetime] = None
    _pending: Optional[tuple] = None   # (span, files signature) seen last poll

    def log(self, event: str, **details) -> None:
        record = {"time": self.clock().isoformat(timespec="seconds"),
                  "event": event, **details}
        os.makedirs(os.path.dirname(self.decisions_path) or ".", exist_ok=True)
        with open(self.decisions_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.echo(f"[{record['time']}] {details.get('message', event)}")

    # --- state that survives a restart: the last span looked at ------------
    def _seen_span(self) -> Optional[int]:
        try:
            with open(self.state_path, encoding="utf-8") as f:
                return json.load(f).get("seen_span")
        except (OSError, ValueError):
            return None

    def _remember(self, span: Optional[int]) -> None:
        os.makedirs(os.path.dirname(self.state_path) or ".", exist_ok=True)
        temporary = f"{self.state_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump({"seen_span": span}, f)
        os.replace(temporary, self.state_path)  # atomic: never half-written

    def start(self) -> None:
        """Records where watching starts; existing spans are not new."""
        seen = self._seen_span()
        if seen is None:
            seen = newest_span(self.data_root)
            self._remember(seen)
        self._last_tick_check = self.clock()
        self.log("started", triggers=list(self.triggers),
                 cron=self.cron.text if self.cron else None, seen_span=seen,
                 message=f"watching {self.data_root} from span-{seen} "
                         f"(triggers: {', '.join(self.triggers) or 'none'}"
                         + (f"; cron '{self.cron.text}' UTC" if self.cron else "")
                         + ")")

    def poll(self) -> None:
        """One look at the running child, the clock and the data."""
        self._reap()
        reasons = self._cron_reasons() + self._span_reasons()
        if reasons and self._child is None and not self._stopping:
            self._launch(reasons)

    def _cron_reasons(self) -> List[str]:
        if self.cron is None:
            return []
        now = self.clock()
        ticks = self.cron.ticks_between(self._last_tick_check, now)
        self._last_tick_check = now
        if not ticks:
            return []
        label = ticks[-1].strftime("%H:%M")
        if self._child is not None:
            self.log("cron_skipped", tick=ticks[-1].isoformat(),
                     message=f"cron tick {label} skipped: run in progress")
            return []
        if len(ticks) > 1:
            self.log("cron_missed", ticks=len(ticks), message=(
                f"{len(ticks)} cron ticks since the last look; one run, "
                f"not {len(ticks)}"))
        return [f"cron tick {label}"]

    def _span_reasons(self) -> List[str]:
        if not self.triggers or self._child is not None:
            return []   # a span landing mid-run is looked at afterwards
        newest, seen = newest_span(self.data_root), self._seen_span()
        if newest is None or (seen is not None and newest <= seen):
            return []
        name = f"span-{newest}"
        # A span still being copied in is not read: act once its files are
        # non-empty and unchanged since the previous poll.
        signature = (newest, _files(os.path.join(self.data_root, name)))
        if not signature[1] or signature != self._pending:
            self._pending = signature
            return []
        reasons = []
        if "new-span" in self.triggers:
            self.log("new_span", span=newest, message=f"{name} appeared")
            reasons.append(f"{name} appeared")
        if "drift" in self.triggers:
            drifted, verdict = drift_reasons(
                os.path.join(self.data_root, name), self.model_base)
            self.log("drift" if drifted else "no_drift", span=newest,
                     reasons=drifted, message=f"{name}: {verdict}")
            reasons += [f"{name}: {r}" for r in drifted]
        self._remember(newest)
        return reasons

    def _launch(self, reasons: List[str]) -> None:
        log_dir = os.path.dirname(self.decisions_path) or "."
        stamp = self.clock().strftime("%Y%m%dT%H%M%S")
        log_path = os.path.join(log_dir, f"run-{stamp}.log")
        with open(log_path, "wb") as out:
            self._child = subprocess.Popen(self.run_argv, stdout=out,
                                           stderr=subprocess.STDOUT)
        self._run_reasons = reasons
        self.log("run_started", reasons=reasons, pid=self._child.pid,
                 log=log_path, message=f"run started ({'; '.join(reasons)}); "
                                       f"log {log_path}")

    def _reap(self, wait: bool = False) -> None:
        if self._child is None:
            return
        try:
            code = self._child.wait(STOP_GRACE_SECONDS) if wait else self._child.poll()
        except subprocess.TimeoutExpired:
            self._child.kill()
            code = self._child.wait()
        if code is None:
            return
        outcome = {0: "a blessed model is served", 3: "data failed validation "
                   "or drifted (gate)", 4: "not blessed: nothing pushed",
                   130: "interrupted", 143: "interrupted"}.get(code, "failed")
        self.log("run_finished", exit_code=code, reasons=self._run_reasons,
                 message=f"run finished: exit {code} ({outcome})")
        self._child = None

    def stop(self, why: str) -> None:
        """Asks a running child to stop cleanly (it marks itself interrupted)."""
        self._stopping = why
        if self._child is not None:
            self.log("stopping", message=f"{why}: stopping the run in progress")
            self._child.send_signal(signal.SIGTERM)

    def run_forever(self) -> int:
        self.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda n, _: self.stop(signal.Signals(n).name))
        while not self._stopping:
            self.poll()
            deadline = time.monotonic() + self.poll_seconds
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, self.poll_seconds))
        self._reap(wait=True)
        self.log("stopped", message=f"stopped ({self._stopping})")
        return 0
