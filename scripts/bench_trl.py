"""Benchmark: one GRPO step of ``infopo train`` against one of TRL's ``GRPOTrainer``, same work.

Both sides train the same model folder (``--model``: ``tiny``, or ``smollm2-135m`` when its weights
are installed) on clarify opening prompts, ``--prompts`` prompts x ``--group-size`` completions of
at most ``--max-new-tokens`` tokens sampled at temperature 1, one AdamW step over one micro-batch in
float32, no KL term, no entropy bonus, the batch used once. infopo runs its own command,

    infopo train model=<m> fusion=none task.max_turns=1 ...   (single-turn episodes: the same work)

and TRL its trainer (``trl`` is in the ``bench`` extra: ``pip install -e .[bench]``). Each side runs
in its own process, ``--steps`` steps a run; the first step of every run (allocation, warm-up) is
dropped. The sides alternate, ``--repeats`` runs each, and the medians of the remaining step times
are compared; completion tokens per step are printed beside them, since a policy that stops earlier
has less to do. infopo runs twice per repeat: with ``trainer.share_prefix=true`` (a group's prompt
runs once in the update; TRL runs it once per completion) and without (``infopo-padded``). The last
lines are ``infopo_padded_over_trl=<ratio>`` and ``infopo_over_trl=<ratio>`` (median step time,
infopo / TRL).

    python scripts/bench_trl.py                       # tiny, 4 repeats
    python scripts/bench_trl.py --model smollm2-135m --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="a model config name: tiny | smollm2-135m")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4, help="steps per run; the first is dropped")
    ap.add_argument("--repeats", type=int, default=4, help="runs of each side, alternating")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", choices=["trl"], help=argparse.SUPPRESS)  # internal: one TRL run
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.steps < 2 or min(args.prompts, args.group_size, args.repeats) < 1:
        ap.error("--steps must be >= 2 (the first is dropped); the others >= 1")
    return args


def model_path(name: str) -> str:
    """The folder infopo resolves ``model=<name>`` to (built or found on first use)."""
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR
    from infopo_cli.zoo.registry import resolve_path

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"model={name}"])
    return resolve_path(cfg.model.name, cfg.model.get("path"), cfg.task)


def clarify_prompts(seed: int) -> list[list[dict]]:
    """The opening messages of clarify's training tasks, in a fixed shuffled order."""
    import random

    from infopo_cli.tasks.clarify import ClarifyTask

    task = ClarifyTask()
    prompts = [inst.messages for inst in task.instances(task.train_split)]
    random.Random(seed).shuffle(prompts)
    return prompts


def infopo_overrides(args: argparse.Namespace, run_dir: Path, share: bool = True) -> list[str]:
    """``infopo train`` doing TRL's work: single-turn GRPO, one micro-batch, one AdamW step."""
    return [
        f"trainer.share_prefix={str(share).lower()}",
        f"model={args.model}",
        "logger=none",
        "fusion=none",
        "task.max_turns=1",
        f"trainer.prompts_per_step={args.prompts}",
        f"trainer.group_size={args.group_size}",
        f"engine.max_new_tokens={args.max_new_tokens}",
        "engine.temperature=1.0",
        "engine.top_p=1.0",
        f"trainer.steps={args.steps}",
        f"trainer.lr={args.lr}",
        "trainer.lr_schedule=constant",
        "trainer.ppo_epochs=1",
        "trainer.mini_batches=1",
        "trainer.kl_coef=0",
        "trainer.entropy_coef=0",
        "trainer.micro_batch_tokens=1000000",
        "trainer.autocast=none",
        "trainer.eval_tasks=0",
        "trainer.save_every=0",
        f"seed={args.seed}",
        f"hydra.run.dir={run_dir}",
    ]


def run_infopo(
    args: argparse.Namespace, work: Path, share: bool = True
) -> list[tuple[float, float]]:
    """(step seconds, completion tokens) of each step of one ``infopo train`` run."""
    run_dir = Path(tempfile.mkdtemp(dir=work, prefix="infopo-"))
    overrides = infopo_overrides(args, run_dir, share)
    cmd = [sys.executable, "-m", "infopo_cli.cli", "train", *overrides]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"bench_trl: infopo train failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r]
    return [(r["time/step_s"], r["rollout/action_tokens"]) for r in rows]


def trl_side(args: argparse.Namespace) -> None:
    """One TRL run in this process: step times from a callback, written to ``args.out``."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    path = model_path(args.model)
    prompts = clarify_prompts(args.seed)
    data = Dataset.from_list([{"prompt": p} for p in prompts])
    steps: list[list[float]] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **kw):
            steps.append([time.perf_counter()])

        def on_step_end(self, *a, **kw):
            steps[-1].append(time.perf_counter())

        def on_log(self, _args, _state, _control, logs=None, **kw):
            if logs and "completions/mean_length" in logs and steps:
                n = args.prompts * args.group_size
                steps[-1].append(logs["completions/mean_length"] * n)

    def is_question(completions, **kw) -> list[float]:
        return [float("?" in c[0]["content"]) for c in completions]

    cfg = GRPOConfig(
        output_dir=str(args.out.parent / "trl-out"),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=args.prompts * args.group_size,
        gradient_accumulation_steps=1,
        num_generations=args.group_size,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        weight_decay=0.01,
        max_grad_norm=1.0,
        beta=0.0,
        num_iterations=1,
        max_steps=args.steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=is_question,
        args=cfg,
        train_dataset=data,
        processing_class=tok,
        callbacks=[Clock()],
    )
    trainer.train()
    out = [(s[1] - s[0], s[2] if len(s) > 2 else float("nan")) for s in steps if len(s) >= 2]
    args.out.write_text(json.dumps(out))


def run_trl(args: argparse.Namespace, work: Path) -> list[tuple[float, float]]:
    out = Path(tempfile.mkdtemp(dir=work, prefix="trl-")) / "steps.json"
    cmd = [sys.executable, __file__, "--side", "trl", "--out", str(out)]
    for key in ("model", "prompts", "group_size", "max_new_tokens", "steps", "lr", "seed"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"bench_trl: the TRL run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return [tuple(x) for x in json.loads(out.read_text())]


def main() -> None:
    args = parse_args()
    if args.side == "trl":
        trl_side(args)
        return
    try:
        import trl
    except ImportError:
        sys.exit("bench_trl: TRL is not installed; accepted: pip install -e '.[bench]'")
    print(
        f"model={args.model} ({model_path(args.model)}), {args.prompts} prompts x "
        f"{args.group_size}, <= {args.max_new_tokens} new tokens, trl {trl.__version__}, "
        f"torch threads {__import__('torch').get_num_threads()}",
        flush=True,
    )
    sides = {
        "infopo": run_infopo,
        "infopo-padded": lambda a, w: run_infopo(a, w, share=False),
        "trl": run_trl,
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    tokens: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="bench_trl-") as tmp:
        for r in range(args.repeats):
            for side, fn in sides.items():
                steps = fn(args, Path(tmp))[1:]  # the first step warms up
                times[side] += [s for s, _ in steps]
                tokens[side] += [n for _, n in steps]
                print(
                    f"repeat {r + 1} {side:13s}: steps "
                    + " ".join(f"{s:.2f}s" for s, _ in steps)
                    + f" | completion tokens/step {statistics.mean(n for _, n in steps):.0f}",
                    flush=True,
                )
    print("| side | median step s | completion tokens/step | tokens/s |")
    print("|---|---|---|---|")
    for side in sides:
        med, tok = statistics.median(times[side]), statistics.mean(tokens[side])
        print(f"| {side} | {med:.3f} | {tok:.0f} | {tok / med:.0f} |")
    trl_med = statistics.median(times["trl"])
    print(f"infopo_padded_over_trl={statistics.median(times['infopo-padded']) / trl_med:.3f}")
    print(f"infopo_over_trl={statistics.median(times['infopo']) / trl_med:.3f}")


if __name__ == "__main__":
    main()
