"""``simulator=openai``: any OpenAI-compatible chat-completions endpoint plays the user.

That covers hosted APIs and local servers alike (``vllm serve``, llama.cpp, SGLang, Ollama). Only
the standard library speaks HTTP, so no client package is needed. A batch is sent concurrently
(at most ``max_concurrency`` requests in flight); transient failures (timeouts, dropped
connections, 408, 429, 5xx) are retried with exponential backoff and jitter. Failures no retry can
fix (401/403 bad key, 404 unknown model or wrong URL) stop the run with one line; a call that still
fails after ``max_retries`` becomes a ``SimulatorError`` in its slot, so only that trajectory is
dropped. Failures that repeat across conversations go to the circuit breaker (breaker.py).

The request is what current servers expect: ``max_completion_tokens`` (``max_tokens`` for servers
that reject it), a ``seed`` per query derived from the run's seed (a sampled user replays), and
messages that alternate user/assistant strictly (chat templates that require it answer 400).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import FatalSimulatorError, SimulatorError, UserQuery
from infopo_cli.simulators.breaker import REFUSED, Breaker
from infopo_cli.simulators.cache import CachedSimulator, check_int, check_number

ROLE_FOR_USER_MODEL = {"agent": "user", "user": "assistant"}
RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or URL"}
TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")
ON_TRUNCATED = ("keep", "retry")
# Put before a conversation the simulated user opens (tau2's customer speaks first): strict
# chat templates want a user turn right after the system prompt.
OPENING_TURN = "(The conversation starts. Write your first message.)"


def chat_messages(query: UserQuery) -> list[dict[str, str]]:
    """The request messages: the task's instructions as system prompt, then the dialogue with
    roles flipped (the agent speaks as "user", the simulated user's own past turns are
    "assistant"), so the model writes the user's next turn.

    Roles always alternate after the system prompt, starting with "user": a conversation the
    simulated user opened gets a neutral opening turn, and two turns of one side in a row are
    joined, since many chat templates reject anything else ("Conversation roles must alternate").
    """
    messages = [{"role": "system", "content": query.instructions}]
    for m in query.conversation:
        role = ROLE_FOR_USER_MODEL.get(m["role"])
        if role is None:
            raise ValueError(f"conversation role must be 'agent' or 'user', got {m['role']!r}")
        if len(messages) == 1 and role == "assistant":
            messages.append({"role": "user", "content": OPENING_TURN})
        if messages[-1]["role"] == role:
            messages[-1] = {
                "role": role,
                "content": messages[-1]["content"] + "\n\n" + m["content"],
            }
        else:
            messages.append({"role": role, "content": m["content"]})
    return messages


def query_seed(run_seed: int, messages: list[dict[str, str]], repeat: int) -> int:
    """The request's ``seed``: a function of the run's seed, the messages and how many identical
    queries came before it in the batch, so a rerun sends the same seeds (a sampled user replays)
    while the members of a group that ask the same thing still get different replies."""
    text = json.dumps([run_seed, repeat, messages], ensure_ascii=False, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") >> 1


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Transient(Exception):
    """A failed attempt worth retrying; ``retry_after`` is the server's hint in seconds, ``kind``
    the cause the circuit breaker compares."""

    def __init__(self, message: str, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class _Rejected(SimulatorError):
    """An HTTP 4xx that no retry changes (e.g. 400 for a too-long prompt): this query fails."""

    def __init__(self, message: str, code: int, detail: str) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class OpenAISimulator(CachedSimulator):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str = "",
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float = 0.0,
        max_tokens: int = 256,
        on_truncated: str = "keep",
        seed: int | None = None,
        timeout_s: float = 60.0,
        max_concurrency: int = 8,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        cache: bool | str = "auto",
        cache_path: str | None = None,
        replay_only: bool = False,
        run_dir: str | None = None,
        run_seed: int = 0,
        **guard,
    ) -> None:
        _check_request_config(base_url, model, api_key_env, on_truncated, seed)
        check_number("temperature", temperature, minimum=0.0)
        check_int("max_tokens", max_tokens, minimum=1)
        check_number("timeout_s", timeout_s, minimum=0.0, strict=True)
        check_int("max_concurrency", max_concurrency, minimum=1)
        check_int("max_retries", max_retries, minimum=0)
        check_number("backoff_base_s", backoff_base_s, minimum=0.0)
        check_number("backoff_max_s", backoff_max_s, minimum=0.0)
        super().__init__(
            model_id=model,
            cache=cache,
            cache_path=cache_path,
            replay_only=replay_only,
            temperature=float(temperature),
            run_dir=run_dir,
            **guard,
        )
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.on_truncated = on_truncated
        self.seed = int(run_seed if seed is None else seed)
        self.timeout_s = float(timeout_s)
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.token_field = TOKEN_FIELDS[0]
        self._pool: ThreadPoolExecutor | None = None
        self._stats_lock = threading.Lock()
        self._fatal = threading.Event()
        self._rng = random.Random()
        self.breaker = Breaker(
            self.guard.max_consecutive_failures,
            self.guard.connect_grace_s,
            f"simulator=openai at {self.url}",
        )

    def _params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def _answer(self, queries: list[UserQuery]) -> list[str | SimulatorError]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="simulator")
        self._fatal.clear()
        self.breaker.half_open()
        futures: list[Future] = [
            self._pool.submit(self._call, messages, seed) for messages, seed in self._plan(queries)
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            err = fut.exception()
            if isinstance(err, FatalSimulatorError):
                # Stop the batch now: queued calls are cancelled, running ones give up at their
                # next attempt or backoff.
                self._fatal.set()
                self.breaker.wake.set()
                for f in futures:
                    f.cancel()
                raise err
        results = [fut.result() for fut in futures]
        self.breaker.end_batch(len(results), self.last_error)
        return results

    def _plan(self, queries: list[UserQuery]) -> list[tuple[list[dict], int]]:
        """Each query's messages and seed (identical queries of a batch get distinct seeds)."""
        seen: dict[str, int] = {}
        out = []
        for query in queries:
            messages = chat_messages(query)
            key = json.dumps(messages, ensure_ascii=False)
            repeat = seen.get(key, 0)
            seen[key] = repeat + 1
            out.append((messages, query_seed(self.seed, messages, repeat)))
        return out

    def _body(self, messages: list[dict], seed: int) -> bytes:
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            self.token_field: self.max_tokens,
            "seed": seed,
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _call(self, messages: list[dict], seed: int) -> str | SimulatorError:
        """One query with retries. Returns the reply, or a SimulatorError once retries run out
        (or at once while the breaker is open)."""
        start = time.perf_counter()
        attempt = 0
        while True:
            if self._fatal.is_set():
                return SimulatorError("abandoned: another request failed fatally")
            if self.breaker.open_reason:
                return self._finish(
                    start, SimulatorError(f"simulator=openai: not sent: {self.breaker.open_reason}")
                )
            try:
                reply, usage, finish_reason = self._post(self._body(messages, seed))
            except _Transient as e:
                self.breaker.failure(e.kind, str(e))
                if attempt >= self.max_retries:
                    return self._finish(start, SimulatorError(f"simulator=openai: {e}"))
                attempt += 1
                self._count("retries")
                self.breaker.wake.wait(self._backoff(attempt, e.retry_after))
                continue
            except _Rejected as e:
                if self._fall_back_token_field(e):
                    continue
                self.breaker.failure(f"HTTP {e.code}", str(e), client_error=True)
                return self._finish(start, e)
            except SimulatorError as e:
                return self._finish(start, e)
            self.breaker.success()
            self._count("tokens_in", int(usage.get("prompt_tokens") or 0))
            self._count("tokens_out", int(usage.get("completion_tokens") or 0))
            if finish_reason == "length":
                self._count("truncated")
                if self.on_truncated == "retry" and attempt < self.max_retries:
                    attempt += 1
                    self._count("retries")
                    continue
            return self._finish(start, reply)

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _fall_back_token_field(self, e: _Rejected) -> bool:
        """True (resend) when the server rejected ``max_completion_tokens`` by name: from then on
        the older ``max_tokens`` is sent (servers that predate the rename)."""
        if self.token_field != TOKEN_FIELDS[0] or TOKEN_FIELDS[0] not in e.detail:
            return False
        if e.code not in (400, 422):
            return False
        with self._stats_lock:
            self.token_field = TOKEN_FIELDS[1]
        return True

    def _finish(self, start: float, result: str | SimulatorError) -> str | SimulatorError:
        with self._stats_lock:
            self.stats["calls"] += 1
            self.stats["latency_s"] += time.perf_counter() - start
            if isinstance(result, SimulatorError):
                self.stats["errors"] += 1
                self.last_error = str(result)
        return result

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter: half the cap fixed, half random, so clients that
        failed together do not retry together. A server's Retry-After raises the wait; the
        breaker's grace for a server that never answered shortens it."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        delay = cap / 2 + self._rng.uniform(0, cap / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        grace_left = self.breaker.wait_cap()
        return delay if grace_left is None else min(delay, grace_left)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, body: bytes) -> tuple[str, dict, str | None]:
        """One HTTP attempt: (reply, usage, finish_reason). Raises _Transient (retry),
        FatalSimulatorError (stop the run) or _Rejected (this query cannot succeed)."""
        req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise self._http_error(e) from None
        except urllib.error.URLError as e:
            kind = REFUSED if isinstance(e.reason, ConnectionRefusedError) else "unreachable"
            if isinstance(e.reason, TimeoutError):
                kind = "timeout"
            raise _Transient(f"cannot reach {self.url}: {e.reason}", kind) from None
        except TimeoutError:
            raise _Transient(
                f"no answer from {self.url} within {self.timeout_s:g} s", "timeout"
            ) from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Transient(
                f"connection to {self.url} failed: {type(e).__name__}: {e}", "connection"
            ) from None
        return self._parse(raw)

    def _http_error(self, e: urllib.error.HTTPError) -> Exception:
        detail = _error_body(e)
        if e.code in FATAL_STATUS:
            return FatalSimulatorError(self._fatal_message(e.code, detail))
        if e.code in RETRY_STATUS or e.code >= 500:
            return _Transient(f"HTTP {e.code}: {detail}", f"HTTP {e.code}", _retry_after(e.headers))
        return _Rejected(
            f"simulator=openai: HTTP {e.code} from {self.url}: {detail}", e.code, detail
        )

    def _parse(self, raw: bytes) -> tuple[str, dict, str | None]:
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Transient(
                f"malformed response from {self.url}: {_one_line(raw.decode('utf-8', 'replace'))}",
                "malformed",
            ) from None
        if not isinstance(content, str):
            raise SimulatorError(
                f"simulator=openai: the reply had no text (finish_reason={choice.get('finish_reason')!r})"
            )
        return content, data.get("usage") or {}, choice.get("finish_reason")

    def _fatal_message(self, code: int, detail: str) -> str:
        what = FATAL_STATUS[code]
        if code in (401, 403):
            key_state = (
                f"set from ${self.api_key_env}"
                if self.api_key_env and os.environ.get(self.api_key_env)
                else f"${self.api_key_env or '(simulator.api_key_env is null)'} is not set"
            )
            hint = f"check the key (simulator.api_key_env; {key_state})"
        else:
            hint = f"check simulator.model={self.model!r} and simulator.base_url={self.base_url!r}"
        return (
            f"simulator=openai: HTTP {code} from {self.url} ({what}): {hint}. Server said: {detail}"
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()


def _check_request_config(base_url, model, api_key_env, on_truncated, seed) -> None:
    """One-line ConfigErrors for the request settings, naming the field."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"simulator.base_url must be an http:// or https:// URL such as "
            f"http://127.0.0.1:8000/v1, got {base_url!r}"
        )
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(
            "simulator.model must name the served model (e.g. simulator.model=gpt-4o-mini)"
        )
    if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
        raise ConfigError(
            f"simulator.api_key_env must be an environment variable name or null, got {api_key_env!r}"
        )
    if on_truncated not in ON_TRUNCATED:
        raise ConfigError(
            f"simulator.on_truncated must be one of {', '.join(ON_TRUNCATED)}, got {on_truncated!r}"
        )
    if seed is not None:
        check_int("seed", seed, minimum=0)


def _error_body(e: urllib.error.HTTPError) -> str:
    try:
        return _one_line(e.read().decode("utf-8", "replace")) or e.reason
    except (OSError, http.client.HTTPException):
        return str(e.reason)


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
