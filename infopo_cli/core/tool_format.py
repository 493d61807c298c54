"""How the agent's tools reach the model: as text in the system prompt, or natively.

``text``: the task lists its tools in the system prompt and the model writes calls in the task's
own plain-text protocol (what small models without a tool template need). ``native``: the tools go
to the chat template as JSON schemas (``apply_chat_template(..., tools=[...])``), which renders them
in the form the model was trained on, and the model answers with its own call blocks, here the
Qwen2.5 / Qwen3 (Hermes) form::

    <tool_call>
    {"name": "get_user_details", "arguments": {"user_id": "sara_doe_496"}}
    </tool_call>

``auto`` picks native when the template renders a ``tools`` argument *and* writes ``<tool_call>``
blocks: a template with another call syntax (Llama 3.1's bare JSON, Mistral's [TOOL_CALLS]) stays on
text, since only ``<tool_call>`` blocks are read back.
"""

from __future__ import annotations

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.tool_calls import CALL_OPEN

TOOL_FORMATS = ("auto", "text", "native")


def template_source(tokenizer) -> str:
    """The chat template's text; a tokenizer with several named templates gives them all."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        return "\n".join(str(t) for t in template.values())
    return template or ""


def renders_native_tools(tokenizer) -> bool:
    source = template_source(tokenizer)
    return "tools" in source and CALL_OPEN in source


def resolve_tool_format(choice: str, tokenizer) -> str:
    """``model.tool_format`` made concrete for this tokenizer: "text" or "native"."""
    if choice not in TOOL_FORMATS:
        raise ConfigError(
            f"model.tool_format must be one of {', '.join(TOOL_FORMATS)}, got {choice!r}"
        )
    native = renders_native_tools(tokenizer)
    if choice == "native" and not native:
        raise ConfigError(
            "model.tool_format=native needs a chat template that renders `tools` and writes "
            f"{CALL_OPEN} blocks (Qwen2.5, Qwen3); this model's does not: use model.tool_format=text"
        )
    if choice == "auto":
        return "native" if native else "text"
    return choice
