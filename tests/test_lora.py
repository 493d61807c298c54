"""LoRA runs (``model.lora.r`` > 0) of model=tiny: only the adapters train, the checkpoint is the
adapter, ``infopo eval run=`` loads base + adapter, and a LoRA run resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("peft")

ARGS = [
    "model=tiny",
    "logger=none",
    "model.lora.r=4",
    "model.lora.alpha=8",
    "trainer.prompts_per_step=2",
    "trainer.group_size=2",
    "trainer.eval_tasks=0",
    "engine.max_new_tokens=8",
    "task.max_turns=2",
    "trainer.lr=2e-2",
    "seed=5",
]
# the tiny Llama: 2 decoder layers x q/k/v/o x (A, B)
ADAPTER_TENSORS = 2 * 4 * 2


def infopo(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", *args], capture_output=True, text=True, env=env
    )
    if p.returncode != 0:
        raise AssertionError(
            f"infopo failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        )
    return p


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lora") / "run"
    infopo("train", *ARGS, "trainer.steps=2", f"hydra.run.dir={out}")
    return out


def test_checkpoint_is_the_adapter_and_only_the_adapter_trained(run):
    from infopo_cli.zoo.tiny import tiny_path

    ckpt = run / "checkpoints" / "step_0002"
    assert (ckpt / "adapter_config.json").is_file()
    assert not (ckpt / "model.safetensors").exists()
    cfg = json.loads((ckpt / "adapter_config.json").read_text())
    assert (cfg["r"], cfg["lora_alpha"]) == (4, 8)
    assert sorted(cfg["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert Path(cfg["base_model_name_or_path"]) == tiny_path()
    adapter = load_file(str(ckpt / "adapter_model.safetensors"))
    assert len(adapter) == ADAPTER_TENSORS
    # B starts at zero (the adapter starts as a no-op): every B moved
    b = [v for k, v in adapter.items() if "lora_B" in k]
    assert len(b) == ADAPTER_TENSORS // 2 and all(v.abs().max() > 0 for v in b)
    # the optimizer held the adapter matrices and nothing else
    state = torch.load(ckpt / "trainer.pt", weights_only=False)
    assert len(state["optimizer"]["state"]) == ADAPTER_TENSORS


def test_update_moves_the_adapter_and_leaves_the_base_bit_identical():
    from infopo_cli.config import LoraConfig, TrainerConfig
    from infopo_cli.core.update import PolicyTrainer
    from infopo_cli.runtime.lora import add_adapters
    from infopo_cli.runtime.models import load_model
    from infopo_cli.zoo.tiny import tiny_path

    torch.manual_seed(0)
    model = add_adapters(load_model(str(tiny_path())), LoraConfig(r=4, alpha=8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = PolicyTrainer(model, TrainerConfig(lr=1e-2))
    ids = torch.randint(3, 200, (2, 12))
    action = torch.zeros(2, 12)
    action[:, 6:] = 1.0
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    adv = torch.tensor([[1.0], [-1.0]]).expand(2, 12) * action
    trainer.update(tensors, adv, trainer.logprobs(tensors))
    after = model.state_dict()
    lora_keys = [k for k in after if "lora_" in k]
    assert len(lora_keys) == ADAPTER_TENSORS
    assert all(not torch.equal(before[k], after[k]) for k in lora_keys if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in after if "lora_" not in k)


def test_loaded_adapter_equals_its_merge(run):
    from infopo_cli.config import ModelConfig
    from infopo_cli.recipes.setup import load_policy
    from infopo_cli.runtime.lora import merged_weights
    from infopo_cli.runtime.models import load_model
    from infopo_cli.zoo.tiny import tiny_path

    ckpt = run / "checkpoints" / "step_0002"
    model, _, _, path = load_policy(ModelConfig(name="tiny", device="cpu"), str(ckpt))
    assert Path(path) == tiny_path()
    merged = load_model(str(tiny_path()))
    merged.load_state_dict(merged_weights(model))
    base = load_model(str(tiny_path()))
    ids = torch.tensor([list(range(3, 40))])
    with torch.no_grad():
        lo, lm, lb = (m.eval()(input_ids=ids).logits for m in (model, merged, base))
    assert (lo - lb).abs().max() > 1e-3  # the adapter changes the model...
    torch.testing.assert_close(lo, lm, atol=1e-5, rtol=0)  # ...exactly as its merge does


def test_eval_of_a_lora_run_loads_the_adapter(run, tmp_path):
    import shutil

    from safetensors.torch import save_file

    from infopo_cli.config import ModelConfig
    from infopo_cli.recipes.setup import load_policy

    # A copy of the run whose adapter is scaled up, so that greedy decoding of the random tiny model
    # surely changes (two small LoRA steps rarely move its argmax): then "eval loaded the adapter"
    # is visible in the conversations.
    boosted = tmp_path / "run"
    shutil.copytree(run, boosted)
    ckpt = boosted / "checkpoints" / "step_0002"
    weights = load_file(str(ckpt / "adapter_model.safetensors"))
    save_file(
        {k: v * 20 if "lora_B" in k else v for k, v in weights.items()},
        str(ckpt / "adapter_model.safetensors"),
    )
    common = [
        "model=tiny",
        "eval.num_tasks=4",
        "eval.temperature=0",  # greedy, as run_eval below decodes
        "engine.max_new_tokens=8",
        "task.max_turns=2",
    ]
    infopo("eval", *common, f"run={boosted}", f"hydra.run.dir={tmp_path / 'eval_run'}")
    infopo("eval", *common, f"hydra.run.dir={tmp_path / 'eval_base'}")

    def convs(d: str) -> list[list[str]]:
        rows = (tmp_path / d / "conversations.jsonl").read_text().splitlines()
        return [[t["action"] for t in json.loads(x)["turns"]] for x in rows]

    # The same greedy episodes played in-process by base + adapter (the PEFT model, unmerged: the
    # same computation as eval's, so equal token for token; a random model's near-tied logits make
    # a merged copy's argmax flip on rounding, which is why the merge is compared on logits above).
    from infopo_cli.core.evaluation import run_eval
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.simulators.scripted import ScriptedSimulator
    from infopo_cli.tasks.clarify import ClarifyTask

    model, tok, chat, _ = load_policy(ModelConfig(name="tiny", device="cpu"), str(ckpt))
    task = ClarifyTask(max_turns=2)
    results, _ = run_eval(
        HFEngine(model.eval(), tok, chat.stop_ids),
        chat,
        task,
        ScriptedSimulator(),
        task.instances("test")[:4],
        max_new_tokens=8,
    )
    expected = [[t["action"] for t in r["conversations"][0]["turns"]] for r in results]
    assert convs("eval_run") == expected
    assert convs("eval_run") != convs("eval_base")


def test_lora_run_resumes(run):
    p = infopo("train", *ARGS, "trainer.steps=3", f"resume={run}")
    assert "resumed from" in p.stdout
    state = torch.load(run / "checkpoints" / "step_0003" / "trainer.pt", weights_only=False)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {3.0}
    a2 = load_file(str(run / "checkpoints" / "step_0002" / "adapter_model.safetensors"))
    a3 = load_file(str(run / "checkpoints" / "step_0003" / "adapter_model.safetensors"))
    assert any(not torch.equal(a2[k], a3[k]) for k in a2)
