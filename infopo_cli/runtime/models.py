"""Loading a causal LM and its tokenizer from a folder or a hub id, and the cache of built models.

Which folder a ``model`` config means (a built-in name, a local folder or a hub id) is decided in
``infopo_cli.zoo``; this module only loads what it is given.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from infopo_cli.data.locations import cache_root
from infopo_cli.errors import ConfigError

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def cached_build(name: str, params: dict, build: Callable[[Path], None]) -> Path:
    """Build into ``<cache>/<name>-<hash(params)>`` once; atomic (temp dir + rename), so a build
    killed halfway is never loaded and concurrent builders do not clash."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    final = cache_root() / f"{name}-{key}"
    if (final / "config.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        with torch.random.fork_rng():  # a build seeds torch; the caller's RNG stays as it was
            build(tmp)
        (tmp / "infopo_build.json").write_text(json.dumps(params, indent=1, sort_keys=True))
        try:
            tmp.rename(final)
        except OSError:
            if not (final / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        tok.chat_template = CHATML_TEMPLATE
    return tok


def load_model(
    path: str,
    dtype: str = "float32",
    device: str = "cpu",
    gradient_checkpointing: bool = False,
    attn_implementation: str | None = None,
):
    """The causal LM at ``path``; ``attn_implementation`` None leaves the kernel to transformers."""
    from transformers import AutoModelForCausalLM

    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], **kwargs)
    except OSError as e:
        raise ConfigError(f"could not load model {path!r}: {str(e).splitlines()[0]}") from None
    except (ImportError, ValueError) as e:
        if not attn_implementation:
            raise
        # a kernel the model or this machine lacks (flash-attn not installed, no CUDA, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"model.attn_implementation={attn_implementation} cannot be used here: {first}"
        ) from None
    model.to(device)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model
