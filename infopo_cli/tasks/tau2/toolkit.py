"""tau2's tools as methods of a ``Toolkit``: declaration, dispatch, errors as results.

A tool is a method declared with ``@tool(kind, description, arg=schema, ...)``, or a shared domain
rule declared in a subclass (``book_reservation = tool(...)(Airline.book_reservation)``).
``Toolkit.call`` checks the arguments (``schema.py``), runs the method and returns the result as
text (``ToolSpec``, ``ToolError`` and ``outcome`` come from the shared core).

``strict_upstream`` (set per instance by ``World``) selects tau2-bench's behaviour where the
project has a documented deviation (``docs/fidelity.md``); toolkits read it in their rules.

Results: tau2-bench's records are pydantic models, dumped with every field, so a field the data
leaves out reads ``null``, in declaration order, and a ``datetime`` field is written by ``str``
(``2025-01-15 10:30:00``). Under ``strict_upstream`` a record in a result (found by its field set,
``RECORDS``) is written the same way (``upstream_record``); otherwise as stored.

``calculate`` is tau2-bench's calculator: no ``**``, and its own error wording.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from infopo_cli.tasks.tau.arithmetic import Calculator
from infopo_cli.tasks.tau.tools import JSON, KINDS, ToolError, ToolSpec, outcome
from infopo_cli.tasks.tau2.schema import check_fields

calculate = Calculator(
    refused="invalid characters in expression; use numbers, + - * / ( ) and spaces",
    unparsable="invalid expression: {reason}",
    unsupported="invalid expression",
)


def upstream_record(value: Any, records: tuple[tuple[str, ...], ...], stamps: frozenset) -> Any:
    """``value`` with every record in it written as tau2-bench dumps its model: all ``fields`` in
    order (missing ones ``None``), then any others; ``stamps`` (datetime fields) as ``str`` writes
    them, ``T`` -> space. A dict is a record of ``fields`` when it holds the first one and no key
    outside them."""
    if isinstance(value, list):
        return [upstream_record(v, records, stamps) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: upstream_record(v, records, stamps) for k, v in value.items()}
    for fields in records:
        if fields[0] in out and set(out) <= set(fields):
            out = {f: out.get(f) for f in fields}
            for f in stamps & set(out):
                if isinstance(out[f], str):
                    out[f] = out[f].replace("T", " ", 1)
            break
    return out


def tool(kind: str, description: str, **params: JSON) -> Callable:
    """Declare a function as a tool of ``kind`` (read, write or generic) with argument schemas.

    The function is wrapped, not marked, so one shared implementation can be declared by several
    toolkits."""
    if kind not in KINDS:
        raise ValueError(f"tool kind must be read, write or generic, got {kind!r}")

    def declare(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def declared(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        # whitespace is normalised within paragraphs; blank lines between them are kept, as in
        # tau2-bench's descriptions (short description, blank line, long description)
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", description)]
        text = "\n\n".join(p for p in paragraphs if p)
        declared.tool_spec = ToolSpec(fn.__name__, kind, text, params)
        return declared

    return declare


class Toolkit:
    """A set of tools over some state. Subclasses declare tools with ``@tool``."""

    strict_upstream: bool = True  # tau2-bench's behaviour; False: the project's deviations
    RECORDS: tuple[tuple[str, ...], ...] = ()  # tau2-bench's record models: their fields, in order
    STAMPS: frozenset = frozenset()  # the fields of those typed ``datetime``

    @classmethod
    @functools.cache
    def tool_specs(cls) -> dict[str, ToolSpec]:
        """The declared tools, in definition order (computed once per class; do not change)."""
        specs: dict[str, ToolSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "tool_spec", None)
                if spec is not None:
                    specs[spec.name] = spec
        return specs

    @property
    def specs(self) -> dict[str, ToolSpec]:
        return self.tool_specs()

    def call(self, name: str, arguments: Any) -> tuple[str, bool]:
        """Run tool ``name``; returns (result text, ok). Failures come back as ``Error: ...``."""
        spec = self.specs.get(name)
        if spec is None:
            return f"Error: unknown tool '{name}'; available: {', '.join(self.specs)}", False
        return outcome(lambda: self._present(getattr(self, name)(**self._checked(spec, arguments))))

    def _present(self, result: Any) -> Any:
        if not self.strict_upstream or not self.RECORDS:
            return result
        return upstream_record(result, self.RECORDS, self.STAMPS)

    def _checked(self, spec: ToolSpec, arguments: Any) -> dict:
        if not isinstance(arguments, dict):
            raise ToolError(f"arguments must be a JSON object, got {json.dumps(arguments)}")
        strict_nested = not self.strict_upstream
        return check_fields(spec.params, spec.required, arguments, "", strict_nested)

    def run_function(self, name: str, arguments: dict) -> Any:
        """Call any public method by name (scenario set-up and assertion functions included)."""
        fn = getattr(self, name, None)
        if name.startswith("_") or not callable(fn):
            raise ToolError(f"{type(self).__name__} has no function '{name}'")
        return fn(**arguments)
