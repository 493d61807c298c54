"""Task data read from the package's data files, checked against values written out by hand.

A broken or reordered data file (builtin.jsonl, clarify_domains.json, shop/catalogue.json) fails
here, not only in the tasks that use it."""

from __future__ import annotations

import json

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.clarify import DOMAINS, Slot
from infopo_cli.tasks.coding.builtin import BUILTIN_TASKS, parse_task
from infopo_cli.tasks.coding.catalog import Fact
from infopo_cli.tasks.coding.colbench import read_rows
from infopo_cli.tasks.shop.catalogue import (
    BRANDS,
    COLORS,
    TYPE_BY_NAME,
    TYPES,
    Item,
    ProductType,
    generate_catalogue,
)


def test_builtin_coding_tasks():
    assert len(BUILTIN_TASKS) == 65
    assert sum(len(t.tests) for t in BUILTIN_TASKS) == 574
    assert (BUILTIN_TASKS[0].name, BUILTIN_TASKS[-1].name) == ("slugify", "amount_in_words")
    price = next(t for t in BUILTIN_TASKS if t.name == "format_price")
    assert price.signature == "def format_price(cents: int, currency: str) -> str"
    assert price.facts[1] == Fact(
        ("usd", "dollar", "gbp", "pound", "symbol"),
        "USD uses $ and GBP uses £ before the number, commas between thousands and a dot before "
        "two decimals, like $1,234.50.",
    )
    assert price.tests[:2] == ("format_price(123450, 'USD')", "format_price(5, 'usd')")
    assert (
        price.reference.startswith("\n") and "def format_price(cents, currency):" in price.reference
    )


def _task_row(**override) -> dict:
    row = {
        "name": "add",
        "signature": "def add(a: int, b: int) -> int",
        "request": "Add two numbers.",
        "facts": [{"keywords": ["Negative"], "answer": "Negatives add as usual."}],
        "ground_truth": "def add(a, b):\n    return a + b\n",
        "test_cases": ["add(1, 2)", " add(-1, 1) "],
    }
    row.update(override)
    return row


def test_builtin_rows_are_read_like_colbench_rows(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(_task_row()) + "\n")
    (task,) = read_rows(path, parse_task)
    assert task.facts == (Fact(("negative",), "Negatives add as usual."),)  # keywords lowercased
    assert task.tests == ("add(1, 2)", "add(-1, 1)")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"facts": []}, "'facts' must be a non-empty list"),
        ({"facts": [{"keywords": [], "answer": "x"}]}, "every fact must be"),
        ({"facts": [["negative", "Negatives add as usual."]]}, "every fact must be"),
        ({"test_cases": []}, "'test_cases'"),
    ],
)
def test_malformed_builtin_rows_name_file_and_line(tmp_path, override, fragment):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(_task_row()) + "\n" + json.dumps(_task_row(**override)) + "\n")
    with pytest.raises(ConfigError) as err:
        read_rows(path, parse_task)
    assert f"{path}:2:" in str(err.value) and fragment in str(err.value)


def test_clarify_domains():
    assert [d.name for d in DOMAINS] == ["restaurant", "shopping", "travel", "meeting"]
    assert all(len(d.slots) == 5 and all(len(s.options) == 5 for s in d.slots) for d in DOMAINS)
    assert DOMAINS[2].request == "Please plan a trip for me."
    assert DOMAINS[2].slots[2] == Slot(
        "transport",
        ("transport", "travel by", "get there", "train", "plane"),
        ("train", "plane", "bus", "ferry", "car"),
    )


def test_shop_vocabulary_and_first_items():
    assert len(TYPES) == 16 and len(TYPE_BY_NAME) == 16
    assert (len(BRANDS), BRANDS[0], BRANDS[-1]) == (12, "acme", "zenith")
    assert COLORS[:3] == ("black", "white", "red") and len(COLORS) == 10
    assert TYPE_BY_NAME["boots"] == ProductType(
        "boots",
        "footwear",
        ("leather", "suede", "rubber"),
        ("waterproof", "insulated", "non slip", "steel toe"),
        ("6", "7", "8", "9", "10", "11", "12"),
        (50, 220),
    )
    assert generate_catalogue(0, 3)[1] == Item(
        id="P00001",
        type="jeans",
        category="clothing",
        brand="northwind",
        material="denim",
        features=("machine washable",),
        colors=("black", "red", "grey", "pink"),
        sizes=("medium", "x-large"),
        price=38.27,
    )
