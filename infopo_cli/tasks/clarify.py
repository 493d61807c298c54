"""``task=clarify``: the embedded default. Underspecified everyday requests with hidden slots.

Each instance is a request in one domain (restaurant, shopping, travel, meeting; their slots and
options are data, in ``clarify_domains.json``) with ``num_slots`` hidden slots, each taking one
value from a small option set. The opening request reveals ``num_revealed`` of them. Every turn the
agent either asks a question or gives the final answer:

    ANSWER: cuisine = thai; time = 7pm; party = four

The scripted user answers the slots a question is about (recognised by slot name, synonyms or option
words; "The time is 7pm."), says which slots it does not care about, and otherwise says it does not
know. The episode ends at the answer or at ``max_turns``. Outcome = share of slots right
(``reward=binary``: 1 only when all are right), success = all right; per-turn reward is 0 until the
answer. A malformed answer scores 0, never crashes.
Guessing the unrevealed slots succeeds with probability ``options**-(num_slots - num_revealed)``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance


@dataclass(frozen=True)
class Slot:
    name: str
    synonyms: tuple[str, ...]  # words that make a question "about" this slot
    options: tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    request: str  # the opening line
    slots: tuple[Slot, ...]


DOMAINS_FILE = Path(__file__).with_name("clarify_domains.json")


def load_domains() -> tuple[Domain, ...]:
    """The domains, in file order. They are data (``clarify_domains.json``), not code, so a slot
    or an option word can be changed without touching the task logic."""
    return tuple(
        Domain(
            d["name"],
            d["request"],
            tuple(Slot(s["name"], tuple(s["synonyms"]), tuple(s["options"])) for s in d["slots"]),
        )
        for d in json.loads(DOMAINS_FILE.read_text(encoding="utf-8"))
    )


DOMAINS: tuple[Domain, ...] = load_domains()  # read once, at import

ANSWER_RE = re.compile(r"ANSWER\s*:(.*)", re.IGNORECASE | re.DOTALL)
PAIR_RE = re.compile(r"([a-z][a-z\- ]*?)\s*[=:]\s*([a-z0-9][a-z0-9\- ]*)", re.IGNORECASE)


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9\- ]+", " ", text.lower()) + " "


def _mentions(text: str, phrase: str) -> bool:
    return f" {phrase} " in text


def parse_answer(text: str) -> dict[str, str] | None:
    """``{slot: value}`` from an ``ANSWER:`` message, or None when the message is not an answer.

    An answer with no readable ``slot=value`` pair parses to ``{}`` (scored as a failure)."""
    m = ANSWER_RE.search(text)
    if m is None:
        return None
    out: dict[str, str] = {}
    for part in re.split(r"[;,\n]", m.group(1)):
        pm = PAIR_RE.search(part.strip())
        if pm:
            out.setdefault(pm.group(1).strip().lower(), pm.group(2).strip().lower())
    return out


def slots_asked(domain: Domain, question: str) -> list[Slot]:
    """Slots of the domain a question is about: slot name, synonym or one of its option words."""
    text = _words(question)
    return [
        s
        for s in domain.slots
        if any(_mentions(text, w) for w in (s.name, *s.synonyms))
        or any(_mentions(text, o) for o in s.options)
    ]


def scripted_reply(domain: Domain, values: dict[str, str], question: str) -> str:
    """The rule-based user: answer each task slot asked about, in domain order."""
    asked = slots_asked(domain, question)
    if not asked:
        return "Sorry, I don't know what you mean."
    parts = []
    for s in asked:
        if s.name in values:
            parts.append(f"The {s.name} is {values[s.name]}.")
        else:
            parts.append(f"I don't mind about the {s.name}.")
    return " ".join(parts)


def system_prompt(domain: Domain, slots: list[Slot]) -> str:
    fields = "; ".join(f"{s.name} ({'|'.join(s.options)})" for s in slots)
    return (
        f"You help with a {domain.name} request. Fields: {fields}. "
        "Ask the user one question per turn, or give the final answer as "
        "ANSWER: field = value; field = value"
    )


class ClarifyEnv(Environment):
    def __init__(self, instance: TaskInstance, max_turns: int, reward: str = "partial"):
        super().__init__(instance, max_turns)
        self.binary = reward == "binary"
        self.domain = DOMAINS[instance.hidden["domain"]]
        self.values: dict[str, str] = instance.hidden["values"]
        self.known: set[str] = set(instance.hidden["revealed"])
        self.answer: dict[str, str] | None = None
        self.score = 0.0
        self._question = ""

    def step(self, action: str) -> StepResult:
        self.turn += 1
        parsed = parse_answer(action)
        if parsed is not None:
            self.answer = parsed
            self.score = sum(parsed.get(k) == v for k, v in self.values.items()) / len(self.values)
            if self.binary:  # all slots right or nothing: most groups tie until the policy succeeds
                self.score = float(self.score == 1.0)
            self.rewards.append(self.score)
            return StepResult(feedback=None, reward=self.score, done=True, info={"answer": parsed})
        self.rewards.append(0.0)
        self._question = action
        self.known.update(s.name for s in slots_asked(self.domain, action) if s.name in self.values)
        conversation = [{"role": "agent", "content": action}]
        query = UserQuery(
            instructions=self.user_instructions(),
            conversation=conversation,
            script=lambda q=action: scripted_reply(self.domain, self.values, q),
        )
        return StepResult(query=query)

    def user_replied(self, reply: str) -> StepResult:
        return StepResult(feedback=reply, done=self.turn >= self.max_turns)

    def user_instructions(self) -> str:
        facts = ", ".join(f"{k}: {v}" for k, v in self.values.items())
        return (
            f"You are a user with a {self.domain.name} request. Your wishes: {facts}. Answer the "
            "assistant's question briefly using only these wishes; if it asks about something "
            "else, say you don't know."
        )

    def success(self) -> bool:
        return self.score == 1.0

    def outcome(self) -> float:
        return self.score


class ClarifyTask(Task):
    """Procedurally generated clarify instances; deterministic given ``seed``."""

    name = "clarify"

    def __init__(
        self,
        name: str = "clarify",
        max_turns: int = 6,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        num_slots: int = 3,
        num_revealed: int = 1,
        num_options: int = 4,
        domains: list[str] | None = None,
        train_size: int = 4000,
        test_size: int = 200,
        reward: str = "partial",
    ):
        super().__init__(max_turns=max_turns, seed=seed)
        known_domains = [d.name for d in DOMAINS]
        if not 2 <= num_slots <= 5:
            raise ConfigError(f"task.num_slots must be in 2..5, got {num_slots}")
        if not 0 <= num_revealed < num_slots:
            raise ConfigError(
                f"task.num_revealed must be in 0..num_slots-1 ({num_slots - 1}), got {num_revealed}"
            )
        if not 2 <= num_options <= 5:
            raise ConfigError(f"task.num_options must be in 2..5, got {num_options}")
        if reward not in ("partial", "binary"):
            raise ConfigError(f"task.reward must be partial or binary, got {reward!r}")
        if max_turns < 1:
            raise ConfigError(f"task.max_turns must be >= 1, got {max_turns}")
        domains = list(domains) if domains else known_domains
        unknown = [d for d in domains if d not in known_domains]
        if unknown:
            raise ConfigError(
                f"task.domains: unknown {unknown}; accepted: {', '.join(known_domains)}"
            )
        for s in (train_split, split):
            if s not in ("train", "test"):
                raise ConfigError(f"task split {s!r} is not one of train, test")
        self.name = name
        self.train_split, self.split = train_split, split
        self.num_slots, self.num_revealed, self.num_options = num_slots, num_revealed, num_options
        self.domain_ids = [known_domains.index(d) for d in domains]
        self.sizes = {"train": train_size, "test": test_size}
        self.reward = reward
        self._cache: dict[str, list[TaskInstance]] = {}

    def _generate(self, rng: random.Random) -> TaskInstance:
        d = rng.choice(self.domain_ids)
        domain = DOMAINS[d]
        slots = sorted(rng.sample(range(len(domain.slots)), self.num_slots))
        chosen = [domain.slots[i] for i in slots]
        values = {s.name: rng.choice(s.options[: self.num_options]) for s in chosen}
        revealed = sorted(rng.sample([s.name for s in chosen], self.num_revealed))
        shown = [Slot(s.name, s.synonyms, s.options[: self.num_options]) for s in chosen]
        request = domain.request + "".join(f" The {k} is {values[k]}." for k in revealed)
        key = f"{d}|" + "|".join(f"{k}={v}" for k, v in values.items())
        return TaskInstance(
            id=hashlib.sha1(f"{key}|{','.join(revealed)}".encode()).hexdigest()[:12],
            messages=[
                {"role": "system", "content": system_prompt(domain, shown)},
                {"role": "user", "content": request},
            ],
            hidden={"domain": d, "values": values, "revealed": revealed, "goal": key},
        )

    @staticmethod
    def _split_of(goal: str) -> str:
        """Split by a hash of the goal (domain and slot values): the same goal never lands in both."""
        return "test" if int(hashlib.sha1(goal.encode()).hexdigest(), 16) % 5 == 0 else "train"

    def instances(self, split: str) -> list[TaskInstance]:
        if split not in self.sizes:
            raise ConfigError(f"task split {split!r} is not one of train, test")
        if split not in self._cache:
            rng = random.Random(f"clarify-{self.seed}-{split}")
            out: list[TaskInstance] = []
            seen: set[str] = set()
            for _ in range(self.sizes[split] * 50):
                if len(out) >= self.sizes[split]:
                    break
                inst = self._generate(rng)
                if self._split_of(inst.hidden["goal"]) == split and inst.id not in seen:
                    seen.add(inst.id)
                    out.append(inst)
            self._cache[split] = out
        return self._cache[split]

    def make_env(self, instance: TaskInstance) -> ClarifyEnv:
        return ClarifyEnv(instance, self.max_turns, self.reward)

    def parses(self, action: str) -> bool:
        """A final ``ANSWER:`` line, or a question."""
        return parse_answer(action) is not None or "?" in action

    def oracle_action(self, env: ClarifyEnv) -> str:
        """Ask each slot not yet known, then answer with every value."""
        for name in env.values:
            if name not in env.known:
                return f"What {name} would you like?"
        return "ANSWER: " + "; ".join(f"{k} = {v}" for k, v in env.values.items())

    def demo_action(
        self,
        env: ClarifyEnv,
        rng: random.Random,
        answer_p: float | None = None,
        guess: bool = True,
        answer_start: float = 0.15,
        answer_rise: float = 0.3,
        ask_unknown: float = 0.0,
    ) -> str:
        """An imperfect demonstrator: a random slot question (sometimes known, sometimes not part of
        the task, sometimes irrelevant) or an early answer filling unknown slots with guesses.

        It answers with probability ``answer_p`` per turn (default: ``answer_start``, rising by
        ``answer_rise`` a turn; always on the last turn).
        ``guess=False`` leaves unknown slots out of the answer, so every value in it is one the
        user stated: pure copying, the lesson a small policy finds hardest to pick up.
        ``ask_unknown`` is the probability that a question about a task slot picks one not yet known
        (0: any task slot, so about half the questions repeat): a demonstrator whose next question
        depends on the replies so far."""
        if answer_p is None:
            answer_p = answer_start + answer_rise * env.turn
        if rng.random() < answer_p or env.turn >= env.max_turns - 1:
            parts = []
            for s in env.domain.slots:
                if s.name in env.known and s.name in env.values:
                    parts.append(f"{s.name} = {env.values[s.name]}")
                elif s.name in env.values and (guess or not env.known & env.values.keys()):
                    parts.append(f"{s.name} = {rng.choice(s.options[: self.num_options])}")
            return "ANSWER: " + "; ".join(parts)
        r = rng.random()
        if r < 0.1:
            return rng.choice(QUESTION_FILLERS)
        if r < 0.3:
            pool = list(env.domain.slots)
        else:
            pool = [s for s in env.domain.slots if s.name in env.values]
            unknown = [s for s in pool if s.name not in env.known]
            # drawn only when asked for, so ask_unknown=0 replays the same demonstrations
            if unknown and ask_unknown > 0 and rng.random() < ask_unknown:
                pool = unknown
        slot = rng.choice(pool)
        return rng.choice(QUESTION_TEMPLATES).format(slot=slot.name)


QUESTION_TEMPLATES = (
    "What {slot} would you like?",
    "Which {slot} do you prefer?",
    "Could you tell me the {slot}?",
    "What is the {slot}?",
)
QUESTION_FILLERS = ("Anything else I should know?", "Can you say more?", "Is there a deadline?")


def corpus(n: int, seed: int = 0) -> list[str]:
    """Text of the task family (prompts, questions, replies, answers) for training tokenizers."""
    task = ClarifyTask(seed=seed, train_size=n, test_size=1, num_options=5, num_revealed=2)
    rng = random.Random(seed)
    out = []
    for inst in task.instances("train"):
        env = task.make_env(inst)
        out += [m["content"] for m in inst.messages]
        for _ in range(3):
            action = task.demo_action(env, rng)
            out.append(action)
            res = env.step(action)
            if res.query is not None:
                out.append(res.query.script())
            if res.done or res.query is None:
                break
    return out
