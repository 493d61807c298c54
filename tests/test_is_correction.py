"""Sampler/trainer mismatch correction (trainer.is_correction): the TIS/MIS weights on hand-made
inputs, their place in the PPO loss and the update, the engine's log-probs in the batch tensors."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from infopo_cli.config import TrainerConfig
from infopo_cli.core.losses import is_weights, ppo_clip_loss
from infopo_cli.core.trajectory import Batch, Trajectory, Turn
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.engines.base import Engine
from infopo_cli.engines.hf import HFEngine

# Two rows. Row 0: a prompt token, then three agent tokens; row 1: two agent tokens, then padding.
MASK = torch.tensor([[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
OLD = torch.tensor([[-1.0, -0.5, -2.0, -0.1], [-0.3, -1.2, 0.0, 0.0]])
# log rho = old - sampler on the agent tokens: ln 3, ln 0.5, ln 1.5 | 0, ln 4.
LOG_RHO = torch.tensor(
    [[0.0, math.log(3.0), math.log(0.5), math.log(1.5)], [0.0, math.log(4.0), 0.0, 0.0]]
)
SAMPLER = OLD - LOG_RHO
SAMPLER[0, 0] = 5.0  # off the mask: garbage that must not count
SAMPLER[1, 2:] = -7.0


def test_tis_truncates_the_ratio_at_the_cap():
    w, m = is_weights(OLD, SAMPLER, MASK, mode="tis", cap=2.0)
    # rho = 3, 0.5, 1.5 | 1, 4  ->  min(rho, 2) = 2, 0.5, 1.5 | 1, 2; off the mask 1
    want = torch.tensor([[1.0, 2.0, 0.5, 1.5], [1.0, 2.0, 1.0, 1.0]])
    torch.testing.assert_close(w, want)
    assert m["is/capped_frac"] == pytest.approx(2 / 5)
    assert m["is/weight_mean"] == pytest.approx((2 + 0.5 + 1.5 + 1 + 2) / 5)  # 1.4
    # |log rho| = ln 3, ln 2, ln 1.5, 0, ln 4: mean ln(3 * 2 * 1.5 * 4) / 5 = ln 36 / 5, max ln 4
    assert m["is/logprob_diff_mean"] == pytest.approx(math.log(36.0) / 5)
    assert m["is/logprob_diff_max"] == pytest.approx(math.log(4.0))
    assert "is/masked_frac" not in m


def test_mis_masks_tokens_over_the_cap():
    w, m = is_weights(OLD, SAMPLER, MASK, mode="mis", cap=2.0)
    # rho <= 2 keeps rho (0.5, 1.5, 1); rho > 2 (3, 4) gives 0
    want = torch.tensor([[1.0, 0.0, 0.5, 1.5], [1.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(w, want)
    assert m["is/masked_frac"] == pytest.approx(2 / 5)
    assert m["is/weight_mean"] == pytest.approx((0.5 + 1.5 + 1) / 5)  # 0.6
    assert "is/capped_frac" not in m


def test_cap_and_none():
    w, m = is_weights(OLD, SAMPLER, MASK, mode="tis", cap=5.0)  # nothing above 5
    assert m["is/capped_frac"] == 0.0
    assert w[1, 1].item() == pytest.approx(4.0)
    w, m = is_weights(OLD, SAMPLER, MASK, mode="none")
    assert torch.equal(w, torch.ones_like(w))
    assert m["is/weight_mean"] == 1.0
    assert m["is/logprob_diff_max"] == pytest.approx(math.log(4.0))  # still measured
    w, m = is_weights(OLD, OLD, MASK, mode="tis")  # no mismatch: exactly 1
    assert torch.equal(w, torch.ones_like(w))
    assert m["is/logprob_diff_max"] == 0.0 and m["is/capped_frac"] == 0.0
    w, m = is_weights(OLD, SAMPLER, torch.zeros_like(MASK), mode="mis")  # no agent token
    assert torch.equal(w, torch.ones_like(w)) and m["is/masked_frac"] == 0.0
    with pytest.raises(ValueError):
        is_weights(OLD, SAMPLER, MASK, mode="other")


def test_ppo_loss_multiplies_each_token_loss_by_its_weight():
    # r = 1 (new = old), so the token loss is -A: 1 and -2 give -1 and 2; weights 2 and 0.5
    # give -2 and 1; the token mean is -0.5.
    lp = torch.zeros(1, 2, requires_grad=True)
    adv = torch.tensor([[1.0, -2.0]])
    mask = torch.ones(1, 2)
    w = torch.tensor([[2.0, 0.5]], requires_grad=True)
    loss, _ = ppo_clip_loss(lp, lp.detach(), adv, mask, weights=w)
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    assert w.grad is None  # stop-gradient
    plain, _ = ppo_clip_loss(lp, lp.detach(), adv, mask)
    same, _ = ppo_clip_loss(lp, lp.detach(), adv, mask, weights=torch.ones(1, 2))
    assert torch.equal(plain, same)


def test_batch_tensors_place_the_engine_logprobs_on_agent_tokens():
    t = Trajectory(
        input_ids=[1, 2, 3, 4, 5, 6, 7],
        turns=[Turn(action=(2, 4), feedback=(4, 5)), Turn(action=(6, 7))],
        logprobs=[-0.1, -0.2, -0.3],
    )
    hand = Trajectory(input_ids=[1, 2, 3], turns=[Turn(action=(1, 3))])  # no engine log-probs
    short = Trajectory(input_ids=[1, 2, 3], turns=[Turn(action=(1, 3))], logprobs=[-1.0])
    out = Batch([t, hand, short]).tensors()
    want = torch.tensor([[0, 0, -0.1, -0.2, 0, 0, -0.3]] + [[0.0] * 7] * 2)
    torch.testing.assert_close(out["sampler_logprobs"], want)
    want_mask = torch.tensor([[0, 0, 1, 1, 0, 0, 1]] + [[0.0] * 7] * 2)
    torch.testing.assert_close(out["sampler_mask"], want_mask)


def test_engines_declare_whether_they_sample_from_a_separate_copy():
    assert HFEngine.separate_weights is False
    assert Engine.separate_weights is True
    vllm = pytest.importorskip("infopo_cli.engines.vllm", exc_type=ImportError)
    assert vllm.VLLMEngine.separate_weights is True


def _update(model, mode: str, with_sampler: bool, shift: float = 1.5):
    torch.manual_seed(0)
    model = copy.deepcopy(model)
    trainer = PolicyTrainer(model, TrainerConfig(lr=1e-2, is_correction=mode, entropy_coef=0.0))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 64, (4, 12), generator=g)
    action = torch.zeros(4, 12)
    action[:, 6:] = 1.0
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    old = trainer.logprobs(tensors)
    if with_sampler:
        # the sampler put every other agent token at a much lower probability: rho = e^1.5 > 2
        sampler = old.clone()
        sampler[:, 6::2] -= shift
        tensors["sampler_logprobs"] = sampler * action
        tensors["sampler_mask"] = action.clone()
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])[:, None] * action
    m = trainer.update(tensors, adv, old)
    return {n: p.detach().clone() for n, p in model.named_parameters()}, m


def test_update_without_sampler_logprobs_weighs_every_token_one(tiny_lm):
    """What the hf engine gives (the recipe leaves its log-probs out): the same update as none."""
    ref, m_none = _update(tiny_lm, "none", with_sampler=False)
    for mode, key in (("tis", "is/capped_frac"), ("mis", "is/masked_frac")):
        got, m = _update(tiny_lm, mode, with_sampler=False)
        assert all(torch.equal(ref[k], got[k]) for k in ref)
        assert m["is/weight_mean"] == 1.0 and m[key] == 0.0
    assert not any(k.startswith("is/") for k in m_none)


def test_update_applies_the_weights_when_the_engine_differs(tiny_lm):
    ref, _ = _update(tiny_lm, "none", with_sampler=True)
    got, m = _update(tiny_lm, "tis", with_sampler=True)
    assert m["is/capped_frac"] == pytest.approx(0.5)  # 3 of the 6 agent tokens of each row
    assert m["is/logprob_diff_max"] == pytest.approx(1.5, abs=1e-5)
    assert m["is/weight_mean"] == pytest.approx((2 + 1) / 2, abs=1e-5)
    assert any(not torch.equal(ref[k], got[k]) for k in ref)
    same, _ = _update(tiny_lm, "tis", with_sampler=True, shift=0.0)  # no mismatch: as none
    assert all(torch.equal(ref[k], same[k]) for k in ref)


@pytest.mark.parametrize(
    "separate, temperature, top_p, applies, warns",
    [
        (False, 1.0, 1.0, False, False),  # hf: the trainer's own model, nothing to correct
        (True, 1.0, 1.0, True, False),  # vllm at T=1: log-probs comparable
        (True, 0.7, 1.0, False, True),  # processed log-probs at T=0.7: skipped, said once
        (True, 1.0, 0.9, False, True),  # renormalised over the top-p set: skipped
    ],
)
def test_the_recipe_compares_only_comparable_logprobs(separate, temperature, top_p, applies, warns):
    from types import SimpleNamespace

    from infopo_cli.config import EngineConfig
    from infopo_cli.recipes.train import TrainRecipe

    said: list[str] = []
    recipe = SimpleNamespace(
        engine=SimpleNamespace(separate_weights=separate),
        ecfg=EngineConfig(temperature=temperature, top_p=top_p),
        tcfg=TrainerConfig(),
        logger=SimpleNamespace(print=said.append),
        warned_is=False,
    )
    for _ in range(2):
        assert TrainRecipe._sampler_comparable(recipe) is applies
    assert len(said) == int(warns)


def test_ranks_combine_the_mismatch_by_max_and_weighted_mean():
    from infopo_cli.runtime.distributed import reduce_metrics

    row = reduce_metrics(
        [
            ({"is/logprob_diff_max": 0.1, "is/weight_mean": 1.0}, 1),
            ({"is/logprob_diff_max": 0.3, "is/weight_mean": 0.6}, 3),
        ]
    )
    assert row["is/logprob_diff_max"] == pytest.approx(0.3)
    assert row["is/weight_mean"] == pytest.approx((1.0 * 1 + 0.6 * 3) / 4)  # 0.7
