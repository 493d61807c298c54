"""Scoring a rolled-out batch before the update: the old log-probs of the PPO ratio and the
information gain of every turn, by either implementation (docs/method.md, "Information gain").

- ``fast`` (default): one prefix pass per trajectory gives the old log-probs *and* IG's factual
  term; the counterfactuals reuse its cached keys/values (``core/infogain_fast.py``). With the
  trainer's ``share_prefix`` that pass runs each group's prompt once, as the update does.
- ``naive``: the old-log-prob pass of the update, then two teacher-forced passes per scored turn
  (``core/infogain.py``), the reference the fast scorer is tested against.
- No information gain (``fusion=none``, plain GRPO): the old-log-prob pass alone, and not even that
  when the update uses the batch once (``PolicyTrainer.single_pass``): it then takes its own
  log-probs, detached, as the old ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from infopo_cli.core.infogain import information_gain
from infopo_cli.core.infogain_fast import logprobs_and_information_gain
from infopo_cli.core.trajectory import Trajectory
from infopo_cli.core.update import PolicyTrainer


@dataclass
class Scores:
    old_logprobs: torch.Tensor | None
    """None: the update takes its own (``need_old`` False). Else [N, L] log-probs of the batch under the policy that generated it (0 off agent tokens when
    the fast scorer produced them: the loss reads agent tokens only)."""
    info_gain: list[list[float]] | None
    """IG_t per trajectory and turn (0.0 where a turn is not scored); None when not asked for."""
    oldlp_s: float
    """Seconds of the separate old-log-prob pass (0 when the fast scorer made them)."""
    infogain_s: float
    """Seconds spent on information gain."""


def score(
    trainer: PolicyTrainer,
    trajectories: Sequence[Trajectory],
    tensors: dict[str, torch.Tensor],
    placeholder_ids: Sequence[int],
    *,
    impl: str,
    token_budget: int,
    with_info_gain: bool,
    need_old: bool = True,
) -> Scores:
    """Old log-probs [N, L] of ``tensors`` (the padded ``trajectories``) and, with
    ``with_info_gain``, IG_t by ``impl`` (``fast`` | ``naive``), both under ``trainer.module``.
    Without ``need_old`` no pass runs for the old log-probs alone (the fast scorer makes them
    anyway)."""
    t0 = time.time()
    if with_info_gain and impl == "fast":
        old, ig = logprobs_and_information_gain(
            trainer.module,
            trajectories,
            placeholder_ids,
            token_budget=token_budget,
            autocast=trainer.cfg.autocast == "bf16",
            action_tokens_only=True,
            share_prefix=trainer.share_prefix,
        )
        return Scores(old, ig, 0.0, time.time() - t0)
    old = trainer.logprobs(tensors) if need_old else None
    oldlp_s = time.time() - t0
    t0 = time.time()
    ig = None
    if with_info_gain:
        ig = information_gain(
            trainer.module, trajectories, placeholder_ids, token_budget=token_budget
        )
    return Scores(old, ig, oldlp_s, time.time() - t0)
