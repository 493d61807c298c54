"""GPU proof of the memory and precision fixes, self-contained (torch, transformers, infopo_cli.core).

Builds a randomly initialised Qwen2 at Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2
key/value heads, intermediate 4864, vocab 152,064) from its config, nothing downloaded, and checks:

1. update_memory: peak memory of one PPO micro-batch (forward + backward, 16,384 tokens, fp32
   weights, bf16 autocast, gradient checkpointing), the old way (full [tokens, V] float32 logits
   and log-softmax, reimplemented below) against ``forward_logprobs``'s chunked head. Same loss.
2. bf16_full_ft: fraction of weight elements changed after 10 AdamW steps at lr 1e-5, fp32 master
   weights under bf16 autocast against pure bf16 weights (norm weights shown apart).
3. hf_prefill: peak memory of the HF engine's prefill (32 rows x 1,024 tokens, bf16), logits for
   the last position only against logits for every position.

One JSON line per check, then a summary line. Memory: ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats`` (on CPU, ``--small``: the process's peak resident set, reset per check,
which is only indicative). Needs no hydra/omegaconf/vllm:

    python scripts/gpu_proof.py                      # CUDA, ~2 minutes on an H200
    python scripts/gpu_proof.py --small --device cpu # tiny shapes, seconds: a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infopo_cli.core.logprobs import forward_logprobs  # noqa: E402
from infopo_cli.core.losses import entropy_bonus, ppo_clip_loss  # noqa: E402
from infopo_cli.engines.hf import HFEngine  # noqa: E402

# the update's forward before the chunked head, kept in one place for both measurements
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import old_forward_logprobs  # noqa: E402

MiB = 2**20
FULL = dict(hidden=896, layers=24, heads=14, kv=2, inter=4864, vocab=152064, rows=8, seq=2048)
SMALL = dict(hidden=64, layers=2, heads=4, kv=2, inter=128, vocab=512, rows=4, seq=64)


def build(shape: dict, dtype: torch.dtype, device: str):
    """A random Qwen2 of ``shape`` (tied head, as Qwen2.5-0.5B), built on ``device``."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    cfg = Qwen2Config(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        intermediate_size=shape["inter"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv"],
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(cfg, dtype=dtype)


class Peak:
    """Peak memory (bytes) of the block: CUDA allocator, or VmHWM on CPU (reset on entry)."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        else:
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated()
        else:
            lines = Path("/proc/self/status").read_text().splitlines()
            self.bytes = next(int(x.split()[1]) * 1024 for x in lines if x.startswith("VmHWM:"))


def micro_step(model, fwd, ids, action) -> float:
    """Forward and backward of one PPO-clip micro-batch with the entropy bonus; returns the loss."""
    mask = torch.ones_like(ids)
    lp, ent = fwd(model, ids, mask, with_entropy=True, autocast=True)
    adv = torch.linspace(-1, 1, ids.shape[0], device=ids.device)[:, None] * action
    total = float(action.sum())
    pg, _ = ppo_clip_loss(lp, lp.detach() - 0.01, adv, action, num_tokens=total)
    loss = pg - 1e-3 * entropy_bonus(ent, action, num_tokens=total)
    loss.backward()
    return loss.item()


def check_update_memory(shape: dict, device: str) -> dict:
    model = build(shape, torch.float32, device).train()
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, shape["vocab"], (shape["rows"], shape["seq"]), generator=g).to(device)
    action = torch.zeros(ids.shape, device=device)
    action[:, shape["seq"] // 4 :] = 1.0
    out = {"check": "update_memory", "tokens": ids.numel(), "vocab": shape["vocab"]}
    for name, fwd in (("old", old_forward_logprobs), ("new", forward_logprobs)):
        model.zero_grad(set_to_none=True)
        with Peak(device) as p:
            out[f"loss_{name}"] = micro_step(model, fwd, ids, action)
        out[f"peak_{name}_mb"] = round(p.bytes / MiB)
    out["ratio"] = round(out["peak_new_mb"] / out["peak_old_mb"], 3)
    same = abs(out["loss_old"] - out["loss_new"]) < 1e-3
    out["ok"] = same and (shape is SMALL or out["ratio"] <= 1 / 3)  # small: too small to tell
    return out


def changed_fraction(model, dtype: torch.dtype, autocast: bool, device: str, seq: int, steps=10):
    """(all weights, norm weights): fraction of elements moved by ``steps`` AdamW steps at 1e-5."""
    model = model.to(dtype).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    g = torch.Generator().manual_seed(2)
    for _ in range(steps):
        ids = torch.randint(0, model.config.vocab_size, (4, seq), generator=g).to(device)
        lp, _ = forward_logprobs(model, ids, torch.ones_like(ids), autocast=autocast)
        (-lp[:, 1:].mean()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    moved = {n: int((p.detach() != before[n]).sum()) for n, p in model.named_parameters()}
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    norms = [n for n in sizes if "norm" in n]
    frac = sum(moved.values()) / sum(sizes.values())
    return round(frac, 4), round(sum(moved[n] for n in norms) / sum(sizes[n] for n in norms), 4)


def check_bf16_full_ft(shape: dict, device: str) -> dict:
    seq = min(shape["seq"], 256)
    master = changed_fraction(build(shape, torch.float32, device), torch.float32, True, device, seq)
    pure = changed_fraction(build(shape, torch.float32, device), torch.bfloat16, False, device, seq)
    return {
        "check": "bf16_full_ft",
        "steps": 10,
        "lr": 1e-5,
        "fp32_master_changed": master[0],
        "fp32_master_norms_changed": master[1],
        "pure_bf16_changed": pure[0],
        "pure_bf16_norms_changed": pure[1],
        "ok": master[0] > 0.9 and master[1] > 0.9 and pure[1] < 0.5,
    }


def check_hf_prefill(shape: dict, device: str) -> dict:
    model = build(shape, torch.bfloat16, device).eval()
    tok = type("Tok", (), {"pad_token_id": 0})()
    rows, seq = (32, 1024) if shape is FULL else (4, 32)
    g = torch.Generator().manual_seed(3)
    prompts = torch.randint(1, shape["vocab"], (rows, seq), generator=g).tolist()
    out = {"check": "hf_prefill", "rows": rows, "prompt_tokens": seq}
    for name, last_only in (("all_positions", False), ("last_position", True)):
        engine = HFEngine(model, tok, [shape["vocab"] + 1], prefix_cache=False)
        engine._last_only = last_only
        with Peak(device) as p:
            engine.generate(prompts, max_new_tokens=1, temperature=0.0)
        out[f"peak_{name}_mb"] = round(p.bytes / MiB)
    out["ok"] = shape is SMALL or out["peak_last_position_mb"] < out["peak_all_positions_mb"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="tiny shapes (CPU smoke test)")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_proof: no CUDA device (use --small --device cpu for a smoke test)")
    shape = SMALL if args.small else FULL
    results, t0 = [], time.time()
    for check in (check_update_memory, check_bf16_full_ft, check_hf_prefill):
        t = time.time()
        r = check(shape, args.device)
        r["seconds"] = round(time.time() - t, 1)
        print(json.dumps(r), flush=True)
        results.append(r)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    summary = {
        "summary": "gpu_proof",
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "small": args.small,
        "passed": sum(r["ok"] for r in results),
        "checks": len(results),
        "ok": all(r["ok"] for r in results),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
