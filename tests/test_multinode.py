"""More than one node. Two "nodes" on localhost: two ``torchrun --nnodes 2 --nproc-per-node 1``
agents meeting through a c10d rendezvous, against one ``torchrun --nproc-per-node 2``. Both are
worlds of 2 gloo ranks on CPU, so the runs must agree bit for bit: the same trajectories, metrics and
parameters.

What differs between the two is what a process knows about itself: on 2 nodes each process has
``LOCAL_RANK`` 0, and only one of them is global rank 0, which alone may write into the run dir the
nodes share. The trainings check that the other node writes nothing (given a run dir of its own, as a
timestamped default would be, it leaves none behind) and that a resume of the shared run dir on 2
nodes is recorded once. Two processes given the SLURM variables of a submitit job of 2 nodes x 1 task
(no torchrun) train the same run bit for bit. examples/slurm_multinode.sbatch runs with stand-ins for
srun and scontrol, stops on the time-limit signal, requeues and resumes. All of these are slow (each a
training of 2 ranks or more). The fast tests at the end check how a process knows its global rank
before the process group exists (torchrun's RANK, or a submitit task's SLURM_PROCID across nodes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch

from tests.test_distributed import ARGS, run, token_ids, train_rows, weights

ENV_DROP = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SUBMITIT_EXECUTOR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any launcher's variables, plus ``extra``."""
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    for k in ENV_DROP:
        env.pop(k, None)
    return {**env, **extra}


def side_by_side(launches: list[tuple[list[str], dict]]) -> list[subprocess.CompletedProcess]:
    """Start every (command, environment) at once, as the nodes or tasks of one job start; wait for
    all; fail with the output of any that failed."""
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd, env in launches
    ]
    try:
        outs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    done = [subprocess.CompletedProcess(p.args, p.returncode, *o) for p, o in zip(procs, outs)]
    for i, p in enumerate(done):
        if p.returncode != 0:
            raise AssertionError(
                f"process {i} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
            )
    return done


def run_two_nodes(
    args: list[str], node_args: tuple[list[str], list[str]] = ([], [])
) -> list[subprocess.CompletedProcess]:
    """Two torchrun agents of one rank each, started side by side as two nodes would be; which of
    them becomes global rank 0 is up to the rendezvous. ``node_args`` are each node's own."""
    rdzv = [
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=localhost:{free_port()}",
        f"--rdzv-id={uuid.uuid4().hex[:8]}",
        "--max-restarts=0",
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", *rdzv, "-m", "infopo_cli.cli", "train"]
    return side_by_side([([*cmd, *args, *own], clean_env()) for own in node_args])


def rank_zero_node(procs: list[subprocess.CompletedProcess]) -> int:
    """The node that held global rank 0: the one that printed the run header."""
    headers = [i for i, p in enumerate(procs) if "run dir " in p.stdout]
    assert len(headers) == 1, [p.stdout[-2000:] for p in procs]
    return headers[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """One node of 2 ranks; 2 nodes of 1 rank, each given its own run dir as two nodes with the
    default timestamped ``hydra.run.dir`` started a second apart would be. Returns both runs' dirs
    and the run dir of the node that was not global rank 0."""
    root = tmp_path_factory.mktemp("multinode")
    one_node = root / "one_node"
    run([*ARGS, "trainer.steps=2", f"hydra.run.dir={one_node}"], nproc=2)
    node_dirs = [root / "node_a", root / "node_b"]
    procs = run_two_nodes(
        [*ARGS, "trainer.steps=2"], tuple([f"hydra.run.dir={d}"] for d in node_dirs)
    )
    main = rank_zero_node(procs)
    return one_node, node_dirs[main], node_dirs[1 - main]


@pytest.mark.distributed
@pytest.mark.slow
def test_two_nodes_train_exactly_as_one_node_of_two_ranks(runs):
    """Same world size, same gloo sums of two halves: equal to the bit, metrics included."""
    one, two, _ = runs
    for step in (1, 2):
        assert len(token_ids(one, step)) == 4  # both ranks' groups, gathered on global rank 0
        assert token_ids(two, step) == token_ids(one, step)
    rows_one, rows_two = train_rows(one), train_rows(two)
    assert [r["step"] for r in rows_two] == [1, 2]
    for a, b in zip(rows_one, rows_two, strict=True):
        same = {k: v for k, v in a.items() if not k.startswith("time/")}
        assert {k: b[k] for k in same} == same
    w1, w2 = weights(one, 2), weights(two, 2)
    assert sorted(w2) == sorted(w1)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


@pytest.mark.distributed
@pytest.mark.slow
def test_only_global_rank_zero_writes(runs):
    """The other node wrote nothing at all: no ``.hydra/``, no job log, no metrics, no checkpoint
    (so its own folder, left empty, is gone); global rank 0's run dir is the whole run."""
    _, two, other = runs
    assert not other.exists()
    assert sorted(p.name for p in two.iterdir()) == [
        ".hydra",
        "checkpoints",
        "cli.log",
        "config.yaml",
        "metrics.jsonl",
        "plots",
        "rollouts",
        "summary.json",
        "view.html",
    ]


@pytest.mark.distributed
@pytest.mark.slow
def test_two_nodes_resume_their_shared_run_dir(runs):
    """``resume=<run dir>`` on both nodes: both continue the one run dir from step 2, and the
    resume is recorded once, not once per rank."""
    _, two, _ = runs
    procs = run_two_nodes([*ARGS, "trainer.steps=3", f"resume={two}"])
    main = rank_zero_node(procs)
    assert "resumed from" in procs[main].stdout and "step_0002" in procs[main].stdout
    assert [r["step"] for r in train_rows(two)] == [1, 2, 3]
    assert len((two / "resumes.jsonl").read_text().splitlines()) == 1
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step_0002", "step_0003"]


def run_submitit_tasks(args: list[str]) -> list[subprocess.CompletedProcess]:
    """``infopo train`` as the tasks of a submitit job of 2 nodes x 1 task see it: SLURM's variables
    and ``SUBMITIT_EXECUTOR``, no torchrun (what Hydra's launcher adds around the call, the pickled
    job, is left out)."""
    env = clean_env(
        SUBMITIT_EXECUTOR="slurm",
        SLURM_JOB_ID="4242",
        SLURM_NTASKS="2",
        SLURM_JOB_NUM_NODES="2",
        SLURM_JOB_NODELIST="localhost",
        SLURM_LOCALID="0",
        MASTER_PORT=str(free_port()),
    )
    cmd = [sys.executable, "-m", "infopo_cli.cli", "train", *args]
    return side_by_side(
        [(cmd, {**env, "SLURM_PROCID": str(i), "SLURM_NODEID": str(i)}) for i in range(2)]
    )


@pytest.mark.distributed
@pytest.mark.slow
def test_submitit_tasks_on_two_nodes_train_as_torchrun(runs, tmp_path):
    """Each task one rank from SLURM_PROCID, both with SLURM_LOCALID 0: the same run, bit for bit,
    written by task 0 alone."""
    one, _, _ = runs
    run_dir = tmp_path / "run"
    tasks = run_submitit_tasks([*ARGS, "trainer.steps=2", f"hydra.run.dir={run_dir}"])
    assert "ddp x 2 ranks" in tasks[0].stdout.replace("\n", " ")
    assert "run dir " not in tasks[1].stdout
    for step in (1, 2):
        assert token_ids(run_dir, step) == token_ids(one, step)
    w1, w2 = weights(one, 2), weights(run_dir, 2)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


# ---- examples/slurm_multinode.sbatch with stand-ins for srun and scontrol --------------------------

SBATCH = Path(__file__).resolve().parents[1] / "examples" / "slurm_multinode.sbatch"
SRUN = """#!/bin/bash
# srun on one machine: the command once per node, side by side; the agents' pids for the test
while [[ $1 == --* ]]; do shift; done
pids=()
for ((i = 0; i < SLURM_NNODES; i++)); do "$@" > "$STANDIN/node_$i.log" 2>&1 & pids+=($!); done
echo "${pids[@]}" > "$STANDIN/pids"
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
"""
SCONTROL = """#!/bin/bash
case "$1 $2" in
    "show hostnames") echo localhost ;;
    requeue*) echo "$2" >> "$STANDIN/requeued" ;;
esac
"""


def sbatch(tmp_path: Path, overrides: list[str], restarts: int = 0) -> subprocess.Popen:
    """The batch script as SLURM runs it on a job's first node: 2 nodes of 1 rank, this machine
    being both."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = clean_env(
        PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        STANDIN=str(tmp_path),
        RUN_DIR=str(tmp_path / "run"),
        RDZV_PORT=str(free_port()),
        SLURM_JOB_ID="777",
        SLURM_NNODES="2",
        SLURM_GPUS_ON_NODE="1",
        SLURM_CPUS_PER_TASK="1",
        SLURM_JOB_NODELIST="localhost",
        SLURM_RESTART_COUNT=str(restarts),
    )
    return subprocess.Popen(
        ["bash", str(SBATCH), *overrides], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.mark.distributed
@pytest.mark.slow
def test_sbatch_example_stops_on_the_time_limit_signal_requeues_and_resumes(tmp_path):
    """SIGUSR1 (``--signal=USR1@180``) to both torchrun agents mid-run: forwarded to the ranks, the
    step in progress finished and saved, the job requeued; the requeued job resumes the run dir and
    finishes every step, recorded as one resume, and is not requeued again."""
    import time

    steps = 30
    overrides = [a for a in ARGS if a != "trainer.strategy=ddp"] + [
        f"trainer.steps={steps}",
        "trainer.save_every=100",
    ]
    run_dir = tmp_path / "run"
    job = sbatch(tmp_path, overrides)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.exists() and metrics.read_text().strip()) and job.poll() is None:
        assert time.monotonic() < deadline, "no training step within 300 s"
        time.sleep(0.5)
    for pid in (tmp_path / "pids").read_text().split():
        os.kill(int(pid), signal.SIGUSR1)
    out = job.communicate(timeout=600)[0].decode()
    assert job.returncode == 1, out  # torchrun's exit after a forwarded signal
    saved = [p.name for p in (run_dir / "checkpoints").iterdir()]
    assert len(saved) == 1 and saved[0] < f"step_{steps:04d}"
    assert not (run_dir / "summary.json").exists()
    assert (tmp_path / "requeued").read_text().split() == ["777"]

    job = sbatch(tmp_path, overrides, restarts=1)
    out = job.communicate(timeout=600)[0].decode()
    assert job.returncode == 0, out
    assert [r["step"] for r in train_rows(run_dir)] == list(range(1, steps + 1))
    assert len((run_dir / "resumes.jsonl").read_text().splitlines()) == 1
    assert (run_dir / "summary.json").exists()
    assert (tmp_path / "requeued").read_text().split() == ["777"]  # not requeued again


# ---- who is global rank 0 before the process group (no processes started) ----------------------

SLURM_JOB = {  # task 2 of a submitit job of 2 nodes x 2 tasks: node 1's first task
    "SUBMITIT_EXECUTOR": "slurm",
    "SLURM_JOB_ID": "4242",
    "SLURM_NTASKS": "4",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_JOB_NODELIST": "gpu[07-08]",
    "SLURM_NODEID": "1",
    "SLURM_PROCID": "2",
    "SLURM_LOCALID": "0",
}


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "0"}, 3),  # torchrun, second node
        ({"RANK": "3"}, 0),  # RANK without WORLD_SIZE is no launcher's: a world of 1
        (SLURM_JOB, 2),
        ({**SLURM_JOB, "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, 0),
    ],
)
def test_launch_rank(monkeypatch, env, rank):
    from infopo_cli.runtime.distributed import launch_rank

    monkeypatch.setattr(os, "environ", dict(env))
    assert launch_rank() == rank


def test_submitit_tasks_map_to_ranks_across_nodes(monkeypatch):
    """Task ``SLURM_PROCID`` is global rank, ``SLURM_LOCALID`` the GPU on its node, the job's first
    node the master; a ``MASTER_PORT`` exported by the batch environment is kept, not refused."""
    from infopo_cli.runtime.distributed import _export_slurm_env

    env = {**SLURM_JOB, "MASTER_PORT": "29555", "RANK": "7"}
    monkeypatch.setattr(os, "environ", env)
    _export_slurm_env()
    assert {k: env[k] for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")} == {
        "MASTER_ADDR": "gpu07",
        "MASTER_PORT": "29555",
        "RANK": "2",
        "WORLD_SIZE": "4",
    }
    assert (env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("0", "2")


def test_ranks_other_than_zero_leave_hydra_output_to_rank_zero(monkeypatch):
    from infopo_cli.cli import quiet_follower

    argv = ["model=tiny", "hydra.run.dir=/shared/run"]
    monkeypatch.setattr(os, "environ", {"WORLD_SIZE": "2", "RANK": "0"})
    assert quiet_follower(argv) == argv
    monkeypatch.setattr(os, "environ", {"WORLD_SIZE": "2", "RANK": "1"})
    assert quiet_follower(argv) == [*argv, "hydra.output_subdir=null", "hydra/job_logging=stdout"]
    # a resumed run already writes no .hydra/; the override is not given twice
    resumed = [*argv, "hydra.output_subdir=null"]
    assert quiet_follower(resumed) == [*resumed, "hydra/job_logging=stdout"]


def test_sweep_index_is_kept_by_global_rank_zero_only(monkeypatch, tmp_path):
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from infopo_cli.runtime import sweep

    config = OmegaConf.create(
        {
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "job": {"num": 0},
                "overrides": {"task": ["seed=1"]},
                "runtime": {"output_dir": str(tmp_path / "0")},
                "sweep": {"dir": str(tmp_path)},
            }
        }
    )
    for procid, written in (("1", False), ("0", True)):
        monkeypatch.setattr(os, "environ", {**SLURM_JOB, "SLURM_PROCID": procid})
        sweep.SweepIndex().on_job_start(config)
        assert (tmp_path / sweep.INDEX).exists() == written
