"""A loopback FAKE of the KFP v2beta1 REST API, for tests only.

Why: there is no Kubeflow cluster here, yet submit/schedule must be proven
with the real `kfp.Client` on the wire. This server answers the few endpoints
the client calls with the minimal replies it accepts, and records every
request (method, path, query, headers, body bytes, uploaded files) so tests
can assert on exactly what a real API server would have received. It does not
validate specs, run anything, or model multi-user mode.
"""
import dataclasses
import http.server
import json
import re
import threading
import urllib.parse
from typing import Dict, List, Tuple

API = "/apis/v2beta1"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]  # lower-case names
    body: bytes
    files: Dict[str, bytes]  # multipart field name -> uploaded bytes

    def json(self):
        return json.loads(self.body)


class FakeKfp:
    """`with FakeKfp() as kfp: Client(host=kfp.url)`; see `requests`, `fail`."""

    def __init__(self, run_state: str = "SUCCEEDED"):
        self.run_state = run_state
        self.requests: List[Request] = []
        self._failures: Dict[Tuple[str, str], Tuple[int, str]] = {}
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeKfp":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, path: str, status: int = 500,
             message: str = "internal error") -> None:
        """Make `method path` (e.g. "POST", "/apis/v2beta1/runs") answer an error."""
        self._failures[(method, path)] = (status, message)

    def find(self, method: str, path: str) -> List[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def reply(self, request: Request) -> Tuple[int, dict]:
        failure = self._failures.get((request.method, request.path))
        if failure:
            status, message = failure
            return status, {"error": message, "code": 3 if status == 400 else 13,
                            "message": message}
        route = (request.method, request.path)
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", f"{API}/experiments") or route == ("GET", f"{API}/pipelines"):
            return 200, {}  # nothing matches the name filter
        if route == ("POST", f"{API}/experiments"):
            return 200, {"experiment_id": "exp-1", **request.json()}
        if route == ("POST", f"{API}/runs"):
            return 200, {"run_id": "run-1", "state": "PENDING"}
        if request.method == "GET" and request.path.startswith(f"{API}/runs/"):
            return 200, {"run_id": request.path.rsplit("/", 1)[1], "state": self.run_state}
        if route == ("POST", f"{API}/pipelines/upload"):
            return 200, {"pipeline_id": "pipe-1", "display_name": request.query.get("name", "")}
        if route == ("POST", f"{API}/pipelines/upload_version"):
            return 200, {"pipeline_id": request.query.get("pipelineid", ""),
                         "pipeline_version_id": "ver-1"}
        if route == ("POST", f"{API}/recurringruns"):
            return 200, {"recurring_run_id": "rr-1"}
        return 404, {"error": "not found", "code": 5, "message": f"fake has no {route}"}


def _multipart_files(content_type: str, body: bytes) -> Dict[str, bytes]:
    """Byte-exact multipart split (email.parser may normalise line endings)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    files = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, content = part[2:].partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            files[name.group(1).decode()] = content[:-2]  # the CRLF before the boundary
    return files


def _handler(fake: FakeKfp):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(
                method=self.command, path=url.path,
                query=dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body, files=_multipart_files(self.headers.get("Content-Type", ""), body))
            fake.requests.append(request)
            status, payload = fake.reply(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    return Handler
