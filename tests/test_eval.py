"""``infopo eval``: pass^k and the aggregates against hand-computed values, the eval.json layout
written by the CLI, the oracle as a perfect policy, and the errors of checkpoint picking."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from infopo_cli.core.evaluation import aggregate, pass_hat_k, wilson_ci95
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.evaluate import (
    ASK_INSTRUCTION,
    evaluate_main,
    pick_checkpoint,
    with_instruction,
)
from infopo_cli.tasks.base import TaskInstance

REPO = Path(__file__).resolve().parents[1]
Z2 = 1.959963984540054**2


def compose_eval(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides)


def test_pass_hat_k_hand_computed():
    trials = [[True, True, False], [True, False, False], [True, True, True]]
    # k=1 is the success rate per task: (2/3 + 1/3 + 3/3) / 3
    assert pass_hat_k(trials, 1) == pytest.approx(2 / 3)
    # k=2: C(2,2)/C(3,2) = 1/3, C(1,2)/C(3,2) = 0, C(3,2)/C(3,2) = 1 -> mean 4/9
    assert pass_hat_k(trials, 2) == pytest.approx(4 / 9)
    # k=3: only the task with three successes counts -> 1/3
    assert pass_hat_k(trials, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 4 trials"):
        pass_hat_k(trials, 4)


def test_wilson_interval_closed_forms():
    # At p = 1 the lower bound is n / (n + z^2); at p = 0 the upper bound is z^2 / (n + z^2).
    assert wilson_ci95(4, 4) == pytest.approx([4 / (4 + Z2), 1.0])
    assert wilson_ci95(0, 4) == pytest.approx([0.0, Z2 / (4 + Z2)])
    lo, hi = wilson_ci95(2, 4)  # symmetric around 1/2
    assert lo + hi == pytest.approx(1.0)
    assert wilson_ci95(0, 0) == [0.0, 0.0]


def test_aggregate_hand_computed():
    results = [
        {
            "id": "a",
            "rewards": [1.0, 0.5],
            "successes": [True, False],
            "turns": [2, 4],
            "excluded": 0,
        },
        {
            "id": "b",
            "rewards": [1.0, 1.0],
            "successes": [True, True],
            "turns": [3, 3],
            "excluded": 0,
        },
        # one of two trials excluded (simulator failure): fewer than k scored trials, left out
        {"id": "c", "rewards": [0.0], "successes": [False], "turns": [6], "excluded": 1},
    ]
    agg = aggregate(results, k=2)
    assert agg["success"] == pytest.approx(0.75)  # 3 of the 4 scored trials
    assert agg["mean_reward"] == pytest.approx(0.875)  # (1 + 0.5 + 1 + 1) / 4
    # rewards 1, .5, 1, 1: sample sd 0.25, half width 1.96 * 0.25 / 2
    half = 1.959963984540054 * 0.25 / 2
    assert agg["mean_reward_ci95"] == pytest.approx([0.875 - half, 0.875 + half])
    assert agg["pass_hat_k"] == pytest.approx(0.5)  # task a: C(1,2)=0, task b: 1
    assert agg["pass_hat_k_ci95"] == pytest.approx([0.0, 1.0])  # clipped to [0, 1]
    assert agg["success_ci95"] == pytest.approx(wilson_ci95(3, 4))
    assert (agg["n_tasks"], agg["n_trials"], agg["n_unscored_tasks"]) == (2, 4, 1)
    assert agg["n_excluded_trials"] == 1
    assert agg["mean_turns"] == pytest.approx(3.0)
    assert agg["k"] == 2


def test_prompt_ask_appends_the_instruction_to_the_system_message():
    inst = TaskInstance(
        "t1", [{"role": "system", "content": "Help."}, {"role": "user", "content": "Hi"}]
    )
    asked = with_instruction(inst, ASK_INSTRUCTION)
    assert asked.messages[0]["content"] == "Help." + ASK_INSTRUCTION
    assert asked.messages[1] == inst.messages[1]
    assert inst.messages[0]["content"] == "Help."  # the original is untouched
    bare = with_instruction(
        TaskInstance("t2", [{"role": "user", "content": "Hi"}]), ASK_INSTRUCTION
    )
    assert bare.messages[0] == {"role": "system", "content": ASK_INSTRUCTION.strip()}


def _fake_run(root: Path, steps: list[int]) -> Path:
    for s in steps:
        d = root / "checkpoints" / f"step_{s:04d}"
        d.mkdir(parents=True)
        (d / "state.json").write_text("{}")
        (d / "trainer.pt").write_bytes(b"")
    (root / "checkpoints" / "step_0009").mkdir()  # incomplete: no state.json, never picked
    return root


def test_pick_checkpoint_last_or_by_step(tmp_path):
    run = _fake_run(tmp_path / "run", [2, 10, 4])
    assert pick_checkpoint(str(run), None).name == "step_0010"
    assert pick_checkpoint(str(run), 4).name == "step_0004"
    with pytest.raises(ConfigError, match=r"run_step=3 has no checkpoint .* accepted: 2, 4, 10"):
        pick_checkpoint(str(run), 3)
    with pytest.raises(ConfigError, match="is not a directory"):
        pick_checkpoint(str(tmp_path / "missing"), None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no complete checkpoint"):
        pick_checkpoint(str(tmp_path / "empty"), None)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["policy=greedy"],
            "policy='greedy' is not valid; accepted: model, oracle, prompt, prompt_ask",
        ),
        (["policy=prompt", "run=/tmp"], "policy=prompt evaluates the untrained model"),
        (["run_step=3"], "run_step is set without run="),
    ],
)
def test_bad_policy_settings_are_one_line_errors(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        evaluate_main(compose_eval(["model=tiny", *overrides]), tmp_path)


def test_oracle_policy_scores_one(tmp_path):
    # model.max_len=64 is shorter than one clarify episode: the oracle has no context window to obey
    cfg = compose_eval(["policy=oracle", "eval.num_tasks=5", "eval.k=2", "model.max_len=64"])
    out = evaluate_main(cfg, tmp_path)
    agg = out["aggregate"]
    assert (agg["success"], agg["mean_reward"], agg["pass_hat_k"]) == (1.0, 1.0, 1.0)
    assert (agg["n_tasks"], agg["n_trials"], agg["k"]) == (5, 10, 2)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert all(t["success"] is True and t["successes"] == [True, True] for t in saved["tasks"])
    assert saved["simulator"]["name"] == "scripted"
    assert saved["simulator"]["calls"] > 0


def test_cli_eval_writes_documented_files(tmp_path):
    run_dir = tmp_path / "ev"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "infopo_cli.cli",
            "eval",
            "task=clarify",
            "model=tiny",
            "eval.num_tasks=4",
            "logger=none",
            "engine.max_new_tokens=8",
            "task.max_turns=3",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((run_dir / "eval.json").read_text())
    assert out["config"]["eval"]["num_tasks"] == 4
    assert out["config"]["task"]["max_turns"] == 3
    assert (out["policy"], out["task"], out["split"]) == ("model", "clarify", "test")
    agg = out["aggregate"]
    for key in ("success", "mean_reward", "pass_hat_k", "mean_turns"):
        assert isinstance(agg[key], float), key
    assert agg["n_tasks"] == 4
    assert 0.0 <= agg["success_ci95"][0] <= agg["success"] <= agg["success_ci95"][1] <= 1.0
    assert len(out["tasks"]) == 4
    for t in out["tasks"]:
        assert set(t) >= {"id", "rewards", "success", "successes", "mean_reward", "turns"}
        assert len(t["rewards"]) == 1 and len(t["successes"]) == 1
        assert t["success"] is t["successes"][0]
        assert 1 <= t["turns"][0] <= 3
    assert agg["success"] == sum(t["success"] for t in out["tasks"]) / 4
    assert math.isclose(agg["mean_reward"], sum(t["rewards"][0] for t in out["tasks"]) / 4)
    lines = [json.loads(x) for x in (run_dir / "conversations.jsonl").read_text().splitlines()]
    assert [c["id"] for c in lines] == [t["id"] for t in out["tasks"]]
    assert all(
        c["trial"] == 0 and len(c["turns"]) >= 1 and "action" in c["turns"][0] for c in lines
    )
    assert "success" in proc.stdout and "wrote" in proc.stdout


def _run_with_config(root: Path, trainer: dict) -> Path:
    from omegaconf import OmegaConf

    root.mkdir()
    (root / "config.yaml").write_text(OmegaConf.to_yaml({"trainer": trainer}))
    return root


def test_eval_decodes_as_the_run_evaluated_itself_unless_told_otherwise(tmp_path):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR, TrainerConfig
    from infopo_cli.recipes.evaluate import decoding

    # one default for both commands: eval without a run decodes as training evaluates by default
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        train_default = compose(config_name="train", overrides=["model=tiny"]).trainer
    assert train_default.eval_temperature == TrainerConfig().eval_temperature == 1.0
    cfg = compose_eval(["model=tiny"])
    assert decoding(cfg, None) == (train_default.eval_temperature, train_default.eval_samples)
    assert (cfg.eval.temperature, cfg.eval.k) == (1.0, 1)  # the values used, as eval.json records

    sampled = _run_with_config(tmp_path / "a", {"eval_temperature": 0.7, "eval_samples": 4})
    assert decoding(compose_eval(["model=tiny"]), str(sampled)) == (0.7, 4)
    # what the command line sets wins, field by field
    assert decoding(compose_eval(["eval.k=2"]), str(sampled)) == (0.7, 2)
    assert decoding(compose_eval(["eval.temperature=0.3"]), str(sampled)) == (0.3, 4)
    # greedy: one trial, since more would replay the same episode
    assert decoding(compose_eval(["eval.temperature=0"]), str(sampled)) == (0.0, 1)
    greedy = _run_with_config(tmp_path / "g", {"eval_temperature": 0.0, "eval_samples": 1})
    assert decoding(compose_eval([]), str(greedy)) == (0.0, 1)
    # a run written before these settings existed evaluated greedily
    assert decoding(compose_eval([]), str(_run_with_config(tmp_path / "old", {"lr": 1e-5}))) == (
        0.0,
        1,
    )
