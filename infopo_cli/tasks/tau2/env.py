"""One tau2 episode: agent turns, tool calls, the simulated customer, the final score.

Per agent turn (``step``):

* a ``TOOL:`` line runs that agent tool on the episode's world; the result is the feedback
  (role ``tool``). A successful ``transfer_to_human_agents`` ends the episode (the customer has
  been handed over).
* anything else is a message to the customer: the environment asks the simulator (``UserQuery``).
  In telecom the customer may first run phone tools (its reply is then a ``TOOL:`` line; the result
  goes back to the customer only, and it is asked again, at most ``max_user_tool_calls`` times
  per turn); its first plain message is the feedback (role ``user``).
* ``###STOP###`` from the agent, or ``###STOP###`` / ``###TRANSFER###`` / ``###OUT-OF-SCOPE###``
  from the customer, ends the episode; so does reaching ``max_turns`` (which scores 0).

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
    ):
        super().__init__(instance, max_turns)
        self.domain = instance.hidden["domain"]
        self.task_id = instance.hidden["task_id"]
        self.data = data
        self.row = self.data.tasks[self.task_id]
        self._gold = gold
        self.max_user_tool_calls = max_user_tool_calls
        self.world = set_up(self.data, self.row)
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
        call = parse_tool_call(action)
        if call is not None:
            if call.error is not None:
                text, ok = f"Error: {call.error}", False
            else:
                self.calls.append(("assistant", call.name, call.arguments))
                text, ok = self._call("assistant", call.name, call.arguments)
            if ok and call.name == TRANSFER_TOOL:
                return self._finish("transfer", text, "tool")
            if self.turn >= self.max_turns:
                return self._finish("max_turns", text, "tool")
            return StepResult(feedback=text, role="tool")
        self.agent_messages.append(action)
        self.conversation.append({"role": "agent", "content": action})
        if STOP in action:
            return self._finish("agent_stop", None, "user")
        self._user_tool_calls = 0
        return StepResult(query=self._query())

    def user_replied(self, reply: str) -> StepResult:
        call = parse_tool_call(reply) if self.world.phone is not None else None
        if call is not None and self._user_tool_calls < self.max_user_tool_calls:
            self._user_tool_calls += 1
            self.conversation.append({"role": "user", "content": reply.strip()})
            if call.error is not None:
                text = f"Error: {call.error}"
            else:
                self.calls.append(("user", call.name, call.arguments))
                text, _ = self._call("user", call.name, call.arguments)
            self.conversation.append({"role": "agent", "content": f"{TOOL_RESULT} {text}"})
            return StepResult(query=self._query())
        self.conversation.append({"role": "user", "content": reply})
        if has_marker(reply, USER_END_MARKERS):
            return self._finish("user_stop", reply, "user")
        if self.turn >= self.max_turns:
            return self._finish("max_turns", reply, "user")
        return StepResult(feedback=reply, role="user")

    # -- helpers ------------------------------------------------------------------------------------

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
            plan += ([told] if told else []) + [transfer]
        else:
            plan.append(f"{told} Is there anything else I can help you with?".strip())
        return plan

    def oracle_action(self) -> str:
        plan = self.oracle_plan()
        return plan[self.turn] if self.turn < len(plan) else f"Thank you for contacting us. {STOP}"
