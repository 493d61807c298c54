"""FunctionGym: find a hidden rule of four integers (``c * (a * b) * d``), then apply it.

Fully rule-based, no simulator:

* ``action: a b c d`` (four numbers, spaces or commas) returns the rule's value. The test inputs
  themselves are refused, so the answer cannot be read off.
* ``search: test`` reveals the test inputs.
* ``answer: x`` scores 1.0 and ends the episode when x is right; a wrong answer scores 0 and the
  episode goes on (answers may be repeated).

Under UserRL's rules (``upstream_rules``, gyms/FunctionGym/functiongym/env/function_env.py and
data_loader.py) an answer is scored whether or not the test inputs were fetched, it must be a
plain number (Python's ``float``: "-16", "7.5", not "x = -16" nor "22/3"), right means
``|x - expected_result| <= 1e-6``, and decimal inputs to ``action`` are evaluated. The project's
variant (``upstream_rules=False``) refuses an answer before ``search: test``, reads the last
number out of the text (fractions too), accepts ``0.01 + 1e-6 * |expected_result|`` of error and
takes integer inputs only.

Rules are evaluated exactly with fractions (``/`` is true division, ``**`` an integer power), so
the reported values do not depend on float rounding.
"""

from __future__ import annotations

import ast
import random
import re
from fractions import Fraction

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import StepResult
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.protocol import format_call

VARIABLES = ("a", "b", "c", "d")
MAX_BITS = 4096  # larger intermediate numbers are reported as "too large"
ABS_TOL, REL_TOL = 0.01, 1e-6
UPSTREAM_TOL = 1e-6  # compare_answers in gyms/FunctionGym/functiongym/data_loader.py
# The number pattern of FunctionEnv._parse_numbers in UserRL's function_env.py.
_UPSTREAM_INPUT_RE = re.compile(r"-?\d+\.?\d*")


class RuleError(ValueError):
    """The rule cannot be evaluated at these inputs (division by zero, overflow)."""


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.BinOp) and isinstance(
        node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
    ):
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand)
    elif (
        isinstance(node, ast.Name)
        and node.id in VARIABLES
        or isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
    ):
        pass
    else:
        raise ValueError(f"unsupported element {ast.dump(node)[:40]}")


def parse_rule(rule: str) -> ast.Expression:
    """The rule's syntax tree; ValueError unless it uses only a-d, numbers, + - * / ** and ()."""
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not an expression ({e.msg})") from None
    _check(tree)
    return tree


def _eval(node: ast.AST, env: dict[str, Fraction]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    assert isinstance(node, ast.BinOp)
    x, y = _eval(node.left, env), _eval(node.right, env)
    if isinstance(node.op, ast.Add):
        out = x + y
    elif isinstance(node.op, ast.Sub):
        out = x - y
    elif isinstance(node.op, ast.Mult):
        out = x * y
    elif isinstance(node.op, ast.Div):
        if y == 0:
            raise RuleError("division by zero")
        out = x / y
    else:
        out = _power(x, y)
    if out.numerator.bit_length() > MAX_BITS or out.denominator.bit_length() > MAX_BITS:
        raise RuleError("the result is too large to report")
    return out


def _power(x: Fraction, y: Fraction) -> Fraction:
    """x ** y for an integer y; bases 0, 1 and -1 take any exponent, others only while the result
    stays below MAX_BITS bits."""
    if y.denominator != 1:
        raise RuleError("a fractional power is not supported")
    e = int(y)
    if x == 0:
        if e < 0:
            raise RuleError("division by zero")
        return Fraction(1 if e == 0 else 0)
    if x == 1 or x == -1:
        return x ** (e % 2)
    if abs(e) * max(x.numerator.bit_length(), x.denominator.bit_length()) > MAX_BITS:
        raise RuleError("the result is too large to report")
    return x**e


def evaluate_rule(rule: str | ast.Expression, inputs: list[int] | list[Fraction]) -> Fraction:
    """The exact value of ``rule`` at ``inputs`` = [a, b, c, d]; RuleError where undefined."""
    tree = parse_rule(rule) if isinstance(rule, str) else rule
    return _eval(tree, {k: Fraction(v) for k, v in zip(VARIABLES, inputs)})


def format_number(x: Fraction) -> str:
    """Integers as integers, other values with up to six decimals ("7.333333")."""
    if x.denominator == 1:
        return str(x.numerator)
    return f"{float(x):.6f}".rstrip("0").rstrip(".")


_NUM_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*[-+]?\d+(?:\.\d*)?)?")


def parse_number(text: str) -> Fraction | None:
    """The number in an answer: the whole content if it is one ("7.5", "-16", "22/3"), otherwise
    the last number written in it ("x = 12" -> 12). Thousands separators are ignored."""
    t = text.replace(",", "").strip().rstrip(".")
    found = _NUM_RE.findall(t)
    if not found:
        return None
    token = found[-1].replace(" ", "")
    try:
        if "/" in token:
            num, den = token.split("/")
            return Fraction(num) / Fraction(den)
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def parse_plain_number(text: str) -> Fraction | None:
    """The answer as UserRL reads it: the whole (stripped) content through ``float``, so "x = -16"
    or "22/3" is not a number; None when ``float`` refuses it or it is not finite."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None  # never equal to a finite expected result within the tolerance
    return Fraction(value)


def validate_record(record: dict, where: str) -> None:
    """ConfigError unless the task record has a readable rule, four integer test inputs and a
    numeric expected result."""
    try:
        parse_rule(str(record.get("rule", "")))
    except ValueError as e:
        raise ConfigError(f"{where}: rule {record.get('rule')!r} is not usable ({e})") from None
    tc = record.get("test_case")
    if not (
        isinstance(tc, list)
        and len(tc) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in tc)
    ):
        raise ConfigError(f"{where}: test_case must be a list of four integers, got {tc!r}")
    if not isinstance(record.get("expected_result"), (int, float)):
        raise ConfigError(f"{where}: expected_result must be a number")


class FunctionEnv(GymEnv):
    kind = "function"
    choices = ("action", "search", "answer")
    compact_prompt = (
        "A hidden rule maps four integers a b c d to a number with + - * / and powers. "
        "Find it by trying inputs, then apply it to the test inputs. Choices: action 'a b c d' "
        "returns the rule's output; search 'test' shows the test inputs; answer 'x' is your value "
        "for the test inputs."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule = parse_rule(self.record["rule"])
        self.test_case: list[int] = list(self.record["test_case"])
        self.expected = float(self.record["expected_result"])
        self.test_revealed = False
        self.solved = False

    def act(self, choice: str, content: str) -> StepResult:
        if choice == "search":
            if content.strip().strip("'\"").lower() != "test":
                return self.result(
                    "Search only accepts 'test' (it reveals the test inputs).",
                    info={"invalid": True},
                )
            self.test_revealed = True
            shown = " ".join(str(v) for v in self.test_case)
            return self.result(
                f"The test inputs are: {shown}. Apply the hidden rule to them and answer."
            )
        if choice == "action":
            return self._try_inputs(content)
        return self._answer(content)

    def _try_inputs(self, content: str) -> StepResult:
        if self.upstream_rules:
            return self._try_inputs_upstream(content)
        tokens = re.findall(r"[-+]?\d+(?:\.\d+)?", content)
        if len(tokens) != 4:
            return self.result(
                "Give exactly four integers separated by spaces, e.g. '1 2 3 4'.",
                info={"invalid": True},
            )
        if any("." in t for t in tokens):
            return self.result("All four inputs must be integers.", info={"invalid": True})
        inputs = [int(t) for t in tokens]
        if inputs == self.test_case:
            return self.result(
                "These are the test inputs: their output stays hidden. Try other numbers."
            )
        try:
            value = evaluate_rule(self.rule, inputs)
        except RuleError as e:
            return self.result(f"The function has no reportable value at {' '.join(tokens)}: {e}.")
        return self.result(
            f"The function's output for {' '.join(tokens)} is {format_number(value)}."
        )

    def _try_inputs_upstream(self, content: str) -> StepResult:
        """Any four numbers, decimals included, read with UserRL's pattern and evaluated exactly."""
        tokens = [t for t in _UPSTREAM_INPUT_RE.findall(content) if t]
        if len(tokens) != 4:
            return self.result("Please provide exactly four numbers.", info={"invalid": True})
        inputs = [Fraction(t.rstrip(".") or "0") for t in tokens]
        shown = " ".join(format_number(v) for v in inputs)
        if inputs == [Fraction(v) for v in self.test_case]:
            return self.result(
                "These are the test inputs: their output stays hidden. Try other numbers."
            )
        try:
            value = evaluate_rule(self.rule, inputs)
        except RuleError as e:
            return self.result(f"The function has no reportable value at {shown}: {e}.")
        return self.result(f"The function's output for {shown} is {format_number(value)}.")

    def _answer(self, content: str) -> StepResult:
        if self.upstream_rules:
            # UserRL scores an answer at any time and reads it with float() only.
            x = parse_plain_number(content)
            tolerance = UPSTREAM_TOL
        else:
            if not self.test_revealed:
                return self.result("Retrieve the test inputs first (search: test), then answer.")
            x = parse_number(content)
            tolerance = ABS_TOL + REL_TOL * abs(self.expected)
        if x is None:
            return self.result("The answer must be a single number.", info={"invalid": True})
        if abs(float(x) - self.expected) <= tolerance:
            self.solved = True
            return self.result(
                "Correct! Your answer matches the hidden rule's output.", reward=1.0, done=True
            )
        return self.result("Incorrect. That is not the output for the test inputs; keep trying.")

    def success(self) -> bool:
        return self.solved

    def demo_action(self, rng: random.Random) -> str:
        """Try one to three random inputs, then play the oracle."""
        probes = sum(h["choice"] == "action" for h in self.history)
        if probes == 0 or (probes < 3 and not self.test_revealed and rng.random() < 0.5):
            return format_call("action", " ".join(str(rng.randint(-3, 9)) for _ in range(4)))
        return self.oracle_action()

    def oracle_action(self) -> str:
        """Reveal the test inputs, then answer with the rule's exact value."""
        if not self.test_revealed:
            return format_call("search", "test")
        return format_call("answer", format_number(evaluate_rule(self.rule, self.test_case)))
