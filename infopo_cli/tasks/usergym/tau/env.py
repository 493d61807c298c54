"""TauGym: a tau-bench (v1) retail or airline customer-service task behind ``interact_with_env``.

* ``search: tools`` lists the domain's tools (JSON schemas; with ``task.prompt=compact`` one
  ``name(arguments): description`` line each); ``search: help`` explains the game.
* ``action: <message>`` talks to the customer (the simulator), whose reply is the feedback.
* ``answer: <tool call>`` runs a tool on this episode's copy of the database. Accepted forms:
  ``{"name": "get_order_details", "arguments": {"order_id": "#W0000000"}}`` (``arguments`` may be
  a JSON string) or ``get_order_details {"order_id": "#W0000000"}``.

The episode ends on ``finish``, when the customer writes ``###STOP###``, on a transfer to a human
agent, or at the turn limit. Only then is the reward given, on the last turn, as in tau-bench: 1.0
when the database equals the state reached by replaying the task's gold actions on a fresh copy
(transfers excluded) and every required output string appears in some agent message to the
customer (case-insensitive, commas ignored); otherwise 0.

Under UserRL's rules (``upstream_rules``; gyms/TauGym/taugym/env/tau_env.py over tau-bench's env)
that check runs only when the customer ends the conversation or the agent transfers: tau-bench
computes its reward only when its own episode is done, and ``finish``, the turn limit or a turn
without a readable ``interact_with_env`` call end UserRL's episode with 0. ``answer`` must be ``{"name": ..., "arguments":
{...}}`` (the whole content, ``arguments`` an object) or ``name: {...}``; a string-encoded
``arguments``, a ``kwargs`` key or ``name {...}`` without the colon is an invalid call. The
customer writes the opening message itself (tau-bench's user answers the agent's greeting): with
an LLM simulator the rollout asks it before the first turn (``opening_query``); the scripted
customer opens with the dataset's message (``obs``, the opening tau-bench recorded).
The project's variant (``upstream_rules=False``) scores the state however the episode ends, keeps
the dataset's opening and reads the looser call forms.

The oracle replays the gold actions that change the database, then tells the customer the
required outputs (if any), then says goodbye (the customer ends the conversation, which is scored
under either rules): read-only gold actions do not affect the end state.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import StepResult, TaskInstance
from infopo_cli.tasks.tau.conversation import STOP, mentioned
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.tau.airline import AIRLINE_TOOLS
from infopo_cli.tasks.usergym.tau.db import TauDB, load_tables
from infopo_cli.tasks.usergym.tau.retail import RETAIL_TOOLS
from infopo_cli.tasks.usergym.tau.tools import Tool
from infopo_cli.tasks.usergym.tau.user import (
    AGENT_GREETING,
    USER_RULES,
    USER_RULES_UPSTREAM,
    ScriptedCustomer,
)
from infopo_cli.tasks.usergym.text import first_json_dict

DOMAINS: dict[str, tuple[Tool, ...]] = {"retail": RETAIL_TOOLS, "airline": AIRLINE_TOOLS}
BUSINESS = {"retail": "an online retail store", "airline": "an airline"}

HELP = """\
You are the customer-service agent. The customer's first message is above; they know details you
need (names, ids, what exactly they want), and the database can be reached only through tools.
- search: tools    lists every tool with its arguments.
- action: <text>   sends a message to the customer and returns their reply.
- answer: <call>   runs one tool, e.g. {"name": "get_order_details", "arguments": {"order_id": "#W0000000"}}.
First identify the customer, then look up what you need, explain any change and get the customer's
explicit confirmation before making it, and tell the customer the information they asked for."""


FAREWELL = "Is there anything else I can help you with? If not, goodbye and have a nice day!"


def domain_of(task_id: str) -> str:
    return task_id.split("-", 1)[0]


def validate_record(record: dict, where: str, db_root: Path) -> None:
    """ConfigError unless the tau task record is usable (domain, database, gold actions)."""
    domain = domain_of(str(record.get("id", "")))
    if domain not in DOMAINS:
        raise ConfigError(
            f"{where}: task id {record.get('id')!r} must start with one of {', '.join(DOMAINS)}"
        )
    if not (db_root / domain).is_dir():
        raise ConfigError(f"{where}: no database folder {db_root / domain}")
    task = record.get("info", {}).get("task") if isinstance(record.get("info"), dict) else None
    if not isinstance(task, dict) or not isinstance(task.get("instruction"), str):
        raise ConfigError(f"{where}: info.task.instruction is missing")
    actions = task.get("actions", [])
    names = {t.name for t in DOMAINS[domain]}
    if not isinstance(actions, list) or any(
        not isinstance(a, dict)
        or a.get("name") not in names
        or not isinstance(a.get("kwargs", {}), dict)
        for a in actions
    ):
        raise ConfigError(
            f"{where}: info.task.actions must be {{name, kwargs}} calls of {domain} tools"
        )
    if not isinstance(task.get("outputs", []), list):
        raise ConfigError(f"{where}: info.task.outputs must be a list of strings")


def parse_tool_request(content: str) -> tuple[str, dict[str, Any]] | str:
    """(tool name, arguments) from an ``answer`` content, or an error message."""
    obj = first_json_dict(content, "name")
    if obj is not None:
        name = obj["name"]
        args = obj.get("arguments", obj.get("kwargs", obj.get("parameters", {})))
    else:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(.*)$", content, re.DOTALL)
        if m is None:
            return 'Write the tool call as {"name": <tool name>, "arguments": {...}}.'
        name, rest = m.group(1), m.group(2).strip()
        args = first_json_dict(rest) if rest else {}
        if args is None:
            return f'The arguments of {name} must be a JSON object, e.g. {{"name": "{name}", "arguments": {{...}}}}.'
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return "The tool arguments are not valid JSON."
    if args is None:
        args = {}
    if not isinstance(name, str) or not isinstance(args, dict):
        return 'Write the tool call as {"name": <tool name>, "arguments": {...}}.'
    return name, args


INVALID_CALL = (
    "Invalid tool call: give the whole content as "
    '{"name": <tool name>, "arguments": {...}} or as <tool name>: {...}.'
)


def parse_tool_request_upstream(content: str) -> tuple[str, dict[str, Any]] | str:
    """(tool name, arguments) read as UserRL's parse_tau_action reads ``[answer]`` content: a
    content that starts with ``{`` and ends with ``}`` is one JSON object whose ``arguments`` (default
    {}) must be an object (tau-bench's Action rejects anything else); otherwise ``name: {json}``
    split at the first colon. Anything else is an error message."""
    text = content.strip()
    try:
        if text.startswith("{") and text.endswith("}"):
            obj = json.loads(text)
            name, args = obj.get("name", ""), obj.get("arguments", {})
        else:
            name, rest = text.split(":", 1)
            name, args = name.strip(), json.loads(rest.strip())
    except (ValueError, AttributeError):
        return INVALID_CALL
    if not isinstance(name, str) or not isinstance(args, dict):
        return INVALID_CALL
    return name, args


@lru_cache(maxsize=1024)
def gold_state(db_dir: Path, actions_json: str) -> TauDB:
    """The database after replaying the gold actions (transfers excluded) on a fresh copy."""
    tools = {t.name: t for t in DOMAINS[db_dir.name]}
    db = TauDB(load_tables(db_dir))
    for action in json.loads(actions_json):
        tool = tools[action["name"]]
        if not tool.ends_episode:
            tool.call(db, action.get("kwargs", {}))
    return db


class TauEnv(GymEnv):
    kind = "tau"
    choices = ("search", "action", "answer")
    compact_prompt = (
        "You are a customer-service agent with internal tools. Choices: search 'tools' lists "
        "the tools ('help' explains); action '<message>' talks to the customer; answer "
        '\'{"name": <tool>, "arguments": {...}}\' runs a tool. Identify the customer, get '
        "a yes before any change, tell them what they asked for."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.domain = domain_of(self.record["id"])
        self.db_dir = Path(self.instance.hidden["gym_dir"]) / "taubench_db" / self.domain
        self.tools = {t.name: t for t in DOMAINS[self.domain]}
        self.db = TauDB(load_tables(self.db_dir))
        task = self.record["info"]["task"]
        self.instruction: str = task["instruction"]
        self.gold_actions: list[dict[str, Any]] = task.get("actions", [])
        self.outputs: list[str] = [str(o) for o in task.get("outputs", [])]
        self.customer = ScriptedCustomer(self.instruction)
        self.dialogue: list[dict[str, str]] = [
            {"role": "user", "content": self.record.get("obs", "")}
        ]
        self.messages: list[str] = []  # what the agent told the customer
        self.tool_calls: list[dict[str, Any]] = []
        self.reward_info: dict[str, Any] | None = None
        # Set when the customer ended the conversation or the agent transferred: the only ends
        # tau-bench scores (UserRL's rules).
        self.scored_end = False

    # ----- the opening ------------------------------------------------------------------------
    def user_instructions(self) -> str:
        rules = USER_RULES_UPSTREAM if self.upstream_rules else USER_RULES
        return rules.format(business=BUSINESS[self.domain], instruction=self.instruction, stop=STOP)

    def opening_query(self) -> UserQuery | None:
        """Under UserRL's rules the customer writes its first message (tau-bench's user replies to
        the agent's greeting); the scripted customer answers with the dataset's opening."""
        if not self.upstream_rules:
            return None
        obs = self.record.get("obs", "")
        return UserQuery(
            instructions=self.user_instructions(),
            conversation=[{"role": "agent", "content": AGENT_GREETING}],
            script=lambda: obs,
            meta={"gym": self.kind, "purpose": "opening", "task_id": self.instance.id},
        )

    def opened(self, reply: str) -> TaskInstance:
        """Take ``reply`` as the customer's first message; the instance with that opening (in its
        text and its native-tools messages alike)."""
        first = {"role": "user", "content": reply}
        self.dialogue = [dict(first)]
        inst = self.instance
        native = [*inst.native_messages[:-1], first] if inst.native_messages else None
        return dataclasses.replace(
            inst, messages=[*inst.messages[:-1], first], native_messages=native
        )

    # ----- turns --------------------------------------------------------------------------
    def act(self, choice: str, content: str) -> StepResult:
        if choice == "search":
            what = content.strip().strip("'\"").lower()
            if what == "tools":
                return self.result(self.tool_listing())
            if what == "help":
                return self.result(HELP)
            return self.result("search accepts 'tools' or 'help'.", info={"invalid": True})
        if choice == "action":
            self.messages.append(content)
            self.dialogue.append({"role": "agent", "content": content})
            return self.ask(
                "user",
                self.user_instructions(),
                list(self.dialogue),
                lambda: self.customer.reply(content),
            )
        if self.upstream_rules:
            request = parse_tool_request_upstream(content)
        else:
            request = parse_tool_request(content)
        if isinstance(request, str):
            return self.result(f"Error: {request}", info={"invalid": True})
        name, args = request
        tool = self.tools.get(name)
        if tool is None:
            return self.result(
                f"Error: unknown tool {name!r}; use search: tools to list them.",
                info={"invalid": True},
            )
        output = tool.call(self.db, args)
        self.tool_calls.append(
            {"name": name, "arguments": args, "error": output.startswith("Error:")}
        )
        self.scored_end = tool.ends_episode
        return self.result(output, done=tool.ends_episode, info={"tool": name})

    def tool_listing(self) -> str:
        """JSON schemas, one per line; with the compact prompt, one short signature per line."""
        if self.instance.hidden.get("prompt") == "compact":
            lines = [f"{t.call_form()}: {t.description}" for t in self.tools.values()]
            return "Tools:\n" + "\n".join(lines)
        listing = "\n".join(json.dumps(t.function_schema()) for t in self.tools.values())
        return f"Available tools (one JSON schema per line):\n{listing}"

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        self.dialogue.append({"role": "user", "content": reply})
        if STOP in reply:
            self.scored_end = True
            text = reply.replace(STOP, "").strip() or "The customer has left the conversation."
            return self.result(text, done=True, info={"user_stop": True})
        return self.result(reply)

    # ----- reward ---------------------------------------------------------------------------
    def final_reward(self) -> float:
        if self.reward_info is None:
            gold = gold_state(self.db_dir, json.dumps(self.gold_actions))
            found = {
                o: mentioned(o, self.messages, ignore_output_commas=False) for o in self.outputs
            }
            r_actions = self.db.same_state(gold)
            state_ok = r_actions and all(found.values())
            # UserRL: tau-bench's reward reaches the agent only when tau-bench's episode is done
            # (customer ###STOP### or a transfer); finish and the turn limit give 0.
            scored = self.scored_end or not self.upstream_rules
            reward = 1.0 if state_ok and scored else 0.0
            self.reward_info = {
                "reward": reward,
                "r_actions": r_actions,
                "outputs": found,
                "scored_end": self.scored_end,
            }
        return float(self.reward_info["reward"])

    def outcome(self) -> float:
        """The summed turn rewards. An episode cut short before its end (e.g. by the context
        length) is scored on the state it reached under the project's rules; under UserRL's it
        ended unscored (0)."""
        if self.done or self.upstream_rules:
            return super().outcome()
        return super().outcome() + self.final_reward()

    def success(self) -> bool:
        return self.reward_info is not None and self.reward_info["reward"] == 1.0

    def oracle_plan(self) -> list[str]:
        plan = [
            format_call("answer", json.dumps({"name": a["name"], "arguments": a.get("kwargs", {})}))
            for a in self.gold_actions
            if self.tools[a["name"]].writes
        ]
        if self.outputs:
            plan.append(
                format_call(
                    "action", "Here is the information you asked for: " + " ; ".join(self.outputs)
                )
            )
        # A farewell lets the customer end the conversation, the end UserRL's rules score.
        plan.append(format_call("action", FAREWELL))
        return plan

    def oracle_action(self) -> str:
        plan = self.oracle_plan()
        return plan[min(self.turn, len(plan) - 1)]

    def demo_action(self, rng: random.Random) -> str:
        """Every gold action, lookups included (an agent's realistic path), then the outputs
        message and ``finish``; turns past the limit are simply not played."""
        plan = [
            format_call("answer", json.dumps({"name": a["name"], "arguments": a.get("kwargs", {})}))
            for a in self.gold_actions
        ]
        plan += self.oracle_plan()[-2 if self.outputs else -1 :]
        return plan[min(self.turn, len(plan) - 1)]
