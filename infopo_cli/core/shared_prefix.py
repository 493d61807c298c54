"""Rows that begin alike run their common beginning once: a group's prompt, a domain's system prompt.

The rollouts of one prompt share that prompt token for token, and SFT dialogues of one domain share
its system prompt; on the default run's clarify dialogues that is 65% of the tokens of a batch. A
*shared-prefix row* lays out a group of rows as

    [ x[0:s] | r1[s:L1] | r2[s:L2] | ... ]      positions 0..s-1, then s..L_i-1 for each suffix

where every suffix token attends to the shared block ``x[0:s]`` and to its own suffix causally, never
to another suffix. Each token then has the hidden state it has in its own row, so log-probs are the
padded forward's; gradients too, the shared block's being the sum of what each row sends it (tested
to 1e-5 in ``tests/test_shared_prefix.py``). A row without partners is a plain block at positions 0..

The log-prob of x_j is read from the hidden state at j-1, the previous entry of the laid-out row.
For a suffix's first token x_s that entry is the end of another suffix, so x_s must be one that is
never scored: ``s`` stops before every row's first scored token (``first_scored`` - 1), and the
first token of each suffix is left out of the scored mask.

The layout needs an attention mask of any shape (eager or sdpa, as ``packing.takes_block_mask``);
a micro-batch is several such rows padded to the longest, so the dense mask's T^2 stays that of one
group, not of the whole micro-batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from infopo_cli.core.packing import mask_dtype, mask_from_allowed

MIN_SHARED = 8  # fewer common tokens than this are not worth a separate block


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def prefix_groups(
    seqs: list[list[int]], first_scored: list[int], min_shared: int = MIN_SHARED
) -> list[tuple[int, list[int]]]:
    """Rows (indices into ``seqs``) cut into groups ``(s, rows)`` whose first ``s`` tokens are
    common, with ``s`` < every member's ``first_scored`` (the index of its first scored token);
    ``s`` is 0 for a row alone.

    Sorted by their tokens, rows with long common prefixes are neighbours, and a group's common
    prefix is the shortest link between consecutive members. Of all the ways to cut the sorted rows
    into runs, the one that runs the fewest tokens is taken (dynamic programming over the cut
    points): a group of k rows sharing s tokens saves s (k - 1), and s must be >= ``min_shared``.
    So the rollouts of one prompt stay a group of their own rather than merging with a neighbour
    that shares only the head of the system prompt, and dialogues of one task that share a long
    system prompt form one group."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    n = len(order)

    def link(k: int) -> int:  # tokens sorted rows k-1 and k can share
        a, b = order[k - 1], order[k]
        return min(common_prefix(seqs[a], seqs[b]), first_scored[a] - 1, first_scored[b] - 1)

    links = [0] + [link(k) for k in range(1, n)]
    best = [0] * (n + 1)  # best[j]: most tokens saved over the first j sorted rows
    cut = [0] * (n + 1)  # where the last group of that optimum starts
    for j in range(1, n + 1):
        best[j], cut[j] = best[j - 1], j - 1  # row j-1 alone
        shared = None
        for i in range(j - 1, 0, -1):  # the group of sorted rows i-1 .. j-1
            shared = links[i] if shared is None else min(shared, links[i])
            if shared < min_shared:
                break
            saved = best[i - 1] + shared * (j - i)
            if saved > best[j]:
                best[j], cut[j] = saved, i - 1
    groups: list[tuple[int, list[int]]] = []
    j = n
    while j > 0:
        i = cut[j]
        rows = [order[k] for k in range(i, j)]
        shared = min(links[k] for k in range(i + 1, j)) if len(rows) > 1 else 0
        groups.append((shared, rows))
        j = i
    return groups[::-1]


@dataclass
class Layout:
    """Where each entry of the laid-out rows [B, W] comes from, and how it attends.

    ``src_row``, ``src_pos`` [B, W]: the batch row and position an entry copies (0 on padding);
    ``valid`` [B, W]: a real entry; ``owns`` [B, W]: an entry of a suffix or plain block, whose
    log-prob goes back to its row (shared-block entries stand for several rows and go back to none:
    they are never scored); ``position_ids`` [B, W]; ``block``, ``parent`` [B, W]: the block an
    entry is in and the block its block sees before itself (-1: none)."""

    src_row: torch.Tensor
    src_pos: torch.Tensor
    valid: torch.Tensor
    owns: torch.Tensor
    block: torch.Tensor
    parent: torch.Tensor

    @property
    def position_ids(self) -> torch.Tensor:
        """[B, W]: an entry's position in its own row (0 on padding)."""
        return self.src_pos * self.valid

    @property
    def starts(self) -> torch.Tensor:
        """[B, W]: an entry that begins its block (the first of a row, or after a block boundary)."""
        starts = torch.zeros_like(self.valid)
        starts[:, 1:] = self.block[:, 1:] != self.block[:, :-1]
        starts[:, 0] = True
        return starts

    def attention_mask(self, float_dtype: torch.dtype | None) -> torch.Tensor:
        """[B, 1, W, W]: an entry sees the entries before it in its own block and in its parent
        block. Padding queries see key 0 only (a fully masked row gives NaN). ``float_dtype`` None:
        boolean for sdpa; else an additive mask in that dtype for eager attention."""
        width = self.block.shape[1]
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        q_block, q_parent = self.block[:, :, None], self.parent[:, :, None]
        k_block = self.block[:, None, :]
        allow = causal & ((k_block == q_block) | (k_block == q_parent))
        allow &= self.valid[:, :, None] & self.valid[:, None, :]
        allow[:, :, 0] |= ~self.valid
        return mask_from_allowed(allow, float_dtype)


def layout(groups: list[tuple[int, list[int]]], lengths) -> Layout:
    """One laid-out row per group (``prefix_groups``' output; ``lengths[r]`` of each batch row r: a
    list or a dict), padded to the longest."""
    sizes = [s + sum(lengths[r] - s for r in rows) for s, rows in groups]
    width = max(sizes)
    shape = (len(groups), width)
    src_row = torch.zeros(shape, dtype=torch.long)
    src_pos = torch.zeros(shape, dtype=torch.long)
    valid = torch.zeros(shape, dtype=torch.bool)
    owns = torch.zeros(shape, dtype=torch.bool)
    block = torch.full(shape, -1, dtype=torch.long)
    parent = torch.full(shape, -1, dtype=torch.long)
    next_block = 0
    for b, (s, rows) in enumerate(groups):
        off, shared = 0, -1
        if s > 0:
            shared = next_block
            next_block += 1
            src_row[b, :s], src_pos[b, :s] = rows[0], torch.arange(s)
            block[b, :s] = shared
            off = s
        for r in rows:
            n = lengths[r] - s
            src_row[b, off : off + n], src_pos[b, off : off + n] = r, torch.arange(s, lengths[r])
            owns[b, off : off + n] = True
            block[b, off : off + n], parent[b, off : off + n] = next_block, shared
            next_block += 1
            off += n
        valid[b, :off] = True
    return Layout(src_row, src_pos, valid, owns, block, parent)


def pack(tensors: dict[str, torch.Tensor], lay: Layout, score_key: str = "action_mask"):
    """The [N, L] tensors of ``tensors`` laid out as ``lay`` ([B, W], 0 on padding), with
    ``position_ids``; ``score_key``'s mask is cut to the entries that own their log-prob and do
    not start a suffix (the token after a block boundary is never scored). The attention mask is
    ``lay.attention_mask`` (``micro_batch`` sets it)."""
    out = {
        k: v[lay.src_row, lay.src_pos] * lay.valid.to(v.dtype)
        for k, v in tensors.items()
        if v.dim() == 2
    }
    if score_key in out:
        out[score_key] = out[score_key] * (lay.owns & ~lay.starts).to(out[score_key].dtype)
    out["position_ids"] = lay.position_ids
    return out


def unpack(values: torch.Tensor, lay: Layout, out: torch.Tensor) -> torch.Tensor:
    """Writes the laid-out ``values`` [B, W] back into ``out`` [N, L] at each owned entry's row
    and position; returns ``out``."""
    own = lay.owns
    out[lay.src_row[own], lay.src_pos[own]] = values[own].to(out.dtype)
    return out


def first_scored(action_mask: torch.Tensor, lengths: list[int]) -> list[int]:
    """Index of each row's first scored token ([N, L] mask), or its length when none is scored."""
    has = action_mask.bool().any(-1).tolist()
    first = action_mask.bool().long().argmax(-1).tolist()
    return [f if h else n for f, h, n in zip(first, has, lengths, strict=True)]


def attention_weight(model) -> float:
    """What one attention score of a laid-out row costs, in tokens' worth of the rest of the
    forward: a token's linear layers take about 12 H^2 multiply-adds a layer and a score about 2 H
    (its query-key product and its share of the values), so 1 / (6 H). Measured on the starter
    (H = 256) on CPU: a group row of T tokens cost T + T^2 / 1,490 token-equivalents, fitted to two
    clarify SFT step timings (0.400 s padded, 0.516 s in groups of ~400-1,000 tokens sharing ~12),
    against 1 / (6 x 256) = 1 / 1,536."""
    from infopo_cli.runtime.distributed import unwrap

    hidden = getattr(getattr(unwrap(model), "config", None), "hidden_size", None)
    return 1.0 / (6.0 * hidden) if hidden else 0.0


def _chunks(s: int, rows: list[int], lengths: list[int], weight: float) -> list[list[int]]:
    """The group's rows cut into consecutive chunks of one size, the size whose laid-out rows cost
    least (a row of T tokens: T + ``weight`` T^2, attention being dense over the row); size 1 runs
    each row alone."""

    def cost(chunk: list[int]) -> float:
        t = s + sum(lengths[r] - s for r in chunk) if len(chunk) > 1 else lengths[chunk[0]]
        return t + weight * t * t

    def cut(m: int) -> list[list[int]]:
        return [rows[i : i + m] for i in range(0, len(rows), m)]

    return min((cut(m) for m in range(1, len(rows) + 1)), key=lambda c: sum(map(cost, c)))


def micro_batches(
    seqs: list[list[int]],
    first: list[int],
    token_budget: int,
    min_shared: int = MIN_SHARED,
    attention: float = 0.0,
    extra: list[int] | None = None,
    longest_first: bool = True,
) -> list[list[tuple[int, list[int]]]]:
    """Micro-batches of shared-prefix rows under ``token_budget``: the groups of
    ``prefix_groups``, each cut into consecutive chunks (``attention``: the weight of
    ``attention_weight``; a longer row shares its prefix with more rows but pays more for its
    dense attention), a chunk further cut where its laid-out size (s + the suffixes) would pass the
    budget (each chunk repeats the shared block; a row over budget runs alone), then the chunks
    batched as ``token_batches`` batches rows (chunks x longest chunk <= budget, in its
    ``longest_first`` order). ``extra[i]``: tokens that row i adds to its laid-out row besides its
    own (the information-gain scorer's counterfactual segments)."""
    from infopo_cli.core.trajectory import token_batches

    lengths = [len(x) + (extra[i] if extra else 0) for i, x in enumerate(seqs)]
    chunks: list[tuple[int, list[int]]] = []
    for s, group in prefix_groups(seqs, first, min_shared):
        for part in _chunks(s, group, lengths, attention) if len(group) > 1 else [group]:
            cur: list[int] = []
            for r in part:
                if cur and s + sum(lengths[i] - s for i in cur + [r]) > token_budget:
                    chunks.append((s if len(cur) > 1 else 0, cur))
                    cur = []
                cur.append(r)
            chunks.append((s if len(cur) > 1 else 0, cur))
    sizes = [s + sum(lengths[i] - s for i in rows) for s, rows in chunks]
    return [[chunks[i] for i in b] for b in token_batches(sizes, token_budget, longest_first)]


def plan(
    model, tensors: dict[str, torch.Tensor], rows: list[int], token_budget: int
) -> list[list[tuple[int, list[int]]]]:
    """Micro-batches of the batch ``rows`` of right-padded ``tensors`` (``input_ids``,
    ``attention_mask``, ``action_mask``: the scored tokens) as ``(shared tokens, rows)`` groups,
    chunked for ``model``'s width (``micro_batches``)."""
    lengths = [int(n) for n in tensors["attention_mask"][rows].sum(-1).tolist()]
    seqs = [tensors["input_ids"][r, :n].tolist() for r, n in zip(rows, lengths, strict=True)]
    first = first_scored(tensors["action_mask"][rows], lengths)
    batches = micro_batches(seqs, first, token_budget, attention=attention_weight(model))
    return [[(s, [rows[i] for i in g]) for s, g in mb] for mb in batches]


def micro_batch(
    model, tensors: dict[str, torch.Tensor], groups: list[tuple[int, list[int]]]
) -> tuple[dict[str, torch.Tensor], Layout]:
    """One micro-batch of ``plan``: the [N, L] tensors laid out one row per group, with
    ``position_ids`` and ``model``'s 4D attention mask, and the layout (for ``unpack``)."""
    members = [r for _, g in groups for r in g]
    lengths = tensors["attention_mask"][members].sum(-1).tolist()
    lay = layout(groups, dict(zip(members, map(int, lengths), strict=True)))
    mb = pack(tensors, lay)
    mb["attention_mask"] = lay.attention_mask(mask_dtype(model))
    return mb, lay
