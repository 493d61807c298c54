"""Per-token log-probabilities of a causal LM over padded batches (no sampling, no temperature).

``forward_logprobs`` is the one forward-and-gather of the package: the update, the old-log-prob and
reference passes, the information-gain scorers and SFT all read token log-probs through it.
"""

from __future__ import annotations

import contextlib

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


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical over the last dim, in float32. [N, L, V] -> [N, L]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def forward_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    with_entropy: bool = False,
    autocast: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(x_i | x_<i) [N, L] for every position, and the policy's entropy there [N, L] (or None).

    Position 0 (no context) and padding get 0. ``autocast`` runs the model (not the float32
    log-softmax after it) under bf16 autocast. Gradients flow when the caller allows them.
    """
    enabled = autocast and input_ids.device.type in ("cpu", "cuda")
    ctx = (
        torch.autocast(input_ids.device.type, dtype=torch.bfloat16)
        if enabled
        else contextlib.nullcontext()
    )
    with ctx:
        logits = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
            use_cache=False,
        ).logits[:, :-1]
    real = (attention_mask[:, :-1] * attention_mask[:, 1:]).to(torch.float32)  # [N, L-1]
    lp = gather_logprobs(logits, input_ids[:, 1:]) * real
    lp = torch.cat([torch.zeros_like(lp[:, :1]), lp], dim=1)  # [N, L]
    if not with_entropy:
        return lp, None
    ent = entropy_from_logits(logits)
    return lp, torch.cat([torch.zeros_like(ent[:, :1]), ent], dim=1)


def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[N, L] log pi(x_i | x_<i) for every position; position 0 (no context) and pads get 0."""
    return forward_logprobs(model, input_ids, attention_mask)[0]
