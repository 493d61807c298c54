"""The customer side: simulator instructions, and a scripted stand-in customer.

``user_instructions`` is what a model-backed simulator gets as its system prompt: the benchmark's
user-simulation guidelines (the variant with tools for telecom), for telecom a description of the
phone tools in this project's text protocol, then ``<scenario>...</scenario>`` with the task's
persona and instructions (reason for call, known and unknown facts, behaviour rules).

``scripted_reply`` is NOT the benchmark's user. It is a deterministic stand-in for CPU smoke runs
and the oracle check: it states the scenario's facts when asked (first person, by simple word
substitution), confirms proposed actions, runs a phone tool when the agent names it (telecom) and
reports the result, answers ``###TRANSFER###`` when the agent says it has transferred the customer
(as the benchmark's guidelines ask), and ends the conversation when the agent asks whether there is
anything else.
It follows none of the scenario's behaviour rules; do not read benchmark numbers off it.

In the conversation handed to a simulator, the customer's own tool calls appear as its messages
(``TOOL: ...``) and their results as messages from the other side starting with ``TOOL_RESULT``
(so simulators that only know the roles agent and user can render them).
"""

from __future__ import annotations

import json
import re
import textwrap

from infopo_cli.tasks.tau.conversation import CONFIRM_PHRASES, STOP, swap_pronouns
from infopo_cli.tasks.tau.tools import ToolSpec
from infopo_cli.tasks.tau2.protocol import TRANSFER, format_tool_call

TOOL_RESULT = "TOOL_RESULT (only you see this):"
SCENARIO_FIELDS = (
    ("domain", "Domain"),
    ("reason_for_call", "Reason for call"),
    ("known_info", "Known info"),
    ("unknown_info", "Unknown info"),
    ("task_instructions", "Task instructions"),
)


def scenario_text(scenario: dict) -> str:
    """The task's user scenario as plain text (persona, then the instruction fields)."""
    out = []
    persona = (scenario.get("persona") or "").strip()
    if persona:
        out.append("Persona:\n" + textwrap.indent(persona, "  "))
    instructions = scenario["instructions"]
    if isinstance(instructions, str):
        out.append("Instructions:\n" + textwrap.indent(instructions.strip(), "  "))
    else:
        for key, label in SCENARIO_FIELDS:
            value = (instructions.get(key) or "").strip()
            if value:
                out.append(f"{label}:\n" + textwrap.indent(value, "  "))
    return "\n".join(out)


def phone_tools_text(specs: dict[str, ToolSpec]) -> str:
    lines = [
        "## Your phone tools",
        "To use a tool on your phone, reply with exactly one line and nothing else:",
        'TOOL: <tool_name> {"argument": "value"}',
        f"The result comes back as a message starting with '{TOOL_RESULT}'; the agent does not "
        "see it. Then tell the agent what you found, in your own words.",
        "Tools:",
    ]
    # one line per tool: a description's paragraphs are joined (the JSON schemas keep them)
    lines += [f"- {s.signature()}: {' '.join(s.description.split())}" for s in specs.values()]
    return "\n".join(lines)


def user_instructions(guidelines: str, scenario: dict, phone: dict[str, ToolSpec] | None) -> str:
    """The system prompt of a model-backed simulated customer."""
    parts = [guidelines.strip()]
    if phone:
        parts.append(phone_tools_text(phone))
    parts.append("<scenario>\n" + scenario_text(scenario) + "\n</scenario>")
    return "\n\n".join(parts)


# -- the scripted stand-in --------------------------------------------------------------------------

_SUBJECT_AFTER = {
    "and", "but", "because", "if", "that", "when", "so", "then", "as", "or", "since", "until",
    "while", "unless", "though", "although", "also", "now",
}  # fmt: skip
IDENTITY_WORDS = (
    "user id", "name", "zip", "email", "phone number", "identify", "identity", "verify",
    "authenticate", "account", "date of birth", "customer id",
)  # fmt: skip
CONFIRM_WORDS = (*CONFIRM_PHRASES, "yes or no", "(yes/no)")  # found anywhere, even in a word
PHONE_PHRASES = (
    ("status bar", "check_status_bar"),
    ("speed test", "run_speed_test"),
    ("network status", "check_network_status"),
    ("sim status", "check_sim_status"),
    ("apn settings", "check_apn_settings"),
    ("send mms", "can_send_mms"),
    ("payment request", "check_payment_request"),
)


def to_first_person(text: str) -> str:
    """Second-person scenario text as the customer would say it ("You are X" -> "I am X")."""
    out = swap_pronouns(" ".join(text.split()), keep_case=True)
    return re.sub(r"\byou\b", _subject_or_object, out, flags=re.IGNORECASE)


def _subject_or_object(m: re.Match) -> str:
    """'you' as a subject (sentence start, after a conjunction) is 'I', otherwise 'me'."""
    before = m.string[: m.start()].rstrip()
    previous = re.findall(r"[A-Za-z']+$", before)
    if not before or before[-1] in ".!?;:," or (previous and previous[0].lower() in _SUBJECT_AFTER):
        return "I"
    return "me"


def find_phone_call(text: str, phone: dict[str, ToolSpec]) -> tuple[str, dict] | None:
    """A phone tool the agent asked for: its name (with a JSON object after it, if any), else a
    few plain phrases for the read-only checks."""
    for name in sorted(phone, key=len, reverse=True):
        m = re.search(rf"\b{name}\b", text)
        if m is None:
            continue
        rest = text[m.end() :].lstrip(" `:(")
        args: dict = {}
        if rest.startswith("{"):
            try:
                value, _ = json.JSONDecoder().raw_decode(rest)
                args = value if isinstance(value, dict) else {}
            except json.JSONDecodeError:
                args = {}
        return name, args
    low = text.lower()
    for phrase, name in PHONE_PHRASES:
        if phrase in low and name in phone:
            return name, {}
    return None


def scripted_reply(
    scenario: dict, conversation: list[dict], phone: dict[str, ToolSpec] | None
) -> str:
    """The stand-in customer's next message (see the module docstring for its rules)."""
    last = conversation[-1]["content"]
    if last.startswith(TOOL_RESULT):
        return "I did that. My phone shows: " + " ".join(last[len(TOOL_RESULT) :].split())
    if phone:
        call = find_phone_call(last, phone)
        if call is not None:
            return format_tool_call(*call)
    low = last.lower()
    if "transferred you" in low or "transferring you" in low:
        return TRANSFER
    if "anything else" in low:
        return f"No, that's all. Thank you! {STOP}"
    if any(w in low for w in CONFIRM_WORDS):
        return "Yes, please go ahead."
    instructions = scenario["instructions"]
    if isinstance(instructions, str):
        reason, facts = to_first_person(instructions), ""
    else:
        reason = to_first_person(instructions.get("reason_for_call") or "")
        facts = to_first_person(instructions.get("known_info") or "")
        unknown = to_first_person(instructions.get("unknown_info") or "")
        facts = " ".join(x for x in (facts, unknown) if x)
    said = {m["content"] for m in conversation if m["role"] == "user"}
    if facts and any(w in low for w in IDENTITY_WORDS):
        return facts
    if reason and reason not in said:
        return reason
    if facts and facts not in said:
        return facts
    return "I have told you everything I know. Could you please help me with my request?"
