"""``infopo <train|sft|eval|report|view|data>``: dispatch only.

Each subcommand (but report, view and data) is a Hydra app, so every Hydra feature works (``-m``, ``--cfg job``,
overrides, ``hydra.run.dir=``). Before Hydra starts, the overrides are composed once and validated, so
a wrong value is one line naming the field and what it accepts (exit code 2), not a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infopo_cli.errors import ConfigError

APPS = {
    "train": (
        "train",
        "infopo_cli.recipes.train:train_main",
        "RL training with InfoPO (default: the embedded clarify task on CPU)",
    ),
    "sft": (
        "sft",
        "infopo_cli.recipes.sft:sft_main",
        "supervised warm start on demonstrations or a JSONL of chats",
    ),
    "eval": (
        "eval",
        "infopo_cli.recipes.evaluate:evaluate_main",
        "evaluate a model, a run's checkpoint or an oracle on a task split",
    ),
}
GROUPS = (
    "task",
    "simulator",
    "model",
    "engine",
    "fusion",
    "trainer",
    "logger",
    "infogain",
    "experiment",
    "model_tuning",
    "task_tuning",
)
HELP_GROUPS = (*GROUPS, "hydra/launcher")
# Hydra's own flags that take a value (``--config-dir DIR`` as well as ``--config-dir=DIR``)
VALUE_FLAGS = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--experimental-rerun",
}


def usage() -> str:
    from infopo_cli.config import group_options

    lines = [
        "usage: infopo <command> [key=value ...] [-m] [--help]",
        "",
        "commands:",
        *(f"  {name:<7} {doc}" for name, (_, _, doc) in APPS.items()),
        "  report  infopo report <run or sweep dirs...> --out <dir>: tables and learning curves",
        "  view    infopo view RUN_DIR [--step N ...]: RUN_DIR/view.html, each turn's IG and advantage",
        "  data    infopo data fetch usergym|tau2|colbench: pinned benchmark data into the cache",
        "",
        "config groups (pick with group=option; set fields with group.key=value):",
        *(f"  {g:<14} {', '.join(group_options(g))}" for g in HELP_GROUPS),
        "  (experiment adds with +experiment=; model_tuning follows model, task_tuning model and",
        "   task; hydra/launcher runs sweeps)",
        "  your own groups: --config-dir DIR (DIR/task/<option>.yaml, ...); docs/extending.md",
        "",
        "examples:",
        "  infopo train                                   # embedded default on CPU",
        "  infopo train task=coding model=qwen2.5-7b engine=vllm simulator=openai",
        "  infopo train -m fusion=variance_gated,none seed=1,2,3",
        "  infopo eval task=clarify run=outputs/<date>/<time>",
        "  infopo train --help                            # groups, options and the full config",
    ]
    return "\n".join(lines)


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def _expand(overrides: list[str]) -> list[list[str]]:
    """Override sets to validate: every sweep value once, the other sweeps at their first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    base, sweeps = [], []
    for o in parsed:
        if o.is_hydra_override() or o.key_or_group.startswith("hydra"):
            continue
        if o.is_sweep_override():
            values = list(o.sweep_string_iterator())
            sweeps.append((o, values))
            base.append(f"{o.get_key_element()}={values[0]}")
        else:
            base.append(o.input_line)
    sets = [base]
    for o, values in sweeps:
        key = o.get_key_element()
        for v in values[1:]:
            sets.append([x if not x.startswith(f"{key}=") else f"{key}={v}" for x in base])
    return sets


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(overrides, search path): the key=value words, and the config folders given with
    ``--config-dir`` or ``hydra.searchpath=[...]`` (as Hydra search-path entries)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides, searchpath, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            flag, eq, val = a.partition("=")
            if flag in VALUE_FLAGS and not eq and i + 1 < len(argv):
                i += 1
                val = argv[i]
            if flag in ("--config-dir", "-cd"):
                searchpath.append(f"file://{Path(val).expanduser().resolve()}")
        else:
            overrides.append(a)
        i += 1
    for a in overrides:
        if a.startswith("hydra.searchpath="):
            try:
                value = OverridesParser.create().parse_override(a).value()
            except Exception:
                continue
            searchpath.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return overrides, searchpath


def replace_targets(argv: list[str]) -> list[str]:
    """``task._target_=my.Task`` (or ``simulator._target_=``) without a ``task=`` option replaces the
    default option's keys instead of merging into them: the new class gets only the keys given."""
    words, i = [], 0
    while i < len(argv):  # (index, word) of the overrides, flag values skipped
        a = argv[i]
        if a.startswith("-"):
            i += 2 if a in VALUE_FLAGS else 1
            continue
        words.append((i, a))
        i += 1
    out = list(argv)
    for group in ("task", "simulator"):
        keys = [w.partition("=")[0] for _, w in words]
        if f"{group}._target_" not in keys or any(k.lstrip("+~") == group for k in keys):
            continue
        for idx, w in words:
            if w.startswith(f"{group}."):
                out[idx] = f"+{w}"
        # an empty option rather than none: the task option also chooses the task's tuning
        out.append("task=custom" if group == "task" else f"~{group}")
    return out


def _with_searchpath(overrides: list[str], searchpath: list[str]) -> list[str]:
    plain = [o for o in overrides if not o.startswith("hydra.searchpath=")]
    return [*plain, f"hydra.searchpath=[{','.join(searchpath)}]"] if searchpath else plain


def _unknown_key(config_name: str, ov: list[str], key: str, searchpath: list[str]) -> str | None:
    """``key is not a known key (did you mean ...?); accepted: ...`` for an override of a key the
    config does not have, or None when the config without that override does not compose either."""
    import difflib

    from hydra import compose
    from omegaconf import DictConfig

    rest = [o for o in ov if o.partition("=")[0] != key]
    try:
        node = compose(config_name=config_name, overrides=_with_searchpath(rest, searchpath))
    except Exception:
        return None
    parts = key.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, DictConfig) and part in node:
            node = node[part]
            continue
        prefix = ".".join(parts[:i])
        known = sorted(str(k) for k in node) if isinstance(node, DictConfig) else []
        close = difflib.get_close_matches(part, known, n=1)
        where = f"{prefix}." if prefix else ""
        hint = f" (did you mean {where}{close[0]}?)" if close else ""
        accepted = ", ".join(known) if known else f"none ({prefix} is a value, not a group)"
        return f"{key} is not a known key{hint}; accepted: {accepted}"
    return None


def check_targets(cfg) -> None:
    """``task`` and ``simulator`` name importable classes, and every key of theirs is a parameter."""
    from infopo_cli.recipes.setup import check_params, load_target

    for group in ("task", "simulator"):
        node = cfg.get(group)
        if node is not None and "_target_" in node:
            check_params(node, group, load_target(node._target_, group))


def precheck(config_name: str, overrides: list[str], searchpath: list[str] | None = None) -> None:
    """Compose and validate the config for these overrides; one clear line on the first problem."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from infopo_cli.config import CONF_DIR, group_options, validate

    searchpath = searchpath or []
    try:
        sets = _expand(overrides)
    except HydraException as e:
        fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for ov in sets:
            for o in ov:  # unknown group option: name the group's options
                key, _, val = o.partition("=")
                group = key.lstrip("+~")
                options = group_options(group, searchpath)
                if group in GROUPS and val and val != "null" and val not in options:
                    fail(f"{group}={val} is not an option; accepted: {', '.join(options)}")
            try:
                cfg = compose(config_name=config_name, overrides=_with_searchpath(ov, searchpath))
                validate(cfg)
                check_targets(cfg)
            except ConfigError as e:
                fail(str(e))
            except (HydraException, OmegaConfBaseException) as e:
                first = str(e).splitlines()[0]
                if first.startswith("Could not override '"):
                    key = first[len("Could not override '") :].split("'")[0]
                    first = _unknown_key(config_name, ov, key, searchpath) or first
                fail(first)


def run_app(name: str, argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from infopo_cli.config import CONF_DIR
    from infopo_cli.simulators.base import FatalSimulatorError

    config_name, target, _ = APPS[name]
    argv = replace_targets(argv)
    overrides, searchpath = split_args(argv)
    if (
        not any(
            a in ("--help", "-h", "--hydra-help", "--info") or a.startswith(("--cfg", "-c="))
            for a in argv
        )
        and "-c" not in argv
    ):
        precheck(config_name, overrides, searchpath)
        if name in ("train", "sft") and "-m" not in argv and "--multirun" not in argv:
            argv = resolve_resume(config_name, argv, searchpath)
            overrides, _ = split_args(argv)
        if "-m" not in argv and "--multirun" not in argv:
            argv = quiet_follower(argv)
    module, fn = target.split(":")

    def task_fn(cfg) -> None:
        import importlib

        _quiet_libraries()
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            if cfg.get("resume") == "auto":  # a sweep job (requeued or not): its own run dir
                from infopo_cli.runtime.checkpoint import latest_checkpoint

                cfg.resume = str(run_dir) if latest_checkpoint(run_dir) else None
            if cfg.get("resume"):
                cfg = resumed(cfg, overrides)
            getattr(importlib.import_module(module), fn)(cfg, run_dir)
        except ConfigError as e:
            if HydraConfig.get().mode.name == "MULTIRUN":
                raise  # let Hydra mark this job failed and go on with the sweep
            discard_if_unused(run_dir)
            fail(str(e))
        except FatalSimulatorError as e:  # bad key, unknown model: nothing to retry
            discard_if_unused(run_dir)
            print(f"error: simulator: {e}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            print(
                f"\ninterrupted; completed checkpoints are under {run_dir / 'checkpoints'}",
                file=sys.stderr,
            )
            sys.exit(130)

    sys.argv = [f"infopo {name}", *argv]
    hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")(task_fn)()


def discard_if_unused(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's ``.hydra/`` and the log: the command
    failed before any work, so there is no run to keep (an empty dated parent goes with it)."""
    import re
    import shutil

    if not run_dir.is_dir():
        return
    for p in run_dir.iterdir():
        if not ((p.name == ".hydra" and p.is_dir()) or (p.suffix == ".log" and p.is_file())):
            return
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", parent.name) and not any(parent.iterdir()):
        parent.rmdir()


def quiet_follower(argv: list[str]) -> list[str]:
    """Under torchrun every rank composes the config, and Hydra would write ``.hydra/`` and the job
    log into the run dir from each: on several nodes sharing a file system, several writers on one
    file. Ranks other than global rank 0 (``LOCAL_RANK`` is 0 once per node, so it cannot tell)
    write neither; their log lines go to stdout."""
    from infopo_cli.runtime.distributed import launch_rank

    if launch_rank() == 0:
        return argv
    extra = []
    if not any(a.startswith("hydra.output_subdir=") for a in argv):
        extra.append("hydra.output_subdir=null")
    if not any(a.startswith("hydra/job_logging=") for a in argv):
        extra.append("hydra/job_logging=stdout")
    return [*argv, *extra]


def resolve_resume(
    config_name: str, argv: list[str], searchpath: list[str] | None = None
) -> list[str]:
    """``resume=auto`` becomes the newest matching run (or a new run); a resumed run writes into its
    own folder (``hydra.run.dir``) unless the command names another, and Hydra writes no second
    ``.hydra/`` config over the run's."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from infopo_cli.config import CONF_DIR
    from infopo_cli.runtime.resume import find_auto, output_root

    value = next((a.partition("=")[2] for a in reversed(argv) if a.startswith("resume=")), None)
    if not value or value == "null":
        return argv
    if value == "auto":
        plain = [a for a in split_args(argv)[0] if not a.startswith("resume=")]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                config_name=config_name,
                overrides=_with_searchpath(plain, searchpath or []),
                return_hydra_config=True,
            )
        template = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
        root = output_root(template)
        with open_dict(cfg):  # composed in struct mode; the hydra node is not a run setting
            del cfg["hydra"]
        found = find_auto(root, cfg)
        if found is None:
            print(f"resume=auto: no earlier run with this config under {root}; starting a new run")
            return [a for a in argv if not a.startswith("resume=")]
        print(f"resume=auto: continuing {found}")
        argv = [a for a in argv if not a.startswith("resume=")] + [f"resume={found}"]
        value = str(found)
    if not Path(value).is_dir():
        fail(f"resume={value!r} is not a run directory; accepted: a run dir, or resume=auto")
    if not any(a.startswith("hydra.run.dir=") for a in argv):
        argv = [*argv, f"hydra.run.dir={value}", "hydra.output_subdir=null"]
    return argv


def resumed(cfg, overrides: list[str]):
    """The run's own saved config with what may change on resume; the resume recorded."""
    from infopo_cli.runtime.checkpoint import latest_checkpoint
    from infopo_cli.runtime.distributed import launch_rank
    from infopo_cli.runtime.resume import record, resumed_config

    run_dir = Path(cfg.resume)
    out = resumed_config(cfg, run_dir, overrides)
    ckpt = latest_checkpoint(run_dir)
    if launch_rank() == 0:  # one line per resume, not one per rank
        record(run_dir, int(ckpt.name.split("_")[-1]) if ckpt else 0, overrides)
    return out


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    cmd, rest = argv[0], argv[1:]
    if cmd == "report":
        from infopo_cli.recipes.report import report_cli

        try:
            report_cli(rest)
        except ConfigError as e:
            fail(str(e))
        return
    if cmd == "view":
        from infopo_cli.recipes.view import view_cli

        try:
            view_cli(rest)
        except ConfigError as e:
            fail(str(e))
        return
    if cmd == "data":
        from infopo_cli.recipes.data import data_cli

        try:
            data_cli(rest)
        except ConfigError as e:
            fail(str(e))
        return
    if cmd not in APPS:
        fail(f"unknown command {cmd!r}; accepted: {', '.join(APPS)}, report, view, data")
    run_app(cmd, rest)


if __name__ == "__main__":
    main()
