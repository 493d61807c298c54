"""ColBench backend tasks from JSONL or parquet files or a hub dataset (``task.source=colbench task.path=...``).

One JSON object per line:

    {"problem_description": "<request with the function signature>",
     "ground_truth": "<reference Python code>",
     "test_cases": {"test1": "f(3, 'a')", ...}}      # or a list of expressions

``task.path`` is one file (rows are split into train and test by a hash of the problem, so the
split does not depend on row order), a directory holding ``train.jsonl`` and/or ``test.jsonl``
(or ``.parquet``; each file is that split), or a hub dataset id ``owner/name`` (its train/test
splits, else all rows split by hash). Files other than JSONL and hub ids are read with
``datasets`` (the ``data`` extra). A malformed row stops loading with a ConfigError that
names the file and line.

The built-in task set (``builtin.jsonl``) is read by the same ``read_rows``, with its own row
parser that takes the reference and the tests under the same two keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from infopo_cli.data import tables
from infopo_cli.data.tables import hub_splits, is_hub_id
from infopo_cli.errors import ConfigError

SPLIT_FILES = {"train": "train.jsonl", "test": "test.jsonl"}
SPLIT_SUFFIXES = (".jsonl", ".parquet")
Row = TypeVar("Row")


@dataclass(frozen=True)
class ColbenchRow:
    id: str
    problem: str
    reference: str
    tests: tuple[str, ...]


def split_files(root: Path) -> dict[str, Path]:
    """``{split: file}`` for the split files a directory holds (JSONL preferred over parquet)."""
    out = {}
    for split in SPLIT_FILES:
        found = [
            root / f"{split}{ext}" for ext in SPLIT_SUFFIXES if (root / f"{split}{ext}").is_file()
        ]
        if found:
            out[split] = found[0]
    return out


def load_splits(path: str | Path, test_fraction: float) -> dict[str, list[ColbenchRow]]:
    """Rows by split name ("train", "test"), in file order."""
    root = Path(path).expanduser()
    if root.is_dir():
        files = split_files(root)
        if not files:
            raise ConfigError(
                f"task.path={str(root)!r} holds neither train.jsonl nor test.jsonl (nor .parquet); "
                "give a ColBench file or a directory with those files"
            )
        return {s: file_rows(files[s]) if s in files else [] for s in SPLIT_FILES}
    if root.is_file():
        rows = file_rows(root)
    elif is_hub_id(str(path)):
        splits = hub_splits(str(path), "task.path")
        if set(SPLIT_FILES) & set(splits):  # the hub's own train/test split
            return {s: _table_rows(splits.get(s, []), f"{path} ({s})") for s in SPLIT_FILES}
        rows = [r for name in splits for r in _table_rows(splits[name], f"{path} ({name})")]
    else:
        raise ConfigError(
            f"task.path={str(root)!r} does not exist; give a ColBench file (.jsonl, .json, "
            ".parquet), a directory with train/test files or a hub id (owner/name)"
        )
    out: dict[str, list[ColbenchRow]] = {"train": [], "test": []}
    for row in rows:
        out[split_of(row, test_fraction)].append(row)
    return out


def file_rows(path: Path) -> list[ColbenchRow]:
    """A ColBench file's rows: .parquet/.json/.csv through ``datasets``, anything else as JSONL."""
    if not tables.is_table_file(path):
        return read_rows(path, parse_row)
    return _table_rows(tables.file_rows(path, "task.path"), str(path))


def _table_rows(records: list[dict[str, Any]], label: str) -> list[ColbenchRow]:
    rows = []
    for n, obj in enumerate(records, 1):
        tests = obj.get("test_cases")
        # a struct column gives every row every test name of the file (None where unset)
        if isinstance(tests, dict):
            obj = {**obj, "test_cases": {k: v for k, v in tests.items() if v is not None}}
        rows.append(parse_row(obj, f"{label} row {n}"))
    return rows


def split_of(row: ColbenchRow, test_fraction: float) -> str:
    bucket = int(hashlib.sha1(row.problem.encode()).hexdigest()[:8], 16) / 16**8
    return "test" if bucket < test_fraction else "train"


def read_rows(path: Path, parse: Callable[[dict[str, Any], str], Row]) -> list[Row]:
    """Every non-blank line of a JSONL file as a JSON object handed to ``parse``, in file order.

    ``parse(obj, where)`` validates one object; ``where`` ("file:line") prefixes every error."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                where = f"{path}:{lineno}"
                rows.append(parse(_object(line, where), where))
    return rows


def _object(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{where}: not valid JSON ({e.msg}); expected one object per line"
        ) from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_row(obj: dict[str, Any], where: str) -> ColbenchRow:
    """One ColBench row; its id is a digest of the problem and the reference."""
    problem = text_field(obj, "problem_description", where)
    reference = text_field(obj, "ground_truth", where)
    tests = tests_field(obj, where)
    digest = hashlib.sha1(f"{problem}\0{reference}".encode()).hexdigest()[:12]
    return ColbenchRow(f"colbench-{digest}", problem, reference, tests)


def text_field(obj: dict[str, Any], key: str, where: str) -> str:
    """``obj[key]`` as given, which must be a non-empty string."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return value


def tests_field(obj: dict[str, Any], where: str) -> tuple[str, ...]:
    """The test expressions under ``test_cases``, stripped."""
    raw = obj.get("test_cases")
    accepted = "an object of name -> expression strings, or a list of expression strings"
    if isinstance(raw, str):  # some exports store the object as a JSON string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{where}: 'test_cases' must be {accepted}") from None
    values = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: 'test_cases' must be {accepted} (non-empty)")
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"{where}: every test case must be a non-empty expression string")
    return tuple(v.strip() for v in values)
