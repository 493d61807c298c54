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

from infopo_cli.core.infogain import fit_placeholder, information_gain
from infopo_cli.core.logprobs import (
    HEAD_CHUNK_ROWS,
    HEAD_POSTPROCESSING,
    gather_logprobs,
    head_logprobs,
    token_logprobs,
)
from infopo_cli.core.packing import (
    block_causal_mask,
    block_positions,
    mask_dtype,
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


def segment_blocks(segments: list[list[Segment]]) -> list[list[tuple[int, int]]]:
    """Each row's segments as packed blocks (``infopo_cli.core.packing``): a segment of turn t
    continues the real prefix ``[:fs_t]``, so it sits at positions from ``fs_t`` and sees that prefix."""
    return [[(len(sg.ids), sg.fs) for sg in segs] for segs in segments]


def segment_mask(
    segments: list[list[Segment]],
    prefix_width: int,
    seg_width: int,
    float_dtype: torch.dtype | None,
) -> torch.Tensor:
    """[B, 1, seg_width, prefix_width + seg_width] mask of the segment pass: a segment's token sees
    the cached prefix ``[:fs]`` and its own segment up to itself (``block_causal_mask``)."""
    return block_causal_mask(segment_blocks(segments), prefix_width, seg_width, float_dtype)


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


def _prefix_pass(model, prefixes: list[list[int]], wanted: list[list[int]] | None):
    """Run the real tokens once, keeping keys/values. Returns (cache, width, log-probs): when
    ``wanted`` is given, a [B, width] float32 CPU tensor with log pi(x_j | x_<j) at every position j
    listed for the row (0 elsewhere); the output head runs on those positions only."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    width = max(len(p) for p in prefixes)
    ids = torch.zeros((len(prefixes), width), dtype=torch.long)
    attn = torch.zeros((len(prefixes), width), dtype=torch.long)
    for r, p in enumerate(prefixes):
        ids[r, : len(p)] = torch.tensor(p, dtype=torch.long)
        attn[r, : len(p)] = 1
    cache = DynamicCache(config=model.config)
    hidden = model.get_decoder()(
        input_ids=ids.to(device),
        attention_mask=attn.to(device),
        position_ids=torch.arange(width, device=device).expand(len(prefixes), -1),
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    if wanted is None:
        return cache, width, None
    rows = torch.tensor([r for r, w in enumerate(wanted) for _ in w], dtype=torch.long)
    cols = torch.tensor([j for w in wanted for j in w], dtype=torch.long)
    lp = torch.zeros((len(prefixes), width), dtype=torch.float32)
    picked = hidden[rows.to(device), (cols - 1).to(device)]
    lp[rows, cols] = _head_logprobs(model, picked, ids[rows, cols].to(device)).float().cpu()
    return cache, width, lp


def _segment_pass(
    model, segments: list[list[Segment]], cache, prefix_width: int
) -> list[list[float]]:
    """Mean counterfactual log-prob of every segment's targets, all segments in one forward call."""
    device = next(model.parameters()).device
    seg_width = max(1, max(sum(len(s.ids) for s in segs) for segs in segments))
    ids = torch.zeros((len(segments), seg_width), dtype=torch.long)
    pos = block_positions(segment_blocks(segments), seg_width)
    rows, cols, targets, owner = [], [], [], []
    for r, segs in enumerate(segments):
        off = 0
        for j, sg in enumerate(segs):
            n = len(sg.ids)
            ids[r, off : off + n] = torch.tensor(sg.ids, dtype=torch.long)
            k = len(sg.targets)
            rows += [r] * k
            cols += range(off + sg.first_pred, off + sg.first_pred + k)
            targets += sg.targets
            owner += [(r, j)] * k
            off += n
    mask = segment_mask(segments, prefix_width, seg_width, mask_dtype(model))
    hidden = model.get_decoder()(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=pos.to(device),
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    picked = hidden[torch.tensor(rows, device=device), torch.tensor(cols, device=device)]
    lp = _head_logprobs(model, picked, torch.tensor(targets, device=device)).float().cpu()
    sums = [[0.0] * len(segs) for segs in segments]
    for (r, j), v in zip(owner, lp.tolist()):
        sums[r][j] += v
    return [
        [sums[r][j] / len(sg.targets) for j, sg in enumerate(segs)]
        for r, segs in enumerate(segments)
    ]


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
    logprob_positions: list[list[int]] | None = None,
) -> tuple[list[list[float]], torch.Tensor | None]:
    """Counterfactual means per segment for every trajectory with ``prefix_lens[i] > 0``; with
    ``logprob_positions`` also the [N, longest] log-probs of the prefixes at those positions (the
    old-log-prob pass; 0 elsewhere)."""
    means: list[list[float]] = [[] for _ in trajectories]
    old = None
    if logprob_positions is not None:
        width = max((len(t.input_ids) for t in trajectories), default=0)
        old = torch.zeros((len(trajectories), width), dtype=torch.float32)
    todo = [i for i, n in enumerate(prefix_lens) if n > 0]
    costs = [prefix_lens[i] + sum(len(s.ids) for s in plans[i]) for i in todo]
    with torch.no_grad(), _autocast(model, autocast):
        for batch in token_batches(costs, token_budget, longest_first=False):
            idx = [todo[b] for b in batch]
            prefixes = [list(trajectories[i].input_ids[: prefix_lens[i]]) for i in idx]
            wanted = None if old is None else [logprob_positions[i] for i in idx]
            cache, width, lp = _prefix_pass(model, prefixes, wanted)
            if old is not None:
                old[idx, :width] = lp
            segs = [plans[i] for i in idx]
            if any(segs):
                for i, m in zip(idx, _segment_pass(model, segs, cache, width)):
                    means[i] = m
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
) -> list[list[float]]:
    """IG_t for every turn of every trajectory (0.0 where a turn is not scored), equal to
    ``infopo_cli.core.infogain.information_gain`` but reusing ``old_logprobs``.

    old_logprobs: [N, L] float log-probs of the right-padded batch (row i = trajectory i, position j
    holds log pi(x_j | x_<j)) from the same model, before the update. token_budget bounds
    rows x (prefix + segment tokens) per forward call. autocast: run under bf16 autocast (use the
    same setting as the pass that produced ``old_logprobs``, so both terms share one precision).
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
            model, trajectories, plans, prefix_lens, token_budget, autocast
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
) -> tuple[torch.Tensor, list[list[float]]]:
    """Old log-probs [N, L] of the right-padded batch and IG_t per turn, both from one prefix pass
    per trajectory plus the packed counterfactual segments: a training step that uses this needs no
    separate old-log-prob pass.

    The log-probs are those of ``PolicyTrainer.logprobs`` (0 at position 0 and on padding). With
    ``action_tokens_only`` they are computed on agent tokens only (0 elsewhere), which is all the
    PPO loss reads, and the output head skips prompt and feedback tokens.
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
            model, trajectories, plans, prefix_lens, token_budget, autocast, positions
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
