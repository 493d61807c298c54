"""The baselines run through the same trainer (docs/method.md, Advantages): RLOO and turn-level
credit, each against an independent hand computation on hand-made inputs."""

from __future__ import annotations

import statistics

import pytest
import torch

from infopo_cli.core.advantages import (
    fuse_advantages,
    fuse_advantages_with_stats,
    reward_to_go,
    rloo_advantage,
    tied_groups,
    turn_credit_advantage,
)
from infopo_cli.core.trajectory import Trajectory, Turn

EPS = 1e-6


def test_rloo_subtracts_the_mean_of_the_others():
    outcomes = torch.tensor([1.0, 0.0, 0.5, 2.0, 2.0, 0.7])
    groups = ["a", "a", "a", "b", "b", "c"]
    # a: 1 - mean(0, .5), 0 - mean(1, .5), .5 - mean(1, 0); b ties; c is alone (baseline 0)
    want = [1.0 - 0.25, 0.0 - 0.75, 0.5 - 0.5, 0.0, 0.0, 0.7]
    assert rloo_advantage(outcomes, groups).tolist() == pytest.approx(want, abs=1e-7)


def test_rloo_is_grpo_without_the_std_scaled_by_g_over_g_minus_1():
    outcomes = torch.tensor([0.3, 0.9, 0.0, 0.6])
    g = 4
    mean = statistics.mean(outcomes.tolist())
    want = [g / (g - 1) * (s - mean) for s in outcomes.tolist()]
    assert rloo_advantage(outcomes, ["x"] * 4).tolist() == pytest.approx(want, abs=1e-6)


def test_fusion_rloo_puts_the_advantage_on_every_agent_token():
    outcomes = torch.tensor([1.0, 0.0, 0.4])
    groups = ["a", "a", "b"]
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    intrinsic = torch.tensor([[9.0, 9.0, 0.0], [0.0, -9.0, 9.0], [9.0, 0.0, 0.0]])  # ignored
    adv = fuse_advantages(outcomes, groups, intrinsic, mask, mode="rloo")
    want = [[1.0, 1.0, 0.0], [0.0, -1.0, -1.0], [0.4, 0.0, 0.0]]
    assert adv.tolist() == [pytest.approx(r) for r in want]


def test_reward_to_go_discounts_later_rewards():
    # G2 = 2, G1 = 0 + .5 * 2 = 1, G0 = 1 + .5 * 1 = 1.5
    assert reward_to_go([1.0, 0.0, 2.0], 0.5) == pytest.approx([1.5, 1.0, 2.0])
    assert reward_to_go([1.0, 0.0, 2.0], 1.0) == pytest.approx([3.0, 2.0, 2.0])
    assert reward_to_go([], 0.8) == []


def make_turns():
    """Two groups; episodes of different lengths; per-turn rewards."""
    rewards = [[0.0, 0.5, 1.0], [0.2, 0.0], [1.0], [0.0, 0.0]]
    groups = ["a", "a", "b", "b"]
    return rewards, groups


def test_reward_to_go_is_z_scored_over_every_turn_of_the_group():
    rewards, groups = make_turns()
    gamma = 0.8
    # returns by hand
    a0 = [0.0 + 0.8 * 0.5 + 0.64 * 1.0, 0.5 + 0.8 * 1.0, 1.0]
    a1 = [0.2 + 0.8 * 0.0, 0.0]
    b0 = [1.0]
    b1 = [0.0, 0.0]
    pooled_a, pooled_b = a0 + a1, b0 + b1
    ma, sa = statistics.mean(pooled_a), statistics.stdev(pooled_a)
    mb, sb = statistics.mean(pooled_b), statistics.stdev(pooled_b)
    want = [
        [(g - ma) / (sa + EPS) for g in a0],
        [(g - ma) / (sa + EPS) for g in a1],
        [(g - mb) / (sb + EPS) for g in b0],
        [(g - mb) / (sb + EPS) for g in b1],
    ]
    got = turn_credit_advantage(rewards, groups, scheme="reward_to_go", gamma=gamma)
    assert got == [pytest.approx(w, abs=1e-6) for w in want]


def test_equalized_gives_every_turn_the_normalised_episode_return():
    rewards, groups = make_turns()
    gamma = 0.8
    ret = [0.0 + 0.8 * 0.5 + 0.64 * 1.0, 0.2, 1.0, 0.0]  # sum_t gamma^t r_t
    sa, sb = statistics.stdev(ret[:2]), statistics.stdev(ret[2:])
    ma, mb = statistics.mean(ret[:2]), statistics.mean(ret[2:])
    want = [
        [(ret[0] - ma) / (sa + EPS)] * 3,
        [(ret[1] - ma) / (sa + EPS)] * 2,
        [(ret[2] - mb) / (sb + EPS)] * 1,
        [(ret[3] - mb) / (sb + EPS)] * 2,
    ]
    got = turn_credit_advantage(rewards, groups, scheme="equalized", gamma=gamma)
    assert got == [pytest.approx(w, abs=1e-6) for w in want]


def test_small_groups_use_mean_zero_std_one():
    # reward_to_go: a group with one turn in all; equalized: a group of one trajectory
    got = turn_credit_advantage([[0.7]], ["solo"], scheme="reward_to_go", gamma=0.8)
    assert got == [pytest.approx([0.7 / (1 + EPS)])]
    got = turn_credit_advantage([[0.5, 1.0]], ["solo"], scheme="equalized", gamma=0.5)
    assert got == [pytest.approx([1.0 / (1 + EPS)] * 2)]  # return .5 + .5 * 1


def test_fusion_turn_modes_place_each_turn_on_its_action_tokens():
    rewards, groups = [[0.0, 1.0], [0.0]], ["a", "a"]
    spans = [[(1, 3), (4, 5)], [(0, 2)]]
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0, 0.0]])
    outcomes = torch.tensor([1.0, 0.0])
    # returns .5, 1 and 0; pooled over the group: mean .5, std .5
    t0, t1, u0 = (0.5 - 0.5) / (0.5 + EPS), (1.0 - 0.5) / (0.5 + EPS), (0.0 - 0.5) / (0.5 + EPS)
    adv = fuse_advantages(
        outcomes,
        groups,
        torch.zeros(2, 5),
        mask,
        mode="reward_to_go",
        gamma=0.5,
        turn_rewards=rewards,
        turn_spans=spans,
    )
    want = [[0, t0, t0, 0, t1], [u0, u0, 0, 0, 0]]
    assert adv.tolist() == [pytest.approx(r, abs=1e-6) for r in want]


def test_outcome_only_task_equalized_at_gamma_one_is_exactly_grpo():
    """A task that scores only the outcome: r_T = S_i, earlier turns 0. Equalized turn credit with
    gamma = 1 gives every turn the GRPO advantage of its trajectory."""
    trajs = [
        Trajectory(list(range(9)), [Turn((1, 3), (3, 5)), Turn((6, 8))], group="a", outcome=1.0),
        Trajectory(list(range(6)), [Turn((1, 4))], group="a", outcome=0.0),
        Trajectory(list(range(6)), [Turn((0, 2), (2, 3)), Turn((4, 6))], group="b", outcome=0.5),
        Trajectory(list(range(6)), [Turn((0, 2))], group="b", outcome=0.25),
    ]
    mask = torch.tensor(
        [[0, 1, 1, 0, 0, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0, 0, 0, 0]]
        + [[1, 1, 0, 0, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0]],
        dtype=torch.float32,
    )
    outcomes = torch.tensor([t.score for t in trajs])
    groups = [t.group for t in trajs]
    kw = dict(
        turn_rewards=[t.turn_rewards() for t in trajs],
        turn_spans=[[u.action for u in t.turns] for t in trajs],
    )
    assert kw["turn_rewards"] == [[0.0, 1.0], [0.0], [0.0, 0.5], [0.25]]
    eq = fuse_advantages(
        outcomes, groups, torch.zeros(4, 9), mask, mode="equalized", gamma=1.0, **kw
    )
    grpo = fuse_advantages(outcomes, groups, torch.zeros(4, 9), mask, mode="none")
    assert torch.allclose(eq, grpo, atol=1e-6)


def test_turn_rewards_put_the_unscored_outcome_on_the_last_turn():
    turns = [Turn((0, 1), (1, 2), reward=0.1), Turn((2, 3), reward=0.2)]
    scored = Trajectory([0, 1, 2], turns, outcome=0.8)
    assert scored.turn_rewards() == pytest.approx([0.1, 0.7])
    assert sum(scored.turn_rewards()) == pytest.approx(scored.score)
    summed = Trajectory([0, 1, 2], turns)  # no outcome: S is the sum of the turn rewards
    assert summed.turn_rewards() == [0.1, 0.2]


def test_turn_modes_need_turn_data_and_log_the_usual_stats():
    mask = torch.ones(2, 2)
    with pytest.raises(ValueError, match="needs turn_rewards"):
        fuse_advantages(
            torch.tensor([1.0, 0.0]), ["a", "a"], torch.zeros(2, 2), mask, mode="equalized"
        )
    with pytest.raises(ValueError, match="turn credit scheme"):
        turn_credit_advantage([[1.0]], ["a"], scheme="sum", gamma=1.0)
    _, stats = fuse_advantages_with_stats(
        torch.tensor([1.0, 0.0]), ["a", "a"], torch.zeros(2, 2), mask, mode="rloo"
    )
    assert stats["fusion/tied_groups"] == 0.0
    assert stats["fusion/adv_abs_mean"] == pytest.approx(1.0)


def test_tied_groups_lists_groups_whose_outcomes_all_tie():
    outcomes = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.3, 0.0, 0.0])
    groups = ["a", "a", "b", "b", "solo", (1, "x"), (1, "x")]
    assert tied_groups(outcomes, groups) == ["a", "solo", (1, "x")]
    assert tied_groups(torch.zeros(0), []) == []
