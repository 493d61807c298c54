"""The RL recipe (``infopo train``): setup, the step loop, save.

One step (METHOD.md section 4):
  1. sample B prompts, roll out G trajectories each against the task and the simulated user
  2. outcome scores S_i
  3. old log-probs of the batch and the masked-counterfactual information gain IG_t
  4. token-level advantages by fusion
  5. PPO-clip update on agent tokens
  6. push the new weights to the rollout engine

Under ``trainer.strategy=ddp|fsdp2`` (torchrun) every rank draws the same prompts and plays its own
contiguous slice of them, each prompt group whole and seeded from (seed, step, global prompt index);
the loss, metrics, rollout records, evaluation and checkpoints are global (infopo_cli.runtime.distributed).
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from infopo_cli.config import validate
from infopo_cli.core.advantages import decayed_beta, fuse_advantages_with_stats
from infopo_cli.core.evaluation import aggregate, run_eval
from infopo_cli.core.infogain import information_gain
from infopo_cli.core.infogain_fast import logprobs_and_information_gain
from infopo_cli.core.rollout import rollout
from infopo_cli.core.trajectory import Batch
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import (
    build_engine,
    build_simulator,
    build_task,
    load_policy,
    seed_everything,
)
from infopo_cli.runtime import checkpoint, lora
from infopo_cli.runtime.distributed import (
    QuietLogger,
    World,
    full_model_state,
    gathered,
    group_seed,
    init_world,
    rank_device,
    reduce_metrics,
    seeded,
    shard,
    shutdown,
    wrap,
)
from infopo_cli.runtime.logging import RunLogger, read_jsonl
from infopo_cli.runtime.plots import plot_training
from infopo_cli.runtime.sweep import sweep_group


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


def play(
    world: World, cfg: DictConfig, step: int, instances: list, play_group
) -> tuple[Batch, list[int]]:
    """This rank's rollouts of the step and each trajectory's group key for the advantages.

    ``single``: one rollout over all prompts under the run's RNG, grouped by task id (as always).
    ``ddp``/``fsdp2``: this rank's slice of the prompts, one group at a time under an RNG seeded from
    (seed, step, global prompt index), grouped by that index: trajectories and groups are then the
    same whichever rank plays a prompt, and so at any world size.
    """
    if not world.group_seeded:
        batch = play_group(instances)
        return batch, batch.groups
    offset, mine = shard(instances, world)
    trajs, groups = [], []
    for i, inst in enumerate(mine):
        with seeded(group_seed(cfg.seed, step, offset + i)):
            part = play_group([inst])
        trajs += part.trajectories
        groups += [offset + i] * len(part)
    return Batch(trajs), groups


def train_main(cfg: DictConfig, run_dir: Path) -> dict:
    typed = validate(cfg)
    world = init_world(typed["trainer"].strategy, typed["model"].device)
    finished = False
    try:
        if world.size > 1:  # the world size is known now (a SLURM task has no torchrun env before)
            validate(cfg)
        out = _train(cfg, run_dir, typed, world)
        finished = True
        return out
    finally:
        shutdown(world, finished)


def _train(cfg: DictConfig, run_dir: Path, typed: dict, world: World) -> dict:
    # ---- setup -------------------------------------------------------------------------------
    mcfg, ecfg, fcfg, icfg, tcfg, lcfg = (
        typed[k] for k in ("model", "engine", "fusion", "infogain", "trainer", "logger")
    )
    run_dir = Path(world.broadcast(str(run_dir)))  # ranks may have stamped different times
    resume_dir = Path(cfg.resume) if cfg.get("resume") else None
    if resume_dir is not None:
        if not resume_dir.is_dir():
            raise ConfigError(f"resume={cfg.resume!r} is not a run directory")
        run_dir = resume_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    task = build_task(cfg)
    # Each rank keeps its own simulator reply cache (no two writers on one file).
    simulator = build_simulator(
        cfg, run_dir if world.is_main else run_dir / "ranks" / f"rank_{world.rank}"
    )
    ckpt = checkpoint.latest_checkpoint(run_dir) if resume_dir else None
    if resume_dir is not None and ckpt is None:
        raise ConfigError(
            f"resume={cfg.resume!r}: no complete checkpoint under {resume_dir / 'checkpoints'}"
        )
    model, tok, chat, model_path = load_policy(
        mcfg, str(ckpt) if ckpt else None, device=rank_device(world, mcfg.device)
    )
    if mcfg.lora.r > 0 and not lora.is_peft(model):
        if mcfg.gradient_checkpointing:  # checkpointed blocks need an input that requires grad
            model.enable_input_require_grads()
        model = lora.add_adapters(model, mcfg.lora)
    ref_model = copy.deepcopy(model).eval().requires_grad_(False) if tcfg.kl_coef > 0 else None
    policy = wrap(model, world)  # DDP wrapper or FSDP2-sharded; `model` stays the plain module
    trainer = PolicyTrainer(policy, tcfg, ref_model, world)
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
    if world.is_main:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        if lcfg.group is None:  # W&B runs of one sweep share a group
            lcfg.group = sweep_group()
        logger = RunLogger(
            run_dir, OmegaConf.to_container(cfg, resolve=True), lcfg, tcfg.steps, start
        )
    else:  # metrics, rollouts, W&B and progress come from rank 0 only
        logger = QuietLogger()
    if console_note:
        logger.print(console_note)
    logger.print(
        f"run dir {run_dir} | task {task.name} | model {model_path} | engine {ecfg.name} | fusion {fcfg.mode}"
        + (f" | {tcfg.strategy} x {world.size} ranks" if tcfg.strategy != "single" else "")
        + (f" | LoRA r={mcfg.lora.r}" if lora.is_peft(model) else "")
    )
    n_train = len(task.instances(task.train_split))
    eval_instances = task.instances(task.split)[: tcfg.eval_tasks] if tcfg.eval_tasks else []
    evals: dict[str, dict] = {}

    def evaluate(step: int, name: str) -> None:
        """Evaluation (greedy unless ``trainer.eval_temperature`` > 0), sharded: rank r plays
        instances r, r + W, ...; results are gathered."""
        if not eval_instances:
            return
        t0 = time.time()
        mine = eval_instances[world.rank :: world.size]
        with seeded(cfg.seed + world.rank), gathered(policy):
            results = (
                run_eval(
                    engine,
                    chat,
                    task,
                    simulator,
                    mine,
                    k=tcfg.eval_samples,
                    temperature=tcfg.eval_temperature,
                    max_new_tokens=ecfg.max_new_tokens,
                    max_len=mcfg.max_len,
                )[0]
                if mine
                else []
            )
        if world.size > 1:
            results = [r for part in world.gather(results) for r in part]
        agg = aggregate(results, tcfg.eval_samples)
        evals[name] = agg
        logger.log(
            step,
            {
                "eval/success": agg["success"],
                "eval/mean_reward": agg["mean_reward"],
                "eval/pass_hat_k": agg["pass_hat_k"],
                "eval/mean_turns": agg["mean_turns"],
                "eval/n_tasks": agg["n_tasks"],
                "eval/n_trials": agg["n_trials"],
                "time/eval_s": time.time() - t0,
            },
            advance=False,
        )
        logger.print(
            f"eval ({name}, step {step}, {task.split} split, {agg['n_tasks']} tasks"
            + (f" x {tcfg.eval_samples} samples" if tcfg.eval_samples > 1 else "")
            + f"): success {agg['success']:.3f} | mean reward {agg['mean_reward']:.3f}"
        )

    if start == 0:
        evaluate(0, "start")

    def save(step: int) -> None:
        """Rank 0 writes the full model and optimizer state (gathered first under FSDP2)."""
        meta = {"seed": cfg.seed, "model_path": model_path, "task": task.name}
        state = {**trainer.state_dict(), "sampler": sampler.getstate()}
        full = full_model_state(policy)
        if world.is_main:
            checkpoint.save_checkpoint(
                run_dir, step, model, tok, state, meta, keep=tcfg.keep_checkpoints, model_state=full
            )
        world.barrier()

    def play_group(group: list) -> Batch:
        return rollout(
            engine,
            chat,
            task,
            simulator,
            group,
            group_size=tcfg.group_size,
            max_new_tokens=ecfg.max_new_tokens,
            temperature=ecfg.temperature,
            max_len=mcfg.max_len,
            top_p=ecfg.top_p,
        )

    def empty_batch() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        none = torch.zeros((0, 0))
        tensors = {
            "input_ids": none.long(),
            "attention_mask": none.long(),
            "action_mask": none,
            "outcomes": torch.zeros(0),
        }
        return tensors, none, none

    def log_step(step, metrics, kept, tensors, t_step, extra, adv=None) -> None:
        """The step's metrics over the global batch (rank 0 logs them) and its rollout records."""
        trajs = kept.trajectories
        ig_vals = [tr.info_gain[t] for tr in trajs if tr.info_gain for t in tr.scored_turns()]
        outcomes = [float(t.score) for t in trajs]
        n = max(len(trajs), 1)
        metrics.update(
            {
                "train/success": sum(t.success for t in trajs) / n,
                "train/outcome_mean": 0.0,  # the global values are filled in below
                "train/outcome_std": 0.0,
                "rollout/turns_mean": sum(len(t.turns) for t in trajs) / n,
                "rollout/action_tokens": float(tensors["action_mask"].sum()) if trajs else 0.0,
                "rollout/truncated": sum(t.info["truncated"] for t in trajs) / n,
                "infogain/mean": 0.0,
                "infogain/abs_mean": 0.0,
                "infogain/scored_turns": len(ig_vals),
                **extra,
                "time/step_s": time.time() - t_step,
            }
        )
        if world.size > 1:
            parts = world.gather((metrics, len(trajs), outcomes, ig_vals))
            metrics = reduce_metrics([(m, k) for m, k, _, _ in parts])
            outcomes = [o for _, _, os_, _ in parts for o in os_]
            ig_vals = [v for _, _, _, vs in parts for v in vs]
        t = torch.tensor(outcomes)
        metrics["train/outcome_mean"] = t.mean().item()
        metrics["train/outcome_std"] = t.std().item() if len(outcomes) > 1 else 0.0
        metrics["infogain/mean"] = sum(ig_vals) / len(ig_vals) if ig_vals else 0.0
        metrics["infogain/abs_mean"] = (
            sum(abs(v) for v in ig_vals) / len(ig_vals) if ig_vals else 0.0
        )
        logger.log(step, metrics)
        records = rollout_records(kept, adv, chat) if adv is not None else []
        if world.size > 1:
            records = [r for part in world.gather(records) for r in part]
        logger.rollouts(step, records)

    # ---- train -------------------------------------------------------------------------------
    try:
        for step in range(start + 1, tcfg.steps + 1):
            t_step = time.time()
            # the same draw on every rank (same seed); each rank then plays its slice
            instances = task.sample(task.train_split, tcfg.prompts_per_step, sampler)
            with gathered(policy):
                batch, groups = play(world, cfg, step, instances, play_group)
            t_rollout = time.time() - t_step
            engine.release_memory()  # a GPU-sharing engine sleeps while the trainer works
            kept = batch.kept()  # trajectories whose simulator calls failed never reach the loss
            groups = [g for g, t in zip(groups, batch.trajectories) if not t.failed]
            metrics: dict[str, float] = {
                **simulator.pop_stats(),
                "simulator/excluded": len(batch) - len(kept),
            }
            n_kept = int(world.sum(len(kept)))
            if n_kept == 0:
                logger.print(
                    f"step {step}: every trajectory was excluded (simulator failures); skipping the update"
                )
                logger.log(
                    step, {**metrics, "train/success": 0.0, "time/step_s": time.time() - t_step}
                )
                continue
            if len(kept) == 0:  # other ranks have trajectories: join their update with none
                metrics.update(trainer.update(*empty_batch(), step))
                log_step(step, metrics, kept, None, t_step, {})
                continue
            tensors = kept.tensors(pad_id=tok.pad_token_id)
            scored = fcfg.mode != "none"  # plain GRPO does not need the counterfactual
            t0 = time.time()
            with gathered(policy):  # FSDP2: full parameters for the scoring passes
                if scored and icfg.impl == "fast":
                    # One prefix pass gives the PPO ratio's old log-probs and IG's factual term; the
                    # counterfactuals reuse its cached keys/values (infogain_fast.py).
                    old_lp, ig = logprobs_and_information_gain(
                        trainer.module,
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
                            trainer.module,
                            kept.trajectories,
                            placeholder_ids,
                            token_budget=icfg.token_budget,
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
                groups,
                tensors["intrinsic"],
                tensors["action_mask"],
                mode=fcfg.mode,
                beta=beta,
                tau=fcfg.tau,
                normalize=fcfg.normalize,
            )
            t0 = time.time()
            metrics.update(trainer.update(tensors, adv, old_lp, step))
            t_update = time.time() - t0
            if step % ecfg.sync_every == 0:
                pushed = lora.MergedView(model) if lora.is_peft(model) else model
                metrics["time/weight_sync_s"] = engine.update_weights(pushed)
                metrics.update(engine.last_check())
            timings = {
                **fstats,
                "time/rollout_s": t_rollout,
                "time/old_logprob_s": t_oldlp,  # 0 when the fast scorer produced them
                "time/infogain_s": t_ig,
                "time/update_s": t_update,
            }
            log_step(step, metrics, kept, tensors, t_step, timings, adv)
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
    summary = {"run_dir": str(run_dir), "evals": evals, "steps": tcfg.steps}
    if not world.is_main:
        return summary
    rows = read_jsonl(run_dir / "metrics.jsonl")
    plot = plot_training(
        rows, run_dir / "plots" / "training.png", title=f"{task.name}, fusion={fcfg.mode}"
    )
    logger.summary(evals)
    logger.print(
        f"wrote {run_dir / 'metrics.jsonl'}, {plot}, checkpoints under {run_dir / 'checkpoints'}"
    )
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
