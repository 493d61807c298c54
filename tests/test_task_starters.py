"""Per-task starters: each task's imperfect demonstrator, its protocol check (``Task.parses``), a
reduced starter build per task family whose own actions parse, the per-task RL settings, and the
warning a policy that cannot play a task gets."""

from __future__ import annotations

import json
import random

import pytest
import torch

from infopo_cli.core.evaluation import cannot_play, protocol_shares, truncation_line
from infopo_cli.simulators.scripted import ScriptedSimulator


def compose(config_name: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def compose_train(overrides: list[str]):
    return compose("train", overrides)


def compose_eval(overrides: list[str]):
    return compose("eval", overrides)


def task_cfg(overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose_train(overrides).task, resolve=True)


def make(overrides: list[str]):
    from hydra.utils import instantiate

    return instantiate(task_cfg(overrides), _convert_="all")


FAMILIES = {
    "sokoban": ["task=sokoban"],
    "shop": ["task=shop"],
    "coding": ["task=coding"],
    "usergym": ["task=usergym", "task.gym=function"],
    "tau2": ["task=tau2", "task.domain=airline"],
}


def play(task, instance, policy) -> tuple[bool, list[str]]:
    """One episode of a text policy against the scripted user: (success, the agent's messages)."""
    env, sim, said = task.make_env(instance), ScriptedSimulator(), []
    for _ in range(task.max_turns or 400):  # tau2 as upstream: no turn cap, a message cap
        said.append(policy(env))
        res = env.step(said[-1])
        while res.query is not None:
            res = env.user_replied(sim.reply_batch([res.query])[0])
        if res.done:
            break
    return env.success(), said


@pytest.mark.parametrize("family", list(FAMILIES))
def test_demonstrator_speaks_the_protocol_and_is_imperfect(family):
    task = make(FAMILIES[family])
    rng = random.Random(0)
    instances = task.sample(task.train_split, 30, rng)
    demo = [play(task, i, lambda env: task.demo_action(env, rng)) for i in instances]
    oracle = [play(task, i, task.oracle_action)[0] for i in instances]
    assert all(task.parses(m) for _, said in demo for m in said)
    wins = sum(ok for ok, _ in demo)
    # it can win (the protocol and the shape of a winning episode are in the data) ...
    assert wins > 0
    # ... and it is not the oracle: it slips (function's demonstrator probes at random first)
    said_oracle = [play(task, i, task.oracle_action)[1] for i in instances]
    assert wins < sum(oracle) or [s for _, s in demo] != said_oracle


def test_sokoban_demonstrator_without_slips_is_the_oracle():
    task = make(FAMILIES["sokoban"])
    inst = task.sample("train", 1, random.Random(3))[0]
    env_a, env_b = task.make_env(inst), task.make_env(inst)
    rng = random.Random(0)
    while not env_b.finished:
        a, b = task.demo_action(env_a, rng, slip=0.0), task.oracle_action(env_b)
        assert a == b
        env_a.step(a), env_b.step(b)
    assert env_a.success()


def test_shop_demonstrator_slip_buys_with_one_wrong_option():
    task = make(FAMILIES["shop"])
    inst = task.sample("train", 1, random.Random(5))[0]
    env = task.make_env(inst)
    while not task.oracle_action(env).startswith("buy["):
        env.step(task.oracle_action(env))
    slipped = task.demo_action(env, random.Random(0), slip=1.0)
    right = task.oracle_action(env)
    assert slipped.startswith(f"buy[{env.opened.id}, ")

    def opts(s: str) -> dict:
        return dict(p.split("=") for p in s[s.index(",") + 1 : -1].replace(" ", "").split(","))

    diff = {k for k, v in opts(right).items() if opts(slipped)[k] != v}
    assert len(diff) <= 1  # one option redrawn (it may draw the right value again)


@pytest.mark.parametrize(
    "family,good,bad",
    [
        ("sokoban", ["MOVE: up left", "moves: d d r"], ["go up", "MOVE: jump"]),
        ("shop", ["search[red shirt]", "buy[P00001, color=red]"], ["I'd like a shirt", "look[x]"]),
        (
            "coding",
            ["What about rounding?", "FINAL ANSWER:\n```python\ndef f(): pass\n```"],
            ["ok"],
        ),
        (
            "tau2",
            ['TOOL: get_user_details {"user_id": "a"}', "Hello, how can I help?"],
            ["TOOL: x {bad"],
        ),
    ],
)
def test_parses_reads_each_tasks_protocol(family, good, bad):
    task = make(FAMILIES[family])
    assert all(task.parses(m) for m in good)
    assert not any(task.parses(m) for m in bad)


def test_clarify_parses_questions_and_answers():
    task = make([])
    assert task.parses("What time would you like?")
    assert task.parses("ANSWER: time = 7pm")
    assert not task.parses("time 7pm")


def test_protocol_shares_and_the_warning_lines():
    def conv(parsed: list[bool], truncated=False, failed=False):
        turns = [{"action": "x", "parsed": p} for p in parsed]
        return {"turns": turns, "truncated": truncated, "failed": failed}

    results = [
        {"conversations": [conv([False, False, True]), conv([False], truncated=True)]},
        {"conversations": [conv([True, True], failed=True)]},  # failed: left out
    ]
    shares = protocol_shares(results)
    assert shares == {"unparsed": 3 / 4, "truncated": 1 / 2}
    agg = {"n_trials": 2, "success": 0.0, **shares}
    line = cannot_play(agg, "sokoban")
    assert line.startswith("warning: success 0 and 75% of the policy's messages")
    assert "task=sokoban" in line
    assert cannot_play({**agg, "success": 0.05}, "sokoban") is None
    assert cannot_play({**agg, "unparsed": 0.4}, "sokoban") is None
    mismatch = cannot_play({**agg, "success": 0.3}, "coding", built_for="clarify")
    assert mismatch.startswith("warning: the policy is the clarify starter")
    assert cannot_play(agg, "sokoban", built_for="sokoban").startswith("warning: success 0")
    assert "50% of episodes were cut at model.max_len=2048" in truncation_line(agg, 2048)
    assert truncation_line({**agg, "truncated": 0.0}, 2048) is None


@pytest.mark.parametrize(
    "overrides,max_len,new_tokens",
    [
        ([], 1024, 24),  # clarify: the starter's own settings
        (["task=sokoban"], 2048, 16),
        (["task=coding"], 2048, 256),
        (["task=usergym", "task.gym=turtle"], 3072, 48),
        (["task=tau2"], 4096, 64),
        (["task=sokoban", "model=tiny"], 1024, 48),  # other models keep their own settings
    ],
)
def test_task_tuning_follows_model_and_task(overrides, max_len, new_tokens):
    cfg = compose_train(overrides)
    assert (cfg.model.max_len, cfg.engine.max_new_tokens) == (max_len, new_tokens)
    assert compose_eval(overrides).model.max_len == max_len  # eval plays with the same context
    if overrides[:1] == ["task=sokoban"] and len(overrides) == 1:
        assert compose_train([*overrides, "model.max_len=512"]).model.max_len == 512


REDUCED = dict(hidden=64, layers=1, heads=4, vocab=700, dialogues=60, batch=8, lr=3e-3)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_reduced_starter_build_is_cached_under_its_task(family, tmp_path, monkeypatch):
    """A starter built for each family (a few steps) is cached under its task, says which task it
    is for, and its tokenizer was trained on the task's own text."""
    from infopo_cli.runtime.models import load_tokenizer
    from infopo_cli.zoo.task_starter import starter_task, task_starter_path

    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path))
    cfg = task_cfg(FAMILIES[family])
    small = {**REDUCED, "dialogues": 8, "steps": 2, "batch": 2}
    path = task_starter_path(cfg, seed=0, **small)
    assert path.name.startswith(f"starter-{family}-")
    assert task_starter_path(cfg, seed=0, **small) == path  # cached
    assert starter_task(path) == family
    build = json.loads((path / "infopo_build.json").read_text())
    assert build["task"]["name"] == family and "split" not in build["task"]
    # an evaluation-only key does not change the starter; a key that shapes the dialogues does
    assert task_starter_path({**cfg, "split": "train"}, seed=0, **small) == path
    tok = load_tokenizer(str(path))
    task = make(FAMILIES[family])
    opening = task.sample(task.train_split, 1, random.Random(0))[0].messages[-1]["content"]
    bytes_per_token = len(opening.encode()) / len(tok.encode(opening))
    assert bytes_per_token > 1.8  # learned merges of the task's text, not single bytes


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sokoban", "shop"])
def test_reduced_starter_speaks_its_task(family, tmp_path, monkeypatch):
    """After a minute of SFT, the starter's own greedy first messages are in the protocol."""
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.core.rollout import rollout
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.runtime.models import load_model, load_tokenizer
    from infopo_cli.zoo.task_starter import task_starter_path

    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path))
    path = task_starter_path(task_cfg(FAMILIES[family]), seed=0, steps=80, **REDUCED)
    tok, model = load_tokenizer(str(path)), load_model(str(path))
    task = make(FAMILIES[family])
    task.max_turns = 1
    chat = ChatFormat(tok)
    torch.manual_seed(0)
    batch = rollout(
        HFEngine(model, tok, chat.stop_ids),
        chat,
        task,
        ScriptedSimulator(),
        task.sample(task.train_split, 12, random.Random(1)),
        group_size=1,
        max_new_tokens=48,
        temperature=0.0,
        max_len=2048,
    )
    said = [t.info["turns"][0]["action"] for t in batch.trajectories]
    assert sum(task.parses(m) for m in said) >= 9, said


def test_clarify_starter_keeps_its_cache_key():
    """model=starter on clarify is the clarify starter (its own build), not the generic recipe."""
    from infopo_cli.zoo.task_starter import is_clarify

    assert is_clarify(task_cfg([])) and is_clarify(None)
    assert not is_clarify(task_cfg(["task=sokoban"]))


def test_infopo_sft_builds_the_starter_infopo_train_uses(tmp_path, monkeypatch, capsys):
    """`infopo sft task=tau2 model=starter` builds exactly the starter that `infopo train
    task=tau2` resolves (same cache key, task tuning included), and nothing else."""
    from infopo_cli.recipes.sft import sft_main
    from infopo_cli.zoo import task_starter
    from infopo_cli.zoo.registry import resolve_path

    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path))
    small = {**REDUCED, "dialogues": 6, "steps": 2, "batch": 2}
    monkeypatch.setattr(task_starter, "BUILD", {**task_starter.BUILD, **small})
    out = sft_main(compose("sft", ["task=tau2", "model=starter"]), tmp_path / "run")
    assert "train it with: infopo train task=tau2" in capsys.readouterr().out
    trained_from = resolve_path("starter", None, task_cfg(["task=tau2"]))
    assert out["model_path"] == trained_from
    assert [p.name.split("-")[1] for p in tmp_path.glob("starter-*")] == ["tau2"]
    assert not (tmp_path / "run").exists()  # no run folder: nothing was fine-tuned
