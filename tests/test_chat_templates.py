"""Qwen2.5 and Qwen3 chat formats: <|endoftext|> and <|im_end|> both stop a reply, <|im_end|> still
closes a scripted action, and ``model.chat_template_kwargs`` gives Qwen3's non-thinking prompt.

The templates are the published ones cut down to what a tool-free chat renders (system message,
ChatML turns, generation prompt and, for Qwen3, the empty think block of the non-thinking mode);
the tokenizer and the 1-layer models are built here, nothing is downloaded."""

from __future__ import annotations

import pytest

from infopo_cli.config import ModelConfig
from infopo_cli.core.chat import ChatFormat, family_stop_tokens
from infopo_cli.recipes.setup import load_policy

CHATML = (
    "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
)
QWEN25 = (
    "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are Qwen, created by "
    "Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    + CHATML
    + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN3 = (
    CHATML + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def _tokenizer(template: str):
    from infopo_cli.runtime.models import load_tokenizer
    from infopo_cli.zoo.tiny import tiny_path

    tok = load_tokenizer(str(tiny_path()))  # ChatML specials: <|endoftext|> <|im_start|> <|im_end|>
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    tok.chat_template = template
    return tok


def _saved_model(tmp_path, model_type: str, template: str):
    """A 1-layer random model of ``model_type`` with the fixture tokenizer, in a local folder."""
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = _tokenizer(template)
    cfg = AutoConfig.for_model(
        model_type,
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
    )
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return tmp_path, tok


@pytest.mark.parametrize("model_type,template", [("qwen2", QWEN25), ("qwen3", QWEN3)])
def test_qwen_replies_stop_at_im_end_and_endoftext(tmp_path, model_type, template):
    path, tok = _saved_model(tmp_path, model_type, template)
    _, _, chat, _ = load_policy(ModelConfig(path=str(path), device="cpu"))
    im_end, eot = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert chat.stop_ids == [im_end, eot]  # <|im_end|> first: it closes scripted actions
    assert family_stop_tokens("llama") == ()  # other families keep their stops


def test_qwen3_non_thinking_prompt_through_the_model_config(tmp_path):
    path, tok = _saved_model(tmp_path, "qwen3", QWEN3)
    mcfg = ModelConfig(
        path=str(path), device="cpu", chat_template_kwargs={"enable_thinking": False}
    )
    _, _, chat, _ = load_policy(mcfg)
    text = tok.decode(chat.prompt_ids(MSGS))
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    thinking = tok.decode(ChatFormat(tok).prompt_ids(MSGS))  # the template's default
    assert thinking.endswith("<|im_start|>assistant\n") and "<think>" not in thinking
    # the glue after feedback ends in the same non-thinking generation prompt
    _, after = chat.glue("user")
    assert tok.decode(list(after)).endswith("assistant\n<think>\n\n</think>\n\n")


def test_qwen25_prompt_gets_the_default_system_message_only_without_one():
    chat = ChatFormat(_tokenizer(QWEN25), stop_tokens=family_stop_tokens("qwen2"))
    text = chat.tok.decode(chat.prompt_ids(MSGS[1:]))
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert text.endswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")
    assert "You are Qwen" not in chat.tok.decode(chat.prompt_ids(MSGS))
