"""crontab and systemd output, checked by the real `systemd-analyze`."""
import datetime
import re
import shutil
import subprocess

import pytest

from orchestration import cron, os_schedule

# `make test` installs it (Debian's systemd) when missing.
ANALYZE = shutil.which("systemd-analyze")
ARGV = ["/venv/bin/python", "-m", "tfx_prod.cli", "run", "--home", "/srv/h",
        "--data", "/data/my taxi"]


def _systemd_next(expression, count):
    assert ANALYZE, "systemd-analyze missing: make test-system-deps installs it"
    out = subprocess.run([ANALYZE, "calendar", f"--iterations={count}",
                          f"{expression} UTC"], capture_output=True, text=True,
                         check=True, env={"TZ": "UTC"}).stdout
    stamps = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    return [datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc) for s in stamps[:count]]


@pytest.mark.parametrize("text", ["0 3 * * *", "*/15 9-17 * * 1-5",
                                  "30 2 1,15 * *", "0 */6 * * *",
                                  "5 4 * * 0"])
def test_on_calendar_fires_on_the_same_minutes_as_cron(text):
    now = datetime.datetime.now(datetime.timezone.utc)
    expected = cron.parse(text).ticks_between(
        now, now + datetime.timedelta(days=40))[:6]
    assert expected
    assert _systemd_next(os_schedule.on_calendar(text),
                         len(expected)) == expected


def test_expressions_systemd_cannot_say_are_refused():
    for text, words in (("0 0 1 * 1", "needs both"),
                        ("0 9-17/2 * * *", "stepped range"),
                        ("0 0 * * */2", "stepped day-of-week")):
        with pytest.raises(ValueError, match=words):
            os_schedule.on_calendar(text)


def test_units_pass_systemd_analyze_verify(tmp_path):
    assert ANALYZE, "systemd-analyze missing: make test-system-deps installs it"
    units = os_schedule.systemd_units("tfx-prod-taxi", ARGV, "/srv/project",
                                      cron_text="0 3 * * *")
    for name, text in units.items():
        (tmp_path / name).write_text(text.replace("/venv/bin/python",
                                                  shutil.which("true")))
    result = subprocess.run([ANALYZE, "verify", *(str(tmp_path / n) for n in units)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Type=oneshot" in units["tfx-prod-taxi.service"]
    assert "OnCalendar=*-*-* 03:00:00 UTC" in units["tfx-prod-taxi.timer"]
    service = os_schedule.systemd_units("s", ARGV, "/srv", long_running=True)
    assert "Restart=on-failure" in service["s.service"]


def test_crontab_line_quotes_paths_and_escapes_percent():
    line = os_schedule.crontab_line("0 3 * * *", ARGV + ["--pipeline-name",
                                                        "a%b"], "/srv/p",
                                    "/srv/h/logs/cron.log")
    assert line.startswith("0 3 * * * cd /srv/p && ")
    assert "'/data/my taxi'" in line and "a\\%b" in line
    assert line.endswith(">> /srv/h/logs/cron.log 2>&1\n")
