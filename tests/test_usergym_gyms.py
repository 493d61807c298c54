"""Scripted episodes of each gym with hand-computed rewards, the judge/user reply parsing, and the
shared turn rules (malformed calls, disallowed choices, the turn limit).

Tests named ``..._project_rules`` pin the project's variants (``task.upstream_rules=false``); the
default, UserRL's rules, is pinned turn by turn in tests/test_usergym_fidelity.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import StepResult, TaskInstance
from infopo_cli.tasks.usergym import UserGymTask
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.function import evaluate_rule, parse_number
from infopo_cli.tasks.usergym.intention import NOTHING_TO_ADD, parse_covered
from infopo_cli.tasks.usergym.persuasion import PersuasionEnv, parse_stance
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.turtle import TurtleEnv, parse_scores

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "usergym"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared UserGym data not found at {DATA}"
)


def call(choice: str, content: str) -> str:
    return format_call(choice, content)


def turn(env: GymEnv, text: str, replies: list[str] | None = None) -> StepResult:
    """One agent turn; simulator queries get ``replies`` in order, else the scripted reply."""
    res = env.step(text)
    while res.query is not None:
        reply = replies.pop(0) if replies else res.query.script()
        res = env.user_replied(reply)
    return res


def env_for(gym: str, key: str, max_turns: int = 16, **kw) -> GymEnv:
    task = UserGymTask(gym=gym, data_dir=str(DATA), max_turns=max_turns, **kw)
    (inst,) = [i for i in task.instances("test") if i.id == f"{gym}/{key}"]
    return task.make_env(inst)


def synthetic(
    cls: type[GymEnv], record: dict, max_turns: int = 16, upstream_rules: bool = True
) -> GymEnv:
    inst = TaskInstance(id="x/1", messages=[], hidden={"record": record, "kind": cls.kind})
    return cls(inst, max_turns, upstream_rules=upstream_rules)


# ----- FunctionGym ------------------------------------------------------------------------------
@needs_data
def test_function_episode_hand_computed_project_rules() -> None:
    env = env_for(
        "function", "func-484", upstream_rules=False
    )  # b ** 2 + d - a * c, test inputs 5 2 5 5 -> -16
    r = turn(env, call("action", "1 2 3 4"))
    assert (r.feedback, r.reward, r.done, r.role) == (
        "The function's output for 1 2 3 4 is 5.",
        0.0,
        False,
        "tool",
    )
    assert turn(env, "action: 2, 3, 1, 0").feedback == "The function's output for 2 3 1 0 is 7."
    assert "Retrieve the test inputs first" in turn(env, call("answer", "-16")).feedback
    assert turn(env, call("search", "test")).feedback.startswith("The test inputs are: 5 2 5 5.")
    assert "stays hidden" in turn(env, call("action", "5 2 5 5")).feedback
    assert "exactly four integers" in turn(env, call("action", "1 2 3")).feedback
    assert "integers" in turn(env, call("action", "1 2 3 4.5")).feedback
    r = turn(env, call("answer", "-15"))
    assert (r.reward, r.done) == (0.0, False) and r.feedback.startswith("Incorrect")
    r = turn(env, call("answer", "The result is -16.004"))  # within 0.01
    assert (r.reward, r.done) == (1.0, True)
    assert env.outcome() == 1.0 and env.success() and env.turn == 9
    assert env.step(call("answer", "-16")).done  # nothing after the end


def test_function_rule_evaluation_is_exact() -> None:
    assert evaluate_rule("(c + b) / (d / a)", [1, 2, 3, 9]) * 9 == 5  # 5/9 exactly
    assert evaluate_rule("c ** d ** b ** a", [3, 3, 1, 10]) == 1  # 1 ** 10**27
    assert evaluate_rule("d ** b - c * a", [2, -1, 3, 2]) == -5.5
    assert (
        parse_number("22/3") * 3 == 22
        and parse_number("1,234.5") == 1234.5
        and parse_number("none") is None
    )


# ----- TelepathyGym ----------------------------------------------------------------------------
@needs_data
def test_telepathy_scripted_episode() -> None:
    env = env_for("telepathy", "Apollo 11")
    r = turn(env, call("action", "Is it a space mission?"))  # "mission" is in the description
    assert (r.feedback, r.reward) == ("Yes", 0.0)
    assert turn(env, call("action", "Is it an animal?")).feedback == "No"
    assert turn(env, call("action", "Is it?")).feedback == "Maybe"
    r = turn(env, call("answer", "The Moon"))
    assert (r.reward, r.done) == (0.0, False)
    r = turn(env, call("answer", "the Apollo 11 mission"))
    assert (r.reward, r.done) == (1.0, True) and env.success() and env.outcome() == 1.0


@needs_data
def test_telepathy_reads_llm_replies() -> None:
    env = env_for("telepathy", "Apollo 11")
    res = env.step(call("action", "Did it happen in 1969?"))
    q = res.query
    assert "Apollo 11 - the NASA mission" in q.instructions and q.conversation == [
        {"role": "agent", "content": "Did it happen in 1969?"}
    ]
    assert q.meta == {"gym": "telepathy", "purpose": "user", "task_id": "telepathy/Apollo 11"}
    assert (
        env.user_replied('```json\n{"thought": "no doubt", "response": "Yes"}\n```').feedback
        == "Yes"
    )
    assert turn(env, call("action", "Is it a war?"), ["I cannot tell."]).feedback == "Maybe"
    r = turn(env, call("answer", "Moon landing"), ['{"judgment": "Yes", "feedback": "Right!"}'])
    assert r.reward == 1.0 and r.done


# ----- IntentionGym ----------------------------------------------------------------------------
@needs_data
def test_intention_scripted_episode_hand_computed_project_rules() -> None:
    env = env_for(
        "intention", "17c352b8-8b10-4551-a04d-254889366f59", upstream_rules=False
    )  # three details, importance 2 each
    r = turn(env, call("action", "How long is the trip?"))
    assert (r.feedback, r.reward) == (NOTHING_TO_ADD, 0.0)
    r = turn(env, call("action", "Could you tell me about the climate of your destination?"))
    assert (r.feedback, r.reward, r.done) == ("Destination climate: Tropical.", 0.7, False)
    r = turn(env, call("action", "What is the destination climate, exactly?"))  # already covered
    assert r.reward == 0.0
    r = turn(env, call("answer", "Here are tips."))
    assert "not available" in r.feedback and r.reward == 0.0
    r = turn(
        env,
        call("action", "What type of activities do you plan, and is there an event dress code?"),
    )
    assert r.feedback == "Type of activities: Outdoor adventures. Event dress codes: Formal events."
    assert r.reward == pytest.approx(0.7 - 0.2) and r.done
    assert env.outcome() == pytest.approx(1.2) and env.success()


@needs_data
def test_intention_judge_then_user_queries_project_rules() -> None:
    env = env_for("intention", "17c352b8-8b10-4551-a04d-254889366f59", upstream_rules=False)
    judge = env.step(call("action", "Where are you going, and what will you do there?")).query
    assert judge.meta["purpose"] == "judge" and "3. Event dress codes" in judge.instructions
    user = env.user_replied('Both: {"covered": [1, 2, 7]}').query  # 7 is out of range
    assert user.meta["purpose"] == "user" and "Outdoor adventures" in user.instructions
    r = env.user_replied("Somewhere warm, mostly hiking.")
    assert r.feedback == "Somewhere warm, mostly hiking." and r.reward == pytest.approx(0.5)
    assert parse_covered("none of them", 3) == [] and parse_covered("details 3 and 1", 3) == [1, 3]


# ----- TurtleGym -------------------------------------------------------------------------------
STORY = {
    "new_title": "Dark Light",
    "new_surface": "A man turned off a switch and later wept.",
    "new_bottom": "The man was a lighthouse keeper. He turned the light off, and a ship crashed on the rocks.",
    "evaluation": [
        {"statement": "The man was a lighthouse keeper.", "score": 0.6},
        {"statement": "The ship crashed because the light was off.", "score": 0.4},
    ],
}


def test_turtle_scripted_episode_hand_computed() -> None:
    env = synthetic(TurtleEnv, STORY)
    assert (
        turn(env, call("action", "Was he a lighthouse keeper?")).feedback == "Yes"
    )  # 2 of 2 words
    assert (
        turn(env, call("action", "Was he a keeper of bees and honey?")).feedback == "Maybe"
    )  # 1 of 3
    assert turn(env, call("action", "Was it raining?")).feedback == "No"
    r = turn(env, call("answer", "He was a lighthouse keeper."))  # criterion 1: 2/3 words -> 1
    assert r.reward == pytest.approx(0.6) and not r.done
    assert "- The man was a lighthouse keeper." in r.feedback
    r = turn(env, call("answer", "He was a lighthouse keeper."))  # no improvement
    assert r.reward == 0.0
    r = turn(env, call("answer", "The lighthouse keeper turned the light off and a ship crashed."))
    assert r.reward == pytest.approx(0.4) and r.done and env.success()
    assert env.outcome() == pytest.approx(1.0)


def test_turtle_judge_reply_parsing_project_rules() -> None:
    env = synthetic(TurtleEnv, STORY, upstream_rules=False)
    q = env.step(call("answer", "A story.")).query
    assert (
        "1. The man was a lighthouse keeper." in q.instructions
        and "exactly 2 numbers" in q.instructions
    )
    r = env.user_replied(
        '```json\n{"scores": [{"statement": "s", "score": 1.0}, {"score": 0.4}]}\n```'
    )
    assert r.reward == pytest.approx(0.6 + 0.4 * 0.5)
    assert parse_scores('{"scores": [1]}', 2) is None and parse_scores("good story", 2) is None
    r = turn(env, call("answer", "Another."), ["I like it."])
    assert r.reward == 0.0 and r.info["judge_error"]


# ----- PersuadeGym -----------------------------------------------------------------------------
CLAIM = {
    "claim": "Cities should ban cars from their centres",
    "argument": "Cars pollute city centres, make streets dangerous for pedestrians and waste public space.",
}
ARGUMENT = (
    "Banning cars from city centres hurts disabled residents, delivery workers and small shops; "
    "pollution falls faster with electric buses, and pedestrians gain safety from better crossings."
)


def test_persuasion_scripted_episode_hand_computed_project_rules() -> None:
    env = synthetic(PersuasionEnv, CLAIM, upstream_rules=False)
    r = turn(env, call("answer", ARGUMENT))
    assert r.feedback.endswith("Stance: Agree") and r.reward == pytest.approx(1 / 6)
    r = turn(env, call("answer", ARGUMENT))  # repeated: no move
    assert r.feedback.endswith("Stance: Agree") and "already said" in r.feedback and r.reward == 0.0
    r = turn(
        env, call("action", "Cars are loud.")
    )  # too short, but action is accepted as an argument
    assert r.reward == 0.0 and r.feedback.endswith("Stance: Agree")
    assert "not available" in turn(env, call("search", "x")).feedback


def test_persuasion_stance_rewards_follow_the_readme_project_rules() -> None:
    env = synthetic(PersuasionEnv, CLAIM, max_turns=6, upstream_rules=False)
    rewards = [
        turn(env, call("answer", "a"), [text]).reward
        for text in (
            "Fair. Stance: Neutral",  # 0 -> 3
            "Hmm, I now partly disagree.",  # -> 4 (no Stance line: last label)
            "Stance: Agree",  # back to 1: 0
            "You convinced me. Stance: Disagree",  # 1 -> 5
            "no stance here",  # unchanged
            "Stance: Strongly Disagree",  # 5 -> 6, ends
        )
    ]
    assert rewards == pytest.approx([3 / 6, 1 / 6, 0.0, 4 / 6, 0.0, 1 / 6])
    assert env.done and env.success()
    assert parse_stance("I somewhat agree. Stance: strongly disagree") == 6
    assert parse_stance("Disagree, then agree") == 1


def test_persuasion_has_no_oracle() -> None:
    with pytest.raises(ConfigError, match="no oracle policy"):
        synthetic(PersuasionEnv, CLAIM).oracle_action()


# ----- shared turn rules -----------------------------------------------------------------------
def test_malformed_and_disallowed_calls_cost_a_turn_not_a_crash_project_rules() -> None:
    env = synthetic(PersuasionEnv, CLAIM, max_turns=3, upstream_rules=False)
    r = env.step("I refuse to use the tool.")
    assert (
        "No tool call found" in r.feedback and r.reward == 0.0 and not r.done and r.info["invalid"]
    )
    r = env.step(call("search", "anything"))
    assert "use answer, action" in r.feedback and not r.done
    r = env.step("nonsense again")
    assert r.done and env.turn == 3 and env.rewards == [0.0, 0.0, 0.0]


def test_finish_and_show_reward() -> None:
    env = synthetic(TurtleEnv, STORY)
    env.show_reward = True
    r = turn(env, call("answer", "He was a lighthouse keeper."))
    assert r.feedback.endswith("\nReward: 0.6")
    r = env.step('{"choice": "finish"}')
    assert (
        r.done
        and r.feedback.startswith("The episode is finished.")
        and env.outcome() == pytest.approx(0.6)
    )


@needs_data
@pytest.mark.parametrize("gym", ["intention", "telepathy", "turtle", "persuasion", "function"])
def test_scripted_episode_runs_on_shared_data(gym: str) -> None:
    task = UserGymTask(gym=gym, data_dir=str(DATA), max_turns=4)
    inst = task.instances("test")[0]
    env = task.make_env(inst)
    texts = {
        "intention": call("action", "What is your budget and timeline?"),
        "telepathy": call("action", "Is it a living thing?"),
        "turtle": call("action", "Did someone die?"),
        "persuasion": call("answer", "I disagree because the costs are too high for most people."),
        "function": call("action", "1 1 1 1"),
    }
    results = [turn(env, texts[gym]) for _ in range(4)]
    assert results[-1].done and env.turn == 4 and len(env.rewards) == 4
    assert all(isinstance(r.feedback, str) and r.feedback for r in results)
    assert env.outcome() == pytest.approx(sum(env.rewards))
    json.dumps([r.info for r in results])  # infos are plain data


@needs_data
@pytest.mark.parametrize(
    "gym", ["function", "intention", "telepathy", "turtle", "persuasion", "tau"]
)
def test_demonstrator_writes_valid_calls(gym: str) -> None:
    import random

    task = UserGymTask(gym=gym, data_dir=str(DATA))
    rng = random.Random(0)
    scores = []
    for inst in task.sample("train", 6, rng):
        env = task.make_env(inst)
        while not env.done:
            res = turn(env, task.demo_action(env, rng))
            assert not res.info.get("invalid"), (inst.id, env.history[-1])
        scores.append(env.outcome())
    if gym in ("function", "tau"):
        assert scores == [1.0] * 6
