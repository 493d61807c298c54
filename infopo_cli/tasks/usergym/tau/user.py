"""The customer in TauGym: the LLM user's instructions and the scripted stand-in.

The LLM user gets the task's instruction (written to the customer in the second person) and plays
that customer; it ends the conversation by writing ``###STOP###``.

The scripted user (``simulator=scripted``) is a deterministic stand-in for tests and CPU runs, not
the benchmark's user. It turns the instruction into first-person sentences ("You are Yusuf Rossi
in 19122." -> "I am Yusuf Rossi in 19122.") and answers each agent message with the (at most two)
sentences sharing the most content words with it, preferring ones it has not said yet; when
nothing matches it says the next unsaid sentence. It agrees when asked to confirm, and ends the
conversation (``###STOP###``) when the agent says goodbye.
"""

from __future__ import annotations

import re

from infopo_cli.tasks.tau.conversation import CONFIRM_PHRASES, STOP, swap_pronouns
from infopo_cli.tasks.usergym.text import content_words

USER_RULES = """\
You are a customer contacting the customer service of {business} by chat. Play this customer
(the description speaks to you as "you"):
{instruction}

How to behave:
- Write short, natural messages, as a customer would; never act as the agent.
- Give information only when it is asked for or needed, a little at a time. Never make up names,
  ids, numbers or wishes that the description does not give; if asked for something you do not
  know, say so.
- Pursue exactly the goals described, in the order that feels natural. Confirm an action the agent
  proposes only if it matches your goals.
- When your goals are handled, or the agent cannot help any further, end the conversation with a
  last message that contains {stop}."""

# tau-bench's own user rules (tau_bench/envs/user.py, the LLM user UserRL's TauGym wraps), in the
# project's words: one line at a time, only what the current step needs, nothing invented, no
# verbatim instruction, and ###STOP### alone once the goal is met.
USER_RULES_UPSTREAM = """\
You are a customer chatting with a customer-service agent of {business}. Your situation and goal
(the description speaks to you as "you"):
{instruction}

Rules:
- Write one line per message, as this customer would type it.
- Reveal the description bit by bit: give only what the current step needs.
- Never invent what the description does not give (an order id, a name, a number); if asked for
  it, say you do not have or remember it.
- Put things in your own words; do not copy the description.
- Keep to the personality the description gives you.
- Once your goal is met, send {stop} as a message of its own, with nothing else."""

# tau-bench's user is started with this agent greeting and writes the conversation's first message.
AGENT_GREETING = "Hi! How can I help you today?"

_YOU_AS_OBJECT = re.compile(
    r"\b(to|for|with|from|asks?|tells?|gives?|helps?|offers?|sends?|lets?|charges?|refunds?)\s+you\b",
    re.IGNORECASE,
)
_FAREWELL_RE = re.compile(r"\b(good ?bye|bye|have a (nice|great|good) (day|one))\b", re.IGNORECASE)
_CONFIRM_RE = re.compile(r"\b(" + "|".join(CONFIRM_PHRASES) + r")\b", re.IGNORECASE)


def first_person(text: str) -> str:
    """Rewrite a second-person instruction in the first person (a simple word-swap): "you" after
    a verb or preposition that takes an object is "me", any other "you" is "I"."""
    out = swap_pronouns(text, keep_case=False)
    out = _YOU_AS_OBJECT.sub(r"\1 me", out)
    out = re.sub(r"\byou\b", "I", out, flags=re.IGNORECASE)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


class ScriptedCustomer:
    """The rule-based customer of one episode (see module docstring)."""

    def __init__(self, instruction: str):
        self.lines = sentences(first_person(instruction))
        self.words = [content_words(s) for s in self.lines]
        self.said: set[int] = set()

    def reply(self, agent_message: str) -> str:
        if _FAREWELL_RE.search(agent_message):
            return f"Thank you, that is all. {STOP}"
        asked = content_words(agent_message)
        ranked = sorted(
            (i for i in range(len(self.lines)) if self.words[i] & asked),
            key=lambda i: (-len(self.words[i] & asked), i in self.said, i),
        )
        picked = ranked[:2]
        if not picked:
            unsaid = [i for i in range(len(self.lines)) if i not in self.said]
            picked = unsaid[:1]
        self.said.update(picked)
        parts = ["Yes, please go ahead."] if _CONFIRM_RE.search(agent_message) else []
        parts += [self.lines[i] for i in sorted(picked)]
        return " ".join(parts) if parts else "I have told you everything I know."
