"""The ``openai`` client's exceptions, sorted into the causes the simulator acts on.

Three outcomes, whatever the server is:

- ``Transient``: worth another attempt (connection refused or dropped, a timeout, HTTP 408, 409,
  425, 429 and 5xx, a reply that is not a chat completion). ``kind`` is the cause the circuit
  breaker compares across requests; ``retry_after`` the server's hint in seconds.
- ``Rejected``: an HTTP 4xx that no retry changes (400 for a prompt past the context length, 422):
  only this query fails.
- ``Fatal``: 401/403 (the key) and 404 (the model name, or a base_url without /v1): nothing this
  run does can succeed, so it stops with one line.
"""

from __future__ import annotations

import socket

import openai

from infopo_cli.simulators.base import SimulatorError
from infopo_cli.simulators.breaker import REFUSED

RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or URL"}


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Transient(Exception):
    def __init__(self, message: str, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class Rejected(SimulatorError):
    def __init__(self, message: str, code: int, detail: str) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class Fatal(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"HTTP {code}: {detail}")
        self.code = code
        self.detail = detail


def classify(err: openai.APIError, url: str, timeout_s: float) -> Exception:
    """The outcome of one failed ``chat.completions.create`` call to ``url``."""
    if isinstance(err, openai.APITimeoutError):
        return Transient(f"no answer from {url} within {timeout_s:g} s", "timeout")
    if isinstance(err, openai.APIConnectionError):
        return _connection(err, url)
    if isinstance(err, openai.APIStatusError):
        code = err.status_code
        detail = _body(err)
        if code in FATAL_STATUS:
            return Fatal(code, detail)
        if code in RETRY_STATUS or code >= 500:
            return Transient(f"HTTP {code}: {detail}", f"HTTP {code}", _retry_after(err))
        return Rejected(f"simulator=openai: HTTP {code} from {url}: {detail}", code, detail)
    # APIResponseValidationError and the like: a 2xx whose body is not a chat completion.
    return Transient(f"malformed response from {url}: {one_line(str(err))}", "malformed")


def _connection(err: openai.APIConnectionError, url: str) -> Transient:
    """Refused, unreachable (name lookup, no route) or dropped mid-request, told apart by the
    transport's own exception under the client's: the breaker treats a refused connection before
    any success as a wrong port, so it must not be confused with a dropped one."""
    root: BaseException = err
    chain = []
    while root is not None and root not in chain:
        chain.append(root)
        root = root.__cause__ or root.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Transient(f"cannot reach {url}: connection refused", REFUSED)
    if any(isinstance(e, TimeoutError) for e in chain):
        return Transient(f"no answer from {url} (timed out)", "timeout")
    cause = chain[-1]
    # httpx (or httpx2) names every failure to open a connection ConnectError; everything else
    # under APIConnectionError happened on an open one (the server dropped it).
    if isinstance(cause, socket.gaierror) or any(type(e).__name__ == "ConnectError" for e in chain):
        return Transient(f"cannot reach {url}: {cause}", "unreachable")
    return Transient(f"connection to {url} failed: {type(cause).__name__}: {cause}", "connection")


def _body(err: openai.APIStatusError) -> str:
    """The server's own words: its response body on one line (the client's message only
    repeats the status), or the status line when the body is empty."""
    try:
        text = err.response.text
    except Exception:  # a body that cannot be read is no reason to lose the status
        text = ""
    return one_line(text) or one_line(err.message) or f"HTTP {err.status_code}"


def _retry_after(err: openai.APIStatusError) -> float | None:
    value = err.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
