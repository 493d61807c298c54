"""trainer.share_prefix: rows that begin alike run their common beginning once, with the padded
update's log-probs, losses, metrics and gradients."""

from __future__ import annotations

import copy
import random
import types

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


def _grouped_trajectories(groups: int = 4, size: int = 3, seed: int = 0):
    """``groups`` prompts of 12-30 tokens, ``size`` trajectories of 1-4 turns after each (the
    rollouts of one prompt), and the random generator that made them."""
    rng = random.Random(seed)
    trajs = []
    for g in range(groups):
        prompt = [rng.randrange(1, VOCAB) for _ in range(rng.randint(12, 30))]
        for _ in range(size):
            t = random_trajectory(rng, rng.randint(1, 4), vocab=VOCAB, group=str(g))
            t.input_ids = prompt + t.input_ids
            t.turns = [_shift(tn, len(prompt)) for tn in t.turns]
            trajs.append(t)
    return trajs, rng


def _grouped_batch(groups: int = 4, size: int = 3, seed: int = 0):
    """``_grouped_trajectories``' tensors and per-token advantages."""
    trajs, rng = _grouped_trajectories(groups, size, seed)
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
    # sorted: 3, 0, 1, 2. Row 3 is scored from index 8, so it shares at most 7 tokens; rows 0 and 1
    # share 9. One group of three saves 7 x 2 = 14 tokens, rows 0 and 1 alone 9
    assert shared_prefix.prefix_groups(seqs, first, min_shared=4) == [(7, [3, 0, 1]), (0, [2])]
    assert shared_prefix.prefix_groups(seqs, first, min_shared=8) == [
        (0, [3]),
        (9, [0, 1]),
        (0, [2]),
    ]
    assert shared_prefix.prefix_groups(seqs, first, min_shared=10) == [
        (0, [3]),
        (0, [0]),
        (0, [1]),
        (0, [2]),
    ]
    # two prompts' rollouts (20 common tokens each) after a common 4-token head: two groups,
    # not one sharing the head (2 x 20 x 1 = 40 saved against 4 x 3 = 12)
    head = [7, 7, 7, 7]
    prompts = [head + [p] * 16 for p in (1, 2)]
    rows = [prompts[0] + [9], prompts[0] + [8], prompts[1] + [9], prompts[1] + [8]]
    assert shared_prefix.prefix_groups(rows, [20] * 4, min_shared=2) == [
        (19, [1, 0]),
        (19, [3, 2]),
    ]
    # a third row sharing 8 of the pair's 9 tokens joins: it saves 8, the pair loses 1
    three = [*seqs[:2], [1, 2, 3, 4, 5, 6, 7, 8, 30, 31]]
    assert shared_prefix.prefix_groups(three, [10, 10, 9], min_shared=4) == [(8, [0, 1, 2])]
    # budget 13: rows 0 and 1 laid out take 9 + 3 + 4 = 16 tokens: cut, each alone
    assert shared_prefix.micro_batches(seqs, first, 13, min_shared=8) == [
        [(0, [1])],
        [(0, [0])],
        [(0, [3])],
        [(0, [2])],
    ]
    assert shared_prefix.micro_batches(seqs, first, 32, min_shared=8) == [
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


def test_scorer_of_a_sharing_trainer_gives_the_padded_values(tiny_models, monkeypatch):  # noqa: F811
    """``infopo train``'s scoring (old log-probs and information gain in one pass) under a trainer
    with ``share_prefix`` equals the same scoring without it."""
    from infopo_cli.core import infogain_fast
    from infopo_cli.core.scoring import score

    planned = []
    groups = infogain_fast._groups
    monkeypatch.setattr(infogain_fast, "_groups", lambda *a: planned.append(a[-1]) or groups(*a))
    model = tiny_models["sdpa"]
    trajs, _ = _grouped_trajectories(seed=3)
    tensors = Batch(trajs).tensors()
    out = {}
    for share in (False, True):
        trainer = PolicyTrainer(model, TrainerConfig(share_prefix=share))
        out[share] = score(
            trainer, trajs, tensors, [5, 6], impl="fast", token_budget=400, with_info_gain=True
        )
    assert planned == [False, True]  # the trainer's share_prefix reaches the scorer's planner
    torch.testing.assert_close(out[True].old_logprobs, out[False].old_logprobs, rtol=0, atol=1e-5)
    ig = [
        (a, b) for ra, rb in zip(out[True].info_gain, out[False].info_gain) for a, b in zip(ra, rb)
    ]
    assert any(b != 0.0 for _, b in ig)
    assert max(abs(a - b) for a, b in ig) < 1e-5


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


def test_chunks_trade_shared_tokens_against_dense_attention():
    # a 10-token prefix, four rows of 12: one row of 10 + 4 x 2 = 18 tokens without attention cost
    lengths = [12] * 4
    assert shared_prefix._chunks(10, [0, 1, 2, 3], lengths, 0.0) == [[0, 1, 2, 3]]
    # weight 0.1: 18 + 32.4 = 50.4 for one row; two rows of 14: 2 x 33.6 = 67.2; alone 4 x 26.4
    assert shared_prefix._chunks(10, [0, 1, 2, 3], lengths, 0.1) == [[0, 1, 2, 3]]
    # weight 1: 18 + 324 = 342; two rows of 14: 2 x 210 = 420; alone: 4 x 156 = 624 -> still one;
    # with 40-token suffixes each alone (4 x 2,550) beats one row of 170 (29,070)
    assert shared_prefix._chunks(10, [0, 1, 2, 3], [50] * 4, 1.0) == [[0], [1], [2], [3]]
    assert shared_prefix.attention_weight(types.SimpleNamespace(config=None)) == 0.0


def test_sft_step_sharing_prefixes_equals_the_padded_step(tiny_models):  # noqa: F811
    """One SFT step on dialogues sharing their prompts: same loss and same parameters after."""
    from infopo_cli.core.sft import sft_step

    model = tiny_models["sdpa"]
    rng = random.Random(4)
    trajs = []
    for g in range(3):
        prompt = [rng.randrange(1, VOCAB) for _ in range(20)]
        for _ in range(4):
            t = random_trajectory(rng, rng.randint(1, 3), vocab=VOCAB, group=str(g))
            t.input_ids = prompt + t.input_ids
            t.turns = [_shift(tn, len(prompt)) for tn in t.turns]
            trajs.append(t)
    seqs = [t.input_ids for t in trajs]
    first = [t.turns[0].action[0] for t in trajs]
    weight = shared_prefix.attention_weight(model)
    batches = shared_prefix.micro_batches(seqs, first, 200, attention=weight)
    assert any(s >= 19 and len(g) > 1 for mb in batches for s, g in mb)  # the prompts are shared
    grads = {}
    for share in (False, True):
        m = copy.deepcopy(model).train()
        opt = torch.optim.SGD(m.parameters(), lr=1.0)  # the step moves each weight by its gradient
        loss = sft_step(m, opt, trajs, 0, 200, 1e9, share_prefix=share)
        moved = [(a - b).detach() for a, b in zip(model.parameters(), m.parameters())]
        grads[share] = (loss, moved)
    assert grads[True][0] == pytest.approx(grads[False][0], rel=1e-5)
    for g_pad, g_sh in zip(grads[False][1], grads[True][1]):
        assert g_pad.norm() > 0
        assert float((g_sh - g_pad).norm() / g_pad.norm()) <= 1e-5
