"""PersuadeGym: talk the user out of a claim it holds.

The user (the simulator) starts at "Strongly Agree" with the claim and its own supporting argument.
Each turn the agent sends an argument (``answer``; ``action`` is accepted as the same thing); the
user replies and ends with its current stance, one of seven levels:

    Strongly Agree, Agree, Partly Agree, Neutral, Partly Disagree, Disagree, Strongly Disagree

Turn reward: the number of levels the stance moved toward disagreement since the previous turn,
divided by 6 (0 when it stays or moves back). The episode ends at "Strongly Disagree". A reply
without a readable stance keeps the previous one. There is no oracle policy; the demonstrator
(``demo_action``, for supervised warm starts) sends a templated counter-argument.

Under UserRL's rules (``upstream_rules``; gyms/PersuadeGym/persuadegym/env/persuade_env.py and
prompts.py) the user answers in JSON ``{"thought", "response", "stance"}`` with no limit on how far
it moves in one turn; the agent sees only the ``response`` (the stance stays hidden); the stance
must be one of the seven labels exactly, and any other text becomes the stance as written, so the
turns that move from or to it score 0 (``calculate_stance_levels_changed`` gives 0 when a label is
not in the list). The project's variant (``upstream_rules=False``) caps the user at one or two
steps a turn, shows the agent the reply with its "Stance:" line, and maps near labels ("somewhat
agree", any case) onto the scale.

Scripted stand-in (``simulator=scripted``; not the benchmark's LLM user): the stance moves one level
toward disagreement when the argument is new (not a repeat of an earlier one), has at least 12
content words, and shares at least 3 content words with the claim and the user's argument (it
engages the user's position); otherwise it stays.
"""

from __future__ import annotations

import json
import random
import re

from infopo_cli.tasks.base import StepResult
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.text import content_words, first_json_dict

STANCES = (
    "Strongly Agree",
    "Agree",
    "Partly Agree",
    "Neutral",
    "Partly Disagree",
    "Disagree",
    "Strongly Disagree",
)
MIN_WORDS, MIN_OVERLAP = 12, 3
DEMO_ANGLES = (
    "the costs and who pays them",
    "the evidence from places that tried it",
    "the unintended consequences",
    "fairness to the people most affected",
)

_LABEL = r"(strongly agree|strongly disagree|partly agree|partly disagree|somewhat agree|somewhat disagree|neutral|agree|disagree)"
_STANCE_LINE_RE = re.compile(rf"stance\W{{0,3}}\s*{_LABEL}\b", re.IGNORECASE)
_LABEL_RE = re.compile(rf"\b{_LABEL}\b", re.IGNORECASE)

USER_RULES = """\
You are in a debate. You hold this claim: "{claim}"
Your own reasoning for it:
{argument}

The other side disagrees and will try to change your mind. Read their latest argument and reply in
a few sentences, in your own voice: weigh it honestly, point out what you find weak, acknowledge
what is convincing. Do not give in easily, but do let good, relevant arguments move you; move at
most one or two steps at a time. Your stance so far: {stance}.

End your reply with one line "Stance: <label>", where <label> is exactly one of: {labels}."""


USER_RULES_UPSTREAM = """\
Someone is trying to talk you out of a position. The statement under discussion:
"{claim}"
The argument you started from:
{argument}
Your stance before their latest message: {stance}.

Answer their latest argument thoughtfully and in your own words, speaking to them as "you" (at most
about 200 tokens). Take it seriously, point out flawed reasoning where you see it, and change your
mind if the evidence convinces you. Reply with JSON only:
{{"thought": "<your private reasoning>", "response": "<what you say to them>", "stance": "<exactly
one of: {labels}>"}}"""


def parse_upstream_reply(reply: str) -> tuple[str, str] | None:
    """(response, stance label as written) from a JSON reply; None when either is missing."""
    obj = first_json_dict(reply, "stance")
    if obj is None or "response" not in obj:
        return None
    return str(obj["response"]), str(obj["stance"])


def upstream_reward(before: str, after: str) -> float:
    """UserRL's calculate_persuasion_reward: levels moved toward disagreement / 6, rounded to six
    decimals as it does (one level: 0.166667), 0 when either label is not exactly one of the
    seven."""
    if before not in STANCES or after not in STANCES:
        return 0.0
    return round(stance_reward(STANCES.index(before), STANCES.index(after)), 6)


# UserRL's fallback text when the user's reply cannot be read (prompts.py, evaluate_action).
UNREADABLE = "I'm having trouble understanding your argument right now."


def parse_stance(reply: str) -> int | None:
    """Level 0-6 of the stance a reply states (its last "Stance: ..." line, else the last label)."""
    found = _STANCE_LINE_RE.findall(reply) or _LABEL_RE.findall(reply)
    if not found:
        return None
    label = found[-1].lower().replace("somewhat", "partly")
    return [s.lower() for s in STANCES].index(label)


def stance_reward(before: int, after: int) -> float:
    return max(0, after - before) / (len(STANCES) - 1)


class PersuasionEnv(GymEnv):
    kind = "persuasion"
    choices = ("answer", "action")
    passthrough = "answer"
    compact_prompt = (
        "The user holds the claim below and you oppose it. Change their mind, one argument per "
        "turn; they report their stance each time. Choice: answer '<argument>'."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.claim: str = self.record["claim"]
        self.argument: str = self.record["argument"]
        self.level = 0
        self.max_level = 0
        self.dialogue: list[dict[str, str]] = []
        self._seen: set[str] = set()
        self.stance = STANCES[0]  # the label as the user wrote it (upstream rules: may be off-list)

    def scripted_reply(self, message: str, fresh: bool) -> str:
        words = content_words(message)
        shared = words & content_words(self.claim + " " + self.argument)
        level = self.level
        if fresh and len(words) >= MIN_WORDS and len(shared) >= MIN_OVERLAP:
            level = min(level + 1, len(STANCES) - 1)
            text = f"You make a fair point about {', '.join(sorted(shared)[:3])}. I am less sure than before."
        elif not fresh:
            text = "You already said that, and it did not change my mind."
        else:
            text = f"That does not really address my view that {self.claim[0].lower() + self.claim[1:]}."
        if self.upstream_rules:
            return json.dumps({"thought": "", "response": text, "stance": STANCES[level]})
        return f"{text}\nStance: {STANCES[level]}"

    def act(self, choice: str, content: str) -> StepResult:
        self.dialogue.append({"role": "agent", "content": content})
        key = " ".join(sorted(content_words(content)))
        fresh = key not in self._seen
        self._seen.add(key)
        rules = USER_RULES_UPSTREAM if self.upstream_rules else USER_RULES
        instructions = rules.format(
            claim=self.claim,
            argument=self.argument,
            stance=self.stance if self.upstream_rules else STANCES[self.level],
            labels=", ".join(STANCES),
        )
        return self.ask(
            "user", instructions, list(self.dialogue), lambda: self.scripted_reply(content, fresh)
        )

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        if self.upstream_rules:
            return self._on_reply_upstream(reply)
        self.dialogue.append({"role": "user", "content": reply})
        new = parse_stance(reply)
        before = self.level
        if new is not None:
            self.level = new
            self.max_level = max(self.max_level, new)
        reward = stance_reward(before, self.level)
        done = self.level == len(STANCES) - 1
        return self.result(reply, reward=reward, done=done, info={"stance": STANCES[self.level]})

    def _on_reply_upstream(self, reply: str) -> StepResult:
        parsed = parse_upstream_reply(reply)
        if parsed is None:  # UserRL keeps the stance and scores 0 when the reply is unreadable
            self.dialogue.append({"role": "user", "content": UNREADABLE})
            return self.result(UNREADABLE, info={"stance": self.stance, "unreadable": True})
        response, stance = parsed
        self.dialogue.append({"role": "user", "content": response})
        reward = upstream_reward(self.stance, stance)
        self.stance = stance
        if stance in STANCES:
            self.level = STANCES.index(stance)
            self.max_level = max(self.max_level, self.level)
        done = stance == STANCES[-1]
        return self.result(response, reward=reward, done=done, info={"stance": stance})

    def demo_action(self, rng: random.Random) -> str:
        """A templated counter-argument that engages the claim (the gym has no oracle)."""
        claim = self.claim[0].lower() + self.claim[1:]
        angle = rng.choice(DEMO_ANGLES)
        return format_call(
            "answer",
            f"I understand why you hold that {claim}, but consider {angle}: the benefits you "
            "expect are uncertain, while the drawbacks fall on real people and are hard to undo.",
        )

    def success(self) -> bool:
        """The user ended on the disagreeing side (Partly Disagree or further)."""
        return self.level >= STANCES.index("Partly Disagree")
