"""Status codes: the one table shared by REST, gRPC, metrics and logs.

TF Serving answers with TensorFlow status codes (equal to gRPC codes) and maps
them to HTTP with `ToHTTPStatusCode` (`model_servers/http_server.cc`); this
module is that table plus the exception every layer raises.
"""
import enum
from typing import Optional

import grpc


class Code(enum.IntEnum):
    """`tensorflow.error.Code` == `grpc.StatusCode` numbering."""
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# ToHTTPStatusCode; anything not listed is 500.
_HTTP_STATUS = {
    Code.OK: 200, Code.CANCELLED: 499, Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400, Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403, Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400, Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501, Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503, Code.DATA_LOSS: 500, Code.UNAUTHENTICATED: 401,
}

HTTP_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized",
                403: "Forbidden", 404: "Not Found", 409: "Conflict",
                413: "Payload Too Large", 429: "Too Many Requests",
                499: "Client Closed Request", 500: "Internal Server Error",
                501: "Not Implemented", 503: "Service Unavailable",
                504: "Gateway Timeout"}

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}

# grpc_status_util.cc: long messages are cut so a bad request cannot make
# the error itself huge.
MAX_GRPC_MESSAGE = 1024
TRUNCATED_SUFFIX = "...TRUNCATED"


def http_status(code: Code) -> int:
    return _HTTP_STATUS.get(code, 500)


def grpc_code(code: Code) -> grpc.StatusCode:
    return _GRPC_CODES[int(code)]


def grpc_message(message: str) -> str:
    if len(message) <= MAX_GRPC_MESSAGE:
        return message
    return message[:MAX_GRPC_MESSAGE] + TRUNCATED_SUFFIX


class ServingError(Exception):
    """A request failed with a TF status code and a message for the client.

    `feature` and `rule` are set by input validation, so the error counter
    can say which feature broke which rule. `model_error` marks a failure
    of the model run itself (what a canary is judged on, and retried on
    stable), as opposed to a request rejected before it.
    """

    def __init__(self, code: Code, message: str, *,
                 feature: Optional[str] = None, rule: Optional[str] = None):
        super().__init__(message)
        self.code = Code(code)
        self.message = message
        self.feature = feature
        self.rule = rule
        self.model_error = False

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str, **kwargs) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message, **kwargs)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingError:
    return ServingError(Code.UNAVAILABLE, message)


def from_exception(error: Exception) -> ServingError:
    """A model/runtime exception -> its status code; never a stack trace.

    TF's `OpError`s carry their code (a bad input shape is INVALID_ARGUMENT);
    TFLite raises ValueError for bad inputs; anything else is INTERNAL.
    """
    if isinstance(error, ServingError):
        return error
    code = getattr(error, "error_code", None)
    message = getattr(error, "message", None) or str(error)
    lines = message.strip().splitlines()
    message = lines[0] if lines else type(error).__name__
    if code is not None:
        try:
            return ServingError(Code(code), message)
        except ValueError:
            pass
    if isinstance(error, ValueError):
        return ServingError(Code.INVALID_ARGUMENT, message)
    return ServingError(Code.INTERNAL, f"{type(error).__name__}: {message}")
