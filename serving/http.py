"""A small HTTP/1.1 server on asyncio + httptools (Node's llhttp parser).

Just what a model server needs, fast: keep-alive, pipelining answered in
order, `Expect: 100-continue`, gzip request bodies, a hard body-size limit
checked before the body is buffered, and no framework between the socket
and the handler. A handler takes a `Request` and returns a `Response` or an
awaitable of one; it never sees a malformed message (those get a 400 here).
"""
import asyncio
import collections
import dataclasses
import zlib
from typing import Callable

import httptools

from serving.status import HTTP_REASONS

JSON = b"application/json"
TEXT = b"text/plain"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict        # lower-case name -> value (str)
    body: bytes
    query: str = ""      # after '?', undecoded
    peer: str = ""       # the client's IP address


@dataclasses.dataclass
class Response:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple = ()  # extra (name, value) byte pairs


class BodyTooLarge(Exception):
    pass


_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode()
                 for code, reason in HTTP_REASONS.items()}


def _head(response: Response, keep_alive: bool) -> bytes:
    line = _STATUS_LINES.get(response.status) or \
        f"HTTP/1.1 {response.status} Unknown\r\n".encode()
    extra = b"".join(b"%s: %s\r\n" % pair for pair in response.headers)
    return b"%sContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n" % (
        line, response.content_type, len(response.body), extra,
        b"" if keep_alive else b"Connection: close\r\n")


class HttpProtocol(asyncio.Protocol):
    """One connection. `handler(request)`; `error_body(message)` renders the
    body of the 400/413 answers the protocol itself gives."""

    def __init__(self, handler: Callable, error_body: Callable,
                 max_body_bytes: int):
        self._handler = handler
        self._error_body = error_body
        self._max_body = max_body_bytes
        self._transport = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending = collections.deque()   # (future, keep_alive) in order
        self._closing = False
        self._reset()

    def _reset(self):
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._too_large = False

    # --- asyncio.Protocol ------------------------------------------------
    def connection_made(self, transport):
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if peer else ""

    def connection_lost(self, exc):
        self._closing = True
        for future, _ in self._pending:
            future.cancel()
        self._pending.clear()

    def data_received(self, data):
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "HTTP upgrades are not supported")
        except httptools.HttpParserError as e:
            self._fail(400, f"Malformed HTTP request: {e}")

    # --- httptools callbacks -----------------------------------------------
    def on_message_begin(self):
        self._reset()

    def on_url(self, url: bytes):
        self._url += url
        if len(self._url) > 65536:
            raise httptools.HttpParserError("URL longer than 64 KiB")

    def on_header(self, name: bytes, value: bytes):
        name = name.decode("latin-1").lower()
        self._headers[name] = value.decode("latin-1")
        if name == "content-length" and value.isdigit() and \
                int(value) > self._max_body:
            self._too_large = True

    def on_headers_complete(self):
        if len(self._headers) > 200:
            raise httptools.HttpParserError("more than 200 headers")
        if self._too_large:
            return
        if self._headers.get("expect", "").lower() == "100-continue":
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes):
        self._size += len(body)
        if self._size > self._max_body:
            self._too_large = True
            self._body = []
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self):
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method().decode("ascii", "replace")
        if self._too_large:
            self._respond_now(Response(400, self._error_body(
                f"request: body_size: the body exceeds {self._max_body} "
                "bytes (--max_request_bytes)")), keep_alive=False)
            return
        body = b"".join(self._body)
        if self._headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = self._gunzip(body)
            except BodyTooLarge:
                self._respond_now(Response(400, self._error_body(
                    f"request: body_size: the gzip body inflates past "
                    f"{self._max_body} bytes (--max_request_bytes)")),
                    keep_alive=False)
                return
            except zlib.error as e:
                self._respond_now(Response(400, self._error_body(
                    f"Content-Encoding gzip, but the body does not inflate: "
                    f"{e}")), keep_alive)
                return
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        request = Request(method, path, self._headers, body, query, self._peer)
        try:
            result = self._handler(request)
        except Exception as e:  # a handler bug must not kill the connection
            result = Response(500, self._error_body(f"{type(e).__name__}: {e}"))
        if isinstance(result, Response):
            self._respond_now(result, keep_alive)
        else:
            future = asyncio.ensure_future(result)
            self._pending.append((future, keep_alive))
            future.add_done_callback(self._flush)

    # --- writing ---------------------------------------------------------------
    def _gunzip(self, body: bytes) -> bytes:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, self._max_body + 1)
        if len(out) > self._max_body or inflater.unconsumed_tail:
            raise BodyTooLarge()
        return out

    def _respond_now(self, response: Response, keep_alive: bool):
        if self._pending:   # an earlier pipelined request is still running
            future = asyncio.get_running_loop().create_future()
            future.set_result(response)
            self._pending.append((future, keep_alive))
            self._flush()
            return
        self._write(response, keep_alive)

    def _flush(self, _=None):
        while self._pending and self._pending[0][0].done():
            future, keep_alive = self._pending.popleft()
            if future.cancelled():
                continue
            error = future.exception()
            response = future.result() if error is None else Response(
                500, self._error_body(f"{type(error).__name__}: {error}"))
            self._write(response, keep_alive)

    def _write(self, response: Response, keep_alive: bool):
        if self._closing:
            return
        self._transport.write(_head(response, keep_alive) + response.body)
        if not keep_alive:
            self._closing = True
            self._transport.close()

    def _fail(self, status: int, message: str):
        self._write(Response(status, self._error_body(message)), False)


async def serve(handler: Callable, error_body: Callable, host: str, port: int,
                max_body_bytes: int, backlog: int = 1024):
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpProtocol(handler, error_body, max_body_bytes),
        host, port, backlog=backlog, reuse_address=True)
