"""Full fine-tuning needs float32 master weights: bf16 parameters are refused for it, and float32
weights under bf16 autocast move at lr 1e-5 where bf16 weights do not."""

from __future__ import annotations

import copy

import pytest
import torch
from hydra import compose, initialize_config_dir

from infopo_cli.config import CONF_DIR, TrainerConfig, validate
from infopo_cli.core.update import PolicyTrainer
from infopo_cli.errors import ConfigError


def _cfg(config: str, *overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config, overrides=list(overrides))


@pytest.mark.parametrize("config", ["train", "sft"])
def test_bf16_full_fine_tuning_is_refused_in_one_line(config):
    with pytest.raises(ConfigError) as e:
        validate(_cfg(config, "model=qwen2.5-0.5b", "model.dtype=bfloat16"))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("model.dtype=bfloat16 with full fine-tuning (model.lora.r=0)")
    assert "accepted: model.dtype=float32" in msg and "model.lora.r>0" in msg


def test_the_qwen_presets_lora_and_evaluation_are_accepted():
    for preset in ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "qwen3-4b"):
        assert validate(_cfg("train", f"model={preset}"))["model"].dtype == "float32"
    validate(_cfg("train", "model=qwen2.5-7b", "model.dtype=bfloat16", "model.lora.r=16"))
    validate(_cfg("eval", "model=qwen2.5-7b", "model.dtype=bfloat16"))  # no training


def _changed_after_one_step(model, autocast: str) -> dict[str, float]:
    """Fraction of each parameter's elements that one update at lr 1e-5 changed."""
    torch.manual_seed(0)
    trainer = PolicyTrainer(model, TrainerConfig(lr=1e-5, autocast=autocast))
    ids = torch.randint(1, 64, (4, 16))
    action = torch.zeros(4, 16)
    action[:, 8:] = 1.0
    tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "action_mask": action}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])[:, None] * action
    trainer.update(tensors, adv, trainer.logprobs(tensors))
    return {n: (p.detach() != before[n]).float().mean().item() for n, p in model.named_parameters()}


def test_fp32_master_weights_learn_where_bf16_weights_do_not(tiny_lm):
    """One AdamW step moves every element by ~lr: exactly representable in float32, but below half
    a bf16 ulp for a norm weight of 1.0 (ulp 2^-7), which then stays 1.0."""
    master = _changed_after_one_step(copy.deepcopy(tiny_lm).train(), autocast="bf16")
    assert min(master.values()) > 0.99  # every tensor, norms included, moved
    pure = _changed_after_one_step(copy.deepcopy(tiny_lm).to(torch.bfloat16).train(), "none")
    norms = [v for n, v in pure.items() if "norm" in n]
    assert norms and max(norms) == 0.0
