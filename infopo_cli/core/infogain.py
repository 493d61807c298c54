"""Information gain of each turn from a masked-feedback counterfactual (docs/method.md, Information gain).

IG_t = mean_k [ log pi(a_{t+1,k} | ..., a_t, o_t, a_{t+1,<k}) - log pi(a_{t+1,k} | ..., a_t, o~_t, a_{t+1,<k}) ]

where o~_t is the placeholder text forced to the token length of o_t's feedback span. Turns without
feedback or without a next action get 0. The value is credited to a_t, the action that elicited o_t.

This module is the straightforward reference: two teacher-forced passes per scored turn (factual and
counterfactual prefix up to the end of a_{t+1}), batched under a token budget. A faster scorer that
reuses the old-log-prob pass lives in ``infopo_cli.core.infogain_fast`` and is tested against this one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from infopo_cli.core.logprobs import token_logprobs
from infopo_cli.core.trajectory import Trajectory, token_batches

DEFAULT_PLACEHOLDER = "No information found."


def fit_placeholder(placeholder_ids: Sequence[int], length: int) -> list[int]:
    """The placeholder forced to exactly ``length`` tokens: truncated if longer, its last token
    repeated if shorter (the reference's rule, which keeps every later position unchanged)."""
    if not placeholder_ids:
        raise ValueError(
            "placeholder_ids is empty: the masked counterfactual needs at least one token"
        )
    ph = list(placeholder_ids[:length])
    return ph + [ph[-1]] * (length - len(ph))


def parsed_only(info_gain: Sequence[float], parsed: Sequence[bool]) -> list[float]:
    """IG_t where a_t is in the task's protocol (``Task.parses``), 0 elsewhere.

    An off-protocol message (an empty one, a half sentence) draws a reply such as "Sorry, I don't
    know what you mean", and that reply moves the next action away from its masked counterfactual
    as much as an answer does: plain IG credits drawing *any* reply. With this filter only messages
    the user could act on earn information credit (docs/results/clarify_vague.md)."""
    if len(info_gain) != len(parsed):
        raise ValueError(f"{len(info_gain)} turn gains but {len(parsed)} parse flags")
    return [ig if ok else 0.0 for ig, ok in zip(info_gain, parsed)]


def counterfactual_ids(traj: Trajectory, turn: int, placeholder_ids: Sequence[int]) -> list[int]:
    """The trajectory's ids with only turn ``turn``'s feedback replaced by the fitted placeholder."""
    fs, fe = traj.turns[turn].feedback
    ids = list(traj.input_ids)
    ids[fs:fe] = fit_placeholder(placeholder_ids, fe - fs)
    return ids


@torch.no_grad()
def span_mean_logprobs(
    model, sequences: list[list[int]], spans: list[tuple[int, int]], token_budget: int = 16384
) -> list[float]:
    """Mean teacher-forced log-prob of ``seq[s:e]`` given ``seq[:s]``, for every (seq, span)."""
    device = next(model.parameters()).device
    result = [0.0] * len(sequences)
    for rows in token_batches([len(s) for s in sequences], token_budget, longest_first=False):
        width = max(len(sequences[i]) for i in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, : len(sequences[i])] = torch.tensor(sequences[i])
            attn[r, : len(sequences[i])] = 1
        lp = token_logprobs(model, ids.to(device), attn.to(device)).cpu()  # [R, W]
        for r, i in enumerate(rows):
            s, e = spans[i]
            result[i] = lp[r, s:e].mean().item()
    return result


@torch.no_grad()
def information_gain(
    model,
    trajectories: Sequence[Trajectory],
    placeholder_ids: Sequence[int],
    *,
    token_budget: int = 16384,
) -> list[list[float]]:
    """IG_t for every turn of every trajectory (0.0 where a turn is not scored).

    model: a transformers causal LM (the policy that generated the batch, before this step's update).
    Runs on the model's device, in eval mode (no dropout), without gradients.
    """
    was_training = model.training
    model.eval()
    try:
        seqs, spans, where = [], [], []
        for n, traj in enumerate(trajectories):
            for t in traj.scored_turns():
                s, e = traj.turns[t + 1].action
                seqs.append(traj.input_ids[:e])
                seqs.append(counterfactual_ids(traj, t, placeholder_ids)[:e])
                spans += [(s, e), (s, e)]
                where.append((n, t))
        means = span_mean_logprobs(model, seqs, spans, token_budget)
        out = [[0.0] * len(traj.turns) for traj in trajectories]
        for k, (n, t) in enumerate(where):
            out[n][t] = means[2 * k] - means[2 * k + 1]
        return out
    finally:
        model.train(was_training)
