"""``model=starter`` on any task but clarify: a small policy that speaks that task's protocol.

Clarify's starter has its own curriculum (``zoo/starter.py``); every other task gets the same recipe,
driven by the task's imperfect demonstrator (``Task.demo_action``):

1. play ``dialogues`` demonstrations on the training split against the scripted user;
2. train a byte-level BPE tokenizer on their text (prompts, tool names, boards, code, replies), so
   the task's vocabulary costs few tokens;
3. a small Llama, supervised fine-tuning on the same dialogues (agent tokens only);
4. save it with its build parameters (``infopo_build.json``, which names the task).

The demonstrators succeed far more often than a small model that imitates them (they read the
hidden answer; the model has to infer it from the conversation), so the starter speaks the protocol
but plays well below the oracle, and RL has room to improve. Built on first use, cached per task
configuration and build version, deterministic given a seed.

    path = task_starter_path({"_target_": "infopo_cli.tasks.sokoban.SokobanTask", "name": "sokoban"})
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from infopo_cli.errors import ConfigError
from infopo_cli.runtime.models import cached_build
from infopo_cli.zoo.blocks import small_llama, train_tokenizer, warm_start

# The build of every task's starter (part of its cache key); TASK_BUILD adjusts it per task family.
BUILD: dict[str, Any] = {
    "v": 1,
    "hidden": 256,
    "layers": 2,
    "heads": 4,
    "vocab": 2048,
    "dialogues": 1500,
    "steps": 400,
    "batch": 16,
    "lr": 2e-3,
    "max_len": 2048,
    "micro_batch_tokens": 4096,
}
TASK_BUILD: dict[str, dict[str, Any]] = {
    # long policies and tool outputs: a longer context, fewer but longer dialogues
    "tau2": {"max_len": 4096, "dialogues": 600, "micro_batch_tokens": 8192},
    "usergym": {"max_len": 3072, "micro_batch_tokens": 6144},
}
# Keys of a task config that do not change the training dialogues (evaluation, data location).
NOT_IN_KEY = ("split", "test_size", "data_dir", "context_len", "eval_gyms")
CLARIFY_TARGET = "infopo_cli.tasks.clarify.ClarifyTask"


def build_params(task_cfg: Mapping[str, Any], **overrides) -> dict[str, Any]:
    """The build settings of a task's starter: ``BUILD``, the family's ``TASK_BUILD``, overrides."""
    return {**BUILD, **TASK_BUILD.get(task_family(task_cfg), {}), **overrides}


def task_family(task_cfg: Mapping[str, Any]) -> str:
    """The task's name as its config gives it (``usergym``, ``tau2``, ``sokoban``, ...)."""
    return str(task_cfg.get("name") or str(task_cfg.get("_target_", "task")).rsplit(".", 1)[-1])


def task_key(task_cfg: Mapping[str, Any], max_len: int) -> dict[str, Any]:
    """The task config as it shapes the training dialogues: without evaluation-only keys, and
    with the prompt sized for the starter's context (``context_len``)."""
    key = {k: v for k, v in task_cfg.items() if k not in NOT_IN_KEY}
    if "context_len" in task_cfg:
        key["context_len"] = max_len
    return key


def make_task(task_cfg: Mapping[str, Any]):
    from hydra.utils import instantiate

    if "_target_" not in task_cfg:
        raise ConfigError("model=starter needs a task config with _target_ (the task class)")
    return instantiate(dict(task_cfg), _convert_="all")


def demo_dialogues(task, chat, n: int, seed: int, max_len: int):
    from infopo_cli.core.sft import demo_trajectories
    from infopo_cli.simulators.scripted import ScriptedSimulator

    return demo_trajectories(task, ScriptedSimulator(), chat, n, seed, max_len)


def build_task_starter(out: Path, task_cfg: Mapping[str, Any], p: dict[str, Any], seed: int):
    """Demonstrations, a tokenizer on their text, a small Llama, SFT; saved as a Hugging Face
    folder."""
    from infopo_cli.core.chat import ChatFormat

    t0 = time.time()
    task = make_task(task_cfg)
    name = task_family(task_cfg)
    print(f"building the {name} starter: {p['dialogues']} demonstrations...", flush=True)
    # The demonstrations depend only on the task and the seed, not on the tokenizer: play them
    # once with bytes to get their text, train the tokenizer on it, then play them again in it.
    byte_tok = train_tokenizer(["a"], 300)
    texts = [
        byte_tok.decode(t.input_ids, skip_special_tokens=True)
        for t in demo_dialogues(task, ChatFormat(byte_tok), p["dialogues"], seed, 10**7)
    ]
    tok = train_tokenizer(texts, p["vocab"])
    trajs = demo_dialogues(task, ChatFormat(tok), p["dialogues"], seed, p["max_len"])
    cut = sum(t.info.get("truncated", False) for t in trajs)
    lengths = sorted(len(t.input_ids) for t in trajs)
    print(
        f"  {len(trajs)} dialogues, {lengths[len(lengths) // 2]} tokens median, "
        f"{lengths[-1]} max, {cut} cut at {p['max_len']} ({time.time() - t0:.0f}s)",
        flush=True,
    )
    torch.manual_seed(seed)
    model = small_llama(
        len(tok), p["hidden"], p["layers"], p["heads"], seed=seed, max_len=p["max_len"]
    )
    n = sum(x.numel() for x in model.parameters())
    print(f"  SFT of a {n / 1e6:.1f}M-parameter model for {p['steps']} steps...", flush=True)

    # the task's system prompt (tools, policy, board rules) opens every dialogue: run it once per
    # micro-batch (same gradient; clarify's prompts differ after a dozen tokens, so its build
    # would only pay the mask)
    warm_start(model, tok, trajs, p, seed, f"{name} starter", 50, share_prefix=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(f"{name} starter built in {time.time() - t0:.0f}s", flush=True)


def task_starter_path(task_cfg: Mapping[str, Any], seed: int = 0, **overrides) -> Path:
    """The cached starter of this task configuration (built on first use)."""
    p = build_params(task_cfg, **overrides)
    key = task_key(task_cfg, p["max_len"])
    params = {**p, "task": key, "seed": seed}
    name = f"starter-{task_family(task_cfg)}"
    return cached_build(name, params, lambda out: build_task_starter(out, key, p, seed))


def starter_task(path: str | Path) -> str | None:
    """The task family a built starter was made for (``clarify`` for the clarify starter), or None
    for any other model folder."""
    import json

    build = Path(path) / "infopo_build.json"
    if not build.exists():
        return None
    params = json.loads(build.read_text())
    if "task" in params:
        return task_family(params["task"])
    return "clarify" if "copy_steps" in params else None


def is_clarify(task_cfg: Mapping[str, Any] | None) -> bool:
    return task_cfg is None or task_cfg.get("_target_") == CLARIFY_TARGET
