"""`tfx-prod submit` / `tfx-prod schedule`: flags and printing only.

The work (validation, kfp.Client calls, CronJob manifests) lives in
orchestration/; this module turns flags into those calls and errors into one
line on stderr: exit 2 for bad input, 1 for a failing server.
"""
import argparse
import json
import os
import sys

from orchestration import cronjob, kfp_submit

ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
DEFAULT_CRON = "0 3 * * *"


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package", default="pipeline.yaml", metavar="PATH",
        help="compiled pipeline, the bare PipelineSpec YAML written by "
             "`tfx-prod compile` (default: %(default)s)")
    parser.add_argument(
        "--host", default=os.environ.get(ENDPOINT_ENV), metavar="URL",
        help=f"KFP API endpoint, e.g. http://localhost:8888 after `kubectl "
             f"port-forward svc/ml-pipeline 8888`; default ${ENDPOINT_ENV}")
    parser.add_argument("--experiment", default="tfx-prod", metavar="NAME",
                        help="KFP experiment, created if missing (default: %(default)s)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a pipeline runtime parameter; repeat for each. The compiled spec "
             "has no defaults: values `tfx-prod compile` wrote to "
             "PACKAGE.params.json are used for those not given here")
    parser.add_argument("--pipeline-root", metavar="URI",
                        help="where runs write artifacts, e.g. gs://bucket/root "
                             "(the .yaml package does not carry one)")
    parser.add_argument("--token-file", metavar="FILE",
                        help="file holding a bearer token, sent as "
                             "'authorization: Bearer <token>'")
    parser.add_argument("--namespace", metavar="NS",
                        help="KFP namespace (multi-user installs); with "
                             "--emit k8s also the CronJob's namespace")


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `tfx-prod submit`: one run, KFP caching off."""
    _add_connection_arguments(parser)
    parser.add_argument("--run-name", metavar="NAME",
                        help="run display name (default: package name + time)")
    parser.add_argument("--wait", action="store_true",
                        help="block until the run finishes; exit 1 unless it succeeded")
    parser.add_argument("--timeout", type=int, default=6 * 3600, metavar="SECONDS",
                        help="with --wait, give up after this long (default: %(default)s)")


def add_trigger_arguments(parser: argparse.ArgumentParser) -> None:
    """When to run; shared by every scheduler (KFP, k8s, a local one)."""
    parser.add_argument(
        "--cron", metavar='"M H DOM MON DOW"',
        help=f"standard 5-field cron, in UTC unless --timezone (default on "
             f"Kubeflow: '{DEFAULT_CRON}' = daily 03:00; --local: none). KFP "
             "wants 6 fields with seconds first; a seconds field of 0 is "
             "prepended for you, so a copied 5-field cron cannot silently "
             "run hourly")
    parser.add_argument(
        "--timezone", metavar="TZ",
        help="IANA zone for the cron. Only --emit k8s honours it (CronJob "
             "timeZone); KFP recurring runs run in the server's zone, UTC")
    parser.add_argument(
        "--max-concurrency", type=int, default=1, metavar="N",
        help="runs allowed at once, 1..10 (default: %(default)s, no "
             "overlapping trainings)")
    parser.add_argument(
        "--catchup", action="store_true",
        help="after downtime, start one run per missed slot (default: only "
             "the next slot runs; backfilled retrainings are rarely wanted)")


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `tfx-prod schedule`: a KFP recurring run or a k8s CronJob."""
    _add_connection_arguments(parser)
    add_trigger_arguments(parser)
    parser.add_argument("--name", default="tfx-prod",
                        help="pipeline / recurring run / CronJob name (default: %(default)s)")
    parser.add_argument(
        "--emit", choices=["k8s", "cron", "systemd"],
        help="do not contact KFP. k8s: write a validated batch/v1 CronJob that "
             "runs `tfx-prod submit` from --image. With --local, cron: a "
             "crontab line running `tfx-prod run`; systemd: a timer + "
             "service (or, with --on, the local scheduler as a service)")
    parser.add_argument("--image", help="with --emit k8s: an image holding tfx-prod "
                                        "(the package goes in a ConfigMap)")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="with --emit: write there instead of stdout (systemd: a "
             "directory for the unit files)")
    from tfx_prod import schedule_local
    schedule_local.add_arguments(parser)


def _params(args: argparse.Namespace) -> dict:
    """Compile's recorded values (PACKAGE.params.json), then --param on top.

    Also fills --pipeline-root from there when it is not given.
    """
    sidecar = f"{args.package}.params.json"
    recorded = {}
    if os.path.exists(sidecar):
        with open(sidecar, encoding="utf-8") as f:
            compiled = json.load(f)
        recorded = {k: str(v) for k, v in compiled.get("parameters", {}).items()}
        if args.pipeline_root is None:
            args.pipeline_root = compiled.get("pipeline_root")
    return {**recorded, **kfp_submit.parse_params(args.param)}


def submit_main(args: argparse.Namespace) -> int:
    def go() -> int:
        result = kfp_submit.submit(
            args.package, args.host, _params(args),
            experiment=args.experiment, run_name=args.run_name,
            pipeline_root=args.pipeline_root, token_file=args.token_file,
            namespace=args.namespace, wait=args.wait, timeout=args.timeout)
        print(f"run id: {result.run_id} (experiment {args.experiment}, KFP caching off)")
        if result.state is not None:
            print(f"run state: {result.state}")
            return 0 if result.state.lower() == "succeeded" else 1
        return 0
    return _guarded(go)


def schedule_main(args: argparse.Namespace) -> int:
    if args.emit in ("cron", "systemd") and not args.local:
        print(f"error: --emit {args.emit} schedules local runs: add --local "
              "(--emit k8s is the Kubernetes form)", file=sys.stderr)
        return 2
    if args.local:
        from tfx_prod import schedule_local
        return schedule_local.main(args)
    if args.triggers or args.run_args:
        print("error: --on and run flags after -- need --local (Kubeflow "
              "schedules on --cron only)", file=sys.stderr)
        return 2
    args.cron = args.cron or DEFAULT_CRON

    def go() -> int:
        params = _params(args)
        if args.emit == "k8s":
            return _emit_cronjob(args, params)
        result = kfp_submit.schedule(
            args.package, args.host, args.cron, params,
            max_concurrency=args.max_concurrency, catchup=args.catchup,
            timezone=args.timezone, name=args.name, experiment=args.experiment,
            pipeline_root=args.pipeline_root, token_file=args.token_file,
            namespace=args.namespace)
        print(f"KFP cron sent: {result.cron_sent} (from {result.cron_given}: "
              f"{kfp_submit.describe_cron(result.cron_given)})")
        print(f"max concurrency: {args.max_concurrency}, catchup: "
              f"{'on' if args.catchup else 'off'}")
        print(f"pipeline id: {result.pipeline_id}, version id: {result.version_id}")
        print(f"recurring run id: {result.recurring_run_id}")
        return 0
    return _guarded(go)


def _emit_cronjob(args: argparse.Namespace, params: dict) -> int:
    if not args.image:
        raise ValueError("--emit k8s needs --image (the image the CronJob runs)")
    if not args.host:
        raise ValueError(f"--emit k8s needs --host (or ${ENDPOINT_ENV}): the "
                         "pod submits to it")
    # The same checks as a submit: the pod must not fail on a bad package.
    kfp_submit.check_params(args.package, params)
    with open(args.package, encoding="utf-8") as f:
        config_map = cronjob.package_config_map(args.name, f.read(),
                                                namespace=args.namespace)
    manifest = cronjob.cronjob_manifest(
        args.name, args.cron, args.image, args.host, params,
        pipeline_root=args.pipeline_root, timezone=args.timezone,
        namespace=args.namespace)
    cronjob.validate_config_map(config_map)
    cronjob.validate_cronjob(manifest)
    text = cronjob.to_yaml(config_map, manifest)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote ConfigMap {config_map['metadata']['name']} (the package) "
              f"and CronJob {args.name} to {args.output} (schedule "
              f"'{args.cron}', {args.timezone or 'controller zone'}); "
              f"kubectl apply -f {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _guarded(go) -> int:
    """Bad input -> exit 2, server trouble -> exit 1; one line on stderr."""
    try:
        return go()
    except ValueError as e:  # includes kfp_submit.InputError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except kfp_submit.SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
