"""The multi-turn agent loop: engine <-> environment <-> simulated user, building Trajectories.

All live conversations generate together each turn; finished ones drop out. Token ids are appended
only (prompt, then per turn: action | glue | feedback | glue), so the recorded spans are exact and
nothing is re-tokenized afterwards. A conversation whose simulator call failed for good is kept but
marked ``failed``: the trainer excludes it from the loss and from success rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.trajectory import Batch, Trajectory, Turn
from infopo_cli.engines.base import Engine
from infopo_cli.simulators.base import Simulator, SimulatorError
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance


@dataclass
class Conversation:
    instance: TaskInstance
    env: Environment
    ids: list[int]
    turns: list[Turn] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    failed: bool = False
    truncated: bool = False
    done: bool = False
    scripted: bool = False  # a text policy played: no sampler log-probs
    opening: str | None = None  # the simulated user's own first message, when it wrote one


def open_conversations(convs: list[Conversation], chat: ChatFormat, simulator: Simulator) -> None:
    """Let the simulated user write the first message where the environment asks for it
    (``Environment.opening_query``), batched. A failed reply keeps the instance's opening and
    marks the conversation ``failed`` (played, then excluded like any failed conversation)."""
    asking = [(c, c.env.opening_query()) for c in convs]
    asking = [(c, q) for c, q in asking if q is not None]
    if not asking:
        return
    replies = simulator.reply_batch([q for _, q in asking])
    for (c, _), reply in zip(asking, replies):
        if isinstance(reply, SimulatorError):
            c.failed = True
            c.opening = f"(failed: {reply})"
            continue
        c.opening = reply
        c.ids = chat.opening_ids(c.env.opened(reply))


def resolve_queries(
    pending: list[tuple[Conversation, StepResult]], simulator: Simulator
) -> list[StepResult]:
    """Answer every step that waits on the simulated user, batched; repeat while envs ask again.
    A failed reply ends that conversation as ``failed``."""
    results = [r for _, r in pending]
    while True:
        waiting = [i for i, r in enumerate(results) if r.query is not None]
        if not waiting:
            return results
        replies = simulator.reply_batch([results[i].query for i in waiting])
        for i, reply in zip(waiting, replies):
            conv = pending[i][0]
            if isinstance(reply, SimulatorError):
                conv.failed = True
                conv.logs[-1]["error"] = str(reply)
                results[i] = StepResult(
                    feedback=None, done=True, info={"simulator_error": str(reply)}
                )
            else:
                results[i] = conv.env.user_replied(reply)


def rollout(
    engine: Engine | None,
    chat: ChatFormat,
    task: Task,
    simulator: Simulator,
    instances: list[TaskInstance],
    *,
    group_size: int,
    max_new_tokens: int,
    temperature: float,
    max_len: int,
    top_p: float = 1.0,
    policy: Callable[[Environment], str] | None = None,
) -> Batch:
    """Play ``group_size`` episodes of every instance; returns them grouped by instance id.

    ``policy`` replaces the engine with a text policy (oracle, demonstrations): its messages are
    tokenized and recorded like generated ones (log-probs 0).
    """
    convs = [
        Conversation(inst, task.make_env(inst), chat.opening_ids(inst))
        for inst in instances
        for _ in range(group_size)
    ]
    open_conversations(convs, chat, simulator)
    max_turns = task.max_turns
    for _turn in range(max_turns):
        live = [c for c in convs if not c.done]
        if not live:
            break
        if policy is None:
            gens = engine.generate(
                [c.ids for c in live],
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
            )
            actions = [(g.token_ids, g.logprobs) for g in gens]
        else:
            actions = []
            for c in live:
                c.scripted = True
                ids = chat.encode(policy(c.env)) + chat.stop_ids[:1]
                actions.append((ids, [0.0] * len(ids)))
        pending = []
        for c, (ids, lps) in zip(live, actions):
            if not ids:  # an engine may return nothing at the length limit; end the episode
                c.done = c.truncated = True
                continue
            start = len(c.ids)
            c.ids += ids
            c.logprobs += lps
            c.turns.append(Turn(action=(start, len(c.ids))))
            text = chat.decode(ids)
            c.logs.append({"action": text, "action_tokens": len(ids), "parsed": task.parses(text)})
            pending.append((c, c.env.step(text)))
        for (c, _), res in zip(pending, resolve_queries(pending, simulator)):
            turn = c.turns[-1]
            turn.reward = float(res.reward)
            c.logs[-1].update(feedback=res.feedback, reward=turn.reward)
            if res.done or c.failed or len(c.turns) >= max_turns:
                c.done = True
            if res.feedback is None or c.done:
                c.done = True
                continue
            before, after = chat.turn_glue(c.ids[turn.action[0] : turn.action[1]], res.role)
            fb = chat.encode(res.feedback)
            if len(c.ids) + len(before) + len(fb) + len(after) + max_new_tokens > max_len:
                c.done = c.truncated = True  # no room for the next action: stop before overflowing
                continue
            c.ids += before
            fs = len(c.ids)
            c.ids += fb
            turn.feedback = (fs, len(c.ids))
            c.ids += after
    return Batch([_to_trajectory(c) for c in convs if c.turns])


def _to_trajectory(c: Conversation) -> Trajectory:
    return Trajectory(
        input_ids=c.ids,
        turns=c.turns,
        group=c.instance.id,
        outcome=c.env.outcome(),
        success=bool(c.env.success()) and not c.failed,
        failed=c.failed,
        logprobs=None if c.scripted else c.logprobs,
        info={
            "task_id": c.instance.id,
            "turns": c.logs,
            "truncated": c.truncated,
            **({"opening": c.opening} if c.opening is not None else {}),
        },
    )
