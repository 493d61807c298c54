"""The RL recipe (``infopo train``): setup, the step loop, save.

One step (METHOD.md section 4):
  1. sample B prompts, roll out G trajectories each against the task and the simulated user
  2. outcome scores S_i
  3. old log-probs of the batch and the masked-counterfactual information gain IG_t
  4. token-level advantages by fusion
  5. PPO-clip update on agent tokens
  6. push the new weights to the rollout engine
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from infopo_cli import checkpoint
from infopo_cli.advantages import decayed_beta, fuse_advantages_with_stats
from infopo_cli.components import (
    build_engine,
    build_simulator,
    build_task,
    load_policy,
    seed_everything,
)
from infopo_cli.config import validate
from infopo_cli.errors import ConfigError
from infopo_cli.evaluate import run_eval
from infopo_cli.infogain import information_gain
from infopo_cli.infogain_fast import logprobs_and_information_gain
from infopo_cli.logging import RunLogger, read_jsonl
from infopo_cli.plots import plot_training
from infopo_cli.rollout import rollout
from infopo_cli.sweep import sweep_group
from infopo_cli.trainer import PolicyTrainer
from infopo_cli.trajectory import Batch


def rollout_records(batch: Batch, adv: torch.Tensor, chat) -> list[dict]:
    """Per trajectory and per turn: text, token counts, reward, IG and the turn's mean advantage."""
    out = []
    for i, tr in enumerate(batch.trajectories):
        turns = []
        for t, (turn, log) in enumerate(zip(tr.turns, tr.info["turns"])):
            s, e = turn.action
            turns.append(
                {
                    **log,
                    "feedback_tokens": turn.feedback_len,
                    "ig": tr.info_gain[t] if tr.info_gain else 0.0,
                    "advantage": adv[i, s:e].mean().item() if i < adv.shape[0] else 0.0,
                }
            )
        out.append(
            {
                "task_id": tr.group,
                "outcome": tr.score,
                "success": tr.success,
                "failed": tr.failed,
                "truncated": tr.info.get("truncated", False),
                "turns": turns,
                # token space, so any record can be rebuilt into the exact Trajectory that was trained on
                "input_ids": tr.input_ids,
                "spans": [
                    [list(t.action), list(t.feedback) if t.feedback else None] for t in tr.turns
                ],
            }
        )
    return out


def train_main(cfg: DictConfig, run_dir: Path) -> dict:
    # ---- setup -------------------------------------------------------------------------------
    typed = validate(cfg)
    mcfg, ecfg, fcfg, icfg, tcfg, lcfg = (
        typed[k] for k in ("model", "engine", "fusion", "infogain", "trainer", "logger")
    )
    resume_dir = Path(cfg.resume) if cfg.get("resume") else None
    if resume_dir is not None:
        if not resume_dir.is_dir():
            raise ConfigError(f"resume={cfg.resume!r} is not a run directory")
        run_dir = resume_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    task = build_task(cfg)
    simulator = build_simulator(cfg, run_dir)
    ckpt = checkpoint.latest_checkpoint(run_dir) if resume_dir else None
    if resume_dir is not None and ckpt is None:
        raise ConfigError(
            f"resume={cfg.resume!r}: no complete checkpoint under {resume_dir / 'checkpoints'}"
        )
    model, tok, chat, model_path = load_policy(mcfg, str(ckpt) if ckpt else None, seed=cfg.seed)
    ref_model = copy.deepcopy(model).eval().requires_grad_(False) if tcfg.kl_coef > 0 else None
    trainer = PolicyTrainer(model, tcfg, ref_model)
    engine = build_engine(
        ecfg, model, tok, chat, model_path, tcfg, max_len=mcfg.max_len, seed=cfg.seed
    )
    placeholder_ids = chat.encode(icfg.placeholder)
    sampler = random.Random(cfg.seed)
    start = 0
    console_note = None
    if ckpt is not None:
        meta, state = checkpoint.load_checkpoint(ckpt)
        if meta.get("seed") != cfg.seed:
            raise ConfigError(
                f"resume: checkpoint was trained with seed={meta.get('seed')}, this run has seed={cfg.seed}"
            )
        trainer.load_state_dict(state)
        checkpoint.set_rng_state(state["rng"])
        sampler.setstate(state["sampler"])
        start = meta["step"]
        console_note = f"resumed from {ckpt}: step {start}, model weights, optimizer, RNG states and data position restored"
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if lcfg.group is None:  # W&B runs of one sweep share a group
        lcfg.group = sweep_group()
    logger = RunLogger(run_dir, OmegaConf.to_container(cfg, resolve=True), lcfg, tcfg.steps, start)
    if console_note:
        logger.print(console_note)
    logger.print(
        f"run dir {run_dir} | task {task.name} | model {model_path} | engine {ecfg.name} | fusion {fcfg.mode}"
    )
    n_train = len(task.instances(task.train_split))
    eval_instances = task.instances(task.split)[: tcfg.eval_tasks] if tcfg.eval_tasks else []
    evals: dict[str, dict] = {}

    def evaluate(step: int, name: str) -> None:
        if not eval_instances:
            return
        t0 = time.time()
        _, agg = run_eval(
            engine,
            chat,
            task,
            simulator,
            eval_instances,
            k=1,
            temperature=0.0,
            max_new_tokens=ecfg.max_new_tokens,
            max_len=mcfg.max_len,
        )
        evals[name] = agg
        logger.log(
            step,
            {
                "eval/success": agg["success"],
                "eval/mean_reward": agg["mean_reward"],
                "eval/pass_hat_k": agg["pass_hat_k"],
                "eval/mean_turns": agg["mean_turns"],
                "eval/n_tasks": agg["n_tasks"],
                "time/eval_s": time.time() - t0,
            },
            advance=False,
        )
        logger.print(
            f"eval ({name}, step {step}, {task.split} split, {agg['n_tasks']} tasks): "
            f"success {agg['success']:.3f} | mean reward {agg['mean_reward']:.3f}"
        )

    if start == 0:
        evaluate(0, "start")

    def save(step: int) -> None:
        meta = {"seed": cfg.seed, "model_path": model_path, "task": task.name}
        state = {**trainer.state_dict(), "sampler": sampler.getstate()}
        checkpoint.save_checkpoint(
            run_dir, step, model, tok, state, meta, keep=tcfg.keep_checkpoints
        )

    # ---- train -------------------------------------------------------------------------------
    try:
        for step in range(start + 1, tcfg.steps + 1):
            t_step = time.time()
            instances = task.sample(task.train_split, tcfg.prompts_per_step, sampler)
            batch = rollout(
                engine,
                chat,
                task,
                simulator,
                instances,
                group_size=tcfg.group_size,
                max_new_tokens=ecfg.max_new_tokens,
                temperature=ecfg.temperature,
                max_len=mcfg.max_len,
                top_p=ecfg.top_p,
            )
            t_rollout = time.time() - t_step
            engine.release_memory()  # a GPU-sharing engine sleeps while the trainer works
            kept = batch.kept()  # trajectories whose simulator calls failed never reach the loss
            metrics: dict[str, float] = {
                **simulator.pop_stats(),
                "simulator/excluded": len(batch) - len(kept),
            }
            if len(kept) == 0:
                logger.print(
                    f"step {step}: every trajectory was excluded (simulator failures); skipping the update"
                )
                logger.log(
                    step, {**metrics, "train/success": 0.0, "time/step_s": time.time() - t_step}
                )
                continue
            tensors = kept.tensors(pad_id=tok.pad_token_id)
            scored = fcfg.mode != "none"  # plain GRPO does not need the counterfactual
            t0 = time.time()
            if scored and icfg.impl == "fast":
                # One prefix pass gives the PPO ratio's old log-probs and IG's factual term; the
                # counterfactuals reuse its cached keys/values (infogain_fast.py).
                old_lp, ig = logprobs_and_information_gain(
                    model,
                    kept.trajectories,
                    placeholder_ids,
                    token_budget=icfg.token_budget,
                    autocast=tcfg.autocast == "bf16",
                    action_tokens_only=True,
                )  # [N, L], N x turns
                t_oldlp, t_ig = 0.0, time.time() - t0
            else:
                old_lp = trainer.logprobs(tensors)  # [N, L]
                t_oldlp = time.time() - t0
                t0 = time.time()
                ig = (
                    information_gain(
                        model, kept.trajectories, placeholder_ids, token_budget=icfg.token_budget
                    )
                    if scored
                    else None
                )
                t_ig = time.time() - t0
            if scored:
                for tr, g in zip(kept.trajectories, ig):
                    tr.info_gain = g
                tensors["intrinsic"] = kept.intrinsic()  # only this field depends on IG
            beta = decayed_beta(fcfg.beta, fcfg.decay, (step - 1) * tcfg.prompts_per_step / n_train)
            adv, fstats = fuse_advantages_with_stats(
                tensors["outcomes"],
                kept.groups,
                tensors["intrinsic"],
                tensors["action_mask"],
                mode=fcfg.mode,
                beta=beta,
                tau=fcfg.tau,
                normalize=fcfg.normalize,
            )
            t0 = time.time()
            metrics.update(trainer.update(tensors, adv, old_lp))
            t_update = time.time() - t0
            if step % ecfg.sync_every == 0:
                metrics["time/weight_sync_s"] = engine.update_weights(model)
                metrics.update(engine.last_check())
            ig_vals = [
                tr.info_gain[t]
                for tr in kept.trajectories
                if tr.info_gain
                for t in tr.scored_turns()
            ]
            metrics.update(
                {
                    "train/success": sum(t.success for t in kept.trajectories) / len(kept),
                    "train/outcome_mean": tensors["outcomes"].mean().item(),
                    "train/outcome_std": tensors["outcomes"].std().item() if len(kept) > 1 else 0.0,
                    "rollout/turns_mean": sum(len(t.turns) for t in kept.trajectories) / len(kept),
                    "rollout/action_tokens": float(tensors["action_mask"].sum()),
                    "rollout/truncated": sum(t.info["truncated"] for t in kept.trajectories)
                    / len(kept),
                    "infogain/mean": sum(ig_vals) / len(ig_vals) if ig_vals else 0.0,
                    "infogain/abs_mean": sum(abs(v) for v in ig_vals) / len(ig_vals)
                    if ig_vals
                    else 0.0,
                    "infogain/scored_turns": len(ig_vals),
                    **fstats,
                    "time/rollout_s": t_rollout,
                    "time/old_logprob_s": t_oldlp,  # 0 when the fast scorer produced them
                    "time/infogain_s": t_ig,
                    "time/update_s": t_update,
                    "time/step_s": time.time() - t_step,
                }
            )
            logger.log(step, metrics)
            logger.rollouts(step, rollout_records(kept, adv, chat))
            if tcfg.eval_every and step % tcfg.eval_every == 0 and step != tcfg.steps:
                evaluate(step, f"step {step}")
            if tcfg.save_every and step % tcfg.save_every == 0 and step != tcfg.steps:
                save(step)
        # ---- save --------------------------------------------------------------------------------
        if tcfg.steps > start:
            save(tcfg.steps)
        evaluate(tcfg.steps, "end")
    finally:
        logger.close()
        simulator.close()
        engine.close()
    rows = read_jsonl(run_dir / "metrics.jsonl")
    plot = plot_training(
        rows, run_dir / "plots" / "training.png", title=f"{task.name}, fusion={fcfg.mode}"
    )
    logger.summary(evals)
    logger.print(
        f"wrote {run_dir / 'metrics.jsonl'}, {plot}, checkpoints under {run_dir / 'checkpoints'}"
    )
    summary = {"run_dir": str(run_dir), "evals": evals, "steps": tcfg.steps}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
