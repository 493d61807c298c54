"""Supervised warm start: cross-entropy on agent tokens only (the library; ``infopo sft`` and the
starter build both use it).

Dialogues become the same token-space trajectories as RL rollouts (prompt, then per turn action |
glue | feedback | glue), so a warm-started policy sees exactly the format it will be trained on.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from infopo_cli.core import shared_prefix
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.logprobs import forward_logprobs
from infopo_cli.core.losses import masked_mean
from infopo_cli.core.packing import takes_block_mask
from infopo_cli.core.rollout import rollout
from infopo_cli.core.trajectory import Batch, Trajectory, Turn, token_batches
from infopo_cli.errors import ConfigError


def chats_to_trajectories(path: Path, chat: ChatFormat, max_len: int) -> list[Trajectory]:
    """A JSONL of ``{"messages": [...]}`` chats as trajectories (see ``records_to_trajectories``);
    malformed rows are reported by line."""
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append((n, json.loads(line)))
            except json.JSONDecodeError:
                records.append((n, None))  # reported with its line below
    return records_to_trajectories(records, chat, max_len, lambda n: f"{path}:{n}", str(path))


def records_to_trajectories(
    records: Iterable[tuple[int, Any]],
    chat: ChatFormat,
    max_len: int,
    where: Callable[[int], str],
    source: str,
) -> list[Trajectory]:
    """``(row number, {"messages": [...]})`` chats as trajectories: assistant messages are
    actions, the message after each (any other role) is its feedback. ``where(n)`` names row n in
    errors; the row number is also the trajectory's group."""
    out = []
    for n, obj in records:
        try:
            # table formats give every message every key of the column (None where unset)
            msgs = [{k: v for k, v in m.items() if v is not None} for m in obj["messages"]]
            first = next(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        except (KeyError, TypeError, AttributeError, StopIteration):
            raise ConfigError(
                f'{where(n)}: expected {{"messages": [...]}} with at least one assistant message'
            ) from None
        ids = chat.prompt_ids(msgs[:first])
        turns: list[Turn] = []
        for m in msgs[first:]:
            if m["role"] == "assistant":
                if (
                    turns and turns[-1].feedback is None
                ):  # two assistant messages in a row: close the first
                    before, after = chat.turn_glue(
                        ids[turns[-1].action[0] : turns[-1].action[1]], "user"
                    )
                    ids += before + after
                action = chat.encode(m["content"]) + chat.stop_ids[:1]
                turns.append(Turn(action=(len(ids), len(ids) + len(action))))
                ids += action
            elif turns:
                before, after = chat.turn_glue(
                    ids[turns[-1].action[0] : turns[-1].action[1]], m["role"]
                )
                ids += before
                fb = chat.encode(m["content"])
                turns[-1].feedback = (len(ids), len(ids) + len(fb))
                ids += fb + after
        if len(ids) <= max_len and turns:
            out.append(Trajectory(input_ids=ids, turns=turns, group=f"line{n}"))
    if not out:
        raise ConfigError(
            f"{source}: no usable dialogue (each needs an assistant message and must fit model.max_len)"
        )
    return out


def demo_trajectories(
    task, simulator, chat: ChatFormat, n: int, seed: int, max_len: int, **demo_kwargs
) -> list[Trajectory]:
    """Dialogues of the task's demonstration policy on its training split (``demo_kwargs`` go to
    ``task.demo_action``)."""
    if not hasattr(task, "demo_action"):
        raise ConfigError(
            f"task {task.name!r} has no demonstration policy; give sft.data=<chats.jsonl>"
        )
    rng = random.Random(seed)
    instances = task.sample(task.train_split, n, rng)
    batch = rollout(
        None,
        chat,
        task,
        simulator,
        instances,
        group_size=1,
        max_new_tokens=0,
        temperature=0.0,
        max_len=max_len,
        policy=lambda env: task.demo_action(env, rng, **demo_kwargs),
    )
    return batch.trajectories


def sft_loss(model, tensors: dict[str, torch.Tensor], num_tokens: float) -> torch.Tensor:
    """Negative log-likelihood of agent tokens, summed and divided by ``num_tokens``. The output
    head runs on agent positions only (``score_mask``): prompts and replies are most of a
    dialogue's tokens and their logits are never used."""
    lp, _ = forward_logprobs(
        model,
        tensors["input_ids"],
        tensors["attention_mask"],
        position_ids=tensors.get("position_ids"),
        score_mask=tensors["action_mask"],
    )
    lp = lp[:, 1:]  # [R, W-1]: position 0 predicts nothing
    return -masked_mean(lp, tensors["action_mask"][:, 1:], num_tokens=num_tokens)


def sft_step(
    model,
    optimizer,
    trajs: list[Trajectory],
    pad_id: int,
    token_budget: int,
    grad_clip: float,
    share_prefix: bool = False,
) -> float:
    """One optimizer step on a batch of dialogues (micro-batched); returns the token-mean loss.
    ``share_prefix``: dialogues that begin alike (a task's long system prompt) run their common
    beginning once (``core/shared_prefix.py``; same loss and gradient), where the attention takes a
    block mask."""
    tensors = Batch(trajs).tensors(pad_id)
    device = next(model.parameters()).device
    total = float(tensors["action_mask"][:, 1:].sum())
    lengths = tensors["attention_mask"].sum(-1).tolist()
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    shared = share_prefix and takes_block_mask(model)
    if shared:
        batches = shared_prefix.plan(model, tensors, list(range(len(lengths))), token_budget)
    else:
        batches = token_batches(lengths, token_budget)
    tensors = {k: tensors[k] for k in ("input_ids", "attention_mask", "action_mask")}
    for rows in batches:
        if shared:
            mb = {
                k: v.to(device)
                for k, v in shared_prefix.micro_batch(model, tensors, rows)[0].items()
            }
        else:
            width = int(max(lengths[r] for r in rows))
            mb = {k: v[rows, :width].to(device) for k, v in tensors.items()}
        loss = sft_loss(model, mb, total)
        loss.backward()
        loss_sum += loss.item()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss_sum


def sft_train(
    model,
    tok,
    trajs: list[Trajectory],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    token_budget: int = 16384,
    warmup: int = 20,
    on_step=None,
    optimizer=None,
    start: int = 0,
    order_rng: random.Random | None = None,
    first: list[Trajectory] | None = None,
    first_steps: int = 0,
    share_prefix: bool = False,
):
    """The SFT loop, shared by ``infopo sft`` and the starter build: linear warmup then cosine decay
    over ``steps``. With ``first``, steps 1..``first_steps`` draw from that set instead (a curriculum)."""
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = order_rng or random.Random(seed)
    model.train()
    for step in range(start + 1, steps + 1):
        scale = (
            min(1.0, step / max(warmup, 1))
            * 0.5
            * (1 + math.cos(math.pi * (step - 1) / max(steps, 1)))
        )
        for g in optimizer.param_groups:
            g["lr"] = lr * max(scale, 0.05)
        pool = first if first is not None and step <= first_steps else trajs
        batch = [pool[rng.randrange(len(pool))] for _ in range(batch_size)]
        loss = sft_step(
            model, optimizer, batch, tok.pad_token_id, token_budget, grad_clip, share_prefix
        )
        if on_step is not None:
            on_step(step, loss, optimizer, rng)
    return optimizer
