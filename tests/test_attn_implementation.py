"""``model.attn_implementation``: passed to ``from_pretrained``; a wrong value is one line."""

from __future__ import annotations

import pytest

from infopo_cli import cli
from infopo_cli.config import ModelConfig
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import load_policy


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_the_loaded_model_uses_the_requested_attention(impl):
    model, *_ = load_policy(ModelConfig(name="tiny", device="cpu", attn_implementation=impl))
    assert model.config._attn_implementation == impl


def test_null_leaves_the_choice_to_transformers():
    model, *_ = load_policy(ModelConfig(name="tiny", device="cpu"))
    assert model.config._attn_implementation in ("sdpa", "eager")  # the Llama default: sdpa


def test_an_unknown_kernel_is_one_line(capsys):
    with pytest.raises(ConfigError, match=r"accepted: null, eager, sdpa, flash_attention_2$"):
        ModelConfig(attn_implementation="fast")
    with pytest.raises(SystemExit) as e:
        cli.precheck("train", ["model=tiny", "model.attn_implementation=fast"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "error: model.attn_implementation='fast' is not valid; accepted: null, eager, sdpa, "
        "flash_attention_2\n"
    )


def test_flash_attention_without_its_package_is_one_line():
    try:
        import flash_attn  # noqa: F401

        pytest.skip("flash-attn is installed here")
    except ImportError:
        pass
    cfg = ModelConfig(name="tiny", device="cpu", attn_implementation="flash_attention_2")
    with pytest.raises(
        ConfigError, match=r"^model.attn_implementation=flash_attention_2 cannot be used here: "
    ):
        load_policy(cfg)
