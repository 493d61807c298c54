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
from infopo_cli.core.update import PolicyTrainer, mini_batch_of, mini_batch_rows
from infopo_cli.runtime.distributed import World, shard


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
    # several micro-batches, right-padded like the reference (packing: tests/test_update_packed.py)
    cfg = TrainerConfig(lr=1e-3, micro_batch_tokens=64, packing=False)
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


def test_mini_batch_of_a_prompt_is_the_run_of_mini_batch_rows_that_holds_it():
    assert mini_batch_of([0, 1, 2, 3, 4], 5, 2) == [0, 0, 1, 1, 1]
    assert mini_batch_of([6, 6, 0, 3, 7], 8, 4) == [3, 3, 0, 1, 3]
    assert mini_batch_of([1, 0], 2, 4) == [3, 1]  # more mini-batches than prompts: some stay empty
    # prompts refilled by dynamic sampling (indices 4, 5, 9 of a 4-prompt step) follow prompt j mod 4
    assert mini_batch_of([4, 5, 9, 3], 4, 2) == [0, 0, 0, 1]
    for n in range(1, 13):
        for m in range(1, 6):
            want = [i for i, rows in enumerate(mini_batch_rows(n, m)) for _ in rows]
            assert mini_batch_of(list(range(n)), n, m) == want, (n, m)


def test_each_rank_plays_an_equal_slice_of_every_mini_batch_in_whole_groups():
    prompts = list(range(8))
    two = [shard(prompts, World("ddp", rank=r, size=2), parts=2) for r in (0, 1)]
    assert [idx for idx, _ in two] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    assert [items for _, items in two] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    for idx, _ in two:  # 3 rollouts a prompt: the first 2 groups are mini-batch 0, the rest 1
        assert mini_batch_of([g for g in idx for _ in range(3)], 8, 2) == [0] * 6 + [1] * 6
    # the union of the ranks' i-th parts is the one-process mini-batch i
    assert shard(prompts, World("ddp"), parts=2) == (prompts, prompts)
    assert [list(r) for r in mini_batch_rows(8, 2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    # one part: the contiguous slice of the whole list
    assert shard(prompts, World("ddp", rank=1, size=2))[0] == [4, 5, 6, 7]
    assert shard(prompts, World("ddp", rank=1, size=4), parts=2)[0] == [1, 5]


def test_a_group_with_an_excluded_rollout_stays_in_its_mini_batch(tiny_lm):
    """Rows by prompt 0, 0, 1, 1, 2, 3, 3 (prompt 2 lost a rollout): the mini-batches are prompts
    {0, 1} and {2, 3}, i.e. rows 0-3 and 4-6, not the row halves 0-2 and 3-6."""
    tensors, adv = _batch(7, seed=2)
    cfg = TrainerConfig(lr=1e-2, mini_batches=2, entropy_coef=0.0, grad_clip=1e9)
    model = copy.deepcopy(tiny_lm)
    trainer = PolicyTrainer(model, cfg)
    old = trainer.logprobs(tensors)
    steps = []
    step = trainer.optimizer.step

    def recording_step(*args, **kw):
        steps.append(
            (copy.deepcopy(model), {n: p.grad.clone() for n, p in model.named_parameters()})
        )
        return step(*args, **kw)

    trainer.optimizer.step = recording_step
    parts = mini_batch_of([0, 0, 1, 1, 2, 3, 3], 4, 2)
    assert parts == [0, 0, 0, 0, 1, 1, 1]
    trainer.update(tensors, adv, old, mini_batch=parts)
    for (before, grads), rows in zip(steps, [[0, 1, 2, 3], [4, 5, 6]], strict=True):
        want = _half_loss_grads(before, tensors, adv, old, rows, cfg)
        for name, g in grads.items():
            assert torch.allclose(g, want[name], atol=1e-6, rtol=1e-4), name


def test_several_ranks_need_prompts_for_every_rank_in_every_mini_batch(monkeypatch):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR, validate
    from infopo_cli.errors import ConfigError

    monkeypatch.setenv("WORLD_SIZE", "2")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        over = ["trainer.strategy=ddp", "trainer.mini_batches=2"]
        ok = compose(config_name="train", overrides=[*over, "trainer.prompts_per_step=8"])
        bad = compose(config_name="train", overrides=[*over, "trainer.prompts_per_step=6"])
    validate(ok)
    with pytest.raises(ConfigError, match="multiple of mini_batches x world size \\(4\\)"):
        validate(bad)


def test_mini_batches_must_be_positive():
    from infopo_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.mini_batches"):
        TrainerConfig(mini_batches=0)


def test_a_batch_used_once_takes_its_own_detached_logprobs_as_old(tiny_lm):
    """``old_logprobs=None`` (one epoch, one mini-batch): the same parameters as the update given
    the separate no-grad pass's old log-probs; refused where the batch is used more than once."""
    tensors, adv = _batch(6)
    cfg = TrainerConfig(lr=1e-3, micro_batch_tokens=64, packing=False)
    a, b = copy.deepcopy(tiny_lm), copy.deepcopy(tiny_lm)
    with_pass = PolicyTrainer(a, cfg)
    m_pass = with_pass.update(tensors, adv, with_pass.logprobs(tensors))
    single = PolicyTrainer(b, cfg)
    assert single.single_pass
    m_single = single.update(tensors, adv, None)
    assert m_single["loss/clip_frac"] == 0.0
    assert m_single["loss/policy"] == pytest.approx(m_pass["loss/policy"], abs=1e-6)
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(q, p, atol=1e-6, rtol=0, msg=name)
    twice = PolicyTrainer(copy.deepcopy(tiny_lm), TrainerConfig(ppo_epochs=2))
    assert not twice.single_pass
    with pytest.raises(ValueError, match="one PPO epoch, one mini-batch"):
        twice.update(tensors, adv, None)
