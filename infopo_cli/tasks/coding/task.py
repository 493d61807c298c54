"""``task=coding``: write a function with a user who knows what the vague request leaves out.

Each turn the agent either asks the simulated user a question or gives its final answer (see
``protocol``). The user holds the reference implementation as hidden information (and, for the
built-in set, the facts behind it in words); the scripted user matches question keywords to those
facts. The final answer is run against the task's test expressions in the sandbox, compared with
the reference: outcome = share of tests passed, success = all passed, 0 when the agent never
answers within ``max_turns``. Per-turn rewards are 0 except on the answering turn.

Sources: ``builtin`` (the task set written for this project, split deterministically by seed) or
``colbench`` (ColBench-format JSONL at ``path``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from infopo_cli.data.locations import fetched_dir
from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance
from infopo_cli.tasks.coding import colbench
from infopo_cli.tasks.coding.builtin import BUILTIN_TASKS
from infopo_cli.tasks.coding.catalog import BuiltinTask, Fact, scripted_reply
from infopo_cli.tasks.coding.protocol import (
    agent_system_prompt,
    final_answer,
    parse_final_answer,
    user_instructions,
)
from infopo_cli.tasks.coding.sandbox import Limits, Verdict, run_tests_detailed

SOURCES = ("builtin", "colbench")
SPLITS = ("train", "test")
# How the demonstrator phrases a question about one of a task's facts (by one of its keywords).
CODING_QUESTIONS = (
    "What about the {topic}?",
    "How should it handle {topic}?",
    "Is there a rule for {topic}?",
)

Scorer = Callable[[str, TaskInstance], list[Verdict]]


class CodingEnv(Environment):
    """One conversation about one function; ends at the final answer or after ``max_turns``."""

    def __init__(
        self, instance: TaskInstance, max_turns: int, scorer: Scorer, max_reply_chars: int
    ):
        super().__init__(instance, max_turns)
        hidden = instance.hidden
        self.facts = tuple(Fact(tuple(k), a) for k, a in hidden.get("facts", []))
        self.scorer = scorer
        self.max_reply_chars = max_reply_chars
        self.dialogue: list[dict[str, str]] = []
        self.instructions = user_instructions(hidden["problem"], hidden["reference"], self.facts)
        self.answered = False
        self.code: str | None = None
        self.verdicts: list[Verdict] = []
        self.score = 0.0

    def step(self, action: str) -> StepResult:
        self.turn += 1
        code = parse_final_answer(action)
        if code is not None:
            return self._answer(code)
        self.rewards.append(0.0)
        self.dialogue.append({"role": "agent", "content": action})
        if self.turn >= self.max_turns:  # a question nobody will read the answer to
            return StepResult(done=True, info={"answered": False, "passed": 0})
        script = (lambda q=action: scripted_reply(self.facts, q)) if self.facts else None
        query = UserQuery(
            instructions=self.instructions,
            conversation=list(self.dialogue),
            script=script,
            meta={"task": "coding", "instance": self.instance.id},
        )
        return StepResult(query=query)

    def user_replied(self, reply: str) -> StepResult:
        text = reply.strip()
        if self.max_reply_chars:
            text = text[: self.max_reply_chars]
        self.dialogue.append({"role": "user", "content": text})
        return StepResult(feedback=text)

    def _answer(self, code: str) -> StepResult:
        self.answered, self.code = True, code
        self.verdicts = self.scorer(code, self.instance)
        passed = sum(v.passed for v in self.verdicts)
        self.score = passed / len(self.verdicts) if self.verdicts else 0.0
        self.rewards.append(self.score)
        failures = [f"test {i}: {v.reason}" for i, v in enumerate(self.verdicts) if not v.passed]
        info = {
            "answered": True,
            "passed": passed,
            "total": len(self.verdicts),
            "failures": failures[:3],
        }
        return StepResult(reward=self.score, done=True, info=info)

    def outcome(self) -> float:
        return self.score

    def success(self) -> bool:
        return self.answered and bool(self.verdicts) and all(v.passed for v in self.verdicts)


class CodingTask(Task):
    """Built-in or ColBench coding instances, scored in the sandbox against the reference."""

    name = "coding"

    def __init__(
        self,
        name: str = "coding",
        max_turns: int = 10,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        source: str = "builtin",
        path: str | None = None,
        test_fraction: float = 0.25,
        train_size: int | None = None,
        test_size: int | None = None,
        test_timeout_s: float = 2.0,
        memory_mb: int = 512,
        max_reply_chars: int = 400,
        os_isolation: bool = True,
    ):
        super().__init__(max_turns=max_turns, seed=seed)
        _check(
            isinstance(max_turns, int) and max_turns >= 1, "max_turns", max_turns, "an integer >= 1"
        )
        _check(source in SOURCES, "source", source, " | ".join(SOURCES))
        for key, value in (("train_split", train_split), ("split", split)):
            _check(value in SPLITS, key, value, " | ".join(SPLITS))
        _check(
            0 < test_fraction < 1,
            "test_fraction",
            test_fraction,
            "a number strictly between 0 and 1",
        )
        for key, value in (("train_size", train_size), ("test_size", test_size)):
            _check(
                value is None or (isinstance(value, int) and value >= 1),
                key,
                value,
                "null or an integer >= 1",
            )
        _check(test_timeout_s > 0, "test_timeout_s", test_timeout_s, "a number of seconds > 0")
        _check(
            isinstance(memory_mb, int) and memory_mb >= 64,
            "memory_mb",
            memory_mb,
            "an integer >= 64",
        )
        _check(
            isinstance(max_reply_chars, int) and max_reply_chars >= 0,
            "max_reply_chars",
            max_reply_chars,
            "an integer >= 0 (0: no limit)",
        )
        if source == "colbench" and not path:
            fetched = fetched_dir("colbench")
            if not colbench.split_files(fetched):
                raise ConfigError(
                    "task.source=colbench needs task.path=<ColBench JSONL file or directory>, "
                    "or run `infopo data fetch colbench`"
                )
            path = str(fetched)
        if source == "builtin" and path:
            raise ConfigError(
                "task.path is read only with task.source=colbench; drop it or set the source"
            )
        self.name = name
        self.train_split, self.split = train_split, split
        self.source, self.path = source, path
        self.test_fraction = test_fraction
        self.sizes = {"train": train_size, "test": test_size}
        self.test_timeout_s = float(test_timeout_s)
        self.limits = Limits(memory_mb=memory_mb, os_isolation=bool(os_isolation))
        self.max_reply_chars = max_reply_chars
        self._splits = self._load()

    # --- instances ------------------------------------------------------------------------

    def _load(self) -> dict[str, list[TaskInstance]]:
        if self.source == "colbench":
            rows = colbench.load_splits(self.path, self.test_fraction)
            full = {s: [self._colbench_instance(r) for r in rows[s]] for s in SPLITS}
        else:
            full = self._builtin_splits()
        return {s: self._cap(s, full[s]) for s in SPLITS}

    def _builtin_splits(self) -> dict[str, list[TaskInstance]]:
        """Test = the ``test_fraction`` of tasks first in a seeded hash order; the rest train.
        Each split keeps the catalog order."""

        def rank(t: BuiltinTask) -> str:
            return hashlib.sha1(f"{self.seed}:{t.name}".encode()).hexdigest()

        n_test = max(1, round(len(BUILTIN_TASKS) * self.test_fraction))
        test_names = {t.name for t in sorted(BUILTIN_TASKS, key=rank)[:n_test]}
        out: dict[str, list[TaskInstance]] = {"train": [], "test": []}
        for t in BUILTIN_TASKS:
            out["test" if t.name in test_names else "train"].append(self._builtin_instance(t))
        return out

    def _cap(self, split: str, pool: list[TaskInstance]) -> list[TaskInstance]:
        size = self.sizes[split]
        if size is None or size >= len(pool):
            return pool
        keep = sorted(random.Random(f"coding-{self.seed}-{split}").sample(range(len(pool)), size))
        return [pool[i] for i in keep]

    def _builtin_instance(self, t: BuiltinTask) -> TaskInstance:
        request = f"{t.request}\nSignature: {t.signature}"
        return TaskInstance(
            id=f"coding-{t.name}",
            messages=self._messages(request),
            hidden={
                "source": "builtin",
                "function": t.name,
                "problem": request,
                "reference": t.reference.strip() + "\n",
                "tests": list(t.tests),
                "facts": [[list(f.keywords), f.answer] for f in t.facts],
            },
        )

    def _colbench_instance(self, row: colbench.ColbenchRow) -> TaskInstance:
        return TaskInstance(
            id=row.id,
            messages=self._messages(row.problem),
            hidden={
                "source": "colbench",
                "problem": row.problem,
                "reference": row.reference,
                "tests": list(row.tests),
                "facts": [],
            },
        )

    def _messages(self, request: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": agent_system_prompt(self.max_turns)},
            {"role": "user", "content": request},
        ]

    def instances(self, split: str) -> list[TaskInstance]:
        if split not in self._splits:
            raise ConfigError(f"task split {split!r} is not one of {', '.join(SPLITS)}")
        return self._splits[split]

    # --- episodes -------------------------------------------------------------------------

    def make_env(self, instance: TaskInstance) -> CodingEnv:
        return CodingEnv(instance, self.max_turns, self.score, self.max_reply_chars)

    def score(self, code: str, instance: TaskInstance) -> list[Verdict]:
        """Verdicts of ``code`` on the instance's tests against its reference (never raises)."""
        hidden = instance.hidden
        return run_tests_detailed(
            code, hidden["tests"], hidden["reference"], self.test_timeout_s, limits=self.limits
        )

    def parses(self, action: str) -> bool:
        """A final answer with code, or a question."""
        return parse_final_answer(action) is not None or "?" in action

    def oracle_action(self, env: CodingEnv) -> str:
        """Answer at once with the reference implementation."""
        return final_answer(env.instance.hidden["reference"])

    def demo_action(self, env: CodingEnv, rng: random.Random, answer_p: float = 0.35) -> str:
        """An imperfect demonstrator for the starter's warm start: short questions about one of the
        task's hidden facts at a time (by one of its keywords; a third of them about a fact already
        asked), then the reference code; it stops asking with probability ``answer_p`` a turn, so
        many answers come before every fact is known. Its value is the protocol (questions, then
        one final answer with code) and the shape of a conversation."""
        if not env.facts or rng.random() < answer_p or env.turn >= env.max_turns - 1:
            return final_answer(env.instance.hidden["reference"])
        asked = " ".join(m["content"].lower() for m in env.dialogue if m["role"] == "agent")
        fresh = [f for f in env.facts if not f.matches(asked)]
        fact = rng.choice(fresh if fresh and rng.random() < 2 / 3 else env.facts)
        return rng.choice(CODING_QUESTIONS).format(topic=rng.choice(fact.keywords))


def _check(ok: bool, key: str, value: object, accepted: str) -> None:
    if not ok:
        raise ConfigError(f"task.{key} must be {accepted}, got {value!r}")
