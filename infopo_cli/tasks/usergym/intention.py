"""IntentionGym: clarify a vague request by asking about its missing details.

Each task has hidden missing details with an importance of 1-3. Every turn the agent asks one
question (``action``). Two simulator calls follow:

1. a judge marks which details the question asks about (JSON ``{"covered": [numbers]}``);
2. the user, who knows the whole task record, answers the question.

Reward of the turn, over the details covered for the first time by this question: 1.0 / 0.7 / 0.4
for the highest importance among them (3 / 2 / 1), minus 0.2 for each further new detail (a question
that bundles several details is penalised). A question covering no new detail scores 0. The episode
ends when every detail is covered.

Under UserRL's rules (``upstream_rules``; gyms/IntentionGym/intentiongym/env/intention_env.py and
prompts.py) the reward never goes below 0, the judge sees only the details not yet covered,
numbered from 0 as UserRL numbers them (with their importance and example question) and the last three question/answer exchanges, and the user
sees the last three exchanges and answers in JSON (``{"thought", "response"}``). The project's
variant (``upstream_rules=False``) lets the reward go negative (0.7 - 0.2 * 4 = -0.1) and shows
the judge every detail and only the latest question.

Scripted stand-ins (``simulator=scripted``; not the benchmark's LLM judge and user):

* judge: a detail is covered when the question contains at least two content words of the
  detail's description (all of them when the description has only one), or one of its options
  word for word;
* user: states the first option of each detail the question covers ("Type of diabetes: Type 1."),
  and otherwise says it has nothing specific to add.
"""

from __future__ import annotations

import json
import re

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import StepResult
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.text import content_words, first_json_dict

IMPORTANCE_REWARD = {3: 1.0, 2: 0.7, 1: 0.4}
EXTRA_DETAIL_PENALTY = 0.2
NOTHING_TO_ADD = "I don't have anything specific in mind about that."

JUDGE_RULES = """\
An assistant is clarifying this vague request from a user:
{task}

The details the request leaves open are:
{details}

Decide which of these details the assistant's latest question asks about (explicitly or clearly
implicitly). Reply with JSON only: {{"covered": [numbers of the details]}}, or {{"covered": []}} when
it asks about none of them."""

JUDGE_RULES_UPSTREAM = """\
You check how well an assistant's questions clarify a vague request.

Request: {task}
Category: {category}

Details still left open (importance in brackets, with the kind of question that would settle it):
{details}

Recent exchanges:
{history}

Decide which of these open details the assistant's latest question would help settle. A question
that is not about what the user wants from this request settles none. Reply with JSON only:
{{"analysis": "<one or two sentences>", "is_task_related": true or false, "covered": [numbers of
the details]}}."""

USER_RULES_UPSTREAM = """\
You asked for help with this request and left it vague; someone is now asking you about it.
Request: {task}
Category: {category}
What you have in mind (never list or hint at these yourself):
{details}

Recent exchanges:
{history}

Reply to their latest question as this person. If it asks what you prefer for this request, answer
naturally and consistently. If it does not, answer briefly if you can and steer back to what you
need; never volunteer which details are open, never give examples of them, and never solve the task
yourself. Reply with JSON: {{"thought": "<your reasoning>", "response": "<your reply>"}}."""

HISTORY_EXCHANGES = 3  # UserRL's prompts show the last three question/answer pairs

USER_RULES = """\
You are a user who asked an assistant: "{task}" (category: {category}).
You left some details open on purpose. What you actually want, for the assistant to find out:
{details}

Answer the assistant's latest question briefly and naturally, as this user. Reveal only what the
question asks about; when several options are listed for a detail, settle on one of them. If the
question is about nothing on the list, say you have no particular preference. Do not ask questions
back and do not mention this list."""


IMPORTANCE_LABEL = {1: "low", 2: "medium", 3: "high"}


def upstream_detail_list(details: list[dict]) -> str:
    """The open details as UserRL's judge sees them: numbered from 0 (prompts.py
    build_evaluation_prompt enumerates the list from 0 and intention_env.py reads the judge's
    indices from 0), with importance label and example question."""
    lines = []
    for i, d in enumerate(details):
        line = f"{i}. [{IMPORTANCE_LABEL[int(d['importance'])]}] {d['description']}"
        if d.get("inquiry"):
            line += f" (e.g. {d['inquiry']})"
        lines.append(line)
    return "\n".join(lines) or "None: every detail is settled."


def exchange_text(exchanges: list[tuple[str, str]]) -> str:
    if not exchanges:
        return "None yet."
    return "\n".join(f"Q{i}: {q}\nA{i}: {a}" for i, (q, a) in enumerate(exchanges, 1))


def user_response(reply: str) -> str:
    """The ``response`` field of a JSON reply (UserRL's user answers in JSON), else the text."""
    obj = first_json_dict(reply, "response")
    return str(obj["response"]) if obj is not None else reply.strip()


def detail_list(details: list[dict]) -> str:
    return "\n".join(f"{i}. {d['description']}" for i, d in enumerate(details, 1))


def user_details(details: list[dict]) -> str:
    return "\n".join(
        f"- {d['description']} (possible answers: {', '.join(d['options'])})" for d in details
    )


def scripted_coverage(details: list[dict], question: str) -> list[int]:
    """1-based numbers of the details the question covers (see module docstring)."""
    words = content_words(question)
    low = question.lower()
    out = []
    for i, d in enumerate(details, 1):
        want = content_words(d["description"])
        need = min(2, len(want))
        by_words = need > 0 and len(want & words) >= need
        by_option = any(
            re.search(rf"\b{re.escape(o.lower())}\b", low) for o in d["options"] if o.strip()
        )
        if by_words or by_option:
            out.append(i)
    return out


def scripted_user(details: list[dict], covered: list[int]) -> str:
    if not covered:
        return NOTHING_TO_ADD
    return " ".join(
        f"{details[i - 1]['description']}: {details[i - 1]['options'][0]}." for i in covered
    )


def parse_covered(reply: str, n: int, first: int = 1) -> list[int]:
    """Detail numbers from the judge's reply (JSON ``covered`` or ``covered_detail_indices`` list,
    else bare numbers); numbers outside ``first .. first + n - 1`` are dropped. An unreadable reply
    covers nothing, and so does one marked ``"is_task_related": false`` (as UserRL's
    parse_evaluation_response)."""
    obj = first_json_dict(reply, "covered") or first_json_dict(reply, "covered_detail_indices")
    if obj is not None and obj.get("is_task_related", True) is False:
        return []
    if obj is not None:
        raw = obj.get("covered", obj.get("covered_detail_indices"))
    else:
        raw = re.findall(r"\b\d+\b", reply)
    if not isinstance(raw, list):
        raw = [raw]
    out: list[int] = []
    for v in raw:
        # As parse_evaluation_response: integers and digit strings only (not 0.0, True, "-1").
        if not isinstance(v, (int, str)) or not str(v).isdigit():
            continue
        k = int(v)
        if first <= k < first + n and k not in out:
            out.append(k)
    return sorted(out)


def turn_reward(importances: list[int], floor: bool = False) -> float:
    """Reward of a question that covers details of these importances for the first time;
    ``floor``: never below 0 (UserRL's _calculate_reward and its normalize_rewards clamp)."""
    if not importances:
        return 0.0
    reward = IMPORTANCE_REWARD[max(importances)] - EXTRA_DETAIL_PENALTY * (len(importances) - 1)
    return max(0.0, reward) if floor else reward


def validate_record(record: dict, where: str) -> None:
    details = record.get("missing_details")
    if not isinstance(details, list) or not details:
        raise ConfigError(f"{where}: missing_details must be a non-empty list")
    for i, d in enumerate(details):
        if not isinstance(d, dict) or not isinstance(d.get("description"), str):
            raise ConfigError(f"{where}: missing_details[{i}] needs a description")
        if str(d.get("importance")) not in ("1", "2", "3"):
            raise ConfigError(
                f"{where}: missing_details[{i}].importance must be 1, 2 or 3, got {d.get('importance')!r}"
            )
        if not isinstance(d.get("options"), list) or not d["options"]:
            raise ConfigError(f"{where}: missing_details[{i}].options must be a non-empty list")


class IntentionEnv(GymEnv):
    kind = "intention"
    choices = ("action",)
    passthrough = "action"
    compact_prompt = (
        "The user's task below is vague. Find out the details it leaves open by asking one "
        "clarifying question per turn. Choice: action '<question>'."
    )

    demo_questions = (
        "What is your budget for this?",
        "When do you need this done?",
        "Do you have any preferences I should know about?",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.details: list[dict] = self.record["missing_details"]
        self.importance = [int(d["importance"]) for d in self.details]
        self.covered: set[int] = set()
        self.dialogue: list[dict[str, str]] = []
        self.exchanges: list[tuple[str, str]] = []  # (question, user's reply) per turn
        self._question = ""
        self._new: list[int] = []
        self._open: list[int] = []  # 1-based numbers of the details the judge was shown

    def act(self, choice: str, content: str) -> StepResult:
        self._question = content
        if self.upstream_rules:
            self._open = [k for k in range(1, len(self.details) + 1) if k not in self.covered]
            shown = [self.details[k - 1] for k in self._open]
            instructions = JUDGE_RULES_UPSTREAM.format(
                task=self.record["task"],
                category=self.record.get("category", ""),
                details=upstream_detail_list(shown),
                history=exchange_text(self.exchanges[-HISTORY_EXCHANGES:]),
            )
            return self.ask(
                "judge",
                instructions,
                [{"role": "agent", "content": content}],
                lambda: json.dumps({"covered": [k - 1 for k in scripted_coverage(shown, content)]}),
            )
        return self.ask(
            "judge",
            JUDGE_RULES.format(task=self.record["task"], details=detail_list(self.details)),
            [{"role": "agent", "content": content}],
            lambda: json.dumps({"covered": scripted_coverage(self.details, content)}),
        )

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        if purpose == "judge":
            if self.upstream_rules:
                # The judge numbered the open details only, from 0; map back to the task's
                # 1-based numbering.
                hit = [self._open[k] for k in parse_covered(reply, len(self._open), first=0)]
            else:
                hit = parse_covered(reply, len(self.details))
            self._new = [k for k in hit if k not in self.covered]
            self.covered.update(hit)
            self.dialogue.append({"role": "agent", "content": self._question})
            rules = USER_RULES_UPSTREAM if self.upstream_rules else USER_RULES
            instructions = rules.format(
                task=self.record["task"],
                category=self.record.get("category", ""),
                details=user_details(self.details),
                history=exchange_text(self.exchanges[-HISTORY_EXCHANGES:]),
            )
            conversation = list(self.dialogue)
            if self.upstream_rules:  # the last three exchanges and the new question
                conversation = conversation[-(2 * HISTORY_EXCHANGES + 1) :]
            return self.ask(
                "user", instructions, conversation, lambda: scripted_user(self.details, hit)
            )
        if self.upstream_rules:
            reply = user_response(reply)
        self.dialogue.append({"role": "user", "content": reply})
        self.exchanges.append((self._question, reply))
        reward = turn_reward([self.importance[k - 1] for k in self._new], self.upstream_rules)
        done = len(self.covered) == len(self.details)
        info = {"new_details": list(self._new), "coverage": len(self.covered) / len(self.details)}
        return self.result(reply, reward=reward, done=done, info=info)

    def success(self) -> bool:
        return len(self.covered) == len(self.details)

    def reference_question(self, i: int) -> str:
        d = self.details[i]
        return d.get("inquiry") or f"Could you tell me about: {d['description']}?"

    def oracle_action(self) -> str:
        """Ask the reference question of the most important detail not yet covered nor asked
        about (each at most once); finish when none is left."""
        asked = {h["content"] for h in self.history}
        left = [
            i
            for i in range(len(self.details))
            if i + 1 not in self.covered and self.reference_question(i) not in asked
        ]
        if not left:
            return format_call("finish", "")
        i = max(left, key=lambda k: (self.importance[k], -k))
        return format_call("action", self.reference_question(i))
