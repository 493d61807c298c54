"""DAPO-style dynamic sampling (``trainer.dynamic_sampling_max_rounds``): the recipe's rollout loop
on a scripted task whose groups tie or not by prompt, against the batch worked out by hand."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from infopo_cli.core.trajectory import Batch, Trajectory, Turn
from infopo_cli.recipes.train import TrainRecipe
from infopo_cli.runtime.distributed import World, group_seed, shard
from infopo_cli.tasks.base import TaskInstance

G = 3  # rollouts per prompt
SEED, STEP = 5, 2


def inst(name: str) -> TaskInstance:
    return TaskInstance(id=name, messages=[])


def episode(instance: TaskInstance, k: int) -> Trajectory:
    """A prompt named tie* gives G equal outcomes; mix* gives 0, 1, 0 (and fail* a failed one)."""
    outcome = 0.0 if instance.id.startswith("tie") else float(k == 1)
    failed = instance.id.startswith("fail") and k == 2
    return Trajectory([1, 2], [Turn((1, 2))], group=instance.id, outcome=outcome, failed=failed)


class Scripted:
    """The parts of a TrainRecipe that the rollout loop reads, with a scripted rollout; refills come
    from ``queue`` in order; ``seeds`` records the torch seed each rollout ran under."""

    roll_out = TrainRecipe.roll_out
    _round = TrainRecipe._round
    _play = TrainRecipe._play
    _refill_tied = TrainRecipe._refill_tied

    def __init__(self, queue: list[str], rounds: int, strategy: str = "ddp"):
        self.queue = [inst(q) for q in queue]
        self.task = SimpleNamespace(train_split="train", sample=self.sample)
        self.tcfg = SimpleNamespace(dynamic_sampling_max_rounds=rounds, mini_batches=1)
        self.world = World(strategy=strategy)
        self.cfg = SimpleNamespace(seed=SEED)
        self.policy = torch.nn.Linear(1, 1)
        self.engine = SimpleNamespace(release_memory=lambda: None, separate_weights=False)
        self.simulator = SimpleNamespace(pop_stats=lambda: {})
        self.sampler = random.Random(0)
        self.seeds: list[int] = []

    def sample(self, split: str, n: int, rng: random.Random) -> list[TaskInstance]:
        out, self.queue = self.queue[:n], self.queue[n:]
        return out

    def _rollout(self, instances: list[TaskInstance]) -> Batch:
        self.seeds.append(torch.initial_seed())
        return Batch([episode(i, k) for i in instances for k in range(G)])


def play(queue: list[str], rounds: int, strategy: str = "ddp"):
    recipe = Scripted(queue[4:], rounds, strategy)
    kept, groups, metrics = recipe.roll_out(STEP, [inst(q) for q in queue[:4]])
    return recipe, kept, groups, metrics


QUEUE = ["tie_a", "mix_b", "tie_c", "tie_d", "mix_e", "tie_f", "mix_g", "mix_h"]


def test_tied_groups_are_refilled_until_the_batch_is_full():
    # round 0: prompts 0-3, three tie -> prompts 4-6 (mix_e, tie_f, mix_g), one ties -> prompt 7
    recipe, kept, groups, metrics = play(QUEUE, rounds=3)
    assert groups == [1] * G + [4] * G + [6] * G + [7] * G
    assert [t.group for t in kept.trajectories] == [
        g for g in ("mix_b", "mix_e", "mix_g", "mix_h") for _ in range(G)
    ]
    assert recipe.seeds == [group_seed(SEED, STEP, i) for i in range(8)]
    assert metrics["rollout/tied_groups_dropped"] == 4
    assert metrics["rollout/groups_refilled"] == 4
    assert metrics["rollout/sampling_rounds"] == 2
    assert metrics["rollout/tied_groups_kept"] == 0
    assert metrics["simulator/episodes"] == 8 * G
    assert metrics["simulator/excluded"] == 0


def test_at_the_cap_the_last_rounds_tied_groups_stay():
    recipe, kept, groups, metrics = play(QUEUE, rounds=1)
    assert groups == [1] * G + [4] * G + [5] * G + [6] * G  # tie_f (prompt 5) stays
    assert metrics["rollout/tied_groups_dropped"] == 3
    assert metrics["rollout/sampling_rounds"] == 1
    assert metrics["rollout/tied_groups_kept"] == 1
    assert metrics["simulator/episodes"] == 7 * G
    assert len(recipe.queue) == 1  # mix_h never drawn


def test_off_plays_the_prompts_once_and_logs_nothing_new():
    recipe, kept, groups, metrics = play(QUEUE, rounds=0)
    assert groups == [i for i in range(4) for _ in range(G)]
    assert not any(k.startswith("rollout/") for k in metrics)
    assert len(recipe.queue) == 4


def test_failed_episodes_are_excluded_not_counted_as_tied():
    # fail_b keeps outcomes 0, 1 (its third episode failed): not tied, not refilled
    queue = ["fail_b", "tie_a", "mix_c", "mix_d", "mix_e"]
    _, kept, groups, metrics = play(queue, rounds=2)
    assert groups == [0, 0] + [2] * G + [3] * G + [4] * G
    assert metrics["simulator/excluded"] == 1
    assert metrics["simulator/episodes"] == 5 * G
    assert metrics["rollout/tied_groups_dropped"] == 1


def test_single_strategy_keys_refills_apart_and_counts_repeated_prompts():
    # tie_a drawn twice in round 0 is one group of 2G holding two prompts: both are refilled
    queue = ["tie_a", "tie_a", "mix_b", "mix_c", "mix_b", "mix_e"]
    recipe, kept, groups, metrics = play(queue, rounds=2, strategy="single")
    # the refilled mix_b is its own group, keyed by the round's first prompt index (4)
    assert groups == ["mix_b"] * G + ["mix_c"] * G + [(4, "mix_b")] * G + [(4, "mix_e")] * G
    assert metrics["rollout/tied_groups_dropped"] == 2
    assert len(recipe.seeds) == 2  # one rollout per round under the run's RNG


@pytest.mark.parametrize("n,size", [(4, 2), (3, 2), (1, 2), (5, 3), (0, 2)])
def test_shard_covers_any_length_in_contiguous_slices(n, size):
    items = list(range(n))
    parts = [shard(items, World(strategy="ddp", rank=r, size=size)) for r in range(size)]
    assert [x for _, part in parts for x in part] == items
    assert [i for idx, _ in parts for i in idx] == items  # the global indices, in order
    assert max(len(p) for _, p in parts) - min(len(p) for _, p in parts) <= 1
