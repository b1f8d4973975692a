"""Live one-line-per-component progress, fed by pipeline.local_runner events.

On a terminal the running component's line ticks its elapsed time in place;
in a log or CI (not a TTY) each component prints a line when it starts and
one when it ends, so a long step is visibly in progress.
"""
import threading
import time

from pipeline.local_runner import NodeEvent

_LABELS = {"complete": "ran", "cached": "cached (reused)",
           "skipped": "skipped", "resolved": "resolved", "failed": "FAILED",
           "interrupted": "INTERRUPTED"}
_MARKS = {"complete": "+", "cached": "=", "skipped": "-", "resolved": "~",
          "interrupted": "!",
          "failed": "!"}


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{seconds:.1f}s"


class ProgressView:
    """Callable NodeListener that writes progress lines to `stream`."""

    def __init__(self, stream, node_ids, *, is_tty: bool):
        self._stream = stream
        self._width = max(len(n) for n in node_ids) if node_ids else 20
        self._total = len(node_ids)
        self._done = 0
        self._is_tty = is_tty
        self._running = None  # (node_id, start time)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.events: list[NodeEvent] = []
        if is_tty:
            threading.Thread(target=self._tick, daemon=True).start()

    def _line(self, mark, node_id, status, seconds):
        return (f"  {mark} [{self._done:>2}/{self._total}] "
                f"{node_id:<{self._width}}  {format_seconds(seconds):>7}  {status}")

    def _tick(self):
        while not self._stop.wait(0.5):
            with self._lock:
                if self._running:
                    node_id, started = self._running
                    self._write("\r" + self._line(
                        ">", node_id, "running", time.monotonic() - started))

    def _write(self, text):
        self._stream.write(text)
        self._stream.flush()

    def __call__(self, event: NodeEvent) -> None:
        with self._lock:
            if event.state is None:
                self._running = (event.node_id, time.monotonic())
                self._write(self._line(">", event.node_id, "running", 0)
                            + ("" if self._is_tty else "\n"))
                return
            self._running = None
            self._done += 1
            self.events.append(event)
            line = self._line(_MARKS[event.state], event.node_id,
                              _LABELS[event.state], event.seconds)
            self._write(("\r\033[K" if self._is_tty else "") + line + "\n")

    def close(self):
        self._stop.set()
