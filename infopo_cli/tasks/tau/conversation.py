"""The customer's side of a conversation, as both benchmarks script and score it.

* ``STOP`` ends a conversation (the customer writes it; in tau2 the agent may too).
* ``swap_pronouns`` turns a task's second-person description ("your order") into what the
  customer would say ("my order"); bare "you" is left to the caller, because the two scripted
  customers decide differently between "I" and "me".
* ``CONFIRM_PHRASES``: an agent message with one of them asks the customer to confirm.
* ``mentioned``: whether a required output occurs in what the agent said (case-insensitive,
  commas in the messages ignored), the outputs / COMMUNICATE check of both rewards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

STOP = "###STOP###"
PRONOUN_SWAPS = (
    (r"\byou are\b", "I am"),
    (r"\byou were\b", "I was"),
    (r"\byou're\b", "I'm"),
    (r"\byou've\b", "I've"),
    (r"\byou'd\b", "I'd"),
    (r"\byou'll\b", "I'll"),
    (r"\byourself\b", "myself"),
    (r"\byours\b", "mine"),
    (r"\byour\b", "my"),
)
CONFIRM_PHRASES = (
    "confirm",
    "proceed",
    "shall i",
    "should i",
    "go ahead",
    "would you like me to",
    "do you want me to",
)


def swap_pronouns(text: str, keep_case: bool) -> str:
    """``PRONOUN_SWAPS`` applied to ``text``. With ``keep_case`` a capitalised match stays
    capitalised ("Your" -> "My"), as does "I"; without, every match becomes the replacement as written."""
    for pattern, repl in PRONOUN_SWAPS:
        sub = (lambda m, r=repl: _keep_case(m.group(0), r)) if keep_case else repl
        text = re.sub(pattern, sub, text, flags=re.IGNORECASE)
    return text


def _keep_case(found: str, repl: str) -> str:
    return repl[0].upper() + repl[1:] if found[:1].isupper() or repl.startswith("I") else repl


def mentioned(output: str, messages: Sequence[str], ignore_output_commas: bool) -> bool:
    """Whether ``output`` occurs in some message, case-insensitively and ignoring the messages'
    commas; tau2-bench also drops the commas of ``output`` itself, tau-bench v1 does not."""
    wanted = output.lower()
    if ignore_output_commas:
        wanted = wanted.replace(",", "")
    return any(wanted in m.lower().replace(",", "") for m in messages)
