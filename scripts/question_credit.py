"""Credit by question kind in clarify training rollouts: does the information gain tell a useful
question from a repeat or an off-task one, and which advantage does each kind receive?

    python scripts/question_credit.py outputs/compare/clarify_compare/train/*  [--window 20]

Each agent question of a logged rollout (`rollouts/step_N.jsonl`) is replayed on its task and sorted:
  useful    the question names a task slot that was not known yet (the reply states a new value)
  repeat    it names only task slots that are already known
  off-task  it names no task slot (a field this request does not have, or a filler question)
Runs are grouped by fusion mode (their seeds pooled). For the first and the last `--window` logged
steps it prints, per kind, the count, mean information gain and mean advantage; the information gain
split by what came next (another question, or the answer: the gain measures how much the reply moves
the next message, so it can only be as large as that message's dependence on it); and how episodes
end: the share answered with every slot known and the mean number of turns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf

from infopo_cli.recipes.setup import build_task
from infopo_cli.tasks.clarify import ClarifyTask

KINDS = ("useful", "repeat", "off-task")


def classify(task: ClarifyTask, instance, actions: list[str]) -> tuple[list[str], bool]:
    """Kind of every question in ``actions`` and whether the answer (if any) came with every slot
    known."""
    env = task.make_env(instance)
    kinds = []
    for action in actions:
        named = set(env.asked(action)) & env.values.keys()
        before = set(env.known)
        res = env.step(action)
        if res.query is None:  # an answer ends the episode
            return kinds, before == env.values.keys()
        kinds.append("useful" if named - before else "repeat" if named else "off-task")
    return kinds, False


def load(run: Path) -> tuple[str, ClarifyTask, dict, list[Path]]:
    """Fusion mode, task, training instances by id and rollout files (in step order) of a run."""
    cfg = OmegaConf.load(run / "config.yaml")
    if cfg.task.name != "clarify":
        sys.exit(f"question_credit: {run} trained on task {cfg.task.name!r}; only clarify is read")
    task = build_task(cfg)
    by_id = {i.id: i for i in task.instances(task.train_split)}
    files = sorted((run / "rollouts").glob("step_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))
    return str(cfg.fusion.mode), task, by_id, files


def window_stats(task: ClarifyTask, by_id: dict, files: list[Path], acc: dict) -> None:
    for f in files:
        for line in f.open():
            r = json.loads(line)
            turns = r["turns"]
            kinds, informed = classify(task, by_id[r["task_id"]], [t["action"] for t in turns])
            answered = len(turns) > len(kinds)
            for i, (kind, t) in enumerate(zip(kinds, turns, strict=False)):
                acc[kind, "ig"].append(t["ig"])
                acc[kind, "adv"].append(t["advantage"])
                if i + 1 < len(kinds):
                    acc[kind, "ig_before_question"].append(t["ig"])
                elif answered:
                    acc[kind, "ig_before_answer"].append(t["ig"])
            acc["informed"].append(float(informed))
            acc["turns"].append(len(turns))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="training run dirs (with rollouts/)")
    ap.add_argument("--window", type=int, default=20, help="logged steps at each end")
    args = ap.parse_args()
    stats: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(list))
    for run in args.runs:
        if not (run / "config.yaml").exists():
            continue  # multirun bookkeeping (multirun.yaml, sweep.json)
        method, task, by_id, files = load(run)
        if not files:
            sys.exit(f"question_credit: {run} has no rollouts/step_*.jsonl")
        for name, part in (("first", files[: args.window]), ("last", files[-args.window :])):
            window_stats(task, by_id, part, stats[method, name])

    def mean(xs: list[float]) -> str:
        return f"{statistics.fmean(xs):+.4f}" if xs else "-"

    def ig(method: str, xs: list[float]) -> str:
        return "-" if method == "none" else mean(xs)  # plain GRPO does not score turns

    print("| method | steps | kind | questions | mean IG | mean advantage |")
    print("|---|---|---|---|---|---|")
    for (method, name), acc in sorted(stats.items()):
        for kind in KINDS:
            n = len(acc[kind, "ig"])
            print(
                f"| {method} | {name} {args.window} | {kind} | {n} | {ig(method, acc[kind, 'ig'])} "
                f"| {mean(acc[kind, 'adv'])} |"
            )
    print("\n| method | steps | kind | IG, a question next (n) | IG, the answer next (n) |")
    print("|---|---|---|---|---|")
    for (method, name), acc in sorted(stats.items()):
        for kind in KINDS:
            q, a = acc[kind, "ig_before_question"], acc[kind, "ig_before_answer"]
            print(
                f"| {method} | {name} {args.window} | {kind} | {ig(method, q)} ({len(q)}) "
                f"| {ig(method, a)} ({len(a)}) |"
            )
    print("\n| method | steps | answered with every slot known | mean turns |")
    print("|---|---|---|---|")
    for (method, name), acc in sorted(stats.items()):
        informed = statistics.fmean(acc["informed"])
        turns = statistics.fmean(acc["turns"])
        print(f"| {method} | {name} {args.window} | {informed:.3f} | {turns:.2f} |")


if __name__ == "__main__":
    main()
