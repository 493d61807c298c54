"""Fusion against the formulas of docs/method.md (Advantages), computed independently with math."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from infopo_cli.core.advantages import (
    fuse_advantages,
    fuse_advantages_with_stats,
    outcome_advantage,
)

EPS = 1e-6


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_outcome_advantage_groups_and_singletons():
    a = outcome_advantage(torch.tensor([1.0, 0.0, 0.5, 0.5, 0.7]), ["a", "a", "b", "b", "c"])
    sd = statistics.stdev([1.0, 0.0])
    assert a.tolist() == pytest.approx(
        [0.5 / (sd + EPS), -0.5 / (sd + EPS), 0.0, 0.0, 0.7 / (1 + EPS)]
    )


def make_case():
    outcomes = torch.tensor([1.0, 0.0, 0.5, 0.5])
    groups = ["a", "a", "b", "b"]
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.float32)
    intrinsic = torch.tensor([[0.2, 0.2, 0.0], [0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    return outcomes, groups, intrinsic, mask


def expected(mode, beta, tau, normalize=True):
    """Token advantages of make_case() from the formulas, by hand."""
    outcomes, groups, intrinsic, mask = make_case()
    sd_a = statistics.stdev([1.0, 0.0])
    a_out = [0.5 / (sd_a + EPS), -0.5 / (sd_a + EPS), 0.0, 0.0]
    # intrinsic: group a pools [0.2, 0.2], group b pools [0.3, -0.1]
    za = [(0.2 - 0.2) / (statistics.stdev([0.2, 0.2]) + EPS)] * 2
    mb, sb = statistics.mean([0.3, -0.1]), statistics.stdev([0.3, -0.1])
    a_int = [
        [za[0], za[1], 0],
        [0, 0, 0],
        [(0.3 - mb) / (sb + EPS), 0, 0],
        [(-0.1 - mb) / (sb + EPS), 0, 0],
    ]
    if not normalize:
        a_int = intrinsic.tolist()
    m_ = mask.tolist()
    out_tok = [a_out[i] for i in range(4) for j in range(3) if m_[i][j]]
    int_tok = [a_int[i][j] for i in range(4) for j in range(3) if m_[i][j]]
    m = min(1.0, max(statistics.stdev(out_tok) + EPS, 1.0) / (statistics.stdev(int_tok) + EPS))
    gate = [sigmoid(-sd_a / tau)] * 2 + [sigmoid(0.0)] * 2
    res = []
    for i in range(4):
        row = []
        for j in range(3):
            if not m_[i][j]:
                row.append(0.0)
            elif mode == "variance_gated":
                row.append(a_out[i] + beta * gate[i] * m * a_int[i][j])
            elif mode == "fixed":
                row.append(a_out[i] + beta * m * a_int[i][j])
            elif mode == "ig_only":
                row.append(m * a_int[i][j])
            else:
                row.append(a_out[i])
        res.append(row)
    return res, gate, m


@pytest.mark.parametrize("mode", ["variance_gated", "fixed", "ig_only", "none"])
def test_fusion_matches_hand_computation(mode):
    want, gate, m = expected(mode, beta=0.5, tau=0.5)
    adv, stats = fuse_advantages_with_stats(*make_case(), mode=mode, beta=0.5, tau=0.5)
    assert adv.tolist() == [pytest.approx(r, abs=1e-5) for r in want]
    assert stats["fusion/gate_mean"] == pytest.approx(sum(gate) / 4)
    assert stats["fusion/magnitude"] == pytest.approx(m, rel=1e-5)


def test_tied_group_gets_gate_half_and_raw_mode():
    want, gate, _ = expected("variance_gated", beta=0.3, tau=0.5, normalize=False)
    assert gate[2] == 0.5
    adv = fuse_advantages(*make_case(), beta=0.3, tau=0.5, normalize=False)
    assert adv.tolist() == [pytest.approx(r, abs=1e-5) for r in want]


def test_none_is_exactly_grpo():
    outcomes, groups, intrinsic, mask = make_case()
    adv = fuse_advantages(outcomes, groups, intrinsic, mask, mode="none")
    assert torch.equal(adv, outcome_advantage(outcomes, groups)[:, None] * mask)


def test_small_tau_with_spread_outcomes_is_grpo():
    outcomes = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.2, 0.9])
    groups = ["a", "a", "b", "b", "c", "c"]
    mask = torch.ones(6, 4)
    intrinsic = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    gated = fuse_advantages(outcomes, groups, intrinsic, mask, tau=1e-4)
    grpo = fuse_advantages(outcomes, groups, intrinsic, mask, mode="none")
    assert torch.allclose(gated, grpo, atol=1e-12)


def test_all_zero_ig_is_grpo():
    outcomes, groups, _, mask = make_case()
    zeros = torch.zeros(4, 3)
    for mode in ("variance_gated", "fixed"):
        assert torch.equal(
            fuse_advantages(outcomes, groups, zeros, mask, mode=mode),
            fuse_advantages(outcomes, groups, zeros, mask, mode="none"),
        )


def test_degenerate_inputs_stay_finite():
    # a group of one, constant groups, one non-zero IG value, a row without agent tokens
    outcomes = torch.tensor([1.0, 1.0, 1.0, 0.0])
    groups = ["solo", "tie", "tie", "other"]
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    intrinsic = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    for mode in ("variance_gated", "fixed", "ig_only", "none"):
        adv = fuse_advantages(outcomes, groups, intrinsic, mask, mode=mode)
        assert torch.isfinite(adv).all()
        assert adv[3].abs().sum() == 0  # masked row stays 0
    # the single non-zero IG value of group "tie" normalises to 0 (mean = value, std = 1)
    assert fuse_advantages(outcomes, groups, intrinsic, mask, mode="ig_only")[1, 0] == 0.0


def test_bad_mode_and_tau_raise():
    with pytest.raises(ValueError, match="fusion mode"):
        fuse_advantages(*make_case(), mode="nope")
    with pytest.raises(ValueError, match="tau"):
        fuse_advantages(*make_case(), tau=0.0)


def test_a_group_of_one_gates_as_std_one():
    """A group left with one trajectory (its failed episodes dropped) has std 1, as in the reference:
    gate sigmoid(-1 / tau), not the 0.5 of a tied group."""
    from infopo_cli.core.advantages import group_outcome_std, variance_gate
    from infopo_cli.runtime.credit import variance_gate as view_gate

    outcomes = torch.tensor([0.0, 1.0, 1.0, 0.3])
    groups = ["solo", "tie", "tie", "solo2"]
    assert group_outcome_std(outcomes, groups).tolist() == [1.0, 0.0, 0.0, 1.0]
    gate = variance_gate(outcomes, groups, tau=0.05)
    assert gate.tolist() == pytest.approx([sigmoid(-1 / 0.05), 0.5, 0.5, sigmoid(-1 / 0.05)])
    assert view_gate([0.3], 0.5) == pytest.approx(sigmoid(-1 / 0.5))
    # fused by hand: the solo trajectory's outcome advantage is S / (1 + eps); one IG value per
    # group of one normalises to 0, so give the solo group two non-zero tokens
    mask = torch.ones(4, 2)
    intrinsic = torch.tensor([[1.0, 3.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    tau, beta = 0.5, 0.5
    adv = fuse_advantages(outcomes, groups, intrinsic, mask, beta=beta, tau=tau)
    a_int = (torch.tensor([1.0, 3.0]) - 2.0) / (statistics.stdev([1.0, 3.0]) + EPS)
    a_out = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.3]) / (1 + EPS)
    all_int = torch.cat([a_int, torch.zeros(6)])
    m = min(1.0, max(a_out.std().item() + EPS, 1.0) / (all_int.std().item() + EPS))
    want0 = beta * sigmoid(-1 / tau) * m * a_int
    assert adv[0].tolist() == pytest.approx(want0.tolist(), abs=1e-6)
