"""Policy losses (docs/method.md, Policy loss): clipped PPO surrogate with dual clip, entropy, optional KL.

Pure tensor functions over [N, L] token tensors with an agent-token ``mask``. Token-mean: the sum over
agent tokens divided by their count, or by ``num_tokens`` when the caller accumulates micro-batches
or ranks and wants one global mean.
"""

from __future__ import annotations

import torch


def masked_mean(
    x: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None
) -> torch.Tensor:
    denom = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=x.dtype)
    return (x * mask).sum() / denom.clamp(min=1.0)


def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = 3.0,
    num_tokens: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate, token-mean over ``mask``.

    per token: l = max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)); for A < 0 additionally
    l = min(l, -A c) (dual clip, c = ``dual_clip`` > 1), which bounds the loss when r explodes.
    """
    mask = mask.to(logprobs.dtype)
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    clipped = torch.maximum(pg1, pg2)
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        pg3 = -advantages * dual_clip
        dual = torch.minimum(clipped, pg3)
        per_token = torch.where(advantages < 0, dual, clipped)
        dual_frac = masked_mean(((advantages < 0) & (clipped > pg3)).float(), mask)
    else:
        per_token = clipped
        dual_frac = torch.zeros(())
    loss = masked_mean(per_token, mask, num_tokens)
    with torch.no_grad():
        metrics = {
            "loss/policy": loss.item(),
            "loss/clip_frac": masked_mean((pg2 > pg1).float(), mask).item(),
            "loss/dual_clip_frac": float(dual_frac),
            # k3 estimator of KL(old || new): non-negative, unbiased
            "loss/approx_kl": masked_mean(ratio - 1.0 - log_ratio, mask).item(),
        }
    return loss, metrics


def entropy_bonus(
    entropy: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None
) -> torch.Tensor:
    """Token-mean entropy; the trainer subtracts ``coef * entropy`` from the loss."""
    return masked_mean(entropy, mask.to(entropy.dtype), num_tokens)


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref) on sampled tokens: exp(d) - d - 1, d = ref - logp."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0
