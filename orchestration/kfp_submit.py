"""Submit and schedule a compiled pipeline on Kubeflow Pipelines v2 via `kfp.Client`.

Why a layer over kfp.Client: KFP's recurring-run cron has 6 fields (seconds
first), the compiled TFX spec carries no parameter defaults, and client errors
arrive as raw HTTP dumps. These functions check all of that before anything
is sent and turn failures into one `SubmitError` sentence.
"""
import contextlib
import dataclasses
import datetime
import json
import warnings
import zoneinfo
from typing import Dict, Iterator, List, Mapping, Optional

import yaml

from pipeline import kubeflow_check

PACKAGE_SUFFIXES = (".yaml", ".yml")  # bare PipelineSpec; kfp 2.5 refuses .json
MAX_CONCURRENCY = range(1, 11)  # server rule for recurring runs
RUN_DONE = ("succeeded", "failed", "skipped", "error")  # kfp's wait list


class SubmitError(Exception):
    """A submission failed: the KFP API server (or the way to it) said no."""


class InputError(SubmitError, ValueError):
    """Refused before sending: the package, parameters or flags are wrong."""


def to_kfp_cron(five_field: str) -> str:
    """Standard 5-field cron -> KFP's 6-field, seconds-first cron.

    A 5-field string sent as-is parses on KFP as sec/min/hour..., so
    "0 3 * * *" would run hourly at :03 instead of daily at 03:00.
    """
    fields = five_field.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {five_field!r} has {len(fields)} fields; give the standard 5 "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'. "
            "KFP's own format is 6 fields with seconds first; the seconds "
            "field (0) is added for you.")
    return " ".join(["0"] + fields)


def describe_cron(five_field: str) -> str:
    """A human reading of the simple daily case; the raw fields otherwise."""
    minute, hour, dom, month, dow = five_field.split()
    if minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*",) * 3:
        return f"daily {int(hour):02d}:{int(minute):02d} UTC"
    return f"minute={minute} hour={hour} day={dom} month={month} weekday={dow}, UTC"


def parse_params(pairs: Optional[List[str]]) -> Dict[str, str]:
    """["k=v", ...] -> {"k": "v"}; the value may itself contain '='."""
    params: Dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"parameter {pair!r} is not NAME=VALUE")
        if name.strip() in params:
            raise ValueError(f"parameter {name.strip()!r} given twice")
        params[name.strip()] = value
    return params


def check_params(package_path: str, params: Mapping[str, str]) -> Dict[str, object]:
    """Every root parameter supplied, none unknown; values typed per the spec.

    The spec has no defaults, so a missing one only fails later in the KFP
    driver ("neither value nor default value provided"). The rule is
    kubeflow_check's, the one `tfx-prod compile` applies.
    """
    spec = _load_spec(package_path)
    # The whole backend check: a hand-edited or stale spec fails here, not
    # at run creation on the cluster.
    found = kubeflow_check.problems(spec, params)
    if found:
        raise InputError(f"{package_path}: " + "; ".join(found))
    return {name: _typed(name, params[name],
                         d.get("parameterType") or d.get("type", "STRING"))
            for name, d in kubeflow_check.root_parameters(spec).items()}


def client(host: str, token_file: Optional[str] = None,
           namespace: Optional[str] = None):
    """A real kfp.Client; the token file's content becomes `Bearer <token>`."""
    import kfp
    if not host:
        raise InputError("no KFP host: pass --host or set KF_PIPELINES_ENDPOINT")
    kwargs = {"host": host}
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                kwargs["existing_token"] = f.read().strip()
        except OSError as e:
            raise InputError(f"cannot read token file {token_file}: {e.strerror}") from e
    if namespace:
        kwargs["namespace"] = namespace
    with _server_errors(host, "connect (healthz)"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # kfp warns on every Client()
        return kfp.Client(**kwargs)


@dataclasses.dataclass
class RunResult:
    run_id: str
    state: Optional[str] = None


def submit(package_path: str, host: str, params: Mapping[str, str],
           experiment: str = "tfx-prod", run_name: Optional[str] = None,
           pipeline_root: Optional[str] = None, token_file: Optional[str] = None,
           namespace: Optional[str] = None, wait: bool = False,
           timeout: int = 6 * 3600) -> RunResult:
    """One run from the local package, KFP caching off (see module docstring)."""
    arguments = _checked(package_path, params)
    kfp_client = client(host, token_file, namespace)
    with _server_errors(host, "create run"):
        result = kfp_client.create_run_from_pipeline_package(
            package_path, arguments=arguments, run_name=run_name,
            experiment_name=experiment, namespace=namespace,
            pipeline_root=pipeline_root, enable_caching=False)
    out = RunResult(run_id=result.run_id)
    if wait:
        with _server_errors(host, f"wait for run {out.run_id}"):
            run = kfp_client.wait_for_run_completion(out.run_id, timeout)
        out.state = run.state
    return out


@dataclasses.dataclass
class ScheduleResult:
    cron_given: str
    cron_sent: str
    experiment_id: str
    pipeline_id: str
    version_id: str
    recurring_run_id: str


def schedule(package_path: str, host: str, cron5: str, params: Mapping[str, str],
             max_concurrency: int = 1, catchup: bool = False,
             timezone: Optional[str] = None, name: str = "tfx-prod",
             experiment: str = "tfx-prod", pipeline_root: Optional[str] = None,
             token_file: Optional[str] = None,
             namespace: Optional[str] = None) -> ScheduleResult:
    """Upload the package as a pipeline version and create a recurring run on it.

    Runs reference the uploaded version, where kfp ignores enable_caching, so
    the caching decision must already be in the compiled spec.
    """
    cron_sent = check_trigger(cron5, max_concurrency, timezone)
    arguments = _checked(package_path, params)
    kfp_client = client(host, token_file, namespace)
    with _server_errors(host, "upload pipeline"):
        pipeline_id = kfp_client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline_id = kfp_client.upload_pipeline(
                package_path, pipeline_name=name, namespace=namespace).pipeline_id
    version_name = f"{name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
    with _server_errors(host, "upload pipeline version"):
        version_id = kfp_client.upload_pipeline_version(
            package_path, version_name, pipeline_id=pipeline_id).pipeline_version_id
    with _server_errors(host, f"create experiment {experiment!r}"):
        experiment_id = kfp_client.create_experiment(
            experiment, namespace=namespace).experiment_id
    with _server_errors(host, "create recurring run"):
        job = kfp_client.create_recurring_run(
            experiment_id, name, cron_expression=cron_sent,
            max_concurrency=max_concurrency, no_catchup=not catchup,
            params=arguments, pipeline_id=pipeline_id, version_id=version_id,
            pipeline_root=pipeline_root)
    return ScheduleResult(cron5, cron_sent, experiment_id, pipeline_id,
                          version_id, job.recurring_run_id)


def check_trigger(cron5: str, max_concurrency: int,
                  timezone: Optional[str]) -> str:
    """Validate schedule settings before any request; returns the KFP cron."""
    if max_concurrency not in MAX_CONCURRENCY:
        raise ValueError(f"max concurrency {max_concurrency} is outside KFP's 1..10")
    check_timezone(timezone)
    if timezone and any(zoneinfo.ZoneInfo(timezone).utcoffset(
            datetime.datetime(2000, month, 1)) for month in (1, 7)):  # DST too
        raise ValueError(
            f"timezone {timezone!r}: KFP cron has no timezone field and runs "
            "in the API server's zone (UTC). Write the cron in UTC, or use "
            "--emit k8s, whose CronJob honours timeZone.")
    return to_kfp_cron(cron5)


def check_timezone(timezone: Optional[str]) -> None:
    """An IANA zone name known to this machine, or None."""
    if timezone is None:
        return
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown timezone {timezone!r} (use an IANA name "
                         "such as 'UTC' or 'Europe/Berlin')") from e


def _checked(package_path: str, params: Mapping[str, str]) -> Dict[str, object]:
    if not package_path.endswith(PACKAGE_SUFFIXES):
        raise InputError(f"{package_path}: expected the bare PipelineSpec YAML "
                          "from `tfx-prod compile` (.yaml/.yml)")
    return check_params(package_path, params)


def _load_spec(package_path: str) -> dict:
    try:
        spec = kubeflow_check.load(package_path)
    except OSError as e:
        raise InputError(f"cannot read package {package_path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise InputError(f"{package_path} is not YAML: {e}") from e
    except kubeflow_check.SpecError as e:
        raise InputError(str(e)) from e
    if "root" not in spec:
        raise InputError(f"{package_path} is not a PipelineSpec (no `root`)")
    return spec


def _typed(name: str, value: str, kind: str) -> object:
    """CLI strings -> the JSON type the spec declares (KFP does not coerce)."""
    try:
        if kind in ("NUMBER_INTEGER", "INT"):
            return int(value)
        if kind in ("NUMBER_DOUBLE", "DOUBLE"):
            return float(value)
        if kind == "BOOLEAN":
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
    except ValueError:
        raise InputError(f"parameter {name}={value!r} is not a {kind}") from None
    if kind in ("STRUCT", "LIST"):
        try:
            return json.loads(value)
        except ValueError:
            raise InputError(f"parameter {name} ({kind}) needs JSON, got {value!r}") from None
    return value


@contextlib.contextmanager
def _server_errors(host: str, what: str) -> Iterator[None]:
    """Any kfp/HTTP failure -> SubmitError(host, step, server's message)."""
    from kfp_server_api.exceptions import ApiException
    try:
        yield
    except SubmitError:
        raise
    except ApiException as e:
        raise SubmitError(f"KFP at {host}: {what} failed: HTTP {e.status} "
                          f"{e.reason}: {_server_message(e.body)}") from e
    except Exception as e:  # urllib3, TimeoutError, kfp's ValueErrors
        raise SubmitError(f"KFP at {host}: {what} failed: "
                          f"{type(e).__name__}: {e}") from e


def _server_message(body) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
        return data.get("message") or data.get("error") or body
    except (TypeError, ValueError, AttributeError):
        return str(body).strip() or "(empty body)"
