"""Peak memory of one training step (PPO-clip update) with and without gradient checkpointing.

Each configuration runs in a fresh subprocess, so one's allocations cannot hide in the other's peak.
On CPU the figure is the process's peak resident set (Linux ``VmHWM``, reset after the model is
loaded so that loading does not count; ``ru_maxrss`` elsewhere), which sees everything torch
allocates, unlike tracemalloc. On CUDA it is ``torch.cuda.max_memory_allocated``. Both are printed as
the step's peak and its increase over the loaded model; the last line is the ratio of the increases.

    python scripts/bench_memory.py                          # SmolLM2-135M, 4 x 512 tokens
    python scripts/bench_memory.py --model tiny --seq 128   # seconds, for a smoke test
"""

from __future__ import annotations

import argparse
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


def child(args: argparse.Namespace) -> dict:
    """Load the model, run one update on a random batch, report its peak memory."""
    import torch

    from infopo_cli.config import TrainerConfig
    from infopo_cli.core.update import PolicyTrainer
    from infopo_cli.runtime import models
    from infopo_cli.zoo.smollm2 import smollm2_path
    from infopo_cli.zoo.tiny import tiny_path

    torch.manual_seed(0)
    path = str(smollm2_path() if args.model == "smollm2-135m" else tiny_path())
    model = models.load_model(path, args.dtype, args.device, args.checkpointing)
    cfg = TrainerConfig(micro_batch_tokens=args.micro_batch_tokens, autocast=args.autocast)
    trainer = PolicyTrainer(model, cfg)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (args.batch, args.seq))
    action = torch.zeros(args.batch, args.seq)
    action[:, args.seq // 4 :] = 1.0  # the first quarter plays the prompt
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    adv = torch.linspace(-1, 1, args.batch)[:, None] * action
    old = trainer.logprobs(tensors)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        loaded = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        loaded = _current_rss()
        reset = _reset_peak()
    t0 = time.time()
    trainer.update(tensors, adv, old)
    seconds = time.time() - t0
    if cuda:
        torch.cuda.synchronize()
        peak, source = torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated"
    else:
        hwm = _vm_hwm() if reset else None
        if hwm is not None:
            peak, source = hwm, "VmHWM (reset after loading)"
        else:  # ru_maxrss is KiB on Linux, bytes on macOS; it includes loading
            scale = 1 if sys.platform == "darwin" else 1024
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
            source = "ru_maxrss (includes loading)"
    return {"peak": peak, "loaded": loaded, "seconds": seconds, "source": source}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("smollm2-135m", "tiny"), default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--autocast", default="none", choices=("none", "bf16"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--micro-batch-tokens", type=int, default=1 << 20, help="default: the whole batch at once"
    )
    ap.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.model == "smollm2-135m":  # build the cached model once, outside the measurements
        from infopo_cli.zoo.smollm2 import smollm2_path

        smollm2_path()
    base = [sys.executable, __file__, "--child", *sys.argv[1:]]
    out = {}
    for name, extra in (("off", []), ("on", ["--checkpointing"])):
        p = subprocess.run([*base, *extra], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"gradient checkpointing {name} failed:\n{p.stderr[-3000:]}")
        out[name] = json.loads(p.stdout.strip().splitlines()[-1])
    off, on = out["off"], out["on"]
    print(
        f"{args.model}, one update of {args.batch} x {args.seq} tokens, {args.dtype}, "
        f"autocast {args.autocast}, {args.device}; memory: {off['source']}"
    )
    print(f"{'':28}{'checkpointing off':>20}{'checkpointing on':>20}")
    print(f"{'peak (MiB)':28}{off['peak'] / MiB:>20.0f}{on['peak'] / MiB:>20.0f}")
    print(f"{'loaded model (MiB)':28}{off['loaded'] / MiB:>20.0f}{on['loaded'] / MiB:>20.0f}")
    d_off, d_on = off["peak"] - off["loaded"], on["peak"] - on["loaded"]
    print(f"{'step increase (MiB)':28}{d_off / MiB:>20.0f}{d_on / MiB:>20.0f}")
    print(f"{'step time (s)':28}{off['seconds']:>20.1f}{on['seconds']:>20.1f}")
    print(
        f"step memory with / without checkpointing: {d_on / d_off:.2f} "
        f"(peak {on['peak'] / off['peak']:.2f})"
    )


if __name__ == "__main__":
    main()
