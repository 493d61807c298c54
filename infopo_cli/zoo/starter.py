"""The ``starter`` policy: the embedded default of ``infopo train``.

A small Llama (1.8M parameters, 2 layers, 256 wide) with a tokenizer trained on clarify text,
warm-started by supervised fine-tuning on the clarify task's imperfect demonstrations. It speaks the
protocol (questions, ``ANSWER:`` lines) and copies the values the user stated, but like its teachers
it asks about random slots and answers early: what to ask, and when to stop asking, is left for RL.
Built on first use (about 6 minutes on 2 CPU cores: 362-369 s measured), cached, deterministic given a
seed.

The build is a two-stage curriculum. Copying a stated value into the answer is a lookup a small
model does not discover from full demonstrations in a few thousand steps: their guessed values
drown the signal (copy accuracy stayed at chance, 0.25-0.30, after 1,200 steps at 128 wide). So the
first ``copy_steps`` use demonstrations that ask random questions and then answer with only the
values the user stated (every answer token a copy, from the opening request or from a reply); the
rest use the ordinary demonstrations. Measured teacher-forced copy accuracy on held-out dialogues
after 2 (5) random questions: 1.00 (0.995) per slot, mean p(correct) 0.965 (0.957). The copy skill
arrives as a sudden transition whose timing depends on the learning-rate schedule: with the chat
roles as single tokens and 450 copy steps of 650 it had not finished (0.85 per slot, and a policy
starting at 0.065 test success); 600 of 800 finish it. At 128 wide with the same kind of budget it
was 0.73, whose ceiling under perfect questions was 0.35 success: too low for RL to show anything.

The ordinary demonstrations answer with probability ``answer_start`` + ``answer_rise`` x turn (0.3,
0.4, ... : about 26% success on the test split), not the task's default 0.15 + 0.3 x turn, which
always answers by the fourth message. RL's first lesson is to ask longer, and a policy that has
never seen a five-question dialogue drifts there. Measured on the previous build (450 + 200 steps,
roles spelled in pieces; 100 RL steps, KL 0.05): from the default hazard, 0.34 test success on seed
0; from this one, 0.32, 0.40 and 0.40 on seeds 0-2 (seeds 0 and 1 both 0.39 re-evaluated on 4
samples per task), with training success 0.34-0.42 against 0.25-0.28.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from infopo_cli.runtime.models import cached_build
from infopo_cli.zoo.blocks import clarify_tokenizer, small_llama, warm_start

# Architecture and warm-start budget of the default starter (part of its cache key).
STARTER = {
    "v": 11,
    "hidden": 256,
    "layers": 2,
    "heads": 4,
    "vocab": 2048,
    "dialogues": 3000,
    "copy_steps": 600,
    "copy_answer_p": 0.3,
    "answer_start": 0.3,
    "answer_rise": 0.1,
    "steps": 800,
    "batch": 32,
    "lr": 2e-3,
    "micro_batch_tokens": 1024,  # 15% faster steps than 2,048 on a 2-core CPU (cache-sized)
}


# The clarify options that change its dialogues (docs/tasks.md), and their defaults: a starter is
# built on the configured ones, under the key ``setting``, absent for the plain task (whose cached
# starter keeps its key).
SETTING_DEFAULTS = {"vague_rate": 0.0, "dependent_slots": False, "acknowledge": False}


def clarify_setting(task_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The setting options of a clarify task config that differ from their defaults."""
    task_cfg = task_cfg or {}
    return {
        k: task_cfg[k] for k, v in SETTING_DEFAULTS.items() if k in task_cfg and task_cfg[k] != v
    }


def build_starter(out: Path, seed: int = 0, **overrides) -> None:
    """Tokenizer, random init, demonstrations, SFT; saved as a Hugging Face folder."""
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.core.sft import demo_trajectories
    from infopo_cli.simulators.scripted import ScriptedSimulator
    from infopo_cli.tasks.clarify import ClarifyTask

    p = {**STARTER, **overrides}
    setting = p.get("setting", {})
    t0 = time.time()
    torch.manual_seed(seed)
    tok = clarify_tokenizer(p["vocab"], seed=seed, slot_tokens=True, **setting)
    model = small_llama(
        len(tok), hidden=p["hidden"], layers=p["layers"], heads=p["heads"], seed=seed
    )
    chat = ChatFormat(tok)
    task = ClarifyTask(seed=seed, **setting)
    trajs = demo_trajectories(
        task,
        ScriptedSimulator(),
        chat,
        p["dialogues"],
        seed,
        1024,
        answer_start=p["answer_start"],
        answer_rise=p["answer_rise"],
        # not a STARTER key, so the default's cache key is unchanged; the learning comparison's
        # tracking variant (docs/experiments.md) builds with ask_unknown=0.5
        ask_unknown=p.get("ask_unknown", 0.0),
    )
    copies = demo_trajectories(
        task,
        ScriptedSimulator(),
        chat,
        p["dialogues"],
        seed + 1,
        1024,
        answer_p=p["copy_answer_p"],
        guess=False,
    )
    n = sum(x.numel() for x in model.parameters())
    print(
        f"building the starter policy ({n / 1e6:.1f}M parameters) by SFT on clarify demonstrations "
        f"({p['copy_steps']} copy steps, then {p['steps'] - p['copy_steps']} on full dialogues)...",
        flush=True,
    )

    warm_start(
        model, tok, trajs, p, seed, "starter", 100, first=copies, first_steps=p["copy_steps"]
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(f"starter built in {time.time() - t0:.0f}s", flush=True)


def starter_path(seed: int = 0, **overrides) -> Path:
    params = {**STARTER, **overrides, "seed": seed}
    return cached_build("starter", params, lambda out: build_starter(out, seed=seed, **overrides))
