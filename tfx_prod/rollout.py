"""`tfx-prod rollout start|status|promote|abort|feedback`: a client of the
server's rollout endpoints (serving/rollout_rest.py) and of its feedback
endpoint (serving/online.py); the server decides, this command only asks,
sends and prints."""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_SERVER = "http://127.0.0.1:8501"
FEEDBACK_BATCH = 500

EPILOG = """\
examples:
  tfx-prod serve --auto_canary                 # each push rolls out by itself
  tfx-prod rollout status --history            # where traffic is, and why
  tfx-prod rollout start --canary 1733170000 --steps 5,50,100 --hold 10m
  tfx-prod rollout promote                     # skip the remaining steps
  tfx-prod rollout abort                       # all traffic back to stable
  tfx-prod rollout feedback labels.jsonl       # join ground truth (JSON lines:
                                               # {"request_id": ID, "labels": [1, 0]})

Changes are accepted from loopback only (Kubernetes: kubectl port-forward)."""


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use e.g. 90s, 10m, 1h)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    actions = parser.add_subparsers(dest="rollout_command", required=True,
                                    metavar="ACTION")
    start = actions.add_parser("start", help="start a canary rollout")
    start.add_argument("--canary", type=int, required=True, metavar="VERSION",
                       help="the pushed version to roll out")
    start.add_argument("--steps", metavar="P,P,100",
                       help="canary percents, rising, ending at 100 (default: "
                            "the server's --rollout_steps)")
    start.add_argument("--hold", type=parse_duration, metavar="DURATION",
                       help="time each step must stay within bounds, e.g. "
                            "10m (default: the server's "
                            "--rollout_hold_seconds)")
    status = actions.add_parser("status", help="state, live verdict, events")
    status.add_argument("--history", action="store_true",
                        help="also print every decision so far")
    actions.add_parser("promote", help="make the canary stable now")
    actions.add_parser("abort", help="send all traffic back to stable now")
    feedback = actions.add_parser(
        "feedback", help="post a JSON-lines file of labels for served "
                         "predictions (server with --enable_feedback)")
    feedback.add_argument("file", metavar="FILE",
                          help='one {"request_id": ID, "labels": [...]} per '
                               "line (any tf.io.gfile path)")
    feedback.add_argument("--batch", type=int, default=FEEDBACK_BATCH,
                          metavar="N", help="items per request (default: "
                                            "%(default)s)")
    for action in actions.choices.values():
        action.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                            help="the server's REST address (default: "
                                 "%(default)s)")
        action.add_argument("--model", metavar="NAME",
                            help="model name (default: the project's, as "
                                 "`tfx-prod serve` serves it)")
        action.add_argument("--config", metavar="FILE",
                            help="project file that names the model")
        action.add_argument("--json", action="store_true",
                            help="print the server's JSON")


class ServerError(Exception):
    pass


def _call(url: str, data: bytes = None) -> dict:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]
        except (ValueError, KeyError):
            message = f"HTTP {e.code}"
        raise ServerError(message) from None
    except (urllib.error.URLError, OSError) as e:
        raise ServerError(f"cannot reach {url}: {e}; is `tfx-prod serve` "
                          "running there (--server)?") from None


def _model(args) -> str:
    if args.model:
        return args.model
    from pipeline import configs
    from tfx_prod.serve import project_model
    return project_model(args.config or str(configs.DEFAULT_PROJECT))


def _clock(epoch) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) \
        if epoch else "-"


def _side(numbers: dict) -> str:
    p99 = numbers.get("p99_ms")
    return (f"{numbers['requests']} req, {numbers['model_errors']} model "
            f"errors, P99 {'-' if p99 is None else f'{p99:.1f} ms'}")


def describe(state: dict) -> list:
    """Human lines for a status document."""
    name = state["model_name"]
    lines = []
    if state["state"] == "running":
        steps = " -> ".join(f"{s:g}" for s in state["steps"])
        lines.append(f"{name}: canary {state['canary']} at "
                     f"{state['percent']:g}% (steps {steps}), stable "
                     f"{state['stable']}")
        lines.append(f"  step {state['step'] + 1}/{len(state['steps'])} "
                     f"started {_clock(state['step_started'])}, holds "
                     f"{state['hold_seconds']:g}s")
        verdict = state.get("verdict") or {}
        numbers = verdict.get("numbers") or {}
        if numbers:
            judged = ("within bounds" if verdict.get("ready") else
                      "not enough traffic to judge yet")
            lines.append(f"  {judged}: canary {_side(numbers['canary'])} | "
                         f"stable {_side(numbers['stable'])} | confidence "
                         f"distance {numbers['confidence_distance']:.3f}")
    else:
        lines.append(f"{name}: no rollout running ({state['state']}); stable "
                     f"{state['stable']}")
        if state.get("reason"):
            lines.append(f"  last decision: {state['reason']}")
    if state.get("rejected"):
        lines.append(f"  rolled back, not auto-canaried again: "
                     f"{', '.join(map(str, state['rejected']))}")
    lines.extend(_online_lines(state))
    evidence = state.get("evidence")
    if evidence:
        verdict = ("passed" if evidence.get("passed") else "worse: rolls back"
                   if evidence.get("worse") else "holding")
        p_value = evidence.get("p_value")
        lines.append(f"  A/B {evidence.get('metric', '')} ({verdict}): p="
                     f"{'-' if p_value is None else f'{p_value:.3g}'}, n="
                     f"{evidence.get('n_canary')} canary / "
                     f"{evidence.get('n_stable')} stable")
        lines.append(f"    {evidence.get('reason', '')}")
    for event in state.get("history", ()):
        lines.append(f"  {_clock(event['time'])} {event['event']:<8} "
                     f"{event.get('reason', '')}")
        numbers = event.get("numbers")
        if numbers:
            lines.append(f"{'':23}canary {_side(numbers['canary'])} | stable "
                         f"{_side(numbers['stable'])} | confidence distance "
                         f"{numbers['confidence_distance']:.3f}")
    return lines


def _online_lines(state: dict) -> list:
    roles = {str(state.get("stable")): "stable", str(state.get("canary")):
             "canary"}
    lines = []
    for version, online in sorted(state.get("online", {}).items()):
        auc = online.get("auc")
        accuracy = online.get("accuracy")
        lines.append(
            f"  online {roles.get(version, 'version')} {version}: accuracy "
            f"{'-' if accuracy is None else f'{accuracy:.4f}'}, AUC "
            f"{'-' if auc is None else f'{auc:.4f}'} ({online['n']} "
            "labelled rows)")
    return lines


def post_feedback(url: str, path: str, batch: int) -> dict:
    """Posts the file's items `batch` at a time -> the summed answers."""
    from serving.feedback import read_feedback_file
    items = read_feedback_file(path)
    total = {"items": len(items), "joined": 0, "rows": 0, "correct": 0,
             "rejected": []}
    for start in range(0, len(items), batch):
        chunk = [{"request_id": rid, "labels": labels}
                 for rid, labels in items[start:start + batch]]
        answer = _call(url, json.dumps({"feedback": chunk}).encode())
        for key in ("joined", "rows", "correct"):
            total[key] += answer[key]
        total["rejected"] += [{**r, "index": r["index"] + start}
                              for r in answer["rejected"]]
    return total


def _feedback(args, url: str) -> int:
    from serving.status import ServingError
    if args.batch < 1:
        print("tfx-prod rollout feedback: --batch must be >= 1",
              file=sys.stderr)
        return 2
    try:
        total = post_feedback(url, args.file, args.batch)
    except ServingError as e:      # the file: unreadable or a bad line
        print(f"tfx-prod rollout feedback: {e.message}", file=sys.stderr)
        return 2
    except ServerError as e:
        print(f"tfx-prod rollout feedback: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(total, indent=2, sort_keys=True))
    else:
        print(f"{args.file}: joined {total['joined']} of {total['items']} "
              f"items ({total['rows']} rows, {total['correct']} predicted "
              f"right); {len(total['rejected'])} rejected")
        for rejected in total["rejected"][:10]:
            print(f"  item {rejected['index'] + 1} (request "
                  f"{rejected['request_id']}): {rejected['error']}")
    return 1 if total["rejected"] else 0


def main(args) -> int:
    try:
        model = _model(args)
    except Exception as e:  # a missing/invalid project file
        print(f"tfx-prod rollout: {e}; pass --model NAME", file=sys.stderr)
        return 2
    url = f"{args.server.rstrip('/')}/v1/models/{urllib.parse.quote(model)}/rollout"
    if args.rollout_command == "feedback":
        return _feedback(args, url[:-len("rollout")] + "feedback")
    try:
        if args.rollout_command == "status":
            document = _call(url + ("?history=0" if args.history else ""))
        elif args.rollout_command == "start":
            body = {"canary": args.canary}
            if args.steps:
                body["steps"] = args.steps
            if args.hold is not None:
                body["hold_seconds"] = args.hold
            document = _call(url, json.dumps(body).encode())
        else:
            document = _call(f"{url}:{args.rollout_command}", b"")
    except ServerError as e:
        print(f"tfx-prod rollout {args.rollout_command}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    elif "event" in document:
        print(f"{model}: {document['event']}: {document['reason']}")
    else:
        print("\n".join(describe(document)))
    return 0
