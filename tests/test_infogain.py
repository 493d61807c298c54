"""Information gain against an independent two-full-pass implementation (docs/method.md, Information gain)."""

from __future__ import annotations

import random

import pytest
import torch

from infopo_cli.core.infogain import fit_placeholder, information_gain
from infopo_cli.core.logprobs import token_logprobs
from infopo_cli.core.trajectory import Trajectory, Turn
from tests.conftest import random_trajectory


def reference_ig(model, traj: Trajectory, placeholder: list[int]) -> list[float]:
    """Straight from the definition: one unpadded forward pass per sequence, per scored turn."""

    def next_action_logps(ids: list[int], s: int, e: int) -> torch.Tensor:
        with torch.no_grad():
            logits = model(torch.tensor([ids[:e]])).logits[0]
        logp = torch.log_softmax(logits.float(), -1)
        return torch.stack([logp[k - 1, ids[k]] for k in range(s, e)])

    out = []
    for t, turn in enumerate(traj.turns):
        if (
            t == len(traj.turns) - 1
            or turn.feedback is None
            or turn.feedback[1] == turn.feedback[0]
        ):
            out.append(0.0)
            continue
        fs, fe = turn.feedback
        n = fe - fs
        masked = placeholder[:n] + [placeholder[-1]] * max(0, n - len(placeholder))
        cf = traj.input_ids[:fs] + masked + traj.input_ids[fe:]
        s, e = traj.turns[t + 1].action
        out.append(
            (next_action_logps(traj.input_ids, s, e) - next_action_logps(cf, s, e)).mean().item()
        )
    return out


def test_fit_placeholder_truncates_and_repeats():
    assert fit_placeholder([5, 6, 7], 2) == [5, 6]
    assert fit_placeholder([5, 6, 7], 3) == [5, 6, 7]
    assert fit_placeholder([5, 6, 7], 5) == [5, 6, 7, 7, 7]
    with pytest.raises(ValueError):
        fit_placeholder([], 3)


@pytest.mark.parametrize(
    "placeholder", [[9], [9, 10, 11, 12, 13, 14, 15, 16, 17, 18]], ids=["shorter", "longer"]
)
def test_ig_equals_two_pass_definition(tiny_lm, placeholder):
    rng = random.Random(1)
    trajs = [
        random_trajectory(rng, n_turns=rng.randint(1, 5), group=str(i), empty_every=3)
        for i in range(8)
    ]
    got = information_gain(
        tiny_lm, trajs, placeholder, token_budget=200
    )  # small budget: several batches
    for traj, g in zip(trajs, got):
        ref = reference_ig(tiny_lm, traj, placeholder)
        assert g == pytest.approx(ref, abs=1e-5)
    scored = [v for traj, g in zip(trajs, got) for t, v in enumerate(g) if t in traj.scored_turns()]
    assert scored and all(v != 0.0 for v in scored)  # the random model does react to feedback


def test_unscored_turns_are_zero(tiny_lm):
    one_turn = Trajectory(input_ids=[1, 2, 3, 4, 5, 6], turns=[Turn((2, 4), (4, 6))])
    empty = Trajectory(
        input_ids=list(range(1, 13)),
        turns=[Turn((2, 4), (5, 5)), Turn((6, 8), None), Turn((9, 12))],
    )
    assert information_gain(tiny_lm, [one_turn, empty], [7, 8]) == [[0.0], [0.0, 0.0, 0.0]]


def test_padding_never_changes_a_value(tiny_lm):
    rng = random.Random(2)
    trajs = [random_trajectory(rng, n_turns=4, group=str(i)) for i in range(5)]
    together = information_gain(tiny_lm, trajs, [3, 4])
    alone = [information_gain(tiny_lm, [t], [3, 4])[0] for t in trajs]
    for a, b in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-5)


def test_left_and_right_padding_give_the_same_logprobs(tiny_lm):
    seqs = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    right = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    right_mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0]])
    left = torch.tensor([[5, 6, 7, 8, 9, 10], [0, 0, 0, 11, 12, 13]])
    left_mask = torch.tensor([[1] * 6, [0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        lr = token_logprobs(tiny_lm, right, right_mask)
        ll = token_logprobs(tiny_lm, left, left_mask)
        alone = token_logprobs(tiny_lm, torch.tensor([seqs[1]]), torch.ones(1, 3, dtype=torch.long))
    assert torch.allclose(lr[0], ll[0], atol=1e-5)
    assert torch.allclose(lr[1, :3], ll[1, 3:], atol=1e-5)
    assert torch.allclose(lr[1, :3], alone[0], atol=1e-5)


def test_ig_is_zero_when_feedback_equals_placeholder(tiny_lm):
    rng = random.Random(3)
    placeholder = [20, 21, 22]
    trajs = []
    for i in range(4):
        tr = random_trajectory(rng, n_turns=4, group=str(i))
        for turn in tr.turns:
            if turn.feedback:
                fs, fe = turn.feedback
                tr.input_ids[fs:fe] = fit_placeholder(placeholder, fe - fs)
        trajs.append(tr)
    assert all(v == 0.0 for g in information_gain(tiny_lm, trajs, placeholder) for v in g)


class BigramLM(torch.nn.Module):
    """Each next-token distribution depends on the current token only: attention cannot see the
    feedback, so the next action's log-probs never change when the feedback is masked."""

    def __init__(self, vocab: int = 64):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, vocab)

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False):
        return type("Out", (), {"logits": self.emb(input_ids)})()


def test_ig_is_exactly_zero_when_the_model_cannot_see_feedback():
    rng = random.Random(4)
    trajs = []
    for i in range(6):  # glue after the feedback keeps the token before a_{t+1} unchanged
        tr = random_trajectory(rng, n_turns=5, group=str(i))
        trajs.append(tr)
    model = BigramLM()
    for traj, g in zip(trajs, information_gain(model, trajs, [1, 2])):
        for t in traj.scored_turns():
            fe = traj.turns[t].feedback[1]
            if fe < traj.turns[t + 1].action[0]:  # at least one glue token between o_t and a_{t+1}
                assert g[t] == 0.0


def test_credit_goes_to_the_eliciting_action():
    tr = Trajectory(
        input_ids=list(range(12)), turns=[Turn((2, 6), (6, 8)), Turn((8, 10), (10, 12))]
    )
    tr.info_gain = [0.8, 0.0]
    r = tr.intrinsic_rewards()
    assert r[2:6] == [0.2] * 4 and sum(r) == pytest.approx(0.8)
    assert r[:2] == [0.0, 0.0] and r[6:] == [0.0] * 6


def test_parsed_only_zeroes_the_gain_of_off_protocol_turns():
    from infopo_cli.core.infogain import parsed_only

    assert parsed_only([0.3, -0.2, 0.25, 0.0], [True, False, False, True]) == [0.3, 0.0, 0.0, 0.0]
    assert parsed_only([0.1, 0.2], [True, True]) == [0.1, 0.2]
    with pytest.raises(ValueError, match="2 turn gains but 3 parse flags"):
        parsed_only([0.1, 0.2], [True, True, False])
