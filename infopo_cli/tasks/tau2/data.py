"""Reading a tau2-bench data folder: databases, policies, tasks, splits, user guidelines.

Layout (``<data_dir>/``): ``domains/<domain>/`` with ``db.json`` (airline, retail) or ``db.toml``
plus ``user_db.toml`` (telecom), the policy (``policy.md``; telecom: ``main_policy.md`` and
``tech_support_manual.md``), a task file (``tasks.json`` by default), ``split_tasks.json`` (a
split ``S`` may keep tasks of its own in ``tasks_S.json``, as telecom's ``small`` does);
``user_simulator/simulation_guidelines.md`` (and ``..._tools.md`` for users with tools).

Everything is parsed once per process (``load_domain`` is cached); episodes share the parsed
databases through copy-on-write tables (``store.py``). Missing files and malformed task rows raise
``ConfigError`` naming the file or task and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from infopo_cli.data.locations import resolve_dataset
from infopo_cli.errors import ConfigError
from infopo_cli.tasks.tau2.phone import phone_state
from infopo_cli.tasks.tau2.telecom import tables_from_toml

DOMAIN_NAMES = ("airline", "retail", "telecom")
ENV_VAR = "INFOPO_TAU2_DATA"
REWARD_TYPES = ("DB", "COMMUNICATE", "ENV_ASSERTION", "ACTION", "NL_ASSERTION")
LAYOUT_HINT = "a tau2-bench data folder with domains/<domain>/ and user_simulator/"


@dataclass
class DomainData:
    """One domain as read from disk. ``base`` and ``phone_base`` are shared: never mutate them."""

    name: str
    base: dict[str, dict[str, Any]]
    phone_base: dict | None
    policy: str
    tasks: dict[str, dict]
    splits: dict[str, list[str]]
    guidelines: str
    extra: dict = field(default_factory=dict)


def resolve_data_dir(data_dir: str | None) -> Path:
    """``data_dir``, else $INFOPO_TAU2_DATA, else what ``infopo data fetch tau2`` installed
    (``$INFOPO_CACHE/data/tau2``); a relative path is taken from the working directory."""
    return resolve_dataset(
        "tau2", data_dir, ENV_VAR, lambda p: (p / "domains").is_dir(), "task.data_dir", LAYOUT_HINT
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"task.data_dir: missing {path}; expected {LAYOUT_HINT}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"task.data_dir: {path} is not valid JSON ({e})") from None


def _read_toml(path: Path) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(
                "task.domain=telecom needs Python 3.11+ (tomllib) or the tomli package"
            ) from None
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"task.data_dir: missing {path}; expected {LAYOUT_HINT}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"task.data_dir: {path} is not valid TOML ({e})") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"task.data_dir: missing {path}; expected {LAYOUT_HINT}") from None


@lru_cache(maxsize=16)
def load_domain(data_dir: Path, domain: str, tasks_file: str) -> DomainData:
    """Parse one domain of a data folder (cached per folder, domain and task file)."""
    if domain not in DOMAIN_NAMES:
        raise ConfigError(f"task.domain: unknown {domain!r}; accepted: {', '.join(DOMAIN_NAMES)}")
    folder = data_dir / "domains" / domain
    if not folder.is_dir():
        raise ConfigError(
            f"task.data_dir: {data_dir} has no domains/{domain}/; expected {LAYOUT_HINT}"
        )
    guide = data_dir / "user_simulator"
    if domain == "telecom":
        base = tables_from_toml(_read_toml(folder / "db.toml"))
        phone_base = phone_state(_read_toml(folder / "user_db.toml"))
        policy = (
            "<main_policy>\n"
            + _read_text(folder / "main_policy.md").strip()
            + "\n</main_policy>\n<tech_support_policy>\n"
            + _read_text(folder / "tech_support_manual.md").strip()
            + "\n</tech_support_policy>"
        )
        guidelines = _read_text(guide / "simulation_guidelines_tools.md")
    else:
        base = _read_json(folder / "db.json")
        phone_base = None
        policy = _read_text(folder / "policy.md").strip()
        guidelines = _read_text(guide / "simulation_guidelines.md")
    rows = _read_json(folder / tasks_file)
    if isinstance(rows, dict) and "tasks" in rows:
        rows = rows["tasks"]
    if not isinstance(rows, list):
        raise ConfigError(f"task.tasks_file: {folder / tasks_file} must hold a JSON list of tasks")
    tasks = {}
    for i, row in enumerate(rows):
        validate_task(row, f"{folder / tasks_file} task #{i}")
        tasks[str(row["id"])] = row
    splits = _read_json(folder / "split_tasks.json")
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise ConfigError(
            f"task.data_dir: {folder / 'split_tasks.json'} must map split names to id lists"
        )
    splits = {name: [str(i) for i in ids] for name, ids in splits.items()}
    for name in splits:  # a split may keep its tasks in its own file (telecom: tasks_small.json)
        extra = folder / f"tasks_{name}.json"
        if extra.name != tasks_file and extra.is_file():
            for i, row in enumerate(_read_json(extra)):
                validate_task(row, f"{extra} task #{i}")
                tasks.setdefault(str(row["id"]), row)
    return DomainData(domain, base, phone_base, policy, tasks, splits, guidelines.strip())


def validate_task(row: Any, where: str) -> None:
    """Check the fields the task uses; a malformed row raises ConfigError naming it."""
    if not isinstance(row, dict) or "id" not in row:
        raise ConfigError(f"{where}: a task must be an object with an 'id'")
    where = f"{where} (id {row['id']!r})"
    scenario = row.get("user_scenario")
    if not isinstance(scenario, dict) or not isinstance(scenario.get("instructions"), (dict, str)):
        raise ConfigError(f"{where}: 'user_scenario.instructions' must be an object or a string")
    crit = row.get("evaluation_criteria")
    if not isinstance(crit, dict):
        raise ConfigError(f"{where}: 'evaluation_criteria' must be an object")
    for a in crit.get("actions") or []:
        if (
            not isinstance(a, dict)
            or not isinstance(a.get("name"), str)
            or not isinstance(a.get("arguments"), dict)
        ):
            raise ConfigError(f"{where}: each gold action needs a 'name' and an 'arguments' object")
        if a.get("requestor", "assistant") not in ("assistant", "user"):
            raise ConfigError(f"{where}: action requestor must be 'assistant' or 'user'")
    basis = crit.get("reward_basis") or ["DB", "COMMUNICATE"]
    unknown = [b for b in basis if b not in REWARD_TYPES]
    if unknown:
        raise ConfigError(
            f"{where}: unknown reward_basis {unknown}; accepted: {', '.join(REWARD_TYPES)}"
        )
    for info in crit.get("communicate_info") or []:
        if not isinstance(info, str):
            raise ConfigError(f"{where}: communicate_info entries must be strings")
    state = row.get("initial_state") or {}
    for a in state.get("initialization_actions") or []:
        if a.get("env_type") not in ("assistant", "user") or not isinstance(
            a.get("func_name"), str
        ):
            raise ConfigError(
                f"{where}: initialization actions need env_type assistant|user and func_name"
            )
    if state.get("initialization_data") or state.get("message_history"):
        raise ConfigError(
            f"{where}: initialization_data and message_history are not supported "
            "(none of the airline, retail and telecom tasks use them)"
        )


def reward_basis(row: dict) -> list[str]:
    """The components a task is scored on (DB and COMMUNICATE when the file leaves it out)."""
    return list(row["evaluation_criteria"].get("reward_basis") or ["DB", "COMMUNICATE"])
