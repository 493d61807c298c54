"""Advantages: GRPO outcome advantage, intrinsic normalisation, variance-gated fusion (docs/method.md, Advantages).

Pure tensor functions. Shapes: N trajectories, L tokens (right-padded); ``mask`` [N, L] is 1 on agent
tokens. Every std is the unbiased one (torch's default); where fewer than two values exist the
conventions below keep everything finite.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch

EPS = 1e-6
FUSION_MODES = ("variance_gated", "fixed", "ig_only", "none")


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
) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-level advantages [N, L] and the fusion statistics a trainer logs."""
    if mode not in FUSION_MODES:
        raise ValueError(f"fusion mode {mode!r} is not one of {', '.join(FUSION_MODES)}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
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


def _tied_fraction(outcomes: torch.Tensor, groups: Sequence[Hashable]) -> float:
    """Share of groups whose outcomes all tie (GRPO has no signal there)."""
    idx = _group_index(groups)
    if not idx:
        return 0.0
    return sum(bool((outcomes[i] == outcomes[i[0]]).all()) for i in idx) / len(idx)


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
) -> torch.Tensor:
    """A = A_out + beta * gate_g * m * A_int (``variance_gated``); ``fixed`` drops the gate,
    ``ig_only`` keeps m * A_int, ``none`` is plain GRPO. Returns [N, L], 0 where mask is 0."""
    adv, _ = fuse_advantages_with_stats(
        outcomes, groups, intrinsic, mask, mode=mode, beta=beta, tau=tau, normalize=normalize
    )
    return adv
