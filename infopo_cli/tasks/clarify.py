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

Three options (all off by default) make the content of a reply, not only the fact that it came,
decide what the agent should say next:

- ``vague_rate``: each unrevealed slot is, with this probability (drawn per instance), one the user
  is vague about when first asked ("I'm not sure about the color yet."); a second question about it
  gets the value. A re-ask is right exactly after a vague reply.
- ``dependent_slots``: some answers open follow-up slots (``follow_ups`` in the domains file:
  a plane opens the airline and the fare), which then have to be asked and answered as well.
- ``acknowledge``: the oracle and the demonstrator begin a question with the values the user just
  gave ("Got it, red. What size would you like?"), as chat models do; the user reads only the
  question sentences of a message then.
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
class FollowUp:
    """A slot that exists only after an answer: ``trigger`` taking one of ``values`` opens it."""

    slot: Slot
    trigger: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    request: str  # the opening line
    slots: tuple[Slot, ...]
    follow_ups: tuple[FollowUp, ...] = ()  # used only with ``dependent_slots``


DOMAINS_FILE = Path(__file__).with_name("clarify_domains.json")


def load_domains() -> tuple[Domain, ...]:
    """The domains, in file order. They are data (``clarify_domains.json``), not code, so a slot
    or an option word can be changed without touching the task logic."""

    def slot(s: dict) -> Slot:
        return Slot(s["name"], tuple(s["synonyms"]), tuple(s["options"]))

    return tuple(
        Domain(
            d["name"],
            d["request"],
            tuple(slot(s) for s in d["slots"]),
            tuple(
                FollowUp(slot(f), f["opened_by"]["slot"], tuple(f["opened_by"]["values"]))
                for f in d.get("follow_ups", ())
            ),
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


def slots_asked(domain: Domain, question: str, extra: tuple[Slot, ...] = ()) -> list[Slot]:
    """Slots of the domain (and ``extra``: the follow-up slots in play) a question is about: slot
    name, synonym or one of its option words."""
    text = _words(question)
    return [
        s
        for s in (*domain.slots, *extra)
        if any(_mentions(text, w) for w in (s.name, *s.synonyms))
        or any(_mentions(text, o) for o in s.options)
    ]


def question_sentences(text: str) -> str:
    """The sentences of a message that end in ``?`` (the whole message when none does): what the
    user reads under ``acknowledge``, so "Got it, red." does not count as a question about color."""
    questions = [q.strip() for q in re.findall(r"[^.!?]*\?", text)]
    return " ".join(questions) if questions else text


# Replies of a vague user, who has not decided yet: none names a value (tests check every domain).
VAGUE_REPLIES = (
    "I'm not sure about the {slot} yet.",
    "Something nice for the {slot}, I suppose.",
    "Hmm, I haven't decided the {slot}.",
    "Not the usual {slot}, something a bit different.",
    "Sorry, I got distracted. What were we talking about?",
)


def scripted_reply(
    domain: Domain,
    values: dict[str, str],
    question: str,
    extra: tuple[Slot, ...] = (),
    vague: dict[str, str] | None = None,
) -> str:
    """The rule-based user: answer each task slot asked about, in domain order (follow-up slots
    ``extra`` after the domain's); a slot in ``vague`` gets that sentence instead of its value."""
    asked = slots_asked(domain, question, extra)
    if not asked:
        return "Sorry, I don't know what you mean."
    vague = vague or {}
    parts = []
    for s in asked:
        if s.name in vague:
            parts.append(vague[s.name])
        elif s.name in values:
            parts.append(f"The {s.name} is {values[s.name]}.")
        else:
            parts.append(f"I don't mind about the {s.name}.")
    return " ".join(parts)


def acknowledgement(given: dict[str, str]) -> str:
    """What an acknowledging agent says before its next question: the values just given."""
    if not given:
        return ""
    return f"Got it, {' and '.join(given.values())}. "


def system_prompt(domain: Domain, slots: list[Slot], follow_ups: list[FollowUp] = ()) -> str:
    fields = "; ".join(f"{s.name} ({'|'.join(s.options)})" for s in slots)
    opened = "; ".join(
        f"{f.slot.name} ({'|'.join(f.slot.options)}) if {f.trigger} is {'|'.join(f.values)}"
        for f in follow_ups
    )
    return (
        f"You help with a {domain.name} request. Fields: {fields}. "
        + (f"Fields some answers add: {opened}. " if opened else "")
        + "Ask the user one question per turn, or give the final answer as "
        "ANSWER: field = value; field = value"
    )


class ClarifyEnv(Environment):
    def __init__(
        self,
        instance: TaskInstance,
        max_turns: int,
        reward: str = "partial",
        acknowledge: bool = False,
    ):
        super().__init__(instance, max_turns)
        self.binary = reward == "binary"
        self.acknowledge = acknowledge
        self.domain = DOMAINS[instance.hidden["domain"]]
        self.values: dict[str, str] = instance.hidden["values"]
        self.known: set[str] = set(instance.hidden["revealed"])
        shown = set(instance.hidden.get("follow_ups", ()))
        self.follow_ups = tuple(f for f in self.domain.follow_ups if f.slot.name in shown)
        self.vague: dict[str, str] = instance.hidden.get("vague", {})
        self.asks: dict[str, int] = {}  # questions about each slot so far
        self.last_given: dict[str, str] = {}  # values the last reply stated
        self.last_vague: list[str] = []  # slots the last reply was vague about
        self.answer: dict[str, str] | None = None
        self.score = 0.0
        self._question = ""

    @property
    def slots(self) -> tuple[Slot, ...]:
        """Every field of the prompt: the domain's slots, then the follow-ups it lists."""
        return (*self.domain.slots, *(f.slot for f in self.follow_ups))

    def heard(self, action: str) -> str:
        """The part of an agent message the user answers: its questions under ``acknowledge``."""
        return question_sentences(action) if self.acknowledge else action

    def asked(self, action: str) -> list[str]:
        """Names of the fields (follow-ups included) an agent message asks about."""
        extra = tuple(f.slot for f in self.follow_ups)
        return [s.name for s in slots_asked(self.domain, self.heard(action), extra)]

    def open_slots(self) -> list[Slot]:
        """The fields the conversation has shown to matter: the domain's slots, and each follow-up
        whose trigger's value is known."""
        return [*self.domain.slots, *(f.slot for f in self.follow_ups if f.trigger in self.known)]

    def pending(self) -> list[str]:
        """Slots the last reply calls for asking next: the ones it was vague about, then the
        follow-ups its values opened."""
        opened = [
            f.slot.name
            for f in self.follow_ups
            if f.trigger in self.last_given
            and f.slot.name in self.values
            and f.slot.name not in self.known
        ]
        return [*self.last_vague, *opened]

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
        heard, extra = self.heard(action), tuple(f.slot for f in self.follow_ups)
        asked = self.asked(action)
        vague = {n: self.vague[n] for n in asked if n in self.vague and not self.asks.get(n)}
        for n in asked:
            self.asks[n] = self.asks.get(n, 0) + 1
        self.last_given = {n: self.values[n] for n in asked if n in self.values and n not in vague}
        self.last_vague = list(vague)
        self.known.update(self.last_given)
        conversation = [{"role": "agent", "content": action}]
        query = UserQuery(
            instructions=self.user_instructions(),
            conversation=conversation,
            script=lambda q=heard: scripted_reply(self.domain, self.values, q, extra, vague),
        )
        return StepResult(query=query)

    def user_replied(self, reply: str) -> StepResult:
        return StepResult(feedback=reply, done=self.turn >= self.max_turns)

    def user_instructions(self) -> str:
        facts = ", ".join(f"{k}: {v}" for k, v in self.values.items())
        vague = ", ".join(self.vague)
        return (
            f"You are a user with a {self.domain.name} request. Your wishes: {facts}. Answer the "
            "assistant's question briefly using only these wishes; if it asks about something "
            "else, say you don't know."
        ) + (
            f" The first time it asks about the {vague}, answer vaguely without the value; give "
            "the value when it asks again."
            if vague
            else ""
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
        vague_rate: float = 0.0,
        dependent_slots: bool = False,
        acknowledge: bool = False,
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
        if isinstance(vague_rate, bool) or not (
            isinstance(vague_rate, (int, float)) and 0 <= vague_rate <= 1
        ):
            raise ConfigError(f"task.vague_rate must be a number in 0..1, got {vague_rate!r}")
        for key, flag in (("dependent_slots", dependent_slots), ("acknowledge", acknowledge)):
            if not isinstance(flag, bool):
                raise ConfigError(f"task.{key} must be true or false, got {flag!r}")
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
        self.vague_rate, self.dependent_slots = float(vague_rate), dependent_slots
        self.acknowledge = acknowledge
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
        iid = hashlib.sha1(f"{key}|{','.join(revealed)}".encode()).hexdigest()[:12]
        hidden = {"domain": d, "values": values, "revealed": revealed, "goal": key}
        # the options draw from their own generators, so the instances (ids, splits, base values)
        # are those of the plain task
        follow_ups = self._follow_ups(domain, values) if self.dependent_slots else []
        if follow_ups:
            frng = random.Random(f"clarify-follow-{key}")
            for f in follow_ups:
                if values[f.trigger] in f.values:
                    values[f.slot.name] = frng.choice(f.slot.options)
            hidden["follow_ups"] = [f.slot.name for f in follow_ups]
        if self.vague_rate > 0:
            vrng = random.Random(f"clarify-vague-{self.seed}-{iid}")
            hidden["vague"] = {}
            for name in values:
                if name not in revealed and vrng.random() < self.vague_rate:
                    hidden["vague"][name] = vrng.choice(VAGUE_REPLIES).format(slot=name)
        return TaskInstance(
            id=iid,
            messages=[
                {"role": "system", "content": system_prompt(domain, shown, follow_ups)},
                {"role": "user", "content": request},
            ],
            hidden=hidden,
        )

    def _follow_ups(self, domain: Domain, values: dict[str, str]) -> list[FollowUp]:
        """The follow-ups an instance's prompt lists: those whose trigger is one of its slots and
        can open them with the options in play, cut to ``num_options`` like every slot."""
        out = []
        for f in domain.follow_ups:
            if f.trigger not in values:
                continue
            trigger = next(s for s in domain.slots if s.name == f.trigger)
            opening = tuple(v for v in f.values if v in trigger.options[: self.num_options])
            if opening:
                s = f.slot
                out.append(
                    FollowUp(
                        Slot(s.name, s.synonyms, s.options[: self.num_options]), f.trigger, opening
                    )
                )
        return out

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
        return ClarifyEnv(instance, self.max_turns, self.reward, self.acknowledge)

    def parses(self, action: str) -> bool:
        """A final ``ANSWER:`` line, or a question."""
        return parse_answer(action) is not None or "?" in action

    def oracle_action(self, env: ClarifyEnv) -> str:
        """Ask each slot not yet known, the ones the last reply calls for first (again after a
        vague reply, a follow-up it opened), then answer with every value."""
        for name in [*env.pending(), *env.values]:
            if name not in env.known:
                return self._ack(env) + f"What {name} would you like?"
        return "ANSWER: " + "; ".join(f"{k} = {v}" for k, v in env.values.items())

    def _ack(self, env: ClarifyEnv) -> str:
        return acknowledgement(env.last_given) if self.acknowledge else ""

    def demo_action(
        self,
        env: ClarifyEnv,
        rng: random.Random,
        answer_p: float | None = None,
        guess: bool = True,
        answer_start: float = 0.15,
        answer_rise: float = 0.3,
        ask_unknown: float = 0.0,
        follow_up: float = 0.8,
    ) -> str:
        """An imperfect demonstrator: a random slot question (sometimes known, sometimes not part of
        the task, sometimes irrelevant) or an early answer filling unknown slots with guesses.

        It answers with probability ``answer_p`` per turn (default: ``answer_start``, rising by
        ``answer_rise`` a turn; always on the last turn).
        ``guess=False`` leaves unknown slots out of the answer, so every value in it is one the
        user stated: pure copying, the lesson a small policy finds hardest to pick up.
        ``ask_unknown`` is the probability that a question about a task slot picks one not yet known
        (0: any task slot, so about half the questions repeat): a demonstrator whose next question
        depends on the replies so far.
        ``follow_up`` is the probability that the question after a reply that calls for one (a
        vague reply, an answer that opened follow-up slots) asks it; no draw is made after any
        other reply, so the plain task replays the same demonstrations. Under ``acknowledge`` every
        question starts with the values the last reply gave."""
        if answer_p is None:
            answer_p = answer_start + answer_rise * env.turn
        if rng.random() < answer_p or env.turn >= env.max_turns - 1:
            parts = []
            for s in env.open_slots():
                if s.name in env.known and s.name in env.values:
                    parts.append(f"{s.name} = {env.values[s.name]}")
                elif s.name in env.values and (guess or not env.known & env.values.keys()):
                    parts.append(f"{s.name} = {rng.choice(s.options[: self.num_options])}")
            return "ANSWER: " + "; ".join(parts)
        ack = self._ack(env)
        pending = env.pending()
        if pending and rng.random() < follow_up:
            name = pending[0]
            templates = FOLLOW_UP_TEMPLATES if name in env.last_vague else QUESTION_TEMPLATES
            return ack + rng.choice(templates).format(slot=name)
        r = rng.random()
        if r < 0.1:
            return ack + rng.choice(QUESTION_FILLERS)
        if r < 0.3:
            pool = list(env.slots)
        else:
            pool = [s for s in env.open_slots() if s.name in env.values]
            unknown = [s for s in pool if s.name not in env.known]
            # drawn only when asked for, so ask_unknown=0 replays the same demonstrations
            if unknown and ask_unknown > 0 and rng.random() < ask_unknown:
                pool = unknown
        slot = rng.choice(pool)
        return ack + rng.choice(QUESTION_TEMPLATES).format(slot=slot.name)


QUESTION_TEMPLATES = (
    "What {slot} would you like?",
    "Which {slot} do you prefer?",
    "Could you tell me the {slot}?",
    "What is the {slot}?",
)
# A re-ask after a vague reply.
FOLLOW_UP_TEMPLATES = (
    "Could you be more specific about the {slot}?",
    "Which {slot} exactly?",
    "Any particular {slot} in mind?",
)
QUESTION_FILLERS = ("Anything else I should know?", "Can you say more?", "Is there a deadline?")


def corpus(n: int, seed: int = 0, **options) -> list[str]:
    """Text of the task family (prompts, questions, replies, answers) for training tokenizers;
    ``options``: the task's ``vague_rate``, ``dependent_slots``, ``acknowledge``."""
    task = ClarifyTask(
        seed=seed, train_size=n, test_size=1, num_options=5, num_revealed=2, **options
    )
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
