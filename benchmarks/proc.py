"""Run a child process and measure its wall time and peak memory.

Two memory numbers, because TFX's Beam stages may fan out into worker
processes: `peak_tree_rss_mb` samples the summed RSS of the child and all
its descendants (what the machine must hold), and
`largest_process_rss_mb` is the peak of the largest single process (what
one worker must fit). The latter is the larger of two readings: the
kernel's exact high-water mark from wait4() (the child and the
descendants it reaped; RUSAGE_CHILDREN would accumulate across runs) and
the largest process seen while sampling (which also covers descendants
the child never reaped). `peak_processes` is the most processes alive at
once: it shows whether Beam really fanned out into workers.
"""
import os
import signal
import subprocess
import time

try:
    import psutil
except ImportError:  # Optional: without it only the wait4() figure exists.
    psutil = None

_POLL_SECONDS = 0.25


def _tree_rss_bytes(pid):
    """(summed, largest single) RSS of a process and its live descendants,
    and how many of them there are.

    (0, 0, 0) once the process is gone.
    """
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    sizes = []
    for proc in procs:
        try:
            sizes.append(proc.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0), len(sizes)


def _machine_busy_seconds():
    """Non-idle CPU seconds of the whole machine since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    ticks = user + nice + system + irq + softirq + steal
    return ticks / os.sysconf("SC_CLK_TCK")


def _kill_tree(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_measured(cmd, log_path, env=None, cwd=None, timeout=None):
    """Run `cmd` with output to `log_path`; return timing and memory.

    The child gets its own session so a timeout can kill the whole tree.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    peak_tree = peak_single = peak_count = 0
    timed_out = False
    busy_before = _machine_busy_seconds()
    with open(log_path, "wb") as log:
        start = time.monotonic()
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, cwd=cwd, start_new_session=True)
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                if psutil is not None:
                    tree, single, count = _tree_rss_bytes(child.pid)
                    peak_tree = max(peak_tree, tree)
                    peak_single = max(peak_single, single)
                    peak_count = max(peak_count, count)
                if timeout and time.monotonic() - start > timeout:
                    timed_out = True
                    _kill_tree(child.pid)
                    pid, status, usage = os.wait4(child.pid, 0)
                    break
                time.sleep(_POLL_SECONDS)
        except BaseException:
            # Ctrl-C reaches only our session: take the child's down too.
            _kill_tree(child.pid)
            os.wait4(child.pid, 0)
            raise
        wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    max_proc_mb = usage.ru_maxrss / 1024.0  # Linux reports KiB.
    cpu = usage.ru_utime + usage.ru_stime
    busy_after = _machine_busy_seconds()
    busy = (busy_after - busy_before
            if None not in (busy_before, busy_after) else None)
    return {
        "returncode": child.returncode,
        "timed_out": timed_out,
        "wall_seconds": round(wall, 2),
        "peak_tree_rss_mb": round(peak_tree / 2**20, 1) if psutil else None,
        "largest_process_rss_mb": round(max(max_proc_mb,
                                            peak_single / 2**20), 1),
        # The two readings behind it, kept so a disagreement is visible.
        "max_process_rss_mb": round(max_proc_mb, 1),
        "sampled_largest_process_rss_mb": (round(peak_single / 2**20, 1)
                                           if psutil else None),
        "peak_processes": peak_count if psutil else None,
        # CPU time of the child and its reaped descendants: less sensitive
        # to other load on the machine than wall time.
        "cpu_seconds": round(cpu, 1),
        # CPU the rest of the machine used meanwhile: if large, the wall
        # time was inflated by competing work.
        "other_cpu_seconds": (round(max(0.0, busy - cpu), 1)
                              if busy is not None else None),
        "log": log_path,
    }


def log_tail(log_path, lines=30):
    """Last lines of a child's log, kept in results when a run fails."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
