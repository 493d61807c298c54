"""Rollout engines: token ids in, sampled token ids and their log-probs out.

Engines never decode and re-encode: the rollout loop owns the token ids of every conversation and
passes them as prompts. After each policy update the trainer pushes the new weights with
``update_weights`` (a no-op for an engine that shares the trainer's model object).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass
class Generation:
    token_ids: list[int]  # sampled tokens, including the stop token when one was produced
    logprobs: list[float]  # log-prob of each sampled token under the sampling distribution
    finished: bool  # True when a stop token ended it (False: hit max_new_tokens)


class Engine(ABC):
    separate_weights: bool = True
    """True when the engine samples from its own copy of the weights (another process, dtype or
    kernels), so its log-probs may differ from the trainer's; False when it runs the trainer's
    own model object (then the sampler/trainer correction has nothing to correct)."""
    shares_process_group: bool = False
    """True when closing the engine also destroys the trainer's process group (a vLLM engine
    colocated with a torchrun rank), so it must be closed after the trainer's last collective."""

    @abstractmethod
    def generate(
        self,
        prompts: list[list[int]],
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float = 1.0,
    ) -> list[Generation]: ...

    def update_weights(self, model) -> float:
        """Load the trainer's current weights; returns the seconds it took."""
        return 0.0

    def push_stats(self) -> dict[str, float]:
        """Metrics of the last push (what it sent), for the step's log; empty when none."""
        return {}

    def last_check(self) -> dict[str, float]:
        """Engine-vs-trainer log-prob comparison after the last push (empty when not checked)."""
        return {}

    def release_memory(self) -> None:
        """Free accelerator memory while the trainer works (engines that share a GPU)."""

    def close(self) -> None:
        pass
