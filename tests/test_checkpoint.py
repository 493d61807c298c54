"""A checkpoint written on a GPU resumes on another device: its tensors are mapped on load, the
optimizer continues from them, and the CUDA generator is saved and restored where CUDA exists.

No GPU here: a GPU-written file is made by tagging every storage ``cuda:0`` while saving, exactly
the location ``torch.save`` records for CUDA tensors; loading it without ``map_location`` on this
machine fails the way a CPU resume of a GPU checkpoint would."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.serialization as ser

from infopo_cli.config import TrainerConfig
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.runtime import checkpoint


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 64, (3, 12), generator=g)
    action = torch.zeros(3, 12)
    action[:, 6:] = 1.0
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    return tensors, torch.tensor([1.0, -1.0, 0.5])[:, None] * action


def _step(trainer, step):
    tensors, adv = _batch()
    trainer.update(tensors, adv, trainer.logprobs(tensors), step=step)


def test_a_checkpoint_written_on_cuda_resumes_on_cpu(tiny_lm, tmp_path, monkeypatch):
    cfg = TrainerConfig(lr=1e-3)
    model = copy.deepcopy(tiny_lm).train()
    trainer = PolicyTrainer(model, cfg)
    _step(trainer, 1)
    saved_weights = copy.deepcopy(model)
    stub_tok = SimpleNamespace(save_pretrained=lambda path: None)
    with monkeypatch.context() as m:  # every storage recorded as living on cuda:0
        m.setattr(ser, "location_tag", lambda storage: "cuda:0")
        path = checkpoint.save_checkpoint(tmp_path, 1, model, stub_tok, trainer.state_dict(), {})
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path / "trainer.pt", weights_only=False)  # the failure map_location avoids
    meta, state = checkpoint.load_checkpoint(path)
    assert meta["step"] == 1
    moments = [v for s in state["optimizer"]["state"].values() for v in s.values()]
    assert moments and all(t.device.type == "cpu" for t in moments if torch.is_tensor(t))
    resumed = PolicyTrainer(saved_weights, cfg)
    resumed.load_state_dict(state)
    _step(trainer, 2)  # uninterrupted
    _step(resumed, 2)
    for (n, a), b in zip(model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), n


def test_the_cuda_generator_is_saved_and_restored(monkeypatch):
    cuda_state = torch.arange(16, dtype=torch.uint8)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda: cuda_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s: restored.append(s))
    state = checkpoint.rng_state()
    assert torch.equal(state["cuda"], cuda_state)
    checkpoint.set_rng_state(state)
    assert len(restored) == 1 and torch.equal(restored[0], cuda_state)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # resumed on a CPU: skipped
    checkpoint.set_rng_state(state)
    assert len(restored) == 1
    assert "cuda" not in checkpoint.rng_state()
