"""One episode's world: the agent's tools, the customer's phone (telecom), and how they meet.

``World.call`` is the single door for every tool call, by the agent (``requestor="assistant"``) or
by the customer (``"user"``); after each successful call the two sides are synchronised, exactly
as during a live episode. The gold end state of a task is built with the same door (fresh world,
scenario set-up, then the gold actions in order).

tau2-bench's evaluator builds its gold state with ``make_tool_call``, which does not synchronise
(``evaluator/evaluator_env.py``; ``environment.py``: "This does not call sync_tools"): the set-up
is synchronised, the gold actions are not, nor is anything after the last one. Under
``strict_upstream`` the gold state is built the same way, so in telecom a refuel leaves the phone's
``mobile_data_usage_exceeded`` set, a payment made on the phone leaves the bill unpaid, a resumed
line leaves the phone without service, and an agent that makes the gold calls (synchronised after
each, as live) does not reach that gold state. Telecom tasks never score the database (their
``reward_basis`` is ENV_ASSERTION, with ACTION for some), so rewards are unchanged; the DB
comparison (``World.diff``) is upstream's ``db_check``. Without ``strict_upstream`` the gold
actions are synchronised like any call, so the gold calls reach exactly the gold state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.airline import AirlineTools
from infopo_cli.tasks.tau2.data import DomainData
from infopo_cli.tasks.tau2.phone import PhoneTools, sync_phone
from infopo_cli.tasks.tau2.retail import RetailTools
from infopo_cli.tasks.tau2.telecom import TelecomTools
from infopo_cli.tasks.tau2.toolkit import Toolkit

AGENT_TOOLKITS: dict[str, type[Toolkit]] = {
    "airline": AirlineTools,
    "retail": RetailTools,
    "telecom": TelecomTools,
}


class World:
    """Agent tools over a copy-on-write database, plus the customer's phone when there is one."""

    def __init__(self, data: DomainData, strict_upstream: bool = True):
        self.domain = data.name
        self.strict_upstream = strict_upstream
        self.agent = AGENT_TOOLKITS[data.name](Database(data.base))
        self.phone = PhoneTools(data.phone_base) if data.phone_base is not None else None
        for kit in (self.agent, self.phone):
            if kit is not None:
                kit.strict_upstream = strict_upstream
        self._sync: Callable[[], None] | None = None
        if self.phone is not None:
            self._sync = lambda: sync_phone(self.agent, self.phone)
            self._sync()

    def toolkit(self, requestor: str) -> Toolkit | None:
        return self.agent if requestor == "assistant" else self.phone

    def call(
        self, requestor: str, name: str, arguments: object, sync: bool = True
    ) -> tuple[str, bool]:
        """Run a tool for ``requestor`` (assistant or user): (result text, ok). ``sync=False``
        leaves the two sides unsynchronised (tau2-bench's ``make_tool_call``)."""
        kit = self.toolkit(requestor)
        if kit is None:
            return "Error: the customer has no tools in this domain", False
        text, ok = kit.call(name, arguments)
        if ok and sync and self._sync is not None:
            self._sync()
        return text, ok

    def run_function(self, env_type: str, name: str, arguments: dict) -> object:
        """Run a scenario set-up or assertion function by name (raises ToolError on failure)."""
        kit = self.toolkit(env_type)
        if kit is None:
            raise ToolError(f"no {env_type} side in domain {self.domain}")
        result = kit.run_function(name, copy.deepcopy(arguments))
        if self._sync is not None:
            self._sync()
        return result

    def tool_kind(self, requestor: str, name: str) -> str | None:
        kit = self.toolkit(requestor)
        spec = kit.specs.get(name) if kit is not None else None
        return spec.kind if spec is not None else None

    def diff(self, other: World) -> list[str]:
        """Where two worlds' states differ: ``table/key`` records and ``phone/<part>``."""
        out = [f"{t}/{k}" for t, k in self.agent.db.diff(other.agent.db)]
        if self.phone is not None and other.phone is not None:
            out += [
                f"phone/{p}"
                for p in self.phone.state
                if self.phone.state[p] != other.phone.state[p]
            ]
        return out


def set_up(data: DomainData, row: dict, strict_upstream: bool = True) -> World:
    """A fresh world with the task's scenario set-up applied (telecom breaks the phone here)."""
    world = World(data, strict_upstream)
    for action in (row.get("initial_state") or {}).get("initialization_actions") or []:
        world.run_function(action["env_type"], action["func_name"], action.get("arguments") or {})
    return world


def gold_world(
    data: DomainData, row: dict, skip: int | None = None, strict_upstream: bool = True
) -> World:
    """The task's gold end state: set-up, then every gold action in order (errors are ignored,
    as a failed call changes nothing). ``skip`` leaves out the gold action at that index. The gold
    state follows the same rules as the episode (``strict_upstream``); under ``strict_upstream``
    the gold actions are not synchronised, as in tau2-bench's evaluator (module docstring)."""
    world = set_up(data, row, strict_upstream)
    for i, action in enumerate(row["evaluation_criteria"].get("actions") or []):
        if i != skip:
            who = action.get("requestor") or "assistant"
            world.call(who, action["name"], action["arguments"], sync=not strict_upstream)
    return world
