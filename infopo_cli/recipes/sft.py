"""The supervised warm-start recipe (``infopo sft``): checkpoints and resume like ``infopo train``.

Data: a task's demonstration policy (``sft.data=demos``) or a JSONL file of chats in the common
messages format (``sft.data=<path>``: one ``{"messages": [...]}`` per line). The loop itself is
``infopo_cli.core.sft``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from infopo_cli.config import validate
from infopo_cli.core.sft import chats_to_trajectories, demo_trajectories, sft_train
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import build_simulator, build_task, load_policy, seed_everything
from infopo_cli.runtime import checkpoint
from infopo_cli.runtime.logging import RunLogger


@dataclass
class SFTConfig:
    data: str = "demos"
    """``demos`` (the task's demonstration policy) or a path to a JSONL file of chats."""
    num_dialogues: int = 4000
    """Demonstrations to generate (``data=demos``)."""
    batch_size: int = 32
    """Dialogues per optimizer step."""
    max_new_tokens: int = 48


def sft_main(cfg: DictConfig, run_dir: Path) -> dict:
    """``infopo sft``: warm-start ``model`` on demonstrations or chats; checkpoints and resume like train."""
    typed = validate(cfg)
    mcfg, tcfg, lcfg = typed["model"], typed["trainer"], typed["logger"]
    scfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SFTConfig), cfg.get("sft", {})))
    resume_dir = Path(cfg.resume) if cfg.get("resume") else None
    if resume_dir is not None:
        run_dir = resume_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    ckpt = checkpoint.latest_checkpoint(run_dir) if resume_dir else None
    if resume_dir is not None and ckpt is None:
        raise ConfigError(
            f"resume={cfg.resume!r}: no complete checkpoint under {resume_dir / 'checkpoints'}"
        )
    model, tok, chat, model_path = load_policy(mcfg, str(ckpt) if ckpt else None)
    if scfg.data == "demos":
        task = build_task(cfg)
        trajs = demo_trajectories(
            task, build_simulator(cfg, run_dir), chat, scfg.num_dialogues, cfg.seed, mcfg.max_len
        )
    else:
        path = Path(scfg.data)
        if not path.is_file():
            raise ConfigError(f"sft.data={scfg.data!r}: not 'demos' and not an existing JSONL file")
        trajs = chats_to_trajectories(path, chat, mcfg.max_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    order_rng = random.Random(cfg.seed)
    start = 0
    logger = RunLogger(run_dir, OmegaConf.to_container(cfg, resolve=True), lcfg, tcfg.steps, 0)
    if ckpt is not None:
        meta, state = checkpoint.load_checkpoint(ckpt)
        optimizer.load_state_dict(state["optimizer"])
        checkpoint.set_rng_state(state["rng"])
        order_rng.setstate(state["sampler"])
        start = meta["step"]
        logger.progress.update(logger.task_id, completed=start)
        logger.print(
            f"resumed from {ckpt}: step {start}, weights, optimizer, RNG and data order restored"
        )
    logger.print(f"sft on {len(trajs)} dialogues | model {model_path} | run dir {run_dir}")
    t_last = [time.time()]

    def on_step(step, loss, opt, rng):
        logger.log(
            step,
            {
                "sft/loss": loss,
                "sft/lr": opt.param_groups[0]["lr"],
                "time/step_s": time.time() - t_last[0],
            },
        )
        logger.print(f"step {step:>4} | loss {loss:.4f}")
        t_last[0] = time.time()
        if (tcfg.save_every and step % tcfg.save_every == 0) or step == tcfg.steps:
            state = {"optimizer": opt.state_dict(), "sampler": rng.getstate()}
            checkpoint.save_checkpoint(
                run_dir,
                step,
                model,
                tok,
                state,
                {"seed": cfg.seed, "model_path": model_path},
                keep=tcfg.keep_checkpoints,
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
