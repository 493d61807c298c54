"""Copy-on-write tables over a shared database, so one episode never pays for a full copy.

The airline database is megabytes of JSON (2,000 reservations, 300 flights with per-date
inventories). A batch of rollouts needs one private database per conversation plus the gold end
state per task; deep-copying it each time would cost about a second per episode. Instead every
episode reads the shared, parsed records and copies a record only the first time a tool writes to
it (``Table.edit``). Comparing two end states then only looks at records that either side touched.

Rule for tool code: read with ``table[key]``, and call ``table.edit(key)`` *before* changing a
record; never mutate what ``table[key]`` returned. The tests check that the shared base is
unchanged after replaying every task.

``Database.atomic`` undoes the edits of a block that raises (tau-bench v1's tools run inside it, so
a call that fails half way leaves no partial change; tau2-bench's tools check before they write).
``Database.same_record`` decides when two versions of a record count as equal; a subclass may
compare more strictly (tau-bench v1 compares canonical JSON, where ``250`` and ``250.0`` differ).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_MISSING = object()
Journal = list[tuple["Table", str, Any]]  # (table, key, the private record before the change)


class Table(Mapping[str, Any]):
    """Records keyed by id: a read-only shared ``base`` plus this episode's own copies."""

    __slots__ = ("_base", "_own", "journal")

    def __init__(self, base: Mapping[str, Any]):
        self._base = base
        self._own: dict[str, Any] = {}
        self.journal: Journal | None = None  # set while a Database.atomic block runs

    def __getitem__(self, key: str) -> Any:
        own = self._own.get(key, _MISSING)
        if own is not _MISSING:
            return own
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        return key in self._own or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        for key in self._own:
            if key not in self._base:
                yield key

    def __len__(self) -> int:
        return len(self._base) + sum(1 for k in self._own if k not in self._base)

    def _remember(self, key: str) -> None:
        if self.journal is not None:
            previous = self._own.get(key, _MISSING)
            if previous is not _MISSING:
                previous = copy.deepcopy(previous)
            self.journal.append((self, key, previous))

    def edit(self, key: str) -> Any:
        """The record for ``key``, made private to this table so it can be changed in place."""
        if key not in self._own:
            record = copy.deepcopy(self._base[key])
            self._remember(key)
            self._own[key] = record
        else:
            self._remember(key)
        return self._own[key]

    def put(self, key: str, record: Any) -> None:
        """Insert (or replace) a whole record."""
        self._remember(key)
        self._own[key] = record

    def restore(self, key: str, previous: Any) -> None:
        """Put back the private record a journal entry remembered (absent if it had none)."""
        if previous is _MISSING:
            self._own.pop(key, None)
        else:
            self._own[key] = previous

    def touched(self) -> set[str]:
        """Keys this episode copied or inserted (the only ones that can differ from the base)."""
        return set(self._own)


class Database:
    """Named tables over one shared base (``{table: {key: record}}``)."""

    def __init__(self, base: Mapping[str, Mapping[str, Any]]):
        self.tables = {name: Table(records) for name, records in base.items()}

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undo every edit made inside the block if it raises."""
        journal: Journal = []
        for table in self.tables.values():
            table.journal = journal
        try:
            yield
        except BaseException:
            for table, key, previous in reversed(journal):
                table.restore(key, previous)
            raise
        finally:
            for table in self.tables.values():
                table.journal = None

    def same_record(self, mine: Any, theirs: Any) -> bool:
        """Whether two versions of a record (None: absent) count as the same data."""
        return mine == theirs

    def diff(self, other: Database) -> list[tuple[str, str]]:
        """``(table, key)`` of every record that differs between the two databases."""
        if self.tables.keys() != other.tables.keys():
            raise ValueError("databases with different tables cannot be compared")
        out = []
        for name, table in self.tables.items():
            theirs = other.tables[name]
            for key in sorted(table.touched() | theirs.touched()):
                if not self.same_record(table.get(key), theirs.get(key)):
                    out.append((name, key))
        return out
