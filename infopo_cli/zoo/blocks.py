"""Building blocks of the built-in models: a BPE tokenizer trained on local text, a small Llama."""

from __future__ import annotations

import torch

from infopo_cli.runtime.models import CHATML_TEMPLATE, SPECIAL_TOKENS


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


def warm_start(
    model, tok, trajs, p: dict, seed: int, label: str, every: int, share_prefix=False, **curriculum
):
    """SFT of a built-in starter with the build settings ``p`` (steps, lr, batch,
    micro_batch_tokens), printing its progress every ``every`` steps; ``curriculum``: ``first``
    and ``first_steps`` of ``sft_train``; ``share_prefix``: that of ``sft_step``."""
    import time

    from infopo_cli.core.sft import sft_train

    t0 = time.time()

    def on_step(step, loss, opt, rng):
        if step % every == 0 or step == p["steps"]:
            print(
                f"  {label} sft step {step}/{p['steps']} loss {loss:.3f} ({time.time() - t0:.0f}s)",
                flush=True,
            )

    sft_train(
        model,
        tok,
        trajs,
        steps=p["steps"],
        lr=p["lr"],
        batch_size=p["batch"],
        seed=seed,
        on_step=on_step,
        token_budget=p["micro_batch_tokens"],
        share_prefix=share_prefix,
        **curriculum,
    )


def clarify_tokenizer(vocab_size: int = 2048, seed: int = 0, slot_tokens: bool = False, **options):
    """BPE on clarify text. ``slot_tokens`` adds one token per ``" <slot> ="`` of an answer, so the
    position that must name a slot's value is itself the query for it (copying then needs one
    attention hop instead of two, which a small model learns in a few hundred steps).
    ``options``: the task's setting options (``vague_rate``, ``dependent_slots``,
    ``acknowledge``), so the text is that of the dialogues the tokenizer will encode."""
    from tokenizers import AddedToken

    from infopo_cli.tasks.clarify import DOMAINS, corpus

    tok = train_tokenizer(corpus(3000, seed=seed, **options), vocab_size)
    if slot_tokens:
        names = dict.fromkeys(s.name for d in DOMAINS for s in d.slots)
        if options.get("dependent_slots"):
            names.update(dict.fromkeys(f.slot.name for d in DOMAINS for f in d.follow_ups))
        tok.add_tokens([AddedToken(f" {n} =", normalized=False) for n in names])
    return tok
