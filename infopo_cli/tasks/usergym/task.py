"""``task=usergym``: the UserGym gyms (intention, telepathy, turtle, function, persuasion, tau).

Which gyms:

* ``task.gym=function``: one gym, i.e. one folder of ``task.data_dir``;
* ``task.gym=mix task.mixture={function: 1, intention: 2}``: several gyms; a training batch draws
  each prompt from gym g with probability weight_g / sum(weights), then uniformly within the gym
  (``task.gym=[function, intention]`` is the same with equal weights);
* ``task.eval_gyms=[persuasion]`` (a list or a ``{gym: weight}`` mapping): the gyms of the
  evaluation split (``task.split``), for training on some gyms and evaluating on held-out ones.
  Without it the evaluation split uses the training gyms.

``task.data_dir`` is a folder in the UserGym format (see ``data.py``); when null, the environment
variable ``INFOPO_USERGYM_DATA`` or else the copy ``infopo data fetch usergym`` installed in
``$INFOPO_CACHE/data/usergym``; a relative path is taken from the working directory. Instance ids are ``<gym>/<task key>`` (e.g. ``function/func-484``);
the opening messages are the folder's system prompt (plus a note on how to write the tool call as
text) and the row's user message. ``task.prompt=compact`` swaps the system prompt (about 2,000-3,000
characters) for a few sentences per gym, for small context windows; ``auto`` (the default) does so
when ``task.context_len`` (the model's ``max_len``) is below 4096 tokens.

``task.upstream_rules`` (default true) plays and scores every gym as UserRL does; false selects
the project's friendlier variants (format hints instead of ending the episode, TauGym scoring the
database however the episode ends, tolerant number and tool-call reading, ...). Each difference,
its UserRL source and the test that pins it are listed in docs/fidelity.md.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infopo_cli.data.locations import resolve_dataset
from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import Task, TaskInstance
from infopo_cli.tasks.usergym.data import available_gyms, load_rows
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.gyms import ENVIRONMENTS, validate
from infopo_cli.tasks.usergym.protocol import (
    ParseFailure,
    compact_hint,
    parse_tool_call,
    tool_hint,
    tool_schema,
)

FEEDBACK_ROLES = ("tool", "user")
PROMPTS = ("auto", "full", "compact")
COMPACT_BELOW = 4096  # prompt=auto: the compact system prompt below this many tokens of context
ENV_VAR = "INFOPO_USERGYM_DATA"


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir``, else $INFOPO_USERGYM_DATA, else what ``infopo data fetch usergym`` installed
    (``$INFOPO_CACHE/data/usergym``); a relative path is taken from the working directory."""
    return resolve_dataset(
        "usergym",
        data_dir,
        ENV_VAR,
        lambda p: bool(available_gyms(p)),
        "task.data_dir",
        "a UserGym data folder (no <gym>/<split>.jsonl)",
    )


def _plain(value: Any) -> Any:
    """Hydra hands over DictConfig / ListConfig; work with plain containers."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _weights(value: Any, field: str, known: list[str]) -> dict[str, float]:
    """{gym: weight} from a gym name, a list of names, or a mapping of names to weights."""
    value = _plain(value)
    if isinstance(value, str):
        value = {value: 1.0}
    elif isinstance(value, (list, tuple)):
        value = dict.fromkeys((str(v) for v in value), 1.0)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"{field} must be a gym name, a list of gyms or a {{gym: weight}} mapping, got {value!r}"
        )
    out: dict[str, float] = {}
    for gym, w in value.items():
        gym = str(gym)
        if gym not in known:
            raise ConfigError(
                f"{field}: unknown gym {gym!r}; gyms in task.data_dir: {', '.join(known) or 'none'}"
            )
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0:
            raise ConfigError(f"{field}: the weight of {gym!r} must be a number > 0, got {w!r}")
        out[gym] = float(w)
    return out


class UserGymTask(Task):
    """UserGym episodes from a data folder; see the module docstring for the gym selection."""

    name = "usergym"

    def __init__(
        self,
        name: str = "usergym",
        max_turns: int = 16,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        gym: Any = "function",
        mixture: Any = None,
        eval_gyms: Any = None,
        data_dir: str | Path | None = None,
        show_reward: bool = False,
        feedback_role: str = "tool",
        prompt: str = "auto",
        context_len: int | None = None,
        upstream_rules: bool = True,
    ):
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigError(f"task.max_turns must be an integer >= 1, got {max_turns!r}")
        super().__init__(max_turns=max_turns, seed=seed)
        for field, value in (("task.train_split", train_split), ("task.split", split)):
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"{field} must be a split name such as 'train' or 'test', got {value!r}"
                )
        if feedback_role not in FEEDBACK_ROLES:
            raise ConfigError(
                f"task.feedback_role must be one of {', '.join(FEEDBACK_ROLES)}, got {feedback_role!r}"
            )
        if not isinstance(upstream_rules, bool):
            raise ConfigError(f"task.upstream_rules must be true or false, got {upstream_rules!r}")
        self.upstream_rules = upstream_rules
        if prompt not in PROMPTS:
            raise ConfigError(f"task.prompt must be one of {', '.join(PROMPTS)}, got {prompt!r}")
        if context_len is not None and (
            isinstance(context_len, bool) or not isinstance(context_len, int) or context_len < 1
        ):
            raise ConfigError(
                f"task.context_len must be a positive integer or null, got {context_len!r}"
            )
        if prompt == "auto":
            prompt = (
                "compact" if context_len is not None and context_len < COMPACT_BELOW else "full"
            )
        self.prompt = prompt
        self.data_dir = resolve_data_dir(data_dir)
        known = available_gyms(self.data_dir)
        gym = _plain(gym)
        if gym == "mix":
            if mixture is None:
                raise ConfigError("task.gym=mix needs task.mixture={gym: weight, ...}")
            self.train_weights = _weights(mixture, "task.mixture", known)
        else:
            if mixture is not None:
                raise ConfigError(
                    f"task.mixture is set but task.gym is {gym!r}; use task.gym=mix to mix gyms"
                )
            self.train_weights = _weights(gym, "task.gym", known)
        self.eval_weights = (
            _weights(eval_gyms, "task.eval_gyms", known) if eval_gyms is not None else None
        )
        if self.eval_weights is not None and split == train_split:
            raise ConfigError("task.eval_gyms needs task.split to differ from task.train_split")
        self.name = name
        self.train_split, self.split = train_split, split
        self.show_reward = bool(show_reward)
        self.feedback_role = feedback_role
        self._cache: dict[tuple[str, str], list[TaskInstance]] = {}

    # ----- instances --------------------------------------------------------------------------
    def gym_weights(self, split: str) -> dict[str, float]:
        """The gyms (and their sampling weights) a split draws from."""
        if self.eval_weights is not None and split == self.split:
            return self.eval_weights
        return self.train_weights

    def gym_instances(self, gym: str, split: str) -> list[TaskInstance]:
        key = (gym, split)
        if key not in self._cache:
            gym_dir = self.data_dir / gym
            out: list[TaskInstance] = []
            seen: dict[str, int] = {}
            for row in load_rows(self.data_dir, gym, split):
                validate(row, gym_dir)
                n = seen.get(row.key, 0)
                seen[row.key] = n + 1
                ident = f"{gym}/{row.key}" + (f"#{n + 1}" if n else "")
                cls = ENVIRONMENTS[row.kind]
                # the native opening leaves out the note on writing the call as text: the chat
                # template renders the tool's schema instead
                if self.prompt == "full":
                    native = row.system
                    system = native + tool_hint(cls.choices)
                else:
                    native = cls.compact_prompt
                    system = native + compact_hint(cls.choices)
                out.append(
                    TaskInstance(
                        id=ident,
                        messages=[
                            {"role": "system", "content": system},
                            {"role": "user", "content": row.opening},
                        ],
                        hidden={
                            "gym": gym,
                            "kind": row.kind,
                            "key": row.key,
                            "record": row.record,
                            "gym_dir": str(gym_dir),
                            "source": row.source,
                            "prompt": self.prompt,
                        },
                        tools=[tool_schema(cls.choices)],
                        native_messages=[
                            {"role": "system", "content": native},
                            {"role": "user", "content": row.opening},
                        ],
                    )
                )
            self._cache[key] = out
        return self._cache[key]

    def instances(self, split: str) -> list[TaskInstance]:
        out: list[TaskInstance] = []
        for gym in self.gym_weights(split):
            out += self.gym_instances(gym, split)
        return out

    def sample(self, split: str, n: int, rng: random.Random) -> list[TaskInstance]:
        weights = self.gym_weights(split)
        gyms = list(weights)
        pools = {g: self.gym_instances(g, split) for g in gyms}
        total = sum(weights.values())
        out = []
        for _ in range(n):
            r, acc, pick = rng.random() * total, 0.0, gyms[-1]
            for g in gyms:
                acc += weights[g]
                if r < acc:
                    pick = g
                    break
            pool = pools[pick]
            out.append(pool[rng.randrange(len(pool))])
        return out

    # ----- episodes ---------------------------------------------------------------------------
    def make_env(self, instance: TaskInstance) -> GymEnv:
        cls = ENVIRONMENTS[instance.hidden["kind"]]
        return cls(
            instance,
            self.max_turns,
            show_reward=self.show_reward,
            feedback_role=self.feedback_role,
            upstream_rules=self.upstream_rules,
        )

    def parses(self, action: str) -> bool:
        """A readable ``interact_with_env`` call."""
        return not isinstance(parse_tool_call(action), ParseFailure)

    def oracle_action(self, env: GymEnv) -> str:
        """Per gym: function computes the rule, tau replays the gold changes, telepathy and turtle
        answer the hidden entity/story, intention asks each detail's reference question.
        PersuadeGym has none (ConfigError)."""
        return env.oracle_action()

    def demo_action(self, env: GymEnv, rng: random.Random) -> str:
        """The demonstration policy of ``infopo sft`` (see ``GymEnv.demo_action``)."""
        return env.demo_action(rng)
