"""+experiment=paper/<benchmark>: the reference run settings compose and validate; one CPU step of each
runs on the tiny model (docs/reproduce.md, CPU dry run)."""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir

from infopo_cli.config import CONF_DIR, validate
from tests.test_coding_task import _row
from tests.test_simulators_openai import ChatServer
from tests.test_train_e2e import infopo, metrics

# benchmark: (prompts per step, optimizer steps per batch, lr, max turns, beta, tau, temperature,
# context: the reference's max prompt + max response length)
PAPER = {
    "usergym": (64, 4, 3e-7, 16, 0.5, 0.5, 1.0, 1152 + 8192),
    "colbench": (64, 4, 3e-7, 10, 0.3, 0.5, 0.6, 2048 + 8192),
    "tau2": (32, 2, 1e-6, 50, 0.1, 0.05, 1.0, 8192 + 16384),
}


def _cfg(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.mark.parametrize("bench", sorted(PAPER))
def test_paper_configs_compose_and_validate(bench):
    cfg = _cfg(f"+experiment=paper/{bench}")
    validate(cfg)
    prompts, minis, lr, turns, beta, tau, temp, context = PAPER[bench]
    t = cfg.trainer
    assert (t.prompts_per_step, t.mini_batches, t.lr, t.group_size) == (prompts, minis, lr, 5)
    assert (cfg.task.max_turns, cfg.fusion.beta, cfg.fusion.tau) == (turns, beta, tau)
    assert cfg.fusion.mode == "variance_gated" and cfg.engine.temperature == temp
    assert cfg.model.name == "qwen3-4b" and cfg.simulator.model == "gpt-4o-mini-2024-07-18"
    assert cfg.model.max_len == context and cfg.engine.max_new_tokens == 1024
    assert (t.entropy_coef, t.kl_coef) == (0.001, 0.0)


def test_paper_usergym_dry_run_on_cpu(tmp_path):
    """One step of the paper's UserGym schedule (4 mini-batches of one group each) on the tiny
    model; the rule-based function gym queries no simulator, so the configured one is never
    called."""
    run = tmp_path / "run"
    infopo(
        "train",
        "+experiment=paper/usergym",
        "model=tiny",
        "model.max_len=1024",
        "task.gym=function",
        "task.mixture=null",
        "logger=none",
        "trainer.steps=1",
        "trainer.prompts_per_step=4",
        "trainer.group_size=2",
        "trainer.eval_tasks=2",
        "trainer.autocast=none",
        "engine.max_new_tokens=8",
        "task.max_turns=2",
        f"hydra.run.dir={run}",
    )
    rows = metrics(run)
    assert any("train/grad_norm" in r for r in rows)
    resolved = json.dumps(rows)
    assert "NaN" not in resolved
    assert adam_steps(run) == {4.0}  # one optimizer step per mini-batch


def adam_steps(run) -> set[float]:
    """AdamW's step counters in the run's step-1 checkpoint: the optimizer steps the update took."""
    state = torch.load(run / "checkpoints" / "step_0001" / "trainer.pt", weights_only=False)
    return {float(s["step"]) for s in state["optimizer"]["state"].values()}


# One step at the paper's batch shape cut down: 4 prompts, so each of the 4 (ColBench) or 2 (tau2)
# mini-batches holds whole groups.
DRY = [
    "model=tiny",
    "model.max_len=1024",  # tiny's own; the experiment sets the reference's context
    "logger=none",
    "trainer.steps=1",
    "trainer.prompts_per_step=4",
    "trainer.group_size=2",
    "trainer.eval_tasks=0",
    "trainer.autocast=none",
    "engine.max_new_tokens=8",
    "task.max_turns=2",
]


@pytest.fixture
def user_server():
    """A local stand-in for the configured OpenAI endpoint (replies: the last message reversed)."""
    server = ChatServer()
    yield server
    server.stop()


def _dry_run(tmp_path, bench: str, server: ChatServer, *extra: str) -> list[dict]:
    run = tmp_path / "run"
    infopo(
        "train",
        f"+experiment=paper/{bench}",
        *DRY,
        f"simulator.base_url={server.base_url}",
        *extra,
        f"hydra.run.dir={run}",
    )
    rows = metrics(run)
    assert [r["train/grad_norm"] for r in rows if "train/grad_norm" in r]
    assert "NaN" not in json.dumps(rows)
    # the simulated user ran as configured: the OpenAI client with the reference's model name
    assert server.requests
    assert {r["model"] for r in server.requests} == {"gpt-4o-mini-2024-07-18"}
    assert adam_steps(run) == {float(PAPER[bench][1])}  # one optimizer step per mini-batch
    return rows


def test_paper_colbench_dry_run_on_cpu(tmp_path, user_server):
    """ColBench rows carry no facts for the scripted user: the collaborator is the configured
    OpenAI simulator, here answering from a local server."""
    data = tmp_path / "colbench.jsonl"
    data.write_text("".join(_row(i) + "\n" for i in range(40)))
    _dry_run(tmp_path, "colbench", user_server, f"task.path={data}", "task.test_size=null")


def test_paper_tau2_dry_run_on_cpu(tmp_path, user_server):
    from tests.test_tau2_env import TAU2

    if not (TAU2 / "domains").is_dir():
        pytest.skip(f"tau2 data not found at {TAU2}")
    _dry_run(tmp_path, "tau2", user_server, f"task.data_dir={TAU2}")
