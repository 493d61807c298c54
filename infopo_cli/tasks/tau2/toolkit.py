"""tau2's tools as methods of a ``Toolkit``: declaration, dispatch, errors as results.

A tool is a method declared with ``@tool(kind, description, arg=schema, ...)``. ``Toolkit.call``
checks the arguments strictly (``schema.py``), runs the method and returns the result as text
(``ToolSpec``, ``ToolError`` and ``outcome`` come from the shared core).
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from typing import Any

from infopo_cli.tasks.tau.tools import JSON, KINDS, ToolError, ToolSpec, outcome
from infopo_cli.tasks.tau2.schema import check_fields


def tool(kind: str, description: str, **params: JSON) -> Callable:
    """Declare a method as a tool of ``kind`` (read, write or generic) with argument schemas."""
    if kind not in KINDS:
        raise ValueError(f"tool kind must be read, write or generic, got {kind!r}")

    def mark(fn: Callable) -> Callable:
        fn.tool_spec = ToolSpec(fn.__name__, kind, " ".join(description.split()), params)
        return fn

    return mark


class Toolkit:
    """A set of tools over some state. Subclasses declare tools with ``@tool``."""

    def __init__(self) -> None:
        self.specs = self.tool_specs()

    @classmethod
    def tool_specs(cls) -> dict[str, ToolSpec]:
        """The declared tools, in definition order."""
        specs: dict[str, ToolSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "tool_spec", None)
                if spec is not None:
                    specs[spec.name] = spec
        return specs

    def call(self, name: str, arguments: Any) -> tuple[str, bool]:
        """Run tool ``name``; returns (result text, ok). Failures come back as ``Error: ...``."""
        spec = self.specs.get(name)
        if spec is None:
            return f"Error: unknown tool '{name}'; available: {', '.join(self.specs)}", False
        return outcome(lambda: getattr(self, name)(**self._checked(spec, arguments)))

    @staticmethod
    def _checked(spec: ToolSpec, arguments: Any) -> dict:
        if not isinstance(arguments, dict):
            raise ToolError(f"arguments must be a JSON object, got {json.dumps(arguments)}")
        return check_fields(spec.params, spec.required, arguments, "")

    def run_function(self, name: str, arguments: dict) -> Any:
        """Call any public method by name (scenario set-up and assertion functions included)."""
        fn = getattr(self, name, None)
        if name.startswith("_") or not callable(fn):
            raise ToolError(f"{type(self).__name__} has no function '{name}'")
        return fn(**arguments)


# -- arithmetic without eval ------------------------------------------------------------------------

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def calculate(expression: str) -> str:
    """Evaluate ``+ - * /`` and parentheses over numbers; result rounded to 2 decimals."""
    if not all(c in "0123456789+-*/(). " for c in expression):
        raise ToolError("invalid characters in expression; use numbers, + - * / ( ) and spaces")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ToolError(f"invalid expression: {e.msg}") from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ToolError("division by zero")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        raise ToolError("invalid expression")

    return str(round(float(ev(tree)), 2))
