"""How a TauGym tool is declared, checked and run (tau-bench v1's rules).

A tool is a ``Tool``: the shared ``ToolSpec`` (``tasks/tau/tools.py``) bound to a plain function
``fn(db, **arguments)``; ``rule_tool`` binds a method of a domain's rules instead
(``TauBenchAirline``, ``TauBenchRetail``). ``Tool.call`` follows tau-bench v1, not tau2-bench:

* arguments are checked flat: all are required, none may be unknown, each must have its JSON type
  (an array's elements too), but objects inside are not looked into and enums are documentation;
* the arguments are deep-copied (the database may keep them, and gold actions come from shared
  task records), and the function runs inside ``TauDB.atomic``, so a failed call changes nothing;
* a ``ToolError`` reads ``Error: <message>``, and so does a Python error of the tool
  (``Error: KeyError: ...``), as tau-bench reports tool errors to the agent instead of raising.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infopo_cli.tasks.tau.arithmetic import Calculator
from infopo_cli.tasks.tau.tools import ToolError, ToolSpec, outcome
from infopo_cli.tasks.usergym.tau.db import TauDB

REPORTED = (KeyError, IndexError, TypeError, ValueError, AttributeError)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
}


class Param(dict):
    """One argument as its JSON schema: a type (string, integer, number, array, object), a
    description, the element type of an array, documented choices (the tool enforces them)."""

    def __init__(
        self,
        type: str,
        description: str,
        items: str | None = None,
        enum: tuple[str, ...] | None = None,
    ):
        super().__init__(type=type, description=description)
        if items:
            self["items"] = {"type": items}
        if enum:
            self["enum"] = list(enum)

    def json_type(self) -> str:
        return f"array of {self['items']['type']}" if "items" in self else self["type"]

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, _PY_TYPES[self["type"]]):
            return False
        if self["type"] == "array" and "items" in self:
            allowed = _PY_TYPES[self["items"]["type"]]
            return all(not isinstance(v, bool) and isinstance(v, allowed) for v in value)
        return True


@dataclass(frozen=True, init=False)
class Tool(ToolSpec):
    """A tool spec bound to ``fn(db, **arguments)``; its parameters are ``Param`` schemas.
    ``writes``: it changes the database (kind ``write``; every other tool is ``read``);
    ``ends_episode``: tau-bench's terminating tools (the transfer to a human)."""

    fn: Callable[..., Any]
    ends_episode: bool

    def __init__(
        self,
        name: str,
        description: str,
        fn: Callable[..., Any],
        params: dict[str, Param] | None = None,
        writes: bool = False,
        ends_episode: bool = False,
    ):
        super().__init__(name, "write" if writes else "read", description, dict(params or {}))
        object.__setattr__(self, "fn", fn)  # the dataclass is frozen
        object.__setattr__(self, "ends_episode", ends_episode)

    @property
    def writes(self) -> bool:
        return self.kind == "write"

    def call(self, db: TauDB, arguments: dict[str, Any]) -> str:
        """The text the agent reads: the result, or ``Error: ...``."""
        return outcome(lambda: self._run(db, arguments), REPORTED)[0]

    def _run(self, db: TauDB, arguments: dict[str, Any]) -> Any:
        for k in arguments:
            if k not in self.params:
                accepted = ", ".join(self.params) or "none"
                raise ToolError(f"{self.name} has no argument {k!r} (arguments: {accepted})")
        for k, p in self.params.items():
            if k not in arguments:
                raise ToolError(f"missing argument {k!r} for {self.name}")
            if not p.accepts(arguments[k]):
                raise ToolError(f"argument {k!r} of {self.name} must be a JSON {p.json_type()}")
        kwargs = copy.deepcopy(arguments)
        with db.atomic():
            return self.fn(db, **kwargs)


def rule_tool(
    rules: type,
    name: str,
    description: str,
    params: dict[str, Param] | None = None,
    writes: bool = False,
) -> Tool:
    """The tool that runs method ``name`` of the domain rules ``rules`` (a class over the
    database, such as ``TauBenchRetail``) on the episode's database."""
    method = getattr(rules, name)
    return Tool(name, description, lambda db, **kw: method(rules(db), **kw), params, writes=writes)


# ----- tools both domains share ------------------------------------------------------------
calculator = Calculator(
    refused="invalid characters in expression",
    unparsable="the expression cannot be parsed",
    unsupported="unsupported expression",
    refuse_blank=True,
    max_exponent=64,
)


def calculate(db: TauDB, expression: str) -> str:
    return calculator(expression)


def think(db: TauDB, thought: str) -> str:
    return "Thought noted."


def transfer_to_human_agents(db: TauDB, summary: str) -> str:
    return "Transfer successful"


COMMON_TOOLS = (
    Tool(
        "calculate",
        "Evaluate an arithmetic expression (numbers, + - * /, parentheses); the result is rounded "
        "to two decimals.",
        calculate,
        {"expression": Param("string", "The expression, e.g. '(12.5 + 3) * 2'.")},
    ),
    Tool(
        "think",
        "Write down a thought (planning, reasoning). Changes nothing and shows nothing to the user.",
        think,
        {"thought": Param("string", "The thought.")},
    ),
    Tool(
        "transfer_to_human_agents",
        "Hand the customer over to a human agent, with a summary of the issue. Only when the "
        "request cannot be handled with the other tools or the customer explicitly asks for a "
        "human. Ends the conversation.",
        transfer_to_human_agents,
        {"summary": Param("string", "A short summary of the customer's issue.")},
        ends_episode=True,
    ),
)
