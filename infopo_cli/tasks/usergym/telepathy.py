"""TelepathyGym: guess the entity the user has in mind through yes/no questions.

* ``action: <yes/no question>``: the user (the simulator) answers Yes, No or Maybe; reward 0.
* ``answer: <entity>``: a judge (the simulator) decides whether the guess names the hidden entity
  exactly (or an obvious synonym); right: reward 1.0 and the episode ends; wrong: 0, go on. Under
  UserRL's rules a JSON verdict counts only when its ``judgment`` is exactly "Yes" ("yes": wrong).

Scripted stand-ins (``simulator=scripted``; not the benchmark's LLM user):

* question: "Yes" when a content word of the question occurs in the entity's description
  (``target_entity``), "Maybe" when the question has no content word, else "No";
* guess: right when every content word of the entity's title is in the guess and the guess is not
  longer than twice the title plus two words (so a list of many names does not pass).
"""

from __future__ import annotations

from infopo_cli.tasks.base import StepResult
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.text import content_words, first_json_dict, parse_verdict

QUESTION_STOP = frozenset({"entity", "it", "guess", "thinking", "object", "real", "exist"})

ANSWER_RULES = """\
You are playing a guessing game. You secretly have this entity in mind:
{entity}

The player asks yes/no questions about it. Answer the latest question truthfully about your entity,
with exactly one word: Yes, No, or Maybe. Say Maybe only when the question is ambiguous or cannot
be decided for this entity. Never name the entity or add any other words."""

JUDGE_RULES = """\
You referee a guessing game. The hidden entity is:
{entity}

The player's latest message is their final guess. Reply Yes if the guess names exactly this entity
(an obviously equivalent name or spelling counts), and No otherwise: a broader category, a related
but different entity, or a list of several candidates is wrong. Reply with exactly one word: Yes or
No."""


def scripted_answer(entity: str, question: str) -> str:
    q = content_words(question, QUESTION_STOP)
    if not q:
        return "Maybe"
    return "Yes" if q & content_words(entity) else "No"


def scripted_judgment(title: str, guess: str) -> str:
    want = content_words(title)
    got = content_words(guess)
    ok = bool(want) and want <= got and len(guess.split()) <= 2 * len(title.split()) + 2
    return "Yes" if ok else "No"


class TelepathyEnv(GymEnv):
    kind = "telepathy"
    choices = ("action", "answer")
    passthrough = "action"
    compact_prompt = (
        "The user thinks of an entity; find it. Choices: action '<yes/no question>' (answered "
        "Yes, No or Maybe); answer '<entity>' is your guess."
    )

    demo_questions = (
        "Is it a living thing?",
        "Is it made by people?",
        "Is it a real person?",
        "Is it bigger than a car?",
        "Is it associated with a particular country?",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entity: str = self.record["target_entity"]
        self.title: str = self.record["title"]
        self.solved = False

    def act(self, choice: str, content: str) -> StepResult:
        convo = [{"role": "agent", "content": content}]
        if choice == "action":
            return self.ask(
                "user",
                ANSWER_RULES.format(entity=self.entity),
                convo,
                lambda: scripted_answer(self.entity, content),
            )
        return self.ask(
            "judge",
            JUDGE_RULES.format(entity=self.entity),
            convo,
            lambda: scripted_judgment(self.title, content),
        )

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        if purpose == "user":
            verdict = parse_verdict(reply) or "Maybe"
            return self.result(verdict, info={"verdict": verdict})
        correct = parse_verdict(reply, "judgment") == "Yes"
        obj = first_json_dict(reply, "judgment")
        if self.upstream_rules and obj is not None:
            # UserRL's parse_llm_response (prompts.py): right only when judgment == "Yes".
            correct = obj["judgment"] == "Yes"
        if correct:
            self.solved = True
            return self.result(
                "Correct! That is exactly what I had in mind.", reward=1.0, done=True
            )
        return self.result(
            "No, that is not what I am thinking of. Ask more questions or guess again."
        )

    def success(self) -> bool:
        return self.solved

    def oracle_action(self) -> str:
        """Name the hidden entity; finish if that was already judged wrong."""
        if any(h["choice"] == "answer" for h in self.history):
            return format_call("finish", "")
        return format_call("answer", self.title)
