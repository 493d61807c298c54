"""trainer.packing: micro-batches as rows laid end to end (positions restarting at 0, block-diagonal
attention) give the padded update's log-probs, losses, metrics and gradients."""

from __future__ import annotations

import copy
import random
import types

import pytest
import torch

from infopo_cli.config import TrainerConfig
from infopo_cli.core import packing
from infopo_cli.core.packing import (
    block_causal_mask,
    block_positions,
    pack_rows,
    packed_attention,
    packs,
    takes_block_mask,
)
from infopo_cli.core.trajectory import Batch, token_batches
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.runtime.models import load_model
from infopo_cli.zoo.registry import resolve_path
from tests.conftest import random_trajectory

VOCAB = 854  # the tiny model's


@pytest.fixture(scope="module")
def tiny_models():
    path = str(resolve_path("tiny", None))
    return {impl: load_model(path, attn_implementation=impl) for impl in ("sdpa", "eager")}


def _batch(n: int = 10, seed: int = 0):
    """n trajectories of 1-4 turns with engine log-probs on every agent token, their tensors and
    per-token advantages."""
    rng = random.Random(seed)
    trajs = []
    for i in range(n):
        t = random_trajectory(rng, rng.randint(1, 4), vocab=VOCAB, group=str(i // 2))
        t.logprobs = [rng.uniform(-4.0, -0.5) for tn in t.turns for _ in range(tn.action_len)]
        trajs.append(t)
    tensors = Batch(trajs).tensors()
    adv = torch.tensor([rng.uniform(-1, 1) for _ in range(n)])[:, None] * tensors["action_mask"]
    return tensors, adv


def test_packed_groups_fit_the_budget_first_fit_decreasing():
    # longest first: 9 opens group 0, 5 group 1, 4 joins group 1 (9), 3 joins group 0 (12)
    assert token_batches([5, 3, 9, 4], 12, packed=True) == [[2, 1], [0, 3]]
    assert token_batches([30, 2], 12, packed=True) == [[0], [1]]  # over budget: alone
    assert token_batches([5, 3, 9, 4], 12) == [[2], [0, 3], [1]]  # padded: rows x longest


def test_block_positions_and_mask_hand_computed():
    blocks = [[(2, 0), (3, 0)]]
    assert block_positions(blocks, 6).tolist() == [[0, 1, 0, 1, 2, 0]]
    allow = block_causal_mask(blocks, 0, 6, None)[0, 0].int().tolist()
    assert allow == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [1, 0, 0, 0, 0, 0],  # padding sees key 0 only
    ]
    additive = block_causal_mask(blocks, 0, 6, torch.float32)[0, 0]
    assert torch.equal(additive == 0, torch.tensor(allow, dtype=torch.bool))


def test_pack_rows_cuts_each_row_to_its_length():
    t = {"a": torch.tensor([[1, 2, 0], [3, 4, 5]]), "outcomes": torch.tensor([1.0, 2.0])}
    packed = pack_rows(t, [1, 0], [3, 2])
    assert list(packed) == ["a"] and packed["a"].tolist() == [[3, 4, 5, 1, 2]]


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_packed_logprobs_equal_each_row_run_alone(tiny_models, impl):
    model = tiny_models[impl]
    tensors, _ = _batch(10, seed=1)
    padded = PolicyTrainer(model, TrainerConfig(micro_batch_tokens=96, packing=False))
    packed = PolicyTrainer(model, TrainerConfig(micro_batch_tokens=96, packing=True))
    assert packed.packing and not padded.packing
    rows = list(range(10))
    assert len(packed._batches(tensors, rows)) < len(padded._batches(tensors, rows))
    assert any(len(b) > 1 for b in packed._batches(tensors, rows))
    lp_packed, lp_padded = packed.logprobs(tensors), padded.logprobs(tensors)
    # the independent computation: each row alone, no padding, the full logits
    want = torch.zeros_like(lp_packed)
    lengths = tensors["attention_mask"].sum(-1).tolist()
    with torch.no_grad():
        for r, n in enumerate(lengths):
            ids = tensors["input_ids"][r : r + 1, :n]
            logits = model(input_ids=ids).logits.float()[0, :-1]
            want[r, 1:n] = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
    want *= tensors["action_mask"]  # the trainer scores agent tokens only
    torch.testing.assert_close(lp_packed, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp_packed, lp_padded, rtol=1e-5, atol=1e-5)


def _recorded_update(model, ref, cfg, tensors, adv, old):
    """The update's metrics and the gradients of its one optimizer step."""
    model = copy.deepcopy(model).train()
    trainer = PolicyTrainer(model, cfg, ref_model=ref)
    grads = {}
    step = trainer.optimizer.step

    def recording_step(*args, **kw):
        grads.update({n: p.grad.clone() for n, p in model.named_parameters()})
        return step(*args, **kw)

    trainer.optimizer.step = recording_step
    metrics = trainer.update(dict(tensors), adv, old)
    return metrics, grads, trainer


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("mode", ["tis", "mis"])
def test_packed_update_equals_the_padded_update(tiny_models, impl, mode):
    """Policy loss, KL, entropy, clip and sampler-mismatch metrics and every gradient of the
    packed update equal the padded update's (1e-5 relative)."""
    model = tiny_models[impl]
    tensors, adv = _batch(12, seed=2)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    with torch.no_grad():  # a reference away from the policy, so the KL term has a gradient
        for p in ref.parameters():
            p.add_(0.02 * torch.randn_like(p))
    base = PolicyTrainer(model, TrainerConfig(micro_batch_tokens=96, packing=False))
    old = base.logprobs(tensors)
    old = old + 0.3 * torch.randn_like(old) * tensors["action_mask"]  # ratios away from 1: clipping
    kw = dict(
        lr=1e-3,
        micro_batch_tokens=96,
        kl_coef=0.05,
        entropy_coef=0.01,
        is_correction=mode,
        is_cap=1.5,
        grad_clip=1e9,
    )
    m_pad, g_pad, t_pad = _recorded_update(
        model, ref, TrainerConfig(packing=False, **kw), tensors, adv, old
    )
    m_pack, g_pack, t_pack = _recorded_update(
        model, ref, TrainerConfig(packing=True, **kw), tensors, adv, old
    )
    assert t_pack.packing and not t_pad.packing
    assert set(m_pack) == set(m_pad)
    for k in ("loss/policy", "loss/kl_ref", "loss/entropy", "loss/clip_frac", "is/weight_mean"):
        assert m_pad[k] != 0.0, k  # each term is exercised
    for k, v in m_pad.items():
        assert m_pack[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    for name, g in g_pad.items():
        rel = float((g_pack[name] - g).norm() / g.norm().clamp(min=1e-12))
        assert rel <= 1e-5, (name, rel)


def kernel_model(name):
    """A stand-in with only the attention kernel of a model's config."""
    return types.SimpleNamespace(config=types.SimpleNamespace(_attn_implementation=name))


def test_attention_without_a_block_mask_or_varlen_runs_padded(tiny_models):
    fa2 = kernel_model("flash_attention_2")
    assert packs(fa2) and not takes_block_mask(fa2)  # packs the update, not the scorer's segments
    assert not packs(kernel_model("flex_attention"))
    assert packs(tiny_models["sdpa"]) and packs(tiny_models["eager"])
    assert not PolicyTrainer(tiny_models["sdpa"], TrainerConfig(packing=False)).packing


def test_varlen_kernels_read_the_sequences_from_the_position_ids():
    """flash_attention_2 gets no mask: transformers cuts a one-row batch where the position ids
    restart at 0. Its cut of our layout is the rows' lengths."""
    from transformers.modeling_flash_attention_utils import (
        _is_packed_sequence,
        prepare_fa_kwargs_from_position_ids,
    )

    pos, mask = packed_attention(kernel_model("flash_attention_2"), [3, 5, 2])
    assert mask is None and pos.tolist() == [[0, 1, 2, 0, 1, 2, 3, 4, 0, 1]]
    assert bool(_is_packed_sequence(pos, batch_size=1))
    (cu_q, cu_k), (max_q, _) = prepare_fa_kwargs_from_position_ids(pos)
    assert cu_q.tolist() == cu_k.tolist() == [0, 3, 8, 10] and int(max_q) == 5


def test_update_without_a_mask_equals_the_padded_update(tiny_models, monkeypatch):
    """The varlen route end to end on CPU: sdpa given position ids and no mask (transformers builds
    the block mask from the position ids) updates like the padded trainer."""
    monkeypatch.setattr(packing, "VARLEN_ATTENTION", ("sdpa",))
    model = tiny_models["sdpa"]
    assert packed_attention(model, [2, 3])[1] is None
    tensors, adv = _batch(8, seed=3)
    old = PolicyTrainer(model, TrainerConfig(packing=False)).logprobs(tensors)
    kw = dict(lr=1e-3, micro_batch_tokens=96, entropy_coef=0.01, grad_clip=1e9)
    m_pad, g_pad, _ = _recorded_update(
        model, None, TrainerConfig(packing=False, **kw), tensors, adv, old
    )
    m_pack, g_pack, t = _recorded_update(
        model, None, TrainerConfig(packing=True, **kw), tensors, adv, old
    )
    assert t.packing
    for k, v in m_pad.items():
        assert m_pack[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    for name, g in g_pad.items():
        assert float((g_pack[name] - g).norm() / g.norm().clamp(min=1e-12)) <= 1e-5, name
