"""The data that flows through a training step: trajectories in token space.

A trajectory is ``[prompt] a_0 o_0 a_1 o_1 ... a_T (o_T)`` as one list of token ids. Each turn records
the half-open span of the agent action a_t and of the *pure feedback text* inside o_t (not the chat
template tokens around it), both recorded while the rollout appends tokens, never rebuilt afterwards.
Every stage reads these fields and adds its own (old log-probs, information gain, advantages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

Span = tuple[int, int]


@dataclass
class Turn:
    """One agent turn: the action span, the span of the feedback it drew (None: no feedback),
    and the environment reward of the turn."""

    action: Span
    feedback: Span | None = None
    reward: float = 0.0

    @property
    def action_len(self) -> int:
        return self.action[1] - self.action[0]

    @property
    def feedback_len(self) -> int:
        return 0 if self.feedback is None else self.feedback[1] - self.feedback[0]


@dataclass
class Trajectory:
    """Token ids of prompt + all turns; ``prompt = input_ids[:turns[0].action[0]]``.

    ``group`` names the GRPO group (the prompt the trajectory was sampled for). ``outcome`` is the
    task score S_i (the sum of turn rewards unless the task sets it). ``failed`` marks a trajectory
    whose simulator call finally failed: it is excluded from the loss and from success rates.
    """

    input_ids: list[int]
    turns: list[Turn]
    group: str = ""
    outcome: float | None = None
    success: bool = False
    failed: bool = False
    # Filled by later stages.
    logprobs: list[float] | None = None  # sampled-token log-probs from the engine, per action token
    info_gain: list[float] | None = None  # IG_t per turn (credited to a_t)
    info: dict = field(default_factory=dict)  # free-form: texts, task ids, per-turn tables

    def __post_init__(self) -> None:
        prev_end = 0
        n = len(self.input_ids)
        for i, t in enumerate(self.turns):
            s, e = t.action
            if not (prev_end <= s < e <= n):
                raise ValueError(
                    f"turn {i}: action span {t.action} is empty, overlaps or exceeds {n} tokens"
                )
            prev_end = e
            if t.feedback is not None:
                fs, fe = t.feedback
                if not (e <= fs <= fe <= n):
                    raise ValueError(
                        f"turn {i}: feedback span {t.feedback} must lie after its action"
                    )
                prev_end = fe

    @property
    def prompt_len(self) -> int:
        return self.turns[0].action[0] if self.turns else len(self.input_ids)

    @property
    def score(self) -> float:
        """Outcome score S_i: the task's outcome when set, else the sum of per-turn rewards."""
        return (
            float(self.outcome)
            if self.outcome is not None
            else float(sum(t.reward for t in self.turns))
        )

    def turn_rewards(self) -> list[float]:
        """Per-turn rewards r_t that sum to the score S_i: each turn's environment reward, and on
        the last turn whatever the task's outcome adds beyond their sum (an outcome scored at the
        end rather than as turn rewards). A task that only scores the outcome has r_T = S_i."""
        r = [t.reward for t in self.turns]
        if r:
            r[-1] += self.score - sum(r)
        return r

    def action_mask(self) -> list[int]:
        """1 on agent-action tokens, 0 on prompt, feedback and template tokens."""
        mask = [0] * len(self.input_ids)
        for t in self.turns:
            mask[t.action[0] : t.action[1]] = [1] * t.action_len
        return mask

    def sampler_logprobs(self) -> tuple[list[float], list[int]]:
        """Per position: the engine's log-prob of each agent token (0 elsewhere), and 1 where one was
        recorded. A trajectory without engine log-probs (``logprobs`` None, or not one per action
        token: a scripted or hand-built one) has none."""
        n = len(self.input_ids)
        lps, has = [0.0] * n, [0] * n
        if self.logprobs is None or len(self.logprobs) != sum(t.action_len for t in self.turns):
            return lps, has
        i = 0
        for t in self.turns:
            s, e = t.action
            lps[s:e] = self.logprobs[i : i + t.action_len]
            has[s:e] = [1] * t.action_len
            i += t.action_len
        return lps, has

    def scored_turns(self) -> list[int]:
        """Turns t whose IG is defined: non-empty feedback and an existing next action."""
        return [i for i, t in enumerate(self.turns[:-1]) if t.feedback_len > 0]

    def intrinsic_rewards(self) -> list[float]:
        """Token-level intrinsic reward: IG_t / |a_t| on every token of a_t (docs/method.md, Information gain)."""
        out = [0.0] * len(self.input_ids)
        if self.info_gain is None:
            return out
        for t, ig in zip(self.turns, self.info_gain):
            if ig != 0.0:
                per_tok = ig / t.action_len
                out[t.action[0] : t.action[1]] = [per_tok] * t.action_len
        return out


def pad_batch(
    rows: Sequence[Sequence[float | int]], pad_value: float | int, dtype: torch.dtype
) -> torch.Tensor:
    """Right-pad variable-length rows into a [N, L] tensor."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), pad_value, dtype=dtype)
    for i, r in enumerate(rows):
        if len(r):
            out[i, : len(r)] = torch.as_tensor(list(r), dtype=dtype)
    return out


@dataclass
class Batch:
    """Trajectories of one step, grouped by prompt (the GRPO group)."""

    trajectories: list[Trajectory]

    def __len__(self) -> int:
        return len(self.trajectories)

    @property
    def groups(self) -> list[str]:
        return [t.group for t in self.trajectories]

    def kept(self) -> Batch:
        """The trajectories that count: those whose simulator calls all succeeded."""
        return Batch([t for t in self.trajectories if not t.failed])

    def tensors(self, pad_id: int = 0) -> dict[str, torch.Tensor]:
        """Right-padded token tensors: input_ids, attention_mask, action_mask, intrinsic,
        sampler_logprobs (the engine's log-prob of each agent token, 0 elsewhere), sampler_mask (1 on
        agent tokens that have one) [N, L], and outcomes [N]."""
        trajs = self.trajectories
        ids = pad_batch([t.input_ids for t in trajs], pad_id, torch.long)
        attn = pad_batch([[1] * len(t.input_ids) for t in trajs], 0, torch.long)
        mask = pad_batch([t.action_mask() for t in trajs], 0, torch.float32)
        outcomes = torch.tensor([t.score for t in trajs], dtype=torch.float32)
        sampled = [t.sampler_logprobs() for t in trajs]
        return {
            "input_ids": ids,
            "attention_mask": attn,
            "action_mask": mask,
            "intrinsic": self.intrinsic(),
            "sampler_logprobs": pad_batch([lp for lp, _ in sampled], 0.0, torch.float32),
            "sampler_mask": pad_batch([m for _, m in sampled], 0, torch.float32),
            "outcomes": outcomes,
        }

    def intrinsic(self) -> torch.Tensor:
        """[N, L] token-level intrinsic rewards (IG_t / |a_t| on a_t), right-padded like ``tensors``."""
        return pad_batch([t.intrinsic_rewards() for t in self.trajectories], 0.0, torch.float32)


def token_batches(
    lengths: list[int], token_budget: int, longest_first: bool = True, packed: bool = False
) -> list[list[int]]:
    """Row indices grouped so that rows x longest row <= ``token_budget`` (a row over budget runs
    alone), over the rows sorted by length so that a group pads little: on a CPU padding is pure
    cost. Used by the update, the scorers and SFT.

    ``packed``: the group's rows run laid end to end (``infopo_cli.core.packing``), so what counts
    against the budget is the sum of their lengths, not rows x longest; each row joins the first
    group it fits in (first-fit decreasing), which fills groups closer to the budget than cutting
    the sorted rows in runs.

    ``longest_first`` decides the order groups are formed in (ties by index); either order gives the
    same kind of packing. The update goes longest first, so an out-of-memory shows on the first
    micro-batch; the information-gain scorers go shortest first.
    """
    sign = -1 if longest_first else 1
    order = sorted(range(len(lengths)), key=lambda i: (sign * lengths[i], i))
    if packed:
        return _first_fit(order, lengths, token_budget)
    out: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        if cur and (len(cur) + 1) * max(longest, lengths[i]) > token_budget:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, lengths[i])
    if cur:
        out.append(cur)
    return out


def _first_fit(order: list[int], lengths: list[int], token_budget: int) -> list[list[int]]:
    """Rows in ``order``, each into the first group whose summed length stays <= ``token_budget``
    (or a new group: a row over budget runs alone)."""
    out: list[list[int]] = []
    used: list[int] = []
    for i in order:
        g = next((g for g, u in enumerate(used) if u + lengths[i] <= token_budget), len(out))
        if g == len(out):
            out.append([])
            used.append(0)
        out[g].append(i)
        used[g] += lengths[i]
    return out
