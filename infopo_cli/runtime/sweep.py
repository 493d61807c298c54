"""``sweep.json``: an index of a multirun's jobs, kept by a Hydra callback.

Registered in ``train.yaml`` and ``eval.yaml`` under ``hydra.callbacks``. In a multirun it writes
``<sweep dir>/sweep.json`` when the sweep starts (the planned jobs, ``pending``), when each job starts
(``running``) and when it ends (``completed`` or ``failed``, with the error's first line), so the index
is current even when a job fails and Hydra stops before the end of the sweep. Jobs may run in other
processes (joblib) or on other machines (submitit on SLURM, with the sweep dir on a shared file
system): each update is a locked read-modify-write of the one file. A job of several tasks (trainer
ranks) is reported by its global rank 0 only. Single runs are left alone.

The W&B group of a sweep's runs is :func:`sweep_group`: the sweep dir's name with its parent's, so
the default ``outputs/multirun/<date>/<time>`` layout gives ``<date>_<time>``.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

INDEX = "sweep.json"
UNFINISHED = "unfinished"  # started, never reported an end (killed, timed out, exited)


def group_name(sweep_dir: str | os.PathLike) -> str:
    """The W&B group of a sweep: ``<parent>_<name>`` of its dir (e.g. ``2026-01-01_12-00-00``)."""
    p = Path(sweep_dir).resolve()
    return f"{p.parent.name}_{p.name}" if p.parent.name else p.name


def sweep_group() -> str | None:
    """The running multirun's W&B group, or None outside a multirun (a single run, a plain call)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return group_name(hc.sweep.dir)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _seconds_between(start: str | None, end: str) -> float | None:
    if not start:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds(), 3)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (POSIX advisory lock; a no-op where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update_index(sweep_dir: Path, change) -> dict:
    """Apply ``change(index)`` to ``sweep_dir/sweep.json`` under a lock; write it atomically."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / INDEX
    with _locked(sweep_dir / ".sweep.lock"):
        index = json.loads(path.read_text()) if path.exists() else {"jobs": []}
        change(index)
        jobs = sorted(index.pop("jobs"), key=lambda j: j["num"])
        index["status"] = _sweep_status(jobs, index.get("finished"))
        index["jobs"] = jobs  # last, so the header reads first
        tmp = path.with_name(f".{INDEX}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, indent=1))
        tmp.replace(path)
    return index


def _sweep_status(jobs: list[dict], finished: str | None) -> str:
    states = {j["status"] for j in jobs}
    if not finished and states & {"pending", "running"}:
        return "running"
    return "failed" if states - {"completed"} else "completed"


def _job(index: dict, num: int) -> dict:
    for job in index["jobs"]:
        if job["num"] == num:
            return job
    job = {"num": num, "overrides": [], "run_dir": None, "status": "pending"}
    index["jobs"].append(job)
    return job


def planned_jobs(config: DictConfig) -> list[list[str]]:
    """The override lists the basic sweeper will run, in job-number order ([] for other sweepers)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    target = OmegaConf.select(config, "hydra.sweeper._target_") or ""
    if not target.endswith("BasicSweeper"):
        return []
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    args = [f"{k}={v}" for k, v in params.items()]
    args += list(OmegaConf.select(config, "hydra.overrides.task") or [])
    try:
        parsed = OverridesParser.create().parse_overrides(args)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # a sweep syntax only the sweeper itself can expand: list jobs as they start
        return []
    return [list(job) for batch in batches for job in batch]


class SweepIndex(Callback):
    """Keeps ``sweep.json`` (job number, overrides, run dir, status, times) for every multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        command = str(config.hydra.job.config_name or "")

        def start(index: dict) -> None:
            index.clear()  # a sweep dir reused by a new multirun starts a new index
            index.update(
                jobs=[],
                sweep_dir=str(sweep_dir.resolve()),
                command=command,
                group=group_name(sweep_dir),
                started=_now(),
                finished=None,
            )
            for num, overrides in enumerate(planned_jobs(config)):
                job = _job(index, num)
                job["overrides"] = overrides

        update_index(sweep_dir, start)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _is_multirun(config) or not _job_owner():
            return
        num = int(config.hydra.job.num)
        overrides = list(OmegaConf.to_container(config.hydra.overrides.task))
        run_dir = str(Path(config.hydra.runtime.output_dir).resolve())

        def start(index: dict) -> None:
            job = _job(index, num)
            job.update(
                overrides=overrides,
                run_dir=run_dir,
                status="running",
                started=_now(),
                ended=None,
                duration_s=None,
                error=None,
            )

        update_index(Path(config.hydra.sweep.dir), start)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not _is_multirun(config) or not _job_owner():
            return
        from hydra.core.utils import JobStatus

        num = int(config.hydra.job.num)
        ok = job_return.status == JobStatus.COMPLETED
        error = None if ok else _first_line(job_return._return_value)

        def end(index: dict) -> None:
            job = _job(index, num)
            ended = _now()
            job.update(
                status="completed" if ok else "failed",
                ended=ended,
                duration_s=_seconds_between(job.get("started"), ended),
                error=error,
            )

        update_index(Path(config.hydra.sweep.dir), end)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        def finish(index: dict) -> None:
            index["finished"] = _now()
            for job in index["jobs"]:
                if job["status"] in ("pending", "running"):
                    job["status"] = UNFINISHED

        update_index(Path(config.hydra.sweep.dir), finish)


def _is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN


def _job_owner() -> bool:
    """A job of several SLURM tasks (one trainer rank each, possibly on several nodes) runs these
    callbacks in every task: its global rank 0 alone reports the job."""
    from infopo_cli.runtime.distributed import launch_rank

    return launch_rank() == 0


def _first_line(err: Any) -> str:
    text = f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
