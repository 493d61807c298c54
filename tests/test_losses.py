"""PPO-clip with dual clip, one token per branch, values by hand."""

from __future__ import annotations

import math

import pytest
import torch

from infopo_cli.core.losses import entropy_bonus, kl_k3, ppo_clip_loss


@pytest.mark.parametrize(
    "adv,ratio,want",
    [
        (1.0, 1.5, -1.2),  # positive advantage, ratio above 1 + eps: clipped
        (1.0, 0.5, -0.5),  # positive advantage, ratio below 1 - eps: unclipped (pessimistic min)
        (1.0, 1.1, -1.1),  # inside the trust region
        (-1.0, 1.5, 1.5),  # negative advantage, ratio above: unclipped, below the dual bound
        (-1.0, 5.0, 3.0),  # negative advantage, ratio exploded: dual clip at c = 3
        (-1.0, 0.5, 0.8),  # negative advantage, ratio below: clipped at 1 - eps
        (-2.0, 0.9, 1.8),
    ],
)
def test_each_clip_branch(adv, ratio, want):
    old = torch.tensor([[-1.0]])
    lp = old + math.log(ratio)
    loss, m = ppo_clip_loss(lp, old, torch.tensor([[adv]]), torch.ones(1, 1))
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert m["loss/dual_clip_frac"] == (1.0 if (adv, ratio) == (-1.0, 5.0) else 0.0)


def test_token_mean_over_mask_and_global_count():
    old = torch.zeros(2, 3)
    lp = torch.log(torch.tensor([[1.5, 0.5, 9.0], [1.0, 1.1, 9.0]]))
    adv = torch.tensor([[1.0, 1.0, 100.0], [-1.0, 2.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    loss, m = ppo_clip_loss(lp, old, adv, mask)
    per = [-1.2, -0.5, 1.0, -2.2]
    assert loss.item() == pytest.approx(sum(per) / 4, rel=1e-5)
    loss8, _ = ppo_clip_loss(lp, old, adv, mask, num_tokens=8)
    assert loss8.item() == pytest.approx(sum(per) / 8, rel=1e-5)
    assert m["loss/clip_frac"] == pytest.approx(0.25)  # only the 1.5-ratio token is clipped


def test_gradient_is_zero_where_clipped():
    old = torch.zeros(1, 2)
    lp = torch.log(torch.tensor([[1.5, 1.1]])).requires_grad_()
    loss, _ = ppo_clip_loss(lp, old, torch.tensor([[1.0, 1.0]]), torch.ones(1, 2))
    loss.backward()
    assert lp.grad[0, 0] == 0.0 and lp.grad[0, 1] == pytest.approx(-1.1 / 2)


def test_dual_clip_must_exceed_one():
    with pytest.raises(ValueError):
        ppo_clip_loss(
            torch.zeros(1, 1), torch.zeros(1, 1), -torch.ones(1, 1), torch.ones(1, 1), dual_clip=0.5
        )


def test_kl_and_entropy():
    assert kl_k3(torch.tensor([-1.0]), torch.tensor([-1.0])).item() == 0.0
    d = -0.5 - (-1.0)
    assert kl_k3(torch.tensor([-1.0]), torch.tensor([-0.5])).item() == pytest.approx(
        math.exp(d) - d - 1
    )
    ent = torch.tensor([[1.0, 3.0, 100.0]])
    assert entropy_bonus(ent, torch.tensor([[1.0, 1.0, 0.0]])).item() == 2.0
