"""The learning comparison: InfoPO vs GRPO, the fusion ablations, the untrained starter and the oracle.

    python scripts/compare.py                 # the default settings, 3 seeds (about 2 hours on 2 CPU cores)
    python scripts/compare.py --quick         # a smoke version: 1 seed, 4 steps, 20 test tasks
                                              # (plus a first build of starter-tracking, 8 min)
    python scripts/compare.py --settings clarify_compare --methods variance_gated none
    python scripts/compare.py --settings clarify_compare --methods variance_gated none rloo \
        reward_to_go equalized dapo       # InfoPO against the baselines
    python scripts/compare.py --settings clarify_vague --shifted task.vague_rate=0.8
                                          # also every trained policy against another user

For each setting (an experiment config under infopo_cli/conf/experiment/) it runs a Hydra multirun
of `infopo train` over fusion modes x seeds (and one more per method with other overrides: dapo),
evaluates the untrained starter and the oracle
on the same test tasks with `infopo eval`, then writes `infopo report` over all of it. With
``--shifted``, every trained policy's last checkpoint and the untrained starter are evaluated once
more against a user they were not trained with (the overrides given: another vagueness rate, reply
style or simulator), into ``<run>/shifted/`` and ``<setting>/starter_shifted/``; the overrides are
written to ``<setting>/shift.txt`` for ``scripts/setting_results.py``. Runs go one at a time (the
CPU is the bottleneck); a finished setting is not re-run when its report exists, and a finished
shifted evaluation is not re-run either. An interrupted study resumes: the same command runs only
the (method, seed) pairs that have no finished run under the setting folder (each seed's missing
methods in a folder of its own, ``train+s<seed>``), then the evaluations and reports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "infopo_cli" / "conf" / "experiment"
# A method: the overrides of its training runs. Most are a fusion option; dapo is plain GRPO with
# DAPO's dynamic sampling of tied groups (docs/method.md, Baselines).
METHODS = {
    "variance_gated": ["fusion=variance_gated"],  # InfoPO
    "none": ["fusion=none"],  # GRPO
    "fixed": ["fusion=fixed"],  # fixed beta, no gate
    "ig_only": ["fusion=ig_only"],
    "rloo": ["fusion=rloo"],  # leave-one-out baseline
    "reward_to_go": ["fusion=reward_to_go"],  # UserRL-style turn credit
    "equalized": ["fusion=equalized"],
    "dapo": ["fusion=none", "trainer.dynamic_sampling_max_rounds=4"],
    # InfoPO with information credit only for messages in the task's protocol (an empty or
    # unreadable message draws a reply that moves the next action, yet informs nothing)
    "parsed_only": ["fusion=variance_gated", "infogain.parsed_only=true"],
}
ABLATIONS = ["variance_gated", "none", "fixed", "ig_only"]  # InfoPO, GRPO and InfoPO's ablations
# The main setting runs InfoPO and its ablations; the harder ones InfoPO against GRPO only, the
# question they are for (where outcomes tie longest). The default runs main, tight and tracking (30
# training runs and one starter build: about 2 hours on 2 cores); short and hard are there for
# --settings (short lies between main and tight; hard is out of the starter's reach: every rollout
# fails). The baselines (rloo, reward_to_go, equalized, dapo) run when --methods names them. vague,
# dependent and ack are the settings where a reply's content decides the next message (each builds
# its own starter on first use, about 8 minutes on an idle machine).
SETTINGS = {
    "clarify_compare": ABLATIONS,
    "clarify_compare_short": ABLATIONS[:2],
    "clarify_compare_hard": ABLATIONS[:2],
    "clarify_compare_tight": ABLATIONS[:2],
    "clarify_compare_tracking": ABLATIONS[:2],
    "clarify_vague": ABLATIONS[:2],
    "clarify_dependent": ABLATIONS[:2],
    "clarify_ack": ABLATIONS[:2],
}
DEFAULT_SETTINGS = ["clarify_compare", "clarify_compare_tight", "clarify_compare_tracking"]


def compose_setting(setting: str):
    """The train config of a setting (includes and all) and of the plain default."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(EXPERIMENTS.parent), version_base="1.3"):
        plain = compose(config_name="train")
        return compose(config_name="train", overrides=[f"+experiment={setting}"]), plain


def task_overrides(setting: str) -> list[str]:
    """The task knobs the setting changes, as CLI overrides, so the evaluations play exactly the
    tasks the training runs are scored on: the task fields that differ from the plain default."""
    cfg, plain = compose_setting(setting)
    return [f"task.{k}={v}" for k, v in cfg.task.items() if plain.task.get(k) != v]


def policy_model(setting: str) -> str:
    """The model the setting's runs start from (the untrained row evaluates it)."""
    return str(compose_setting(setting)[0].model.name)


def sweeps(methods: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """One multirun per set of non-fusion overrides: (sweep dir name, overrides, methods). The
    methods that only pick a fusion share one sweep over ``fusion=a,b,...`` in ``train``; every
    other set of overrides gets its own, in ``train_<first method>``."""
    by_rest: dict[tuple[str, ...], list[str]] = {}
    for m in methods:
        rest = tuple(o for o in METHODS[m] if not o.startswith("fusion="))
        by_rest.setdefault(rest, []).append(m)
    out = []
    for rest, names in by_rest.items():
        fusions = [next(o for o in METHODS[m] if o.startswith("fusion=")) for m in names]
        options = ",".join(dict.fromkeys(f.split("=", 1)[1] for f in fusions))
        sweep = "train" if not rest else f"train_{names[0]}"
        out.append((sweep, [f"fusion={options}", *rest], names))
    return out


def method_of(cfg: dict) -> str:
    """The ``METHODS`` name of a training run's config (``config.yaml``)."""
    fusion = cfg["fusion"]["mode"]
    if cfg["trainer"].get("dynamic_sampling_max_rounds", 0):
        return "dapo" if fusion == "none" else f"{fusion}+dynamic_sampling"
    if (cfg.get("infogain") or {}).get("parsed_only"):
        return "parsed_only" if fusion == "variance_gated" else f"{fusion}+parsed_only"
    return fusion


def finished(base: Path) -> set[tuple[str, int]]:
    """(method, seed) of every training run under the setting folder that reached its end
    evaluation (an interrupted run does not count: it is run again)."""
    import json

    import yaml

    done = set()
    for summary in base.glob("train*/**/summary.json"):
        if "end" in json.loads(summary.read_text()).get("evals", {}):
            cfg = yaml.safe_load((summary.parent / "config.yaml").read_text())
            done.add((method_of(cfg), int(cfg["seed"])))
    return done


def pending(
    methods: list[str], seeds: list[int], done: set[tuple[str, int]], base: Path
) -> list[tuple[Path, list[str]]]:
    """The multiruns still to run: (sweep dir, overrides incl. seeds). Nothing done: one per
    ``sweeps`` entry over every seed, seeds outermost. Else one per seed that misses a method of
    the entry, over the missing methods, each in a new folder ``<sweep dir>+s<seed>`` (a folder
    already there keeps its runs: the next free ``-2``, ``-3`` suffix is taken)."""
    out = []
    for sweep, overrides, names in sweeps(methods):
        rest = overrides[1:]  # after the fusion choice
        if not any((m, s) in done for m in names for s in seeds):
            out.append((base / sweep, [f"seed={','.join(map(str, seeds))}", *overrides]))
            continue
        for s in seeds:
            todo = [m for m in names if (m, s) not in done]
            if not todo:
                continue
            options = ",".join(dict.fromkeys(METHODS[m][0].split("=", 1)[1] for m in todo))
            folder, k = base / f"{sweep}+s{s}", 2
            while folder.exists():
                folder, k = base / f"{sweep}+s{s}-{k}", k + 1
            out.append((folder, [f"seed={s}", f"fusion={options}", *rest]))
    return out


def starter_folder(setting: str) -> str:
    """The folder of the model the setting's runs start from (built on first use)."""
    from omegaconf import OmegaConf

    from infopo_cli.zoo.registry import resolve_path

    cfg = compose_setting(setting)[0]
    return resolve_path(str(cfg.model.name), cfg.model.path, OmegaConf.to_container(cfg.task))


def last_checkpoint(run_dir: Path) -> Path | None:
    """The run's checkpoint of its highest step (``checkpoints/step_N``), if it kept one."""
    steps = sorted(run_dir.glob("checkpoints/step_*"), key=lambda p: int(p.name.split("_")[-1]))
    return steps[-1] if steps else None


def shifted_evals(
    base: Path, setting: str, tasks: list[str], shift: list[str], n_eval: int, log: Path
) -> None:
    """Every finished training run's last checkpoint, and the untrained starter, against the
    shifted user (``shift``: config overrides), decoded as the training runs evaluate (T=1)."""
    (base / "shift.txt").write_text(" ".join(shift) + "\n")
    decode = [f"model={policy_model(setting)}", "engine.max_new_tokens=24", "eval.temperature=1.0"]
    # the starter the runs started from (the setting's, not one built for the shifted task)
    targets = [(base / "starter_shifted", [f"model.path={starter_folder(setting)}"])]
    for summary in sorted(base.glob("train*/**/summary.json")):
        ckpt = last_checkpoint(summary.parent)
        if ckpt is None:
            print(f"compare: {summary.parent} kept no checkpoint; not evaluated shifted")
            continue
        targets.append((summary.parent / "shifted", [f"model.path={ckpt}"]))
    for out, model in targets:
        if (out / "eval.json").exists():
            continue
        run(
            [
                "infopo",
                "eval",
                *tasks,
                *shift,
                *model,
                *decode,
                f"eval.num_tasks={n_eval}",
                "logger=none",
                f"hydra.run.dir={out}",
            ],
            log,
        )


def run(cmd: list[str], log: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    with log.open("a") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"compare: command failed (exit {proc.returncode}); see {log}")


def write_results(base: Path, results: Path, log: Path) -> None:
    """``scripts/setting_results.py`` for one setting folder."""
    script = str(ROOT / "scripts" / "setting_results.py")
    run([sys.executable, script, str(base), "--out", str(results.resolve())], log)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="outputs/compare", help="where runs and reports go")
    ap.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        help="methods, for every setting: the fusion modes, and dapo (GRPO with dynamic sampling) "
        "(default: InfoPO and its ablations on the main setting, InfoPO and GRPO on the others)",
    )
    ap.add_argument("--quick", action="store_true", help="1 seed, 4 steps, 20 tasks: a smoke run")
    ap.add_argument(
        "--results",
        type=Path,
        help="also write <setting>.json and <setting>.md there (scripts/setting_results.py), "
        "e.g. docs/results; a plan already in the .md is kept",
    )
    ap.add_argument(
        "--shifted",
        nargs="+",
        metavar="OVERRIDE",
        help="also evaluate every trained policy and the starter against a user they were not "
        "trained with: config overrides, e.g. task.vague_rate=0.8 or simulator=<name>",
    )
    args = ap.parse_args()
    for s in args.settings:
        if not (EXPERIMENTS / f"{s}.yaml").exists():
            known = ", ".join(sorted(p.stem for p in EXPERIMENTS.glob("*.yaml")))
            sys.exit(f"compare: no experiment config {s!r}; accepted: {known}")
    seeds = args.seeds[:1] if args.quick else args.seeds
    quick_train = (
        [
            "trainer.steps=4",
            "trainer.prompts_per_step=4",
            "trainer.eval_every=2",
            "trainer.eval_tasks=20",
        ]
        if args.quick
        else []
    )
    n_eval = 20 if args.quick else 200
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "compare.log"
    t0 = time.time()
    for setting in args.settings:
        base = out / setting
        tasks = task_overrides(setting)
        todo = pending(
            args.methods or SETTINGS.get(setting, ABLATIONS), seeds, finished(base), base
        )
        if not todo and (base / "report" / "report.md").exists():
            print(f"{setting}: every run finished, training skipped ({base / 'report'})")
            if args.shifted:
                shifted_evals(base, setting, tasks, args.shifted, n_eval, log)
                if args.results:
                    write_results(base, args.results, log)
            continue
        for sweep_dir, overrides in todo:
            # seeds outermost: every method has seed 0 done before any has seed 1
            run(
                [
                    "infopo",
                    "train",
                    "-m",
                    f"+experiment={setting}",
                    *overrides,
                    f"hydra.sweep.dir={sweep_dir}",
                    *quick_train,
                ],
                log,
            )
        evals = {
            # decoded as the training runs evaluate it (T=1, trainer.eval_temperature)
            "starter": [
                f"model={policy_model(setting)}",
                "engine.max_new_tokens=24",
                "eval.temperature=1.0",
            ],
            "oracle": ["policy=oracle"],
        }
        for name, extra in evals.items():
            if (base / name / "eval.json").exists():
                continue
            run(
                [
                    "infopo",
                    "eval",
                    *tasks,
                    *extra,
                    f"eval.num_tasks={n_eval}",
                    "logger=none",
                    f"hydra.run.dir={base / name}",
                ],
                log,
            )
        if args.shifted:
            shifted_evals(base, setting, tasks, args.shifted, n_eval, log)
        run(["infopo", "report", str(base), "--out", str(base / "report")], log)
        if args.results:
            write_results(base, args.results, log)
        print(
            f"{setting}: {base / 'report' / 'report.md'} ({time.time() - t0:.0f}s so far)",
            flush=True,
        )
    print(f"compare: done in {time.time() - t0:.0f}s; log {log}")


if __name__ == "__main__":
    main()
