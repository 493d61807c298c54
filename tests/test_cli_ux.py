"""The command line as the docs promise: one-line errors that name the key, no run folder left by a
command that failed before any work, every group in --help, and tasks from the user's own files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "twenty_questions"


def infopo(*args: str, cwd: Path | None = None, env: dict | None = None):
    path = os.pathsep.join([str(ROOT), str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    full = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": path, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
    )


def one_line(p) -> str:
    assert p.returncode == 2, p.stderr[-2000:]
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    "override,needles",
    [
        (
            "trainer.step=3",
            [
                "trainer.step is not a known key",
                "did you mean trainer.steps?",
                "accepted: autocast,",
            ],
        ),
        ("+trainer.stepz=3", ["trainer.stepz is not a known key", "did you mean trainer.steps?"]),
        (
            "model.lora.rr=3",
            ["model.lora.rr", "did you mean model.lora.r?", "accepted: alpha, dropout, r,"],
        ),
        ("trainer.steps=abc", ["trainer.steps:", "abc"]),
        (
            "task._target_=infopo_cli.tasks.clarify.ClarifyTsk",
            ["did you mean infopo_cli.tasks.clarify.ClarifyTask?"],
        ),
        (
            "task._target_=no_such_module.Task",
            ["task._target_='no_such_module.Task' cannot be imported"],
        ),
    ],
)
def test_bad_key_names_itself_the_closest_key_and_the_accepted_ones(override, needles, tmp_path):
    line = one_line(infopo("train", override, cwd=tmp_path))
    for needle in needles:
        assert needle in line, line
    assert not (tmp_path / "outputs").exists()


def test_unreachable_hub_fails_in_one_line_within_seconds_and_leaves_no_run_folder(tmp_path):
    env = {
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf"),
    }
    start = time.monotonic()
    p = infopo("eval", "model.path=nobody/no-such-model", "eval.num_tasks=1", cwd=tmp_path, env=env)
    line = one_line(p)
    assert time.monotonic() - start < 40
    assert "model.path='nobody/no-such-model'" in line and "cannot be reached" in line, line
    assert not list((tmp_path / "outputs").rglob(".hydra")), "a failed command left a run folder"
    off = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    line = one_line(infopo("train", "model.path=nobody/no-such-model", cwd=tmp_path, env=off))
    assert "HF_HUB_OFFLINE is set" in line
    assert not list((tmp_path / "outputs").rglob(".hydra"))


def test_discard_keeps_a_folder_with_work_in_it(tmp_path):
    from infopo_cli.cli import discard_if_unused

    empty = tmp_path / "2026-01-01" / "12-00-00"
    (empty / ".hydra").mkdir(parents=True)
    (empty / "cli.log").write_text("")
    discard_if_unused(empty)
    assert not empty.parent.exists()
    kept = tmp_path / "run"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "metrics.jsonl").write_text("{}")
    discard_if_unused(kept)
    assert (kept / "metrics.jsonl").exists()


def test_every_help_lists_every_group():
    top = infopo("--help").stdout
    for group in ("task", "simulator", "model", "engine", "fusion", "trainer", "logger"):
        assert f"  {group} " in top
    for group in ("infogain", "experiment", "model_tuning", "hydra/launcher"):
        assert f"  {group} " in top, group
    for cmd in ("train", "sft", "eval"):
        out = infopo(cmd, "--help").stdout
        assert out.startswith(f"infopo {cmd}:"), out[:200]
        for group in ("task:", "model:", "experiment:", "model_tuning:"):
            assert group in out, (cmd, group)
        assert "Examples:" in out


def test_target_override_replaces_the_default_keys():
    from infopo_cli.cli import replace_targets

    argv = ["task._target_=m.T", "task.size=3", "trainer.steps=1", "--config-dir", "task.x"]
    out = replace_targets(argv)
    assert out[:3] == ["+task._target_=m.T", "+task.size=3", "trainer.steps=1"]
    assert out[-1] == "task=custom" and "task.x" in out  # the empty task option
    assert replace_targets(["task=clarify", "task._target_=m.T"]) == [
        "task=clarify",
        "task._target_=m.T",
    ]


def test_a_key_the_class_does_not_take_is_one_line(tmp_path):
    conf = tmp_path / "conf" / "task"
    conf.mkdir(parents=True)
    yaml = (EXAMPLE / "conf" / "task" / "twenty_questions.yaml").read_text()
    (conf / "tq.yaml").write_text(yaml + "num_slots: 3\n")
    line = one_line(
        infopo("train", "--config-dir", str(tmp_path / "conf"), "task=tq", cwd=tmp_path)
    )
    assert line.startswith("error: task.num_slots is not a parameter of twenty_questions.")


def test_example_task_trains_from_the_users_own_folder(tmp_path):
    """A user's folder outside the package: their config folder and their module on PYTHONPATH."""
    conf = tmp_path / "my_conf"
    shutil.copytree(EXAMPLE / "conf", conf)
    misspelt = conf / "task" / "misspelt.yaml"
    misspelt.write_text(
        (conf / "task" / "twenty_questions.yaml")
        .read_text()
        .replace("TwentyQuestionsTask", "TwentyQuestionTask")
    )
    line = one_line(infopo("train", "--config-dir", "my_conf", "task=misspelt", cwd=tmp_path))
    assert "task._target_='twenty_questions.TwentyQuestionTask'" in line
    assert "did you mean twenty_questions.TwentyQuestionsTask?" in line
    line = one_line(infopo("train", "--config-dir", "my_conf", "task=nope", cwd=tmp_path))
    assert "task=nope is not an option" in line and "twenty_questions" in line

    run = tmp_path / "run"
    p = infopo(
        "train",
        "--config-dir",
        "my_conf",
        "task=twenty_questions",
        "model=tiny",
        "logger=none",
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.group_size=2",
        "trainer.eval_tasks=2",
        "engine.max_new_tokens=8",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "task twenty_questions" in " ".join(p.stdout.split())
    steps = [
        line for line in (run / "metrics.jsonl").read_text().splitlines() if "train/success" in line
    ]
    assert len(steps) == 2


def test_a_class_named_on_the_command_line_gets_only_the_keys_given(tmp_path):
    p = infopo(
        "eval",
        "task._target_=twenty_questions.TwentyQuestionsTask",
        "task.max_turns=4",
        "policy=oracle",
        "eval.num_tasks=3",
        f"hydra.run.dir={tmp_path / 'ev'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "success 1.000" in p.stdout
