"""Shared fixtures: a tiny random causal LM and random trajectories, built in-process (no cache)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# the tasks read $INFOPO_CACHE/data/<name> unless told otherwise; beside a checkout that has the
# benchmark data in ../shared/data, the tests read that copy
for _var, _name in (("INFOPO_USERGYM_DATA", "usergym"), ("INFOPO_TAU2_DATA", "tau2")):
    if (SHARED_DATA / _name).is_dir():
        os.environ.setdefault(_var, str(SHARED_DATA / _name))


@pytest.fixture(scope="session")
def tiny_lm():
    """A 2-layer random Llama over a 64-token vocabulary, float32, eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
    )
    return LlamaForCausalLM(cfg).eval()


def random_trajectory(
    rng: random.Random, n_turns: int, vocab: int = 64, group: str = "g", empty_every: int = 0
):
    """Prompt, then per turn: action, glue, feedback (sometimes empty or None), glue."""
    from infopo_cli.core.trajectory import Trajectory, Turn

    ids = [rng.randrange(1, vocab) for _ in range(rng.randint(2, 8))]
    turns = []
    for t in range(n_turns):
        a = [rng.randrange(1, vocab) for _ in range(rng.randint(1, 6))]
        start = len(ids)
        ids += a
        turn = Turn(action=(start, len(ids)))
        if t < n_turns - 1 or rng.random() < 0.5:
            ids += [rng.randrange(1, vocab) for _ in range(rng.randint(0, 2))]  # template glue
            kind = rng.random()
            if empty_every and t % empty_every == empty_every - 1:
                turn.feedback = None if kind < 0.5 else (len(ids), len(ids))
            else:
                fb = [rng.randrange(1, vocab) for _ in range(rng.randint(1, 7))]
                turn.feedback = (len(ids), len(ids) + len(fb))
                ids += fb
            ids += [rng.randrange(1, vocab) for _ in range(rng.randint(0, 2))]
        turns.append(turn)
    return Trajectory(input_ids=ids, turns=turns, group=group)
