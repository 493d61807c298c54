"""The hf engine's per-turn key/value cache, side by side: the same clarify rollouts with
``engine.enable_prefix_caching`` on and off, alternating, same seeds; prints seconds and the ratio,
and checks that both sampled the same episodes.

    python scripts/bench_prefix_cache.py                          # the starter policy
    python scripts/bench_prefix_cache.py --model outputs/<run>/checkpoints/step_60   # a trained one
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="a model folder (default: the starter policy)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    args = ap.parse_args()

    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.core.rollout import rollout
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.runtime import models
    from infopo_cli.simulators.scripted import ScriptedSimulator
    from infopo_cli.tasks.clarify import ClarifyTask
    from infopo_cli.zoo.starter import starter_path

    path = args.model or str(starter_path())
    model = models.load_model(path, "float32", "cpu").eval()
    tok = models.load_tokenizer(path)
    chat = ChatFormat(tok)
    task = ClarifyTask()
    times: dict[bool, list[float]] = {True: [], False: []}
    turns, reused = [], 0.0
    for rep in range(args.repeats):
        instances = task.sample(task.train_split, args.prompts, random.Random(rep))
        played = {}
        for cached in (False, True):
            engine = HFEngine(model, tok, chat.stop_ids, prefix_cache=cached)
            torch.manual_seed(rep)
            t0 = time.perf_counter()
            batch = rollout(
                engine,
                chat,
                task,
                ScriptedSimulator(),
                instances,
                group_size=args.group_size,
                max_new_tokens=args.max_new_tokens,
                temperature=1.0,
                max_len=1024,
            )
            times[cached].append(time.perf_counter() - t0)
            played[cached] = [t.input_ids for t in batch.trajectories]
            if cached:
                reused += engine.stats["reused_tokens"] / max(engine.stats["prompt_tokens"], 1)
        if played[True] != played[False]:
            raise SystemExit("the cached and uncached engines sampled different episodes")
        turns += [len(t.turns) for t in batch.trajectories]
    off, on = statistics.mean(times[False]), statistics.mean(times[True])
    print(
        f"{args.repeats} x {args.prompts * args.group_size} episodes, mean {statistics.mean(turns):.1f} "
        f"turns, {path}"
    )
    print(f"prompt tokens served from the cache: {reused / args.repeats:.0%}")
    print(f"rollout seconds: no prefix cache {off:.2f}, prefix cache {on:.2f}")
    print(f"speedup: {off / on:.2f}x (same episodes sampled)")


if __name__ == "__main__":
    main()
