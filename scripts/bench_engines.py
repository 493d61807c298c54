"""Rollout throughput of engine=hf and engine=vllm on the same multi-turn batch.

Plays the clarify task (scripted user) with SmolLM2-135M-Instruct, P prompts x G rollouts, through
``infopo_cli.core.rollout.rollout`` exactly as training does, once per engine, and reports generated
tokens per second of engine time (time inside ``generate`` only: the environment and the user are
the same for both) and the vllm/hf ratio. It also times the weight push of engine=vllm both ways
(in-memory tensors and a safetensors file) and the engine's log-prob gap to the fp32 trainer model.

    python scripts/bench_engines.py                      # 16 prompts x 4, 3 turns, 48 new tokens
    python scripts/bench_engines.py --prompts 4 --max-turns 2 --engines vllm

Each engine gets one warm-up call before timing (vLLM's first batch pays a one-off start-up cost
of tens of seconds on CPU). The load average is printed: on a shared machine, figures taken under
different loads are not comparable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from infopo_cli.config import EngineConfig
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.rollout import rollout
from infopo_cli.engines.base import Engine
from infopo_cli.runtime import models
from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.clarify import ClarifyTask
from infopo_cli.zoo.registry import resolve_path


class TimedEngine(Engine):
    """Counts generated tokens and the seconds spent inside ``generate``."""

    def __init__(self, inner: Engine):
        self.inner = inner
        self.tokens = 0
        self.seconds = 0.0
        self.calls = 0

    def generate(self, prompts, *, max_new_tokens, temperature, top_p=1.0):
        t0 = time.perf_counter()
        out = self.inner.generate(
            prompts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p
        )
        self.seconds += time.perf_counter() - t0
        self.tokens += sum(len(g.token_ids) for g in out)
        self.calls += 1
        return out


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def bench_rollout(name: str, engine: Engine, chat, task, instances, args) -> dict:
    warm = chat.prompt_ids(instances[0].messages)
    engine.generate([warm] * 2, max_new_tokens=8, temperature=1.0)
    timed = TimedEngine(engine)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    batch = rollout(
        timed,
        chat,
        task,
        ScriptedSimulator(),
        instances,
        group_size=args.group_size,
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        max_len=args.max_len,
    )
    wall = time.perf_counter() - t0
    turns = sum(len(t.turns) for t in batch.trajectories)
    res = {
        "engine": name,
        "tokens": timed.tokens,
        "generate_s": timed.seconds,
        "tokens_per_s": timed.tokens / timed.seconds,
        "rollout_s": wall,
        "generate_calls": timed.calls,
        "turns": turns,
    }
    print(
        f"{name:>5}: {timed.tokens} tokens in {timed.seconds:.1f} s of generate "
        f"({res['tokens_per_s']:.1f} tokens/s), {timed.calls} calls, {turns} turns, "
        f"rollout {wall:.1f} s | {load()}",
        flush=True,
    )
    return res


def bench_sync(engine, model, repeats: int) -> dict[str, float]:
    out = {}
    for mode in ("tensors", "files"):
        engine.sync_mode = mode
        times = [engine.update_weights(model) for _ in range(repeats)]
        out[mode] = statistics.median(times)
        print(
            f"weight push ({mode}): median {out[mode]:.2f} s over {repeats} "
            f"({', '.join(f'{t:.2f}' for t in times)})",
            flush=True,
        )
    engine.sync_mode = "tensors"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="hf,vllm", help="comma-separated: hf, vllm")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--max-len", type=int, default=2048)
    ap.add_argument("--vllm-dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument(
        "--hf-autocast", action="store_true", help="bf16 autocast for hf (trainer.autocast=bf16)"
    )
    ap.add_argument("--sync-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    path = resolve_path("smollm2-135m", None)
    tok = models.load_tokenizer(path)
    chat = ChatFormat(tok)
    model = models.load_model(path, "float32", "cpu")
    task = ClarifyTask(name="clarify", max_turns=args.max_turns, seed=0)
    instances = task.instances("train")[: args.prompts]
    print(
        f"SmolLM2-135M, clarify, {args.prompts} prompts x {args.group_size}, up to "
        f"{args.max_turns} turns x {args.max_new_tokens} new tokens, temperature 1.0, "
        f"torch threads {torch.get_num_threads()} | {load()}",
        flush=True,
    )
    results = {}
    if "hf" in engines:
        from infopo_cli.engines.hf import HFEngine

        hf = HFEngine(model, tok, chat.stop_ids, batch_size=64, autocast=args.hf_autocast)
        results["hf"] = bench_rollout("hf", hf, chat, task, instances, args)
    if "vllm" in engines:
        from infopo_cli.engines.vllm import VLLMEngine

        t0 = time.perf_counter()
        ecfg = EngineConfig(name="vllm", dtype=args.vllm_dtype, batch_size=64)
        vl = VLLMEngine(ecfg, path, chat.stop_ids, max_model_len=args.max_len, seed=args.seed)
        print(f"vllm engine start: {time.perf_counter() - t0:.1f} s", flush=True)
        results["vllm"] = bench_rollout("vllm", vl, chat, task, instances, args)
        bench_sync(vl, model, args.sync_repeats)
        probe = chat.prompt_ids(instances[0].messages) + chat.encode(
            "Which cuisine would you like? ANSWER: cuisine=thai"
        )
        gap = vl.check(model, probe)["engine/logprob_diff"]
        print(f"largest |vllm ({args.vllm_dtype}) - trainer (fp32)| log-prob: {gap:.4f}")
        vl.close()
    if "hf" in results and "vllm" in results:
        ratio = results["vllm"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
        print(
            f"vllm / hf generated tokens per second: {ratio:.2f}x "
            f"({results['vllm']['tokens_per_s']:.1f} vs {results['hf']['tokens_per_s']:.1f})"
        )


if __name__ == "__main__":
    main()
