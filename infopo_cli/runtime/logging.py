"""Run logging: rich progress and per-step lines, metrics.jsonl, rollouts/step_N.jsonl, W&B (offline
by default), and the end-of-run summary table."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

STEP_LINE = (
    ("train/success", "success", "{:.2f}"),
    ("train/outcome_mean", "outcome", "{:.3f}"),
    ("infogain/mean", "ig", "{:+.4f}"),
    ("fusion/gate_mean", "gate", "{:.2f}"),
    ("loss/policy", "loss", "{:+.4f}"),
    ("time/step_s", "step", "{:.1f}s"),
)


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: everything after it is dropped
    return rows


class RunLogger:
    def __init__(
        self,
        run_dir: Path,
        config: dict,
        logger_cfg,
        total_steps: int,
        start_step: int = 0,
        console=None,
    ):
        self.run_dir = Path(run_dir)
        self.cfg = logger_cfg
        self.console = console or Console(stderr=False)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        # On resume, keep only the rows up to the restored step: later ones are recomputed.
        rows = [r for r in read_jsonl(self.metrics_path) if r.get("step", 0) <= start_step]
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self.history = [r for r in rows if "train/success" in r]
        self.tau = float((config.get("fusion") or {}).get("tau", 0.5))  # the gate in W&B tables
        self.wandb = None
        if logger_cfg.name == "wandb" and logger_cfg.mode != "disabled":
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            self.wandb = wandb.init(
                project=logger_cfg.project,
                group=logger_cfg.group,
                mode=logger_cfg.mode,
                dir=str(self.run_dir),
                config=config,
                resume="allow",
                id=_wandb_id(self.run_dir),
            )
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task_id = self.progress.add_task("train", total=total_steps, completed=start_step)
        self.progress.start()

    def print(self, *args, **kw) -> None:
        self.progress.console.print(*args, **kw)

    def log(self, step: int, metrics: dict, advance: bool = True) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.wandb is not None:
            self.wandb.log(row, step=step)
        if "train/success" in metrics:
            self.history.append(row)
            parts = [f"step {step:>4}"] + [
                f"{short} {fmt.format(metrics[k])}" for k, short, fmt in STEP_LINE if k in metrics
            ]
            self.print(" | ".join(parts))
        if advance:
            self.progress.update(self.task_id, completed=step)

    def rollouts(self, step: int, records: list[dict]) -> None:
        every = getattr(self.cfg, "table_every", 0)
        if self.wandb is not None and every and step % every == 0:
            self.table(step, records)
        if not self.cfg.log_rollouts:
            return
        d = self.run_dir / "rollouts"
        d.mkdir(exist_ok=True)
        with (d / f"step_{step:04d}.jsonl").open("w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    def table(self, step: int, records: list[dict]) -> None:
        """The step's turns as a W&B Table (``credit/turns``): the rows ``infopo view`` draws."""
        import wandb

        from infopo_cli.runtime.credit import TABLE_COLUMNS, turn_rows

        rows = turn_rows(step, records, self.tau)
        self.wandb.log(
            {"credit/turns": wandb.Table(columns=list(TABLE_COLUMNS), data=rows)}, step=step
        )

    def summary(self, evals: dict[str, dict]) -> None:
        table = Table(title=f"run summary: {self.run_dir}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        if self.history:
            last = self.history[-1]
            for k in (
                "train/success",
                "train/outcome_mean",
                "infogain/mean",
                "fusion/gate_mean",
                "loss/policy",
            ):
                if k in last:
                    table.add_row(f"{k} (last step)", f"{last[k]:.4f}")
            total = sum(r.get("time/step_s", 0.0) for r in self.history)
            table.add_row("steps", str(last["step"]))
            table.add_row("train time", f"{total:.0f}s")
        for name, ev in evals.items():
            if not ev.get("n_trials", 1):
                table.add_row(f"eval/success ({name})", "no scored episodes")
            else:
                table.add_row(f"eval/success ({name})", f"{ev['success']:.3f}")
                table.add_row(f"eval/mean_reward ({name})", f"{ev['mean_reward']:.3f}")
            if ev.get("n_excluded_trials"):
                table.add_row(
                    f"eval/excluded ({name})",
                    f"{ev['n_excluded_trials']} of {ev['n_episodes']} (simulator failures)",
                )
        self.print(table)

    def close(self) -> None:
        self.progress.stop()
        if self.wandb is not None:
            self.wandb.finish()


def _wandb_id(run_dir: Path) -> str:
    import hashlib

    return hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:16]


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return v
