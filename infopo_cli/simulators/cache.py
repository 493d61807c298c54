"""Record/replay for model-backed simulated users.

A simulated user at temperature 0 is a pure function of (model, instructions, conversation,
sampling parameters), so its replies can be recorded once and replayed: reruns cost no API calls,
and ``replay_only=true`` makes a run fully offline and reproducible. The store is one SQLite file
(in the run dir or a shared path), safe across the worker threads of one simulator and across
processes that share the file (WAL journal, busy timeout).

``CachedSimulator`` puts the cache in front of a model: subclasses only answer the queries the
cache could not.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import FatalSimulatorError, Simulator, SimulatorError, UserQuery

KEY_VERSION = 1
DEFAULT_CACHE_FILE = "simulator_cache.sqlite"


def request_payload(
    model: str, instructions: str, conversation: list[dict[str, str]], params: dict[str, Any]
) -> str:
    """The canonical JSON text of everything a reply depends on (what the cache key hashes)."""
    return json.dumps(
        {
            "v": KEY_VERSION,
            "model": model,
            "instructions": instructions,
            "conversation": [[m["role"], m["content"]] for m in conversation],
            "params": params,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def cache_key(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ReplyCache:
    """A single-file SQLite map from request hash to reply text, shared by threads and processes.

    Every ``put`` commits at once, so an interrupted run keeps what it already paid for. The
    request JSON is stored beside the reply so the file can be inspected with any SQLite client.
    A file that does not exist yet is created by the first ``put``, not before: a run stopped
    before any reply (wrong port, bad key) leaves no empty cache behind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path == ":memory:" or Path(self.path).is_file():
            self._open()

    def _open(self) -> sqlite3.Connection:
        """The connection, made (with the file, its folder and the table) on first need."""
        if self._db is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS replies ("
                "key TEXT PRIMARY KEY, reply TEXT NOT NULL, model TEXT NOT NULL, "
                "request TEXT NOT NULL, created REAL NOT NULL)"
            )
            db.commit()
            self._db = db
        return self._db

    def get(self, key: str) -> str | None:
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, reply: str, *, model: str, request: str) -> None:
        with self._lock:
            db = self._open()
            db.execute(
                "INSERT OR REPLACE INTO replies (key, reply, model, request, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, reply, model, request, time.time()),
            )
            db.commit()

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return 0
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def check_number(field: str, value: Any, *, minimum: float, strict: bool = False) -> None:
    """Config check for a ``simulator.<field>`` number: ConfigError naming the field otherwise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value > minimum if strict else value >= minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigError(f"simulator.{field} must be a number {bound}, got {value!r}")


def check_int(field: str, value: Any, *, minimum: int) -> None:
    """Config check for a ``simulator.<field>`` integer: ConfigError naming the field otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"simulator.{field} must be an integer >= {minimum}, got {value!r}")


def cache_enabled(cache: bool | str, temperature: float, replay_only: bool) -> bool:
    """``cache``: true, false or "auto" (on exactly when sampling is greedy, temperature 0).

    Above temperature 0 a cache would hand every sample of a query the same reply, which is why
    "auto" leaves it off there; ``replay_only`` needs it and turns it on.
    """
    if isinstance(cache, str) and cache.lower() == "auto":
        on = temperature == 0
    elif isinstance(cache, bool):
        on = cache
    else:
        raise ConfigError(f"simulator.cache must be true, false or auto, got {cache!r}")
    if replay_only and cache is False:
        raise ConfigError(
            "simulator.replay_only=true replays from the cache: set simulator.cache=true or auto"
        )
    return on or replay_only


def resolve_cache_path(cache_path: str | None, run_dir: str | None, replay_only: bool) -> str:
    """Explicit ``cache_path``, else <run_dir>/simulator_cache.sqlite, else an in-memory store."""
    if cache_path is not None and not isinstance(cache_path, str | Path):
        raise ConfigError(f"simulator.cache_path must be a file path or null, got {cache_path!r}")
    if cache_path:
        path = Path(cache_path).expanduser().resolve()
    elif run_dir:
        path = Path(run_dir).expanduser().resolve() / DEFAULT_CACHE_FILE
    elif replay_only:
        raise ConfigError(
            "simulator.replay_only=true needs simulator.cache_path (the file to replay)"
        )
    else:
        return ":memory:"
    if replay_only and not path.is_file():
        raise ConfigError(f"simulator.replay_only=true but the cache file {path} does not exist")
    return str(path)


class CachedSimulator(Simulator):
    """A simulator whose model calls go through the record/replay cache.

    Subclasses implement ``_answer`` for the queries the cache misses and ``_params`` (the
    sampling parameters that change a reply). With the cache on, identical queries in one batch
    are answered once: at temperature 0 they would get the same reply anyway.
    """

    def __init__(
        self,
        *,
        model_id: str,
        cache: bool | str,
        cache_path: str | None,
        replay_only: bool,
        temperature: float,
        run_dir: str | None,
        **guard,
    ) -> None:
        super().__init__(**guard)
        if not isinstance(replay_only, bool):
            raise ConfigError(f"simulator.replay_only must be true or false, got {replay_only!r}")
        self.model_id = model_id
        self.replay_only = replay_only
        self.cache: ReplyCache | None = None
        if cache_enabled(cache, temperature, replay_only):
            self.cache = ReplyCache(resolve_cache_path(cache_path, run_dir, replay_only))
        self.stats["cache_hits"] = 0

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Sampling parameters that are part of the cache key."""

    @abstractmethod
    def _answer(self, queries: list[UserQuery]) -> list[str | SimulatorError]:
        """Ask the model; one reply or ``SimulatorError`` per query, in order."""

    def reply_batch(self, queries: list[UserQuery]) -> list[str | SimulatorError]:
        if self.cache is None:
            return self._answer(list(queries)) if queries else []
        params = self._params()
        out: list[str | SimulatorError | None] = [None] * len(queries)
        todo: dict[str, tuple[str, list[int]]] = {}  # key -> (request payload, slots)
        for i, q in enumerate(queries):
            payload = request_payload(self.model_id, q.instructions, q.conversation, params)
            key = cache_key(payload)
            if key in todo:
                todo[key][1].append(i)
                continue
            hit = self.cache.get(key)
            if hit is not None:
                out[i] = hit
                self.stats["cache_hits"] += 1
            else:
                todo[key] = (payload, [i])
        if todo and self.replay_only:
            raise FatalSimulatorError(
                f"simulator.replay_only=true: {len(todo)} of {len(queries)} queries are not in "
                f"the cache {self.cache.path} (recorded with another model, prompt or sampling "
                "parameters?)"
            )
        if todo:
            entries = list(todo.items())
            replies = self._answer([queries[slots[0]] for _, (_, slots) in entries])
            for (key, (payload, slots)), reply in zip(entries, replies, strict=True):
                if not isinstance(reply, SimulatorError):
                    self.cache.put(key, reply, model=self.model_id, request=payload)
                for i in slots:
                    out[i] = reply
        return out  # type: ignore[return-value]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
