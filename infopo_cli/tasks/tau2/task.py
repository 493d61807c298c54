"""``task=tau2``: tau2-bench customer service (airline, retail, telecom) with tools and a customer.

Instances are the benchmark's tasks of the chosen domain(s) and split (``split_tasks.json``: train,
test, base; telecom also small), ids ``<domain>/<task id>``. The agent gets the domain policy and
its tools in the system prompt (``prompt.py``) and the customer's opening line; see ``env.py`` for
a turn, ``scoring.py`` for the reward, ``user.py`` for the simulated customer.

``strict_upstream`` (default true) makes tools, limits and termination behave as tau2-bench's code
does for a live agent; false switches on the project's documented deviations all together
(``docs/fidelity.md`` lists each one, with the upstream file and the test that pins it).
"""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import Task, TaskInstance
from infopo_cli.tasks.tau2.data import DOMAIN_NAMES, DomainData, load_domain, resolve_data_dir
from infopo_cli.tasks.tau2.env import Tau2Env
from infopo_cli.tasks.tau2.prompt import native_system_prompt, system_prompt
from infopo_cli.tasks.tau2.protocol import format_tool_call, parse_tool_call
from infopo_cli.tasks.tau2.world import AGENT_TOOLKITS, World, gold_world

# What the demonstrator asks the customer when it slips (a turn that moves the task nowhere).
DEMO_QUESTIONS = (
    "Could you please confirm your user id?",
    "Is there anything else you would like me to check?",
    "Could you tell me more about what you need?",
)

PROMPT_MODES = ("full", "compact", "auto")
UPSTREAM_MAX_STEPS = 200  # tau2-bench config.py DEFAULT_MAX_STEPS (messages, see env.py)
UPSTREAM_MAX_ERRORS = 10  # DEFAULT_MAX_ERRORS (failed tool calls)
PROJECT_MAX_TURNS = 30  # agent turns, without strict_upstream
AUTO_COMPACT_BELOW = 4096  # prompt=auto: compact when the model's context is shorter than this


class Tau2Task(Task):
    name = "tau2"

    def __init__(
        self,
        name: str = "tau2",
        max_turns: int | None = None,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        domain: str | list[str] = "all",
        data_dir: str | None = None,
        tasks_file: str = "tasks.json",
        prompt: str = "auto",
        context_len: int | None = None,
        policy_max_chars: int | None = None,
        opening: str = "Hi! I need some help.",
        max_user_tool_calls: int = 10,
        strict_upstream: bool = True,
        max_steps: int = UPSTREAM_MAX_STEPS,
        max_errors: int = UPSTREAM_MAX_ERRORS,
    ):
        if not isinstance(strict_upstream, bool):
            raise ConfigError(
                f"task.strict_upstream must be true or false, got {strict_upstream!r}"
            )
        for key, value in (("max_steps", max_steps), ("max_errors", max_errors)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"task.{key} must be an integer >= 1, got {value!r}")
        if max_turns is None:
            # every agent turn adds at least one step, so max_steps alone binds under
            # strict_upstream; the project's former cap otherwise
            max_turns = max_steps if strict_upstream else PROJECT_MAX_TURNS
        super().__init__(max_turns=max_turns, seed=seed)
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigError(f"task.max_turns must be an integer >= 1 or null, got {max_turns!r}")
        self.strict_upstream = strict_upstream
        self.max_steps, self.max_errors = max_steps, max_errors
        if prompt not in PROMPT_MODES:
            raise ConfigError(
                f"task.prompt must be one of {', '.join(PROMPT_MODES)}, got {prompt!r}"
            )
        if context_len is not None and (not isinstance(context_len, int) or context_len < 1):
            raise ConfigError(
                f"task.context_len must be a positive integer or null, got {context_len!r}"
            )
        if policy_max_chars is not None and (
            not isinstance(policy_max_chars, int) or policy_max_chars < 0
        ):
            raise ConfigError(
                f"task.policy_max_chars must be an integer >= 0 or null, got {policy_max_chars!r}"
            )
        if not isinstance(opening, str) or not opening.strip():
            raise ConfigError(
                "task.opening must be a non-empty string (the customer's first message)"
            )
        if not isinstance(max_user_tool_calls, int) or max_user_tool_calls < 1:
            raise ConfigError(
                f"task.max_user_tool_calls must be an integer >= 1, got {max_user_tool_calls!r}"
            )
        self.name = name
        self.domains = parse_domains(domain)
        self.data_dir: Path = resolve_data_dir(data_dir)
        self.tasks_file = tasks_file
        self.prompt_mode = prompt
        if prompt == "auto":
            small = context_len is not None and context_len < AUTO_COMPACT_BELOW
            self.prompt_mode = "compact" if small else "full"
        self.policy_max_chars = policy_max_chars
        self.opening = opening
        self.max_user_tool_calls = max_user_tool_calls
        for d in self.domains:
            self.domain_data(d)  # fail early on a bad data folder or task file
        for key, s in (("train_split", train_split), ("split", split)):
            self._check_split(key, s)
        self.train_split, self.split = train_split, split
        self._instances: dict[str, list[TaskInstance]] = {}
        self._gold: dict[tuple[str, str], World] = {}

    def domain_data(self, domain: str) -> DomainData:
        return load_domain(self.data_dir, domain, self.tasks_file)

    def _check_split(self, key: str, split: str) -> None:
        known = sorted({s for d in self.domains for s in self.domain_data(d).splits})
        if split not in known:
            raise ConfigError(f"task.{key}: unknown split {split!r}; accepted: {', '.join(known)}")

    def system_prompt(self, domain: str) -> str:
        data = self.domain_data(domain)
        tools = AGENT_TOOLKITS[domain].tool_specs()
        return system_prompt(data.policy, tools, self.prompt_mode, self.policy_max_chars)

    def native_system_prompt(self, domain: str) -> str:
        """The system prompt when the chat template renders the tools (no text tool listing)."""
        policy = self.domain_data(domain).policy
        return native_system_prompt(policy, self.prompt_mode, self.policy_max_chars)

    def agent_tools(self, domain: str) -> list[dict]:
        """The agent's tools of a domain as JSON schemas, as every instance declares them."""
        return [s.json_schema() for s in AGENT_TOOLKITS[domain].tool_specs().values()]

    def tool_schemas(self, domain: str, side: str = "assistant") -> list[dict]:
        """A domain's tools as JSON-schema dicts: the agent's, or (side="user") the phone's."""
        if domain not in self.domains:
            raise ConfigError(
                f"domain {domain!r} is not in task.domain ({', '.join(self.domains)})"
            )
        world = World(self.domain_data(domain), self.strict_upstream)
        kit = world.toolkit(side)
        return [s.json_schema() for s in kit.specs.values()] if kit is not None else []

    def instances(self, split: str) -> list[TaskInstance]:
        if split not in self._instances:
            self._check_split("split", split)
            out = []
            for domain in self.domains:
                data = self.domain_data(domain)
                prompt = self.system_prompt(domain)
                native = self.native_system_prompt(domain)
                tools = self.agent_tools(domain)
                for task_id in data.splits.get(split, []):
                    if task_id not in data.tasks:
                        raise ConfigError(
                            f"task.data_dir: split {split!r} of {domain} names task {task_id!r}, "
                            f"which {self.tasks_file} does not contain"
                        )
                    out.append(
                        TaskInstance(
                            id=f"{domain}/{task_id}",
                            messages=[
                                {"role": "system", "content": prompt},
                                {"role": "user", "content": self.opening},
                            ],
                            hidden={"domain": domain, "task_id": task_id},
                            tools=tools,
                            native_messages=[
                                {"role": "system", "content": native},
                                {"role": "user", "content": self.opening},
                            ],
                        )
                    )
            self._instances[split] = out
        return self._instances[split]

    def gold(self, domain: str, task_id: str) -> World:
        """The task's gold end state (built once, then shared read-only)."""
        key = (domain, task_id)
        if key not in self._gold:
            data = self.domain_data(domain)
            self._gold[key] = gold_world(
                data, data.tasks[task_id], strict_upstream=self.strict_upstream
            )
        return self._gold[key]

    def make_env(self, instance: TaskInstance) -> Tau2Env:
        domain, task_id = instance.hidden["domain"], instance.hidden["task_id"]
        gold = partial(self.gold, domain, task_id)
        data = self.domain_data(domain)
        return Tau2Env(
            instance,
            self.max_turns,
            data,
            gold,
            self.max_user_tool_calls,
            strict_upstream=self.strict_upstream,
            max_steps=self.max_steps,
            max_errors=self.max_errors,
        )

    def parses(self, action: str) -> bool:
        """A readable tool call, or a message to the customer (any text without a ``TOOL:`` line)."""
        call = parse_tool_call(action)
        return call is None or call.error is None

    def oracle_action(self, env: Tau2Env) -> str:
        """Replay the gold actions one per turn, then state the required information."""
        return env.oracle_action()

    def demo_action(self, env: Tau2Env, rng: random.Random, slip: float = 0.2) -> str:
        """An imperfect demonstrator for the starter's warm start: the oracle's plan, but with
        probability ``slip`` a turn is spent on a question to the customer instead (the plan is
        indexed by turn, so the step it replaced is skipped), or a tool call loses one argument
        (the tool answers with an error). Its value is the tool-call syntax, the ids copied from
        the conversation and the shape of an episode, not the skill."""
        action = env.oracle_action()
        if rng.random() >= slip:
            return action
        call = parse_tool_call(action)
        if call is not None and call.error is None and call.arguments and rng.random() < 0.5:
            args = dict(call.arguments)
            args.pop(rng.choice(sorted(args)))
            return format_tool_call(call.name, args)
        return rng.choice(DEMO_QUESTIONS)


def parse_domains(domain: str | list[str]) -> list[str]:
    """``all``, one domain, a comma-separated string or a list -> domain names in order."""
    if isinstance(domain, str):
        names = list(DOMAIN_NAMES) if domain == "all" else [d.strip() for d in domain.split(",")]
    else:
        try:
            names = [str(d) for d in domain]
        except TypeError:
            raise ConfigError(
                f"task.domain must be a name, 'all' or a list, got {domain!r}"
            ) from None
    if not names or any(not n for n in names):
        raise ConfigError(
            f"task.domain is empty; accepted: all, {', '.join(DOMAIN_NAMES)} or a list"
        )
    unknown = [n for n in names if n not in DOMAIN_NAMES]
    if unknown:
        raise ConfigError(
            f"task.domain: unknown {unknown}; accepted: all, {', '.join(DOMAIN_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"task.domain lists a domain twice: {names}")
    return names
