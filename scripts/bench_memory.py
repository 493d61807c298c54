"""Peak memory of one update micro-batch (PPO-clip): full-vocabulary logits against the chunked head,
or gradient checkpointing off against on.

Each configuration runs in a fresh subprocess, so one's allocations cannot hide in the other's peak.
On CPU the figure is the process's peak resident set (Linux ``VmHWM``, reset once the model, the
batch and the optimizer are in place, so that loading does not count; ``ru_maxrss`` elsewhere),
which sees everything torch allocates, unlike tracemalloc. On CUDA it is
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``. Either way the reported peak
includes the weights, their gradients and AdamW's first step.

With ``--vocab V`` the model is a 2-layer Qwen2 at Qwen2.5-0.5B's width (hidden 896, 14 heads, 2
key/value heads, tied head) over a V-token vocabulary, and the two configurations are

- old: the update as it was, the whole [tokens, V] logits in float32, then a log-softmax and its exp
  for the entropy (``old_forward_logprobs`` below, kept here for this comparison only);
- new: ``infopo_cli.core.logprobs.forward_logprobs``, the head applied 1024 rows at a time.

The last line is ``peak_old_mb=<X> peak_new_mb=<Y>``.

    python scripts/bench_memory.py --vocab 152064                 # 16,384 tokens: ~45 GB old way
    python scripts/bench_memory.py --vocab 152064 --tokens 2048   # fits a 16 GB machine
    python scripts/bench_memory.py --vocab 152064 --device cuda
    python scripts/bench_memory.py --model tiny --seq 128         # checkpointing off / on
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

MiB = 2**20


def _vm_hwm() -> int | None:
    """Peak resident set in bytes from /proc (Linux), or None."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _current_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def old_forward_logprobs(model, input_ids, attention_mask, *, with_entropy=False, autocast=False):
    """The update's forward before the chunked head: [N, L, V] logits, float32 log-softmax pieces."""
    import torch

    from infopo_cli.core.logprobs import position_ids_from_mask

    dev = input_ids.device.type
    ctx = torch.autocast(dev, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with ctx:
        logits = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
            use_cache=False,
        ).logits[:, :-1]
    real = (attention_mask[:, :-1] * attention_mask[:, 1:]).float()
    full = logits.float()
    picked = full.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    lp = (picked - torch.logsumexp(full, dim=-1)) * real
    lp = torch.cat([torch.zeros_like(lp[:, :1]), lp], dim=1)
    if not with_entropy:
        return lp, None
    logp = torch.log_softmax(full, dim=-1)
    ent = -(logp.exp() * logp).sum(-1)
    return lp, torch.cat([torch.zeros_like(ent[:, :1]), ent], dim=1)


def _qwen_shaped(vocab: int, dtype: str, device: str):
    """2 layers of Qwen2.5-0.5B over ``vocab`` tokens, random weights (no download)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=2,
        num_attention_heads=14,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    return AutoModelForCausalLM.from_config(cfg, dtype=dt).to(device)


def _build(args: argparse.Namespace):
    """The model, the way of computing log-probs patched in for ``--way old``."""
    import infopo_cli.core.update as update
    from infopo_cli.runtime import models

    if args.way == "old":
        update.forward_logprobs = old_forward_logprobs
    if args.vocab:
        return _qwen_shaped(args.vocab, args.dtype, args.device)
    from infopo_cli.zoo.smollm2 import smollm2_path
    from infopo_cli.zoo.tiny import tiny_path

    path = str(smollm2_path() if args.model == "smollm2-135m" else tiny_path())
    return models.load_model(path, args.dtype, args.device, args.checkpointing)


def _peak(cuda: bool, reset: bool) -> tuple[int, str]:
    import torch

    if cuda:
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated"
    hwm = _vm_hwm() if reset else None
    if hwm is not None:
        return hwm, "VmHWM (reset after loading)"
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, "ru_maxrss (with loading)"


def child(args: argparse.Namespace) -> dict:
    """Build the model, run one update micro-batch on a random batch, report its peak memory."""
    import torch

    from infopo_cli.config import TrainerConfig
    from infopo_cli.core.update import PolicyTrainer

    torch.manual_seed(0)
    model = _build(args)
    rows = args.tokens // args.seq if args.tokens else args.batch
    cfg = TrainerConfig(micro_batch_tokens=rows * args.seq, autocast=args.autocast)
    trainer = PolicyTrainer(model, cfg)
    ids = torch.randint(0, model.config.vocab_size, (rows, args.seq))
    action = torch.zeros(rows, args.seq)
    action[:, args.seq // 4 :] = 1.0  # the first quarter plays the prompt
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    adv = torch.linspace(-1, 1, rows)[:, None] * action
    old = -5.0 * action  # any old log-probs: the memory does not depend on them
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        loaded = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        reset = True
    else:
        loaded, reset = _current_rss(), _reset_peak()
    t0 = time.time()
    metrics = trainer.update(tensors, adv, old)
    seconds = time.time() - t0
    peak, source = _peak(cuda, reset)
    return {
        "peak": peak,
        "loaded": loaded,
        "seconds": seconds,
        "source": source,
        "tokens": rows * args.seq,
        "loss": metrics["loss/policy"],
    }


def _run_children(args: argparse.Namespace, pairs) -> dict[str, dict]:
    base = [sys.executable, __file__, "--child", *sys.argv[1:]]
    out = {}
    for name, extra in pairs:
        p = subprocess.run([*base, *extra], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{name} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
        out[name] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def _table(title: str, names: tuple[str, str], a: dict, b: dict) -> None:
    print(title + f"; memory: {a['source']}")
    print(f"{'':28}{names[0]:>20}{names[1]:>20}")
    for label, key, scale in (
        ("peak (MiB)", "peak", MiB),
        ("loaded (MiB)", "loaded", MiB),
        ("step time (s)", "seconds", 1),
    ):
        print(f"{label:28}{a[key] / scale:>20.1f}{b[key] / scale:>20.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=0, help="old vs new head at this vocabulary")
    ap.add_argument(
        "--tokens", type=int, default=0, help="tokens of the micro-batch (--vocab: 16384)"
    )
    ap.add_argument("--model", choices=("smollm2-135m", "tiny"), default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=0, help="row length (default 512; --vocab: 2048)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--autocast", default="none", choices=("none", "bf16"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--way", default="new", choices=("old", "new"), help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.seq = args.seq or (2048 if args.vocab else 512)
    if args.vocab and not args.tokens:
        args.tokens = 16384
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.vocab:
        out = _run_children(args, (("old", ["--way", "old"]), ("new", ["--way", "new"])))
        old, new = out["old"], out["new"]
        _table(
            f"2-layer Qwen2 (hidden 896), vocab {args.vocab}, one update micro-batch of "
            f"{old['tokens']} tokens, {args.dtype}, autocast {args.autocast}, {args.device}",
            ("full logits (old)", "chunked head (new)"),
            old,
            new,
        )
        print(f"policy loss old {old['loss']:.6f} new {new['loss']:.6f}")
        print(f"peak_old_mb={old['peak'] / MiB:.0f} peak_new_mb={new['peak'] / MiB:.0f}")
        return
    if args.model == "smollm2-135m":  # build the cached model once, outside the measurements
        from infopo_cli.zoo.smollm2 import smollm2_path

        smollm2_path()
    out = _run_children(args, (("off", []), ("on", ["--checkpointing"])))
    off, on = out["off"], out["on"]
    _table(
        f"{args.model}, one update of {args.batch} x {args.seq} tokens, {args.dtype}, "
        f"autocast {args.autocast}, {args.device}",
        ("checkpointing off", "checkpointing on"),
        off,
        on,
    )
    d_off, d_on = off["peak"] - off["loaded"], on["peak"] - on["loaded"]
    print(f"step memory with / without checkpointing: {d_on / d_off:.2f}")


if __name__ == "__main__":
    main()
