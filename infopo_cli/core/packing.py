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

Exactness needs attention that takes an explicit 4D mask (``eager`` and ``sdpa``: ``packs``).
"""

from __future__ import annotations

import torch

MASKABLE_ATTENTION = ("eager", "sdpa")

Block = tuple[int, int]  # (tokens, first position = length of the prefix it sees)


def packs(model) -> bool:
    """True when ``model``'s attention takes the block mask of a packed row (eager, sdpa)."""
    from infopo_cli.runtime.distributed import unwrap

    cfg = getattr(unwrap(model), "config", None)
    return getattr(cfg, "_attn_implementation", None) in MASKABLE_ATTENTION


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
    allow = allow.unsqueeze(1)
    if float_dtype is None:
        return allow
    mask = torch.zeros(allow.shape, dtype=float_dtype)
    return mask.masked_fill_(~allow, torch.finfo(float_dtype).min)


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
