"""Turning an upstream file into the file a task reads (``FileSpec.convert``).

* ``copy``: the bytes as they are.
* ``verl_jsonl``: a verl/UserRL RL parquet file as JSON Lines, one row per line, columns in the
  parquet's order, with the leading system message taken out of ``prompt`` (UserGym keeps it once,
  in ``system_prompt.txt``; every row of a gym carries the same one).
* ``verl_system_prompt``: that system message, as text.

Both parquet conversions need pyarrow (the ``data`` extra).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from infopo_cli.errors import ConfigError


class ConvertError(ValueError):
    """An upstream file that is not what the conversion expects (the message says what)."""


PARQUET = ("verl_jsonl", "verl_system_prompt")


def check_available(conversions: set[str], dataset: str) -> None:
    """Fail before any download when a conversion needs a package that is not installed."""
    if conversions & set(PARQUET):
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"data fetch {dataset}: its upstream splits are parquet files, read with pyarrow: "
                "pip install 'infopo[data]'"
            ) from None


def _rows(data: bytes) -> list[dict]:
    import pyarrow.parquet as pq  # checked by check_available before the download

    try:
        return pq.read_table(io.BytesIO(data)).to_pylist()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise ConvertError(f"not a readable parquet file ({type(e).__name__})") from None


def _system_message(rows: list[dict]) -> str:
    """The one system message every row opens with."""
    if not rows:
        raise ConvertError("no rows")
    first = rows[0].get("prompt") or [{}]
    if first[0].get("role") != "system":
        raise ConvertError("rows do not open with a system message")
    text = first[0]["content"]
    for i, row in enumerate(rows):
        head = (row.get("prompt") or [{}])[0]
        if head.get("role") != "system" or head.get("content") != text:
            raise ConvertError(f"row {i} has a different system message")
    return text


def verl_jsonl(data: bytes) -> bytes:
    rows = _rows(data)
    _system_message(rows)
    # ensure_ascii=False: the text stays as upstream wrote it (curly quotes, accents)
    lines = [json.dumps({**row, "prompt": row["prompt"][1:]}, ensure_ascii=False) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def verl_system_prompt(data: bytes) -> bytes:
    return _system_message(_rows(data)).encode()


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {
    "copy": lambda data: data,
    "verl_jsonl": verl_jsonl,
    "verl_system_prompt": verl_system_prompt,
}
