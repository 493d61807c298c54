"""LoRA with engine=vllm: push and generation time of an engine with a LoRA slot (the adapter pushed
alone) against a plain engine (the merged weights pushed), for ``model.lora.sync``.

Both engines live in one process and the rounds alternate between them (which goes first flips
each round), so that a busy machine slows both alike; the summary is the median of the per-round
ratios. Generation is greedy from the same adapter, so both produce the same number of tokens.

    python scripts/bench_lora_sync.py                                    # tiny, float32, r=4
    python scripts/bench_lora_sync.py --shape smollm2-135m --dtype bfloat16 --rank 16 --tokens 16

``--shape smollm2-135m`` builds random weights of SmolLM2-135M's shape (30 layers, hidden 576,
3 key/value heads) over tiny's 2048-token vocabulary into a temp folder: nothing is downloaded,
and timing does not depend on the values.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import torch


def random_smollm2_shape(out: str, tokenizer_from: str) -> str:
    from transformers import LlamaConfig, LlamaForCausalLM

    from infopo_cli.runtime.models import load_tokenizer

    cfg = LlamaConfig(
        vocab_size=2048,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    load_tokenizer(tokenizer_from).save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="built-in model name or a folder")
    ap.add_argument("--shape", choices=["smollm2-135m"], help="random weights of this shape")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()

    from infopo_cli.config import EngineConfig, LoraConfig
    from infopo_cli.engines.vllm import VLLMEngine
    from infopo_cli.recipes.setup import push_policy
    from infopo_cli.runtime import models
    from infopo_cli.runtime.lora import add_adapters
    from infopo_cli.zoo.registry import resolve_path

    path = str(resolve_path(args.model, None))
    scratch = tempfile.mkdtemp(prefix="bench-lora-")
    if args.shape:
        path = random_smollm2_shape(scratch, path)
    lcfg = LoraConfig(r=args.rank, alpha=2 * args.rank)
    model = add_adapters(models.load_model(path, "float32", "cpu"), lcfg)
    with torch.no_grad():  # B starts at zero: a moved adapter
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.01)
    ecfg = EngineConfig(name="vllm", dtype=args.dtype, batch_size=max(8, args.prompts))
    engines = {
        mode: VLLMEngine(
            ecfg, path, [2], max_model_len=1024, lora_rank=args.rank if mode == "adapter" else 0
        )
        for mode in ("adapter", "merged")
    }
    pushes: dict[str, list[float]] = {m: [] for m in engines}
    for _ in range(3):
        for mode, eng in engines.items():
            pushes[mode].append(push_policy(eng, model))
    prompts = [list(range(3 + i, 60 + i)) for i in range(args.prompts)]
    times: dict[str, list[float]] = {m: [] for m in engines}
    tokens = {}
    for r in range(args.rounds):
        for mode in ("adapter", "merged") if r % 2 == 0 else ("merged", "adapter"):
            t0 = time.perf_counter()
            out = engines[mode].generate(prompts, max_new_tokens=args.tokens, temperature=0.0)
            times[mode].append(time.perf_counter() - t0)
            tokens[mode] = sum(len(g.token_ids) for g in out)
    ratios = [a / m for a, m in zip(times["adapter"], times["merged"])]
    print(f"model {path} ({args.shape or args.model}), {args.dtype}, r={args.rank}")
    for mode in engines:
        print(
            f"{mode:8s} push median {statistics.median(pushes[mode]) * 1e3:8.1f} ms | "
            f"generate {args.prompts}x{args.tokens} ({tokens[mode]} tokens) median "
            f"{statistics.median(times[mode]):6.2f} s"
        )
    print(
        f"generate adapter / merged: median {statistics.median(ratios):.2f} "
        f"(rounds {min(ratios):.2f} to {max(ratios):.2f})"
    )
    print(f"adapter bytes per push: {engines['adapter'].push_stats()['engine/adapter_bytes']:.0f}")
    for eng in engines.values():
        eng.close()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
