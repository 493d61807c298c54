"""``trainer.strategy=ddp`` under torchrun (2 ranks, gloo, CPU) against one process on the same global
batch: the same trajectories, the same gradient, the same parameters; a 2-rank checkpoint resumes on
1 rank.

Why the runs can be compared at all: under ddp every prompt group is rolled out on its own under a
torch RNG seeded from (seed, step, global prompt index), so which rank plays a group changes nothing.

Tolerance: the two runs add the same numbers in different orders (one process sums the per-token
gradient terms of all rows in one micro-batch; two ranks sum half each, then gloo adds the halves),
so gradients agree to float32 rounding (~1e-7 relative). Adam divides each update by the root of
the gradient's second moment, which amplifies those rounding differences for the few elements whose
gradient is nearly zero; the parameters are therefore compared by the norm of their difference
relative to the norm of what training changed (below 1e-3), and the gradient norm, which Adam's scale
invariance would otherwise hide (a wrong world-size factor), is compared to 1e-5 relative.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.distributed

ARGS = [
    "model=tiny",
    "logger=none",
    "trainer.strategy=ddp",
    "trainer.prompts_per_step=2",
    "trainer.group_size=2",
    "trainer.eval_tasks=0",
    "engine.max_new_tokens=8",
    "task.max_turns=2",
    "trainer.lr=1e-3",
    "seed=3",
]


def run(args: list[str], nproc: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        if nproc
        else [sys.executable]
    )
    p = subprocess.run(
        [*launcher, "-m", "infopo_cli.cli", "train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if p.returncode != 0:
        raise AssertionError(
            f"train failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        )
    return p


def weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoints" / f"step_{step:04d}" / "model.safetensors"))


def train_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "train/success" in r]


def token_ids(run_dir: Path, step: int) -> list[list[int]]:
    lines = (run_dir / "rollouts" / f"step_{step:04d}.jsonl").read_text().splitlines()
    return [json.loads(x)["input_ids"] for x in lines]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dist")
    one, two = root / "one", root / "two"
    # No torchrun: strategy=ddp falls back to a world of 1 with the same per-group seeding.
    p = run([*ARGS, "trainer.steps=2", f"hydra.run.dir={one}"])
    assert "running as a world of 1" in p.stdout
    run([*ARGS, "trainer.steps=2", f"hydra.run.dir={two}"], nproc=2)
    return one, two


def test_two_ranks_sample_the_same_trajectories_as_one(runs):
    one, two = runs
    for step in (1, 2):
        ids = token_ids(one, step)
        assert len(ids) == 4  # 2 prompts x group of 2, gathered from both ranks on rank 0
        assert token_ids(two, step) == ids


def test_two_ranks_compute_the_one_process_gradient_and_parameters(runs):
    from infopo_cli.zoo.tiny import tiny_path

    one, two = runs
    for a, b in zip(train_rows(one), train_rows(two), strict=True):
        assert b["train/grad_norm"] == pytest.approx(a["train/grad_norm"], rel=1e-5)
        assert b["loss/entropy"] == pytest.approx(a["loss/entropy"], rel=1e-5)
        assert b["rollout/action_tokens"] == a["rollout/action_tokens"]
    init = load_file(str(tiny_path() / "model.safetensors"))
    moved, apart = moved_and_apart(weights(one, 2), weights(two, 2), init)
    assert moved > 0.05  # training changed the model...
    assert apart / moved < 1e-3  # ...and both runs changed it the same way


def test_checkpoint_of_two_ranks_resumes_on_one(runs):
    _, two = runs
    p = run([*ARGS, "trainer.steps=3", f"resume={two}"])
    assert "resumed from" in p.stdout and "step_0002" in p.stdout
    assert [r["step"] for r in train_rows(two)] == [1, 2, 3]
    state = torch.load(two / "checkpoints" / "step_0003" / "trainer.pt", weights_only=False)
    # Adam's step counter went on from the saved state (a fresh optimizer would be at 1)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {3.0}
    w2, w3 = weights(two, 2), weights(two, 3)
    assert any(not torch.equal(w2[k], w3[k]) for k in w2)


def moved_and_apart(a: dict, b: dict, init: dict) -> tuple[float, float]:
    """Norm of what training changed in ``a``, and norm of the difference between ``a`` and ``b``."""
    moved = torch.sqrt(sum(((a[k] - init[k]) ** 2).sum() for k in a))
    apart = torch.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in a))
    return float(moved), float(apart)


MINI = [
    *(a for a in ARGS if not a.startswith("trainer.prompts_per_step")),
    "trainer.prompts_per_step=4",
    "trainer.mini_batches=2",
    "trainer.micro_batch_tokens=64",
    "trainer.steps=1",
]


@pytest.fixture(scope="module")
def mini_one(tmp_path_factory) -> Path:
    """One process (the world-of-1 fallback) at ``trainer.mini_batches=2``."""
    one = tmp_path_factory.mktemp("mini") / "one"
    run([*MINI, f"hydra.run.dir={one}"])
    return one


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp2", marks=pytest.mark.slow)])
def test_mini_batches_on_two_ranks_match_one_process(mini_one, tmp_path, strategy):
    """``trainer.mini_batches=2`` over 4 prompts: mini-batch i is prompts {2i, 2i+1} at any world
    size, and each of 2 ranks plays one whole group of it (rank 0 prompts 0 and 2, rank 1 prompts 1
    and 3). Each mini-batch's token count is summed over ranks and its micro-batch count (64-token
    micro-batches: the ranks' counts differ) agreed, so the two optimizer steps are one process's."""
    from infopo_cli.zoo.tiny import tiny_path

    two = tmp_path / "two"
    run(
        [
            *(a.replace("strategy=ddp", f"strategy={strategy}") for a in MINI),
            f"hydra.run.dir={two}",
        ],
        nproc=2,
    )
    ids = token_ids(mini_one, 1)
    assert len(ids) == 8 and token_ids(two, 1) == ids  # gathered back into the prompts' order
    (a,), (b,) = train_rows(mini_one), train_rows(two)
    assert b["train/grad_norm"] == pytest.approx(a["train/grad_norm"], rel=1e-5)
    assert b["loss/entropy"] == pytest.approx(a["loss/entropy"], rel=1e-5)
    assert b["loss/policy"] == pytest.approx(a["loss/policy"], rel=1e-5, abs=1e-9)
    moved, apart = moved_and_apart(
        weights(mini_one, 1), weights(two, 1), load_file(str(tiny_path() / "model.safetensors"))
    )
    assert moved > 0.05 and apart / moved < 1e-3


def test_fsdp2_two_ranks_match_one_process(runs, tmp_path):
    """FSDP2 on gloo/CPU: sharded update, generation and scoring with the parameters gathered for the
    phase, full checkpoint written by rank 0 (same file layout as a plain save)."""
    from infopo_cli.zoo.tiny import tiny_path

    one, _ = runs
    fsdp = tmp_path / "fsdp"
    args = [a.replace("strategy=ddp", "strategy=fsdp2") for a in ARGS]
    run([*args, "trainer.steps=2", f"hydra.run.dir={fsdp}"], nproc=2)
    for step in (1, 2):
        assert token_ids(fsdp, step) == token_ids(one, step)
    for a, b in zip(train_rows(one), train_rows(fsdp), strict=True):
        assert b["train/grad_norm"] == pytest.approx(a["train/grad_norm"], rel=1e-5)
    w1, wf = weights(one, 2), weights(fsdp, 2)
    assert sorted(wf) == sorted(w1)  # the tied output head is not written twice
    moved, apart = moved_and_apart(w1, wf, load_file(str(tiny_path() / "model.safetensors")))
    assert moved > 0.05 and apart / moved < 1e-3


@pytest.mark.slow
def test_lora_and_memory_options_agree_across_strategies(tmp_path):
    """LoRA + gradient checkpointing + bf16 autocast + micro-batches of 64 tokens, under ddp and
    fsdp2 on 2 ranks with evaluation sharded over them: the same adapter either way."""
    extra = [
        "trainer.steps=2",
        "trainer.eval_tasks=3",
        "model.lora.r=4",
        "model.gradient_checkpointing=true",
        "trainer.autocast=bf16",
        "trainer.micro_batch_tokens=64",
    ]
    out = {}
    for strategy in ("ddp", "fsdp2"):
        d = tmp_path / strategy
        args = [a.replace("strategy=ddp", f"strategy={strategy}") for a in ARGS]
        p = run([*args, *extra, f"hydra.run.dir={d}"], nproc=2)
        assert "eval (end, step 2, test split, 3 tasks)" in p.stdout
        out[strategy] = load_file(
            str(d / "checkpoints" / "step_0002" / "adapter_model.safetensors")
        )
    zero = {k: torch.zeros_like(v) for k, v in out["ddp"].items()}
    moved, apart = moved_and_apart(out["ddp"], out["fsdp2"], zero)
    assert moved > 0 and apart / moved < 1e-3


def test_dynamic_sampling_refills_the_same_prompts_at_any_world_size(tmp_path):
    """Tied groups dropped and refilled (trainer.dynamic_sampling_max_rounds): the refills are drawn
    from the shared prompt sampler and seeded by their index in the step, so two ranks play the same
    trajectories as one."""
    args = [*ARGS, "trainer.steps=2", "trainer.dynamic_sampling_max_rounds=1"]
    one, two = tmp_path / "one", tmp_path / "two"
    run([*args, f"hydra.run.dir={one}"])
    run([*args, f"hydra.run.dir={two}"], nproc=2)
    for step in (1, 2):
        assert token_ids(two, step) == token_ids(one, step)
    for a, b in zip(train_rows(one), train_rows(two), strict=True):
        for key in ("rollout/tied_groups_dropped", "rollout/sampling_rounds", "simulator/episodes"):
            assert b[key] == a[key], key
        assert a["simulator/episodes"] == 2 * (2 + a["rollout/groups_refilled"])


def test_prompts_must_split_evenly_over_ranks(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "WORLD_SIZE": "2"}
    p = subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", "train", *ARGS, "trainer.prompts_per_step=3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 2
    assert "trainer.prompts_per_step=3 cannot be split over 2 ranks" in p.stderr + p.stdout


def test_a_tensor_parallel_engine_per_rank_is_refused_in_one_line():
    from omegaconf import OmegaConf

    from infopo_cli.config import validate
    from infopo_cli.errors import ConfigError

    cfg = OmegaConf.create(
        {
            "engine": {"name": "vllm", "tensor_parallel_size": 2},
            "trainer": {"strategy": "fsdp2", "prompts_per_step": 2},
        }
    )
    with pytest.raises(ConfigError, match=r"engine.tensor_parallel_size=2 with trainer.strategy="):
        validate(cfg)


def test_vllm_with_fsdp2_and_lora_is_refused_in_one_line():
    from omegaconf import OmegaConf

    from infopo_cli.config import validate
    from infopo_cli.errors import ConfigError

    cfg = OmegaConf.create(
        {
            "engine": {"name": "vllm"},
            "model": {"name": "tiny", "lora": {"r": 4}},
            "trainer": {"strategy": "fsdp2", "prompts_per_step": 2},
        }
    )
    with pytest.raises(ConfigError, match=r"trainer.strategy=fsdp2 and model.lora.r>0"):
        validate(cfg)
    cfg.trainer.strategy = "ddp"
    validate(cfg)  # LoRA with colocated engines under ddp is fine
