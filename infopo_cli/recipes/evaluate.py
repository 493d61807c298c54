"""The evaluation recipe: play a task split with a policy and score it (success, mean reward, pass^k).

``infopo eval`` writes two files into its run dir:

- ``eval.json``: the resolved config, the aggregates (success, mean reward, pass^k, each with a 95%
  confidence interval) and one entry per task: ``id``, ``rewards`` (one per trial), ``successes``
  (one bool per trial), ``success`` (true when every trial succeeded: the task's pass^k with n = k),
  ``mean_reward``, ``turns`` and ``excluded`` (trials dropped because the simulator failed).
  The aggregate also has ``n_excluded_trials``, ``n_episodes`` and ``success_with_failures``
  (excluded episodes counted as failures); its intervals are null when nothing was scored.

When more than ``simulator.max_failure_rate`` of the episodes were excluded, both files are still
written, the summary says "N of M episodes excluded (simulator failures)", and the command exits
non-zero.
- ``conversations.jsonl``: one line per conversation (task id, trial, reward, success, turns).

Policies: ``model`` (the configured model, or a training run's checkpoint with ``run=``), ``oracle``
(the task's scripted expert: an upper bound and a check of the task itself), ``prompt`` (the untrained
model prompted with the task's own instructions) and ``prompt_ask`` (the same, told to ask clarifying
questions first).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table

from infopo_cli.config import validate
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.evaluation import (
    cannot_play,
    mean,
    run_eval,
    summary_line,
    truncation_line,
)
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import (
    build_engine,
    build_simulator,
    build_task,
    load_policy,
    seed_everything,
)
from infopo_cli.runtime.models import load_tokenizer
from infopo_cli.simulators.base import FatalSimulatorError, budget_message, over_budget
from infopo_cli.zoo.task_starter import starter_task
from infopo_cli.zoo.tiny import tiny_path

POLICIES = ("model", "oracle", "prompt", "prompt_ask")
ASK_INSTRUCTION = (
    " Before answering, ask clarifying questions about anything the request leaves open."
)
# The oracle has no context window: model.max_len must not cut its episodes (its text is tokenized
# only to be recorded, with a small tokenizer that splits long tool outputs into many tokens).
ORACLE_MAX_LEN = 10**9


def with_instruction(inst, suffix: str):
    """The instance with ``suffix`` appended to its system message (one is added when missing), in
    both openings (text and native tools)."""

    def add(messages):
        msgs = [dict(m) for m in messages]
        if msgs and msgs[0].get("role") == "system":
            msgs[0]["content"] += suffix
        else:
            msgs.insert(0, {"role": "system", "content": suffix.strip()})
        return msgs

    native = add(inst.native_messages) if inst.native_messages is not None else None
    return dataclasses.replace(inst, messages=add(inst.messages), native_messages=native)


def pick_checkpoint(run: str, run_step: int | None) -> Path:
    """The run's last complete checkpoint, or the one saved at ``run_step``."""
    from infopo_cli.runtime import checkpoint

    run_dir = Path(run)
    if not run_dir.is_dir():
        raise ConfigError(f"run={run!r} is not a directory; accepted: a training run dir")
    ckpts = checkpoint.list_checkpoints(run_dir)
    if not ckpts:
        raise ConfigError(f"run={run!r} has no complete checkpoint under {run_dir / 'checkpoints'}")
    if run_step is None:
        return ckpts[-1]
    steps = {int(c.name.split("_")[-1]): c for c in ckpts}
    if int(run_step) not in steps:
        raise ConfigError(
            f"run_step={run_step} has no checkpoint in {run!r}; accepted: {', '.join(map(str, steps))}"
        )
    return steps[int(run_step)]


def evaluate_main(cfg: DictConfig, run_dir: Path) -> dict:
    """``infopo eval``: writes eval.json and conversations.jsonl into the run dir; prints a table."""
    typed = validate(cfg)
    ecfg, evcfg = typed["engine"], typed["eval"]
    policy_kind, run = check_policy(cfg)
    seed_everything(cfg.seed)
    console = Console()
    task = build_task(cfg)
    instances = task.instances(task.split)
    if evcfg.num_tasks:
        instances = instances[: evcfg.num_tasks]
    if not instances:
        raise ConfigError(f"task.split={task.split!r} of task {task.name} has no instances")
    simulator = build_simulator(cfg, run_dir)
    t0 = time.time()
    player = build_player(cfg, typed, policy_kind, task, console)
    if policy_kind == "prompt_ask":
        instances = [with_instruction(inst, ASK_INSTRUCTION) for inst in instances]
    try:
        temperature, k = decoding(cfg, run if policy_kind == "model" else None, console)
        results, agg = run_eval(
            player.engine,
            player.chat,
            task,
            simulator,
            instances,
            k=k,
            temperature=temperature,
            max_new_tokens=ecfg.max_new_tokens,
            max_len=player.max_len,
            policy=player.policy,
        )
        sim_stats = {
            "name": getattr(simulator, "name", type(simulator).__name__),
            **{k.removeprefix("simulator/"): v for k, v in simulator.pop_stats().items()},
        }
    finally:
        simulator.close()
        if player.engine is not None:
            player.engine.close()
    agg["wall_s"] = time.time() - t0
    out = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "policy": policy_kind,
        "model": player.model_path,
        "task": task.name,
        "split": task.split,
        "aggregate": agg,
        "simulator": sim_stats,
        "tasks": [{k: v for k, v in r.items() if k != "conversations"} for r in results],
    }
    write_outputs(run_dir, out, results)
    report(console, run_dir, results, out, sim_stats)
    if policy_kind != "oracle":
        notes = (
            cannot_play(agg, task.name, starter_task(player.model_path)),
            truncation_line(agg, player.max_len),
        )
        for line in filter(None, notes):
            console.print(line)
    check_budget(simulator, agg)
    return out


def check_policy(cfg: DictConfig) -> tuple[str, str | None]:
    """``policy`` and ``run`` of the command, refused in one line when they do not go together."""
    policy_kind = cfg.get("policy", "model")
    if policy_kind not in POLICIES:
        raise ConfigError(f"policy={policy_kind!r} is not valid; accepted: {', '.join(POLICIES)}")
    run, run_step = cfg.get("run"), cfg.get("run_step")
    if run_step is not None and not run:
        raise ConfigError(
            "run_step is set without run=; accepted: run=<training run dir> run_step=N"
        )
    if run and policy_kind in ("prompt", "prompt_ask"):
        raise ConfigError(
            f"policy={policy_kind} evaluates the untrained model, so run= does not apply; "
            "accepted: policy=model with run=, or drop run="
        )
    return policy_kind, run


@dataclasses.dataclass
class Player:
    """What plays the episodes: an engine over a model, or a text policy (the oracle)."""

    engine: object | None
    chat: ChatFormat
    policy: object | None
    model_path: str
    max_len: int


def build_player(cfg: DictConfig, typed: dict, policy_kind: str, task, console: Console) -> Player:
    """The oracle (text, no model), or the configured model / a run's checkpoint on an engine."""
    ecfg, mcfg = typed["engine"], typed["model"]
    run = cfg.get("run")
    if policy_kind == "oracle":
        # The oracle writes text; a tokenizer is only needed to record its turns as tokens.
        chat = ChatFormat(load_tokenizer(str(tiny_path())))
        if run:
            console.print(f"policy=oracle: run={run} is ignored")
        return Player(None, chat, task.oracle_action, "oracle", ORACLE_MAX_LEN)
    ckpt = pick_checkpoint(run, cfg.get("run_step")) if run else None
    if ckpt is not None:
        _warn_task_mismatch(console, Path(run), task.name)
        console.print(f"evaluating checkpoint {ckpt}")
    model, tok, chat, model_path = load_policy(mcfg, str(ckpt) if ckpt else None, task=cfg.task)
    engine = build_engine(
        ecfg,
        model,
        tok,
        chat,
        model_path,
        max_len=mcfg.max_len,
        seed=cfg.seed,
        lora_sync=mcfg.lora.sync,
    )
    return Player(engine, chat, None, model_path, mcfg.max_len)


def report(console: Console, run_dir: Path, results: list, out: dict, sim_stats: dict) -> None:
    """The per-task table and the summary line."""
    agg = out["aggregate"]
    title = f"{out['task']} / {out['split']}: {out['policy']} ({out['model']})"
    console.print(results_table(results, title))
    truncated = sim_stats.get("truncated", 0)
    console.print(
        f"{summary_line(agg)} | {agg['wall_s']:.1f}s"
        + (f" | {truncated} simulator replies cut at max_tokens" if truncated else "")
        + f"\nwrote {run_dir / 'eval.json'} and {run_dir / 'conversations.jsonl'}"
    )


def write_outputs(run_dir: Path, out: dict, results: list[dict]) -> None:
    """eval.json and conversations.jsonl, written before any budget verdict so a failed
    evaluation can still be inspected."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "eval.json").write_text(json.dumps(out, indent=1))
    with (run_dir / "conversations.jsonl").open("w") as f:
        for r in results:
            for conv in r["conversations"]:
                f.write(json.dumps({"id": r["id"], **conv}) + "\n")


def check_budget(simulator, agg: dict) -> None:
    """A non-zero exit (one line) when simulator failures took more episodes than
    ``simulator.max_failure_rate`` allows: the survivors are no result."""
    excluded, total = agg["n_excluded_trials"], agg["n_episodes"]
    if over_budget(excluded, total, simulator.guard.max_failure_rate):
        raise FatalSimulatorError(budget_message(simulator, excluded, total))


def results_table(results: list[dict], title: str, limit: int = 20) -> Table:
    """Per-task rewards and successes (first ``limit`` tasks) as a rich table."""
    table = Table(title=title)
    for col, justify in (
        ("task", "left"),
        ("rewards", "right"),
        ("trials", "left"),
        ("turns", "right"),
    ):
        table.add_column(col, justify=justify)
    for r in results[:limit]:
        table.add_row(
            r["id"],
            " ".join(f"{x:.2f}" for x in r["rewards"]),
            " ".join("Y" if s else "." for s in r["successes"])
            + (f" ({r['excluded']} excluded)" if r["excluded"] else ""),
            f"{mean([float(t) for t in r['turns']]):.1f}",
        )
    if len(results) > limit:
        table.add_row(f"... {len(results) - limit} more", "", "", "")
    return table


def decoding(cfg: DictConfig, run: str | None, console: Console | None = None) -> tuple[float, int]:
    """``eval.temperature`` and ``eval.k``; where one is null, the training run's own evaluation
    setting (``trainer.eval_temperature``, ``trainer.eval_samples`` in ``<run>/config.yaml``), so
    ``infopo eval run=<run>`` decodes as the run evaluated itself; without a run, the trainer's
    defaults (T=1, one trial). Greedy decoding keeps one trial unless ``eval.k`` says otherwise.
    The values used are written back into ``cfg.eval`` (and so into eval.json)."""
    from infopo_cli.config import TrainerConfig

    temperature, k = cfg.eval.get("temperature"), cfg.eval.get("k")
    trained = TrainerConfig()
    cfg_path = Path(run) / "config.yaml" if run else None
    if (temperature is None or k is None) and cfg_path is not None and cfg_path.exists():
        node = OmegaConf.select(OmegaConf.load(cfg_path), "trainer") or {}
        # a run older than these settings evaluated greedily, once per task
        trained.eval_temperature = float(node.get("eval_temperature", 0.0))
        trained.eval_samples = int(node.get("eval_samples", 1))
        if console is not None:
            console.print(
                f"decoding as {run} evaluated itself where eval.temperature / eval.k are unset: "
                f"T={trained.eval_temperature}, {trained.eval_samples} trial(s) per task"
            )
    if temperature is None:
        temperature = trained.eval_temperature
    if k is None:
        k = trained.eval_samples if temperature > 0 else 1
    with open_dict(cfg):
        cfg.eval.temperature, cfg.eval.k = float(temperature), int(k)
    return float(temperature), int(k)


def _warn_task_mismatch(console: Console, run_dir: Path, task_name: str) -> None:
    """A note when the checkpoint was trained on another task than the one evaluated."""
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        return
    trained = OmegaConf.select(OmegaConf.load(cfg_path), "task.name")
    if trained and trained != task_name:
        console.print(f"note: {run_dir} was trained on task {trained}; evaluating on {task_name}")
