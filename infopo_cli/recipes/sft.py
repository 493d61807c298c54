"""The supervised warm-start recipe (``infopo sft``): checkpoints and resume like ``infopo train``.

Data: a task's demonstration policy (``sft.data=demos``) or chats in the common messages format
(one ``{"messages": [...]}`` per row): a JSONL file, a .json/.parquet/.csv file or a Hugging Face
hub id (``owner/name``, its train split), the last two read with ``datasets`` (the ``data`` extra).
The loop itself is ``infopo_cli.core.sft``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from infopo_cli.config import validate
from infopo_cli.core.sft import (
    chats_to_trajectories,
    demo_trajectories,
    records_to_trajectories,
    sft_train,
)
from infopo_cli.data.tables import file_rows, hub_splits, is_hub_id, is_table_file
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import (
    build_simulator,
    build_task,
    load_policy,
    resume_point,
    seed_everything,
)
from infopo_cli.runtime import checkpoint
from infopo_cli.runtime.logging import RunLogger
from infopo_cli.zoo.registry import resolve_path


@dataclass
class SFTConfig:
    data: str = "demos"
    """``demos`` (the task's demonstration policy), a file of ``{"messages": [...]}`` chats
    (.jsonl; .json, .parquet, .csv with the data extra) or a hub dataset id ``owner/name``."""
    num_dialogues: int = 4000
    """Demonstrations to generate (``data=demos``)."""
    batch_size: int = 32
    """Dialogues per optimizer step."""
    max_new_tokens: int = 48


def build_starter(cfg: DictConfig) -> dict:
    """``infopo sft task=<t> model=starter``: build (or find) that task's starter, the policy
    ``infopo train task=<t>`` starts from; its own recipe, so nothing else is fine-tuned."""
    task = OmegaConf.to_container(cfg.task, resolve=True)
    path = resolve_path("starter", None, task)
    print(
        f"starter of task={cfg.task.name}: {path}\ntrain it with: infopo train task={cfg.task.name}"
    )
    return {"model_path": path}


def sft_main(cfg: DictConfig, run_dir: Path) -> dict:
    """``infopo sft``: warm-start ``model`` on demonstrations or chats; checkpoints and resume like train."""
    typed = validate(cfg)
    mcfg, tcfg, lcfg = typed["model"], typed["trainer"], typed["logger"]
    scfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SFTConfig), cfg.get("sft", {})))
    if mcfg.name == "starter" and not mcfg.path and not cfg.get("resume"):
        return build_starter(cfg)
    run_dir, ckpt = resume_point(cfg.get("resume"), run_dir)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))  # what resume reads
    seed_everything(cfg.seed)
    model, tok, chat, model_path = load_policy(mcfg, str(ckpt) if ckpt else None, task=cfg.task)
    trajs = dialogues(cfg, scfg, chat, mcfg.max_len, run_dir)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    order_rng = random.Random(cfg.seed)
    logger = RunLogger(run_dir, OmegaConf.to_container(cfg, resolve=True), lcfg, tcfg.steps, 0)
    start = restore(ckpt, optimizer, order_rng, logger) if ckpt is not None else 0
    logger.print(f"sft on {len(trajs)} dialogues | model {model_path} | run dir {run_dir}")
    t_last = [time.time()]

    def on_step(step, loss, opt, rng):
        metrics = {"sft/loss": loss, "sft/lr": opt.param_groups[0]["lr"]}
        logger.log(step, {**metrics, "time/step_s": time.time() - t_last[0]})
        logger.print(f"step {step:>4} | loss {loss:.4f}")
        t_last[0] = time.time()
        if (tcfg.save_every and step % tcfg.save_every == 0) or step == tcfg.steps:
            state = {"optimizer": opt.state_dict(), "sampler": rng.getstate()}
            meta = {"seed": cfg.seed, "model_path": model_path}
            checkpoint.save_checkpoint(
                run_dir, step, model, tok, state, meta, keep=tcfg.keep_checkpoints
            )

    try:
        sft_train(
            model,
            tok,
            trajs,
            steps=tcfg.steps,
            lr=tcfg.lr,
            batch_size=scfg.batch_size,
            seed=cfg.seed,
            weight_decay=tcfg.weight_decay,
            grad_clip=tcfg.grad_clip,
            token_budget=tcfg.micro_batch_tokens,
            on_step=on_step,
            optimizer=optimizer,
            start=start,
            order_rng=order_rng,
        )
    finally:
        logger.close()
    final = checkpoint.latest_checkpoint(run_dir)
    logger.print(f"done: the warm-started model is {final} (use model.path={final})")
    return {"run_dir": str(run_dir), "checkpoint": str(final) if final else None}


def dialogues(cfg: DictConfig, scfg: SFTConfig, chat, max_len: int, run_dir: Path) -> list:
    """The training dialogues as trajectories: the task's demonstrations, or chats from a file or
    a hub dataset."""
    if scfg.data == "demos":
        simulator = build_simulator(cfg, run_dir)
        return demo_trajectories(
            build_task(cfg), simulator, chat, scfg.num_dialogues, cfg.seed, max_len
        )
    path = Path(scfg.data).expanduser()
    if path.is_file() and not is_table_file(path):
        return chats_to_trajectories(path, chat, max_len)  # JSON Lines, read line by line
    if is_table_file(path):
        rows = file_rows(path, "sft.data")
        label = str(path)
    elif is_hub_id(scfg.data):
        splits = hub_splits(scfg.data, "sft.data")
        if "train" not in splits:
            raise ConfigError(
                f"sft.data={scfg.data!r}: the hub dataset has no train split; it has "
                f"{', '.join(splits) or 'none'}"
            )
        rows, label = splits["train"], f"{scfg.data} (train)"
    else:
        raise ConfigError(
            f"sft.data={scfg.data!r}: not 'demos', an existing file (.jsonl; .json, .parquet, "
            ".csv) or a hub id (owner/name)"
        )
    records = enumerate(rows, 1)
    return records_to_trajectories(records, chat, max_len, lambda n: f"{label} row {n}", label)


def restore(ckpt: Path, optimizer, order_rng: random.Random, logger: RunLogger) -> int:
    """Optimizer, RNG and data order from ``ckpt`` (its weights are already loaded); its step."""
    meta, state = checkpoint.load_checkpoint(ckpt)
    optimizer.load_state_dict(state["optimizer"])
    checkpoint.set_rng_state(state["rng"])
    order_rng.setstate(state["sampler"])
    start = meta["step"]
    logger.progress.update(logger.task_id, completed=start)
    logger.print(
        f"resumed from {ckpt}: step {start}, weights, optimizer, RNG and data order restored"
    )
    return start
