"""The shape of a built-in coding task, and the scripted collaborator that answers from its facts.

A built-in task is a backend-style function whose request leaves out details that decide the hidden
tests (edge cases, units, ordering, rounding, formats). Those details are written down twice: as
the reference implementation, and as explicit facts, each a set of keywords and the sentence the
user says when a question mentions one of them. The scripted collaborator is therefore
deterministic: the same question always gets the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FACTS_PER_REPLY = 3
DONT_KNOW = "I don't know."
WHOLE_WORD_MAX = 3  # keywords this short match whole words only ("us" must not match "use")


@dataclass(frozen=True)
class Fact:
    """One hidden requirement: question keywords (lowercase) and the user's answer."""

    keywords: tuple[str, ...]
    answer: str

    def matches(self, question: str) -> bool:
        """True when the lowercased question holds a keyword, starting at a word start.

        Longer keywords match as prefixes ("round" matches "rounding", not "around"); keywords of
        at most three characters must stand alone."""
        for kw in self.keywords:
            end = r"(?![a-z0-9])" if len(kw) <= WHOLE_WORD_MAX else ""
            if re.search(r"(?<![a-z0-9])" + re.escape(kw) + end, question):
                return True
        return False


@dataclass(frozen=True)
class BuiltinTask:
    """A function to write: its name, signature, the vague request, the hidden truth and tests."""

    name: str
    signature: str
    request: str
    facts: tuple[Fact, ...]
    reference: str
    tests: tuple[str, ...]


def scripted_reply(task_facts: tuple[Fact, ...] | list[Fact], question: str) -> str:
    """The scripted user's answer: the facts the question is about (at most three, in the task's
    order), or "I don't know." when it mentions none of them."""
    text = question.lower()
    hits = [f.answer for f in task_facts if f.matches(text)]
    return " ".join(hits[:MAX_FACTS_PER_REPLY]) if hits else DONT_KNOW
