"""Scoring one episode as the benchmark does, and pass^k over trials.

Reward = product of the components named in the task's ``reward_basis``, each 0 or 1, and 0 for
an episode that did not end properly (the agent or the customer stopped, or the agent transferred
the customer; running out of turns or context scores 0):

* DB: the agent-side database (and the phone, in telecom) equals the gold end state (gold actions
  replayed on a fresh world).
* COMMUNICATE: each ``communicate_info`` string occurs, case-insensitively and ignoring commas, in
  some message the agent wrote to the customer.
* ENV_ASSERTION: every assertion function (telecom: device and account checks) returns its
  expected value on the final world.
* ACTION: every gold action matches some tool call of the episode: same name and the same values
  for the compared arguments (``compare_args``; by default the arguments the call passed).
* NL_ASSERTION needs an LLM judge and is not scored here; ``breakdown`` counts them as unscored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from infopo_cli.tasks.tau.conversation import mentioned
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.data import reward_basis
from infopo_cli.tasks.tau2.world import World


def communicated(infos: Sequence[str], agent_messages: Sequence[str]) -> bool:
    return all(mentioned(info, agent_messages, ignore_output_commas=True) for info in infos)


def action_matches(gold: dict, name: str, arguments: dict) -> bool:
    if gold["name"] != name or not isinstance(arguments, dict):
        return False
    keys = gold.get("compare_args")
    if keys is None:
        keys = list(arguments)
    if not keys:
        return True
    return {k: arguments[k] for k in keys if k in arguments} == {
        k: gold["arguments"][k] for k in keys if k in gold["arguments"]
    }


def actions_done(gold_actions: Sequence[dict], calls: Sequence[tuple[str, str, dict]]) -> bool:
    """Every gold action matched by some call ``(requestor, name, arguments)``."""
    return all(any(action_matches(g, n, a) for _, n, a in calls) for g in gold_actions)


def assertions_hold(world: World, assertions: Sequence[dict]) -> bool:
    for a in assertions:
        try:
            value = world.run_function(a["env_type"], a["func_name"], a.get("arguments") or {})
        except (ToolError, KeyError, TypeError):
            return False
        if value != a.get("assert_value", True):
            return False
    return True


def score(
    row: dict,
    world: World,
    gold: World,
    agent_messages: Sequence[str],
    calls: Sequence[tuple[str, str, dict]],
    ended_properly: bool,
) -> tuple[float, dict]:
    """(reward, breakdown) of a finished episode. Runs the assertions on ``world`` (last)."""
    crit = row["evaluation_criteria"]
    basis = reward_basis(row)
    parts: dict[str, float] = {}
    if "DB" in basis:
        parts["DB"] = float(not world.diff(gold))
    if "COMMUNICATE" in basis:
        parts["COMMUNICATE"] = float(
            communicated(crit.get("communicate_info") or [], agent_messages)
        )
    if "ACTION" in basis:
        parts["ACTION"] = float(actions_done(crit.get("actions") or [], calls))
    if "ENV_ASSERTION" in basis:
        parts["ENV_ASSERTION"] = float(assertions_hold(world, crit.get("env_assertions") or []))
    reward = math.prod(parts.values()) if ended_properly else 0.0
    breakdown = {"components": parts, "ended_properly": ended_properly}
    if "NL_ASSERTION" in basis:
        breakdown["nl_assertions_unscored"] = len(crit.get("nl_assertions") or [])
    return reward, breakdown


def pass_hat_k(successes_per_task: Sequence[Sequence[bool]], k: int) -> float:
    """pass^k: mean over tasks of C(c, k) / C(n, k), with c successes in n >= k trials."""
    if k < 1:
        raise ValueError(f"pass^k needs k >= 1, got {k}")
    values = []
    for trials in successes_per_task:
        n, c = len(trials), sum(bool(s) for s in trials)
        if n < k:
            raise ValueError(f"pass^{k} needs at least {k} trials per task, got {n}")
        values.append(math.comb(c, k) / math.comb(n, k))
    return sum(values) / len(values) if values else 0.0
