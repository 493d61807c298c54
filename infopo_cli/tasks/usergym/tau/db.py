"""TauGym's databases: tau-bench's per-table JSON files as copy-on-write ``Database`` views.

The shipped tables (``taubench_db/<domain>/<table>.json``, each a JSON object keyed by id) are read
once per process and never modified; a :class:`TauDB` keeps the records an episode changed on top
of them (``tasks/tau/store.py``). Two views hold the same data exactly when every record either of
them changed serialises to the same canonical JSON (sorted keys; ``250`` and ``250.0`` differ, as
they do under tau-bench's hash of the data), where tau2 compares records with ``==``.

Tools go through the tables (``db["orders"]``); ``get`` / ``items`` / ``edit`` / ``put`` address
a record by table name, for tools written as plain functions of the database.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.tau.store import Database, Table


@lru_cache(maxsize=4)
def load_tables(domain_dir: Path) -> Mapping[str, Mapping[str, Any]]:
    """table name (file stem) -> {id: record}, for every ``*.json`` of a domain folder."""
    files = sorted(domain_dir.glob("*.json"))
    if not files:
        raise ConfigError(f"{domain_dir}: no database tables (*.json) for this tau domain")
    tables: dict[str, Mapping[str, Any]] = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: not a readable JSON file ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a database table must be a JSON object keyed by id")
        tables[path.stem] = data
    return tables


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class TauDB(Database):
    """One episode's view of a domain's tables (see module docstring)."""

    def __init__(self, base: Mapping[str, Mapping[str, Any]]):
        super().__init__(base)
        self.base = base

    def _table(self, table: str) -> Table:
        if table not in self.tables:
            raise KeyError(f"no table {table!r}")
        return self.tables[table]

    def get(self, table: str, key: str) -> Any | None:
        """The record (read-only) or None."""
        return self._table(table).get(key)

    def items(self, table: str) -> ItemsView[str, Any]:
        """All (id, record) pairs, base order first, then records added in this episode."""
        return self._table(table).items()

    def edit(self, table: str, key: str) -> Any:
        """The record, as this episode's own mutable copy. KeyError if it does not exist."""
        records = self._table(table)
        if key not in records:
            raise KeyError(f"{table} has no {key!r}")
        return records.edit(key)

    def put(self, table: str, key: str, record: Any) -> None:
        self._table(table).put(key, record)

    def same_record(self, mine: Any, theirs: Any) -> bool:
        return canonical(mine) == canonical(theirs)

    def same_state(self, other: TauDB) -> bool:
        """Whether both views hold exactly the same data (they must share the base tables)."""
        if other.base is not self.base:
            raise ValueError("views over different base tables cannot be compared")
        return not self.diff(other)

    def changed_keys(self) -> dict[str, list[str]]:
        """Records whose data differs from the shipped tables, per table (for logs and tests)."""
        out: dict[str, list[str]] = {}
        for name, records in self.tables.items():
            base = self.base[name]
            keys = [k for k in records.touched() if canonical(records[k]) != canonical(base.get(k))]
            if keys:
                out[name] = sorted(keys)
        return out
