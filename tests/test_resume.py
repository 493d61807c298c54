"""A run continues as the run it was: ``resume=<dir>`` alone, ``resume=auto``, SIGTERM / SIGUSR1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from infopo_cli.config import CONF_DIR
from infopo_cli.errors import ConfigError
from infopo_cli.runtime.resume import find_auto, output_root, resumed_config
from tests.test_train_e2e import SMALL, infopo, metrics, weights

ARGS = [*SMALL, "trainer.steps=6", "trainer.keep_checkpoints=2"]


def composed(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def start_and_stop(run: Path, after_step: int, sig=signal.SIGTERM, extra=()) -> subprocess.Popen:
    """Start a run and send ``sig`` once ``after_step`` is logged; returns the finished process."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infopo_cli.cli", "train", *ARGS, *extra, f"hydra.run.dir={run}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 600
    log = run / "metrics.jsonl"
    while not (log.exists() and any(r.get("step", 0) >= after_step for r in metrics(run))):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.out, proc.err = proc.communicate(timeout=600)
    return proc


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("full") / "run"
    infopo("train", *ARGS, f"hydra.run.dir={run}")
    return run


def final_weights_equal(a: Path, b: Path) -> bool:
    wa, wb = weights(a / "checkpoints" / "step_0006"), weights(b / "checkpoints" / "step_0006")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_sigterm_saves_exits_0_and_resume_alone_continues_the_run(full, tmp_path):
    cut = tmp_path / "cut"
    proc = start_and_stop(cut, after_step=2)
    assert proc.returncode == 0, proc.err[-2000:]
    said = "".join(proc.out.split())  # the console wraps long lines
    assert "SIGTERMafterstep" in said and f"resume={cut}" in said
    stopped = max(int(p.name[5:]) for p in (cut / "checkpoints").glob("step_*"))
    assert 2 <= stopped < 6
    out = infopo("train", f"resume={cut}")  # nothing but the run dir
    assert f"resumedfrom{cut / 'checkpoints'}" in "".join(out.stdout.split())
    assert final_weights_equal(full, cut)
    steps = sorted(r["step"] for r in metrics(cut) if "train/success" in r)
    assert steps == [1, 2, 3, 4, 5, 6]
    assert OmegaConf.load(cut / "config.yaml").model.name == "tiny"
    assert not (cut / ".hydra" / "overrides.yaml").read_text().count("resume")  # not rewritten
    assert (cut / "resumes.jsonl").read_text().count("from_step") == 1


@pytest.mark.slow
def test_sigusr1_then_resume_auto_finds_the_run(full, tmp_path):
    runs = tmp_path / "runs"
    proc = start_and_stop(runs / "cut", after_step=1, sig=signal.SIGUSR1)
    assert proc.returncode == 0 and "SIGUSR1afterstep" in "".join(proc.out.split())
    out = infopo("train", *ARGS, "resume=auto", f"hydra.run.dir={runs / 'next'}")
    assert f"resume=auto:continuing{runs / 'cut'}" in "".join(out.stdout.split())
    assert final_weights_equal(full, runs / "cut")


def test_resume_refuses_a_changed_task_in_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(OmegaConf.to_yaml(composed(ARGS)))
    p = infopo("train", f"resume={run}", "task=sokoban", check=False)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "resume: task would change" in lines[0], p.stderr
    assert sorted(x.name for x in run.iterdir()) == ["cli.log", "config.yaml"]


def test_resumed_config_keeps_the_run_and_takes_the_allowed_keys(tmp_path):
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(composed(ARGS)))
    now = composed(["trainer.steps=9", "logger=none", "trainer.lr=0.5"])
    out = resumed_config(now, tmp_path, ["trainer.steps=9", "logger=none"])
    assert out.trainer.steps == 9 and out.model.name == "tiny" and out.trainer.lr == 1e-3
    assert out.resume == str(tmp_path)
    default_logger = composed(["trainer.steps=9"])  # logger=wandb by default
    kept = resumed_config(default_logger, tmp_path, ["trainer.steps=9"])
    assert kept.logger.name == "none" and kept.trainer.steps == 9  # not given: the run's own
    same = composed([*ARGS, "trainer.steps=9"])
    assert resumed_config(same, tmp_path, ["model=tiny", "seed=7"]).seed == 7  # unchanged: fine
    with pytest.raises(ConfigError, match=r"resume: trainer.lr would change from the run's 0.001"):
        resumed_config(now, tmp_path, ["trainer.lr=0.5"])


def test_output_root_and_find_auto(tmp_path):
    assert output_root("outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}") == Path("outputs")
    assert output_root(f"{tmp_path}/runs/a") == tmp_path / "runs"
    cfg = composed(ARGS)
    for name, lr, has_ckpt in (("old", 1e-3, True), ("other", 0.5, True), ("bare", 1e-3, False)):
        run = tmp_path / name
        (run / "checkpoints" / "step_0001").mkdir(parents=True)
        c = cfg.copy()
        c.trainer.lr = lr
        (run / "config.yaml").write_text(OmegaConf.to_yaml(c))
        if has_ckpt:
            (run / "checkpoints" / "step_0001" / "state.json").write_text("{}")
    assert find_auto(tmp_path, composed([*ARGS, "trainer.steps=50"])) == tmp_path / "old"
    assert find_auto(tmp_path, composed([*ARGS, "seed=8"])) is None
