"""What every UserGym environment shares: turn counting, tool-call parsing, reward bookkeeping.

One agent message is one turn. ``step`` parses the ``interact_with_env`` call. Under UserRL's rules
(``upstream_rules``, the default) a message without a readable call ends the episode (reward 0 for
that turn), as UserRL's rollout stops when the model's turn holds no tool call, and a choice the
gym does not list is played the way UserRL's gym reads it (``passthrough``: IntentionGym asks an
``answer`` as a question, TurtleGym and TelepathyGym a ``search``). A readable call whose choice
is none of action/answer/search/finish costs the turn under either rules (reward 0). With
``upstream_rules=False`` an unreadable call and an unlisted choice cost the turn too and earn a
format hint (reward 0). Never an exception.

A gym that needs the simulated user or an LLM judge returns a query (``ask``); the rollout answers
it and calls ``user_replied``, which may ask again (IntentionGym asks its judge, then its user). Exactly one reward is recorded per turn, when the turn's final answer is known.

The episode ends when the gym says so, on ``finish``, or after ``max_turns`` turns; at that point
``final_reward`` (TauGym's end-of-episode database check, which under UserRL's rules counts only
when the customer or a transfer ended it; 0 elsewhere) is added to the last turn.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import Environment, StepResult, TaskInstance
from infopo_cli.tasks.usergym.protocol import ParseFailure, ToolCall, format_call, parse_tool_call


class GymEnv(Environment):
    """Base class of the six gyms. Subclasses implement ``act`` (and ``on_reply`` if they ask)."""

    kind: str = "gym"
    choices: tuple[str, ...] = ("action", "answer", "search")
    compact_prompt: str = ""  # a short system prompt for small context windows (task.prompt)
    # The choice a call with an unlisted choice is played as under UserRL's rules: UserRL's gyms
    # only single out their own prefixes and read any other message as the default kind (e.g.
    # gyms/IntentionGym/intentiongym/env/intention_env.py treats all but [finish] as a question).
    passthrough: str | None = None

    def __init__(
        self,
        instance: TaskInstance,
        max_turns: int,
        show_reward: bool = False,
        feedback_role: str = "tool",
        upstream_rules: bool = True,
    ):
        super().__init__(instance, max_turns)
        self.upstream_rules = upstream_rules
        self.record: dict[str, Any] = instance.hidden["record"]
        self.show_reward = show_reward
        self.feedback_role = feedback_role
        self.done = False
        self.history: list[dict[str, str]] = []  # {"choice", "content", "feedback"} per turn
        self._pending: str | None = None  # what the outstanding query was for
        self._call: ToolCall | None = None

    # ----- the Environment interface -------------------------------------------------------
    def step(self, action: str) -> StepResult:
        if self.done:
            return StepResult(feedback=None, done=True, info={"error": "episode already finished"})
        self.turn += 1
        call = parse_tool_call(action)
        if isinstance(call, ParseFailure):
            self._call = None
            if self.upstream_rules and not call.unknown_choice:
                # UserRL's rollout (verl/workers/rollout/sglang_rollout/
                # async_sglang_rollout_customized.py) stops when a turn holds no parsable tool
                # call, and eval/eval.py ends the episode on the same failure.
                return self.result(call.message, done=True, info={"invalid": True, "no_call": True})
            return self.result(call.message, info={"invalid": True})
        self._call = call
        if call.choice == "finish":
            return self.result("The episode is finished.", done=True)
        if call.choice not in self.choices:
            if self.upstream_rules and self.passthrough is not None:
                return self.act(self.passthrough, call.content)
            allowed = ", ".join(self.choices)
            return self.result(
                f"The choice {call.choice!r} is not available in this environment; use {allowed}.",
                info={"invalid": True},
            )
        return self.act(call.choice, call.content)

    def user_replied(self, reply: str) -> StepResult:
        if self._pending is None:
            raise RuntimeError(
                f"{type(self).__name__}: a reply arrived but no query was outstanding"
            )
        purpose, self._pending = self._pending, None
        return self.on_reply(purpose, reply)

    # ----- for subclasses ------------------------------------------------------------------
    @abstractmethod
    def act(self, choice: str, content: str) -> StepResult:
        """Handle a well-formed call with an allowed choice."""

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        raise RuntimeError(f"{type(self).__name__} never asks the simulator")

    def ask(
        self,
        purpose: str,
        instructions: str,
        conversation: list[dict[str, str]],
        script: Callable[[], str],
    ) -> StepResult:
        """Request a simulator reply; ``purpose`` ("user" or "judge") comes back to ``on_reply``."""
        self._pending = purpose
        query = UserQuery(
            instructions=instructions,
            conversation=conversation,
            script=script,
            meta={"gym": self.kind, "purpose": purpose, "task_id": self.instance.id},
        )
        return StepResult(query=query, role=self.feedback_role)

    def final_reward(self) -> float:
        """Reward added on the episode's last turn (TauGym's end-state check)."""
        return 0.0

    def result(
        self,
        feedback: str,
        reward: float = 0.0,
        done: bool = False,
        info: dict[str, Any] | None = None,
    ) -> StepResult:
        """Close the current turn: record its reward and decide whether the episode ends."""
        done = done or self.turn >= self.max_turns
        if done:
            self.done = True
            reward += self.final_reward()
        self.rewards.append(float(reward))
        call = self._call
        self.history.append(
            {
                "choice": call.choice if call else "",
                "content": call.content if call else "",
                "feedback": feedback,
            }
        )
        text = f"{feedback}\nReward: {reward:g}" if self.show_reward else feedback
        out = {"gym": self.kind, "choice": call.choice if call else None}
        out.update(info or {})
        return StepResult(
            feedback=text, role=self.feedback_role, reward=float(reward), done=done, info=out
        )

    def oracle_action(self) -> str:
        """The next message of a policy that knows the hidden task (where the gym has one)."""
        raise ConfigError(f"policy=oracle: usergym gym kind {self.kind!r} has no oracle policy")

    # Generic questions a demonstrator asks before it answers (gyms with yes/no questions).
    demo_questions: tuple[str, ...] = ()

    def demo_action(self, rng: random.Random) -> str:
        """An imperfect demonstrator for supervised warm starts: during the first three turns it
        asks one of the gym's generic questions with probability 1/2, otherwise it plays the
        oracle. Its value is the tool-call format and the shape of an episode, not the skill."""
        if self.demo_questions and self.turn < 3 and rng.random() < 0.5:
            return format_call("action", rng.choice(self.demo_questions))
        return self.oracle_action()
