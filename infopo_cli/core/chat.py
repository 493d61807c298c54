"""Append-only chat formatting in token space.

Chat templates are not append-only (some rewrite earlier turns when a new one is added), so the
rollout never re-renders a conversation. Instead the template is rendered once with sentinel
contents, and the text *between* an assistant message and a following feedback message (and after
it, up to the next generation prompt) is cut out and tokenized as fixed glue. A turn then appends:
``action ids | glue_before(role) | feedback ids | glue_after(role)``, so the feedback span is exact.
"""

from __future__ import annotations

from functools import lru_cache

_A, _F = "\u27e6ACTION\u27e7", "\u27e6FEEDBACK\u27e7"


class ChatFormat:
    def __init__(self, tokenizer):
        self.tok = tokenizer
        eos = tokenizer.eos_token_id
        stops = {eos} if eos is not None else set()
        for t in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
            tid = tokenizer.convert_tokens_to_ids(t)
            if (
                isinstance(tid, int)
                and tid != tokenizer.unk_token_id
                and tid is not None
                and tid >= 0
            ):
                stops.add(tid)
        self.stop_ids = sorted(stops)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
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
        text = self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
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
