"""`infopo train` end to end on model=tiny: what changed, what was logged, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infopo_cli.core.advantages import fuse_advantages
from infopo_cli.core.infogain import information_gain
from infopo_cli.core.trajectory import Batch, Trajectory, Turn

SMALL = [
    "model=tiny",
    "logger=none",
    "trainer.prompts_per_step=2",
    "trainer.group_size=3",
    "trainer.eval_tasks=2",
    "engine.max_new_tokens=10",
    "task.max_turns=3",
    "trainer.lr=1e-3",
    "seed=7",
]


def infopo(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    p = subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        **kw,
    )
    if check and p.returncode != 0:
        raise AssertionError(
            f"infopo {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        )
    return p


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt / "model.safetensors"))


def metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run2(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("train") / "run"
    infopo(
        "train",
        *SMALL,
        "trainer.steps=2",
        "trainer.save_every=1",
        "trainer.keep_checkpoints=3",
        f"hydra.run.dir={run}",
    )
    return run


def test_parameters_change_and_metrics_are_logged(run2):
    from infopo_cli.zoo.tiny import tiny_path

    before = load_file(str(tiny_path() / "model.safetensors"))
    after = weights(run2 / "checkpoints" / "step_0002")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) >= len(before) // 2
    rows = metrics(run2)
    train_rows = [r for r in rows if "train/success" in r]
    assert [r["step"] for r in train_rows] == [1, 2]
    for key in (
        "train/success",
        "train/outcome_mean",
        "infogain/mean",
        "fusion/gate_mean",
        "loss/policy",
        "time/step_s",
    ):
        assert all(key in r for r in train_rows), key
    evals = [r for r in rows if "eval/success" in r]
    assert [r["step"] for r in evals] == [0, 2]
    assert (run2 / "plots" / "training.png").stat().st_size > 5000


def test_hf_engine_weights_are_exactly_one(run2):
    """The hf engine samples with the trainer's own model: trainer.is_correction=tis (the default)
    logs its metrics with every weight 1 and nothing capped."""
    assert "is_correction: tis" in (run2 / "config.yaml").read_text()
    train_rows = [r for r in metrics(run2) if "train/success" in r]
    assert train_rows
    for r in train_rows:
        assert r["is/weight_mean"] == 1.0
        assert r["is/capped_frac"] == 0.0
        assert "is/logprob_diff_max" not in r  # no separate sampler to compare with


def test_rollout_records_match_the_core_functions(run2):
    """Rebuild step 2's trajectories from the records, rescore with the pre-update model (step 1
    checkpoint), and compare IG and per-turn advantages with what the run logged."""
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.runtime.models import load_model, load_tokenizer

    recs = [json.loads(x) for x in (run2 / "rollouts" / "step_0002.jsonl").read_text().splitlines()]
    trajs = [
        Trajectory(
            input_ids=r["input_ids"],
            group=r["task_id"],
            outcome=r["outcome"],
            turns=[Turn(tuple(a), tuple(f) if f else None) for a, f in r["spans"]],
        )
        for r in recs
    ]
    ckpt = run2 / "checkpoints" / "step_0001"
    model, tok = load_model(str(ckpt)), load_tokenizer(str(ckpt))
    ig = information_gain(model, trajs, ChatFormat(tok).encode("No information found."))
    for r, g in zip(recs, ig):
        assert [t["ig"] for t in r["turns"]] == pytest.approx(g, abs=1e-4)
    # the advantages are the fusion of the logged IG: rescoring agrees only to 1e-4 (summation
    # order varies with the thread count), which the group normalisation would magnify
    for tr, r in zip(trajs, recs):
        tr.info_gain = [t["ig"] for t in r["turns"]]
    t = Batch(trajs).tensors(tok.pad_token_id)
    adv = fuse_advantages(t["outcomes"], [x.group for x in trajs], t["intrinsic"], t["action_mask"])
    for i, (r, tr) in enumerate(zip(recs, trajs)):
        got = [turn["advantage"] for turn in r["turns"]]
        want = [adv[i, a.action[0] : a.action[1]].mean().item() for a in tr.turns]
        assert got == pytest.approx(want, abs=1e-4)


BASELINE = [
    "model=tiny",
    "logger=none",
    "trainer.prompts_per_step=2",
    "trainer.group_size=2",
    "trainer.eval_tasks=0",
    "engine.max_new_tokens=4",
    "task.max_turns=2",
    "trainer.steps=2",
    "seed=7",
]


@pytest.mark.parametrize(
    "overrides",
    [
        ["fusion=rloo", "trainer.dynamic_sampling_max_rounds=1"],
        ["fusion=reward_to_go"],
        ["fusion=equalized"],
    ],
)
def test_baselines_train_through_the_same_recipe(overrides, tmp_path):
    """Each baseline runs two steps of the same rollout and update, computes no information gain,
    and logs per-turn advantages that the core function gives for the logged rewards."""
    from infopo_cli.core.advantages import turn_credit_advantage

    run = tmp_path / "run"
    infopo("train", *BASELINE, *overrides, f"hydra.run.dir={run}")
    rows = [r for r in metrics(run) if "train/success" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["infogain/scored_turns"] == 0 and "loss/policy" in r for r in rows)
    if "trainer.dynamic_sampling_max_rounds=1" in overrides:
        for r in rows:  # two prompts, at most one refill round; the batch keeps its two groups
            assert r["rollout/sampling_rounds"] <= 1
            assert r["rollout/groups_refilled"] == r["rollout/tied_groups_dropped"] <= 2
            assert r["simulator/episodes"] == 2 * (2 + r["rollout/groups_refilled"])
        return
    mode = overrides[0].split("=")[1]
    recs = [json.loads(x) for x in (run / "rollouts" / "step_0002.jsonl").read_text().splitlines()]
    rewards = [[t["reward"] for t in r["turns"]] for r in recs]
    for r, rw in zip(recs, rewards):
        rw[-1] += r["outcome"] - sum(rw)
    want = turn_credit_advantage(rewards, [r["task_id"] for r in recs], scheme=mode, gamma=0.8)
    for r, w in zip(recs, want):
        assert [t["advantage"] for t in r["turns"]] == pytest.approx(w, abs=1e-5)


def test_killed_run_resumes_to_the_same_next_step(tmp_path):
    args = [*SMALL, "trainer.steps=3", "trainer.save_every=1", "trainer.keep_checkpoints=5"]
    full = tmp_path / "full"
    infopo("train", *args, f"hydra.run.dir={full}")
    cut = tmp_path / "cut"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infopo_cli.cli", "train", *args, f"hydra.run.dir={cut}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while not (cut / "checkpoints" / "step_0001" / "state.json").exists():
        assert proc.poll() is None and time.time() < deadline, (
            "run ended before its first checkpoint"
        )
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in (cut / "checkpoints").glob("step_*"))
    assert done and "step_0003" not in done
    out = infopo("train", *args, f"resume={cut}", f"hydra.run.dir={tmp_path / 'resume-log'}")
    assert "resumed from" in out.stdout
    a = weights(full / "checkpoints" / "step_0003")
    b = weights(cut / "checkpoints" / "step_0003")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma = {r["step"]: r for r in metrics(full) if "train/success" in r}
    mb = {r["step"]: r for r in metrics(cut) if "train/success" in r}
    assert sorted(mb) == [1, 2, 3]
    for key in ("train/outcome_mean", "loss/policy", "infogain/mean", "rollout/action_tokens"):
        assert mb[3][key] == ma[3][key], key


@pytest.mark.parametrize(
    "override,needle",
    [
        ("fusion=nope", "fusion=nope is not an option"),
        ("trainer.lr=-1", "trainer.lr"),
        ("trainer.group_size=1", "trainer.group_size"),
        ("fusion.gamma=1.5", "fusion.gamma"),
        ("trainer.dynamic_sampling_max_rounds=-1", "trainer.dynamic_sampling_max_rounds"),
        ("model.path=/no/such/dir", "model.path"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(override, needle, tmp_path):
    p = infopo(
        "train", "model=tiny", "logger=none", override, f"hydra.run.dir={tmp_path}", check=False
    )
    assert p.returncode == 2
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr


def test_sampled_evaluation_plays_eval_samples_episodes_per_task(tmp_path):
    run = tmp_path / "run"
    p = infopo(
        "train",
        *SMALL,
        "trainer.steps=0",
        "trainer.eval_temperature=1.0",
        "trainer.eval_samples=3",
        f"hydra.run.dir={run}",
    )
    assert "2 tasks x 3 samples" in p.stdout
    start = next(r for r in metrics(run) if "eval/success" in r)
    assert (start["step"], start["eval/n_tasks"], start["eval/n_trials"]) == (0, 2, 6)


def test_parsed_only_gain_keeps_parsed_turns_and_zeroes_the_rest(tmp_path):
    """Same seed, one step each: the first batch is identical, so the two runs' records differ only
    in the IG of turns outside the protocol, which ``infogain.parsed_only`` sets to 0."""

    def turns(flag: str) -> list[dict]:
        run = tmp_path / flag
        infopo(
            "train",
            *SMALL,
            "trainer.steps=1",
            f"infogain.parsed_only={flag}",
            f"hydra.run.dir={run}",
        )
        recs = (run / "rollouts" / "step_0001.jsonl").read_text().splitlines()
        return [t for r in map(json.loads, recs) for t in r["turns"]]

    plain, only = turns("false"), turns("true")
    assert [t["action"] for t in plain] == [t["action"] for t in only]
    off = [(a["ig"], b["ig"]) for a, b in zip(plain, only) if not a["parsed"]]
    assert any(a != 0.0 for a, _ in off)  # plain IG credits off-protocol turns ...
    assert all(b == 0.0 for _, b in off)  # ... parsed_only does not
    for a, b in zip(plain, only):
        if a["parsed"]:
            assert b["ig"] == pytest.approx(a["ig"], abs=1e-6)
