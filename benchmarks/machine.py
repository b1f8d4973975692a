"""Describe the machine and software a benchmark ran on.

Ratios are only comparable within one run, but the absolute numbers still
need the context they were measured in. Versions are read from package
metadata so the harness process never imports TensorFlow.
"""
import datetime
import glob
import os
import platform
from importlib import metadata


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe():
    """Return a JSON-ready dict describing this machine and stack."""
    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cores = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "ram_gb": _ram_gb(),
        "gpu": bool(glob.glob("/dev/nvidia[0-9]*")),
        "os": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "tfx": _version("tfx"),
        "keras": _version("keras"),
        "tf_keras": _version("tf-keras"),
        "apache_beam": _version("apache-beam"),
        "date": datetime.datetime.now(datetime.timezone.utc)
        .isoformat(timespec="seconds"),
    }
