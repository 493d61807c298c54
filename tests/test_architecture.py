"""The package's import graph: no cycle, and arrows that point one way (cli -> recipes -> core ->
runtime; engines, simulators and tasks beside core).

Every import counts, including function-local ones and module paths written as strings
(``importlib.import_module("infopo_cli....")``, ``"infopo_cli.recipes.train:train_main"``): a cycle
hidden in a function body is still a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import infopo_cli

ROOT = Path(infopo_cli.__file__).parent
MODULE_STRING = re.compile(r"^(infopo_cli(?:\.\w+)+)(?::\w+)?$")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def resolve(target: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``target`` names (``a.b.c`` -> ``a.b`` when c is a name)."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every infopo_cli module that ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # ``from pkg import name``: the submodule when ``name`` is one, else the module ``pkg``
            targets = [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = MODULE_STRING.match(node.value)
            targets = [m.group(1)] if m else []
        for t in targets:
            if t.startswith("infopo_cli"):
                mod = resolve(t, known)
                if mod and mod != name and mod != "infopo_cli":
                    found.add(mod)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def room(module: str) -> str:
    """The top-level folder (or module) a module lives in: core, runtime, recipes, tasks, ..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


# room -> rooms it must never import
FORBIDDEN = {
    "runtime": {"core", "recipes", "zoo", "cli", "engines", "simulators", "tasks"},
    "core": {"recipes", "zoo", "cli"},
    "engines": {"recipes", "zoo", "cli", "simulators", "tasks"},
    "tasks": {"recipes", "zoo", "cli", "engines", "runtime"},
    "simulators": {"recipes", "cli", "tasks"},
    "zoo": {"recipes", "cli"},
    "recipes": {"cli"},
    "data": {"core", "runtime", "recipes", "zoo", "cli", "engines", "simulators", "tasks"},
}


def test_cycle_finder_finds_a_hidden_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_local_and_string_imports_are_seen(tmp_path):
    known = {"infopo_cli.x": tmp_path / "x.py", "infopo_cli.y": tmp_path / "y.py"}
    src = 'def f():\n    from infopo_cli import y\n    return "infopo_cli.y:main"\n'
    (tmp_path / "x.py").write_text(src)
    assert imports_of("infopo_cli.x", tmp_path / "x.py", known) == {"infopo_cli.y"}


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


@pytest.mark.parametrize("source", sorted(FORBIDDEN))
def test_arrows_point_one_way(source):
    bad = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        if room(a) == source
        for b in targets
        if room(b) in FORBIDDEN[source]
    ]
    assert not bad, f"{source} must not import {sorted(FORBIDDEN[source])}: {bad}"


def test_no_recipe_imports_another_recipe():
    shared = {"infopo_cli.recipes.setup", "infopo_cli.recipes"}
    bad = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        if room(a) == "recipes" and a not in shared
        for b in targets
        if room(b) == "recipes" and b not in shared
    ]
    assert not bad, bad
