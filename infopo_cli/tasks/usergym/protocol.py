"""The agent's side of the UserGym protocol: one tool, ``interact_with_env(choice, content)``.

The policy writes plain text, so the tool call is read back out of it. Accepted forms, tried in
this order after dropping ``<think>...</think>`` reasoning (fences like ```json are tolerated):

1. A JSON object with ``choice`` and ``content``, either bare
   ``{"choice": "action", "content": "Is it an animal?"}`` or wrapped as a call
   ``{"name": "interact_with_env", "arguments": {...}}`` (``arguments`` may itself be a JSON
   string), optionally inside ``<tool_call>...</tool_call>``. The first such object wins.
2. A Python-style call ``interact_with_env(choice="answer", content="42")``.
3. A line ``choice: content`` (or the gym prefix form ``[choice] content``); the content runs to the
   end of the message. ``choice`` is matched case-insensitively.

``choice`` is one of ``action``, ``answer``, ``search``, or ``finish`` (ends the episode; the
content is ignored). Anything else is a :class:`ParseFailure` whose ``message`` is shown to the
agent as the environment's feedback.

A model given the tool natively (``tool_schema``, rendered by its chat template) writes form 1 in
its own ``<tool_call>`` block; a block that cannot be read as a call is a ParseFailure naming what
is wrong with it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from infopo_cli.tasks.tool_calls import find_native_call
from infopo_cli.tasks.usergym.text import json_objects, strip_fences

TOOL_NAME = "interact_with_env"
CHOICES = ("action", "answer", "search", "finish")


@dataclass(frozen=True)
class ToolCall:
    choice: str
    content: str


@dataclass(frozen=True)
class ParseFailure:
    """``unknown_choice``: the call itself was readable, only its ``choice`` is not one of
    :data:`CHOICES` (UserRL hands such a call to the gym, which answers with a format error and
    goes on; an unreadable call ends the episode there)."""

    message: str
    unknown_choice: bool = False


_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_LINE_RE = re.compile(
    r"^\s*(?:\[(action|answer|search|finish)\]|(action|answer|search|finish)\s*:)[ \t]*(.*)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
_CALL_START_RE = re.compile(rf"\b{TOOL_NAME}\s*\(")

FORMAT_HELP = (
    f'Write one call: {{"name": "{TOOL_NAME}", "arguments": {{"choice": "action|answer|search", '
    f'"content": "..."}}}}, or a line "choice: content".'
)


def _from_mapping(obj: object) -> ToolCall | ParseFailure | None:
    """A ToolCall from a parsed JSON value, None when it is not a tool call at all."""
    if not isinstance(obj, dict):
        return None
    args = obj
    if "arguments" in obj or "parameters" in obj:
        args = obj.get("arguments", obj.get("parameters"))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return ParseFailure(f"The tool arguments are not valid JSON. {FORMAT_HELP}")
        if not isinstance(args, dict):
            return ParseFailure(f"The tool arguments must be a JSON object. {FORMAT_HELP}")
    if "choice" not in args:
        return None
    return _make(args.get("choice"), args.get("content", ""))


def _make(choice: object, content: object) -> ToolCall | ParseFailure:
    c = str(choice).strip().lower()
    if c not in CHOICES:
        return ParseFailure(
            f"Unknown choice {str(choice)!r}: use one of action, answer, search.",
            unknown_choice=True,
        )
    if content is None:
        content = ""
    if not isinstance(content, str):
        content = json.dumps(content) if isinstance(content, (dict, list)) else str(content)
    return ToolCall(c, content.strip())


def _from_python_call(text: str) -> ToolCall | ParseFailure | None:
    m = _CALL_START_RE.search(text)
    if m is None:
        return None
    start = m.start()
    # The call ends at some ')': try each candidate until the expression parses.
    for end in [i for i, ch in enumerate(text) if ch == ")" and i > m.end() - 1]:
        try:
            node = ast.parse(text[start : end + 1].strip(), mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(node, ast.Call):
            continue
        values: dict[str, object] = {}
        try:
            for i, arg in enumerate(node.args[:2]):
                values[("choice", "content")[i]] = ast.literal_eval(arg)
            for kw in node.keywords:
                if kw.arg in ("choice", "content"):
                    values[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            return ParseFailure(f"The tool call arguments must be plain strings. {FORMAT_HELP}")
        if "choice" not in values:
            return ParseFailure(f"The tool call has no choice. {FORMAT_HELP}")
        return _make(values["choice"], values.get("content", ""))
    return ParseFailure(f"The {TOOL_NAME}(...) call could not be read. {FORMAT_HELP}")


def parse_tool_call(text: str) -> ToolCall | ParseFailure:
    """Read the agent's ``interact_with_env`` call out of its message (see module docstring)."""
    body = _THINK_RE.sub("", text).strip()
    if not body:
        return ParseFailure(f"No tool call found (the message is empty). {FORMAT_HELP}")
    native = find_native_call(body)
    if native is not None and native.error is not None:
        return ParseFailure(f"The tool call could not be read: {native.error}.")
    if native is not None:
        call = _from_mapping({"arguments": native.arguments})
        return (
            call
            if call is not None
            else ParseFailure(f"The tool call has no choice. {FORMAT_HELP}")
        )
    unfenced = body.replace("<tool_call>", " ").replace("</tool_call>", " ")
    for value in json_objects(unfenced):
        call = _from_mapping(value)
        if call is not None:
            return call
    call = _from_python_call(unfenced)
    if call is not None:
        return call
    m = _LINE_RE.search(strip_fences(body))
    if m:
        choice = m.group(1) or m.group(2)
        return _make(choice, strip_fences(m.group(3)))
    return ParseFailure(f"No tool call found. {FORMAT_HELP}")


def format_call(choice: str, content: str) -> str:
    """The canonical text of a tool call (what oracle policies write, and the hint shows)."""
    return json.dumps({"name": TOOL_NAME, "arguments": {"choice": choice, "content": content}})


def compact_hint(choices: tuple[str, ...]) -> str:
    """The tool-call note of the compact system prompt."""
    return f" Reply with one call: {format_call(choices[0], '...')}"


def tool_hint(choices: tuple[str, ...]) -> str:
    """Appended to every gym's system prompt: how a text-only policy calls the tool."""
    listed = ", ".join(f"`{c}`" for c in choices)
    example = format_call(choices[0], "...")
    return (
        "\n\n- How to call the tool: after your reasoning, write exactly one call as a JSON object, "
        f"for example {example}. The `choice` must be one of {listed}; `content` is a string. "
        "Each message may contain one call; the environment's reply comes back as the next message."
    )


def tool_schema(choices: tuple[str, ...]) -> dict:
    """The tool as a JSON schema, for chat templates that render tools themselves."""
    listed = ", ".join(choices)
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": (
                "Act in the environment. One call per message; the environment's reply comes back "
                "as the next message."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "choice": {
                        "type": "string",
                        "enum": list(choices),
                        "description": f"What the call does: one of {listed}.",
                    },
                    "content": {
                        "type": "string",
                        "description": "The question, action, search query or answer.",
                    },
                },
                "required": ["choice", "content"],
            },
        },
    }
