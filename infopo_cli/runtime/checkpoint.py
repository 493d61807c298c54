"""Checkpoints: model (Hugging Face format), tokenizer, optimizer, RNG states, step, data position.

The model is always the plain full Hugging Face folder (a LoRA run: the PEFT adapter folder, with
``adapter_config.json`` naming the base model) and the optimizer state is full and unsharded, so a
checkpoint written by any number of ranks resumes on any other. Only rank 0 writes.

Each checkpoint is written into a hidden temp folder and renamed into place, so a run killed while
saving never leaves a half-written ``step_N`` that resume would load.

``trainer.pt`` is loaded onto the CPU (``map_location``): a file written on cuda:0 then resumes on a
CPU, or on any rank, whose optimizer moves the state onto its own parameters' device; without it
every DDP rank would put its copy of the optimizer state on cuda:0. The CUDA generator of the
current device is saved with the others when CUDA is in use, so a resumed GPU run samples what the
uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

PREFIX = "step_"


def rng_state() -> dict:
    """Python, numpy and torch CPU generators, and the current CUDA device's when CUDA is up."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # a CPU ByteTensor
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` saved; a CUDA state is skipped where there is no CUDA (a GPU
    checkpoint resumed on a CPU), and a CPU checkpoint leaves the CUDA generator as seeded."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


def save_checkpoint(
    run_dir: Path,
    step: int,
    model,
    tokenizer,
    trainer_state: dict,
    meta: dict,
    keep: int = 2,
    model_state: dict | None = None,
) -> Path:
    """``model_state``: the full state dict to write when the model's own is sharded (FSDP2)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:04d}"
    tmp = root / f".tmp-{PREFIX}{step:04d}"
    shutil.rmtree(tmp, ignore_errors=True)
    if model_state is None:
        model.save_pretrained(tmp)
    else:
        model.save_pretrained(tmp, state_dict=model_state)
    tokenizer.save_pretrained(tmp)
    torch.save({**trainer_state, "rng": rng_state()}, tmp / "trainer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **meta}, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [
        p
        for p in root.glob(f"{PREFIX}*")
        if (p / "state.json").exists() and (p / "trainer.pt").exists()
    ]
    return sorted(done, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """(state.json, trainer.pt) of a checkpoint folder, its tensors on ``map_location``."""
    meta = json.loads((Path(path) / "state.json").read_text())
    state = torch.load(Path(path) / "trainer.pt", map_location=map_location, weights_only=False)
    return meta, state
