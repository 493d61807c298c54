"""The built-in task set, kept as data in ``builtin.jsonl`` beside this module, in a fixed order.

It is read by the ColBench reader (``colbench.read_rows``), so both sources share one JSONL
reader and one check of the reference (``ground_truth``) and the tests (``test_cases``). A row
adds what only the built-in set has:

    {"name": "slugify", "signature": "def slugify(title: str) -> str",
     "request": "<the vague request>",
     "facts": [{"keywords": ["case", "lower"], "answer": "Everything is lowercase."}, ...],
     "ground_truth": "<reference Python code>", "test_cases": ["slugify('Hello World')", ...]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.coding.catalog import BuiltinTask, Fact
from infopo_cli.tasks.coding.colbench import read_rows, tests_field, text_field

BUILTIN_FILE = Path(__file__).with_name("builtin.jsonl")


def parse_task(obj: dict[str, Any], where: str) -> BuiltinTask:
    """One built-in task; ``where`` ("file:line") prefixes every error."""
    return BuiltinTask(
        name=text_field(obj, "name", where),
        signature=text_field(obj, "signature", where),
        request=text_field(obj, "request", where),
        facts=_facts(obj.get("facts"), where),
        reference=text_field(obj, "ground_truth", where),
        tests=tests_field(obj, where),
    )


def _facts(raw: object, where: str) -> tuple[Fact, ...]:
    """Facts from ``[{"keywords": [...], "answer": "..."}, ...]``; keywords are lowercased, as the
    scripted user matches them against the lowercased question."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: 'facts' must be a non-empty list")
    out = []
    for fact in raw:
        keywords = fact.get("keywords") if isinstance(fact, dict) else None
        answer = fact.get("answer") if isinstance(fact, dict) else None
        if (
            not isinstance(keywords, list)
            or not keywords
            or not all(isinstance(k, str) and k for k in keywords)
            or not isinstance(answer, str)
            or not answer.strip()
        ):
            raise ConfigError(
                f"{where}: every fact must be {{'keywords': [non-empty strings], "
                f"'answer': non-empty string}}, got {fact!r}"
            )
        out.append(Fact(tuple(k.lower() for k in keywords), answer))
    return tuple(out)


BUILTIN_TASKS: tuple[BuiltinTask, ...] = tuple(read_rows(BUILTIN_FILE, parse_task))
