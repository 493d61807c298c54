"""``simulator=openai``: any OpenAI-compatible chat-completions endpoint plays the user.

That covers hosted APIs and local servers alike (``vllm serve``, llama.cpp, SGLang, Ollama). The
requests go through the ``openai`` package's client (its request format, response parsing,
timeout and typed errors); faults.py sorts its exceptions into what the run does about them. A
batch is sent concurrently (at most ``max_concurrency`` requests in flight over the one client,
which is thread-safe).

Retries are made here, one ``create`` call per attempt (the client's own ``max_retries`` is 0):
every failed attempt must reach the circuit breaker (breaker.py), which compares failures across
conversations, and a backoff must end early when the breaker opens or another request fails
fatally; the client's retries sleep out of reach and report nothing. Transient failures
(timeouts, dropped connections, 408, 429, 5xx) are retried with exponential backoff and jitter.
Failures no retry can fix (401/403 bad key, 404 unknown model or wrong URL) stop the run with one
line; a call that still fails after ``max_retries`` becomes a ``SimulatorError`` in its slot, so
only that trajectory is dropped.

The request is what current servers expect: ``max_completion_tokens`` (``max_tokens`` for servers
that reject it), a ``seed`` per query derived from the run's seed (a sampled user replays), and
messages that alternate user/assistant strictly (chat templates that require it answer 400).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

import openai

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import FatalSimulatorError, SimulatorError, UserQuery
from infopo_cli.simulators.breaker import Breaker
from infopo_cli.simulators.cache import CachedSimulator, check_int, check_number
from infopo_cli.simulators.faults import (
    FATAL_STATUS,
    Fatal,
    Rejected,
    Transient,
    classify,
    one_line,
)
from infopo_cli.simulators.messages import OPENING_TURN, chat_messages, query_seed

__all__ = ["OPENING_TURN", "OpenAISimulator", "chat_messages", "query_seed"]

TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")
ON_TRUNCATED = ("keep", "retry")
# The client insists on a key; a local server needs none, so a placeholder satisfies the client
# and the Authorization header is left out of each request.
NO_KEY = "unused"


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
        self._openai: openai.OpenAI | None = None
        self._extra_headers: dict | None = None
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
        self._client()  # built here, before the threads that share it start
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
                reply, usage, finish_reason = self._create(messages, seed)
            except Transient as e:
                self.breaker.failure(e.kind, str(e))
                if attempt >= self.max_retries:
                    return self._finish(start, SimulatorError(f"simulator=openai: {e}"))
                attempt += 1
                self._count("retries")
                self.breaker.wake.wait(self._backoff(attempt, e.retry_after))
                continue
            except Rejected as e:
                if self._fall_back_token_field(e):
                    continue
                self.breaker.failure(f"HTTP {e.code}", str(e), client_error=True)
                return self._finish(start, e)
            except SimulatorError as e:
                return self._finish(start, e)
            self.breaker.success()
            self._count("tokens_in", int(getattr(usage, "prompt_tokens", 0) or 0))
            self._count("tokens_out", int(getattr(usage, "completion_tokens", 0) or 0))
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

    def _fall_back_token_field(self, e: Rejected) -> bool:
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

    def _client(self) -> openai.OpenAI:
        """One client for all threads (it is thread-safe and pools connections), made when the
        first batch misses the cache, so that a replay-only run never builds one."""
        if self._openai is None:
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            self._openai = openai.OpenAI(
                base_url=self.base_url,
                api_key=key or NO_KEY,
                timeout=self.timeout_s,
                max_retries=0,
            )
            self._extra_headers = None if key else {"Authorization": openai.Omit()}
        return self._openai

    def _create(self, messages: list[dict], seed: int) -> tuple[str, Any, str | None]:
        """One attempt: (reply, usage, finish_reason). Raises Transient (retry),
        FatalSimulatorError (stop the run) or Rejected (this query cannot succeed)."""
        try:
            completion = self._openai.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                seed=seed,
                extra_headers=self._extra_headers,
                **{self.token_field: self.max_tokens},
            )
        except openai.APIError as e:
            outcome = classify(e, self.url, self.timeout_s)
            if isinstance(outcome, Fatal):
                raise FatalSimulatorError(
                    self._fatal_message(outcome.code, outcome.detail)
                ) from None
            raise outcome from None
        return self._parse(completion)

    def _parse(self, completion: Any) -> tuple[str, Any, str | None]:
        """The reply text out of a completion. The client does not validate a 2xx body strictly
        (nor should it: servers omit fields), so a reply without choices is caught here."""
        choices = getattr(completion, "choices", None)
        if (
            not isinstance(choices, list)
            or not choices
            or getattr(choices[0], "message", None) is None
        ):
            raise Transient(
                f"malformed response from {self.url}: {one_line(str(completion))}", "malformed"
            )
        choice = choices[0]
        content = choice.message.content
        if not isinstance(content, str):
            raise SimulatorError(
                f"simulator=openai: the reply had no text (finish_reason={choice.finish_reason!r})"
            )
        return content, completion.usage, choice.finish_reason

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
        if self._openai is not None:
            self._openai.close()
            self._openai = None
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
