"""The ``calculate`` tool both benchmarks offer: arithmetic over numbers, without ``eval``.

Numbers, ``+ - * /``, unary signs and parentheses; the result is rounded to two decimals. Both
versions refuse any other character first, then parse the expression and walk its tree. They
word their errors differently, and tau-bench v1 also accepts ``**`` (up to an exponent of 64) and
calls a blank expression a character error; a ``Calculator`` holds one version's choices.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass

from infopo_cli.tasks.tau.tools import ToolError

ALLOWED = "0123456789+-*/(). "
_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type, Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


@dataclass(frozen=True)
class Calculator:
    """One version of the tool; calling it evaluates an expression or raises ToolError."""

    refused: str  # characters outside ALLOWED
    unparsable: str  # a syntax error; ``{reason}`` names it
    unsupported: str  # any other construct (``//``, ``...``)
    refuse_blank: bool = False  # a blank expression gets ``refused`` (else it fails to parse)
    max_exponent: int | None = None  # ``**`` allowed up to this |exponent|; None: unsupported

    def __call__(self, expression: str) -> str:
        blank = self.refuse_blank and not expression.strip()
        if blank or any(c not in ALLOWED for c in expression):
            raise ToolError(self.refused)
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError as e:
            raise ToolError(self.unparsable.format(reason=e.msg)) from None
        try:
            value = self._value(tree.body)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        return str(round(float(value), 2))

    def _value(self, node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self._value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self._value(node.left), self._value(node.right))
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Pow)
            and self.max_exponent is not None
        ):
            base, exponent = self._value(node.left), self._value(node.right)
            if abs(exponent) > self.max_exponent:
                raise ToolError("exponent too large")
            return base**exponent
        raise ToolError(self.unsupported)
