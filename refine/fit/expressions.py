"""Checked arithmetic expressions over parameter names: the only user text that reaches lmfit's interpreter.

lmfit evaluates constraint expressions with asteval, a Python interpreter that offers ``open()``, loops,
function definitions and attribute access. A constraint (``--constrain``), restraint (``--restrain``) or any other
user expression is therefore parsed here with :mod:`ast` first and accepted only when it is arithmetic: numbers,
names of existing parameters, ``pi`` and ``e``, ``+ - * / **``, unary ``+ -``, parentheses and calls of the math
functions in :data:`FUNCTIONS`. Everything else is bad input (:class:`~refine.errors.InputError` naming the
option and the offending piece) before lmfit sees the text. Restraints are evaluated by :func:`evaluate`, which
runs only such checked expressions, without asteval.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import CodeType

import numpy as np

from refine.errors import InputError

#: Functions an expression may call (each exists under the same name in lmfit's asteval symbol table).
FUNCTIONS = {
    "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log10": np.log10, "log2": np.log2,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "arctan2": np.arctan2, "hypot": np.hypot,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "radians": np.radians, "degrees": np.degrees,
    "abs": abs, "min": min, "max": max,
}
#: Named constants (a parameter of the same name takes precedence, as in lmfit).
CONSTANTS = {"pi": math.pi, "e": math.e}
#: Longest expression accepted (characters); real constraints are a few dozen.
MAX_LENGTH = 5000

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = (ast.UAdd, ast.USub)
_ALLOWED = ("numbers, parameter names, pi, e, + - * / **, parentheses and " + ", ".join(sorted(FUNCTIONS)))


def _piece(node: ast.AST, expr: str) -> str:
    """The source text of ``node`` (shortened), for messages."""
    text = ast.get_source_segment(expr, node) or type(node).__name__
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Walks a parsed expression; raises InputError at the first node that is not plain arithmetic."""

    def __init__(self, expr: str, names: Collection[str] | None, source: str) -> None:
        self.expr, self.names, self.source = expr, names, source

    def fail(self, problem: str) -> None:
        raise InputError(self.source, f"{self.expr!r}: {problem}")

    def refuse(self, node: ast.AST, what: str | None = None) -> None:
        if what is None:
            op = getattr(node, "op", None)
            what = f"{type(op).__name__} operator" if op is not None else type(node).__name__
        self.fail(f"{_piece(node, self.expr)!r} is not allowed ({what}); an expression may hold only {_ALLOWED}")

    def visit(self, node: ast.AST) -> float | None:
        """Check ``node``; returns its value when it holds only numbers and constants (else None)."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                self.refuse(node, "not a real number")
            try:
                return float(node.value)
            except OverflowError:
                self.fail(f"{_piece(node, self.expr)!r} is too large a number")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, _UNARY):
            value = self.visit(node.operand)
            return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self.binary(node)
        if isinstance(node, ast.Call):
            self.call(node)
            return None
        self.refuse(node)
        return None  # pragma: no cover - refuse raises

    def name(self, node: ast.Name) -> float | None:
        if self.names is not None and node.id in self.names:
            return None
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            self.fail(f"function {node.id!r} must be called, e.g. {node.id}(x)")
        if node.id.startswith("__"):
            self.refuse(node, "dunder name")
        if self.names is not None:
            self.fail(f"unknown name {node.id!r}: not a parameter (see the names in a fit report) nor pi or e")
        return None

    def binary(self, node: ast.BinOp) -> float | None:
        left, right = self.visit(node.left), self.visit(node.right)
        if left is None or right is None:
            return None
        try:  # numbers only: fold in floats, so that 9**9**9 is refused here instead of hanging the interpreter
            value = _BINARY[type(node.op)](left, right)
        except OverflowError:
            self.fail(f"{_piece(node, self.expr)!r} overflows")
        except ZeroDivisionError:
            self.fail(f"{_piece(node, self.expr)!r} divides by zero")
        if not isinstance(value, float) or not math.isfinite(value):
            self.fail(f"{_piece(node, self.expr)!r} is not a finite real number")
        return value

    def call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            self.refuse(node.func, "only the listed functions may be called")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or not node.args:
            self.refuse(node, "function call with keywords, * or no argument")
        for arg in node.args:
            self.visit(arg)


def check_expression(expr: str, names: Collection[str] | None = None, *, source: str = "expression") -> ast.Expression:
    """Parse ``expr`` and accept only arithmetic over ``names`` (None: any name that is not a function or dunder
    name, to be checked later), numbers, pi and e, and calls of :data:`FUNCTIONS`.

    Returns the parsed tree; raises :class:`InputError` (``source`` is the option or field named in the message)
    for anything else: attribute access, subscripts, strings, lambdas, comprehensions, comparisons, other
    functions, unknown names, or constant arithmetic that overflows.
    """
    if not isinstance(expr, str):
        raise InputError(source, f"expression must be text, got {type(expr).__name__}")
    if not expr.strip():
        raise InputError(source, "empty expression")
    if len(expr) > MAX_LENGTH:
        raise InputError(source, f"expression of {len(expr)} characters; at most {MAX_LENGTH}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(source, f"{expr!r}: not an expression ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise InputError(source, f"{expr[:60]!r}...: too deeply nested or not text") from None
    checker = _Checker(expr.strip(), names, source)
    try:
        checker.visit(tree.body)
    except RecursionError:
        raise InputError(source, f"{expr[:60]!r}...: too deeply nested") from None
    return tree


@dataclass(frozen=True)
class Expression:
    """A checked expression, compiled once: its text, the names it reads and the option it came from."""

    text: str
    names: frozenset[str]
    source: str
    code: CodeType = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, names: Collection[str] | None = None, *, source: str = "expression") -> Expression:
        """:func:`check_expression`, then compile."""
        tree = check_expression(text, names, source=source)
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        read = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called)
        return cls(text=text, names=read, source=source, code=compile(tree, "<expression>", "eval"))

    def __reduce__(self):  # code objects do not pickle: send the text, check and compile again
        return _parse_again, (self.text, self.source)

    def value(self, values: Mapping[str, float]) -> float:
        """The value with parameter ``values`` (no asteval: only checked arithmetic runs); a name that is neither
        in ``values`` nor a constant, and arithmetic errors (division by zero, overflow), raise InputError."""
        missing = sorted(self.names - values.keys() - CONSTANTS.keys())
        if missing:
            raise InputError(self.source, f"{self.text!r}: unknown name {missing[0]!r}: not a parameter (see the "
                                          "names in a fit report) nor pi or e")
        scope = {**CONSTANTS, **FUNCTIONS, **{k: float(values[k]) for k in self.names if k in values}}
        try:
            value = eval(self.code, {"__builtins__": {}}, scope)  # noqa: S307 - only checked arithmetic
            return float(value)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise InputError(self.source, f"cannot evaluate {self.text!r}: {type(exc).__name__}: {exc}") from None


def _parse_again(text: str, source: str) -> Expression:
    return Expression.parse(text, source=source)


def evaluate(expr: str, values: Mapping[str, float], *, source: str = "expression") -> float:
    """The value of ``expr`` with parameter ``values`` (checked and compiled first; see :class:`Expression`)."""
    return Expression.parse(expr, values.keys(), source=source).value(values)
