"""The agent's system prompt: role and protocol, the domain policy, the tools.

``full`` (the benchmark setting): the whole policy and every tool with its description and
argument types. ``compact`` (for small models with a short context, e.g. CPU smoke runs): the
policy cut to ``policy_max_chars`` (at a line break, marked as cut) and tools as bare signatures.
``native_system_prompt`` is the prompt for chat templates that render the tools themselves (the
tools go as JSON schemas, ``ToolSpec.json_schema``): the same rules and policy, without the text
protocol and the tool listing.
"""

from __future__ import annotations

from infopo_cli.tasks.tau.conversation import STOP
from infopo_cli.tasks.tau.tools import ToolSpec

COMPACT_POLICY_CHARS = 400
CUT_MARK = "[... policy shortened ...]"

RULES_FULL = f"""You are a customer service agent. Help the customer and follow the policy below exactly.
Each message you write is EITHER a message to the customer OR one tool call, never both.
A tool call is one line: the word TOOL:, the tool name, then the arguments as a JSON object, e.g.
TOOL: calculate {{"expression": "2 + 3"}}
The result comes back to you in a tool message; the customer does not see it.
When the conversation is over, write {STOP}."""

RULES_NATIVE = f"""You are a customer service agent. Help the customer and follow the policy below exactly.
Each message you write is EITHER a message to the customer OR one tool call, never both.
The result of a tool call comes back to you in a tool message; the customer does not see it.
When the conversation is over, write {STOP}."""

RULES_COMPACT_NATIVE = f"""You are a customer service agent; follow the policy. Write either a message to the customer or one tool call. End with {STOP}."""

RULES_COMPACT = f"""You are a customer service agent; follow the policy. Write either a message to the customer or one tool call: TOOL: name {{"arg": "value"}}. End with {STOP}."""


def cut_policy(policy: str, max_chars: int | None) -> str:
    """``policy`` shortened to at most ``max_chars`` characters, at a line break when possible."""
    if max_chars is None or len(policy) <= max_chars:
        return policy
    head = policy[:max_chars]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    return head.rstrip() + "\n" + CUT_MARK


def system_prompt(
    policy: str, tools: dict[str, ToolSpec], mode: str, policy_max_chars: int | None
) -> str:
    if mode == "full":
        listing = "\n".join(f"- {s.signature()}: {s.description}" for s in tools.values())
        return (
            f"{RULES_FULL}\n\n<policy>\n{cut_policy(policy, policy_max_chars)}\n</policy>\n\n"
            f"Tools:\n{listing}"
        )
    limit = COMPACT_POLICY_CHARS if policy_max_chars is None else policy_max_chars
    listing = "; ".join(s.call_form() for s in tools.values())
    return f"{RULES_COMPACT}\n<policy>\n{cut_policy(policy, limit)}\n</policy>\nTools: {listing}"


def native_system_prompt(policy: str, mode: str, policy_max_chars: int | None) -> str:
    if mode == "full":
        return f"{RULES_NATIVE}\n\n<policy>\n{cut_policy(policy, policy_max_chars)}\n</policy>"
    limit = COMPACT_POLICY_CHARS if policy_max_chars is None else policy_max_chars
    return f"{RULES_COMPACT_NATIVE}\n<policy>\n{cut_policy(policy, limit)}\n</policy>"
