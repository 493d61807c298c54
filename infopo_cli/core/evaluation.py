"""Evaluation as a library: play task instances with a policy and score them (success, mean reward,
pass^k, each with a 95% interval). ``infopo eval`` and the train recipe's evaluations both use it."""

from __future__ import annotations

import math

from infopo_cli.core.rollout import rollout
from infopo_cli.simulators.base import excluded_line

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def pass_hat_k(successes: list[list[bool]], k: int) -> float:
    """pass^k: mean over tasks of C(c, k) / C(n, k), c successes out of n trials (n >= k).

    The chance that k trials drawn without replacement from a task's n all succeed: a measure of
    reliability, stricter than the success rate as k grows.
    """
    return mean([_task_pass_hat_k(trials, k) for trials in successes])


def _task_pass_hat_k(trials: list[bool], k: int) -> float:
    n, c = len(trials), sum(trials)
    if n < k:
        raise ValueError(f"pass^{k} needs at least {k} trials per task, got {n}")
    return math.comb(c, k) / math.comb(n, k)


def run_eval(
    engine,
    chat,
    task,
    simulator,
    instances,
    *,
    k=1,
    temperature=0.0,
    max_new_tokens=48,
    max_len=1024,
    policy=None,
    batch_tasks=64,
):
    """Per-task results and their aggregate. ``policy`` (a text policy such as the oracle) replaces
    the engine. Conversations whose simulator call failed are excluded from every score."""
    results = []
    for i in range(0, len(instances), batch_tasks):
        chunk = instances[i : i + batch_tasks]
        batch = rollout(
            engine,
            chat,
            task,
            simulator,
            chunk,
            group_size=k,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            max_len=max_len,
            policy=policy,
        )
        by_task: dict[str, list] = {}
        for tr in batch.trajectories:
            by_task.setdefault(tr.group, []).append(tr)
        for inst in chunk:
            trs = by_task.get(inst.id, [])
            kept = [t for t in trs if not t.failed]
            successes = [bool(t.success) for t in kept]
            rewards = [float(t.score) for t in kept]
            results.append(
                {
                    "id": inst.id,
                    "rewards": rewards,
                    "successes": successes,
                    "success": bool(successes) and all(successes),
                    "mean_reward": mean(rewards),
                    "turns": [len(t.turns) for t in kept],
                    "excluded": len(trs) - len(kept),
                    "conversations": [
                        {
                            "trial": j,
                            "reward": float(t.score),
                            "success": bool(t.success),
                            "failed": bool(t.failed),
                            "truncated": bool(t.info.get("truncated", False)),
                            "turns": t.info["turns"],
                        }
                        for j, t in enumerate(trs)
                    ],
                }
            )
    return results, aggregate(results, k)


def aggregate(results: list[dict], k: int) -> dict:
    """Success rate (Wilson 95% interval over trials), mean reward and pass^k (normal 95% intervals;
    pass^k's over tasks). Tasks with fewer than k scored trials are left out and counted.

    Episodes excluded for simulator failures are not a random sample (an outage keeps the ones
    that never needed the user), so ``success_with_failures`` counts them as failures: the gap
    between the two rates is how much the exclusions could move the result. With no scored
    episode the intervals are null, never a measured-looking [0, 0]."""
    scored = [r for r in results if len(r["successes"]) >= k]
    flat_s = [s for r in scored for s in r["successes"]]
    flat_r = [x for r in scored for x in r["rewards"]]
    per_task = [_task_pass_hat_k(r["successes"], k) for r in scored]
    succ = mean([float(s) for s in flat_s])
    mean_r = mean(flat_r)
    all_s = [s for r in results for s in r["successes"]]
    excluded = sum(r["excluded"] for r in results)
    n_episodes = len(all_s) + excluded
    out = {
        "success": succ,
        "success_ci95": wilson_ci95(sum(flat_s), len(flat_s)),
        "mean_reward": mean_r,
        "mean_reward_ci95": normal_ci95(flat_r),
        "pass_hat_k": mean(per_task),
        "pass_hat_k_ci95": [
            max(0.0, x) if i == 0 else min(1.0, x) for i, x in enumerate(normal_ci95(per_task))
        ],
        "k": k,
        "n_tasks": len(scored),
        "n_trials": len(flat_s),
        "n_unscored_tasks": len(results) - len(scored),
        "n_excluded_trials": excluded,
        "n_episodes": n_episodes,
        "success_with_failures": sum(all_s) / n_episodes if n_episodes else 0.0,
        "mean_turns": mean([float(t) for r in scored for t in r["turns"]]),
        **protocol_shares(results),
    }
    if not flat_s:
        out.update(success_ci95=None, mean_reward_ci95=None, pass_hat_k_ci95=None)
    return out


def protocol_shares(results: list[dict]) -> dict:
    """``unparsed``: the share of agent messages outside the task's protocol (``Task.parses``);
    ``truncated``: the share of episodes cut because the context (``model.max_len``) was full."""
    convs = [c for r in results for c in r.get("conversations", []) if not c["failed"]]
    return {
        "unparsed": unparsed_share([c["turns"] for c in convs]),
        "truncated": sum(c["truncated"] for c in convs) / len(convs) if convs else 0.0,
    }


def unparsed_share(episodes: list[list[dict]]) -> float:
    """The share of agent messages, over episodes' turn records, outside the task's protocol."""
    turns = [t for episode in episodes for t in episode]
    return sum(not t.get("parsed", True) for t in turns) / len(turns) if turns else 0.0


def cannot_play(agg: dict, task: str, built_for: str | None = None) -> str | None:
    """One warning line when the evaluated policy cannot play ``task``, naming the likely cause
    (``built_for``: the task a built-in starter was made for); None when nothing looks wrong."""
    if built_for is not None and built_for != task:
        return (
            f"warning: the policy is the {built_for} starter, which does not speak task={task}'s "
            f"protocol; model=starter builds and uses {task}'s own"
        )
    if agg["n_trials"] and agg["success"] == 0 and agg["unparsed"] >= 0.5:
        return (
            f"warning: success 0 and {agg['unparsed']:.0%} of the policy's messages are not in "
            f"task={task}'s protocol: the policy cannot play this task (a model trained for "
            "another task, or too small for its prompt); model=starter gives one that can"
        )
    return None


def truncation_line(agg: dict, max_len: int) -> str | None:
    """One line when episodes were cut at the context limit (they end without an outcome)."""
    if not agg.get("truncated"):
        return None
    return (
        f"note: {agg['truncated']:.0%} of episodes were cut at model.max_len={max_len} tokens "
        "before they ended (raise model.max_len, or shorten the task's prompt)"
    )


def summary_line(agg: dict) -> str:
    """The one-line result every evaluation prints: success over scored episodes with its interval
    and with failed episodes counted as failures, and the excluded count; "no scored episodes"
    (never an interval) when nothing was scored."""
    excluded = (
        f" | {excluded_line(agg['n_excluded_trials'], agg['n_episodes'])}"
        if agg["n_excluded_trials"]
        else ""
    )
    if not agg["n_trials"]:
        return f"no scored episodes{excluded}"
    lo, hi = agg["success_ci95"]
    with_failures = (
        f" | {agg['success_with_failures']:.3f} with failures counted"
        if agg["n_excluded_trials"]
        else ""
    )
    return (
        f"success {agg['success']:.3f} (95% CI {lo:.3f}-{hi:.3f}){with_failures} | "
        f"mean reward {agg['mean_reward']:.3f} | pass^{agg['k']} {agg['pass_hat_k']:.3f} | "
        f"{agg['n_tasks']} tasks{excluded}"
    )


def wilson_ci95(successes: int, n: int) -> list[float]:
    """Wilson score interval of a binomial proportion: sensible at 0 and 1, unlike the normal one."""
    if n == 0:
        return [0.0, 0.0]
    p = successes / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def normal_ci95(values: list[float]) -> list[float]:
    """mean +- 1.96 standard errors (sample standard deviation); a point interval below 2 values."""
    m = mean(values)
    if len(values) < 2:
        return [m, m]
    sd = math.sqrt(sum((x - m) ** 2 for x in values) / (len(values) - 1))
    half = Z95 * sd / math.sqrt(len(values))
    return [m - half, m + half]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
