"""The chunked output head: the same log-probs, entropies and gradients as the full logits."""

from __future__ import annotations

import pytest
import torch

from infopo_cli.core.logprobs import forward_logprobs, head_logprobs, plain_linear_head


def _lm(tie: bool, bias: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tie,
    )
    model = LlamaForCausalLM(cfg)
    if bias:  # a biased head, as some architectures have
        model.lm_head.bias = torch.nn.Parameter(torch.randn(97) * 0.1)
    return model


def _batch():
    torch.manual_seed(1)
    ids = torch.randint(0, 97, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # right padding
    mask[2, :3] = 0  # left padding
    return ids, mask


def _loss_and_grads(model, chunk_rows):
    ids, mask = _batch()
    model.zero_grad(set_to_none=True)
    lp, ent = forward_logprobs(model, ids, mask, with_entropy=True, chunk_rows=chunk_rows)
    weights = torch.linspace(-1, 1, lp.numel()).view_as(lp)
    loss = (lp * weights).sum() - 0.3 * (ent * mask).sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), lp.detach(), ent.detach() * mask, grads


@pytest.mark.parametrize("tie,bias", [(False, False), (True, False), (False, True)])
def test_chunked_head_matches_full_logits_to_1e5(tie, bias):
    model = _lm(tie, bias)
    assert plain_linear_head(model) is model.lm_head
    full = _loss_and_grads(model, chunk_rows=0)  # the whole [N, L, V] logits
    chunked = _loss_and_grads(model, chunk_rows=4)  # 4 rows of the head at a time
    torch.testing.assert_close(chunked[0], full[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked[1], full[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked[2], full[2], atol=1e-5, rtol=0)
    assert chunked[3].keys() == full[3].keys()
    assert "lm_head.weight" in full[3] or tie
    for name, g in full[3].items():
        torch.testing.assert_close(chunked[3][name], g, atol=1e-5, rtol=0, msg=name)


def test_padding_and_position_zero_are_zero():
    ids, mask = _batch()
    lp, ent = forward_logprobs(_lm(False), ids, mask, with_entropy=True)
    assert (lp[:, 0] == 0).all() and (ent[:, 0] == 0).all()
    assert (lp[1, 8:] == 0).all() and (lp[2, :4] == 0).all()
    assert (lp[mask.bool() & (torch.arange(11) > 3)] < 0).all()


def test_head_logprobs_entropy_is_the_categorical_entropy():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 13)
    h, y = torch.randn(5, 8), torch.randint(0, 13, (5,))
    lp, ent = head_logprobs(head, h, y, with_entropy=True, chunk_rows=2)
    logp = torch.log_softmax(head(h), -1)
    torch.testing.assert_close(lp, logp.gather(-1, y[:, None])[:, 0])
    torch.testing.assert_close(ent, -(logp.exp() * logp).sum(-1))


def test_bf16_autocast_agrees_with_full_logits():
    """Under autocast the head multiplies in bf16 either way; the two paths agree to bf16 noise."""
    model = _lm(False)
    ids, mask = _batch()
    with torch.no_grad():
        a, _ = forward_logprobs(model, ids, mask, autocast=True, chunk_rows=0)
        b, _ = forward_logprobs(model, ids, mask, autocast=True, chunk_rows=5)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)


def test_a_scaled_head_takes_the_full_logits_path():
    model = _lm(False)
    model.config.logit_scale = 0.5
    assert plain_linear_head(model) is None


@pytest.mark.parametrize("chunk_rows", [0, 4])
def test_score_mask_scores_only_the_masked_positions(chunk_rows):
    """The masked positions get exactly what the unmasked call gives there, the rest 0, on both the
    chunked-head and the full-logits path; the gradient of a loss over them is the same."""
    model = _lm(False)
    ids, mask = _batch()
    wanted = torch.zeros_like(mask)
    wanted[:, 5:] = mask[:, 5:]  # "agent tokens": the second half of every real row
    full, _ = forward_logprobs(model, ids, mask, chunk_rows=chunk_rows)
    part, _ = forward_logprobs(model, ids, mask, chunk_rows=chunk_rows, score_mask=wanted)
    torch.testing.assert_close(part, full * wanted, atol=1e-6, rtol=0)
    assert (part[wanted == 0] == 0).all() and (part[wanted == 1] < 0).all()
    grads = []
    for m in (None, wanted):
        model.zero_grad(set_to_none=True)
        lp, _ = forward_logprobs(model, ids, mask, chunk_rows=chunk_rows, score_mask=m)
        (lp * wanted).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-6, rtol=0, msg=name)
