"""Benchmark: the update with micro-batches right-padded, packed (``trainer.packing``) and with
shared prefixes (``trainer.share_prefix``).

The batch is the default run's kind: ``--prompts`` clarify tasks, each played ``--group-size``
times by the demonstration policy the starter is warm-started on (``task.demo_action`` with the
starter's answer schedule, so episode lengths are the starter's; the rollouts of one task share
its prompt, as a step's groups do), through the ``tiny`` model (the starter's
architecture: a 2-layer, 256-wide Llama, clarify BPE tokenizer). The trainer settings are those of
``model=starter`` (conf/model_tuning/starter.yaml: ``micro_batch_tokens`` 1024, 2 PPO epochs, KL
0.01 against a frozen reference, entropy 0.001).

Printed per side: micro-batches, tokens run through the model and their ratio to the rows' own
tokens (above 1: padding; below 1: prefixes run once), the padding share of them, and the
median of ``--repeats`` timed updates (``PolicyTrainer.update``: the reference log-prob pass and
the PPO passes), as wall seconds and process CPU seconds (steadier when other processes share the
cores), with the old-log-prob pass beside it. The two sides alternate after one untimed warm-up
update each (optimizer state allocation). The last lines are ``packed_over_padded=<ratio>`` and
``shared_over_padded=<ratio>`` (median update wall time against the padded side's; the CPU-time
ratios are printed before them).
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
from collections.abc import Callable

import torch
from omegaconf import OmegaConf

from infopo_cli.config import CONF_DIR, TrainerConfig
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.rollout import rollout
from infopo_cli.core.trajectory import Batch
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.runtime.models import load_model, load_tokenizer
from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.clarify import ClarifyTask
from infopo_cli.zoo.registry import resolve_path
from infopo_cli.zoo.starter import STARTER


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step (B)")
    ap.add_argument("--group-size", type=int, default=4, help="rollouts per prompt (G)")
    ap.add_argument("--micro-batch-tokens", type=int, default=0, help="0: model=starter's (1024)")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    ap.add_argument("--repeats", type=int, default=5, help="timed updates of each side")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if min(args.prompts, args.group_size, args.repeats) < 1:
        ap.error("--prompts, --group-size and --repeats must be >= 1")
    return args


def starter_trainer_config(micro_batch_tokens: int) -> dict:
    """The trainer fields of ``model=starter``: conf/trainer/ppo.yaml under
    conf/model_tuning/starter.yaml."""
    base = OmegaConf.load(CONF_DIR / "trainer" / "ppo.yaml")
    tuned = OmegaConf.load(CONF_DIR / "model_tuning" / "starter.yaml").trainer
    cfg = OmegaConf.to_container(OmegaConf.merge(base, tuned))
    if micro_batch_tokens:
        cfg["micro_batch_tokens"] = micro_batch_tokens
    return cfg


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def run_tokens(trainer: PolicyTrainer, tensors: dict[str, torch.Tensor]) -> tuple[int, int, int]:
    """(micro-batches, tokens run through the model, real tokens among them) of one pass over the
    batch; the rest is padding."""
    rows = list(range(tensors["input_ids"].shape[0]))
    lengths = tensors["attention_mask"].sum(-1).tolist()
    batches = trainer._batches(tensors, rows)
    if trainer.share_prefix:  # groups: the shared block once, then each row's own tokens
        sizes = [[s + sum(lengths[r] - s for r in g) for s, g in mb] for mb in batches]
        return len(batches), sum(len(x) * max(x) for x in sizes), sum(map(sum, sizes))
    if trainer.packing:
        return len(batches), int(sum(lengths)), int(sum(lengths))
    run = sum(len(b) * max(lengths[r] for r in b) for b in batches)
    return len(batches), int(run), int(sum(lengths))


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = resolve_path("tiny", None)
    chat = ChatFormat(load_tokenizer(path))
    model = load_model(str(path), attn_implementation=args.attn)
    n = args.prompts * args.group_size
    task, rng = ClarifyTask(seed=args.seed), random.Random(args.seed)
    demo = dict(answer_start=STARTER["answer_start"], answer_rise=STARTER["answer_rise"])
    trajs = rollout(
        None,
        chat,
        task,
        ScriptedSimulator(),
        task.sample(task.train_split, args.prompts, rng),
        group_size=args.group_size,
        max_new_tokens=0,
        temperature=0.0,
        max_len=1024,
        policy=lambda env: task.demo_action(env, rng, **demo),
    ).trajectories
    tensors = Batch(trajs).tensors(pad_id=0)
    del tensors["sampler_logprobs"], tensors["sampler_mask"]  # hf engine: the trainer's own model
    lengths = tensors["attention_mask"].sum(-1).tolist()
    rng = random.Random(args.seed)
    adv = torch.tensor([rng.gauss(0, 1) for _ in range(n)])[:, None] * tensors["action_mask"]
    fields = starter_trainer_config(args.micro_batch_tokens)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    off = {"packing": False, "share_prefix": False}  # model=starter shares prefixes by default
    layouts = {
        "padded": off,
        "packed": {**off, "packing": True},
        "shared": {**off, "share_prefix": True},
    }
    sides = {}
    for name, fields_of in layouts.items():
        cfg = TrainerConfig(**{**fields, **fields_of})
        sides[name] = PolicyTrainer(copy.deepcopy(model).train(), cfg, ref_model=ref)
    old = sides["padded"].logprobs(tensors)
    print(
        f"batch: {n} clarify dialogues ({args.prompts} x {args.group_size}), lengths "
        f"{min(lengths)}-{max(lengths)} tokens (median {statistics.median(lengths):.0f}), "
        f"{sum(lengths)} in all | tiny model ({args.attn}) | micro_batch_tokens "
        f"{cfg.micro_batch_tokens}, ppo_epochs {cfg.ppo_epochs}, kl_coef {cfg.kl_coef}, "
        f"threads {torch.get_num_threads()}"
    )
    for trainer in sides.values():  # warm-up: optimizer state
        trainer.update(tensors, adv, old)
    upd = {name: [] for name in sides}
    olp = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, trainer in sides.items():
            olp[name].append(timed(lambda t=trainer: t.logprobs(tensors)))
            upd[name].append(timed(lambda t=trainer: t.update(tensors, adv, old)))

    def med(xs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)

    print(
        f"{'side':<8} {'micro-batches':>13} {'tokens run':>10} {'run/rows':>8} {'padding':>8} "
        f"{'update wall':>12} {'update cpu':>11} {'old-lp wall':>12}"
    )
    for name, trainer in sides.items():
        mbs, tokens, real = run_tokens(trainer, tensors)
        (uw, uc), (ow, _) = med(upd[name]), med(olp[name])
        print(
            f"{name:<8} {mbs:>13} {tokens:>10} "
            f"{tokens / sum(lengths):>8.3f} {1 - real / tokens:>8.1%} {uw:>11.3f}s {uc:>10.3f}s {ow:>11.3f}s"
        )
    for name in ("packed", "shared"):
        print(f"cpu: {name}_over_padded={med(upd[name])[1] / med(upd['padded'])[1]:.3f}")
    for name in ("packed", "shared"):
        print(f"{name}_over_padded={med(upd[name])[0] / med(upd['padded'])[0]:.3f}")


if __name__ == "__main__":
    main()
