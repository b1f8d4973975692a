"""REST endpoints TF Serving does not have: rollout control and status.

    GET  /v1/models/{name}/rollout[?history=N]   state, live verdict, events
    POST /v1/models/{name}/rollout               {"canary": V, "steps": [5, 50, 100],
                                                  "hold_seconds": 600}
    POST /v1/models/{name}/rollout:promote
    POST /v1/models/{name}/rollout:abort

Changing a rollout is allowed from loopback only (in Kubernetes, reach it
with `kubectl port-forward`), unless the server runs with
--allow_remote_admin: the inference port is often exposed, the controls must
not be. `tfx-prod rollout` is the client.
"""
import ipaddress
import json
import re
import urllib.parse
from typing import Optional

from serving import json_codec
from serving.http import Request, Response
from serving.rollout import RolloutError
from serving.status import Code, http_status

_ROLLOUT_PATH = re.compile(
    r"/v1/models/([^/:]+)/(rollout(?::promote|:abort)?)", re.IGNORECASE)
ROLLOUTS_OFF = ("rollouts are off on this server: start it with "
                "--enable_rollouts (operator-driven) or --auto_canary")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _error(code: Code, message: str) -> Response:
    return Response(http_status(code), json_codec.error_body(message))


def _json(document, status: int = 200) -> Response:
    return Response(status, json.dumps(document, indent=2).encode())


class AdminApi:
    def __init__(self, rollouts, manager, allow_remote: bool = False,
                 online=None):
        self.rollouts, self.manager = rollouts, manager
        self.allow_remote = allow_remote
        self.online = online      # serving.online.Online: per-version labels

    def handle(self, request: Request) -> Optional[Response]:
        """A Response for the paths above, None for any other path."""
        match = _ROLLOUT_PATH.fullmatch(request.path)
        if match is None:
            return None
        name = urllib.parse.unquote(match.group(1))
        action = match.group(2).lower().partition(":")[2]
        if name not in self.manager.model_names():
            return _error(Code.NOT_FOUND, f"no model named {name!r} (this "
                          f"server has: {', '.join(self.manager.model_names())})")
        if self.rollouts is None:
            return _error(Code.FAILED_PRECONDITION, ROLLOUTS_OFF)
        if request.method == "GET" and not action:
            return self._status(name, request.query)
        if request.method != "POST":
            return _error(Code.INVALID_ARGUMENT,
                          f"{request.method} {request.path}: use GET for the "
                          "status, POST to change the rollout")
        if not (self.allow_remote or _is_loopback(request.peer)):
            return _error(Code.PERMISSION_DENIED,
                          f"rollout changes are accepted from "
                          f"loopback only (request from {request.peer}); use "
                          "kubectl port-forward, or run the server with "
                          "--allow_remote_admin")
        try:
            if action == "promote":
                return _json(self.rollouts.promote(name))
            if action == "abort":
                return _json(self.rollouts.abort(name))
            return _json(self._start(name, request.body))
        except RolloutError as e:
            return _error(Code.FAILED_PRECONDITION, str(e))

    def _status(self, name: str, query: str) -> Response:
        document = self.rollouts.status(name)
        if self.online is not None and self.online.store is not None:
            document["online"] = self.online.versions(name)
        params = urllib.parse.parse_qs(query)
        if "history" in params:
            try:
                limit = int(params["history"][0] or 0)
            except ValueError:
                return _error(Code.INVALID_ARGUMENT,
                              "history=N: N must be a whole number")
            document["history"] = self.rollouts.store.history(name, limit)
        return _json(document)

    def _start(self, name: str, body: bytes) -> dict:
        try:
            document = json.loads(body or b"{}")
        except ValueError as e:
            raise RolloutError(f"the body is not JSON: {e}") from None
        if not isinstance(document, dict) or not isinstance(
                document.get("canary"), int) or isinstance(
                document.get("canary"), bool):
            raise RolloutError('the body must be {"canary": VERSION, '
                               '"steps": [5, 50, 100], "hold_seconds": 600} '
                               '(steps and hold_seconds optional)')
        hold = document.get("hold_seconds")
        if hold is not None and (not isinstance(hold, (int, float))
                                 or hold < 0):
            raise RolloutError("hold_seconds must be a number >= 0")
        available = {s.version for s in self.manager.served()
                     if s.model_name == name}
        on_disk = self.manager.loadable_versions(name)
        canary = document["canary"]
        if canary not in available and canary not in on_disk:
            raise RolloutError(
                f"version {canary} of {name} is not a complete version on "
                f"disk (complete: {sorted(on_disk) or 'none'})")
        return self.rollouts.start(name, canary, document.get("steps"), hold)


def rollout_key_reader(header: str, feature: Optional[str]):
    """(headers, REST body or None) -> the sticky key: the header's value,
    else the feature's value in the first row, else None (random)."""
    header = header.lower()

    def read(headers: dict, body: Optional[bytes]) -> Optional[str]:
        value = headers.get(header)
        if value:
            return str(value)
        if feature and body:
            return first_row_value(body, feature)
        return None
    return read


def first_row_value(body: bytes, feature: str) -> Optional[str]:
    """`feature`'s value in a REST body's first row (row or columnar
    format), as text; None when absent or unreadable (the request itself is
    validated later, by the normal path)."""
    try:
        document = json.loads(body)
        if "instances" in document:
            value = document["instances"][0][feature]
        else:
            value = document["inputs"][feature][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)
