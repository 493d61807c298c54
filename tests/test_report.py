"""``infopo report`` on hand-made run dirs (exact table cells), the sweep.json callback driven
directly, and the real workflow: multiruns of ``infopo eval`` and (slow) ``infopo train``, then a
report over them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from infopo_cli.errors import ConfigError
from infopo_cli.recipes.report import build_report, find_run_dirs, load_run, seed_band, series
from infopo_cli.runtime.sweep import SweepIndex, group_name, planned_jobs, sweep_group

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_train_run(
    d: Path,
    mode: str,
    seed: int,
    final: float,
    beta: float = 0.5,
    train_success: tuple[float, float] = (0.0, 0.5),
) -> Path:
    """A finished 2-step training run: evals at steps 0 and 2, two training rows."""
    d.mkdir(parents=True)
    config = {
        "task": {"name": "clarify", "max_turns": 6},
        "fusion": {"mode": mode, "beta": beta},
        "trainer": {"steps": 2},
        "logger": {"name": "wandb", "group": f"sweep-of-seed-{seed}"},  # never splits a group
        "seed": seed,
    }
    OmegaConf.save(OmegaConf.create(config), d / "config.yaml")
    rows = [
        {
            "step": 0,
            "eval/success": 0.0,
            "eval/mean_reward": 0.1,
            "eval/pass_hat_k": 0.0,
            "time/eval_s": 5.0,
        }
    ]
    for step, s in zip((1, 2), train_success):
        rows.append(
            {
                "step": step,
                "train/success": s,
                "train/outcome_mean": s / 2,
                "infogain/mean": 0.01 * step,
                "fusion/gate_mean": 0.5,
                "fusion/tied_groups": 1.0 - s,
                "simulator/calls": 8,
                "simulator/tokens_in": 100,
                "simulator/tokens_out": 20,
                "time/step_s": 10.0,
            }
        )
    rows.append(
        {
            "step": 2,
            "eval/success": final,
            "eval/mean_reward": final,
            "eval/pass_hat_k": final,
            "time/eval_s": 5.0,
        }
    )
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "summary.json").write_text(json.dumps({"steps": 2, "evals": {"end": {"k": 1}}}))
    return d


def make_eval_run(d: Path, policy: str, seed: int, success: float) -> Path:
    d.mkdir(parents=True)
    out = {
        "config": {
            "policy": policy,
            "seed": seed,
            "task": {"name": "clarify", "split": "test"},
            "model": {"name": "tiny"},
        },
        "policy": policy,
        "model": "/models/tiny",
        "task": "clarify",
        "split": "test",
        "aggregate": {
            "success": success,
            "mean_reward": success,
            "pass_hat_k": success,
            "k": 1,
            "n_tasks": 4,
            "wall_s": 12.0,
        },
        "simulator": {"name": "scripted", "calls": 4, "tokens_in": 0, "tokens_out": 0},
        "tasks": [],
    }
    (d / "eval.json").write_text(json.dumps(out))
    return d


def table_rows(md: str, first_header: str) -> list[list[str]]:
    """Cells of the Markdown table whose header starts with ``first_header``."""
    lines = md.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return [rows[0]] + rows[2:]  # header, then data (no separator)


def assert_png(path: Path, min_bytes: int = 10_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > min_bytes, (path, len(data))
    import matplotlib.image

    h, w, _ = matplotlib.image.imread(path).shape
    assert h > 200 and w > 400


# ---- report on hand-made runs ----------------------------------------------------------------


def test_report_table_mean_and_spread_over_seeds(tmp_path):
    sweep = tmp_path / "sweep"
    make_train_run(sweep / "0", "variance_gated", 1, final=0.5)
    make_train_run(sweep / "1", "variance_gated", 2, final=0.7)
    make_train_run(sweep / "2", "none", 1, final=0.2)
    make_train_run(sweep / "3", "none", 2, final=0.2)
    out = tmp_path / "report"
    result = build_report([str(sweep)], out)
    md = (out / "report.md").read_text()
    rows = table_rows(md, "method")
    assert rows[0] == [
        "method", "task", "seeds", "final success", "mean reward", "pass^1", "steps",
        "wall time", "simulator calls", "simulator tokens",
    ]  # fmt: skip
    # variance_gated: 0.5 and 0.7 -> mean 0.6, sample sd sqrt(0.02) = 0.141
    # wall time 10 + 10 + 5 + 5 = 30s; 2 x 8 calls; 2 x 120 tokens
    assert rows[1:] == [
        ["none", "clarify", "1, 2", "0.200 ± 0.000", "0.200 ± 0.000", "0.200 ± 0.000", "2", "30s", "16 ± 0", "240 ± 0"],
        ["variance_gated", "clarify", "1, 2", "0.600 ± 0.141", "0.600 ± 0.141", "0.600 ± 0.141", "2", "30s", "16 ± 0", "240 ± 0"],
    ]  # fmt: skip
    assert [g["seeds"] for g in result["groups"]] == [[1, 2], [1, 2]]
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == [
        "clarify_infogain_gate.png", "clarify_reward.png", "clarify_success.png", "clarify_tied_groups.png",
    ]  # fmt: skip
    for name in names:
        assert_png(out / "plots" / name)
        assert f"plots/{name}" in md
    saved = json.loads((out / "report.json").read_text())
    assert saved["groups"][1]["per_seed"][1]["success"] == 0.7


def test_report_names_the_config_that_tells_groups_apart(tmp_path):
    make_train_run(tmp_path / "a", "variance_gated", 1, final=0.5, beta=0.5)
    make_train_run(tmp_path / "b", "variance_gated", 1, final=0.9, beta=0.3)
    make_train_run(tmp_path / "c", "none", 1, final=0.1)
    build_report([str(tmp_path)], tmp_path / "out")
    rows = table_rows((tmp_path / "out" / "report.md").read_text(), "method")
    assert rows[0][:4] == ["method", "task", "config", "seeds"]
    assert [(r[0], r[2], r[4]) for r in rows[1:]] == [
        ("none", "", "0.100"),  # one seed: no spread
        ("variance_gated", "fusion.beta=0.3", "0.900"),
        ("variance_gated", "fusion.beta=0.5", "0.500"),
    ]


def test_dynamic_sampling_is_named_in_the_method(tmp_path):
    make_train_run(tmp_path / "grpo", "none", 1, final=0.1)
    dapo = make_train_run(tmp_path / "dapo", "none", 1, final=0.3)
    cfg = OmegaConf.load(dapo / "config.yaml")
    cfg.trainer.dynamic_sampling_max_rounds = 4
    OmegaConf.save(cfg, dapo / "config.yaml")
    build_report([str(tmp_path)], tmp_path / "out")
    rows = table_rows((tmp_path / "out" / "report.md").read_text(), "method")
    assert rows[0][:3] == ["method", "task", "seeds"]  # two labels: no config column
    assert [(r[0], r[3]) for r in rows[1:]] == [
        ("none", "0.100"),
        ("none+dynamic_sampling", "0.300"),
    ]


def test_report_evaluation_table(tmp_path):
    make_eval_run(tmp_path / "e0", "prompt", 0, 0.25)
    make_eval_run(tmp_path / "e1", "prompt", 1, 0.75)
    make_eval_run(tmp_path / "e2", "oracle", 0, 1.0)
    result = build_report([str(tmp_path)], tmp_path / "out")
    rows = table_rows((tmp_path / "out" / "report.md").read_text(), "policy")
    # prompt: 0.25 and 0.75 -> 0.5 +- sqrt(0.125) = 0.354
    assert [r[:6] for r in rows[1:]] == [
        ["oracle", "/models/tiny", "clarify", "test", "0", "1.000"],
        ["prompt", "/models/tiny", "clarify", "test", "0, 1", "0.500 ± 0.354"],
    ]
    assert rows[1][-2:] == ["4", "0"]  # simulator calls and tokens
    assert result["plots"] == []  # no training curves in an eval-only report


def test_seed_band_and_smoothing():
    a = [{"step": 1, "train/success": 0.25}, {"step": 2, "train/success": 1.0}]
    b = [
        {"step": 1, "train/success": 0.75},
        {"step": 2, "train/success": 0.0},
        {"step": 3, "train/success": 1.0},
    ]
    runs = [load_run_like(a), load_run_like(b)]
    steps, mean, lo, hi = seed_band(runs, "train/success", smooth=1)
    assert steps == [1, 2, 3]
    assert mean == [0.5, 0.5, 1.0] and lo == [0.25, 0.0, 1.0] and hi == [0.75, 1.0, 1.0]
    # trailing moving average of 2: 0.75, (0.75 + 0) / 2, (0 + 1) / 2; eval curves are not smoothed
    assert series(b, "train/success", smooth=2) == {1: 0.75, 2: 0.375, 3: 0.5}
    ev = [{"step": 0, "eval/success": 0.0}, {"step": 2, "eval/success": 1.0}]
    assert series(ev, "eval/success", smooth=2) == {0: 0.0, 2: 1.0}


def load_run_like(rows: list[dict]):
    from infopo_cli.recipes.report import Run

    return Run(Path("."), "train", {"seed": 0}, rows=rows)


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        find_run_dirs([str(tmp_path / "missing")])
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        find_run_dirs([str(tmp_path / "f.txt")])
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    with pytest.raises(ConfigError, match="holds no runs"):
        find_run_dirs([str(tmp_path / "empty")])
    (tmp_path / "noconf").mkdir()
    (tmp_path / "noconf" / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(ConfigError, match="has metrics.jsonl but no config.yaml"):
        load_run(tmp_path / "noconf")


def test_cli_bad_path_exits_2_with_one_line(tmp_path, capsys):
    from infopo_cli.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: report: {tmp_path / 'nope'} does not exist; accepted: run dirs or sweep dirs"
    ]


# ---- sweep.json ------------------------------------------------------------------------------


def _hydra_cfg(sweep_dir: Path, mode=RunMode.MULTIRUN, num: int = 0, task=("seed=1",)):
    return OmegaConf.create(
        {
            "hydra": {
                "mode": mode,
                "sweep": {"dir": str(sweep_dir)},
                "job": {"num": num, "config_name": "train"},
                "runtime": {"output_dir": str(sweep_dir / str(num))},
                "overrides": {"task": list(task)},
                "sweeper": {
                    "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": None,
                },
            }
        }
    )


def test_planned_jobs_follow_the_basic_sweeper_order(tmp_path):
    cfg = _hydra_cfg(tmp_path, task=["model=tiny", "fusion=variance_gated,none", "seed=1,2"])
    assert planned_jobs(cfg) == [
        ["model=tiny", "fusion=variance_gated", "seed=1"],
        ["model=tiny", "fusion=variance_gated", "seed=2"],
        ["model=tiny", "fusion=none", "seed=1"],
        ["model=tiny", "fusion=none", "seed=2"],
    ]


def test_sweep_index_tracks_every_job(tmp_path):
    cb, sweep = SweepIndex(), tmp_path / "sweep"
    cb.on_multirun_start(_hydra_cfg(sweep, task=["seed=1,2,3"]))
    index = json.loads((sweep / "sweep.json").read_text())
    assert [(j["num"], j["overrides"], j["status"]) for j in index["jobs"]] == [
        (0, ["seed=1"], "pending"),
        (1, ["seed=2"], "pending"),
        (2, ["seed=3"], "pending"),
    ]
    assert (
        index["status"] == "running"
        and index["group"] == group_name(sweep) == f"{tmp_path.name}_sweep"
    )
    for num, status, err in (
        (0, JobStatus.COMPLETED, None),
        (1, JobStatus.FAILED, RuntimeError("boom\ntrace")),
    ):
        cfg = _hydra_cfg(sweep, num=num, task=[f"seed={num + 1}"])
        cb.on_job_start(cfg, task_function=None)
        assert json.loads((sweep / "sweep.json").read_text())["jobs"][num]["status"] == "running"
        cb.on_job_end(cfg, JobReturn(status=status, _return_value=err))
    index = json.loads((sweep / "sweep.json").read_text())
    j0, j1, j2 = index["jobs"]
    assert (j0["status"], j0["run_dir"], j0["error"]) == (
        "completed",
        str((sweep / "0").resolve()),
        None,
    )
    assert j0["duration_s"] >= 0
    assert (j1["status"], j1["error"]) == ("failed", "RuntimeError: boom")
    assert j2["status"] == "pending" and index["status"] == "running"
    cb.on_multirun_end(_hydra_cfg(sweep))
    index = json.loads((sweep / "sweep.json").read_text())
    assert [j["status"] for j in index["jobs"]] == ["completed", "failed", "unfinished"]
    assert index["status"] == "failed" and index["finished"]


def test_sweep_index_ignores_single_runs(tmp_path):
    cfg = _hydra_cfg(tmp_path, mode=RunMode.RUN)
    SweepIndex().on_job_start(cfg, task_function=None)
    SweepIndex().on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED))
    assert not (tmp_path / "sweep.json").exists()


def test_group_name():
    assert group_name("/x/outputs/multirun/2026-01-01/12-00-00") == "2026-01-01_12-00-00"


@pytest.fixture
def hydra_config():
    """Sets HydraConfig for one test and restores the previous one."""
    from hydra.conf import HydraConf
    from hydra.core.hydra_config import HydraConfig

    before = HydraConfig.instance().cfg

    def set_config(mode: RunMode, sweep_dir: str) -> None:
        cfg = OmegaConf.create({"hydra": OmegaConf.structured(HydraConf)})
        cfg.hydra.mode = mode
        cfg.hydra.sweep.dir = sweep_dir
        HydraConfig.instance().set_config(cfg)

    yield set_config
    HydraConfig.instance().cfg = before


def test_sweep_group_only_in_a_multirun(hydra_config):
    hydra_config(RunMode.MULTIRUN, "/x/outputs/multirun/2026-01-01/12-00-00")
    assert sweep_group() == "2026-01-01_12-00-00"
    hydra_config(RunMode.RUN, "/x/outputs/multirun/2026-01-01/12-00-00")
    assert sweep_group() is None


# ---- real multiruns --------------------------------------------------------------------------


def infopo(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def test_eval_multirun_writes_sweep_json_and_reports(tmp_path):
    sweep = tmp_path / "evsweep"
    infopo(
        "eval",
        "-m",
        "policy=oracle",
        "eval.num_tasks=2",
        "task.max_turns=2,6",
        f"hydra.sweep.dir={sweep}",
    )
    index = json.loads((sweep / "sweep.json").read_text())
    assert index["command"] == "eval" and index["status"] == "completed"
    assert [(j["num"], j["overrides"][-1], j["status"]) for j in index["jobs"]] == [
        (0, "task.max_turns=2", "completed"),
        (1, "task.max_turns=6", "completed"),
    ]
    for j in index["jobs"]:
        assert (Path(j["run_dir"]) / "eval.json").is_file()
    proc = infopo("report", str(sweep), "--out", str(tmp_path / "rep"))
    rows = table_rows((tmp_path / "rep" / "report.md").read_text(), "policy")
    # the oracle needs three turns on clarify: two questions, then the answer
    assert [(r[4], r[6]) for r in rows[1:]] == [
        ("task.max_turns=2", "0.000"),
        ("task.max_turns=6", "1.000"),
    ]
    assert "report.md" in proc.stdout


TRAIN_SWEEP = (
    "model=tiny", "logger=none", "trainer.steps=2", "trainer.prompts_per_step=2", "trainer.group_size=2",
    "trainer.eval_tasks=2", "trainer.eval_every=1", "engine.max_new_tokens=8", "task.max_turns=3",
    "fusion=variance_gated,none", "seed=1,2",
)  # fmt: skip


@pytest.mark.slow
def test_train_multirun_report_and_checkpoint_eval(tmp_path):
    sweep = tmp_path / "sweep"
    infopo("train", "-m", *TRAIN_SWEEP, f"hydra.sweep.dir={sweep}")
    run_dirs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in run_dirs] == ["0", "1", "2", "3"]
    for d in run_dirs:
        rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if "eval/success" in r] == [0, 1, 2]  # trainer.eval_every=1
        assert [r["step"] for r in rows if "train/success" in r] == [1, 2]
    index = json.loads((sweep / "sweep.json").read_text())
    assert index["status"] == "completed"
    assert [(j["num"], j["status"], Path(j["run_dir"]).name) for j in index["jobs"]] == [
        (0, "completed", "0"), (1, "completed", "1"), (2, "completed", "2"), (3, "completed", "3"),
    ]  # fmt: skip
    assert index["jobs"][3]["overrides"][-2:] == ["fusion=none", "seed=2"]

    out = tmp_path / "report"
    infopo("report", str(sweep), "--out", str(out))
    rows = table_rows((out / "report.md").read_text(), "method")
    assert [(r[0], r[1], r[2], r[6]) for r in rows[1:]] == [
        ("none", "clarify", "1, 2", "2"),
        ("variance_gated", "clarify", "1, 2", "2"),
    ]
    plots = sorted((out / "plots").glob("*.png"))
    assert [p.name for p in plots] == [
        "clarify_infogain_gate.png", "clarify_reward.png", "clarify_success.png", "clarify_tied_groups.png",
    ]  # fmt: skip
    for p in plots:
        assert_png(p)

    ev = tmp_path / "ev"
    infopo(
        "eval",
        f"run={run_dirs[0]}",
        "model=tiny",
        "eval.num_tasks=2",
        "engine.max_new_tokens=8",
        "task.max_turns=3",
        f"hydra.run.dir={ev}",
    )
    out = json.loads((ev / "eval.json").read_text())
    assert out["model"] == str(run_dirs[0] / "checkpoints" / "step_0002")
    assert out["aggregate"]["n_tasks"] == 2


# ---- launchers (the `sweeps` extra) ----------------------------------------------------------


@pytest.mark.parametrize(
    "option, plugin, target, fields",
    [
        (
            "local",
            "hydra_plugins.hydra_joblib_launcher",
            "joblib_launcher.JoblibLauncher",
            {"n_jobs": 2},
        ),
        (
            "slurm",
            "hydra_plugins.hydra_submitit_launcher",
            "submitit_launcher.SlurmLauncher",
            {"gpus_per_node": 1, "tasks_per_node": 1, "timeout_min": 720, "setup": []},
        ),
    ],
)
def test_launcher_configs_compose(option, plugin, target, fields):
    pytest.importorskip(
        plugin, reason="pip install '.[sweeps]' for the joblib and submitit launchers"
    )
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=[f"hydra/launcher={option}"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith(target)
    assert {k: launcher[k] for k in fields} == fields


@pytest.mark.slow
def test_joblib_multirun_keeps_the_index(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install '.[sweeps]'")
    sweep = tmp_path / "jl"
    infopo(
        "eval",
        "-m",
        "hydra/launcher=local",
        "policy=oracle",
        "eval.num_tasks=2",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
    )
    index = json.loads((sweep / "sweep.json").read_text())
    assert [(j["num"], j["status"]) for j in index["jobs"]] == [(0, "completed"), (1, "completed")]
    assert index["status"] == "completed"
