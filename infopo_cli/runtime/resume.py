"""Resuming a run as the run it was: its own saved config, its own folder.

``resume=<run dir>`` continues that run from its last complete checkpoint with the config it saved
(``config.yaml``), whatever the defaults are today. Command-line overrides that would change it are
refused in one line; ``RESUMABLE`` keys may change (extending a run, logging), and each resume is
recorded in ``resumes.jsonl``. ``resume=auto`` picks the newest run under the same output root
whose config equals this one's (apart from ``RESUMABLE``); with none it starts a new run.

The order of the checks is the user's order: the saved config is read before anything is built, so
a refused resume writes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from infopo_cli.errors import ConfigError

RESUMABLE = ("trainer.steps", "logger", "model.device", "resume")
"""Keys (and everything under them) a resume may change: extending the run, its logging, and the
device it continues on (a checkpoint loads onto any device); ``resume`` itself names the run."""


RESUMABLE_SHOWN = "trainer.steps, logger.*, model.device"


def may_change(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in RESUMABLE)


def saved_config(run_dir: Path) -> DictConfig:
    """The config a run saved when it started (``<run dir>/config.yaml``)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"resume={run_dir}: no config.yaml there (not a run directory)")
    return OmegaConf.load(path)


def _plain(node):
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def resumed_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The run's saved config with the ``RESUMABLE`` keys of ``cfg`` (this command's composed config)
    applied. An override of any other key that gives a value other than the saved one is refused."""
    saved = saved_config(run_dir)
    given = override_keys(overrides)
    for key in given:
        if may_change(key):
            continue
        now, then = OmegaConf.select(cfg, key), OmegaConf.select(saved, key)
        if _plain(now) != _plain(then):
            shown = (
                then if not OmegaConf.is_config(then) else OmegaConf.select(saved, f"{key}.name")
            )
            raise ConfigError(
                f"resume: {key} would change from the run's {shown!r}; a resumed run keeps its own "
                f"config (may change on resume: {RESUMABLE_SHOWN})"
            )
    out = saved.copy()
    for key in RESUMABLE[:-1]:  # only what this command sets: the rest stays the run's
        if any(k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in given):
            OmegaConf.update(out, key, _plain(OmegaConf.select(cfg, key)), merge=False)
    out.resume = str(run_dir)
    return out


def override_keys(overrides: list[str]) -> list[str]:
    """The config keys a list of ``key=value`` / ``group=option`` overrides names (not hydra's)."""
    keys = []
    for o in overrides:
        key = o.partition("=")[0].lstrip("+~")
        if key and not key.startswith("hydra") and not o.startswith("-"):
            keys.append(key)
    return keys


def record(run_dir: Path, step: int, overrides: list[str]) -> None:
    """One line per resume in ``<run dir>/resumes.jsonl``: when, from which step, with what."""
    line = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "from_step": step, "overrides": overrides}
    with (Path(run_dir) / "resumes.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


def output_root(run_dir_template: str) -> Path:
    """Where runs of this kind live: the part of ``hydra.run.dir`` before its first interpolation
    (``outputs/${now:...}/...`` -> ``outputs``), or the parent of a fixed run dir."""
    fixed = run_dir_template.split("${", 1)[0]
    if fixed != run_dir_template:
        return Path(fixed.rstrip("/") or ".")
    return Path(run_dir_template).parent


def find_auto(root: Path, cfg: DictConfig) -> Path | None:
    """The newest run under ``root`` with a complete checkpoint whose saved config equals ``cfg``
    apart from the ``RESUMABLE`` keys; None when there is none."""

    def comparable(c) -> dict:
        d = _plain(c)
        d.pop("resume", None)
        d.pop("logger", None)
        d.get("trainer", {}).pop("steps", None)
        return d

    want = comparable(cfg)
    found = []
    for cfg_path in Path(root).rglob("config.yaml"):
        run = cfg_path.parent
        states = sorted(run.glob("checkpoints/step_*/state.json"))
        if not states:
            continue
        try:
            same = comparable(OmegaConf.load(cfg_path)) == want
        except Exception:  # a foreign or half-written yaml is not a run of ours
            continue
        if same:
            found.append((states[-1].stat().st_mtime, run))
    return max(found)[1] if found else None
