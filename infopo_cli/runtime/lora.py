"""LoRA adapters through PEFT (``model.lora.r`` > 0): only the adapter matrices train.

The HF engine generates with the PEFT model itself, so rollouts see the adapters without a merge.
vLLM either serves the adapter itself (``model.lora.sync=adapter``: the engine loads the adapter
folder as a LoRA request, see ``engines/vllm.py``) or reloads plain checkpoint tensors
(``merged``): then what it gets is ``merged_weights``, every adapted weight as
``W + (alpha / r) B A``, computed out of place so that the base weights the trainer holds stay
bit-identical. A LoRA checkpoint holds the adapter
(``adapter_model.safetensors`` + ``adapter_config.json``, whose ``base_model_name_or_path`` names
the base model); ``load_adapter`` rebuilds base + adapter from it for resume and evaluation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from infopo_cli.config import LoraConfig
from infopo_cli.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"


def _peft():
    try:
        import peft
    except ImportError:
        raise ConfigError(
            "model.lora.r > 0 needs peft: pip install 'infopo[lora]' (or pip install peft)"
        ) from None
    return peft


def is_adapter_dir(path: str | Path | None) -> bool:
    return path is not None and (Path(path) / ADAPTER_CONFIG).is_file()


def is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def add_adapters(model, cfg: LoraConfig):
    """The PEFT model with fresh adapters on ``cfg.target_modules``; base weights frozen."""
    peft = _peft()
    names = {n.split(".")[-1] for n, _ in model.named_modules()}
    missing = [t for t in cfg.target_modules if t not in names]
    if missing:
        raise ConfigError(
            f"model.lora.target_modules={list(cfg.target_modules)!r}: {missing[0]!r} is not a "
            f"module of this model; accepted: names such as "
            f"{', '.join(sorted(n for n in names if n.endswith('proj'))) or 'its linear layers'}"
        )
    lcfg = peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        target_modules=list(cfg.target_modules),
        lora_dropout=cfg.dropout,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, lcfg)


def load_adapter(base_model, adapter_dir: str | Path, trainable: bool = True):
    """``base_model`` with the adapter saved in ``adapter_dir``."""
    peft = _peft()
    return peft.PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=trainable)


def adapter_rank(model) -> int:
    """The largest rank of the PEFT model's active adapter (per-module ranks included)."""
    cfg = model.peft_config[model.active_adapter]
    return max([cfg.r, *(getattr(cfg, "rank_pattern", None) or {}).values()])


def base_model_path(adapter_dir: str | Path) -> str:
    """The base model an adapter checkpoint was trained on (from its adapter_config.json)."""
    import json

    cfg = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text())
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"{adapter_dir}: adapter_config.json names no base_model_name_or_path")
    return base


def _checkpoint_name(peft_name: str) -> str:
    """A PEFT state-dict name as the plain model would write it."""
    name = peft_name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


@torch.no_grad()
def merged_weights(model) -> dict[str, torch.Tensor]:
    """The plain model's state dict with every adapter folded in, without touching the model."""
    from peft.tuners.lora import LoraLayer

    deltas: dict[str, torch.Tensor] = {}
    for name, mod in model.named_modules():
        if isinstance(mod, LoraLayer):
            for adapter in mod.active_adapters:
                if adapter in mod.lora_A:
                    d = mod.get_delta_weight(adapter)
                    key = _checkpoint_name(f"{name}.weight")
                    deltas[key] = deltas[key] + d if key in deltas else d
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        if "lora_" in name:
            continue
        key = _checkpoint_name(name)
        out[key] = (t + deltas[key].to(t.dtype)) if key in deltas else t
    return out


class MergedView:
    """What the vLLM engine is handed for a weight push: ``state_dict()`` gives the merged plain
    weights; anything else (a forward for the log-prob check) goes to the PEFT model, whose output
    equals the merged model's."""

    def __init__(self, model):
        self._model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return merged_weights(self._model)

    def __call__(self, *args, **kw):
        return self._model(*args, **kw)

    def __getattr__(self, name):
        return getattr(self._model, name)
