"""Build and train every task's default, `infopo train task=<t>` with nothing else, and report.

For each row: one whole `infopo train` command from a cache without that task's starter (the
starter build is part of the time), seed 0, logger=none; then its start and end test success
(sampled, the task's evaluation settings), the share of the policy's messages outside the task's
protocol at the start (``eval/unparsed``), and the share of episodes cut at the context limit.

    python scripts/every_task.py --out /tmp/every_task            # all rows, one after another
    python scripts/every_task.py --out /tmp/every_task --rows sokoban shop
    python scripts/every_task.py --out /tmp/every_task --write-docs   # docs/results/every_task.*

Each row's run folder is kept under --out; rerunning skips rows whose summary.json exists (delete
the folder to rerun one). With --write-docs the table goes to docs/results/every_task.md (and is
spliced into docs/results.md between its every-task markers), the figures to
docs/results/every_task.json and the plot to docs/results/every_task.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# row name -> overrides of `infopo train` (nothing else: the defaults are the run to show)
ROWS: dict[str, list[str]] = {
    "clarify": [],
    "coding": ["task=coding"],
    "sokoban": ["task=sokoban"],
    "shop": ["task=shop"],
    **{
        f"usergym/{g}": ["task=usergym", f"task.gym={g}"]
        for g in ("function", "intention", "telepathy", "turtle", "tau", "persuasion")
    },
    **{f"tau2/{d}": ["task=tau2", f"task.domain={d}"] for d in ("airline", "retail", "telecom")},
}
# the targets (minutes for the whole command, points of test success gained)
MEASURED_ONLY = ("usergym/tau", "usergym/persuasion", "tau2/airline", "tau2/retail", "tau2/telecom")
TARGET = {name: (20, None) if name in MEASURED_ONLY else (15, 10) for name in ROWS}
BEGIN, END = "<!-- every-task:begin -->", "<!-- every-task:end -->"


def run_row(name: str, overrides: list[str], out: Path, cache: Path) -> dict:
    run_dir = out / name.replace("/", "_")
    summary = run_dir / "summary.json"
    if not summary.exists():
        cmd = [sys.executable, "-m", "infopo_cli.cli", "train", *overrides, "logger=none"]
        cmd += [f"hydra.run.dir={run_dir}"]
        env = {**os.environ, "INFOPO_CACHE": str(cache), "WANDB_MODE": "disabled"}
        print(f"== {name}: {' '.join(cmd[3:])}", flush=True)
        t0 = time.time()
        with (out / f"{run_dir.name}.log").open("w") as log:
            rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wall = time.time() - t0
        (run_dir / "wall_s.txt").parent.mkdir(parents=True, exist_ok=True)
        (run_dir / "wall_s.txt").write_text(f"{wall:.0f}\n")
        if rc != 0:
            print(f"   {name} failed (exit {rc}); see {out / run_dir.name}.log", flush=True)
            return {"row": name, "failed": rc, "command": "infopo train " + " ".join(overrides)}
    return read_row(name, overrides, run_dir)


def read_row(name: str, overrides: list[str], run_dir: Path) -> dict:
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "eval/success" in r]
    start, end = evals[0], evals[-1]
    n0, n1 = start["eval/n_trials"], end["eval/n_trials"]
    s0, s1 = start["eval/success"], end["eval/success"]
    se = math.sqrt(s0 * (1 - s0) / max(n0, 1) + s1 * (1 - s1) / max(n1, 1))
    return {
        "row": name,
        "command": "infopo train " + " ".join(overrides),
        "wall_min": float((run_dir / "wall_s.txt").read_text()) / 60,
        "start": s0,
        "end": s1,
        "gain_points": 100 * (s1 - s0),
        "gain_se_points": 100 * se,
        "test_episodes": n1,
        "unparsed_start": start.get("eval/unparsed"),
        "unparsed_end": end.get("eval/unparsed"),
        "truncated_end": end.get("eval/truncated"),
        "steps": end.get("step"),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| task | command | whole run (min) | test success start -> end | gain (points, ± s.e.) "
        "| test episodes | unparsed start / end | cut at context | target |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        minutes, points = TARGET[r["row"]]
        target = f"<= {minutes} min" + (f", >= +{points}" if points else ", parse >= 90%")
        if "failed" in r:
            lines.append(
                f"| {r['row']} | `{r['command']}` | failed (exit {r['failed']}) | | | | | | {target} |"
            )
            continue
        pct = lambda x: "-" if x is None else f"{100 * x:.0f}%"  # noqa: E731
        lines.append(
            f"| {r['row']} | `{r['command']}` | {r['wall_min']:.1f} | {r['start']:.3f} -> "
            f"{r['end']:.3f} | {r['gain_points']:+.1f} ± {r['gain_se_points']:.1f} | "
            f"{r['test_episodes']} | {pct(r['unparsed_start'])} / {pct(r['unparsed_end'])} | "
            f"{pct(r['truncated_end'])} | {target} |"
        )
    return head + "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "failed" not in r]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(ok)), 3.5))
    x = range(len(ok))
    ax.bar([i - 0.2 for i in x], [r["start"] for r in ok], 0.4, label="start (starter)")
    ax.bar([i + 0.2 for i in x], [r["end"] for r in ok], 0.4, label="end (after RL)")
    ax.set_xticks(list(x), [r["row"] for r in ok], rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("test success")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_docs(rows: list[dict]) -> None:
    results = ROOT / "docs" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "every_task.json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, results / "every_task.png")
    md = table(rows)
    (results / "every_task.md").write_text(
        "# Every task's default run\n\nWritten by `python scripts/every_task.py --write-docs`.\n\n"
        + md
        + "\n![start vs end](every_task.png)\n"
    )
    doc = ROOT / "docs" / "results.md"
    text = doc.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + BEGIN + "\n" + md + END + rest.split(END, 1)[1]
        doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="run folders and logs")
    ap.add_argument("--rows", nargs="*", default=list(ROWS), help=f"of {', '.join(ROWS)}")
    ap.add_argument("--cache", type=Path, help="model cache (default: a fresh one under --out)")
    ap.add_argument("--write-docs", action="store_true", help="write docs/results/every_task.*")
    args = ap.parse_args()
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        sys.exit(f"error: unknown rows {unknown}; accepted: {', '.join(ROWS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.out / "cache"
    rows = [run_row(name, ROWS[name], args.out, cache) for name in args.rows]
    print(table(rows))
    if args.write_docs:
        write_docs(rows)


if __name__ == "__main__":
    main()
