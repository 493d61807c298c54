"""The hf engine's own sampling loop: a turn that extends the previous one reuses its key/value cache
and samples exactly what a from-scratch forward would; a weight change drops every cache."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from infopo_cli.engines.hf import HFEngine, _top_p

STOP = 5
TOK = SimpleNamespace(pad_token_id=0)


def _prompts(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randrange(6, 64) for _ in range(rng.randint(3, 12))] for _ in range(n)]


def _next_turn(rng: random.Random, prompts, gens) -> list[list[int]]:
    """Each conversation continued: its prompt, its action, then 1-7 feedback tokens."""
    return [
        p + g.token_ids + [rng.randrange(6, 64) for _ in range(rng.randint(1, 7))]
        for p, g in zip(prompts, gens)
    ]


def _same(a, b, tol=1e-5):
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.finished for g in a] == [g.finished for g in b]
    for x, y in zip(a, b):
        assert max((abs(u - v) for u, v in zip(x.logprobs, y.logprobs)), default=0.0) < tol


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_continued_turn_reuses_its_cache_and_samples_what_a_full_forward_does(
    tiny_lm, temperature
):
    rng = random.Random(0)
    cached = HFEngine(tiny_lm, TOK, [STOP], batch_size=3)  # chunks of 3: caches cross chunks
    plain = HFEngine(tiny_lm, TOK, [STOP], batch_size=3, prefix_cache=False)
    kw = dict(max_new_tokens=6, temperature=temperature)
    first = _prompts(rng, 7)
    torch.manual_seed(1)
    gens = cached.generate(first, **kw)
    torch.manual_seed(1)
    _same(gens, plain.generate(first, **kw))
    assert cached.stats["reused_tokens"] == 0

    # two turns on: five conversations continue (shuffled), two new ones start beside them
    for turn in range(2):
        nxt = _next_turn(rng, first, gens)[:5] + _prompts(rng, 2)
        order = list(range(len(nxt)))
        rng.shuffle(order)
        nxt = [nxt[i] for i in order]
        before = cached.stats["reused_tokens"]
        torch.manual_seed(2 + turn)
        gens = cached.generate(nxt, **kw)
        torch.manual_seed(2 + turn)
        _same(gens, plain.generate(nxt, **kw))
        reused = cached.stats["reused_tokens"] - before
        # every continued row reuses at least its previous prompt, and never its new tokens
        assert sum(len(first[order[i]]) for i in range(7) if order[i] < 5) <= reused
        assert reused < sum(len(p) for p in nxt) - 2 * 3
        first = nxt
    assert plain.stats["reused_tokens"] == 0


def test_a_weight_change_drops_the_caches(tiny_lm):
    import copy

    model = copy.deepcopy(tiny_lm)
    rng = random.Random(3)
    engine = HFEngine(model, TOK, [STOP])
    first = _prompts(rng, 4)
    gens = engine.generate(first, max_new_tokens=5, temperature=0.0)
    with torch.no_grad():  # an optimizer step: in-place, as every torch optimizer updates
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(4)) * 0.05)
    nxt = _next_turn(rng, first, gens)
    after = engine.generate(nxt, max_new_tokens=5, temperature=0.0)
    assert engine.stats["reused_tokens"] == 0
    _same(
        after,
        HFEngine(model, TOK, [STOP], prefix_cache=False).generate(
            nxt, max_new_tokens=5, temperature=0.0
        ),
    )


def test_generation_stops_at_the_stop_token_and_reports_unfinished_rows(tiny_lm):
    engine = HFEngine(tiny_lm, TOK, list(range(6, 64)))  # nearly every token stops
    out = engine.generate([[7, 8, 9]], max_new_tokens=4, temperature=0.0)[0]
    assert out.finished == (out.token_ids[-1] >= 6)
    assert len(out.token_ids) == len(out.logprobs) <= 4
    never = HFEngine(tiny_lm, TOK, [63_999])  # a stop id no model emits
    out = never.generate([[7, 8, 9], [10]], max_new_tokens=4, temperature=1.0)
    assert all(len(g.token_ids) == 4 and not g.finished for g in out)
    assert all(lp <= 0.0 for g in out for lp in g.logprobs)


def test_top_p_keeps_the_smallest_top_set_reaching_the_mass():
    probs = torch.tensor([[0.3, 0.5, 0.05, 0.15]])
    assert torch.equal(_top_p(probs, 0.7), torch.tensor([[0.3, 0.5, 0.0, 0.0]]))
    assert torch.equal(_top_p(probs, 0.5), torch.tensor([[0.0, 0.5, 0.0, 0.0]]))
    assert torch.equal(_top_p(probs, 0.81), torch.tensor([[0.3, 0.5, 0.0, 0.15]]))
    # at least one token
    assert torch.equal(_top_p(probs, 0.1), torch.tensor([[0.0, 0.5, 0.0, 0.0]]))


def test_a_prefill_computes_logits_for_one_position_per_row(tiny_lm):
    """The output head sees one hidden state per row in the prefill and in every decode step."""
    seen = []
    hook = tiny_lm.lm_head.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape)))
    try:
        engine = HFEngine(tiny_lm, TOK, [STOP])
        engine.generate(_prompts(random.Random(0), 5), max_new_tokens=3, temperature=0.0)
    finally:
        hook.remove()
    assert seen[0] == (5, 1, 64)  # the prefill of 5 rows of up to 12 tokens
    assert all(s[1] == 1 for s in seen)


def test_the_store_is_empty_after_release_memory(tiny_lm):
    engine = HFEngine(tiny_lm, TOK, [STOP])
    prompts = _prompts(random.Random(1), 4)
    gens = engine.generate(prompts, max_new_tokens=3, temperature=0.0)
    assert len(engine._store) == 4
    engine.release_memory()
    assert engine._store == {}
    # the next turn runs from scratch and samples what a fresh engine does
    nxt = _next_turn(random.Random(2), prompts, gens)
    before = engine.stats["reused_tokens"]
    again = engine.generate(nxt, max_new_tokens=3, temperature=0.0)
    assert engine.stats["reused_tokens"] == before
    _same(again, HFEngine(tiny_lm, TOK, [STOP]).generate(nxt, max_new_tokens=3, temperature=0.0))


def test_a_group_sharing_its_prompt_prefills_it_once_and_samples_as_without_sharing(tiny_lm):
    """G samples of one task share their prompt: the prefill runs each distinct prompt once (the
    head sees 3 rows, not 8), and every row samples what it samples when each row prefills its own;
    the next turn of every row still reuses its own cache."""
    rng = random.Random(5)
    tasks = _prompts(rng, 3)
    prompts = [tasks[i] for i in (0, 1, 0, 2, 1, 0, 2, 2)]  # groups interleaved, as chunks can be
    kw = dict(max_new_tokens=6, temperature=1.0)
    seen = []
    hook = tiny_lm.lm_head.register_forward_hook(lambda m, a, o: seen.append(o.shape[0]))
    try:
        shared = HFEngine(tiny_lm, TOK, [STOP])
        torch.manual_seed(7)
        gens = shared.generate(prompts, **kw)
    finally:
        hook.remove()
    assert seen[0] == 3 and set(seen[1:]) <= {8}
    assert shared.stats["shared_tokens"] == sum(len(p) for p in prompts) - sum(map(len, tasks))
    own = HFEngine(tiny_lm, TOK, [STOP], share_prompts=False)
    torch.manual_seed(7)
    _same(gens, own.generate(prompts, **kw))
    assert own.stats["shared_tokens"] == 0
    assert len({tuple(g.token_ids) for g in gens}) > 3  # rows of one prompt sampled apart

    nxt = _next_turn(rng, prompts, gens)
    torch.manual_seed(8)
    again = shared.generate(nxt, **kw)
    torch.manual_seed(8)
    _same(again, HFEngine(tiny_lm, TOK, [STOP], prefix_cache=False).generate(nxt, **kw))
    assert shared.stats["reused_tokens"] >= sum(len(p) for p in prompts)
