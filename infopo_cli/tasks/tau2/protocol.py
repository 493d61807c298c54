"""The plain-text tool-call protocol shared by the agent and the (telecom) customer.

A message that contains a line starting with ``TOOL:`` is a tool call::

    TOOL: get_user_details {"user_id": "sara_doe_496"}

(name, then a JSON object of arguments; ``TOOL: name`` alone means no arguments). Only the first
such line counts and text around it is ignored; one tool call per message. A model given its tools
natively writes a ``<tool_call>`` block instead (tasks/tool_calls.py); a message with such a block
is read as that call (the block wins over a ``TOOL:`` line), so both forms run the same tool. Any other message is
addressed to the other party. ``###STOP###`` ends the conversation (either side); the customer may
also end it with ``###TRANSFER###`` or ``###OUT-OF-SCOPE###``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from infopo_cli.tasks.tau.conversation import STOP
from infopo_cli.tasks.tool_calls import find_native_call

TOOL_PREFIX = "TOOL:"
TRANSFER = "###TRANSFER###"
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"
USER_END_MARKERS = (STOP, TRANSFER, OUT_OF_SCOPE)
_LINE = re.compile(r"^\s*TOOL:\s*([A-Za-z_][A-Za-z0-9_]*)?\s*(.*)$")


@dataclass
class ToolCall:
    """A parsed call. ``error`` is set when the line was a tool call that could not be read."""

    name: str
    arguments: Any
    error: str | None = None


def parse_tool_call(text: str) -> ToolCall | None:
    """The message's ``<tool_call>`` block, else its first ``TOOL:`` line, as a call; None when
    the message has neither."""
    native = find_native_call(text)
    if native is not None:
        return ToolCall(native.name, native.arguments, native.error)
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        name, rest = m.group(1), m.group(2).strip()
        if not name:
            return ToolCall("", {}, "a tool call needs a tool name: TOOL: <name> {json arguments}")
        if not rest:
            return ToolCall(name, {})
        try:
            args, end = json.JSONDecoder().raw_decode(rest)
        except json.JSONDecodeError as e:
            return ToolCall(
                name, None, f"arguments must be one JSON object ({e.msg} at column {e.colno})"
            )
        if not isinstance(args, dict):
            return ToolCall(name, None, 'arguments must be one JSON object, such as {"id": "X1"}')
        return ToolCall(name, args)
    return None


def format_tool_call(name: str, arguments: dict) -> str:
    return f"{TOOL_PREFIX} {name} {json.dumps(arguments)}"


def has_marker(text: str, markers: tuple[str, ...]) -> str | None:
    """The first of ``markers`` present in ``text`` (None when none is)."""
    return next((m for m in markers if m in text), None)
