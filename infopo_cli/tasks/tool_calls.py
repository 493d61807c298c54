"""Tool calls in the model's own format: a ``<tool_call>`` block holding one JSON object.

Chat templates with tool support (Qwen2.5, Qwen3 and other Hermes-style ones) teach the model to
call a tool as::

    <tool_call>
    {"name": "get_user_details", "arguments": {"user_id": "sara_doe_496"}}
    </tool_call>

Environments read this beside their text protocol, so a call in either form becomes the same
action. Only the first block counts (one call per message, as in the text protocols). A block cut
off before ``</tool_call>`` (the reply hit its token limit) is read as far as it goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
SHAPE = '{"name": "<tool>", "arguments": {...}}'


@dataclass(frozen=True)
class NativeCall:
    """``error`` is set (and ``arguments`` None) when the block could not be read as a call."""

    name: str
    arguments: dict[str, Any] | None
    error: str | None = None


def find_native_call(text: str) -> NativeCall | None:
    """The first ``<tool_call>`` block of ``text`` as a call, or None when there is none."""
    start = text.find(CALL_OPEN)
    if start < 0:
        return None
    body = text[start + len(CALL_OPEN) :]
    end = body.find(CALL_CLOSE)
    body = (body[:end] if end >= 0 else body).strip()
    try:
        obj, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as e:
        return _bad(f"is not JSON ({e.msg} at column {e.colno})")
    if not isinstance(obj, dict):
        return _bad("must hold one JSON object")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return _bad('has no "name"')
    # "parameters" is what some models write (Llama-style); a JSON string is what others do.
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            return NativeCall(name, None, f'"arguments" is not JSON ({e.msg} at column {e.colno})')
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return NativeCall(name, None, '"arguments" must be a JSON object, such as {"id": "X1"}')
    return NativeCall(name, args)


def _bad(what: str) -> NativeCall:
    return NativeCall(
        "", None, f"the {CALL_OPEN} block {what}; write {CALL_OPEN}{SHAPE}{CALL_CLOSE}"
    )
