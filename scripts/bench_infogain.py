"""Benchmark: information-gain scoring (reference vs fast) and a training step (InfoPO vs GRPO).

Rolls out clarify episodes of exactly ``--turns`` turns (a scripted agent asks a question each turn
and answers at the last one; ``--policy model`` samples the agent's messages from the model
instead), then on that one batch times:

1. IG scoring alone: ``infopo_cli.core.infogain.information_gain`` (two full passes per scored turn)
   against ``information_gain_fast`` (old log-probs reused, one prefix pass, packed counterfactual
   segments) and against ``logprobs_and_information_gain`` (old log-probs and IG from one pass,
   also timed with ``action_tokens_only``); both fast scorers are checked against the reference
   (max |difference| is printed).
2. A training step without the rollout (rollout excluded for both, the batch is the same), each as
   ``infopo train`` runs it with the trainer's defaults (one PPO epoch, one mini-batch) or with
   ``--ppo-epochs``, ``--micro-batch-tokens`` and ``--share-prefix`` (the starter's settings:
   ``--ppo-epochs 2 --micro-batch-tokens 1024 --share-prefix``; its KL term is left out):
   GRPO    = fusion(none) + PPO update; when the batch is used once, no old-log-prob pass (the
             update takes its own log-probs, detached, as the old ones), else that pass first
   GRPO+old = old-log-prob pass + fusion(none) + PPO update (GRPO when the batch is used more than
             once: ``ppo_epochs`` or ``mini_batches`` > 1)
   InfoPO  = ``logprobs_and_information_gain`` (old log-probs on agent tokens and IG from one prefix
             pass) + fusion(variance_gated) + PPO update (``infogain.impl=fast``)
   InfoPO two-pass = old-log-prob pass + ``information_gain_fast`` + fusion + PPO update.
   Steps alternate (GRPO, GRPO+old, InfoPO, two-pass, GRPO, ...) after one untimed GRPO warm-up step
   (optimizer state allocation), and the median of ``--repeats`` runs is reported, as wall seconds
   and as process CPU seconds (steadier when other processes share the cores).

The last line is ``naive_over_fast=<x> infopo_over_grpo=<y> infopo_over_grpo_old=<z>``: the InfoPO
step that ``infopo train`` runs over the GRPO step it runs, and over GRPO with an old-log-prob
pass. InfoPO needs a forward pass that GRPO on a once-used batch does not (the counterfactual
segments continue the real tokens' cached keys/values), so ``y`` is at least 1 + (prefix pass +
segments) / update.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from omegaconf import OmegaConf

from infopo_cli.config import CONF_DIR, TrainerConfig
from infopo_cli.core.advantages import fuse_advantages_with_stats
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.infogain import DEFAULT_PLACEHOLDER, information_gain
from infopo_cli.core.infogain_fast import information_gain_fast, logprobs_and_information_gain
from infopo_cli.core.rollout import rollout
from infopo_cli.core.trajectory import Batch
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.recipes.setup import pick_device
from infopo_cli.runtime.models import load_model, load_tokenizer
from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.clarify import QUESTION_TEMPLATES, ClarifyEnv, ClarifyTask
from infopo_cli.zoo.registry import resolve_path


def asking_policy(task: ClarifyTask, seed: int) -> Callable[[ClarifyEnv], str]:
    """Ask about a random slot of the domain (task slots get values, others "don't mind") on every
    turn but the last, then answer with the true values: every episode lasts ``max_turns`` turns."""
    rng = random.Random(seed)

    def act(env: ClarifyEnv) -> str:
        if env.turn < env.max_turns - 1:
            slot = rng.choice(env.domain.slots)
            return rng.choice(QUESTION_TEMPLATES).format(slot=slot.name)
        return "ANSWER: " + "; ".join(f"{k}={v}" for k, v in env.values.items())

    return act


@dataclass
class Clock:
    """Wall and process-CPU seconds of one call (CPU time is steadier on a shared machine)."""

    wall: float
    cpu: float


def timed(fn: Callable[[], object]) -> tuple[Clock, object]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return Clock(time.perf_counter() - t0, time.process_time() - c0), out


def median(clocks: list[Clock]) -> Clock:
    return Clock(
        statistics.median(c.wall for c in clocks), statistics.median(c.cpu for c in clocks)
    )


def without_sampler(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch as ``infopo train`` updates on it from the HF engine (or a script): no sampler
    log-probs to correct against (``Trainer._sampler_comparable``)."""
    return {k: v for k, v in tensors.items() if k not in ("sampler_logprobs", "sampler_mask")}


def max_abs_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return max((abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)), default=0.0)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "smollm2-135m"], default="tiny")
    ap.add_argument("--prompts", type=int, default=4, help="prompts per batch (B)")
    ap.add_argument("--group-size", type=int, default=4, help="rollouts per prompt (G)")
    ap.add_argument("--turns", type=int, default=8, help="agent turns per episode")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement")
    ap.add_argument(
        "--naive-repeats", type=int, default=1, help="timed runs of the (slow) reference scorer"
    )
    ap.add_argument("--policy", choices=["script", "model"], default="script")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="--policy model only")
    ap.add_argument("--token-budget", type=int, default=16384, help="infogain.token_budget")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ppo-epochs", type=int, default=1, help="trainer.ppo_epochs")
    ap.add_argument(
        "--micro-batch-tokens", type=int, default=16384, help="trainer.micro_batch_tokens"
    )
    ap.add_argument(
        "--share-prefix",
        action="store_true",
        help="trainer.share_prefix=true: a group's prompt runs once in the update and the scorer",
    )
    args = ap.parse_args()
    if args.turns < 2 or min(args.prompts, args.group_size, args.repeats, args.naive_repeats) < 1:
        ap.error("--turns must be >= 2; --prompts, --group-size and the repeats >= 1")
    return args


def fmt(c: Clock) -> str:
    return f"{c.wall:.3f}s (cpu {c.cpu:.3f}s)"


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    mcfg = OmegaConf.load(CONF_DIR / "model" / f"{args.model}.yaml")
    device = pick_device("auto")
    path = resolve_path(args.model, None)
    tok = load_tokenizer(path)
    model = load_model(path, mcfg.dtype, device, mcfg.gradient_checkpointing)
    chat = ChatFormat(tok)
    placeholder_ids = chat.encode(DEFAULT_PLACEHOLDER)
    task = ClarifyTask(max_turns=args.turns, seed=args.seed)
    instances = task.instances(task.train_split)[: args.prompts]
    engine = None
    if args.policy == "model":
        from infopo_cli.engines.hf import HFEngine

        engine = HFEngine(model, tok, chat.stop_ids, batch_size=64)
    t_roll, batch = timed(
        lambda: rollout(
            engine,
            chat,
            task,
            ScriptedSimulator(),
            instances,
            group_size=args.group_size,
            max_new_tokens=args.max_new_tokens,
            temperature=1.0,
            max_len=mcfg.max_len,
            policy=asking_policy(task, args.seed) if args.policy == "script" else None,
        )
    )
    batch = batch.kept()
    trajs = batch.trajectories
    tensors = without_sampler(batch.tensors(pad_id=tok.pad_token_id))
    agent = tensors["action_mask"].bool()  # the trainer scores agent tokens only
    lengths = [len(t.input_ids) for t in trajs]
    print(
        f"model {args.model} ({path}) on {device}, dtype {mcfg.dtype}, gradient checkpointing "
        f"{mcfg.gradient_checkpointing}, attention {model.config._attn_implementation}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"batch: {len(trajs)} trajectories ({args.prompts} prompts x G={args.group_size}, policy "
        f"{args.policy}, rollout {t_roll.wall:.1f}s), turns "
        f"{statistics.mean(len(t.turns) for t in trajs):.1f}, scored turns "
        f"{sum(len(t.scored_turns()) for t in trajs)}, tokens mean {statistics.mean(lengths):.0f} "
        f"(prompt {statistics.mean(t.prompt_len for t in trajs):.0f}) max {max(lengths)}, "
        f"action tokens {int(tensors['action_mask'].sum())}"
    )

    trainer = PolicyTrainer(
        model,
        TrainerConfig(
            share_prefix=args.share_prefix,
            ppo_epochs=args.ppo_epochs,
            micro_batch_tokens=args.micro_batch_tokens,
        ),
    )
    share = trainer.share_prefix

    def fused_on_actions():  # the scoring infopo train runs (core/scoring.py)
        return logprobs_and_information_gain(
            model,
            trajs,
            placeholder_ids,
            token_budget=budget,
            action_tokens_only=True,
            share_prefix=share,
        )

    budget = args.token_budget

    # ---- 1. IG scoring alone ---------------------------------------------------------------
    old_lp = trainer.logprobs(tensors)
    clocks: dict[str, list[Clock]] = {
        k: [] for k in ("naive", "fast", "fused", "fused_actions", "old_lp")
    }
    for r in range(args.repeats):
        if r < args.naive_repeats:
            c, naive = timed(
                lambda: information_gain(model, trajs, placeholder_ids, token_budget=budget)
            )
            clocks["naive"].append(c)
        c, fast = timed(
            lambda: information_gain_fast(
                model, trajs, placeholder_ids, old_lp, token_budget=budget, share_prefix=share
            )
        )
        clocks["fast"].append(c)
        c, (fused_lp, fused_ig) = timed(
            lambda: logprobs_and_information_gain(
                model, trajs, placeholder_ids, token_budget=budget, share_prefix=share
            )
        )
        clocks["fused"].append(c)
        c, _ = timed(fused_on_actions)
        clocks["fused_actions"].append(c)
        c, _ = timed(lambda: trainer.logprobs(tensors))
        clocks["old_lp"].append(c)
    med = {k: median(v) for k, v in clocks.items()}
    scored = [v for tr, g in zip(trajs, naive) for t, v in enumerate(g) if t in tr.scored_turns()]
    print(
        f"IG check: max |fast - naive| {max_abs_diff(fast, naive):.2e}, max |fused - naive| "
        f"{max_abs_diff(fused_ig, naive):.2e}, max |fused old lp - trainer old lp| on agent "
        f"tokens {(fused_lp - old_lp)[agent].abs().max().item():.2e}, mean |IG| "
        f"{statistics.mean(abs(v) for v in scored):.4f} over {len(scored)} turns"
    )
    naive_over_fast = med["naive"].wall / med["fast"].wall
    print(
        f"IG scoring (medians): naive {fmt(med['naive'])} | fast {fmt(med['fast'])} | ratio "
        f"{naive_over_fast:.2f}x wall, {med['naive'].cpu / med['fast'].cpu:.2f}x cpu"
    )
    print(
        f"  old log-probs alone (PolicyTrainer.logprobs) {fmt(med['old_lp'])} | fused old "
        f"log-probs + IG {fmt(med['fused'])} | same, old log-probs on agent tokens only "
        f"{fmt(med['fused_actions'])}"
    )

    # ---- 2. training step, rollout excluded --------------------------------------------------
    def step(kind: str) -> dict[str, Clock]:
        ph: dict[str, Clock] = {}
        c0, t0 = time.process_time(), time.perf_counter()
        for tr in trajs:
            tr.info_gain = None
        if kind == "infopo":
            ph["old_lp+ig"], (old, ig) = timed(fused_on_actions)
        elif kind == "grpo" and trainer.single_pass:
            old = None  # as infopo train: the update's own log-probs, detached, are the old ones
        else:
            ph["old_lp"], old = timed(lambda: trainer.logprobs(tensors))
            if kind == "two-pass":
                ph["ig"], ig = timed(
                    lambda: information_gain_fast(
                        model, trajs, placeholder_ids, old, token_budget=budget, share_prefix=share
                    )
                )

        def fuse():
            t = tensors
            if kind not in ("grpo", "grpo+old"):
                for tr, g in zip(trajs, ig):
                    tr.info_gain = g
                t = without_sampler(Batch(trajs).tensors(pad_id=tok.pad_token_id))
            mode = "none" if kind.startswith("grpo") else "variance_gated"
            adv, _ = fuse_advantages_with_stats(
                t["outcomes"], batch.groups, t["intrinsic"], t["action_mask"], mode=mode
            )
            return t, adv

        ph["fusion"], (step_tensors, adv) = timed(fuse)
        ph["update"], _ = timed(lambda: trainer.update(step_tensors, adv, old))
        ph["total"] = Clock(time.perf_counter() - t0, time.process_time() - c0)
        return ph

    kinds = ("grpo", "grpo+old", "infopo", "two-pass")
    step("grpo")  # warm-up: optimizer state allocation, allocator caches
    runs: dict[str, list[dict[str, Clock]]] = {k: [] for k in kinds}
    for _ in range(args.repeats):
        for k in kinds:
            runs[k].append(step(k))
    total = {k: median([r["total"] for r in runs[k]]) for k in kinds}
    for k in kinds:
        parts = " + ".join(
            f"{p} {median([r[p] for r in runs[k]]).wall:.3f}s" for p in runs[k][0] if p != "total"
        )
        print(
            f"step {k:8s} (median of {args.repeats}, rollout excluded): {fmt(total[k])} = {parts}"
        )
    ratio = {k: total[k].wall / total["grpo"].wall for k in kinds}
    ratio_cpu = {k: total[k].cpu / total["grpo"].cpu for k in kinds}
    over_old = total["infopo"].wall / total["grpo+old"].wall
    print(
        f"infopo/grpo step (share_prefix {share}): as trained (old log-probs and IG in one pass) "
        f"{ratio['infopo']:.3f}x wall, {ratio_cpu['infopo']:.3f}x cpu | two-pass (old log-probs, "
        f"then fast IG) {ratio['two-pass']:.3f}x wall, {ratio_cpu['two-pass']:.3f}x cpu | over "
        f"GRPO with an old-log-prob pass {over_old:.3f}x wall"
    )
    print(
        f"naive_over_fast={naive_over_fast:.2f} infopo_over_grpo={ratio['infopo']:.3f} "
        f"infopo_over_grpo_old={over_old:.3f}"
    )


if __name__ == "__main__":
    main()
