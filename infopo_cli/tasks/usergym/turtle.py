"""TurtleGym: lateral-thinking puzzles. The agent sees a strange "surface" and must uncover the
hidden story (the "bottom").

* ``action: <yes/no question>``: the host (the simulator) answers Yes, No or Maybe against the
  hidden story; reward 0.
* ``answer: <story>``: a judge (the simulator) scores the story on each weighted criterion of the
  puzzle (0, 0.5 or 1 each). The story's score is ``sum(weight * score)``; the turn's reward is its
  improvement over the best earlier answer (never negative), so the rewards of an episode add up
  to the best score reached.

The judge is asked for JSON ``{"scores": [s1, s2, ...]}`` in criterion order (objects with a
``score`` field are read too); an unreadable verdict scores 0 for that answer. Under UserRL's rules
(``upstream_rules``; gyms/TurtleGym/turtlegym/env/story_env.py and prompts.py) each score counts
as the judge gave it (0.4 counts 0.4), and an answer ends the episode when its own score, summed
in float, reaches 1.0 (weights of 0.4, 0.3, 0.2 and 0.1 sum to just below 1.0, so such a story
never ends on an answer); the project's variant snaps each score to 0, 0.5 or 1 and ends when the
best score reaches the total weight (capped at 1.0) less 1e-9.

Scripted stand-ins (``simulator=scripted``; not the benchmark's LLM host and judge):

* question: share of the question's content words found in the hidden story: at least half
  "Yes", none "No", otherwise "Maybe" (no content word at all: "Maybe");
* story: each criterion's content words (minus generic ones such as "story", "reveals") found in
  the answer: at least 60% scores 1, at least 30% scores 0.5, otherwise 0.
"""

from __future__ import annotations

import json

from infopo_cli.tasks.base import StepResult
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.text import content_words, first_json_dict, parse_verdict

CRITERION_STOP = frozenset(
    """
    story include included includes reveal revealed reveals explain explained explains mention
    mentioned mentions protagonist character answer describe described describes state states
    even original different logically justifiable clear clearly
    """.split()  # noqa: SIM905
)

HOST_RULES = """\
You host a lateral-thinking puzzle. The player knows only the surface:
{surface}

The full hidden story is:
{bottom}

Judge the player's latest question or statement against the hidden story and reply with exactly
one word: Yes (it agrees with the hidden story), No (it contradicts it or is far from it), or Maybe
(the story does not settle it, usually because it is irrelevant). Prefer Yes or No whenever the story
decides the matter. Never reveal anything else."""

JUDGE_RULES = """\
You grade answers to a lateral-thinking puzzle.

Surface shown to the player:
{surface}

Hidden story:
{bottom}

Grading criteria:
{criteria}

The player's latest message is their version of the hidden story. For each criterion give 1 if the
player's story fully satisfies it, 0.5 if partly, 0 if not. Reply with JSON only, scores in
criterion order: {{"scores": [..]}} (exactly {n} numbers)."""


def scripted_answer(bottom: str, question: str) -> str:
    q = content_words(question)
    if not q:
        return "Maybe"
    share = len(q & content_words(bottom)) / len(q)
    if share >= 0.5:
        return "Yes"
    return "No" if share == 0 else "Maybe"


def scripted_scores(criteria: list[str], story: str) -> list[float]:
    have = content_words(story)
    scores = []
    for statement in criteria:
        want = content_words(statement, CRITERION_STOP)
        share = len(want & have) / len(want) if want else 0.0
        scores.append(1.0 if share >= 0.6 else 0.5 if share >= 0.3 else 0.0)
    return scores


def parse_scores(reply: str, n: int, snap: bool = True) -> list[float] | None:
    """n scores from the judge's reply, snapped to 0, 0.5 or 1 unless ``snap`` is false (UserRL's
    story_env.py weighs the judge's number as given); None when unreadable."""
    obj = first_json_dict(reply, "scores")
    if obj is None or not isinstance(obj["scores"], list) or len(obj["scores"]) != n:
        return None
    out = []
    for s in obj["scores"]:
        v = s.get("score") if isinstance(s, dict) else s
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        out.append(min((0.0, 0.5, 1.0), key=lambda t: abs(t - v)) if snap else v)
    return out


class TurtleEnv(GymEnv):
    kind = "turtle"
    choices = ("action", "answer")
    passthrough = "action"
    compact_prompt = (
        "A lateral-thinking puzzle: uncover the hidden story behind the surface below. Choices: "
        "action '<yes/no question>' (answered Yes, No or Maybe); answer '<the full story>' is "
        "scored on its key points."
    )

    demo_questions = (
        "Did someone die?",
        "Was it an accident?",
        "Is another person involved?",
        "Did it happen at night?",
        "Is the main character hiding something?",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.surface: str = self.record["new_surface"]
        self.bottom: str = self.record["new_bottom"]
        self.criteria: list[str] = [str(c["statement"]) for c in self.record["evaluation"]]
        self.weights: list[float] = [float(c["score"]) for c in self.record["evaluation"]]
        self.target = min(1.0, sum(self.weights)) - 1e-9
        self.best = 0.0

    def act(self, choice: str, content: str) -> StepResult:
        convo = [{"role": "agent", "content": content}]
        if choice == "action":
            return self.ask(
                "user",
                HOST_RULES.format(surface=self.surface, bottom=self.bottom),
                convo,
                lambda: scripted_answer(self.bottom, content),
            )
        criteria = "\n".join(f"{i}. {s}" for i, s in enumerate(self.criteria, 1))
        instructions = JUDGE_RULES.format(
            surface=self.surface, bottom=self.bottom, criteria=criteria, n=len(self.criteria)
        )
        return self.ask(
            "judge",
            instructions,
            convo,
            lambda: json.dumps({"scores": scripted_scores(self.criteria, content)}),
        )

    def on_reply(self, purpose: str, reply: str) -> StepResult:
        if purpose == "user":
            verdict = parse_verdict(reply) or "Maybe"
            return self.result(verdict, info={"verdict": verdict})
        scores = parse_scores(reply, len(self.criteria), snap=not self.upstream_rules)
        if scores is None:
            return self.result(
                "Your story could not be evaluated; try answering again.",
                info={"judge_error": True},
            )
        score = sum(w * s for w, s in zip(self.weights, scores))
        reward = max(0.0, score - self.best)
        if self.upstream_rules:  # UserRL's normalize_rewards clamps each turn's reward to [0, 1]
            reward = min(1.0, reward)
        self.best = max(self.best, score)
        met = [c for c, s in zip(self.criteria, scores) if s == 1.0]
        if met:
            feedback = "Your story gets these key points right:\n" + "\n".join(
                f"- {c}" for c in met
            )
        else:
            feedback = "Your story does not get any key point fully right yet."
        if self.upstream_rules:
            # story_env.py: an answer ends the episode when its own score, summed in float over
            # the criteria in order, reaches success_threshold = 1.0 (verl/tools/env_manager.py).
            # Weights such as 0.4 + 0.3 + 0.2 + 0.1 sum to 0.9999999999999999: such a story never
            # ends on an answer, as upstream.
            done = score >= 1.0
        else:
            done = self.best >= self.target
        if not done:
            feedback += (
                "\nParts of the hidden story may still be missing: ask more or answer again."
            )
        return self.result(
            feedback, reward=reward, done=done, info={"scores": scores, "score": score}
        )

    def success(self) -> bool:
        """The best answer reached the total weight (less 1e-9): the project's success metric,
        under either rules (UserRL has none; its episode end is the float rule above)."""
        return self.best >= self.target

    def oracle_action(self) -> str:
        """Tell the hidden story itself; finish if that was already judged."""
        if any(h["choice"] == "answer" for h in self.history):
            return format_call("finish", "")
        return format_call("answer", self.bottom)
