"""Per-token log-probabilities of a causal LM over padded batches (no sampling, no temperature)."""

from __future__ import annotations

import torch


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so left padding does not shift them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[targets] without materialising the full log-softmax.

    logits [N, L, V], targets [N, L] -> [N, L] (float32).
    """
    logits = logits.float()
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[N, L] log pi(x_i | x_<i) for every position; position 0 (no context) and pads get 0."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    )
    lp = gather_logprobs(out.logits[:, :-1], input_ids[:, 1:])  # [N, L-1]
    lp = lp * (attention_mask[:, :-1] * attention_mask[:, 1:]).to(lp.dtype)  # no context: 0
    return torch.cat([torch.zeros_like(lp[:, :1]), lp], dim=1)  # [N, L]


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical over the last dim, in float32. [N, L, V] -> [N, L]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)
