"""``model=tiny``: a ~3M-parameter random Llama with a tokenizer trained on clarify text. For tests;
it knows nothing."""

from __future__ import annotations

from pathlib import Path

from infopo_cli.runtime.models import cached_build
from infopo_cli.zoo.blocks import clarify_tokenizer, small_llama


def build_tiny(out: Path) -> None:
    tok = clarify_tokenizer()
    model = small_llama(len(tok), hidden=256, layers=2, heads=4, seed=0)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def tiny_path() -> Path:
    return cached_build("tiny", {"v": 3, "hidden": 256, "layers": 2, "vocab": 2048}, build_tiny)
