"""Rows of a table file (parquet, JSON, CSV) or of a Hugging Face hub dataset, through ``datasets``.

JSON Lines files are read by the callers themselves (no extra package, and errors name the line);
everything else goes through ``datasets.load_dataset`` (the ``data`` extra, imported only here
and only when needed). A value that is not an existing path but looks like ``owner/name`` is taken
as a hub id; loading one needs the network.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError

# JSON Lines (.jsonl, or any other suffix) is read by the callers, line by line
BUILDERS = {".parquet": "parquet", ".json": "json", ".csv": "csv"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_table_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in BUILDERS


def is_hub_id(value: str) -> bool:
    return HUB_ID.fullmatch(value) is not None and not Path(value).expanduser().exists()


def _datasets(field: str):
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            f"{field}: parquet files and hub datasets are read with the datasets package: "
            "pip install 'infopo[data]'"
        ) from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:  # the hub client logs each retry of an unreachable host; the error says it once
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - datasets depends on huggingface_hub
        pass
    return datasets


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


def file_rows(path: Path, field: str) -> list[dict[str, Any]]:
    """Every row of a local .parquet, .json or .csv file, in file order."""
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise ConfigError(
            f"{field}={str(path)!r}: unknown file type; accepted: {', '.join(BUILDERS)}"
        )
    datasets = _datasets(field)
    # a throw-away cache: a local file needs no Arrow copy kept in ~/.cache/huggingface
    with tempfile.TemporaryDirectory() as cache:
        try:
            table = datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=cache, keep_in_memory=True
            )
        except Exception as e:  # datasets wraps parser errors in several exception types
            raise ConfigError(
                f"{field}={str(path)!r}: not readable as {builder} ({_reason(e)})"
            ) from None
        return _plain(table.to_list())


def hub_splits(hub_id: str, field: str) -> dict[str, list[dict[str, Any]]]:
    """Every split of a hub dataset: ``{split name: rows}``."""
    datasets = _datasets(field)
    try:
        loaded = datasets.load_dataset(hub_id)
    except Exception as e:  # no network, unknown id, gated repo: all one line
        raise ConfigError(
            f"{field}={hub_id!r}: no such file, and the hub dataset could not be loaded "
            f"({_reason(e)})"
        ) from None
    return {name: _plain(split.to_list()) for name, split in loaded.items()}


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
