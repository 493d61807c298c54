"""Per-turn credit from rollout records (``rollouts/step_N.jsonl``): groups, their variance gate and
tied flag, and flat per-turn rows.

One place turns records into what a person reads, so the HTML page (``infopo view``) and the W&B
Table (``logger.table_every``) show the same numbers. The gate is recomputed the way the trainer
computes it, sigmoid(-std(group outcomes) / fusion.tau) with the sample standard deviation, unless a
record carries its own ``gate``.
"""

from __future__ import annotations

import math

TABLE_COLUMNS = (
    "step",
    "task_id",
    "rollout",
    "turn",
    "action",
    "reply",
    "ig",
    "advantage",
    "reward",
    "outcome",
    "success",
    "failed",
    "gate",
    "tied",
)


def sample_std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1), 0 for fewer than two values: as ``torch.std``."""
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def variance_gate(outcomes: list[float], tau: float) -> float:
    """sigmoid(-std / tau): near 0.5 for tied groups, towards 0 as outcomes spread; a group of one
    has std 1 (as ``infopo_cli.core.advantages.group_outcome_std``)."""
    std = 1.0 if len(outcomes) == 1 else sample_std(outcomes)
    return 1.0 / (1.0 + math.exp(std / tau))


def group_records(records: list[dict], tau: float) -> list[dict]:
    """Records grouped by ``task_id`` (first-seen order) with outcomes, gate and tied flag."""
    by_task: dict[str, list[dict]] = {}
    for r in records:
        by_task.setdefault(str(r.get("task_id")), []).append(r)
    groups = []
    for task_id, rs in by_task.items():
        outcomes = [float(r.get("outcome") or 0.0) for r in rs]
        recorded = rs[0].get("gate")
        groups.append(
            {
                "task_id": task_id,
                "records": rs,
                "outcomes": outcomes,
                "gate": float(recorded) if recorded is not None else variance_gate(outcomes, tau),
                "tied": len(set(outcomes)) == 1,
                "failed": any(r.get("failed") for r in rs),
            }
        )
    return groups


def turn_text(turn: dict) -> tuple[str, str]:
    """The agent's action and the user's reply of one logged turn ('' where absent)."""
    return str(turn.get("action") or ""), str(turn.get("feedback") or "")


def turn_rows(step: int, records: list[dict], tau: float) -> list[list]:
    """One row per turn, in :data:`TABLE_COLUMNS` order."""
    rows = []
    for g in group_records(records, tau):
        for i, r in enumerate(g["records"]):
            for t, turn in enumerate(r.get("turns") or []):
                action, reply = turn_text(turn)
                rows.append(
                    [
                        step,
                        g["task_id"],
                        i,
                        t,
                        action,
                        reply,
                        float(turn.get("ig") or 0.0),
                        float(turn.get("advantage") or 0.0),
                        float(turn.get("reward") or 0.0),
                        float(r.get("outcome") or 0.0),
                        bool(r.get("success")),
                        bool(r.get("failed")),
                        g["gate"],
                        g["tied"],
                    ]
                )
    return rows
