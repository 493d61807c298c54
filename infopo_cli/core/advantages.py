"""Advantages: GRPO outcome advantage, intrinsic normalisation, variance-gated fusion, and the
baselines run through the same trainer: RLOO and turn-level credit (docs/method.md, Advantages).

Pure tensor functions. Shapes: N trajectories, L tokens (right-padded); ``mask`` [N, L] is 1 on agent
tokens. Every std is the unbiased one (torch's default); where fewer than two values exist the
conventions below keep everything finite.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch

EPS = 1e-6
# The modes that fuse information gain with the outcome (the scorer computes IG only for these).
INFOGAIN_MODES = ("variance_gated", "fixed", "ig_only")
# Turn-level credit from per-turn rewards (``turn_credit_advantage``).
TURN_MODES = ("reward_to_go", "equalized")
FUSION_MODES = (*INFOGAIN_MODES, "none", "rloo", *TURN_MODES)


def _group_index(groups: Sequence[Hashable]) -> list[list[int]]:
    index: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    return list(index.values())


def _std(x: torch.Tensor) -> torch.Tensor:
    """Unbiased std, 0 for fewer than two values (instead of NaN)."""
    return x.std() if x.numel() > 1 else x.new_zeros(())


def outcome_advantage(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """GRPO: A_out_i = (S_i - mean_g S) / (std_g S + eps); a group of one uses mean 0, std 1. [N] -> [N]."""
    adv = torch.zeros_like(outcomes, dtype=torch.float32)
    for idx in _group_index(groups):
        s = outcomes[idx].float()
        if len(idx) == 1:
            mean, std = s.new_zeros(()), s.new_ones(())
        else:
            mean, std = s.mean(), s.std()
        adv[idx] = (s - mean) / (std + EPS)
    return adv


def rloo_advantage(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """RLOO: A_i = S_i - mean_{j in g, j != i} S_j, no std division. [N] -> [N].

    Equal to G / (G - 1) * (S_i - mean_g S) for a group of G. A group of one has no other member:
    its baseline is 0 (A_i = S_i), the mean-0 convention of ``outcome_advantage``.
    """
    adv = torch.zeros_like(outcomes, dtype=torch.float32)
    for idx in _group_index(groups):
        s = outcomes[idx].float()
        n = len(idx)
        # the others' mean, from the group sum without S_i
        baseline = (s.sum() - s) / (n - 1) if n > 1 else torch.zeros_like(s)
        adv[idx] = s - baseline
    return adv


def reward_to_go(rewards: Sequence[float], gamma: float) -> list[float]:
    """G_t = sum_{k >= t} gamma^(k - t) r_k for every turn t of one episode."""
    out, running = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def turn_credit_advantage(
    turn_rewards: Sequence[Sequence[float]],
    groups: Sequence[Hashable],
    *,
    scheme: str,
    gamma: float,
) -> list[list[float]]:
    """Per-turn advantages A_{i,t} from per-turn rewards r_{i,t} (turn-level credit of user-centric
    RL), one list per trajectory. With G_{i,t} = sum_{k >= t} gamma^(k - t) r_{i,k}:

    - ``reward_to_go``: A_{i,t} = (G_{i,t} - mean_g G) / (std_g G + eps), the mean and std over
      every turn of every trajectory of the group (turn positions are pooled: episodes of a group
      end at different turns, so a position can hold a single value). Fewer than two values in a
      group: mean 0, std 1.
    - ``equalized``: every turn gets its episode's return G_{i,0} = sum_t gamma^t r_{i,t},
      group-normalised as the GRPO outcome advantage: A_{i,t} = (G_{i,0} - mean_g G_0) /
      (std_g G_0 + eps); a group of one uses mean 0, std 1.

    A task that scores only the outcome has r_{i,t} = 0 before the last turn T_i and r_{i,T_i} =
    S_i (``Trajectory.turn_rewards``), so G_{i,t} = gamma^(T_i - t) S_i: ``equalized`` is GRPO on
    gamma^(T_i) S_i (exactly GRPO at gamma = 1), and ``reward_to_go`` at gamma = 1 gives every turn
    of an episode its S_i, z-scored with each trajectory weighted by its number of turns.
    """
    if scheme not in TURN_MODES:
        raise ValueError(f"turn credit scheme {scheme!r} is not one of {', '.join(TURN_MODES)}")
    returns = [reward_to_go(r, gamma) for r in turn_rewards]
    out: list[list[float]] = [[] for _ in returns]
    for idx in _group_index(groups):
        if scheme == "equalized":
            first = torch.tensor([returns[i][0] if returns[i] else 0.0 for i in idx])
            adv = outcome_advantage(first, [0] * len(idx)).tolist()
            for i, a in zip(idx, adv):
                out[i] = [a] * len(returns[i])
            continue
        pooled = torch.tensor([g for i in idx for g in returns[i]], dtype=torch.float32)
        if pooled.numel() > 1:
            mean, std = pooled.mean().item(), pooled.std().item()
        else:
            mean, std = 0.0, 1.0
        for i in idx:
            out[i] = [(g - mean) / (std + EPS) for g in returns[i]]
    return out


def turn_token_advantage(
    values: Sequence[Sequence[float]], spans: Sequence[Sequence[tuple[int, int]]], width: int
) -> torch.Tensor:
    """[N, width]: the value of turn t of trajectory i on every token of its action span a_t, 0
    elsewhere (the per-turn credit put where the policy loss reads it)."""
    out = torch.zeros((len(values), width), dtype=torch.float32)
    for i, (vals, sp) in enumerate(zip(values, spans)):
        for v, (s, e) in zip(vals, sp):
            out[i, s:e] = v
    return out


def group_outcome_std(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """std_g(S) of each trajectory's group, per trajectory [N]; a group of one has std 1, the
    convention of ``outcome_advantage`` and of the reference (such a group arises when the failed
    episodes of a group are dropped)."""
    out = torch.zeros_like(outcomes, dtype=torch.float32)
    for idx in _group_index(groups):
        out[idx] = 1.0 if len(idx) == 1 else _std(outcomes[idx].float())
    return out


def normalize_intrinsic(
    intrinsic: torch.Tensor, groups: Sequence[Hashable], mask: torch.Tensor
) -> torch.Tensor:
    """Z-score the non-zero token-level IG values of each group with that group's mean and std.

    Zero tokens stay 0. A group with one non-zero value uses mean = value, std = 1 (so it becomes 0).
    """
    out = torch.zeros_like(intrinsic, dtype=torch.float32)
    for idx in _group_index(groups):
        x = intrinsic[idx].float()
        nz = (x != 0) & (mask[idx] > 0)
        vals = x[nz]
        if vals.numel() == 0:
            continue
        if vals.numel() == 1:
            mean, std = vals[0], vals.new_ones(())
        else:
            mean, std = vals.mean(), vals.std()
        z = torch.zeros_like(x)
        z[nz] = (vals - mean) / (std + EPS)
        out[idx] = z
    return out


def magnitude_bound(
    a_out_tokens: torch.Tensor, a_int: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """m = min(1, max(std(A_out) + eps, 1) / (std(A_int) + eps)), stds over all agent tokens of the batch."""
    sel = mask > 0
    s_out = _std(a_out_tokens[sel])
    s_int = _std(a_int[sel])
    return torch.clamp(torch.clamp(s_out + EPS, min=1.0) / (s_int + EPS), max=1.0)


def variance_gate(outcomes: torch.Tensor, groups: Sequence[Hashable], tau: float) -> torch.Tensor:
    """gate_g = sigmoid(-std_g(S) / tau), per trajectory [N]: 0.5 when a group's outcomes tie,
    sigmoid(-1 / tau) for a group of one (std 1, ``group_outcome_std``)."""
    return torch.sigmoid(-group_outcome_std(outcomes, groups) / tau)


def decayed_beta(beta0: float, decay: float, epoch: float) -> float:
    """beta = beta0 * exp(-decay * epoch)."""
    return beta0 * math.exp(-decay * epoch)


def fuse_advantages_with_stats(
    outcomes: torch.Tensor,
    groups: Sequence[Hashable],
    intrinsic: torch.Tensor,
    mask: torch.Tensor,
    *,
    mode: str = "variance_gated",
    beta: float = 0.5,
    tau: float = 0.5,
    normalize: bool = True,
    gamma: float = 1.0,
    turn_rewards: Sequence[Sequence[float]] | None = None,
    turn_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-level advantages [N, L] and the fusion statistics a trainer logs.

    ``rloo`` puts ``rloo_advantage`` on every agent token; ``reward_to_go`` and ``equalized`` put
    ``turn_credit_advantage`` (discount ``gamma``) of each turn on the tokens of its action, from
    ``turn_rewards`` and ``turn_spans`` (per trajectory, one reward and one action span per turn),
    which these two modes need. The gate and magnitude are logged under every mode.
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"fusion mode {mode!r} is not one of {', '.join(FUSION_MODES)}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if mode in TURN_MODES and (turn_rewards is None or turn_spans is None):
        raise ValueError(f"fusion mode {mode!r} needs turn_rewards and turn_spans")
    mask = mask.float()
    a_out = outcome_advantage(outcomes, groups)[:, None] * mask  # [N, L]
    a_int = normalize_intrinsic(intrinsic, groups, mask) if normalize else intrinsic.float() * mask
    m = magnitude_bound(a_out, a_int, mask)
    gate = variance_gate(outcomes, groups, tau)  # [N]
    if mode == "variance_gated":
        adv = a_out + beta * gate[:, None] * m * a_int
    elif mode == "fixed":
        adv = a_out + beta * m * a_int
    elif mode == "ig_only":
        adv = m * a_int
    elif mode == "rloo":
        adv = rloo_advantage(outcomes, groups)[:, None] * mask
    elif mode in TURN_MODES:
        per_turn = turn_credit_advantage(turn_rewards, groups, scheme=mode, gamma=gamma)
        adv = turn_token_advantage(per_turn, turn_spans, mask.shape[1])
    else:  # "none": plain GRPO
        adv = a_out
    adv = torch.nan_to_num(adv, nan=0.0, posinf=0.0, neginf=0.0) * mask
    sel = mask > 0
    stats = {
        "fusion/gate_mean": gate.mean().item() if gate.numel() else 0.0,
        "fusion/magnitude": m.item(),
        "fusion/beta": beta,
        "fusion/tied_groups": _tied_fraction(outcomes, groups),
        "fusion/adv_abs_mean": adv[sel].abs().mean().item() if sel.any() else 0.0,
        "fusion/int_abs_mean": a_int[sel].abs().mean().item() if sel.any() else 0.0,
    }
    return adv, stats


def tied_groups(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> list[Hashable]:
    """The groups whose outcomes all tie (zero variance: GRPO has no signal there), a group of one
    included, in order of first appearance."""
    return [
        groups[i[0]] for i in _group_index(groups) if bool((outcomes[i] == outcomes[i[0]]).all())
    ]


def _tied_fraction(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> float:
    """Share of groups whose outcomes all tie."""
    n = len(_group_index(groups))
    return len(tied_groups(outcomes, groups)) / n if n else 0.0


def fuse_advantages(
    outcomes: torch.Tensor,
    groups: Sequence[Hashable],
    intrinsic: torch.Tensor,
    mask: torch.Tensor,
    *,
    mode: str = "variance_gated",
    beta: float = 0.5,
    tau: float = 0.5,
    normalize: bool = True,
    gamma: float = 1.0,
    turn_rewards: Sequence[Sequence[float]] | None = None,
    turn_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> torch.Tensor:
    """A = A_out + beta * gate_g * m * A_int (``variance_gated``); ``fixed`` drops the gate,
    ``ig_only`` keeps m * A_int, ``none`` is plain GRPO, ``rloo`` the leave-one-out advantage,
    ``reward_to_go`` / ``equalized`` turn-level credit. Returns [N, L], 0 where mask is 0."""
    adv, _ = fuse_advantages_with_stats(
        outcomes,
        groups,
        intrinsic,
        mask,
        mode=mode,
        beta=beta,
        tau=tau,
        normalize=normalize,
        gamma=gamma,
        turn_rewards=turn_rewards,
        turn_spans=turn_spans,
    )
    return adv
