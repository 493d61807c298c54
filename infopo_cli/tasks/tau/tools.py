"""A tool's declaration, its failures, and how a call's outcome becomes the text the caller reads.

A tool is declared by a ``ToolSpec``: name, kind, description and JSON-schema arguments, rendered
for prompts (``signature``, ``call_form``) and for chat templates (``json_schema``). tau2 attaches
specs to the methods of a ``Toolkit`` (``tasks/tau2/toolkit.py``); TauGym binds each spec to a
function (``tasks/usergym/tau/tools.py``). Each variant checks arguments its own way before the
call.

Expected failures (``ToolError``: bad arguments, a record that does not exist, a rule of the
domain) come back as ``"Error: ..."`` text, never as exceptions, because an agent must be able to
read its mistake and try again (``outcome``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
KINDS = ("read", "write", "generic")  # generic: changes nothing and reads nothing (calculate)


class ToolError(Exception):
    """A failure the caller should read (bad argument, missing record, domain rule)."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, purpose and arguments, as the agent (or the user) is shown them.

    ``kind`` is ``read`` (never changes state), ``write`` (may change it) or ``generic``; gold-action
    replay and the "drop one write" checks use it. An argument schema marked ``optional`` may be
    left out (the function's default applies).
    """

    name: str
    kind: str
    description: str
    params: dict[str, JSON]

    @property
    def required(self) -> list[str]:
        return [k for k, s in self.params.items() if not s.get("optional")]

    def parameters(self) -> JSON:
        """The arguments as one JSON-schema object."""
        props = {k: _public(s) for k, s in self.params.items()}
        return {"type": "object", "properties": props, "required": self.required}

    def function_schema(self) -> JSON:
        """Name, description and parameters: the function object of a tool schema."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters()}

    def json_schema(self) -> JSON:
        """OpenAI-style function schema, as chat templates with tool support expect it."""
        return {"type": "function", "function": self.function_schema()}

    def call_form(self) -> str:
        """``name(arg, other)``: the shortest listing, for compact prompts."""
        return f"{self.name}({', '.join(self.params)})"

    def signature(self) -> str:
        """``name(arg: type, other?: type)``: a one-line form for plain-text prompts."""
        args = ", ".join(
            f"{k}{'?' if s.get('optional') else ''}: {_type_text(s)}"
            for k, s in self.params.items()
        )
        return f"{self.name}({args})"


def _public(schema: JSON) -> JSON:
    out = {
        k: v for k, v in schema.items() if k != "optional" and not (k == "description" and not v)
    }
    if "items" in out:
        out["items"] = _public(out["items"])
    if "properties" in out:
        out["properties"] = {k: _public(v) for k, v in out["properties"].items()}
    return out


def _type_text(schema: JSON) -> str:
    kind = schema["type"]
    if "enum" in schema:
        return "|".join(str(v) for v in schema["enum"])
    if kind == "array":
        return f"list[{_type_text(schema['items'])}]"
    if kind == "object":
        fields = ", ".join(f"{k}: {_type_text(v)}" for k, v in schema["properties"].items())
        return "{" + fields + "}"
    return {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}[kind]


def to_text(result: Any) -> str:
    """A tool's return value as the caller sees it: strings as they are, anything else as JSON."""
    return result if isinstance(result, str) else json.dumps(result, default=str)


def outcome(call: Callable[[], Any], report: tuple[type[Exception], ...] = ()) -> tuple[str, bool]:
    """Run a checked tool call: (result text, ok). A ``ToolError`` reads ``Error: <message>``;
    an exception of a ``report`` type (tau-bench v1 reports Python errors of its tools to the
    agent) reads ``Error: <type>: <message>``; anything else propagates."""
    try:
        result = call()
    except ToolError as e:
        return f"Error: {e}", False
    except report as e:
        return f"Error: {type(e).__name__}: {e}", False
    return to_text(result), True
