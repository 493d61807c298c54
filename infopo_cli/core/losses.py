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
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate, token-mean over ``mask``.

    per token: l = max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)); for A < 0 additionally
    l = min(l, -A c) (dual clip, c = ``dual_clip`` > 1), which bounds the loss when r explodes.
    ``weights`` [N, L] (optional, no gradient): l <- w l, the sampler/trainer correction of
    ``is_weights``.
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
    if weights is not None:
        per_token = per_token * weights.detach().to(per_token.dtype)
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


IS_MODES = ("none", "tis", "mis")


def is_weights(
    old_logprobs: torch.Tensor,
    sampler_logprobs: torch.Tensor,
    mask: torch.Tensor,
    *,
    mode: str = "tis",
    cap: float = 2.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-token weights that correct for the sampler's probabilities differing from the trainer's.

    The rollout engine samples from its own copy of the weights (another dtype, other kernels), so
    the tokens come from pi_sampler, not from the pi_old the PPO ratio is taken against. Per agent
    token t (``mask`` = 1), without gradient:

        rho_t = exp(log pi_old(a_t) - log pi_sampler(a_t))
        tis:  w_t = min(rho_t, cap)                        (truncated importance sampling)
        mis:  w_t = rho_t if rho_t <= cap else 0           (masked: the token leaves the loss)
        none: w_t = 1

    and w = 1 off ``mask``. Metrics over the agent tokens: ``is/logprob_diff_mean`` and
    ``is/logprob_diff_max`` (|log pi_old - log pi_sampler|), ``is/capped_frac`` (tis: share with
    rho > cap) or ``is/masked_frac`` (mis: share set to 0), ``is/weight_mean``.
    """
    if mode not in IS_MODES:
        raise ValueError(f"is_weights: mode must be one of {IS_MODES}, got {mode!r}")
    if cap <= 0:
        raise ValueError(f"is_weights: cap must be > 0, got {cap}")
    with torch.no_grad():
        on = mask > 0  # [N, L] agent tokens with a sampler log-prob
        log_rho = (old_logprobs.float() - sampler_logprobs.float()).masked_fill(~on, 0.0)  # [N, L]
        rho = torch.exp(log_rho)  # [N, L]; 1 off the mask
        over = (rho > cap) & on  # [N, L]
        if mode == "tis":
            w = torch.clamp(rho, max=cap)
        elif mode == "mis":
            w = torch.where(over, torch.zeros_like(rho), rho)
        else:
            w = torch.ones_like(rho)
        w = torch.where(on, w, torch.ones_like(w))  # [N, L]
        n = int(on.sum())
        diff = log_rho.abs()[on]  # [n]
        metrics = {
            "is/logprob_diff_mean": float(diff.mean()) if n else 0.0,
            "is/logprob_diff_max": float(diff.max()) if n else 0.0,
            "is/weight_mean": float(w[on].mean()) if n else 1.0,
        }
        if mode != "none":
            key = "is/capped_frac" if mode == "tis" else "is/masked_frac"
            metrics[key] = float(over.sum()) / n if n else 0.0
    return w, metrics


def entropy_bonus(
    entropy: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None
) -> torch.Tensor:
    """Token-mean entropy; the trainer subtracts ``coef * entropy`` from the loss."""
    return masked_mean(entropy, mask.to(entropy.dtype), num_tokens)


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref) on sampled tokens: exp(d) - d - 1, d = ref - logp."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0
