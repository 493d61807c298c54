"""`infopo sft`: agent-token loss, learning on a fixed set, resume, and a reduced starter build."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from infopo_cli.core.logprobs import token_logprobs
from infopo_cli.core.sft import chats_to_trajectories, sft_loss, sft_step
from infopo_cli.core.trajectory import Batch, Trajectory, Turn
from tests.test_train_e2e import infopo


def test_loss_covers_agent_tokens_only(tiny_lm):
    tr = Trajectory(
        input_ids=[5, 6, 7, 8, 9, 10, 11, 12, 13, 14], turns=[Turn((3, 5), (6, 8)), Turn((9, 10))]
    )
    t = Batch([tr]).tensors()
    loss = sft_loss(tiny_lm, t, num_tokens=3.0)
    lp = token_logprobs(tiny_lm, t["input_ids"], t["attention_mask"])[0]
    assert loss.item() == pytest.approx(-(lp[3] + lp[4] + lp[9]).item() / 3, abs=1e-6)
    mask = t["action_mask"][0]
    assert mask.tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 1]
    # the loss is exactly the NLL of the three agent tokens: prompt, feedback and glue are context only


def test_loss_falls_on_a_small_fixed_set(tiny_lm):
    import copy

    model = copy.deepcopy(tiny_lm).train()
    rng = random.Random(0)
    trajs = []
    for i in range(6):
        ids = [rng.randrange(1, 64) for _ in range(4)]
        ids += [10 + i, 20 + i, 30 + i]
        trajs.append(Trajectory(input_ids=ids, turns=[Turn((4, 7))], group=str(i)))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = sft_step(model, opt, trajs, 0, 4096, 1.0)
    for _ in range(30):
        last = sft_step(model, opt, trajs, 0, 4096, 1.0)
    assert last < 0.5 * first


def test_chats_jsonl_to_trajectories(tmp_path):
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.runtime.models import load_tokenizer
    from infopo_cli.zoo.tiny import tiny_path

    chat = ChatFormat(load_tokenizer(str(tiny_path())))
    rows = [
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "What time?"},
                {"role": "user", "content": "7pm"},
                {"role": "assistant", "content": "ANSWER: time=7pm"},
            ]
        },
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tr,) = chats_to_trajectories(path, chat, 1024)
    assert [chat.decode(tr.input_ids[a:b]) for a, b in (t.action for t in tr.turns)] == [
        "What time?",
        "ANSWER: time=7pm",
    ]
    fs, fe = tr.turns[0].feedback
    assert chat.decode(tr.input_ids[fs:fe]) == "7pm"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n{not json\n")
    from infopo_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="bad.jsonl:2"):
        chats_to_trajectories(bad, chat, 1024)


def test_sft_cli_resume_continues_the_run(tmp_path):
    import shutil

    args = [
        "sft",
        "model=tiny",
        "trainer.steps=4",
        "trainer.save_every=2",
        "sft.num_dialogues=40",
        "sft.batch_size=4",
        "seed=3",
    ]
    infopo(*args, f"hydra.run.dir={tmp_path / 'full'}")
    infopo(*args, f"hydra.run.dir={tmp_path / 'cut'}")
    shutil.rmtree(
        tmp_path / "cut" / "checkpoints" / "step_0004"
    )  # as if killed after step 2's save
    out = infopo(*args, f"resume={tmp_path / 'cut'}", f"hydra.run.dir={tmp_path / 'log'}")
    assert "resumed from" in out.stdout
    a = load_file(str(tmp_path / "full" / "checkpoints" / "step_0004" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "checkpoints" / "step_0004" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [
        json.loads(x)["sft/loss"]
        for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(losses) == 4


def test_reduced_starter_builds_and_speaks(tmp_path, monkeypatch):
    from infopo_cli.runtime.models import load_model, load_tokenizer
    from infopo_cli.zoo import starter

    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path))
    reduced = dict(
        hidden=64, layers=1, dialogues=300, copy_steps=10, steps=60, batch=16, vocab=1024
    )
    path = starter.starter_path(seed=1, **reduced)
    assert path.parent == tmp_path and (path / "model.safetensors").exists()
    assert starter.starter_path(seed=1, **reduced) == path  # cached: built once
    model, tok = load_model(str(path)), load_tokenizer(str(path))
    assert sum(p.numel() for p in model.parameters()) < 200_000
    # an answer's "<slot> =" is one token, so that position is the query for the slot's value
    assert [tok.decode([i]) for i in tok.encode("ANSWER: time = 7pm")][2] == " time ="
    # warm-started: held-out demonstrations are far more likely than under the same random init
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.core.sft import demo_trajectories
    from infopo_cli.simulators.scripted import ScriptedSimulator
    from infopo_cli.tasks.clarify import ClarifyTask
    from infopo_cli.zoo.blocks import small_llama

    demos = demo_trajectories(
        ClarifyTask(seed=1), ScriptedSimulator(), ChatFormat(tok), 16, 99, 1024
    )
    t = Batch(demos).tensors(tok.pad_token_id)
    n = float(t["action_mask"][:, 1:].sum())
    init = small_llama(len(tok), hidden=64, layers=1, heads=4, seed=1)
    with torch.no_grad():
        trained_nll, init_nll = sft_loss(model, t, n).item(), sft_loss(init, t, n).item()
    assert trained_nll < 0.8 * init_nll
