"""`infopo view`: the credit page (data, escaping, errors), the W&B Table of turns, report links."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.runtime.credit import TABLE_COLUMNS, turn_rows, variance_gate
from infopo_cli.runtime.view import (
    build_view,
    choose_steps,
    embed_json,
    page_data,
    write_run_view,
)


def record(task_id: str, outcome: float, turns: list[tuple[str, str, float, float]], **kw) -> dict:
    return {
        "task_id": task_id,
        "outcome": outcome,
        "success": outcome >= 1.0,
        "failed": kw.get("failed", False),
        "truncated": False,
        "turns": [
            {"action": a, "feedback": f, "ig": ig, "advantage": adv, "reward": 0.0}
            for a, f, ig, adv in turns
        ],
        "input_ids": [1, 2, 3],
        "spans": [],
    }


EVIL = "</script><img src=x onerror=alert(1)> & <b>"


def write_run(run: Path, steps: dict[int, list[dict]], tau: float = 0.5) -> Path:
    (run / "rollouts").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"task:\n  name: clarify\nfusion:\n  mode: variance_gated\n  tau: {tau}\n"
    )
    for step, records in steps.items():
        lines = "".join(json.dumps(r) + "\n" for r in records)
        (run / "rollouts" / f"step_{step:04d}.jsonl").write_text(lines)
    return run


def two_groups() -> list[dict]:
    return [
        record("t1", 1.0, [("Which size?", "Large.", 0.2, 0.5), ("ANSWER: large", "", 0.0, 0.5)]),
        record("t1", 0.0, [("ANSWER: small", "", 0.0, -0.5)]),
        record("t2", 0.0, [(EVIL, "no <idea>", -0.1, 0.0)], failed=True),
        record("t2", 0.0, [("Colour?", "Red.", 0.05, 0.0)]),
    ]


def test_page_embeds_every_turn_with_gate_and_tied_flag(tmp_path):
    run = write_run(tmp_path / "run", {1: two_groups()}, tau=0.25)
    data = page_data(run)
    (step,) = data["steps"]
    g1, g2 = step["groups"]
    assert [g["task_id"] for g in step["groups"]] == ["t1", "t2"]
    assert g1["gate"] == pytest.approx(1 / (1 + math.exp(math.sqrt(0.5) / 0.25)))
    assert not g1["tied"] and g2["tied"] and g2["failed"] and not g1["failed"]
    assert g2["gate"] == pytest.approx(0.5)
    assert [len(r["turns"]) for r in g1["rollouts"]] == [2, 1]
    assert g1["rollouts"][0]["turns"][0] == {
        "action": "Which size?",
        "reply": "Large.",
        "ig": 0.2,
        "adv": 0.5,
        "reward": 0.0,
        "error": "",
    }
    assert data["scale"] == {"ig": 0.2, "adv": 0.5}
    assert "input_ids" not in json.dumps(data)  # token ids stay in the JSONL


def test_recorded_gate_is_used_when_present(tmp_path):
    records = [{**r, "gate": 0.123} for r in two_groups()]
    data = page_data(write_run(tmp_path / "run", {1: records}))
    assert {g["gate"] for g in data["steps"][0]["groups"]} == {0.123}


def test_user_text_cannot_break_out_of_the_page(tmp_path):
    run = write_run(tmp_path / "run", {1: two_groups()})
    html = build_view(run).read_text()
    assert html.count("</script>") == 2  # the data block's and the code's, none from the text
    assert "<img" not in html and "<idea>" not in html
    start = html.index('<script type="application/json" id="data">') + len(
        '<script type="application/json" id="data">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data["steps"][0]["groups"][1]["rollouts"][0]["turns"][0]["action"] == EVIL
    assert json.loads(embed_json({"x": EVIL}))["x"] == EVIL


def test_steps_default_spread_and_asked_steps(tmp_path):
    assert choose_steps(list(range(1, 4)), None) == [1, 2, 3]
    spread = choose_steps(list(range(1, 101)), None)
    assert len(spread) == 8 and spread[0] == 1 and spread[-1] == 100
    assert choose_steps([1, 2, 3], [3, 1]) == [1, 3]
    with pytest.raises(ConfigError, match=r"--step 7 has no rollouts; accepted: steps 1-3"):
        choose_steps([1, 2, 3], [7])
    run = write_run(tmp_path / "run", {1: two_groups(), 2: two_groups()})
    assert [s["step"] for s in page_data(run, [2])["steps"]] == [2]


def test_run_without_rollouts_has_no_page(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match="has no rollouts/step_N.jsonl"):
        build_view(tmp_path / "run")
    assert write_run_view(tmp_path / "run") is None


@pytest.mark.parametrize(
    "make, args, needle",
    [
        (lambda p: None, [], "is not a directory"),
        (lambda p: p.mkdir(), [], "has no rollouts/step_N.jsonl"),
        (lambda p: write_run(p, {1: two_groups()}), ["--step", "9"], "--step 9 has no rollouts"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, args, needle):
    run = tmp_path / "run"
    make(run)
    p = subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", "view", str(run), *args],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and needle in p.stderr, p.stderr


def test_turn_rows_follow_the_columns():
    rows = turn_rows(5, two_groups(), tau=0.5)
    assert len(rows) == 5  # one per turn
    row = dict(zip(TABLE_COLUMNS, rows[0]))
    assert row == {
        "step": 5,
        "task_id": "t1",
        "rollout": 0,
        "turn": 0,
        "action": "Which size?",
        "reply": "Large.",
        "ig": 0.2,
        "advantage": 0.5,
        "reward": 0.0,
        "outcome": 1.0,
        "success": True,
        "failed": False,
        "gate": pytest.approx(variance_gate([1.0, 0.0], 0.5)),
        "tied": False,
    }


class FakeWandb(types.ModuleType):
    """Stands in for the wandb module: records init, log calls and the tables built."""

    def __init__(self):
        super().__init__("wandb")
        self.logged: list[tuple[dict, int]] = []
        outer = self

        class Table:
            def __init__(self, columns, data):
                self.columns, self.data = columns, data

        class Run:
            def log(self, row, step=None):
                outer.logged.append((row, step))

            def finish(self):
                pass

        self.Table = Table
        self.init = lambda **kw: Run()


@pytest.mark.parametrize("every, logged_steps", [(2, [2, 4]), (0, [])])
def test_wandb_table_every_n_steps(tmp_path, monkeypatch, every, logged_steps):
    from infopo_cli.config import LoggerConfig
    from infopo_cli.runtime.logging import RunLogger

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = LoggerConfig(name="wandb", mode="offline", table_every=every, log_rollouts=False)
    logger = RunLogger(tmp_path, {"fusion": {"tau": 0.5}}, cfg, total_steps=4)
    try:
        for step in range(1, 5):
            logger.rollouts(step, two_groups())
    finally:
        logger.close()
    tables = [(row["credit/turns"], step) for row, step in fake.logged if "credit/turns" in row]
    assert [step for _, step in tables] == logged_steps
    for table, step in tables:
        assert table.columns == list(TABLE_COLUMNS)
        assert len(table.data) == 5 and all(r[0] == step for r in table.data)
    assert not (tmp_path / "rollouts").exists()  # log_rollouts=false still skips the JSONL


def test_table_every_must_not_be_negative():
    from infopo_cli.config import LoggerConfig

    with pytest.raises(ConfigError, match="logger.table_every=-1"):
        LoggerConfig(table_every=-1)


def test_report_links_the_pages(tmp_path):
    from infopo_cli.recipes.report import build_report

    run = write_run(tmp_path / "runs" / "a", {1: two_groups()})
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/success": 0.5}) + "\n")
    build_view(run)
    out = tmp_path / "report"
    result = build_report([str(tmp_path / "runs")], out)
    md = (out / "report.md").read_text()
    assert "## Credit views" in md and "(../runs/a/view.html)" in md
    assert result["views"] == [str(run / "view.html")]
