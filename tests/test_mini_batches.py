"""trainer.mini_batches: one optimizer step per mini-batch, the old log-probs fixed across them."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from infopo_cli.config import TrainerConfig
from infopo_cli.core.logprobs import forward_logprobs
from infopo_cli.core.losses import entropy_bonus, ppo_clip_loss
from infopo_cli.core.trajectory import token_batches
from infopo_cli.core.update import PolicyTrainer, mini_batch_rows


def _batch(n: int = 4, seed: int = 0):
    """n right-padded rows of different lengths, agent tokens on the second half of each row."""
    rng = random.Random(seed)
    lengths = [rng.randint(6, 14) for _ in range(n)]
    width = max(lengths)
    ids = torch.zeros(n, width, dtype=torch.long)
    attn = torch.zeros(n, width, dtype=torch.long)
    action = torch.zeros(n, width)
    for i, k in enumerate(lengths):
        ids[i, :k] = torch.tensor([rng.randrange(1, 64) for _ in range(k)])
        attn[i, :k] = 1
        action[i, k // 2 : k] = 1.0
    adv = torch.tensor([rng.uniform(-1, 1) for _ in range(n)])[:, None] * action
    return {"input_ids": ids, "attention_mask": attn, "action_mask": action}, adv


def _single_step_reference(model, cfg: TrainerConfig, tensors, adv, old):
    """The one-step update (no mini-batches) written out: every micro-batch of the whole batch
    accumulates its share of one token-mean, then one clipped AdamW step."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    total = float(tensors["action_mask"].sum())
    lengths = tensors["attention_mask"].sum(-1).tolist()
    opt.zero_grad(set_to_none=True)
    for rows in token_batches(lengths, cfg.micro_batch_tokens):
        width = int(tensors["attention_mask"][rows].sum(-1).max())
        ids = tensors["input_ids"][rows, :width]
        attn = tensors["attention_mask"][rows, :width]
        mask = tensors["action_mask"][rows, :width]
        lp, ent = forward_logprobs(model, ids, attn, with_entropy=cfg.entropy_coef > 0)
        pg, _ = ppo_clip_loss(
            lp,
            old[rows, :width],
            adv[rows, :width],
            mask,
            clip_low=cfg.clip_low,
            clip_high=cfg.clip_high,
            dual_clip=cfg.dual_clip,
            num_tokens=total,
        )
        loss = pg - cfg.entropy_coef * entropy_bonus(ent, mask, num_tokens=total)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()


def test_mini_batch_rows_are_consecutive_and_cover_the_batch():
    assert mini_batch_rows(8, 4) == [range(0, 2), range(2, 4), range(4, 6), range(6, 8)]
    assert mini_batch_rows(5, 2) == [range(0, 2), range(2, 5)]
    assert mini_batch_rows(1, 2) == [range(0, 0), range(0, 1)]
    assert mini_batch_rows(6, 1) == [range(0, 6)]


def test_one_mini_batch_is_bit_identical_to_the_single_step_update(tiny_lm):
    tensors, adv = _batch(6)
    cfg = TrainerConfig(lr=1e-3, micro_batch_tokens=64)  # several micro-batches
    assert cfg.mini_batches == 1
    a, b = copy.deepcopy(tiny_lm), copy.deepcopy(tiny_lm)
    trainer = PolicyTrainer(a, cfg)
    old = trainer.logprobs(tensors)
    trainer.update(tensors, adv, old)
    _single_step_reference(b, cfg, tensors, adv, old)
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name


def _half_loss_grads(model, tensors, adv, old, rows, cfg):
    """Gradient of the PPO-clip token-mean over ``rows`` alone, computed directly from the logits."""
    model = copy.deepcopy(model).train()
    model.zero_grad(set_to_none=True)
    ids = tensors["input_ids"][rows]
    attn = tensors["attention_mask"][rows]
    mask = tensors["action_mask"][rows]
    logits = model(input_ids=ids, attention_mask=attn).logits.float()
    lp = torch.zeros(ids.shape)
    lp[:, 1:] = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    ratio = torch.exp(lp - old[rows])
    a = adv[rows]
    clipped = torch.clamp(ratio, 1 - cfg.clip_low, 1 + cfg.clip_high)
    per_token = torch.maximum(-a * ratio, -a * clipped)
    per_token = torch.where(a < 0, torch.minimum(per_token, -a * cfg.dual_clip), per_token)
    loss = (per_token * mask).sum() / mask.sum()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("epochs", [1, 2])
def test_two_mini_batches_take_two_steps_each_on_its_half(tiny_lm, epochs):
    tensors, adv = _batch(4, seed=1)
    cfg = TrainerConfig(lr=1e-2, mini_batches=2, ppo_epochs=epochs, entropy_coef=0.0, grad_clip=1e9)
    model = copy.deepcopy(tiny_lm)
    trainer = PolicyTrainer(model, cfg)
    old = trainer.logprobs(tensors)
    steps = []  # (weights before the step, gradients of the step)
    step = trainer.optimizer.step

    def recording_step(*args, **kw):
        snapshot = copy.deepcopy(model)
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        steps.append((snapshot, grads))
        return step(*args, **kw)

    trainer.optimizer.step = recording_step
    trainer.update(tensors, adv, old)
    assert len(steps) == 2 * epochs
    halves = [[0, 1], [2, 3]] * epochs
    for k, ((before, grads), rows) in enumerate(zip(steps, halves, strict=True)):
        want = _half_loss_grads(before, tensors, adv, old, rows, cfg)
        for name, g in grads.items():
            assert torch.allclose(g, want[name], atol=1e-6, rtol=1e-4), (k, name)
    # the steps moved the weights: the second half's gradient is taken at the updated policy
    first, second = steps[0][0], steps[1][0]
    assert any(
        not torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters(), strict=True)
    )


def test_mini_batches_must_be_positive():
    from infopo_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.mini_batches"):
        TrainerConfig(mini_batches=0)
