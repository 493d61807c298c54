"""``infopo <train|sft|eval|report|view>``: dispatch only.

Each subcommand (but report and view) is a Hydra app, so every Hydra feature works (``-m``, ``--cfg job``,
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
GROUPS = ("task", "simulator", "model", "engine", "fusion", "trainer", "logger", "infogain")


def usage() -> str:
    from infopo_cli.config import group_options

    lines = [
        "usage: infopo <command> [key=value ...] [-m] [--help]",
        "",
        "commands:",
        *(f"  {name:<7} {doc}" for name, (_, _, doc) in APPS.items()),
        "  report  infopo report <run or sweep dirs...> --out <dir>: tables and learning curves",
        "  view    infopo view RUN_DIR [--step N ...]: RUN_DIR/view.html, each turn's IG and advantage",
        "",
        "config groups (pick with group=option; set fields with group.key=value):",
        *(f"  {g:<10} {', '.join(group_options(g))}" for g in GROUPS),
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


def precheck(config_name: str, overrides: list[str]) -> None:
    """Compose and validate the config for these overrides; one clear line on the first problem."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from infopo_cli.config import CONF_DIR, group_options, validate

    try:
        sets = _expand(overrides)
    except HydraException as e:
        fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for ov in sets:
            for o in ov:  # unknown group option: name the group's options
                key, _, val = o.partition("=")
                group = key.lstrip("+~")
                if group in GROUPS and "." not in group and val and val not in group_options(group):
                    fail(
                        f"{group}={val} is not an option; accepted: {', '.join(group_options(group))}"
                    )
            try:
                cfg = compose(config_name=config_name, overrides=ov)
                validate(cfg)
            except ConfigError as e:
                fail(str(e))
            except (HydraException, OmegaConfBaseException) as e:
                fail(str(e).splitlines()[0])


def run_app(name: str, argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from infopo_cli.config import CONF_DIR
    from infopo_cli.simulators.base import FatalSimulatorError

    config_name, target, _ = APPS[name]
    overrides = [a for a in argv if not a.startswith("-")]
    if not any(
        a in ("--help", "-h", "--hydra-help", "--info") or a.startswith(("--cfg", "-c"))
        for a in argv
    ):
        precheck(config_name, overrides)
        if name in ("train", "sft") and "-m" not in argv and "--multirun" not in argv:
            argv = resolve_resume(config_name, argv)
            overrides = [a for a in argv if not a.startswith("-")]
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
            fail(str(e))
        except FatalSimulatorError as e:  # bad key, unknown model: nothing to retry
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


def resolve_resume(config_name: str, argv: list[str]) -> list[str]:
    """``resume=auto`` becomes the newest matching run (or a new run); a resumed run writes into its
    own folder (``hydra.run.dir``) unless the command names another, and Hydra writes no second
    ``.hydra/`` config over the run's."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from infopo_cli.config import CONF_DIR
    from infopo_cli.runtime.resume import find_auto, output_root

    value = next((a.partition("=")[2] for a in reversed(argv) if a.startswith("resume=")), None)
    if not value or value == "null":
        return argv
    if value == "auto":
        plain = [a for a in argv if not a.startswith(("-", "resume="))]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=plain, return_hydra_config=True)
        template = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
        root = output_root(template)
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
    from infopo_cli.runtime.resume import record, resumed_config

    run_dir = Path(cfg.resume)
    out = resumed_config(cfg, run_dir, overrides)
    ckpt = latest_checkpoint(run_dir)
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
    if cmd not in APPS:
        fail(f"unknown command {cmd!r}; accepted: {', '.join(APPS)}, report, view")
    run_app(cmd, rest)


if __name__ == "__main__":
    main()
