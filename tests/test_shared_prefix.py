"""trainer.share_prefix: rows that begin alike run their common beginning once, with the padded
update's log-probs, losses, metrics and gradients."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from infopo_cli.config import TrainerConfig
from infopo_cli.core import shared_prefix
from infopo_cli.core.trajectory import Batch, Turn
from infopo_cli.core.update import PolicyTrainer
from tests.conftest import random_trajectory
from tests.test_update_packed import VOCAB, _recorded_update, tiny_models  # noqa: F401


def _shift(turn: Turn, by: int) -> Turn:
    fb = None if turn.feedback is None else (turn.feedback[0] + by, turn.feedback[1] + by)
    return Turn(action=(turn.action[0] + by, turn.action[1] + by), feedback=fb)


def _grouped_batch(groups: int = 4, size: int = 3, seed: int = 0):
    """``groups`` prompts of 12-30 tokens, ``size`` trajectories of 1-4 turns after each (the
    rollouts of one prompt), their tensors and per-token advantages."""
    rng = random.Random(seed)
    trajs = []
    for g in range(groups):
        prompt = [rng.randrange(1, VOCAB) for _ in range(rng.randint(12, 30))]
        for _ in range(size):
            t = random_trajectory(rng, rng.randint(1, 4), vocab=VOCAB, group=str(g))
            t.input_ids = prompt + t.input_ids
            t.turns = [_shift(tn, len(prompt)) for tn in t.turns]
            trajs.append(t)
    tensors = Batch(trajs).tensors()
    n = len(trajs)
    adv = torch.tensor([rng.uniform(-1, 1) for _ in range(n)])[:, None] * tensors["action_mask"]
    return tensors, adv


def test_groups_share_up_to_the_first_scored_token_hand_computed():
    seqs = [
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22],
        [5, 5, 5],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 9],
    ]
    first = [10, 10, 1, 8]
    # sorted: 3, 0, 1, 2. Row 3 is scored from index 8, so it shares at most 7 tokens, and row 0
    # shares 9 with row 1: row 0 opens a group with row 1 rather than joining row 3
    want = [(0, [3]), (9, [0, 1]), (0, [2])]
    assert shared_prefix.prefix_groups(seqs, first, min_shared=4) == want
    assert shared_prefix.prefix_groups(seqs, first, min_shared=10) == [
        (0, [3]),
        (0, [0]),
        (0, [1]),
        (0, [2]),
    ]
    # a third row sharing 8 of the pair's 9 tokens joins: it saves 8, the pair loses 1
    three = [*seqs[:2], [1, 2, 3, 4, 5, 6, 7, 8, 30, 31]]
    assert shared_prefix.prefix_groups(three, [10, 10, 9], min_shared=4) == [(8, [0, 1, 2])]
    # budget 13: rows 0 and 1 laid out take 9 + 3 + 4 = 16 tokens: cut, each alone
    assert shared_prefix.micro_batches(seqs, first, 13, min_shared=4) == [
        [(0, [1])],
        [(0, [0])],
        [(0, [3])],
        [(0, [2])],
    ]
    assert shared_prefix.micro_batches(seqs, first, 32, min_shared=4) == [
        [(9, [0, 1]), (0, [3])],
        [(0, [2])],
    ]


def test_layout_positions_and_mask_hand_computed():
    lay = shared_prefix.layout([(2, [0, 1])], [4, 3])
    # [x0 x1 | r0: x2 x3 | r1: x2]
    assert lay.src_row.tolist() == [[0, 0, 0, 0, 1]]
    assert lay.src_pos.tolist() == [[0, 1, 2, 3, 2]]
    assert lay.position_ids.tolist() == [[0, 1, 2, 3, 2]]
    assert lay.owns.tolist() == [[False, False, True, True, True]]
    assert lay.attention_mask(None)[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 0, 1],  # r1's token sees the shared block and itself, not r0
    ]
    t = {"action_mask": torch.tensor([[0, 0, 1, 1], [0, 0, 1, 0]])}
    # a suffix's first entry follows another block: never scored
    assert shared_prefix.pack(t, lay)["action_mask"].tolist() == [[0, 0, 0, 1, 0]]


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_shared_prefix_logprobs_equal_the_padded_ones(tiny_models, impl):  # noqa: F811
    model = tiny_models[impl]
    tensors, _ = _grouped_batch(seed=1)
    padded = PolicyTrainer(model, TrainerConfig(micro_batch_tokens=160))
    shared = PolicyTrainer(model, TrainerConfig(micro_batch_tokens=160, share_prefix=True))
    assert shared.share_prefix and not padded.share_prefix
    batches = shared._batches(tensors, list(range(12)))
    assert sorted(r for mb in batches for _, g in mb for r in g) == list(range(12))
    assert any(s >= 12 and len(g) > 1 for mb in batches for s, g in mb)  # prompts are shared
    lp_shared, lp_padded = shared.logprobs(tensors), padded.logprobs(tensors)
    assert lp_padded.abs().sum() > 0
    torch.testing.assert_close(lp_shared, lp_padded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_shared_prefix_update_equals_the_padded_update(tiny_models, impl):  # noqa: F811
    """Policy loss, KL, entropy, clip metrics and every gradient equal the padded update's."""
    model = tiny_models[impl]
    tensors, adv = _grouped_batch(seed=2)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.02 * torch.randn_like(p))
    old = PolicyTrainer(model, TrainerConfig()).logprobs(tensors)
    old = old + 0.3 * torch.randn_like(old) * tensors["action_mask"]
    kw = dict(lr=1e-3, micro_batch_tokens=160, kl_coef=0.05, entropy_coef=0.01, grad_clip=1e9)
    m_pad, g_pad, _ = _recorded_update(model, ref, TrainerConfig(**kw), tensors, adv, old)
    m_sh, g_sh, t_sh = _recorded_update(
        model, ref, TrainerConfig(share_prefix=True, **kw), tensors, adv, old
    )
    assert t_sh.share_prefix
    for k in ("loss/policy", "loss/kl_ref", "loss/entropy", "loss/clip_frac"):
        assert m_pad[k] != 0.0, k
    for k, v in m_pad.items():
        assert m_sh[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    for name, g in g_pad.items():
        rel = float((g_sh[name] - g).norm() / g.norm().clamp(min=1e-12))
        assert rel <= 1e-5, (name, rel)
