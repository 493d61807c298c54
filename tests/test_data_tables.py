"""Chats and ColBench tasks from parquet files (through ``datasets``) read exactly like their JSONL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infopo_cli.core.sft import chats_to_trajectories
from infopo_cli.errors import ConfigError
from infopo_cli.tasks.coding.colbench import load_splits
from infopo_cli.tasks.coding.task import CodingTask

pytest.importorskip("datasets")
import pyarrow as pa  # noqa: E402  (a dependency of datasets)
import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHATS = [
    {
        "messages": [
            {"role": "system", "content": "Book a table."},
            {"role": "user", "content": "A table, please."},
            {"role": "assistant", "content": "For how many people?"},
            {"role": "user", "content": "Four \u2014 at 7pm."},
            {"role": "assistant", "content": "ANSWER: party=4 time=7pm"},
        ]
    },
    {
        "messages": [  # no system message; two assistant messages in a row
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "assistant", "content": "What do you need?"},
            {"role": "tool", "content": "search: no results"},
        ]
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="module")
def chat():
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.runtime.models import load_tokenizer
    from infopo_cli.zoo.tiny import tiny_path

    return ChatFormat(load_tokenizer(str(tiny_path())))


def sft_dialogues(data: str, chat, max_len: int = 1024):
    from omegaconf import OmegaConf

    from infopo_cli.recipes.sft import SFTConfig, dialogues

    return dialogues(OmegaConf.create({"seed": 0}), SFTConfig(data=data), chat, max_len, Path("."))


def as_tuples(trajs):
    return [(t.input_ids, [(x.action, x.feedback) for x in t.turns], t.group) for t in trajs]


def test_sft_jsonl_and_parquet_give_the_same_trajectories(tmp_path, chat):
    from_jsonl = sft_dialogues(str(write_jsonl(tmp_path / "c.jsonl", CHATS)), chat)
    from_parquet = sft_dialogues(str(write_parquet(tmp_path / "c.parquet", CHATS)), chat)
    assert as_tuples(from_jsonl) == as_tuples(
        chats_to_trajectories(tmp_path / "c.jsonl", chat, 1024)
    )
    assert as_tuples(from_parquet) == as_tuples(from_jsonl)
    (tmp_path / "c.json").write_text(json.dumps(CHATS))  # one JSON list
    assert as_tuples(sft_dialogues(str(tmp_path / "c.json"), chat)) == as_tuples(from_jsonl)
    assert [len(t.turns) for t in from_parquet] == [2, 2]
    first = from_parquet[0]
    a, b = first.turns[1].action
    assert chat.decode(first.input_ids[a:b]).startswith("ANSWER: party=4 time=7pm")
    fa, fb = first.turns[0].feedback
    assert chat.decode(first.input_ids[fa:fb]) == "Four \u2014 at 7pm."


def test_sft_table_errors_name_the_row(tmp_path, chat):
    bad = write_parquet(
        tmp_path / "bad.parquet",
        [CHATS[0], {"messages": [{"role": "user", "content": "no reply"}]}],
    )
    with pytest.raises(ConfigError, match=r"bad.parquet row 2: expected"):
        sft_dialogues(str(bad), chat)
    with pytest.raises(ConfigError, match=r"sft.data='nowhere.txt': not 'demos', an existing"):
        sft_dialogues("nowhere.txt", chat)
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"x.parquet'?: not readable as parquet"):
        sft_dialogues(str(tmp_path / "x.parquet"), chat)


def colbench_row(i: int, n_tests: int) -> dict:
    return {
        "problem_description": f"Write add{i}(a, b) that adds two numbers plus {i}.",
        "ground_truth": f"def add{i}(a, b):\n    return a + b + {i}\n",
        # rows with different test names: a parquet struct gives every row all of them (None)
        "test_cases": {f"test{k}": f"add{i}({k}, 1)" for k in range(1, n_tests + 1)},
    }


def test_colbench_parquet_loads_the_same_tasks_as_its_jsonl(tmp_path):
    rows = [colbench_row(i, 2 + i % 3) for i in range(24)]
    jsonl = write_jsonl(tmp_path / "t.jsonl", rows)
    parquet = write_parquet(tmp_path / "t.parquet", rows)
    assert load_splits(parquet, 0.25) == load_splits(jsonl, 0.25)
    a, b = (
        CodingTask(source="colbench", path=str(jsonl)),
        CodingTask(source="colbench", path=str(parquet)),
    )
    for split in ("train", "test"):
        assert [(i.id, i.hidden["tests"]) for i in a.instances(split)] == [
            (i.id, i.hidden["tests"]) for i in b.instances(split)
        ]
    assert sum(len(a.instances(s)) for s in ("train", "test")) == 24
    # a directory of parquet split files
    (tmp_path / "d").mkdir()
    write_parquet(tmp_path / "d" / "train.parquet", rows[:3])
    write_parquet(tmp_path / "d" / "test.parquet", rows[3:4])
    d = load_splits(tmp_path / "d", 0.25)
    assert [len(d["train"]), len(d["test"])] == [3, 1]
    assert d["test"][0].tests == ("add3(1, 1)", "add3(2, 1)")


def test_without_datasets_the_error_names_the_extra(tmp_path, monkeypatch):
    path = write_parquet(tmp_path / "t.parquet", [colbench_row(1, 2)])
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"^task.path: .*pip install 'infopo\[data\]'$"):
        load_splits(path, 0.25)


def test_a_hub_id_without_network_is_one_line(tmp_path):
    """``owner/name`` that is no local path is a hub id; offline it fails in one line."""
    code = (
        "from infopo_cli.tasks.coding.colbench import load_splits\n"
        "from infopo_cli.errors import ConfigError\n"
        "try:\n    load_splits('nobody-here/no-such-dataset', 0.25)\n"
        "except ConfigError as e:\n    print(e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env["HF_HOME"] = str(tmp_path / "hf")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout + out.stderr
    assert lines[0].startswith(
        "task.path='nobody-here/no-such-dataset': no such file, and the hub dataset could not be loaded ("
    )
