"""The request a model-backed simulated user gets: chat messages with the roles flipped, and a
per-query seed. Shared by ``simulator=openai`` and ``simulator=hf`` so that switching between them
changes only the model, never the prompt."""

from __future__ import annotations

import hashlib
import json

from infopo_cli.simulators.base import UserQuery

ROLE_FOR_USER_MODEL = {"agent": "user", "user": "assistant"}
# Put before a conversation the simulated user opens (tau2's customer speaks first): strict
# chat templates want a user turn right after the system prompt.
OPENING_TURN = "(The conversation starts. Write your first message.)"


def chat_messages(query: UserQuery) -> list[dict[str, str]]:
    """The request messages: the task's instructions as system prompt, then the dialogue with
    roles flipped (the agent speaks as "user", the simulated user's own past turns are
    "assistant"), so the model writes the user's next turn.

    Roles always alternate after the system prompt, starting with "user": a conversation the
    simulated user opened gets a neutral opening turn, and two turns of one side in a row are
    joined, since many chat templates reject anything else ("Conversation roles must alternate").
    """
    messages = [{"role": "system", "content": query.instructions}]
    for m in query.conversation:
        role = ROLE_FOR_USER_MODEL.get(m["role"])
        if role is None:
            raise ValueError(f"conversation role must be 'agent' or 'user', got {m['role']!r}")
        if len(messages) == 1 and role == "assistant":
            messages.append({"role": "user", "content": OPENING_TURN})
        if messages[-1]["role"] == role:
            messages[-1] = {
                "role": role,
                "content": messages[-1]["content"] + "\n\n" + m["content"],
            }
        else:
            messages.append({"role": role, "content": m["content"]})
    return messages


def query_seed(run_seed: int, messages: list[dict[str, str]], repeat: int) -> int:
    """The request's ``seed``: a function of the run's seed, the messages and how many identical
    queries came before it in the batch, so a rerun sends the same seeds (a sampled user replays)
    while the members of a group that ask the same thing still get different replies."""
    text = json.dumps([run_seed, repeat, messages], ensure_ascii=False, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") >> 1
