"""Append-only chat formatting in token space.

Chat templates are not append-only (some rewrite earlier turns when a new one is added), so the
rollout never re-renders a conversation. Instead the template is rendered once with sentinel
contents, and the text *between* an assistant message and a following feedback message (and after
it, up to the next generation prompt) is cut out and tokenized as fixed glue. A turn then appends:
``action ids | glue_before(role) | feedback ids | glue_after(role)``, so the feedback span is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from infopo_cli.core.tool_format import resolve_tool_format

_A, _F = "\u27e6ACTION\u27e7", "\u27e6FEEDBACK\u27e7"

# Tokens that also end a reply, per model family (``config.model_type``): Qwen2.5 and Qwen3 may end
# with <|endoftext|> instead of <|im_end|>, and would otherwise run on to max_new_tokens.
FAMILY_STOP_TOKENS = {"qwen2": ("<|endoftext|>",), "qwen3": ("<|endoftext|>",)}


def family_stop_tokens(model_type: str | None) -> tuple[str, ...]:
    return FAMILY_STOP_TOKENS.get(model_type or "", ())


def _token_id(tokenizer, token: str) -> int | None:
    """The id of ``token`` when the vocabulary has it (``convert_tokens_to_ids`` would give the
    unknown token's id for a missing one, and some tokenizers name a real token as unknown)."""
    return tokenizer.get_vocab().get(token)


class ChatFormat:
    """``stop_tokens``: extra tokens that end a reply (``family_stop_tokens``); they come after the
    end-of-message tokens in ``stop_ids``, whose first id closes a scripted action.
    ``template_kwargs``: extra arguments of every ``apply_chat_template`` call (Qwen3:
    ``{"enable_thinking": False}`` renders the non-thinking prompt).
    ``tool_format``: auto | text | native (tool_format.py); ``self.tool_format`` is the resolved
    "text" or "native", which decides how ``opening_ids`` presents a task's tools."""

    def __init__(
        self, tokenizer, stop_tokens: Sequence[str] = (), template_kwargs=None, tool_format="auto"
    ):
        self.tok = tokenizer
        self.template_kwargs = dict(template_kwargs or {})
        self.tool_format = resolve_tool_format(tool_format, tokenizer)
        eos = tokenizer.eos_token_id
        stops = {eos} if eos is not None else set()
        for t in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
            tid = _token_id(tokenizer, t)
            if tid is not None:
                stops.add(tid)
        self.stop_ids = sorted(stops)
        for t in stop_tokens:
            tid = _token_id(tokenizer, t)
            if tid is not None and tid not in self.stop_ids:
                self.stop_ids.append(tid)

    def opening_ids(self, instance) -> list[int]:
        """The prompt of a task instance (``tasks.base.TaskInstance``). Natively, when the
        instance declares tools: its tool-free opening with the tools as JSON schemas for the
        template to render; otherwise its text opening, which lists the tools itself."""
        if self.tool_format == "native" and instance.tools and instance.native_messages:
            return self.prompt_ids(instance.native_messages, tools=instance.tools)
        return self.prompt_ids(instance.messages)

    def prompt_ids(
        self, messages: list[dict[str, str]], tools: list[dict] | None = None
    ) -> list[int]:
        # ``tools`` only when given: a template may test ``tools is defined`` and render an empty
        # tools block for an empty list.
        extra = {"tools": tools} if tools else {}
        ids = self.tok.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, **extra, **self.template_kwargs
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    @lru_cache(maxsize=8)  # noqa: B019  (one ChatFormat per run)
    def glue(self, role: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Token ids that go (after an assistant message, before the feedback text) and (after the
        feedback text, through the next assistant generation prompt)."""
        msgs = [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U"},
            {"role": "assistant", "content": _A},
            {"role": role, "content": _F},
        ]
        text = self.tok.apply_chat_template(
            msgs, add_generation_prompt=True, tokenize=False, **self.template_kwargs
        )
        a_end = text.index(_A) + len(_A)
        f_start = text.index(_F)
        before, after = text[a_end:f_start], text[f_start + len(_F) :]
        return tuple(self.encode(before)), tuple(self.encode(after))

    def turn_glue(self, action_ids: list[int], role: str) -> tuple[list[int], list[int]]:
        """Glue for one turn; drops the template's end-of-message token when the action already
        ended with it (the model generated it)."""
        before, after = (list(x) for x in self.glue(role))
        if (
            action_ids
            and before
            and action_ids[-1] in self.stop_ids
            and before[0] == action_ids[-1]
        ):
            before = before[1:]
        return before, after
