"""Timestamped progress lines: the benchmark phases take minutes each."""
import contextlib
import sys
import time


def say(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True,
          file=sys.stderr)


@contextlib.contextmanager
def phase(name):
    """Print when a phase starts and ends, with its duration."""
    say(f"{name} ...")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{name}: aborted after {time.monotonic() - start:.0f}s")
        raise
    say(f"{name}: done in {time.monotonic() - start:.0f}s")
