"""Packed rows: several token sequences laid end to end in one row, each attending only to itself.

A row holds *blocks* laid end to end. A block ``(n, start)`` is n tokens that continue a sequence
whose first ``start`` tokens come before it: its tokens take positions ``start .. start + n - 1``,
and each sees the ``start`` tokens of that prefix (cached keys/values) and its own block causally up
to itself, nothing of the other blocks. Every token then gets exactly the hidden state it would get
in its own sequence, and no compute goes to padding between sequences.

Two users:
- the update (``trainer.packing``): one row per micro-batch, a block ``(len, 0)`` per trajectory,
  so positions restart at 0 and attention is block-diagonal causal;
- the information-gain scorer (``infopo_cli.core.infogain_fast``): counterfactual segments packed
  after their shared cached prefix, a segment of turn t seeing the real tokens ``[:fs_t]``.

Attention. ``eager`` and ``sdpa`` take the explicit 4D mask of ``block_causal_mask``: any layout,
exact, but computed densely over the whole row (a packed row of T tokens costs T^2 attention
scores, most of them masked). ``flash_attention_2`` takes no mask: given none, transformers reads
the sequences of a one-row batch from where its position ids restart at 0 and runs its varlen
kernel, which computes only the blocks (``packed_attention``); that covers the update's layout, not
the scorer's segments after a cached prefix.
"""

from __future__ import annotations

import torch

MASKABLE_ATTENTION = ("eager", "sdpa")  # take a 4D mask: any block layout
VARLEN_ATTENTION = ("flash_attention_2",)  # sequences from position ids: one row, blocks from 0

Block = tuple[int, int]  # (tokens, first position = length of the prefix it sees)


def attention_of(model) -> str | None:
    """The attention kernel of ``model`` (transformers' ``_attn_implementation``), through any
    DDP/FSDP2/PEFT wrapper."""
    from infopo_cli.runtime.distributed import unwrap

    cfg = getattr(unwrap(model), "config", None)
    return getattr(cfg, "_attn_implementation", None)


def takes_block_mask(model) -> bool:
    """True when ``model``'s attention takes ``block_causal_mask`` (eager, sdpa): any layout."""
    return attention_of(model) in MASKABLE_ATTENTION


def packs(model) -> bool:
    """True when ``model`` runs one row of sequences packed from position 0 exactly: a block mask
    or a varlen kernel (``packed_attention``)."""
    return attention_of(model) in MASKABLE_ATTENTION + VARLEN_ATTENTION


def block_positions(blocks: list[list[Block]], width: int) -> torch.Tensor:
    """[B, width] position ids: block ``(n, start)`` at ``start .. start + n - 1``, the blocks of a
    row end to end; 0 on padding after them."""
    pos = torch.zeros((len(blocks), width), dtype=torch.long)
    for r, row in enumerate(blocks):
        off = 0
        for n, start in row:
            pos[r, off : off + n] = torch.arange(start, start + n)
            off += n
    return pos


def block_causal_mask(
    blocks: list[list[Block]],
    prefix_width: int,
    width: int,
    float_dtype: torch.dtype | None,
) -> torch.Tensor:
    """[B, 1, width, prefix_width + width] attention mask of rows of packed blocks, after a cached
    prefix of ``prefix_width`` columns (0: none).

    A token of block ``(n, start)`` sees prefix columns ``[:start]`` and its own block up to itself.
    Padding queries see key 0 only (never an empty row: a fully masked row gives NaN, which would
    leak into real rows through the values). ``float_dtype`` None: boolean (True = attend, for
    sdpa); else an additive float mask (0 / dtype min, for eager attention).
    """
    allow = torch.zeros((len(blocks), width, prefix_width + width), dtype=torch.bool)
    for r, row in enumerate(blocks):
        off = 0
        for n, start in row:
            allow[r, off : off + n, :start] = True
            cols = prefix_width + off
            allow[r, off : off + n, cols : cols + n] = torch.ones(n, n, dtype=torch.bool).tril()
            off += n
        allow[r, off:, 0] = True
    return mask_from_allowed(allow, float_dtype)


def mask_from_allowed(allow: torch.Tensor, float_dtype: torch.dtype | None) -> torch.Tensor:
    """[B, 1, Q, K] attention mask from [B, Q, K] booleans (True = attend): the booleans for sdpa
    (``float_dtype`` None), else an additive mask (0 / dtype min) for eager attention."""
    allow = allow.unsqueeze(1)
    if float_dtype is None:
        return allow
    mask = torch.zeros(allow.shape, dtype=float_dtype)
    return mask.masked_fill_(~allow, torch.finfo(float_dtype).min)


def packed_attention(model, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Position ids [1, T] and attention mask of sequences of ``lengths`` laid end to end in one
    row of T = sum(lengths) tokens: the 4D block mask for eager/sdpa, None for a varlen kernel
    (transformers then takes the sequences from the position ids)."""
    width, blocks = sum(lengths), [[(n, 0) for n in lengths]]
    pos = block_positions(blocks, width)
    if attention_of(model) in VARLEN_ATTENTION:
        return pos, None
    return pos, block_causal_mask(blocks, 0, width, mask_dtype(model))


def mask_dtype(model) -> torch.dtype | None:
    """What ``block_causal_mask`` should build for ``model``: an additive mask in the parameters'
    dtype for eager attention, a boolean one (None) for sdpa."""
    from infopo_cli.runtime.distributed import unwrap

    module = unwrap(model)
    if module.config._attn_implementation == "eager":
        return next(module.parameters()).dtype
    return None


def pack_rows(
    tensors: dict[str, torch.Tensor], rows: list[int], lengths: list[int]
) -> dict[str, torch.Tensor]:
    """The [N, L] right-padded tensors' ``rows``, each cut to its length, laid end to end:
    [1, sum(lengths)] per tensor (other tensors are left out)."""
    return {
        k: torch.cat([v[r, :n] for r, n in zip(rows, lengths, strict=True)])[None]
        for k, v in tensors.items()
        if v.dim() == 2
    }


def unpack_row(packed: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """The inverse of ``pack_rows`` for one tensor: [1, sum(lengths)] -> one [n] tensor per row."""
    return list(torch.split(packed[0], lengths))
