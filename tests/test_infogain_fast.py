"""The fast information-gain scorer against the reference scorer (infopo_cli.core.infogain).

Both must give the same IG_t (float32, 1e-5) on random multi-turn trajectories: 1-12 turns, mixed
lengths and padding, empty feedback (None and zero-length spans), glue of zero or more tokens, a
placeholder shorter and longer than the feedback, several forward batches, eager and sdpa attention.
"""

from __future__ import annotations

import random

import pytest
import torch

from infopo_cli.core import shared_prefix
from infopo_cli.core.infogain import information_gain
from infopo_cli.core.infogain_fast import (
    Segment,
    information_gain_fast,
    logprobs_and_information_gain,
    plan_segments,
    segment_mask,
    supports_packing,
)
from infopo_cli.core.logprobs import token_logprobs
from infopo_cli.core.trajectory import Batch, Trajectory, Turn, token_batches

VOCAB = 64
SHORT_PH = [9, 10]  # shorter than most feedback spans: its last token is repeated
LONG_PH = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]  # longer than every feedback: truncated


def tiny_llama(attn: str):
    """2-layer random Llama, vocabulary 64, grouped-query attention (4 heads, 2 key/value heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        attn_implementation=attn,
    )
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module", params=["eager", "sdpa"])
def model(request):
    return tiny_llama(request.param)


def random_trajectory(
    rng: random.Random, n_turns: int, prompt: list[int] | None = None
) -> Trajectory:
    """Prompt (``prompt`` or 1-9 random tokens), then per turn: action | glue (0-2 tokens) |
    feedback | glue. Feedback is a real span, an empty span or None (the last turn may have
    feedback or not)."""
    tok = lambda n: [rng.randrange(1, VOCAB) for _ in range(n)]  # noqa: E731
    ids = list(prompt) if prompt is not None else tok(rng.randint(1, 9))
    turns = []
    for t in range(n_turns):
        start = len(ids)
        ids += tok(rng.randint(1, 7))
        turn = Turn(action=(start, len(ids)))
        if t < n_turns - 1 or rng.random() < 0.5:
            ids += tok(rng.randint(0, 2))
            kind = rng.random()
            if kind < 0.15:
                turn.feedback = None
            elif kind < 0.3:
                turn.feedback = (len(ids), len(ids))
            else:
                fs = len(ids)
                ids += tok(rng.randint(1, 9))
                turn.feedback = (fs, len(ids))
            ids += tok(rng.randint(0, 2))
        turns.append(turn)
    return Trajectory(input_ids=ids, turns=turns, group=str(rng.random()))


def batch_of(seed: int, n: int = 12) -> list[Trajectory]:
    rng = random.Random(seed)
    trajs = [random_trajectory(rng, rng.randint(1, 12)) for _ in range(n)]
    trajs[0] = random_trajectory(rng, 12)  # at least one long one
    return trajs


def grouped_batch(seed: int, prompts: int = 3, group_size: int = 4) -> list[Trajectory]:
    """Rollouts of a few prompts (10-20 tokens each, long enough to be shared), shuffled, with one
    rollout repeated exactly (two identical rows of one group)."""
    rng = random.Random(seed)
    trajs = []
    for _ in range(prompts):
        prompt = [rng.randrange(1, VOCAB) for _ in range(rng.randint(10, 20))]
        trajs += [random_trajectory(rng, rng.randint(1, 8), prompt) for _ in range(group_size)]
    trajs.append(
        Trajectory(list(trajs[0].input_ids), [Turn(t.action, t.feedback) for t in trajs[0].turns])
    )
    rng.shuffle(trajs)
    return trajs


def old_logprobs(model, trajs: list[Trajectory]) -> torch.Tensor:
    t = Batch(trajs).tensors()
    with torch.no_grad():
        return token_logprobs(model, t["input_ids"], t["attention_mask"])


def max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    assert [len(r) for r in a] == [len(r) for r in b]
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


@pytest.mark.parametrize("placeholder", [SHORT_PH, LONG_PH], ids=["ph-shorter", "ph-longer"])
@pytest.mark.parametrize("budget", [150, 16384], ids=["many-batches", "one-batch"])
def test_fast_equals_naive(model, placeholder, budget):
    trajs = batch_of(seed=len(placeholder) + budget)
    feedback_kinds = {
        "none": any(t.feedback is None for tr in trajs for t in tr.turns[:-1]),
        "empty": any(t.feedback_len == 0 and t.feedback for tr in trajs for t in tr.turns[:-1]),
    }
    assert all(feedback_kinds.values()), feedback_kinds  # the batch covers both empty kinds
    naive = information_gain(model, trajs, placeholder, token_budget=budget)
    fast = information_gain_fast(
        model, trajs, placeholder, old_logprobs(model, trajs), token_budget=budget
    )
    assert max_diff(naive, fast) < 1e-5
    scored = [(n, t) for n, tr in enumerate(trajs) for t in tr.scored_turns()]
    assert len(scored) >= 20 and all(fast[n][t] != 0.0 for n, t in scored)
    for n, tr in enumerate(trajs):
        for t in set(range(len(tr.turns))) - set(tr.scored_turns()):
            assert fast[n][t] == 0.0


def test_fused_logprobs_and_ig_equal_separate_passes(model):
    trajs = batch_of(seed=7)
    old = old_logprobs(model, trajs)
    got_old, got_ig = logprobs_and_information_gain(model, trajs, SHORT_PH, token_budget=200)
    assert got_old.shape == old.shape and got_old.dtype == torch.float32
    assert (got_old - old).abs().max().item() < 1e-5
    assert (got_old[Batch(trajs).tensors()["attention_mask"] == 0] == 0).all()  # padding: 0
    assert (got_old[:, 0] == 0).all()
    assert max_diff(got_ig, information_gain(model, trajs, SHORT_PH)) < 1e-5


def test_fused_action_tokens_only(model):
    """Old log-probs on agent tokens only: equal to the full pass there, exactly 0 elsewhere."""
    trajs = batch_of(seed=8)
    full, ig_full = logprobs_and_information_gain(model, trajs, LONG_PH)
    part, ig_part = logprobs_and_information_gain(model, trajs, LONG_PH, action_tokens_only=True)
    agent = Batch(trajs).tensors()["action_mask"].bool()
    agent[:, 0] = False
    assert (part[~agent] == 0).all()
    assert (part[agent] - full[agent]).abs().max().item() < 1e-5
    assert (part[agent] < 0).all()
    assert max_diff(ig_part, ig_full) < 1e-5


@pytest.mark.parametrize("budget", [120, 16384], ids=["many-batches", "one-batch"])
def test_shared_prompts_give_the_same_values(model, budget):
    """With ``share_prefix`` the rollouts of one prompt run it once: log-probs at every position
    (a suffix's first token included: it reads the shared block's last entry) and IG equal the
    unshared passes and the reference."""
    trajs = grouped_batch(seed=budget)
    old = old_logprobs(model, trajs)
    naive = information_gain(model, trajs, SHORT_PH)
    got_old, got_ig = logprobs_and_information_gain(
        model, trajs, SHORT_PH, token_budget=budget, share_prefix=True
    )
    assert (got_old - old).abs().max().item() < 1e-5
    assert max_diff(got_ig, naive) < 1e-5
    part, ig_part = logprobs_and_information_gain(
        model, trajs, SHORT_PH, token_budget=budget, share_prefix=True, action_tokens_only=True
    )
    agent = Batch(trajs).tensors()["action_mask"].bool()
    agent[:, 0] = False
    assert (part[~agent] == 0).all() and (part[agent] - old[agent]).abs().max().item() < 1e-5
    assert max_diff(ig_part, naive) < 1e-5
    fast = information_gain_fast(
        model, trajs, SHORT_PH, old, token_budget=budget, share_prefix=True
    )
    assert max_diff(fast, naive) < 1e-5


def test_shared_prompts_are_run_once(model):
    """The scorer's forward calls lay each prompt's rollouts out as one row: fewer real tokens."""
    from infopo_cli.core.infogain_fast import _groups

    trajs = grouped_batch(seed=1)
    plans = [plan_segments(tr, SHORT_PH) for tr in trajs]
    lens = [len(tr.input_ids) for tr in trajs]
    plain = _groups(model, trajs, plans, lens, 16384, share_prefix=False)
    shared = _groups(model, trajs, plans, lens, 16384, share_prefix=True)
    assert all(s == 0 and len(rows) == 1 for mb in plain for s, rows in mb)
    assert sorted(r for mb in shared for _, rows in mb for r in rows) == list(range(len(trajs)))
    assert sum(s for mb in shared for s, _ in mb) > 0
    laid = sum(s + sum(lens[r] - s for r in rows) for mb in shared for s, rows in mb)
    assert laid < sum(lens)


def test_models_outside_the_packed_route_get_reference_values():
    """A model the packed pass does not cover (here: a head-scaling config field set) is scored by
    plain full passes, with the same results."""
    m = tiny_llama("sdpa")
    trajs = batch_of(seed=9, n=5)
    want_old, want_ig = logprobs_and_information_gain(m, trajs, SHORT_PH, action_tokens_only=True)
    m.config.logit_scale = 2.0  # ignored by Llama's forward, but it disables the packed route
    assert not supports_packing(m)
    got_old, got_ig = logprobs_and_information_gain(m, trajs, SHORT_PH, action_tokens_only=True)
    assert (got_old - want_old).abs().max().item() < 1e-5 and max_diff(got_ig, want_ig) < 1e-5
    fast = information_gain_fast(m, trajs, SHORT_PH, old_logprobs(m, trajs))
    assert max_diff(fast, want_ig) < 1e-5


def test_padding_and_batch_mates_do_not_change_values(model):
    """A trajectory's IG does not depend on which other rows share its forward call."""
    trajs = batch_of(seed=3)
    alone = [
        information_gain_fast(model, [tr], LONG_PH, old_logprobs(model, [tr]))[0] for tr in trajs
    ]
    together = information_gain_fast(model, trajs, LONG_PH, old_logprobs(model, trajs))
    assert max_diff(alone, together) < 1e-5


def test_factual_term_is_read_from_old_logprobs(model):
    """Shifting a_{t+1}'s old log-probs by c shifts IG_t by exactly c (the factual term is reused,
    not recomputed)."""
    trajs = batch_of(seed=5, n=4)
    old = old_logprobs(model, trajs)
    base = information_gain_fast(model, trajs, SHORT_PH, old)
    tr = trajs[0]
    t = tr.scored_turns()[0]
    s, e = tr.turns[t + 1].action
    shifted = old.clone()
    shifted[0, s:e] += 0.25
    got = information_gain_fast(model, trajs, SHORT_PH, shifted)
    assert got[0][t] == pytest.approx(base[0][t] + 0.25, abs=1e-6)
    assert got[1:] == base[1:]


def test_unscored_batches_need_no_forward_pass():
    """Single-turn trajectories and trajectories without feedback score 0 everywhere."""

    class NoForward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_llama("sdpa")
            self.config = self.inner.config

        def get_output_embeddings(self):
            return self.inner.get_output_embeddings()

        def get_decoder(self):
            raise AssertionError("no forward pass expected")

    trajs = [
        Trajectory([1, 2, 3, 4], [Turn((1, 3), (3, 4))]),
        Trajectory([1, 2, 3, 4, 5], [Turn((1, 2), None), Turn((2, 3), (3, 3)), Turn((3, 5))]),
    ]
    got = information_gain_fast(NoForward(), trajs, SHORT_PH, torch.zeros(2, 5))
    assert got == [[0.0], [0.0, 0.0, 0.0]]


def test_plan_segments_hand_computed():
    # prompt [1,2] | a0 [3,4] | glue [5] | o0 [6,7,8] | glue [9] | a1 [10,11,12] | o1 [13] | a2 [14]
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    tr = Trajectory(ids, [Turn((2, 4), (5, 8)), Turn((9, 12), (12, 13)), Turn((13, 14))])
    segs = plan_segments(tr, [50, 51])
    assert segs == [
        # placeholder fitted to 3 tokens, then the glue and a1 without its last token
        Segment(turn=0, fs=5, ids=[50, 51, 51, 9, 10, 11], first_pred=3, targets=[10, 11, 12]),
        # no glue: the last placeholder token predicts the first action token
        Segment(turn=1, fs=12, ids=[50], first_pred=0, targets=[14]),
    ]


def test_segment_mask_hand_computed():
    seg_a = Segment(turn=0, fs=2, ids=[7, 7], first_pred=0, targets=[1])
    seg_b = Segment(turn=1, fs=3, ids=[8], first_pred=0, targets=[1])
    seg_c = Segment(turn=0, fs=1, ids=[9], first_pred=0, targets=[1])
    # two trajectories of 4 tokens, a laid-out row each (nothing shared)
    lay = shared_prefix.layout([(0, [0]), (0, [1])], {0: 4, 1: 4})
    mask = segment_mask(lay, [[0], [1]], [[seg_a, seg_b], [seg_c]], float_dtype=None)
    expected = torch.tensor(
        [
            # prefix cols 0-3 | segment cols 4-6
            [
                [1, 1, 0, 0, 1, 0, 0],  # seg_a token 0: prefix [:2], itself
                [1, 1, 0, 0, 1, 1, 0],  # seg_a token 1: prefix [:2], seg_a up to itself
                [1, 1, 1, 0, 0, 0, 1],  # seg_b: prefix [:3], itself (not seg_a)
            ],
            [
                [1, 0, 0, 0, 1, 0, 0],  # seg_c: prefix [:1], itself
                [1, 0, 0, 0, 0, 0, 0],  # padding query: key 0 only (no empty row)
                [1, 0, 0, 0, 0, 0, 0],
            ],
        ],
        dtype=torch.bool,
    )
    assert mask.shape == (2, 1, 3, 7)
    assert torch.equal(mask[:, 0], expected)
    additive = segment_mask(lay, [[0], [1]], [[seg_a, seg_b], [seg_c]], torch.float32)[:, 0]
    assert torch.equal(additive == 0, expected)
    assert additive.min().item() == torch.finfo(torch.float32).min


def test_segment_mask_in_a_shared_row_sees_its_own_trajectory_only():
    # trajectories 0 (4 tokens) and 1 (5 tokens) share 2: cols [x0 x1 | r0:2 r0:3 | r1:2 r1:3 r1:4]
    lay = shared_prefix.layout([(2, [0, 1])], {0: 4, 1: 5})
    seg_0 = Segment(turn=0, fs=3, ids=[7], first_pred=0, targets=[1])
    seg_1 = Segment(turn=0, fs=4, ids=[8, 8], first_pred=0, targets=[1])
    mask = segment_mask(lay, [[0, 1]], [[seg_0], [seg_1]], float_dtype=None)[0, 0]
    expected = torch.tensor(
        [
            # shared 0-1 | traj 0: 2-3 | traj 1: 4-6 | segments 7-9
            [1, 1, 1, 0, 0, 0, 0, 1, 0, 0],  # seg_0: positions < 3 of its own row
            [1, 1, 0, 0, 1, 1, 0, 0, 1, 0],  # seg_1: positions < 4, not trajectory 0's entries
            [1, 1, 0, 0, 1, 1, 0, 0, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


def test_row_batches_respect_budget():
    assert token_batches([5, 3, 9, 4], 12, longest_first=False) == [[1, 3], [0], [2]]
    assert token_batches([30], 12, longest_first=False) == [[0]]
    # the update's order: longest first, so the widest micro-batch runs (and fails) first
    assert token_batches([5, 3, 9, 4], 12) == [
        [2],
        [0, 3],
        [1],
    ]  # a row over budget still runs, alone


def test_old_logprobs_shape_is_checked(model):
    trajs = batch_of(seed=1, n=3)
    with pytest.raises(ValueError, match="N=3"):
        information_gain_fast(model, trajs, SHORT_PH, torch.zeros(2, 200))
    with pytest.raises(ValueError, match="columns"):
        information_gain_fast(model, trajs, SHORT_PH, torch.zeros(3, 2))


def test_unsupported_models_use_the_reference():
    m = tiny_llama("sdpa")
    assert supports_packing(m)
    m.config.final_logit_softcapping = 30.0
    assert not supports_packing(m)
    m.config.final_logit_softcapping = None
    m.config._attn_implementation = "flash_attention_2"
    assert not supports_packing(m)


def test_training_mode_restored_and_no_grad(model):
    trajs = batch_of(seed=2, n=3)
    old = old_logprobs(model, trajs)
    model.train()
    try:
        got = information_gain_fast(model, trajs, SHORT_PH, old)
        assert model.training
        assert all(isinstance(v, float) for row in got for v in row)
    finally:
        model.eval()
    assert all(p.grad is None for p in model.parameters())


def test_bf16_autocast_close_to_float32(model):
    trajs = batch_of(seed=4, n=4)
    old32 = old_logprobs(model, trajs)
    ref = information_gain_fast(model, trajs, SHORT_PH, old32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t = Batch(trajs).tensors()
        with torch.no_grad():
            old16 = token_logprobs(model, t["input_ids"], t["attention_mask"]).float()
    got = information_gain_fast(model, trajs, SHORT_PH, old16, autocast=True)
    assert max_diff(got, ref) < 0.05


def test_unpacked_fallback_keeps_the_token_budget(monkeypatch):
    """Models the packed pass does not cover are scored by plain passes, each of at most
    ``token_budget`` tokens (rows x width; a row over budget alone), with the same log-probs."""
    import infopo_cli.core.infogain_fast as fast

    model = tiny_llama("eager")
    trajs = batch_of(seed=9)
    expected = old_logprobs(model, trajs)
    monkeypatch.setattr(fast, "supports_packing", lambda m: False)
    shapes = []
    hook = model.model.register_forward_hook(
        lambda m, a, kw, o: shapes.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        old, _ = logprobs_and_information_gain(model, trajs, SHORT_PH, token_budget=120)
    finally:
        hook.remove()
    assert len(shapes) > 2 and all(r * w <= 120 or r == 1 for r, w in shapes)
    assert (old - expected).abs().max().item() < 1e-5
