"""The local schedule for the OS's own scheduler: a crontab line, or systemd.

cron can only fire on the clock, so `--on` triggers need the local scheduler
running as a service: `--emit systemd` writes that service (Restart, SIGTERM
with time to stop the run cleanly); with only a cron it writes a timer plus
a oneshot service that runs `tfx-prod run`. A second run on the same
pipeline root is refused by `tfx-prod run` itself, so overlaps cannot stack.
"""
import shlex
from typing import Dict, List, Optional

from orchestration import cron as cron_lib

_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STOP_TIMEOUT_SECONDS = 600  # a run in progress gets this long to stop


def crontab_line(cron_text: str, argv: List[str], workdir: str,
                 log_path: str) -> str:
    cron_lib.parse(cron_text)  # refuse what cron would misread
    command = (f"cd {shlex.quote(workdir)} && {shlex.join(argv)} "
               f">> {shlex.quote(log_path)} 2>&1")
    return f"{cron_text} {command.replace('%', chr(92) + '%')}\n"


def _field(text: str, what: str, names=None) -> str:
    parts = []
    for part in text.split(","):
        body, _, step = part.partition("/")
        if step and body not in ("*",) and "-" in body:
            raise ValueError(f"{what} {part!r}: systemd has no stepped range; "
                             "list the values instead")
        if body == "*":
            parts.append(f"0/{step}" if step and names is None and what in (
                "minute", "hour") else (f"1/{step}" if step else "*"))
            continue
        if names:
            body = "..".join(names[int(x)] for x in body.split("-"))
        else:
            body = "..".join(f"{int(x):02d}" for x in body.split("-"))
        parts.append(f"{body}/{step}" if step else body)
    return ",".join(parts)


def on_calendar(cron_text: str) -> str:
    """A 5-field cron as a systemd OnCalendar expression (same minutes)."""
    parsed = cron_lib.parse(cron_text)
    minute, hour, day, month, weekday = cron_text.split()
    if parsed.days_restricted and parsed.weekdays_restricted:
        raise ValueError("cron fires when day-of-month OR day-of-week match; "
                         "systemd needs both. Use one of the two fields.")
    if "/" in weekday:
        raise ValueError("a stepped day-of-week has no systemd form")
    calendar = (f"*-{_field(month, 'month')}-{_field(day, 'day-of-month')} "
                f"{_field(hour, 'hour')}:{_field(minute, 'minute')}:00")
    if parsed.weekdays_restricted:
        calendar = f"{_field(weekday, 'day-of-week', _WEEKDAYS)} {calendar}"
    return calendar


def _exec(argv: List[str]) -> str:
    return shlex.join(argv).replace("%", "%%")


def systemd_units(name: str, argv: List[str], workdir: str,
                  cron_text: Optional[str] = None,
                  long_running: bool = False) -> Dict[str, str]:
    """{file name: text}. `long_running`: the scheduler itself as a service."""
    service = ["[Unit]", f"Description=tfx-prod: {name}",
               "After=network-online.target", "", "[Service]",
               f"WorkingDirectory={workdir}", f"ExecStart={_exec(argv)}",
               "Environment=TF_USE_LEGACY_KERAS=1",
               # SIGTERM lets `tfx-prod run` mark unfinished steps interrupted.
               "KillSignal=SIGTERM", f"TimeoutStopSec={STOP_TIMEOUT_SECONDS}"]
    if long_running:
        service += ["Type=simple", "Restart=on-failure", "RestartSec=60", "",
                    "[Install]", "WantedBy=default.target"]
        return {f"{name}.service": "\n".join(service) + "\n"}
    if cron_text is None:
        raise ValueError("a timer needs --cron")
    timer = ["[Unit]", f"Description=tfx-prod: {name} on '{cron_text}' (UTC)",
             "", "[Timer]", f"OnCalendar={on_calendar(cron_text)} UTC",
             "Persistent=false", f"Unit={name}.service", "", "[Install]",
             "WantedBy=timers.target"]
    service.insert(service.index("[Service]") + 1, "Type=oneshot")
    return {f"{name}.service": "\n".join(service) + "\n",
            f"{name}.timer": "\n".join(timer) + "\n"}
