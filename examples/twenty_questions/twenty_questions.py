"""A small twenty-questions game as an InfoPO task, kept outside the package.

The user thinks of an object; the agent asks yes/no questions ("Is it an animal?") and ends with a
guess ("GUESS: cat"). The reward is 1 for a right guess. The user's replies come from the configured
simulator: the scripted one answers from the object's attributes (no model, no network), an LLM
simulator reads the same facts from its instructions.

Run it from any folder with this one on PYTHONPATH:

    PYTHONPATH=examples/twenty_questions infopo train \\
        --config-dir examples/twenty_questions/conf task=twenty_questions model=tiny
"""

from __future__ import annotations

import random

from infopo_cli.simulators.base import UserQuery
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance

# object -> the attributes a yes/no question can ask about
OBJECTS: dict[str, set[str]] = {
    "cat": {"animal", "alive", "pet", "small"},
    "dog": {"animal", "alive", "pet"},
    "horse": {"animal", "alive", "big"},
    "oak": {"plant", "alive", "big"},
    "rose": {"plant", "alive", "small"},
    "car": {"machine", "big", "metal"},
    "phone": {"machine", "small", "metal"},
    "spoon": {"tool", "small", "metal"},
}
ATTRIBUTES = sorted(set().union(*OBJECTS.values()))


def answer(obj: str, question: str) -> str:
    """The scripted user's reply: yes or no for an attribute it recognizes, else a hint."""
    q = question.lower()
    for attr in ATTRIBUTES:
        if attr in q:
            return "Yes." if attr in OBJECTS[obj] else "No."
    return f"I can only answer yes/no questions about: {', '.join(ATTRIBUTES)}."


class TwentyQuestionsEnv(Environment):
    def __init__(self, instance: TaskInstance, max_turns: int):
        super().__init__(instance, max_turns)
        self.conversation: list[dict[str, str]] = []
        self.solved = False

    def step(self, action: str) -> StepResult:
        self.turn += 1
        self.conversation.append({"role": "agent", "content": action})
        obj = self.instance.hidden["object"]
        if "GUESS:" in action.upper():
            guess = action.upper().split("GUESS:", 1)[1].strip().lower().strip(" .!")
            self.solved = guess == obj
            self.rewards.append(1.0 if self.solved else 0.0)
            return StepResult(reward=self.rewards[-1], done=True)
        if self.turn >= self.max_turns:
            self.rewards.append(0.0)
            return StepResult(done=True)
        query = UserQuery(
            instructions=(
                f"You are thinking of: {obj}. Its attributes: {', '.join(sorted(OBJECTS[obj]))}. "
                "Answer the question with Yes or No only."
            ),
            conversation=list(self.conversation),
            script=lambda q=action: answer(obj, q),
        )
        return StepResult(query=query)

    def user_replied(self, reply: str) -> StepResult:
        self.conversation.append({"role": "user", "content": reply})
        self.rewards.append(0.0)
        return StepResult(feedback=reply)

    def success(self) -> bool:
        return self.solved


class TwentyQuestionsTask(Task):
    """Guess the user's object with yes/no questions. Every key of its config is a parameter here."""

    name = "twenty_questions"

    def __init__(
        self,
        name: str = "twenty_questions",
        max_turns: int = 6,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        train_size: int = 200,
        test_size: int = 40,
    ):
        super().__init__(max_turns, seed, name=name, train_split=train_split, split=split)
        self.sizes = {"train": train_size, "test": test_size}

    def instances(self, split: str) -> list[TaskInstance]:
        rng = random.Random(f"{self.seed}-{split}")
        names = sorted(OBJECTS)
        out = []
        for i in range(self.sizes.get(split, 0)):
            obj = rng.choice(names)
            opening = (
                "I am thinking of one of: " + ", ".join(names) + ". Ask yes/no questions about "
                f"{', '.join(ATTRIBUTES)}, then answer with GUESS: <object>."
            )
            out.append(
                TaskInstance(
                    id=f"{split}-{i}",
                    messages=[
                        {"role": "system", "content": "You are playing twenty questions."},
                        {"role": "user", "content": opening},
                    ],
                    hidden={"object": obj},
                )
            )
        return out

    def make_env(self, instance: TaskInstance) -> Environment:
        return TwentyQuestionsEnv(instance, self.max_turns)

    def oracle_action(self, env: Environment) -> str:
        return f"GUESS: {env.instance.hidden['object']}"
