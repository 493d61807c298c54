"""scripts/setting_results.py on hand-made run folders: the JSON record, paired differences, the
step that reaches GRPO's final success, and a plan written before the runs kept as it was."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "setting_results.py"


@pytest.fixture(scope="module")
def sr():
    spec = importlib.util.spec_from_file_location("setting_results", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_run(
    root: Path, mode: str, seed: int, curve: dict[int, float], tied: float, **infogain
) -> None:
    run = root / "train" / f"{mode}_{seed}_{len(infogain)}"
    run.mkdir(parents=True)
    cfg = {"seed": seed, "fusion": {"mode": mode}, "trainer": {"steps": 40}, "infogain": infogain}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    end = curve[max(curve)]
    (run / "summary.json").write_text(json.dumps({"evals": {"start": {}, "end": {"success": end}}}))
    rows = [{"step": s, "eval/success": v} for s, v in curve.items()]
    rows += [{"step": s, "fusion/tied_groups": tied} for s in (1, 2)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (run / "rollouts").mkdir()
    turns = [
        {"ig": 0.5, "advantage": 1.0},
        {"ig": 0.1, "advantage": -1.0, "parsed": mode != "none"},
    ]
    rec = {"turns": turns}
    (run / "rollouts" / "step_0040.jsonl").write_text(json.dumps(rec))


def test_record_and_paired_table(sr, tmp_path):
    setting = tmp_path / "clarify_toy"
    # InfoPO ends 0.5, 0.6, 0.7; GRPO 0.4, 0.4, 0.5: paired differences 0.1, 0.2, 0.2
    for seed, (a, b) in enumerate([(0.5, 0.4), (0.6, 0.4), (0.7, 0.5)]):
        fake_run(setting, "variance_gated", seed, {0: 0.1, 20: 0.45, 40: a}, 0.2)
        fake_run(setting, "none", seed, {0: 0.1, 20: 0.3, 40: b}, 0.6)
    fake_run(setting, "variance_gated", 0, {0: 0.1, 40: 0.3}, 0.5, parsed_only=True)
    out = tmp_path / "docs"
    (out).mkdir()
    plan = "<!-- plan -->\n## Plan\nInfoPO and GRPO, seeds 0-2.\n<!-- /plan -->\n"
    (out / "clarify_toy.md").write_text("# old\n" + plan + "stale results\n")
    json_path, md_path = sr.write(setting, out)

    record = json.loads(json_path.read_text())
    assert record == {
        "setting": "clarify_toy",
        "steps": 40,
        "methods": {
            "none": {"0": 0.4, "1": 0.4, "2": 0.5},
            "variance_gated": {"0": 0.5, "1": 0.6, "2": 0.7},
            "variance_gated+parsed_only": {"0": 0.3},
        },
    }
    md = md_path.read_text()
    assert plan.strip() in md and "stale results" not in md
    # differences 0.1, 0.2, 0.2: mean 0.1667, sd 0.0577, se 0.0333, 5.0 standard errors
    assert "| none | 3 | 0.433 ± 0.033 | +0.167 ± 0.033 (n=3, +5.0 SE) |" in md
    # GRPO's final mean 0.4333: InfoPO reaches it at step 20 (0.45); of GRPO's own seeds only one
    # (0.5 at step 40) gets there, under half: "-"
    infopo = next(x for x in md.splitlines() if x.startswith("| variance_gated |"))
    assert infopo.split("|")[5].strip() == "20" and infopo.split("|")[6].strip() == "0.20"
    assert infopo.split("|")[7].strip() == "0.0%"  # every message parsed
    assert (
        next(x for x in md.splitlines() if x.startswith("| none |")).split("|")[7].strip()
        == "50.0%"
    )
    grpo = next(x for x in md.splitlines() if x.startswith("| none |"))
    assert grpo.split("|")[5].strip() == "-"
    # one seed paired with InfoPO's seed 0 (0.5 - 0.3)
    assert "| variance_gated+parsed_only | 1 | 0.300 ± 0.000 | +0.200 ± 0.000 (n=1" in md
    assert "1: +0.500 / +1.000, 2: +0.100 / -1.000" in md


def test_shifted_user_table_pairs_each_run_with_its_shifted_evaluation(sr, tmp_path):
    setting = tmp_path / "clarify_toy"
    # InfoPO 0.5, 0.7 -> 0.4, 0.4 (changes -0.1, -0.3); GRPO 0.4, 0.5 -> 0.4, 0.3 (0.0, -0.2)
    for seed, (a, a_s, b, b_s) in enumerate([(0.5, 0.4, 0.4, 0.4), (0.7, 0.4, 0.5, 0.3)]):
        for mode, end, moved in (("variance_gated", a, a_s), ("none", b, b_s)):
            fake_run(setting, mode, seed, {0: 0.1, 40: end}, 0.2)
            shifted = setting / "train" / f"{mode}_{seed}_0" / "shifted"
            shifted.mkdir()
            (shifted / "eval.json").write_text(json.dumps({"aggregate": {"success": moved}}))
    fake_run(setting, "fixed", 0, {0: 0.1, 40: 0.3}, 0.2)  # not evaluated shifted: no row, no key
    for name, v in (("starter", 0.2), ("starter_shifted", 0.15)):
        (setting / name).mkdir()
        (setting / name / "eval.json").write_text(json.dumps({"aggregate": {"success": v}}))
    (setting / "shift.txt").write_text("task.vague_rate=0.8\n")
    json_path, md_path = sr.write(setting, tmp_path / "docs")

    record = json.loads(json_path.read_text())
    assert record["shifted"] == {
        "none": {"0": 0.4, "1": 0.3},
        "variance_gated": {"0": 0.4, "1": 0.4},
    }
    md = md_path.read_text()
    assert "against a user it was not trained with: `task.vague_rate=0.8`" in md
    # changes -0.1, -0.3: mean -0.2, sd 0.1414, se 0.1
    assert "| variance_gated | 2 | 0.600 ± 0.100 | 0.400 ± 0.000 | -0.200 ± 0.100 |" in md
    assert "| none | 2 | 0.450 ± 0.050 | 0.350 ± 0.050 | -0.100 ± 0.100 |" in md
    assert "| starter (no training) | - | 0.200 | 0.150 | -0.050 |" in md
    assert "| fixed | 1 |" not in md.split("## Under a shifted user")[1]


def test_mean_and_standard_error(sr):
    assert sr.mean_se([1.0]) == (1.0, 0.0)
    m, se = sr.mean_se([1.0, 2.0, 4.0])
    assert m == pytest.approx(7 / 3)
    assert se == pytest.approx(
        (((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2 / 3) ** 0.5
    )


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare", SCRIPT.parent / "compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_an_interrupted_study_runs_only_what_is_missing(compare, tmp_path):
    setting = tmp_path / "clarify_toy"
    fake_run(setting, "variance_gated", 0, {0: 0.1, 40: 0.5}, 0.2)
    fake_run(setting, "none", 0, {0: 0.1, 40: 0.4}, 0.2)
    fake_run(setting, "variance_gated", 1, {0: 0.1, 40: 0.5}, 0.2)
    fake_run(setting, "variance_gated", 2, {0: 0.1, 40: 0.5}, 0.2, parsed_only=True)
    interrupted = setting / "train" / "none_1"  # started, no end evaluation: run again
    interrupted.mkdir()
    (interrupted / "config.yaml").write_text(
        yaml.safe_dump({"seed": 1, "fusion": {"mode": "none"}, "trainer": {"steps": 40}})
    )
    (interrupted / "summary.json").write_text(json.dumps({"evals": {"start": {}}}))
    done = compare.finished(setting)
    assert done == {("variance_gated", 0), ("none", 0), ("variance_gated", 1), ("parsed_only", 2)}
    (setting / "train+s1").mkdir()  # a folder of an earlier resume keeps its runs
    plan = compare.pending(["variance_gated", "none", "dapo"], [0, 1, 2], done, setting)
    assert plan == [
        (setting / "train+s1-2", ["seed=1", "fusion=none"]),
        (setting / "train+s2", ["seed=2", "fusion=variance_gated,none"]),
        # dapo has no run yet: one multirun over every seed, as a study's first launch
        (
            setting / "train_dapo",
            ["seed=0,1,2", "fusion=none", "trainer.dynamic_sampling_max_rounds=4"],
        ),
    ]
    # nothing finished: the first launch, seeds outermost
    assert compare.pending(["variance_gated", "none"], [0, 1], set(), setting) == [
        (setting / "train", ["seed=0,1", "fusion=variance_gated,none"])
    ]
