"""One tau2 episode: agent turns, tool calls, the simulated customer, the final score.

Per agent turn (``step``):

* a ``TOOL:`` line runs that agent tool on the episode's world; the result is the feedback
  (role ``tool``).
* anything else is a message to the customer: the environment asks the simulator (``UserQuery``).
  In telecom the customer may first run phone tools (its reply is then a ``TOOL:`` line; the result
  goes back to the customer only, and it is asked again, at most ``max_user_tool_calls`` times
  per turn); its first plain message is the feedback (role ``user``).
* ``###STOP###`` from the agent, or ``###STOP###`` / ``###TRANSFER###`` / ``###OUT-OF-SCOPE###``
  from the customer, ends the episode properly.

Limits, as tau2-bench's orchestrator counts them (``strict_upstream``, the default): every message
is a step (the customer's opening, each agent message or tool call, each tool result, each customer
message or phone tool call); after a step that does not await a tool result, reaching
``max_steps`` ends the episode (``max_steps``), and so does the ``max_errors``-th failed tool call,
by either side (``too_many_errors``); both score 0 and override a stop in the same step, as
upstream's check runs after the step. ``transfer_to_human_agents`` is an ordinary tool: the agent
goes on, and the episode ends when the customer, told of the transfer, answers ``###TRANSFER###``.
``max_turns`` (agent turns) is the project's own cap on top; it scores 0 as well (``max_turns``).

Without ``strict_upstream``: no step or error limit, ``max_turns`` only, and a successful
``transfer_to_human_agents`` ends the episode at once (``transfer``, a proper end).

The reward (``scoring.score``) is paid on the last turn; earlier turns get 0. ``outcome()`` is the
final reward, ``success()`` whether it is 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import Environment, StepResult, TaskInstance
from infopo_cli.tasks.tau.conversation import STOP
from infopo_cli.tasks.tau2.data import DomainData
from infopo_cli.tasks.tau2.protocol import (
    USER_END_MARKERS,
    format_tool_call,
    has_marker,
    parse_tool_call,
)
from infopo_cli.tasks.tau2.scoring import score
from infopo_cli.tasks.tau2.user import TOOL_RESULT, scripted_reply, user_instructions
from infopo_cli.tasks.tau2.world import World, set_up

PROPER_ENDS = ("agent_stop", "user_stop", "transfer")
TRANSFER_TOOL = "transfer_to_human_agents"
HANDOFF = "I have transferred you to a human agent. Please hold on."  # the oracle, after a transfer


class Tau2Env(Environment):
    """One conversation on ``instance`` of ``data``; ``gold`` gives the task's gold end state
    (built once per task and shared, so it is asked for only when the episode is scored)."""

    def __init__(
        self,
        instance: TaskInstance,
        max_turns: int,
        data: DomainData,
        gold: Callable[[], World],
        max_user_tool_calls: int,
        strict_upstream: bool = True,
        max_steps: int = 200,
        max_errors: int = 10,
    ):
        super().__init__(instance, max_turns)
        self.strict_upstream = strict_upstream
        self.max_steps, self.max_errors = max_steps, max_errors
        self.steps = 1  # upstream's step count: the customer's opening message is step 1
        self.errors = 0  # failed tool calls, both sides
        self.domain = instance.hidden["domain"]
        self.task_id = instance.hidden["task_id"]
        self.data = data
        self.row = self.data.tasks[self.task_id]
        self._gold = gold
        self.max_user_tool_calls = max_user_tool_calls
        self.world = set_up(self.data, self.row, strict_upstream)
        phone = self.world.phone
        self.phone_specs = phone.specs if phone is not None else None
        self.instructions = user_instructions(
            self.data.guidelines, self.row["user_scenario"], self.phone_specs
        )
        # what the customer has seen and said (the simulator's view)
        self.conversation: list[dict[str, str]] = [
            {"role": "user", "content": instance.messages[-1]["content"]}
        ]
        self.agent_messages: list[str] = []
        self.calls: list[tuple[str, str, Any]] = []  # (requestor, tool, arguments)
        self.termination: str | None = None
        self.score = 0.0
        self.breakdown: dict = {}
        self._user_tool_calls = 0

    # -- the agent's turn ---------------------------------------------------------------------------

    def step(self, action: str) -> StepResult:
        if self.termination is not None:
            return StepResult(feedback=None, done=True)
        self.turn += 1
        self.steps += 1  # the agent's message or tool call
        call = parse_tool_call(action)
        if call is not None:
            if call.error is not None:
                text, ok = f"Error: {call.error}", False
            else:
                self.calls.append(("assistant", call.name, call.arguments))
                text, ok = self._call("assistant", call.name, call.arguments)
            self._tool_result(ok)
            if ok and call.name == TRANSFER_TOOL and not self.strict_upstream:
                return self._finish("transfer", text, "tool")
            limit = self._limit() or self._out_of_turns()
            if limit is not None:
                return self._finish(limit, text, "tool")
            return StepResult(feedback=text, role="tool")
        self.agent_messages.append(action)
        self.conversation.append({"role": "agent", "content": action})
        if STOP in action:
            return self._finish(self._limit() or "agent_stop", None, "user")
        limit = self._limit()
        if limit is not None:
            return self._finish(limit, None, "user")
        self._user_tool_calls = 0
        return StepResult(query=self._query())

    def user_replied(self, reply: str) -> StepResult:
        self.steps += 1  # the customer's message or phone tool call
        call = parse_tool_call(reply) if self.world.phone is not None else None
        if call is not None and self._user_tool_calls < self.max_user_tool_calls:
            self._user_tool_calls += 1
            self.conversation.append({"role": "user", "content": reply.strip()})
            if call.error is not None:
                text, ok = f"Error: {call.error}", False
            else:
                self.calls.append(("user", call.name, call.arguments))
                text, ok = self._call("user", call.name, call.arguments)
            self._tool_result(ok)
            self.conversation.append({"role": "agent", "content": f"{TOOL_RESULT} {text}"})
            limit = self._limit()
            if limit is not None:
                return self._finish(limit, None, "user")
            return StepResult(query=self._query())
        self.conversation.append({"role": "user", "content": reply})
        if has_marker(reply, USER_END_MARKERS):
            return self._finish(self._limit() or "user_stop", reply, "user")
        limit = self._limit() or self._out_of_turns()
        if limit is not None:
            return self._finish(limit, reply, "user")
        return StepResult(feedback=reply, role="user")

    # -- helpers ------------------------------------------------------------------------------------

    def _tool_result(self, ok: bool) -> None:
        """A tool result is a step of its own; a failed call counts towards ``max_errors``."""
        self.steps += 1
        self.errors += not ok

    def _limit(self) -> str | None:
        """The upstream limit this step reached, if any (upstream: the error check is made last,
        so it wins over the step check; both win over a stop in the same step)."""
        if not self.strict_upstream:
            return None
        if self.errors >= self.max_errors:
            return "too_many_errors"
        if self.steps >= self.max_steps:
            return "max_steps"
        return None

    def _out_of_turns(self) -> str | None:
        """The project's cap on agent turns, checked once the turn's feedback is in."""
        return "max_turns" if self.turn >= self.max_turns else None

    def _call(self, requestor: str, name: str, arguments: Any) -> tuple[str, bool]:
        try:
            return self.world.call(requestor, name, arguments)
        except Exception as e:  # a tool bug must not end a training run; the agent sees it
            return f"Error: {type(e).__name__}: {e}", False

    def _query(self) -> UserQuery:
        snapshot = [dict(m) for m in self.conversation]
        script = partial(scripted_reply, self.row["user_scenario"], snapshot, self.phone_specs)
        meta = {"task": "tau2", "domain": self.domain, "task_id": self.task_id}
        return UserQuery(self.instructions, snapshot, script=script, meta=meta)

    def _finish(self, reason: str, feedback: str | None, role: str) -> StepResult:
        self.termination = reason
        self.score, self.breakdown = score(
            self.row,
            self.world,
            self._gold(),
            self.agent_messages,
            self.calls,
            reason in PROPER_ENDS,
        )
        self.breakdown.update(steps=self.steps, tool_errors=self.errors)
        self.rewards.append(self.score)
        info = {"termination": reason, "reward": self.score, **self.breakdown}
        return StepResult(feedback=feedback, role=role, reward=self.score, done=True, info=info)

    def tool_schemas(self) -> list[dict]:
        """The agent's tools as JSON-schema dicts (for chat templates with tool support)."""
        return [s.json_schema() for s in self.world.agent.specs.values()]

    def outcome(self) -> float:
        return self.score

    def success(self) -> bool:
        return self.score == 1.0

    # -- the oracle ---------------------------------------------------------------------------------

    def oracle_plan(self) -> list[str]:
        """Gold actions one per turn (the customer's own ones asked of the customer), then the
        required information, then the transfer or a closing question."""
        crit = self.row["evaluation_criteria"]
        actions = crit.get("actions") or []
        infos = crit.get("communicate_info") or []
        plan, transfer = [], None
        for a in actions:
            requestor = a.get("requestor") or "assistant"
            if requestor == "assistant" and a["name"] == TRANSFER_TOOL:
                transfer = format_tool_call(a["name"], a["arguments"])
            elif requestor == "assistant":
                plan.append(format_tool_call(a["name"], a["arguments"]))
            else:
                step = format_tool_call(a["name"], a["arguments"]).removeprefix("TOOL: ")
                plan.append(f"Please do this on your phone and tell me the result: {step}")
        told = f"Here is the information you asked for: {'; '.join(infos)}." if infos else ""
        if transfer is not None:
            # tau2-bench's customer ends with ###TRANSFER### once told of the handoff
            plan += ([told] if told else []) + [transfer, HANDOFF]
        else:
            plan.append(f"{told} Is there anything else I can help you with?".strip())
        return plan

    def oracle_action(self) -> str:
        plan = self.oracle_plan()
        return plan[self.turn] if self.turn < len(plan) else f"Thank you for contacting us. {STOP}"
