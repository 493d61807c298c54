"""Per-token log-probabilities of a causal LM over padded batches (no sampling, no temperature).

``forward_logprobs`` is the one forward-and-gather of the package: the update, the old-log-prob and
reference passes, the information-gain scorers and SFT all read token log-probs through it.

Memory. A vocabulary of V = 152,064 (Qwen2.5) at 16,384 tokens makes a [tokens, V] float32 logits
tensor of 9.3 GiB, and a log-softmax, its exp and autograd's saved copies several more. So when the
output head is a plain linear map (``plain_linear_head``), the model's head is swapped, for the one
call, for ``head_logprobs``: it sees the final hidden states h [M, H] and computes, ``chunk_rows``
rows at a time,

    z = h W^T + b                       [C, V] float32, one chunk alive at a time
    log pi(y) = z_y - logsumexp(z)
    H(pi) = logsumexp(z) - sum_v pi_v z_v

and in backward recomputes each chunk's z instead of keeping it (``_ChunkedHead``). The swap happens
inside the model's own forward, so DDP's bookkeeping and FSDP2's unsharded root parameters are those
of an ordinary call. Heads that post-process logits (soft-capping, a logit scale) or are not an
``nn.Linear`` (a LoRA-wrapped head) take the full-logits path.
"""

from __future__ import annotations

import contextlib

import torch

# Config fields of architectures whose logits are not just lm_head(hidden).
HEAD_POSTPROCESSING = ("final_logit_softcapping", "logit_scale", "logits_scaling")
HEAD_CHUNK_ROWS = 1024  # rows per output-head call: 1024 x 152,064 x 4 B = 0.6 GiB per fp32 chunk


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


def plain_linear_head(model) -> torch.nn.Linear | None:
    """The output head when logits are exactly ``head(hidden)`` (an ``nn.Linear``, no soft-capping
    or logit scale, a forward of its own class), else None."""
    from infopo_cli.runtime.distributed import unwrap

    module = unwrap(model)
    cfg = getattr(module, "config", None)
    get_head = getattr(module, "get_output_embeddings", None)
    if cfg is None or get_head is None:
        return None
    for name in HEAD_POSTPROCESSING:
        value = getattr(cfg, name, None)
        if value is not None and value != 1.0:
            return None
    head = get_head()
    # an instance-level forward is a hook (accelerate's device maps): not ours to replace
    if not isinstance(head, torch.nn.Linear) or "forward" in head.__dict__:
        return None
    return head


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """What ``nn.Linear`` would multiply in: the autocast dtype when autocast is on, else the
    weight's."""
    dev = hidden.device.type
    if dev in ("cpu", "cuda") and torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return weight.dtype


def _chunk_logits(h, weight, bias, dtype) -> torch.Tensor:
    """z = h W^T + b in ``dtype``, returned in float32. h [C, H] -> [C, V]."""
    b = None if bias is None else bias.to(dtype)
    return torch.nn.functional.linear(h.to(dtype), weight.to(dtype), b).float()


class _ChunkedHead(torch.autograd.Function):
    """(log pi(y_m), H_m) for M rows of hidden states, never more than one [chunk, V] fp32 block.

    Backward, per chunk, with p = softmax(z) and g, e the incoming gradients of log pi(y) and H:
        dL/dz = g (onehot(y) - p) - e p (log p + H)
        dL/dh = dL/dz W,   dL/dW += dL/dz^T h,   dL/db += sum_rows dL/dz
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk, with_entropy):
        dtype = _compute_dtype(hidden, weight)
        m = hidden.shape[0]
        lp = hidden.new_zeros(m, dtype=torch.float32)
        ent = hidden.new_zeros(m if with_entropy else 0, dtype=torch.float32)
        lse = hidden.new_zeros(m, dtype=torch.float32)
        with torch.autocast(hidden.device.type, enabled=False):
            for i in range(0, m, chunk):
                z = _chunk_logits(hidden[i : i + chunk], weight, bias, dtype)  # [C, V]
                lse[i : i + chunk] = torch.logsumexp(z, dim=-1)
                lp[i : i + chunk] = z.gather(-1, targets[i : i + chunk, None])[:, 0]
                if with_entropy:
                    pz = torch.softmax(z, dim=-1).mul_(z)  # in place: two [C, V] buffers at most
                    ent[i : i + chunk] = lse[i : i + chunk] - pz.sum(-1)
                    del pz
        lp -= lse
        ctx.save_for_backward(hidden, weight, bias, targets, lse, ent)
        ctx.chunk, ctx.dtype = chunk, dtype
        ctx.set_materialize_grads(False)
        return lp, ent

    @staticmethod
    def backward(ctx, g_lp, g_ent):
        hidden, weight, bias, targets, lse, ent = ctx.saved_tensors
        dtype, chunk = ctx.dtype, ctx.chunk
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight, dtype=torch.float32) if need_w else None
        grad_b = torch.zeros_like(bias, dtype=torch.float32) if need_b else None
        w = weight.to(dtype)
        for i in range(0, hidden.shape[0], chunk):
            h = hidden[i : i + chunk]
            # two [C, V] float32 buffers: logp (then the entropy term), p (then dL/dz)
            logp = _chunk_logits(h, weight, bias, dtype).sub_(lse[i : i + chunk, None])
            gz = logp.exp()
            if g_ent is not None and ent.numel():
                logp.add_(ent[i : i + chunk, None]).mul_(gz).mul_(g_ent[i : i + chunk, None])
            else:
                logp = None
            if g_lp is not None:
                gl = g_lp[i : i + chunk, None]
                gz.mul_(-gl).scatter_add_(-1, targets[i : i + chunk, None], gl)
            else:
                gz.zero_()
            if logp is not None:
                gz.sub_(logp)
            del logp
            gz = gz.to(dtype)
            if need_h:
                grad_h[i : i + chunk] = (gz @ w).to(hidden.dtype)
            if need_w:
                grad_w += (gz.t() @ h.to(dtype)).float()
            if need_b:
                grad_b += gz.float().sum(0)
        grad_w = None if grad_w is None else grad_w.to(weight.dtype)
        grad_b = None if grad_b is None else grad_b.to(bias.dtype)
        return grad_h, grad_w, grad_b, None, None, None


def head_logprobs(
    head: torch.nn.Linear,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    *,
    with_entropy: bool = False,
    chunk_rows: int = HEAD_CHUNK_ROWS,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log softmax(head(hidden))[targets] [M] and the entropies [M] (or None), float32, from hidden
    states [M, H] and targets [M], the head applied ``chunk_rows`` rows at a time."""
    lp, ent = _ChunkedHead.apply(
        hidden, head.weight, head.bias, targets, max(1, chunk_rows), with_entropy
    )
    return lp, (ent if with_entropy else None)


@contextlib.contextmanager
def _head_replaced(head: torch.nn.Module, forward):
    """Call ``forward`` instead of ``head.forward`` (module hooks, e.g. FSDP2's, still run)."""
    head.forward = forward
    try:
        yield
    finally:
        del head.forward


def _model_call(model, input_ids, attention_mask, position_ids):
    return model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
    )


def _chunked_forward(
    model, head, input_ids, attention_mask, position_ids, real, with_entropy, chunk_rows
):
    """[N, L-1] log-probs of x_{i+1} and entropies at i, the head run on the real rows only.

    The replaced head returns them as the model's "logits" ([N, L-1, 1 or 2]): they leave through
    the model's output, so FSDP2's pre-backward hook gathers the root's parameters (the head)
    before ``_ChunkedHead.backward`` needs them.
    """
    n, width = input_ids.shape
    keep = real.reshape(-1).nonzero().squeeze(-1)  # flat indices of scored positions
    targets = input_ids[:, 1:].reshape(-1)[keep]

    def spread(values):  # [M] -> [N, L-1], 0 where nothing is scored
        flat = values.new_zeros(n * (width - 1)).index_put((keep,), values)
        return flat.view(n, width - 1)

    def forward(hidden):  # hidden [N, L, H]: the final hidden states
        h = hidden[:, :-1].reshape(-1, hidden.shape[-1])[keep]
        lp, ent = head_logprobs(head, h, targets, with_entropy=with_entropy, chunk_rows=chunk_rows)
        return torch.stack([spread(lp)] + ([spread(ent)] if with_entropy else []), dim=-1)

    with _head_replaced(head, forward):
        out = _model_call(model, input_ids, attention_mask, position_ids).logits.float()
    return out[..., 0], (out[..., 1] if with_entropy else None)


def _full_logits_forward(model, input_ids, attention_mask, position_ids, real, with_entropy):
    """The fallback for heads that are not a plain linear map: the whole [N, L, V] logits."""
    logits = _model_call(model, input_ids, attention_mask, position_ids).logits[:, :-1]
    lp = gather_logprobs(logits, input_ids[:, 1:]) * real
    return lp, (entropy_from_logits(logits) * real if with_entropy else None)


def forward_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    position_ids: torch.Tensor | None = None,
    with_entropy: bool = False,
    autocast: bool = False,
    chunk_rows: int = HEAD_CHUNK_ROWS,
    score_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(x_i | x_<i) [N, L] for every position, and the policy's entropy there [N, L] (or None).

    ``score_mask`` [N, L] (1 where a value is wanted, e.g. agent tokens) scores only those positions
    and gives 0 elsewhere: with a plain linear head the head then runs on those rows alone, which
    spares the [tokens, V] work of every prompt and feedback position (what TRL's
    ``logits_to_keep`` spares for a single completion).

    Position 0 (no context), padding and a first real token after left padding get 0. ``autocast``
    runs the model (not the float32 log-softmax after it) under bf16 autocast. Gradients flow when
    the caller allows them. A plain linear head is applied ``chunk_rows`` rows at a time (module
    docstring); ``chunk_rows`` 0 forces the full-logits path.

    Packed rows (``infopo_cli.core.packing``) come with their ``position_ids`` [N, L] and a 4D
    ``attention_mask`` (None for a varlen kernel); a token is then scored where its position is > 0
    (it continues its own sequence), so the first token of each packed sequence gets 0 like
    position 0 of a padded row.
    """
    enabled = autocast and input_ids.device.type in ("cpu", "cuda")
    ctx = (
        torch.autocast(input_ids.device.type, dtype=torch.bfloat16)
        if enabled
        else contextlib.nullcontext()
    )
    if position_ids is None:  # padded rows: x_{i+1} is scored when x_i and x_{i+1} are real
        position_ids = position_ids_from_mask(attention_mask)
        real = (attention_mask[:, :-1] * attention_mask[:, 1:]).to(torch.float32)  # [N, L-1]
    else:  # packed rows: x_{i+1} is scored unless it starts a sequence
        real = (position_ids[:, 1:] > 0).to(torch.float32)  # [N, L-1]
    if score_mask is not None:
        real = real * score_mask[:, 1:].to(real.dtype)
    head = plain_linear_head(model) if chunk_rows > 0 else None
    with ctx:
        if head is not None:
            lp, ent = _chunked_forward(
                model, head, input_ids, attention_mask, position_ids, real, with_entropy, chunk_rows
            )
        else:
            lp, ent = _full_logits_forward(
                model, input_ids, attention_mask, position_ids, real, with_entropy
            )
    lp = torch.cat([torch.zeros_like(lp[:, :1]), lp], dim=1)  # [N, L]
    if ent is None:
        return lp, None
    return lp, torch.cat([torch.zeros_like(ent[:, :1]), ent], dim=1)


def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[N, L] log pi(x_i | x_<i) for every position; position 0 (no context) and pads get 0."""
    return forward_logprobs(model, input_ids, attention_mask)[0]
