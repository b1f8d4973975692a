"""TF Serving's REST API (`http_rest_api_handler.cc`) on `serving.http`.

Paths, regexes (case-insensitive), response keys and error wording follow
TF Serving 2.16; the request Content-Type is ignored, as TF Serving does.
"""
import asyncio
import json
import re
import time
import urllib.parse
from typing import Optional

from serving import examples as examples_lib
from serving import json_codec, model_info, online as online_lib
from serving.signatures import find_signature
from serving.http import TEXT, Request, Response
from serving.status import (Code, ServingError, from_exception, http_status,
                            invalid_argument)

_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)", re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?", re.IGNORECASE)
_FEEDBACK_PATH = re.compile(r"/v1/models/([^/:]+)/feedback", re.IGNORECASE)
_V1 = re.compile(r"/v1/", re.IGNORECASE)
_API_NAMES = {"predict": "predict", "classify": "classify", "regress": "regress"}


def _error(error: ServingError) -> Response:
    return Response(http_status(error.code), json_codec.error_body(error.message))


def _json(document, status: int = 200) -> Response:
    return Response(status, json.dumps(document, indent=2).encode())


def _with_id(response: Response, request_id: Optional[str]) -> Response:
    """Echoes the request id; the JSON body stays TF Serving's."""
    if request_id:
        response.headers = (*response.headers,
                            (b"X-Request-Id", request_id.encode("ascii")))
    return response


def _version(text: Optional[str]) -> Optional[int]:
    if not text:
        return None
    number = int(text)
    if number >= 2**63:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return number


class RestApi:
    def __init__(self, core, manager, metrics, prometheus_path: Optional[str],
                 timeout_s: float, rollout_key=None, admin=None,
                 online=None):
        self.core, self.manager, self.metrics = core, manager, metrics
        self.prometheus_path = prometheus_path
        self.timeout_s = timeout_s
        # (headers, body bytes) -> the request's sticky rollout key or None
        self.rollout_key = rollout_key
        # serving.rollout_rest.AdminApi: the rollout endpoints
        self.admin = admin
        # serving.online.Online: request ids, feedback, the prediction log
        self.online = online

    def handle(self, request: Request):
        path, method = request.path, request.method
        if method == "GET" and path == self.prometheus_path:
            return Response(200, self.metrics.page().encode(), TEXT)
        if not _V1.match(path):
            return Response(404, json_codec.error_body(
                f"Not found: {path} (the REST API lives under /v1/models)"))
        malformed = invalid_argument(f"Malformed request: {method} {path}")
        match = _FEEDBACK_PATH.fullmatch(path)
        if match is not None:
            return self._feedback(urllib.parse.unquote(match.group(1)),
                                  request)
        if self.admin is not None:
            response = self.admin.handle(request)
            if response is not None:
                return response
        try:
            if method == "POST":
                match = _PREDICT_PATH.fullmatch(path)
                if match is None:
                    raise malformed
                name, version, label, verb = match.groups()
                name = urllib.parse.unquote(name)
                label = urllib.parse.unquote(label) if label else None
                return self._infer(name, _version(version), label,
                                   verb.lower(), request)
            if method == "GET":
                match = _STATUS_PATH.fullmatch(path)
                if match is None:
                    raise malformed
                name, version, label, metadata = match.groups()
                if not name:
                    raise invalid_argument("Missing model name in request.")
                name = urllib.parse.unquote(name)
                label = urllib.parse.unquote(label) if label else None
                return self._get(name, _version(version), label, bool(metadata))
            raise malformed
        except ServingError as e:
            return _error(e)

    def _feedback(self, name: str, request: Request) -> Response:
        """POST /v1/models/{name}/feedback: labels for logged predictions."""
        if request.method != "POST":
            return _error(invalid_argument(
                f"{request.method} {request.path}: POST the labels, e.g. "
                f"{online_lib.feedback.BODY_EXAMPLE}"))
        if name not in self.manager.model_names():
            return _error(ServingError(Code.NOT_FOUND, (
                f"no model named {name!r} (this server has: "
                f"{', '.join(self.manager.model_names())})")))
        if self.online is None:
            return _error(ServingError(Code.FAILED_PRECONDITION,
                                       online_lib.FEEDBACK_OFF))
        try:
            return _json(self.online.post_feedback(name, request.body))
        except ServingError as e:
            return _error(e)

    def _get(self, name, version, label, metadata: bool) -> Response:
        started = time.perf_counter()
        try:
            if metadata:
                servable = self.manager.resolve(name, version, label)
                document = model_info.metadata_json(servable)
            else:
                document = model_info.status_json(
                    model_info.status_response(self.manager, name, version))
        except ServingError as e:
            self.core.record(name, "", "REST", e, started)
            return _error(e)
        self.core.record(name, "", "REST", None, started)
        return _json(document)

    async def _infer(self, name, version, label, verb: str, request: Request):
        started = time.perf_counter()
        api = _API_NAMES[verb]
        request_id = None
        try:
            request_id = online_lib.request_id(
                request.headers.get(online_lib.REQUEST_ID_HEADER),
                make=self.online is not None and verb != "regress")
            key = self.rollout_key(request.headers, request.body) \
                if self.rollout_key else None
            servable, fallback = self.manager.route(name, version, label, key)
            document = json_codec.parse_json(request.body)
        except Exception as e:
            error = from_exception(e)
            self.core.record(name, api, "REST", error, started)
            return _with_id(_error(error), request_id)
        attempt = time.perf_counter()
        response, error = await self._run(servable, verb, document, request_id)
        if error is not None and error.model_error and fallback is not None:
            # The canary failed where stable may not: count the canary's
            # failure, answer from stable.
            self.core.record_attempt(servable, error, attempt)
            attempt, servable = time.perf_counter(), fallback
            response, error = await self._run(servable, verb, document,
                                              request_id)
        self.core.record(name, api, "REST", error, started, servable, attempt)
        return _with_id(_error(error) if error is not None else response,
                        request_id)

    async def _run(self, servable, verb: str, document, request_id=None):
        """-> (response, None) or (None, ServingError); never raises."""
        try:
            signature_name = json_codec.signature_name(document)
            work = (self._predict if verb == "predict" else self._examples)(
                servable, signature_name, document, verb, request_id)
            return await asyncio.wait_for(work, self.timeout_s), None
        except asyncio.TimeoutError:
            return None, ServingError(Code.DEADLINE_EXCEEDED,
                                      f"Request timed out after "
                                      f"{self.timeout_s * 1000:.0f} ms "
                                      "(--rest_api_timeout_in_ms)")
        except Exception as e:  # every failure is a status, never a trace
            return None, from_exception(e)

    async def _predict(self, servable, signature_name, document, verb,
                       request_id=None):
        signature = find_signature(servable.signatures, signature_name, rest=True)
        inputs, row_format = json_codec.predict_inputs(document, signature.inputs)
        _, outputs = await self.core.predict(servable, signature.key, inputs,
                                             rest=True, api="predict",
                                             request_id=request_id)
        return Response(200, json_codec.predict_response(outputs, row_format))

    async def _examples(self, servable, signature_name, document, verb,
                        request_id=None):
        dicts, serialized = examples_lib.from_json_request(document, verb)
        if verb == "classify":
            _, rows = await self.core.classify(servable, signature_name, dicts,
                                               serialized, rest=True,
                                               api="classify",
                                               request_id=request_id)
            body = "[" + ", ".join(
                "[" + ", ".join(f"[{json.dumps(label)}, "
                                f"{json_codec.format_float32(score)}]"
                                for label, score in row) + "]"
                for row in rows) + "]"
        else:
            _, values = await self.core.regress(servable, signature_name, dicts,
                                                serialized, rest=True,
                                                api="regress")
            body = "[" + ", ".join(json_codec.format_float32(v)
                                   for v in values) + "]"
        return Response(200, ('{"results": ' + body + "}").encode())

