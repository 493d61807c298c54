"""What a task is: instances with hidden information, and an environment that plays one episode.

The rollout loop drives environments turn by turn for a whole batch at once:

    env = task.make_env(instance)              # one episode
    result = env.step(agent_text)              # the agent's message of this turn
    while result.query is not None:            # the environment needs the simulated user
        reply = simulator.reply_batch([result.query, ...])[i]   # batched across conversations
        result = env.user_replied(reply)       # may ask again (e.g. a user calling its own tools)
    # result.feedback is the text the agent sees next (None: no feedback), result.done ends it

Before the first turn, an environment whose ``opening_query()`` is not None gets the simulated
user's first message (``opened(reply)`` returns the opening chat messages that replace the
instance's).

Environments never tokenize and never see the model. ``outcome()`` is the score S_i (default: the
sum of step rewards); ``success()`` the task's success criterion.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from infopo_cli.simulators.base import UserQuery


@dataclass
class TaskInstance:
    """One task: an id, the opening chat messages (system + first user turn), hidden information.

    A task whose agent has tools declares them once, as OpenAI-style JSON schemas
    (``{"type": "function", "function": {"name", "description", "parameters"}}``), in ``tools``,
    and gives two openings: ``messages`` lists the tools as text with the task's text protocol;
    ``native_messages`` leaves them out, for chat templates that render ``tools`` themselves. The
    policy's chat format picks one (``model.tool_format``, core/tool_format.py); the environment
    reads a call in either form.
    """

    id: str
    messages: list[dict[str, str]]
    hidden: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    native_messages: list[dict[str, str]] | None = None


@dataclass
class StepResult:
    """What the environment answers to one agent message.

    feedback: text shown to the agent next (None when the episode ends without feedback).
    role: chat role of the feedback message ("user", or "tool" for tool results).
    query: set when the environment needs a simulated-user reply before it can answer.
    """

    feedback: str | None = None
    role: str = "user"
    reward: float = 0.0
    done: bool = False
    query: UserQuery | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Environment(ABC):
    """One episode of one instance. Subclasses keep their own conversation state."""

    def __init__(self, instance: TaskInstance, max_turns: int):
        self.instance = instance
        self.max_turns = max_turns
        self.turn = 0
        self.rewards: list[float] = []

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Consume the agent's message of this turn."""

    def user_replied(self, reply: str) -> StepResult:
        """Continue a step that asked the simulator (``StepResult.query``) with the user's reply."""
        raise RuntimeError(f"{type(self).__name__} never asks the simulator")

    def opening_query(self) -> UserQuery | None:
        """A query whose reply is the user's first message, for tasks where the simulated user
        opens the conversation itself (None: the instance's own opening). The rollout asks it
        before the first turn and hands the reply to ``opened``."""
        return None

    def opened(self, reply: str) -> TaskInstance:
        """The episode's instance with its opening rewritten around the user's first message
        ``reply`` (the rollout renders its prompt from it)."""
        raise RuntimeError(f"{type(self).__name__} has no opening query")

    def outcome(self) -> float:
        return float(sum(self.rewards))

    @abstractmethod
    def success(self) -> bool: ...


class Task(ABC):
    """A family of instances (split-aware) and how to play them.

    What the recipes read from a task: ``name`` (logs, checkpoints, ``infopo eval run=``),
    ``max_turns`` (agent messages per episode), ``seed``, ``train_split`` (the split training samples
    prompts from) and ``split`` (the held-out split evaluation uses); ``instances``, ``make_env`` and
    ``sample``; ``parses(action)`` (is a message in the task's protocol); ``oracle_action`` for ``infopo eval policy=oracle``; ``demo_action(env, rng)`` when
    the task has demonstrations for ``infopo sft`` (optional). A task config's keys are the
    constructor's parameters (``_target_`` names the class). docs/extending.md walks through one.
    """

    name: str = "task"
    max_turns: int
    seed: int
    train_split: str = "train"
    split: str = "test"

    def __init__(
        self,
        max_turns: int = 8,
        seed: int = 0,
        *,
        name: str | None = None,
        train_split: str = "train",
        split: str = "test",
    ):
        self.max_turns = max_turns
        self.seed = seed
        if name is not None:
            self.name = name
        self.train_split = train_split
        self.split = split

    @abstractmethod
    def instances(self, split: str) -> list[TaskInstance]:
        """All instances of a split ("train", "test", ...), in a fixed order."""

    @abstractmethod
    def make_env(self, instance: TaskInstance) -> Environment: ...

    def parses(self, action: str) -> bool:
        """Whether an agent message is in the task's protocol (a readable move, tool call, question
        or answer). Rollouts record it per turn; a policy whose messages mostly are not cannot play
        the task, and ``infopo train`` / ``infopo eval`` say so. Default: any text is."""
        return True

    def oracle_action(self, env: Environment) -> str:
        """The next message of an oracle policy (for sanity checks and upper bounds)."""
        raise NotImplementedError(f"task {self.name!r} has no oracle policy")

    def sample(self, split: str, n: int, rng: random.Random) -> list[TaskInstance]:
        pool = self.instances(split)
        if not pool:
            raise ValueError(f"task {self.name!r} has no instances in split {split!r}")
        return [pool[rng.randrange(len(pool))] for _ in range(n)]
