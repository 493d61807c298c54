"""``infopo report <run or sweep dirs...> --out <dir>``: one Markdown table and learning curves.

Inputs are training run dirs (``metrics.jsonl`` + ``config.yaml``), evaluation run dirs
(``eval.json``), or any dir holding them (a multirun's sweep dir, an ``outputs/`` tree). Runs whose
resolved configs differ only in ``seed`` (and in ``resume``, ``run``, ``run_step``, ``logger.*``)
are seeds of one configuration: the table shows their mean and, with two or more seeds, the sample
standard deviation (``mean ± sd``). The method of a training run is its ``fusion.mode``, with
``+dynamic_sampling`` when ``trainer.dynamic_sampling_max_rounds`` > 0.

Written under ``--out``: ``report.md`` (tables, plot links, links to the runs' ``view.html``
pages), ``report.json`` (the same numbers), and
``plots/<task>_{success,reward,infogain_gate,tied_groups}.png``: per method, the seed mean over
steps with a band spanning the seeds' range.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from infopo_cli.errors import ConfigError
from infopo_cli.runtime.logging import read_jsonl

NOT_GROUPED = ("seed", "resume", "run", "run_step")  # keys that do not make a different experiment
NOT_GROUPED_PREFIXES = ("logger.", "hydra.")
SKIP_DIRS = {"checkpoints", "rollouts", "plots", "wandb", ".hydra", "report"}
MAX_DEPTH = 4
DASH = "–"


@dataclass
class Run:
    """One run dir: its kind (train or eval), resolved config, metric rows and eval result."""

    path: Path
    kind: str
    config: dict
    rows: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)

    @property
    def flat(self) -> dict[str, str]:
        return flatten(self.config)

    @property
    def seed(self) -> Any:
        return self.config.get("seed")


# ---- discovery -------------------------------------------------------------------------------


def is_run_dir(path: Path) -> bool:
    return (path / "metrics.jsonl").is_file() or (path / "eval.json").is_file()


def find_run_dirs(paths: list[str]) -> list[Path]:
    """Run dirs named by ``paths`` (each a run dir or a dir above run dirs), in a stable order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise ConfigError(f"report: {raw} does not exist; accepted: run dirs or sweep dirs")
        if not p.is_dir():
            raise ConfigError(f"report: {raw} is a file; accepted: run dirs or sweep dirs")
        dirs = [p] if is_run_dir(p) else _walk_runs(p)
        if not dirs:
            raise ConfigError(
                f"report: {raw} holds no runs; accepted: a run dir (metrics.jsonl or eval.json) "
                "or a dir above run dirs (a sweep dir)"
            )
        found += dirs
    seen, unique = set(), []
    for d in found:
        if d.resolve() not in seen:
            seen.add(d.resolve())
            unique.append(d)
    return unique


def _walk_runs(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        if is_run_dir(here):
            out.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = [] if depth >= MAX_DEPTH else [d for d in dirnames if d not in SKIP_DIRS]
    return sorted(out, key=_natural_key)


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def incomplete_jobs(paths: list[str]) -> list[str]:
    """Jobs that sweep.json files (written by multiruns) list as failed, unfinished or pending."""
    out = []
    for raw in paths:
        index_path = Path(raw).expanduser() / "sweep.json"
        if not index_path.is_file():
            continue
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError:
            out.append(f"{index_path}: not valid JSON")
            continue
        for job in index.get("jobs", []):
            if job.get("status") != "completed":
                what = f"{raw} job {job.get('num')} ({' '.join(job.get('overrides', []))})"
                err = f": {job['error']}" if job.get("error") else ""
                out.append(f"{what}: {job.get('status')}{err}")
    return out


def load_run(path: Path) -> Run:
    """A run dir as a :class:`Run`; one clear error when its files cannot be read."""
    from omegaconf import OmegaConf

    if (path / "eval.json").is_file():
        try:
            result = json.loads((path / "eval.json").read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"report: {path / 'eval.json'} is not valid JSON ({e})") from None
        if "aggregate" not in result:
            raise ConfigError(f"report: {path / 'eval.json'} has no 'aggregate' (not an eval.json)")
        return Run(path, "eval", result.get("config") or {}, result=result)
    cfg_path = next(
        (c for c in (path / "config.yaml", path / ".hydra" / "config.yaml") if c.is_file()), None
    )
    if cfg_path is None:
        raise ConfigError(f"report: {path} has metrics.jsonl but no config.yaml")
    config = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return Run(path, "train", config, rows=read_jsonl(path / "metrics.jsonl"), result=summary)


# ---- grouping and numbers --------------------------------------------------------------------


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Dotted keys -> JSON text of the leaf values (comparable, hashable)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v, sort_keys=True)
    return out


def experiment_key(run: Run) -> tuple:
    """The run's config minus the keys that do not define the experiment (seed, paths, logging)."""
    return (run.kind,) + tuple(
        sorted(
            (k, v)
            for k, v in run.flat.items()
            if k not in NOT_GROUPED and not k.startswith(NOT_GROUPED_PREFIXES)
        )
    )


def train_numbers(run: Run) -> dict[str, float | None]:
    """Final held-out success, mean reward and pass^k (last eval), steps, wall time, simulator use."""
    train = [r for r in run.rows if "train/success" in r]
    evals = [r for r in run.rows if "eval/success" in r]
    last = evals[-1] if evals else {}
    steps = max((r["step"] for r in train), default=run.result.get("steps"))
    wall = sum(r.get("time/step_s", 0.0) for r in train) + sum(
        r.get("time/eval_s", 0.0) for r in evals
    )
    return {
        "success": last.get("eval/success"),
        "mean_reward": last.get("eval/mean_reward"),
        "pass_hat_k": last.get("eval/pass_hat_k"),
        "k": _eval_k(run),
        "steps": float(steps) if steps is not None else None,
        "wall_s": wall if run.rows else None,
        "sim_calls": float(sum(r.get("simulator/calls", 0) for r in run.rows)),
        "sim_tokens": float(
            sum(
                r.get("simulator/tokens_in", 0) + r.get("simulator/tokens_out", 0) for r in run.rows
            )
        ),
    }


def _eval_k(run: Run) -> int:
    evals = run.result.get("evals") or {}
    ks = [e.get("k") for e in evals.values() if isinstance(e, dict) and e.get("k")]
    return int(ks[-1]) if ks else 1


def eval_numbers(run: Run) -> dict[str, float | None]:
    agg = run.result["aggregate"]
    sim = {k.removeprefix("simulator/"): v for k, v in (run.result.get("simulator") or {}).items()}
    return {
        "success": agg.get("success"),
        "mean_reward": agg.get("mean_reward"),
        "pass_hat_k": agg.get("pass_hat_k"),
        "k": int(agg.get("k", 1)),
        "n_tasks": agg.get("n_tasks"),
        "wall_s": agg.get("wall_s"),
        "sim_calls": float(sim.get("calls", 0)),
        "sim_tokens": float(sim.get("tokens_in", 0) + sim.get("tokens_out", 0)),
    }


def mean_sd(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation (None below two values) and count of the present values."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None, 0
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None
    return m, sd, len(xs)


@dataclass
class Group:
    """Seeds of one configuration, with the columns that name it."""

    runs: list[Run]
    labels: dict[str, str]
    variant: str = ""

    @property
    def kind(self) -> str:
        return self.runs[0].kind

    def numbers(self) -> list[dict]:
        fn = train_numbers if self.kind == "train" else eval_numbers
        return [fn(r) for r in self.runs]

    def stat(self, key: str) -> tuple[float | None, float | None, int]:
        return mean_sd([n[key] for n in self.numbers()])

    @property
    def title(self) -> str:
        return " ".join([*self.labels.values(), self.variant]).strip()


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs grouped by experiment; ``variant`` names the config keys that tell apart groups with
    the same labels (method and task, say two values of fusion.beta)."""
    by_key: dict[tuple, list[Run]] = {}
    for r in runs:
        by_key.setdefault(experiment_key(r), []).append(r)
    groups = [
        Group(sorted(rs, key=lambda r: str(r.seed)), _labels(rs[0])) for rs in by_key.values()
    ]
    by_label: dict[tuple, list[Group]] = {}
    for g in groups:
        by_label.setdefault((g.kind, *g.labels.values()), []).append(g)
    for same in by_label.values():
        if len(same) < 2:
            continue
        flats = [dict(experiment_key(g.runs[0])[1:]) for g in same]
        keys = sorted({k for f in flats for k in f if any(f.get(k) != o.get(k) for o in flats)})
        for g, f in zip(same, flats):
            g.variant = ", ".join(f"{k}={_plain(f.get(k, 'null'))}" for k in keys)
    return sorted(groups, key=lambda g: (g.kind, *g.labels.values(), g.variant))


def _labels(run: Run) -> dict[str, str]:
    c = run.config
    task = str(_get(c, "task.name", "?"))
    if run.kind == "train":
        method = str(_get(c, "fusion.mode", "?"))
        if _get(c, "trainer.dynamic_sampling_max_rounds", 0):  # DAPO's sampling on top of a fusion
            method += "+dynamic_sampling"
        return {"method": method, "task": task}
    if run.result.get("policy") == "model" and c.get("run"):
        model = f"run {c['run']}" + (f" step {c['run_step']}" if c.get("run_step") else "")
    else:
        model = str(
            run.result.get("model") or _get(c, "model.path", None) or _get(c, "model.name", "?")
        )
    return {
        "policy": str(run.result.get("policy", c.get("policy", "?"))),
        "model": model,
        "task": str(run.result.get("task", task)),
        "split": str(run.result.get("split", _get(c, "task.split", "?"))),
    }


def _get(d: dict, dotted: str, default: Any) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


def _plain(json_text: str) -> str:
    v = json.loads(json_text)
    return v if isinstance(v, str) else json.dumps(v)


# ---- tables ----------------------------------------------------------------------------------


def fmt(m: float | None, sd: float | None, digits: int = 3) -> str:
    if m is None:
        return DASH
    return f"{m:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def fmt_duration(s: float | None) -> str:
    if s is None:
        return DASH
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def fmt_count(m: float | None, sd: float | None) -> str:
    if m is None:
        return DASH
    return f"{m:,.0f}" + (f" ± {sd:,.0f}" if sd is not None else "")


def _k_header(groups: list[Group]) -> str:
    ks = {int(n["k"]) for g in groups for n in g.numbers()}
    return f"pass^{ks.pop()}" if len(ks) == 1 else "pass^k"


def train_table(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    """Method x task: final held-out success, mean reward, pass^k, steps, wall time, simulator use."""
    variants = any(g.variant for g in groups)
    header = ["method", "task", *(["config"] if variants else []), "seeds"]
    header += ["final success", "mean reward", _k_header(groups), "steps", "wall time"]
    header += ["simulator calls", "simulator tokens"]
    rows = []
    for g in groups:
        steps = [n["steps"] for n in g.numbers() if n["steps"] is not None]
        wall_m, wall_sd, _ = g.stat("wall_s")
        rows.append(
            [
                g.labels["method"],
                g.labels["task"],
                *([g.variant] if variants else []),
                ", ".join(str(r.seed) for r in g.runs),
                fmt(*g.stat("success")[:2]),
                fmt(*g.stat("mean_reward")[:2]),
                fmt(*g.stat("pass_hat_k")[:2]),
                _span(steps),
                fmt_duration(wall_m) + (f" ± {fmt_duration(wall_sd)}" if wall_sd else ""),
                fmt_count(*g.stat("sim_calls")[:2]),
                fmt_count(*g.stat("sim_tokens")[:2]),
            ]
        )
    return header, rows


def eval_table(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    """Policy x model x task x split: success, mean reward, pass^k, tasks, wall time, simulator use."""
    variants = any(g.variant for g in groups)
    header = ["policy", "model", "task", "split", *(["config"] if variants else []), "seeds"]
    header += ["success", "mean reward", _k_header(groups), "tasks", "wall time"]
    header += ["simulator calls", "simulator tokens"]
    rows = []
    for g in groups:
        wall_m, wall_sd, _ = g.stat("wall_s")
        rows.append(
            [
                *g.labels.values(),
                *([g.variant] if variants else []),
                ", ".join(str(r.seed) for r in g.runs),
                fmt(*g.stat("success")[:2]),
                fmt(*g.stat("mean_reward")[:2]),
                fmt(*g.stat("pass_hat_k")[:2]),
                _span([n["n_tasks"] for n in g.numbers() if n["n_tasks"] is not None]),
                fmt_duration(wall_m) + (f" ± {fmt_duration(wall_sd)}" if wall_sd else ""),
                fmt_count(*g.stat("sim_calls")[:2]),
                fmt_count(*g.stat("sim_tokens")[:2]),
            ]
        )
    return header, rows


def _span(values: list[float]) -> str:
    if not values:
        return DASH
    lo, hi = int(min(values)), int(max(values))
    return str(lo) if lo == hi else f"{lo}–{hi}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


# ---- plots -----------------------------------------------------------------------------------

PANELS = {
    "success": (
        ("eval/success", "held-out success"),
        ("train/success", "training success (sampled)"),
    ),
    "reward": (
        ("eval/mean_reward", "held-out mean reward"),
        ("train/outcome_mean", "training outcome (sampled)"),
    ),
    "infogain_gate": (
        ("infogain/mean", "information gain (mean IG_t)"),
        ("fusion/gate_mean", "variance gate (mean; applied by variance_gated)"),
    ),
    "tied_groups": (("fusion/tied_groups", "groups with tied outcomes (fraction)"),),
}
# GRPO and the baselines do not compute information gain (docs/method.md, Baselines)
NOT_SCORED = {"infogain/mean": {"none", "rloo", "reward_to_go", "equalized"}}


def series(rows: list[dict], key: str, smooth: int = 1) -> dict[int, float]:
    """step -> value of ``key`` (a trailing moving average over ``smooth`` points)."""
    pts = [(int(r["step"]), float(r[key])) for r in rows if key in r and r[key] is not None]
    if smooth > 1 and not key.startswith("eval/"):
        vals = [v for _, v in pts]
        pts = [
            (s, sum(vals[max(0, i - smooth + 1) : i + 1]) / (i + 1 - max(0, i - smooth + 1)))
            for i, (s, _) in enumerate(pts)
        ]
    return dict(pts)


def seed_band(
    runs: list[Run], key: str, smooth: int
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps, seed mean, seed min and seed max of ``key`` (steps any seed logged)."""
    per_seed = [series(r.rows, key, smooth) for r in runs]
    steps = sorted({s for ser in per_seed for s in ser})
    mean, lo, hi = [], [], []
    for s in steps:
        vals = [ser[s] for ser in per_seed if s in ser]
        mean.append(sum(vals) / len(vals))
        lo.append(min(vals))
        hi.append(max(vals))
    return steps, mean, lo, hi


def plot_groups(groups: list[Group], out_dir: Path, smooth: int = 1) -> list[Path]:
    """One PNG per task and panel family; a line per group, a band over its seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out_dir.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, list[Group]] = {}
    for g in groups:
        if g.kind == "train":
            tasks.setdefault(g.labels["task"], []).append(g)
    written = []
    for task, gs in tasks.items():
        for name, panels in PANELS.items():
            fig, axes = plt.subplots(
                1, len(panels), figsize=(6.2 * len(panels), 4.0), squeeze=False
            )
            drawn = 0
            for ax, (key, title) in zip(axes[0], panels):
                for i, g in enumerate(gs):
                    if g.labels["method"].split("+")[0] in NOT_SCORED.get(key, set()):
                        continue
                    steps, mean, lo, hi = seed_band(g.runs, key, smooth)
                    if not steps:
                        continue
                    color = f"C{i % 10}"
                    marker = "o" if len(steps) <= 12 else None
                    variant = f" [{g.variant}]" if g.variant else ""
                    label = f"{g.labels['method']}{variant} (n={len(g.runs)})"
                    ax.plot(steps, mean, color=color, marker=marker, label=label)
                    if len(g.runs) > 1:
                        ax.fill_between(steps, lo, hi, color=color, alpha=0.2, linewidth=0)
                    drawn += 1
                ax.set(xlabel="step", title=title)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                if key in (
                    "eval/success",
                    "train/success",
                    "fusion/tied_groups",
                    "fusion/gate_mean",
                ):
                    ax.set_ylim(-0.03, 1.03)
                ax.grid(alpha=0.3)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=8)
                else:
                    ax.text(
                        0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes
                    )
            if drawn:
                fig.suptitle(f"{task}: seed mean, band = range over seeds")
                fig.tight_layout()
                path = out_dir / f"{_safe(task)}_{name}.png"
                fig.savefig(path, dpi=100)
                written.append(path)
            plt.close(fig)
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "task"


# ---- the command -----------------------------------------------------------------------------


def credit_views(runs: list[Run], out: Path) -> list[tuple[str, str]]:
    """(run dir, link relative to ``out``) for each training run with a ``view.html``."""
    pages = [r.path / "view.html" for r in runs if r.kind == "train"]
    return [
        (str(p.parent), Path(os.path.relpath(p.resolve(), out.resolve())).as_posix())
        for p in pages
        if p.is_file()
    ]


def build_report(paths: list[str], out: Path, smooth: int = 1) -> dict:
    """Read the runs, write report.md, report.json and plots/ under ``out``; returns the numbers."""
    runs = [load_run(p) for p in find_run_dirs(paths)]
    groups = group_runs(runs)
    train_groups = [g for g in groups if g.kind == "train"]
    eval_groups = [g for g in groups if g.kind == "eval"]
    out.mkdir(parents=True, exist_ok=True)
    plots = plot_groups(train_groups, out / "plots", smooth)
    md = [
        "# infopo report",
        "",
        f"{len(runs)} runs from {', '.join(paths)}. Runs whose configs differ only in the seed form "
        "one row: mean ± sample standard deviation over seeds (no ± with one seed).",
    ]
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    if train_groups:
        tables["training"] = train_table(train_groups)
        md += [
            "",
            "## Training runs",
            "",
            "Final success, mean reward and pass^k: the last held-out evaluation of each run "
            "(decoded at trainer.eval_temperature; 0 is greedy). Wall time: training steps plus "
            "evaluations. Simulator calls and tokens: the "
            "whole run (tokens are 0 for the scripted user).",
            "",
            markdown_table(*tables["training"]),
        ]
    if eval_groups:
        tables["evaluation"] = eval_table(eval_groups)
        md += ["", "## Evaluations", "", markdown_table(*tables["evaluation"])]
    problems = incomplete_jobs(paths)
    if problems:
        md += ["", "## Jobs without results", ""]
        md += [f"- {p}" for p in problems]
    if plots:
        md += ["", "## Learning curves", ""]
        md += [f"![{p.stem}](plots/{p.name})" for p in plots]
    views = credit_views(runs, out)
    if views:
        md += [
            "",
            "## Credit views",
            "",
            "Each turn's information gain and advantage (`infopo view`):",
            "",
        ]
        md += [f"- [{run}]({quote(link)})" for run, link in views]
    (out / "report.md").write_text("\n".join(md) + "\n")
    numbers = {
        "runs": [str(r.path) for r in runs],
        "groups": [
            {
                "kind": g.kind,
                **g.labels,
                "variant": g.variant,
                "seeds": [r.seed for r in g.runs],
                "run_dirs": [str(r.path) for r in g.runs],
                "per_seed": g.numbers(),
            }
            for g in groups
        ],
        "plots": [str(p) for p in plots],
        "views": [str(r.path / "view.html") for r in runs if (r.path / "view.html").is_file()],
        "incomplete_jobs": problems,
    }
    (out / "report.json").write_text(json.dumps(numbers, indent=1))
    return {"tables": tables, "plots": plots, **numbers}


def report_cli(argv: list[str]) -> None:
    """``infopo report <dirs...> --out <dir> [--smooth N]``."""
    parser = argparse.ArgumentParser(
        prog="infopo report",
        description="Tables and learning curves over training and evaluation runs.",
    )
    parser.add_argument("paths", nargs="+", help="run dirs or dirs above them (sweep dirs)")
    parser.add_argument(
        "--out", help="output dir (default: <path>/report when one path is given)", default=None
    )
    parser.add_argument(
        "--smooth", type=int, default=1, help="moving average over N steps for training curves"
    )
    args = parser.parse_args(argv)
    if args.smooth < 1:
        raise ConfigError(f"report: --smooth {args.smooth} is not valid; accepted: an integer >= 1")
    if args.out is None:
        if len(args.paths) > 1:
            raise ConfigError("report: several paths need --out <dir>")
        args.out = str(Path(args.paths[0]) / "report")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report: --out {args.out} is a file; accepted: a directory")
    result = build_report(args.paths, out, args.smooth)
    _print(result, out)


def _print(result: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a log file or a pipe: do not squeeze the columns into 80
        console = Console(width=200)
    for name, (header, rows) in result["tables"].items():
        table = Table(title=f"{name} ({len(rows)} configurations)")
        for h in header:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        console.print(table)
    for p in result["incomplete_jobs"]:
        console.print(f"[yellow]no results:[/] {p}")
    console.print(f"wrote {out / 'report.md'} and {out / 'report.json'}")
    for p in result["plots"]:
        console.print(f"  {p}")
