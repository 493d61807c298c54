"""Simulated users: what a task asks for, and the interface every simulator implements.

Tasks provide the prompt content (instructions with the hidden information, the conversation);
simulators provide the model. ``UserQuery.script`` is the task's rule-based user, used by
``simulator=scripted`` and ignored by model-backed simulators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from infopo_cli.config import GUARD_KEYS, simulator_guard
from infopo_cli.errors import ConfigError


@dataclass
class UserQuery:
    """One request for a user reply.

    instructions: the simulator's system prompt, written by the task (persona, hidden facts, rules).
    conversation: the dialogue so far as {"role": "agent"|"user", "content": str} (agent last).
    script: the task's deterministic rule-based reply, if it has one.
    """

    instructions: str
    conversation: list[dict[str, str]]
    script: Callable[[], str] | None = None
    meta: dict = field(default_factory=dict)


class SimulatorError(RuntimeError):
    """A simulator call that failed for good (after retries). The trajectory is excluded."""


class FatalSimulatorError(RuntimeError):
    """A failure that no retry can fix (bad key, unknown model): the run stops with one line."""


class Simulator(ABC):
    """Answers a batch of queries. A failed reply is a ``SimulatorError`` in its slot, not a raise.

    ``guard`` holds the keys every simulator group shares (``simulator.max_failure_rate`` and the
    circuit breaker's, config.SimulatorGuardConfig); ``last_error`` is the latest failure, quoted
    when a failure budget stops a run.
    """

    name = "simulator"

    def __init__(self, **guard) -> None:
        unknown = sorted(set(guard) - set(GUARD_KEYS))
        if unknown:
            raise ConfigError(f"simulator.{unknown[0]} is not a known key for {self.name}")
        self.guard = simulator_guard(guard)
        self.last_error: str | None = None
        self.stats = {
            "calls": 0,
            "errors": 0,
            "retries": 0,
            "truncated": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "latency_s": 0.0,
        }

    @abstractmethod
    def reply_batch(self, queries: list[UserQuery]) -> list[str | SimulatorError]: ...

    def pop_stats(self) -> dict[str, float]:
        """Counters since the last call, as ``simulator/*`` metrics; resets them."""
        out = {f"simulator/{k}": v for k, v in self.stats.items()}
        for k in self.stats:
            self.stats[k] = 0 if k != "latency_s" else 0.0
        return out

    def close(self) -> None:
        """Release resources (flush caches, close sessions)."""


def excluded_line(excluded: int, total: int) -> str:
    """The one phrase every summary uses for episodes lost to the simulator."""
    return f"{excluded} of {total} episodes excluded (simulator failures)"


def over_budget(excluded: int, total: int, max_failure_rate: float) -> bool:
    """True when more than ``max_failure_rate`` of the episodes were lost to simulator failures."""
    return total > 0 and excluded / total > max_failure_rate


def budget_message(simulator: Simulator, excluded: int, total: int, what: str = "") -> str:
    """One line for a result over the failure budget: counts, the key to change, the last cause."""
    rate = simulator.guard.max_failure_rate
    cause = f"; last failure: {simulator.last_error}" if simulator.last_error else ""
    return (
        f"{what}{excluded_line(excluded, total)}, above simulator.max_failure_rate={rate:g}{cause}"
    )
