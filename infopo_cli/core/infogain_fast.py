"""Information gain without re-reading prefixes: one prefix pass, one packed counterfactual pass.

Same quantity as ``infopo_cli.core.infogain.information_gain`` (docs/method.md, Information gain), computed cheaply:

- The factual term (log-probs of a_{t+1} given the real o_t) is already in the old-log-prob pass that
  PPO needs, so it is read from ``old_logprobs`` instead of being recomputed.
- The counterfactual of turn t differs from the real trajectory only from o_t's feedback start
  ``fs_t`` onwards. Its prefix ``[:fs_t]`` is shared with the real trajectory, so the real tokens are
  run once (keys/values kept in a cache) and then, in one more forward call, every scored turn's
  *counterfactual segment* is appended: the fitted placeholder for o_t followed by the real tokens
  from the end of o_t up to the last-but-one token of a_{t+1} (the last token predicts nothing that
  is scored). A 4D attention mask lets each segment see the cached prefix ``[:fs_t]`` and, causally,
  itself only; explicit ``position_ids`` continue from ``fs_t``, so every segment token sees exactly
  the context and position it would have in the full counterfactual sequence.
- The output head runs only on the hidden states that predict a token of some a_{t+1}.

- The real tokens run as laid-out rows (``core/shared_prefix.py``): one per trajectory, or, with
  ``share_prefix``, one per group of rollouts that begin alike, their common prompt run once; a
  segment then sees its own trajectory's entries of the row (the shared block and its suffix).

Per trajectory the work is one pass over its tokens plus one over the segments (about its
non-prompt length), against two full prefixes per scored turn for the reference scorer.
``logprobs_and_information_gain`` goes one step further: it also returns the old log-probs from the
same prefix pass, so a training step pays only for the segments on top of its old-log-prob pass.

Exactness needs attention that accepts a custom 4D mask (``eager`` and ``sdpa``) and a plain linear
output head; other models are scored by the reference implementation (same values, slower).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from infopo_cli.core import shared_prefix
from infopo_cli.core.infogain import fit_placeholder, information_gain
from infopo_cli.core.logprobs import (
    HEAD_CHUNK_ROWS,
    HEAD_POSTPROCESSING,
    gather_logprobs,
    head_logprobs,
    token_logprobs,
)
from infopo_cli.core.packing import (
    block_positions,
    mask_dtype,
    mask_from_allowed,
    takes_block_mask,
)
from infopo_cli.core.trajectory import Batch, Trajectory, token_batches


@dataclass(frozen=True)
class Segment:
    """The counterfactual continuation of one scored turn.

    ``ids`` sit at positions ``fs, fs + 1, ...`` and see the real prefix ``[:fs]``; the hidden state
    at offset ``first_pred + k`` predicts ``targets[k]`` (the tokens of a_{t+1}).
    """

    turn: int
    fs: int
    ids: list[int]
    first_pred: int
    targets: list[int]


def plan_segments(traj: Trajectory, placeholder_ids: Sequence[int]) -> list[Segment]:
    """One segment per scored turn of ``traj`` (none when no turn is scored)."""
    out = []
    for t in traj.scored_turns():
        fs, fe = traj.turns[t].feedback
        s, e = traj.turns[t + 1].action
        ids = fit_placeholder(placeholder_ids, fe - fs) + list(traj.input_ids[fe : e - 1])
        out.append(Segment(t, fs, ids, s - 1 - fs, list(traj.input_ids[s:e])))
    return out


def supports_packing(model) -> bool:
    """True when the packed pass is exact for ``model``: maskable attention, plain output head."""
    if not takes_block_mask(model):
        return False
    cfg = model.config
    for name in HEAD_POSTPROCESSING:
        value = getattr(cfg, name, None)
        if value is not None and value != 1.0:
            return False
    return model.get_output_embeddings() is not None


def segment_mask(
    lay: shared_prefix.Layout,
    rows: list[list[int]],
    plans: list[list[Segment]],
    float_dtype: torch.dtype | None,
) -> torch.Tensor:
    """[B, 1, S, W + S] mask of the segment pass over laid-out rows ``lay`` ([B, W], cached):
    row b's segments are those of its trajectories ``rows[b]``, laid end to end in that order
    (``plans[r]``: trajectory r's). A segment of trajectory r at feedback start ``fs`` sees the
    cached entries of r's own row, its shared block and its suffix, at positions < fs, and itself
    causally up to each token. Padding queries see key 0 only (a fully masked row gives NaN)."""
    width = lay.block.shape[1]
    seg_width = max(1, max(sum(len(sg.ids) for r in rs for sg in plans[r]) for rs in rows))
    owned = lay.owns.nonzero(as_tuple=True)
    block_of = dict(
        zip(lay.src_row[owned].tolist(), zip(lay.block[owned].tolist(), lay.parent[owned].tolist()))
    )
    allow = torch.zeros((len(rows), seg_width, width + seg_width), dtype=torch.bool)
    for b, rs in enumerate(rows):
        off = 0
        for r in rs:
            blk, parent = block_of[r]
            own_row = lay.block[b] == blk
            if parent >= 0:
                own_row |= lay.block[b] == parent
            for sg in plans[r]:
                n = len(sg.ids)
                allow[b, off : off + n, :width] = own_row & (lay.src_pos[b] < sg.fs)
                causal = torch.ones(n, n, dtype=torch.bool).tril()
                allow[b, off : off + n, width + off : width + off + n] = causal
                off += n
        allow[b, off:, 0] = True
    return mask_from_allowed(allow, float_dtype)


def _head_logprobs(model, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log pi(target | hidden) for [M, H] hidden states, in chunks of the output head (the update's
    own chunked head when it is a plain linear map, so both passes share one numeric path)."""
    head = model.get_output_embeddings()
    if isinstance(head, torch.nn.Linear):
        return head_logprobs(head, hidden, targets)[0]
    out = [
        gather_logprobs(head(hidden[i : i + HEAD_CHUNK_ROWS]), targets[i : i + HEAD_CHUNK_ROWS])
        for i in range(0, hidden.shape[0], HEAD_CHUNK_ROWS)
    ]
    return torch.cat(out) if out else hidden.new_zeros((0,), dtype=torch.float32)


def _groups(
    model,
    trajectories: Sequence[Trajectory],
    plans: list[list[Segment]],
    prefix_lens: list[int],
    token_budget: int,
    share_prefix: bool,
) -> list[list[tuple[int, list[int]]]]:
    """Forward calls of the scorer, each a list of ``(shared tokens, trajectories)`` laid-out rows
    (``core/shared_prefix.py``) whose prefix and segment tokens together stay under
    ``token_budget`` (rows x widest row). Without ``share_prefix`` every trajectory is a row of its
    own; with it, the rollouts of one prompt run that prompt once."""
    todo = [i for i, n in enumerate(prefix_lens) if n > 0]
    seg = [sum(len(sg.ids) for sg in plans[i]) for i in todo]
    if share_prefix:
        seqs = [list(trajectories[i].input_ids[: prefix_lens[i]]) for i in todo]
        batches = shared_prefix.micro_batches(
            seqs,
            [len(x) for x in seqs],  # any common beginning may be shared: the mask cuts at fs
            token_budget,
            attention=shared_prefix.attention_weight(model),
            extra=seg,
            longest_first=False,
        )
    else:
        costs = [prefix_lens[i] + n for i, n in zip(todo, seg, strict=True)]
        batches = [[(0, [b]) for b in mb] for mb in token_batches(costs, token_budget, False)]
    return [[(s, [todo[b] for b in rows]) for s, rows in mb] for mb in batches]


def _prefix_pass(
    model,
    ids: torch.Tensor,
    groups: list[tuple[int, list[int]]],
    lay: shared_prefix.Layout,
    want: torch.Tensor | None,
):
    """Run the real tokens of the laid-out rows (``groups``, laid out as ``lay``) once, keeping
    keys/values. ``ids``: [N, L] token ids of the batch; ``want``: [N, L] booleans, the positions
    whose log-prob is asked for (None: none). Returns (cache, log-probs): ``(rows, positions,
    values)`` of the wanted positions; the output head runs once per laid-out entry asked for.

    The log-prob of x_j is read from the hidden state of x_{j-1}: the previous entry of the
    laid-out row, except for the first token of a suffix, whose predecessor is the last token of
    the shared block it continues (the entry at its position minus one). A shared block's entries
    stand for every member of the group."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    mb = shared_prefix.pack({"input_ids": ids}, lay)
    cache = DynamicCache(config=model.config)
    hidden = model.get_decoder()(
        input_ids=mb["input_ids"].to(device),
        attention_mask=lay.attention_mask(mask_dtype(model)).to(device),
        position_ids=mb["position_ids"].to(device),
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    if want is None:
        return cache, None
    b, c = torch.nonzero(lay.owns & want[lay.src_row, lay.src_pos], as_tuple=True)
    parts = [(b, c, lay.src_row[b, c])]
    for g, (s, members) in enumerate(groups):
        for r in members if s else []:
            j = want[r, :s].nonzero().flatten()
            parts.append((torch.full_like(j, g), j, torch.full_like(j, r)))
    b, c, rows = (torch.cat(x) for x in zip(*parts, strict=True))
    width = lay.block.shape[1]
    entries, which = torch.unique(b * width + c, return_inverse=True)
    eb, ec = entries // width, entries % width
    first_of_suffix = (lay.parent[eb, ec] >= 0) & lay.starts[eb, ec]
    pred = torch.where(first_of_suffix, lay.src_pos[eb, ec] - 1, ec - 1)
    targets = mb["input_ids"][eb, ec]
    lp = _head_logprobs(model, hidden[eb.to(device), pred.to(device)], targets.to(device))
    return cache, (rows, lay.src_pos[b, c], lp.float().cpu()[which])


def _segment_pass(
    model, lay: shared_prefix.Layout, rows: list[list[int]], plans: list[list[Segment]], cache
) -> dict[int, list[float]]:
    """Mean counterfactual log-prob of every segment's targets: the segments of each laid-out row's
    trajectories (``rows[b]``) packed after it (``segment_mask``), all in one forward call."""
    device = next(model.parameters()).device
    blocks = [[(len(sg.ids), sg.fs) for r in rs for sg in plans[r]] for rs in rows]
    seg_width = max(1, max(sum(n for n, _ in bl) for bl in blocks))
    ids = torch.zeros((len(rows), seg_width), dtype=torch.long)
    pick_b, pick_c, targets, owner = [], [], [], []
    for b, rs in enumerate(rows):
        off = 0
        for r in rs:
            for j, sg in enumerate(plans[r]):
                n, k = len(sg.ids), len(sg.targets)
                ids[b, off : off + n] = torch.tensor(sg.ids, dtype=torch.long)
                pick_b += [b] * k
                pick_c += range(off + sg.first_pred, off + sg.first_pred + k)
                targets += sg.targets
                owner += [(r, j)] * k
                off += n
    hidden = model.get_decoder()(
        input_ids=ids.to(device),
        attention_mask=segment_mask(lay, rows, plans, mask_dtype(model)).to(device),
        position_ids=block_positions(blocks, seg_width).to(device),
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    picked = hidden[torch.tensor(pick_b, device=device), torch.tensor(pick_c, device=device)]
    lp = _head_logprobs(model, picked, torch.tensor(targets, device=device)).float().cpu()
    sums = {r: [0.0] * len(plans[r]) for rs in rows for r in rs}
    for (r, j), v in zip(owner, lp.tolist(), strict=True):
        sums[r][j] += v
    return {r: [v / len(sg.targets) for v, sg in zip(sums[r], plans[r])] for r in sums}


def _autocast(model, enabled: bool):
    device = next(model.parameters()).device
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _counterfactual_means(
    model,
    trajectories: Sequence[Trajectory],
    plans: list[list[Segment]],
    prefix_lens: list[int],
    token_budget: int,
    autocast: bool,
    share_prefix: bool,
    logprob_positions: list[list[int]] | None = None,
) -> tuple[list[list[float]], torch.Tensor | None]:
    """Counterfactual means per segment for every trajectory with ``prefix_lens[i] > 0`` (the real
    tokens ``[:prefix_lens[i]]`` run once); with ``logprob_positions`` also the [N, longest]
    log-probs of the prefixes at those positions (the old-log-prob pass; 0 elsewhere)."""
    means: list[list[float]] = [[] for _ in trajectories]
    width = max((len(t.input_ids) for t in trajectories), default=0)
    ids = torch.zeros((len(trajectories), width), dtype=torch.long)
    for i, t in enumerate(trajectories):
        ids[i, : len(t.input_ids)] = torch.as_tensor(t.input_ids, dtype=torch.long)
    old = want = None
    if logprob_positions is not None:
        old = torch.zeros((len(trajectories), width), dtype=torch.float32)
        want = torch.zeros((len(trajectories), width), dtype=torch.bool)
        for i, cols in enumerate(logprob_positions):
            want[i, cols] = True
    batches = _groups(model, trajectories, plans, prefix_lens, token_budget, share_prefix)
    with torch.no_grad(), _autocast(model, autocast):
        for groups in batches:
            members = [r for _, rs in groups for r in rs]
            lay = shared_prefix.layout(groups, {r: prefix_lens[r] for r in members})
            cache, lp = _prefix_pass(model, ids, groups, lay, want)
            if lp is not None:
                old[lp[0], lp[1]] = lp[2]
            if any(plans[r] for r in members):
                got = _segment_pass(model, lay, [rs for _, rs in groups], plans, cache)
                for r, m in got.items():
                    means[r] = m
            del cache
    return means, old


def _to_info_gain(
    trajectories: Sequence[Trajectory],
    plans: list[list[Segment]],
    cf_means: list[list[float]],
    old_logprobs: torch.Tensor,
) -> list[list[float]]:
    out = [[0.0] * len(tr.turns) for tr in trajectories]
    for n, (tr, segs) in enumerate(zip(trajectories, plans)):
        for sg, cf in zip(segs, cf_means[n]):
            s, e = tr.turns[sg.turn + 1].action
            out[n][sg.turn] = old_logprobs[n, s:e].mean().item() - cf
    return out


def information_gain_fast(
    model,
    trajectories: Sequence[Trajectory],
    placeholder_ids: Sequence[int],
    old_logprobs: torch.Tensor,
    *,
    token_budget: int = 16384,
    autocast: bool = False,
    share_prefix: bool = False,
) -> list[list[float]]:
    """IG_t for every turn of every trajectory (0.0 where a turn is not scored), equal to
    ``infopo_cli.core.infogain.information_gain`` but reusing ``old_logprobs``.

    old_logprobs: [N, L] float log-probs of the right-padded batch (row i = trajectory i, position j
    holds log pi(x_j | x_<j)) from the same model, before the update. token_budget bounds
    rows x (prefix + segment tokens) per forward call. autocast: run under bf16 autocast (use the
    same setting as the pass that produced ``old_logprobs``, so both terms share one precision).
    share_prefix: the rollouts of one prompt run their common beginning once (same values).
    """
    n_traj = len(trajectories)
    if old_logprobs.dim() != 2 or old_logprobs.shape[0] != n_traj:
        raise ValueError(
            f"old_logprobs must be [N={n_traj}, L], got shape {tuple(old_logprobs.shape)}"
        )
    longest = max((len(t.input_ids) for t in trajectories), default=0)
    if old_logprobs.shape[1] < longest:
        raise ValueError(
            f"old_logprobs has {old_logprobs.shape[1]} columns, the longest trajectory {longest} tokens"
        )
    if not supports_packing(model):
        return information_gain(model, trajectories, placeholder_ids, token_budget=token_budget)
    plans = [plan_segments(tr, placeholder_ids) for tr in trajectories]
    prefix_lens = [max((s.fs for s in segs), default=0) for segs in plans]
    was_training = model.training
    model.eval()
    try:
        cf, _ = _counterfactual_means(
            model, trajectories, plans, prefix_lens, token_budget, autocast, share_prefix
        )
    finally:
        model.train(was_training)
    return _to_info_gain(trajectories, plans, cf, old_logprobs.float().cpu())


def logprobs_and_information_gain(
    model,
    trajectories: Sequence[Trajectory],
    placeholder_ids: Sequence[int],
    *,
    token_budget: int = 16384,
    autocast: bool = False,
    action_tokens_only: bool = False,
    share_prefix: bool = False,
) -> tuple[torch.Tensor, list[list[float]]]:
    """Old log-probs [N, L] of the right-padded batch and IG_t per turn, both from one prefix pass
    per trajectory plus the packed counterfactual segments: a training step that uses this needs no
    separate old-log-prob pass.

    The log-probs are those of ``PolicyTrainer.logprobs`` (0 at position 0 and on padding). With
    ``action_tokens_only`` they are computed on agent tokens only (0 elsewhere), which is all the
    PPO loss reads, and the output head skips prompt and feedback tokens. With ``share_prefix``
    the rollouts of one prompt run that prompt once (``core/shared_prefix.py``; same values).
    """
    if action_tokens_only:
        positions = [
            [j for j, m in enumerate(t.action_mask()) if m and j > 0] for t in trajectories
        ]
    else:
        positions = [list(range(1, len(t.input_ids))) for t in trajectories]
    was_training = model.training
    model.eval()
    try:
        if not supports_packing(model):
            return _reference_logprobs_and_ig(
                model, trajectories, placeholder_ids, positions, token_budget, autocast
            )
        plans = [plan_segments(tr, placeholder_ids) for tr in trajectories]
        prefix_lens = [len(tr.input_ids) for tr in trajectories]
        cf, old = _counterfactual_means(
            model,
            trajectories,
            plans,
            prefix_lens,
            token_budget,
            autocast,
            share_prefix,
            positions,
        )
    finally:
        model.train(was_training)
    return old, _to_info_gain(trajectories, plans, cf, old)


def _reference_logprobs_and_ig(
    model,
    trajectories: Sequence[Trajectory],
    placeholder_ids: Sequence[int],
    positions: list[list[int]],
    token_budget: int,
    autocast: bool,
) -> tuple[torch.Tensor, list[list[float]]]:
    """The unpacked route for models the packed pass does not cover: plain full passes, at most
    ``token_budget`` (rows x width) tokens per forward call."""
    t = Batch(list(trajectories)).tensors()
    device = next(model.parameters()).device
    lengths = t["attention_mask"].sum(-1).tolist()
    old = torch.zeros(t["input_ids"].shape, dtype=torch.float32)
    with torch.no_grad(), _autocast(model, autocast):
        for rows in token_batches(lengths, token_budget):
            width = int(max(lengths[r] for r in rows))
            ids, attn = (t[k][rows, :width].to(device) for k in ("input_ids", "attention_mask"))
            old[rows, :width] = token_logprobs(model, ids, attn).float().cpu()
    keep = torch.zeros(old.shape, dtype=torch.bool)
    for n, cols in enumerate(positions):
        keep[n, cols] = True
    old = old * keep
    return old, information_gain(model, trajectories, placeholder_ids, token_budget=token_budget)
