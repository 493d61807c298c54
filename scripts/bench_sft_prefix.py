"""Benchmark: a task starter's SFT step with right-padded micro-batches against shared prefixes.

A task starter (``zoo/task_starter.py``) is built by SFT on its task's demonstrations, and every
dialogue of a task opens with the same system prompt (tools, policy, rules). ``sft_step(...,
share_prefix=True)`` runs that common beginning once per group of dialogues
(``core/shared_prefix.py``). This plays ``--dialogues`` demonstrations of the task, trains the
starter's tokenizer on them and times SFT steps of the starter's build settings (model size, batch,
micro-batch budget) both ways on the same batches, from the same initial weights, alternating, the
first step of each side dropped; it prints the largest loss difference between the two sides (the
same loss up to float rounding) and, last, ``shared_over_padded=<ratio>`` (median step wall time).

    python scripts/bench_sft_prefix.py tau2 --steps 4
    python scripts/bench_sft_prefix.py usergym gym=function
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from omegaconf import OmegaConf

from infopo_cli.config import CONF_DIR
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.sft import sft_step
from infopo_cli.zoo.blocks import small_llama, train_tokenizer
from infopo_cli.zoo.task_starter import build_params, demo_dialogues, make_task


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", help="a task config name: sokoban | shop | coding | usergym | tau2")
    ap.add_argument("overrides", nargs="*", help="task config overrides, e.g. gym=function")
    ap.add_argument("--steps", type=int, default=6, help="timed steps of each side (+1 dropped)")
    ap.add_argument("--dialogues", type=int, default=100, help="demonstrations to draw from")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (CONF_DIR / "task" / f"{args.task}.yaml").exists() or args.task == "clarify":
        ap.error(f"task {args.task!r}: accepted sokoban, shop, coding, usergym, tau2")
    if args.steps < 1 or args.dialogues < 1:
        ap.error("--steps and --dialogues must be >= 1")
    return args


def main() -> None:
    args = parse_args()
    conf = OmegaConf.merge(
        OmegaConf.load(CONF_DIR / "task" / f"{args.task}.yaml"),
        OmegaConf.from_dotlist(args.overrides),
    )
    task_cfg = OmegaConf.to_container(conf, resolve=True)
    task, p = make_task(task_cfg), build_params(task_cfg)
    byte_tok = train_tokenizer(["a"], 300)  # as the build does: the text first, then its tokenizer
    demos = demo_dialogues(task, ChatFormat(byte_tok), args.dialogues, args.seed, 10**7)
    tok = train_tokenizer(
        [byte_tok.decode(t.input_ids, skip_special_tokens=True) for t in demos], p["vocab"]
    )
    trajs = demo_dialogues(task, ChatFormat(tok), args.dialogues, args.seed, p["max_len"])
    lengths = [len(t.input_ids) for t in trajs]
    models, opts = {}, {}
    for share in (False, True):
        models[share] = small_llama(
            len(tok), p["hidden"], p["layers"], p["heads"], seed=args.seed, max_len=p["max_len"]
        )
        opts[share] = torch.optim.AdamW(models[share].parameters(), lr=p["lr"])
    print(
        f"{args.task} {' '.join(args.overrides)}: {len(trajs)} dialogues, "
        f"{statistics.median(lengths):.0f} tokens median, {max(lengths)} max | batch {p['batch']}, "
        f"micro_batch_tokens {p['micro_batch_tokens']}, hidden {p['hidden']}, "
        f"threads {torch.get_num_threads()}",
        flush=True,
    )
    rng = random.Random(args.seed)
    times: dict[bool, list[float]] = {False: [], True: []}
    losses: dict[bool, list[float]] = {False: [], True: []}
    for i in range(args.steps + 1):
        batch = [trajs[rng.randrange(len(trajs))] for _ in range(p["batch"])]
        for share in (False, True) if i % 2 == 0 else (True, False):
            t0 = time.perf_counter()
            loss = sft_step(
                models[share],
                opts[share],
                batch,
                tok.pad_token_id,
                p["micro_batch_tokens"],
                1.0,
                share_prefix=share,
            )
            times[share].append(time.perf_counter() - t0)
            losses[share].append(loss)
    med = {share: statistics.median(ts[1:]) for share, ts in times.items()}
    diff = max(abs(a - b) for a, b in zip(losses[False], losses[True], strict=True))
    print(
        f"step: padded {med[False]:.3f}s, shared {med[True]:.3f}s; largest loss difference {diff:.1e}"
    )
    print(f"shared_over_padded={med[True] / med[False]:.3f}")


if __name__ == "__main__":
    main()
