"""The learning-rate schedule and the per-model RL settings that `infopo train` composes."""

import json
from collections import defaultdict

import pytest
from hydra import compose, initialize_config_dir

from infopo_cli.config import CONF_DIR, TrainerConfig
from infopo_cli.core.update import scheduled_lr
from infopo_cli.errors import ConfigError


def test_constant_schedule_keeps_the_rate():
    cfg = TrainerConfig(lr=3e-4, steps=50)
    assert [scheduled_lr(cfg, s) for s in (1, 25, 50)] == [3e-4, 3e-4, 3e-4]


def test_linear_schedule_hand_computed():
    cfg = TrainerConfig(lr=4e-4, steps=4, lr_schedule="linear")
    # (1 - (step - 1) / steps) * lr: 1, 3/4, 1/2, 1/4 of the peak; never negative past the end
    assert [scheduled_lr(cfg, s) for s in (1, 2, 3, 4, 9)] == pytest.approx(
        [4e-4, 3e-4, 2e-4, 1e-4, 0.0]
    )


def test_unknown_schedule_is_a_config_error():
    with pytest.raises(ConfigError, match="trainer.lr_schedule"):
        TrainerConfig(lr_schedule="cosine")
    with pytest.raises(ConfigError, match="trainer.eval_temperature"):
        TrainerConfig(eval_temperature=-1.0)
    # several samples of a greedy evaluation would replay one episode
    with pytest.raises(ConfigError, match="trainer.eval_samples=4 is not valid; accepted: 1 under"):
        TrainerConfig(eval_samples=4, eval_temperature=0.0)
    assert TrainerConfig(eval_samples=4, eval_temperature=1.0).eval_samples == 4


def _train_cfg(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_starter_brings_its_rl_settings_and_other_models_do_not():
    starter = _train_cfg()
    assert starter.model.name == "starter"
    assert starter.trainer.lr == 3e-4 and starter.trainer.lr_schedule == "linear"
    assert starter.engine.max_new_tokens == 24
    assert (starter.trainer.group_size, starter.trainer.eval_temperature) == (4, 1.0)
    other = _train_cfg("model=qwen2.5-0.5b")
    assert other.trainer.lr == 1e-5 and other.trainer.lr_schedule == "constant"
    assert other.engine.max_new_tokens == 48
    assert (other.trainer.group_size, other.trainer.eval_temperature) == (8, 1.0)
    # the command line still wins over the model's settings
    assert _train_cfg("trainer.lr=1e-4").trainer.lr == 1e-4


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, CONF_DIR.parents[1] / f"scripts/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_experiments_compose_and_evals_see_the_same_tasks():
    compare = _script("compare")
    hard = _train_cfg("+experiment=clarify_compare_hard", "fusion=none")
    assert (hard.task.num_slots, hard.task.max_turns, hard.task.reward) == (4, 5, "binary")
    assert hard.model.name == "starter" and hard.trainer.eval_every == 20
    assert hard.trainer.steps == 80
    assert hard.trainer.lr == 3e-4  # the starter's tuned settings still apply under the experiment
    # the evaluations of the untrained starter and the oracle get the same task knobs
    assert sorted(compare.task_overrides("clarify_compare_hard")) == [
        "task.max_turns=5",
        "task.num_slots=4",
        "task.reward=binary",
    ]
    assert compare.task_overrides("clarify_compare") == ["task.reward=binary"]
    assert sorted(compare.task_overrides("clarify_compare_short")) == [
        "task.max_turns=4",
        "task.reward=binary",
    ]
    assert sorted(compare.task_overrides("clarify_compare_tight")) == [
        "task.max_turns=3",
        "task.reward=binary",
    ]
    # the tracking setting: the tight task, started from the starter's tracking variant, which
    # keeps the starter's tuned RL settings
    assert compare.task_overrides("clarify_compare_tracking") == compare.task_overrides(
        "clarify_compare_tight"
    )
    assert compare.policy_model("clarify_compare_tracking") == "starter-tracking"
    assert compare.policy_model("clarify_compare") == "starter"
    # the settings where a reply's content decides the next message: the main task plus one option,
    # InfoPO against GRPO, each from the starter (built on that setting's dialogues)
    for setting, option in [
        ("clarify_vague", "task.vague_rate=0.5"),
        ("clarify_dependent", "task.dependent_slots=True"),
        ("clarify_ack", "task.acknowledge=True"),
    ]:
        assert set(compare.task_overrides(setting)) == {"task.reward=binary", option}
        assert compare.policy_model(setting) == "starter"
        assert compare.SETTINGS[setting] == ["variance_gated", "none"]
    tracking = _train_cfg("+experiment=clarify_compare_tracking")
    assert (tracking.trainer.lr, tracking.trainer.kl_coef, tracking.engine.max_new_tokens) == (
        3e-4,
        0.01,
        24,
    )


def _clarify_case():
    """A small clarify task, one test instance, its revealed and hidden slots, a question maker and
    the all-correct answer."""
    from infopo_cli.tasks.clarify import ClarifyTask

    task = ClarifyTask(train_size=5, test_size=5)
    inst = task.instances("test")[0]
    values, revealed = inst.hidden["values"], inst.hidden["revealed"]
    hidden = [k for k in values if k not in revealed]
    answer = "ANSWER: " + "; ".join(f"{k} = {v}" for k, v in values.items())
    return task, inst, revealed, hidden, "What {} would you like?".format, answer


def test_question_credit_sorts_questions_by_what_the_reply_adds():
    from infopo_cli.tasks.clarify import QUESTION_FILLERS

    credit = _script("question_credit")
    task, inst, revealed, hidden, ask, answer = _clarify_case()
    kinds, informed = credit.classify(
        task, inst, [ask(revealed[0]), ask(hidden[0]), ask(hidden[0]), QUESTION_FILLERS[2], answer]
    )
    assert kinds == ["repeat", "useful", "repeat", "off-task"] and not informed
    kinds, informed = credit.classify(task, inst, [ask(h) for h in hidden] + [answer])
    assert kinds == ["useful"] * len(hidden) and informed
    assert credit.classify(task, inst, [ask(hidden[0])]) == (["useful"], False)  # no answer


def test_question_credit_splits_information_gain_by_what_came_next(tmp_path):
    credit = _script("question_credit")
    task, inst, revealed, hidden, ask, answer = _clarify_case()

    def turn(action, ig):
        return {"action": action, "ig": ig, "advantage": 0.0}

    episodes = [
        # useful -> useful -> answer: the first gain precedes a question, the second the answer
        [turn(ask(hidden[0]), 0.01), turn(ask(hidden[1]), 0.3), turn(answer, 0.0)],
        # repeat -> answer
        [turn(ask(revealed[0]), 0.1), turn(answer, 0.0)],
        # useful, then the episode ran out of turns: nothing came next, no split
        [turn(ask(hidden[0]), 0.0)],
    ]
    f = tmp_path / "step_0001.jsonl"
    f.write_text("".join(json.dumps({"task_id": inst.id, "turns": e}) + "\n" for e in episodes))
    acc = defaultdict(list)
    credit.window_stats(task, {inst.id: inst}, [f], acc)
    assert acc["useful", "ig_before_question"] == [0.01]
    assert acc["useful", "ig_before_answer"] == [0.3]
    assert acc["repeat", "ig_before_answer"] == [0.1] and not acc["repeat", "ig_before_question"]
    assert acc["useful", "ig"] == [0.01, 0.3, 0.0]
    assert acc["informed"] == [1.0, 0.0, 0.0] and acc["turns"] == [3, 2, 1]
