"""The policy side of a step: log-probs of a batch and the PPO-clip update (docs/method.md, Policy loss).

The batch is split into ``trainer.mini_batches`` consecutive mini-batches, one optimizer step each
(PPO-style; the old log-probs stay fixed across them). Each mini-batch is micro-batched under a token
budget with gradients accumulated, so that its loss is one token-mean over every agent token of the
mini-batch, whatever the micro-batching. Under ``ddp``/``fsdp2`` the mini-batches are cut by global
prompt index (``mini_batch_of``), and each rank plays its slice of every one of them
(``infopo_cli.runtime.distributed.shard``): mini-batch i is the same set of whole groups at any
world size, and the ranks share it evenly. Its token count is summed over ranks, every rank runs the
same number of micro-batches in it (a rank with fewer adds zero-weight ones, because DDP and FSDP2
synchronise inside backward), and losses are multiplied by the world size to undo the gradient
averaging of DDP/FSDP2.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from infopo_cli.config import TrainerConfig
from infopo_cli.core import shared_prefix
from infopo_cli.core.logprobs import forward_logprobs
from infopo_cli.core.losses import entropy_bonus, is_weights, kl_k3, masked_mean, ppo_clip_loss
from infopo_cli.core.packing import (
    pack_rows,
    packed_attention,
    packs,
    takes_block_mask,
    unpack_row,
)
from infopo_cli.core.trajectory import token_batches
from infopo_cli.runtime.distributed import (
    World,
    grad_sync,
    load_optimizer_state,
    optimizer_state,
    unwrap,
)


def mini_batch_rows(n_rows: int, mini_batches: int) -> list[range]:
    """The rows of each mini-batch: ``mini_batches`` consecutive runs of the batch in its fixed order
    (no shuffle), sizes differing by at most one. Trajectories come grouped by prompt, so when
    ``mini_batches`` divides the number of prompts each mini-batch holds whole groups."""
    return [
        range(n_rows * i // mini_batches, n_rows * (i + 1) // mini_batches)
        for i in range(mini_batches)
    ]


def mini_batch_of(prompts: list[int], n_prompts: int, mini_batches: int) -> list[int]:
    """The mini-batch of each row, from the global index of its prompt among the step's
    ``n_prompts``: the one whose run of ``mini_batch_rows`` over the prompts holds it. A group stays
    whole however many of its trajectories were excluded. A prompt refilled by dynamic sampling
    (index ``n_prompts + j``) joins the mini-batch of prompt ``j mod n_prompts``: deterministic, and
    the same at any world size."""
    run_of = {g: i for i, run in enumerate(mini_batch_rows(n_prompts, mini_batches)) for g in run}
    return [run_of[g % n_prompts] for g in prompts]


def scheduled_lr(cfg: TrainerConfig, step: int) -> float:
    """Learning rate of update ``step`` (1-based): ``lr`` throughout, or linearly down to 0 at ``steps``."""
    if cfg.lr_schedule == "linear":
        return cfg.lr * max(0.0, 1.0 - (step - 1) / max(cfg.steps, 1))
    return cfg.lr


class PolicyTrainer:
    """``model`` is what the update runs through (a DDP/FSDP2 wrapper under several ranks); log-probs
    without gradients run on the unwrapped module, which issues no collectives under DDP.

    ``packing`` (``trainer.packing`` where the model's attention can run packed rows, ``packs``): a
    micro-batch is its rows laid end to end in one sequence, positions restarting at 0 per row and
    attention within rows only, instead of rows right-padded to the longest.

    ``share_prefix`` (``trainer.share_prefix`` where the attention takes a block mask): rows that
    begin alike (a group's prompt) run their common beginning once (``core/shared_prefix.py``); a
    micro-batch is then a list of ``(shared tokens, rows)`` groups instead of a list of rows."""

    def __init__(self, model, cfg: TrainerConfig, ref_model=None, world: World | None = None):
        self.model = model
        self.module = unwrap(model)
        self.cfg = cfg
        self.ref_model = ref_model
        self.world = world or World()
        self.device = next(model.parameters()).device
        self.packing = cfg.packing and packs(self.module)
        self.share_prefix = cfg.share_prefix and not self.packing and takes_block_mask(self.module)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _lengths(self, tensors: dict[str, torch.Tensor], rows: list[int]) -> list[int]:
        return [int(n) for n in tensors["attention_mask"][rows].sum(-1).tolist()]

    def _rows(self, tensors: dict[str, torch.Tensor], rows: list) -> dict[str, torch.Tensor]:
        """The [N, L] tensors' ``rows`` as one micro-batch: [R, longest] right-padded, or packed
        [1, sum of lengths] with ``position_ids`` and the ``attention_mask`` of ``packed_attention``
        (a 4D block-diagonal mask; None for a varlen kernel), or, with ``share_prefix``, one
        shared-prefix row per group (``rows`` then holds the groups; the layout under ``layout``)."""
        if self.share_prefix:
            mb, lay = shared_prefix.micro_batch(self.module, tensors, rows)
            return {**{k: v.to(self.device) for k, v in mb.items()}, "layout": lay}
        lengths = self._lengths(tensors, rows)
        if not self.packing:
            width = max(lengths)
            return {k: v[rows, :width].to(self.device) for k, v in tensors.items() if v.dim() == 2}
        mb = pack_rows(tensors, rows, lengths)
        mb["position_ids"], mb["attention_mask"] = packed_attention(self.module, lengths)
        return {k: None if v is None else v.to(self.device) for k, v in mb.items()}

    def _batches(self, tensors: dict[str, torch.Tensor], rows: list[int]) -> list[list]:
        """Micro-batches of ``rows`` (row indices of the batch) under ``micro_batch_tokens``: lists
        of rows, or of ``(shared tokens, rows)`` groups with ``share_prefix``."""
        if self.share_prefix:
            return shared_prefix.plan(self.module, tensors, rows, self.cfg.micro_batch_tokens)
        lengths = self._lengths(tensors, rows)
        groups = token_batches(lengths, self.cfg.micro_batch_tokens, packed=self.packing)
        return [[rows[i] for i in g] for g in groups]

    def _forward(self, model, mb: dict[str, torch.Tensor], with_entropy: bool):
        """Log-probs [R, W] of each agent token given its prefix, and entropies; 0 elsewhere (the
        loss, the old and reference log-probs and the sampler comparison read agent tokens only)."""
        return forward_logprobs(
            model,
            mb["input_ids"],
            mb["attention_mask"],
            position_ids=mb.get("position_ids"),
            with_entropy=with_entropy,
            autocast=self.cfg.autocast == "bf16",
            score_mask=mb.get("action_mask"),
        )

    @property
    def single_pass(self) -> bool:
        """Whether the update uses the batch once (one PPO epoch, one mini-batch). Then the policy
        that sampled the batch is the one the update starts from, so the old log-probs are the
        update's own, detached: ``update`` accepts ``old_logprobs=None`` and skips their separate
        no-grad pass (the ratio is exactly 1 with the gradient of log pi, as TRL does)."""
        return self.cfg.ppo_epochs * self.cfg.mini_batches == 1

    @torch.no_grad()
    def logprobs(self, tensors: dict[str, torch.Tensor], model=None) -> torch.Tensor:
        """[N, L] log-probs of the batch under ``model`` (default: the policy), on CPU."""
        model = model or self.module
        out = torch.zeros(tensors["input_ids"].shape, dtype=torch.float32)
        for rows in self._batches(tensors, list(range(out.shape[0]))):
            mb = self._rows(tensors, rows)
            lp, _ = self._forward(model, mb, with_entropy=False)
            lp = lp.float().cpu()
            if self.share_prefix:
                shared_prefix.unpack(lp, mb["layout"], out)
                continue
            if not self.packing:
                out[rows, : lp.shape[1]] = lp
                continue
            lengths = self._lengths(tensors, rows)
            for r, n, row_lp in zip(rows, lengths, unpack_row(lp, lengths), strict=True):
                out[r, :n] = row_lp
        return out

    def update(
        self,
        tensors: dict[str, torch.Tensor],
        advantages: torch.Tensor,
        old_logprobs: torch.Tensor | None,
        step: int = 1,
        mini_batch: list[int] | None = None,
    ) -> dict[str, float]:
        """``ppo_epochs`` passes of PPO-clip over the batch, each pass one optimizer step per
        mini-batch (``mini_batches``, in the batch's fixed order), at the learning rate of ``step``.
        The old log-probs stay those of the rollout policy across every step. ``mini_batch`` gives
        each row's mini-batch (``mini_batch_of``; required under several ranks, where a rank holds
        only its slice of each); without it the rows are cut by ``mini_batch_rows``.
        ``old_logprobs`` None (only when ``single_pass`` and without sampler log-probs to compare):
        each micro-batch's own log-probs, detached."""
        cfg = self.cfg
        if old_logprobs is None and (not self.single_pass or "sampler_logprobs" in tensors):
            raise ValueError(
                "old_logprobs=None needs one PPO epoch, one mini-batch and no sampler log-probs"
            )
        for g in self.optimizer.param_groups:
            g["lr"] = scheduled_lr(cfg, step)
        tensors = {**tensors, "advantages": advantages}
        if old_logprobs is not None:
            tensors["old_logprobs"] = old_logprobs
        is_metrics = self._sampler_correction(tensors)
        ref_lp = (
            self.logprobs(tensors, self.ref_model)
            if self.ref_model is not None and cfg.kl_coef > 0
            else None
        )
        if ref_lp is not None:
            tensors["ref_logprobs"] = ref_lp
        world = self.world
        n_rows = int(tensors["input_ids"].shape[0])
        if mini_batch is None:
            parts = [list(r) for r in mini_batch_rows(n_rows, cfg.mini_batches)]
        else:
            parts = [[] for _ in range(cfg.mini_batches)]
            for row, i in enumerate(mini_batch):
                parts[i].append(row)
        plans = [self._plan(tensors, rows) for rows in parts]
        # DDP/FSDP2 average gradients over ranks; the loss is a global sum
        scale = float(world.size)
        sums: dict[str, float] = defaultdict(float)
        self.model.train()
        for _ in range(cfg.ppo_epochs):
            for plan in plans:
                self._optimizer_step(tensors, plan, scale, ref_lp is not None, sums)
        n_steps = cfg.ppo_epochs * cfg.mini_batches
        return {
            **{k: v / n_steps for k, v in sums.items()},
            **is_metrics,
            "train/lr": scheduled_lr(cfg, step),
        }

    def _plan(self, tensors: dict[str, torch.Tensor], rows: list[int]) -> tuple[float, list, int]:
        """One mini-batch (this rank's ``rows`` of it): its agent-token count summed over ranks (the
        token-mean's denominator), its micro-batches (row indices of the batch) and how many every
        rank runs in it (the maximum over ranks)."""
        total = self.world.sum(float(tensors["action_mask"][rows].sum()))
        batches = self._batches(tensors, rows)
        return (
            total,
            batches,
            self.world.max(len(batches)),
        )  # backward synchronises: all run as many

    def _optimizer_step(
        self,
        tensors: dict[str, torch.Tensor],
        plan: tuple[float, list, int],
        scale: float,
        with_ref: bool,
        sums: dict[str, float],
    ) -> None:
        """Gradients of one mini-batch, accumulated over its micro-batches, then one AdamW step."""
        total, batches, n_micro = plan
        if n_micro == 0:  # no rank has a row in this mini-batch (a batch smaller than mini_batches)
            return
        self.optimizer.zero_grad(set_to_none=True)
        for j in range(n_micro):
            with grad_sync(self.model, sync=j == n_micro - 1):
                if j >= len(batches):
                    self._idle_micro_batch(tensors, scale)
                    continue
                mb = self._rows(tensors, batches[j])
                self._micro_step(mb, total, scale, with_ref, sums)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2: a DTensor
            grad_norm = grad_norm.full_tensor()
        self.optimizer.step()
        sums["train/grad_norm"] += float(grad_norm)

    def _sampler_correction(self, tensors: dict[str, torch.Tensor]) -> dict[str, float]:
        """Adds ``is_weights`` [N, L] to ``tensors`` (``trainer.is_correction``, ``is_weights``) when
        they carry the engine's log-probs, and returns the ``is/`` metrics. Without them (the engine
        runs the trainer's own model, or its log-probs are not comparable: the recipe leaves them
        out) every weight is 1, and so logged."""
        cfg = self.cfg
        sampler = tensors.pop("sampler_logprobs", None)
        has = tensors.pop("sampler_mask", None)
        if tensors["input_ids"].shape[0] == 0:  # a rank without trajectories: nothing to report
            return {}
        if sampler is None or has is None:
            if cfg.is_correction == "none":
                return {}
            key = "is/capped_frac" if cfg.is_correction == "tis" else "is/masked_frac"
            return {"is/weight_mean": 1.0, key: 0.0}
        weights, metrics = is_weights(
            tensors["old_logprobs"],
            sampler,
            tensors["action_mask"] * has,
            mode=cfg.is_correction,
            cap=cfg.is_cap,
        )
        if cfg.is_correction != "none":  # none: the mismatch is only logged
            tensors["is_weights"] = weights
        return metrics

    def _micro_step(
        self,
        mb: dict[str, torch.Tensor],
        total: float,
        scale: float,
        with_ref: bool,
        sums: dict[str, float],
    ) -> None:
        """Forward and backward of one micro-batch; its loss is its share of the global token-mean."""
        cfg = self.cfg
        ref_lp = mb["ref_logprobs"] if with_ref else None
        mask = mb["action_mask"]
        share = float(mask.sum()) / max(total, 1.0)
        lp, ent = self._forward(self.model, mb, with_entropy=cfg.entropy_coef > 0)
        old = mb["old_logprobs"] if "old_logprobs" in mb else lp.detach()  # single pass: on-policy
        pg, m = ppo_clip_loss(
            lp,
            old,
            mb["advantages"],
            mask,
            clip_low=cfg.clip_low,
            clip_high=cfg.clip_high,
            dual_clip=cfg.dual_clip,
            num_tokens=total,
            weights=mb.get("is_weights"),
        )
        loss = pg
        if ent is not None:
            ent_mean = entropy_bonus(ent, mask, num_tokens=total)
            loss = loss - cfg.entropy_coef * ent_mean
            sums["loss/entropy"] += ent_mean.item()
        if ref_lp is not None:
            kl = masked_mean(kl_k3(lp, ref_lp), mask, num_tokens=total)
            loss = loss + cfg.kl_coef * kl
            sums["loss/kl_ref"] += kl.item()
        (loss * scale if scale != 1.0 else loss).backward()
        sums["loss/policy"] += m["loss/policy"]  # already scaled by the global token count
        for k in ("loss/clip_frac", "loss/dual_clip_frac", "loss/approx_kl"):
            sums[k] += m[k] * share

    def _idle_micro_batch(self, tensors: dict[str, torch.Tensor], scale: float) -> None:
        """A zero-weight forward and backward for a rank with fewer micro-batches than the others:
        it joins the gradient synchronisation and adds exactly nothing to the gradients."""
        if tensors["input_ids"].shape[0]:
            mb = self._rows(tensors, [(0, [0])] if self.share_prefix else [0])
        else:  # every trajectory of this rank was excluded
            one = torch.ones((1, 2), dtype=torch.long, device=self.device)
            mb = {"input_ids": one, "attention_mask": one}
        lp, _ = self._forward(self.model, mb, with_entropy=False)
        (lp.sum() * 0.0 * scale).backward()

    def state_dict(self) -> dict:
        """Full, unsharded, index-keyed optimizer state: loadable at any strategy and world size."""
        return {"optimizer": optimizer_state(self.model, self.optimizer)}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.model, self.optimizer, state["optimizer"])
