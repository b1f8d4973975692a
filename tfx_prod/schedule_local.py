"""`tfx-prod schedule --local`: the local scheduler's flags and its start.

Shares `--cron`/`--timezone` with the Kubeflow schedule (kubeflow.py's
add_trigger_arguments); adds the data triggers, and passes everything after
`--` to each `tfx-prod run`. `--emit cron|systemd` writes the same schedule
for the OS's own scheduler instead.
"""
import argparse
import os
import shlex
import sys

from pipeline import configs

DEFAULT_POLL_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    local = parser.add_argument_group(
        "local scheduler (--local): retrain on this machine")
    local.add_argument("--local", action="store_true",
                       help="run `tfx-prod run` here, in the foreground, one "
                            "run at a time, instead of scheduling on Kubeflow")
    local.add_argument("--on", action="append", default=[],
                       choices=("new-span", "drift"), dest="triggers",
                       help="also retrain when a new span-N folder appears, or "
                            "when it drifts from the served model's data "
                            "(the schema's thresholds); repeatable. Without "
                            "--cron, only these fire")
    local.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS,
                       metavar="SECONDS",
                       help="how often to look (default: %(default)s)")
    local.add_argument("--home", default=configs.DEFAULT_HOME, metavar="DIR",
                       help="passed to each run; decisions go to "
                            "HOME/scheduler/decisions.jsonl (default: %(default)s)")
    local.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                       metavar="FILE", help="project file, passed to each run")
    local.add_argument("--data", metavar="DIR",
                       help="folder of span-N/ folders to watch, passed to "
                            "each run (default: the project's)")
    local.add_argument("run_args", nargs="*", metavar="-- RUN FLAGS",
                       help="after --: more `tfx-prod run` flags for each run")


def run_command(args) -> list:
    """The `tfx-prod run` each trigger starts."""
    data = args.data or _project(args).data_root
    return [sys.executable, "-m", "tfx_prod.cli", "run",
            "--home", os.path.abspath(args.home),
            "--config", os.path.abspath(args.config),
            "--data", os.path.abspath(data), *args.run_args]


def _project(args):
    from pipeline import project
    return project.load(args.config)


def main(args) -> int:
    """Runs the scheduler until SIGTERM/Ctrl-C; exit 2 on bad flags."""
    from orchestration import cron as cron_lib
    from orchestration import local_scheduler
    from pipeline import project as project_lib
    try:
        project = _project(args)
        schedule = cron_lib.parse(args.cron) if args.cron else None
        if args.timezone not in (None, "UTC"):
            raise ValueError("--local runs its cron in UTC; give the hour in UTC")
        if args.emit == "k8s":
            raise ValueError("--emit k8s is for Kubeflow; with --local use "
                             "--emit cron or --emit systemd")
        if schedule is None and not args.triggers:
            raise ValueError("nothing would ever run: give --cron and/or "
                             "--on new-span / --on drift")
        if args.poll <= 0:
            raise ValueError(f"--poll must be > 0, got {args.poll}")
    except (ValueError, project_lib.ProjectError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state_dir = os.path.join(args.home, "scheduler")
    serving = os.path.join(args.home, "serving")
    for flag, value in zip(args.run_args, args.run_args[1:]):
        if flag == "--serving-dir":
            serving = value
    scheduler = local_scheduler.Scheduler(
        data_root=args.data or project.data_root,
        model_base=os.path.join(serving, project.model_name),
        run_argv=run_command(args),
        decisions_path=os.path.join(state_dir, "decisions.jsonl"),
        state_path=os.path.join(state_dir, "state.json"),
        triggers=tuple(dict.fromkeys(args.triggers)), cron=schedule,
        poll_seconds=args.poll,
        echo=lambda line: print(line, flush=True))
    if args.emit:
        return _emit(args, scheduler)
    print(f"each run: {shlex.join(scheduler.run_argv)}", flush=True)
    return scheduler.run_forever()


def _scheduler_argv(args) -> list:
    """This very `schedule --local` command, for a systemd service to run."""
    argv = [sys.executable, "-m", "tfx_prod.cli", "schedule", "--local",
            "--home", os.path.abspath(args.home), "--config",
            os.path.abspath(args.config), "--poll", str(args.poll)]
    if args.data:
        argv += ["--data", os.path.abspath(args.data)]
    if args.cron:
        argv += ["--cron", args.cron]
    for trigger in dict.fromkeys(args.triggers):
        argv += ["--on", trigger]
    return argv + (["--", *args.run_args] if args.run_args else [])


def _emit(args, scheduler) -> int:
    """--emit cron|systemd: the same schedule for the OS's scheduler."""
    from orchestration import os_schedule
    workdir = str(configs.PROJECT_DIR)
    try:
        if args.emit == "cron":
            if args.triggers:
                raise ValueError("cron fires on the clock only; --on needs the "
                                 "local scheduler running: use --emit systemd")
            files = {"crontab": os_schedule.crontab_line(
                args.cron, scheduler.run_argv, workdir,
                os.path.join(os.path.abspath(args.home), "logs", "cron.log"))}
        elif args.triggers:
            files = os_schedule.systemd_units(
                args.name, _scheduler_argv(args), workdir, long_running=True)
        else:
            files = os_schedule.systemd_units(args.name, scheduler.run_argv,
                                              workdir, cron_text=args.cron)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.output:
        for name, text in files.items():
            print(f"# --- {name} ---\n{text}" if len(files) > 1 else text, end="")
        return 0
    if args.emit == "cron":
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(files["crontab"])
        print(f"wrote {args.output}; install with `crontab -l | cat - "
              f"{args.output} | crontab -`", file=sys.stderr)
        return 0
    os.makedirs(args.output, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(args.output, name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {', '.join(files)} to {args.output}; copy them to "
          "~/.config/systemd/user/ and `systemctl --user enable --now "
          f"{next(n for n in files if n.endswith(('.timer', '.service')))}`",
          file=sys.stderr)
    return 0
