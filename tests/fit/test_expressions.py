"""User expressions (constraints, restraints, trends): only arithmetic over parameter names reaches lmfit; anything
else (open(), attribute access, loops, lambdas, unknown names, constant overflow) is an InputError naming the option
and the offending piece, before lmfit's interpreter sees the text."""

import math
import pickle

import lmfit
import numpy as np
import pytest

from refine.errors import InputError
from refine.fit import Restraint
from refine.fit.constraints import apply_constraints, set_expression
from refine.fit.expressions import Expression, check_expression, evaluate
from refine.fit.objective import restraint_rows

NAMES = {"a", "b_x", "zero"}


@pytest.mark.parametrize("expr", ["a*2", "sqrt(a**2 + b_x**2)", "-a + +b_x", "2**10*a", "pi*a/180", "exp(-a)",
                                  "min(a, b_x)", "1e-3*a", "(a)", "arctan2(a, b_x) + log10(abs(zero) + 1)", "e**a"])
def test_arithmetic_is_accepted(expr):
    check_expression(expr, NAMES, source="--constrain")


@pytest.mark.parametrize(("expr", "piece"), [
    ("zero + 0*len(open('secret.txt').read())", "'len'"),
    ("open('secret.txt').read()", "open('secret.txt').read"),
    ("a.__class__", "'a.__class__'"),
    ("a.real", "'a.real'"),
    ("__import__('os')", "'__import__'"),
    ("[x for x in (1, 2)][0]", "[x for x in (1, 2)]"),
    ("sum(x for x in (1, 2))", "'sum'"),
    ("(lambda: 1)()", "lambda: 1"),
    ("a[0]", "'a[0]'"),
    ("'text'", "\"'text'\""),
    ("a if a else b_x", "'a if a else b_x'"),
    ("a < b_x", "'a < b_x'"),
    ("(a := 1)", "'a := 1'"),
    ("a % 2", "Mod operator"),
    ("True + a", "'True'"),
    ("1j*a", "'1j'"),
    ("c*2", "unknown name 'c'"),
    ("sqrt", "must be called"),
    ("sqrt(a, **{})", "keywords"),
    ("9**9**9", "overflows"),
    ("1/0 + a", "divides by zero"),
    ("a\nimport os", "not an expression"),
    ("", "empty expression"),
])
def test_everything_else_is_refused_naming_the_piece(expr, piece):
    with pytest.raises(InputError) as err:
        check_expression(expr, NAMES, source="--constrain")
    assert str(err.value).startswith("--constrain: ") and piece in str(err.value)
    assert "\n" not in str(err.value)


def test_nesting_and_length_limits_are_input_errors():
    for expr in ("(" * 10000 + "a" + ")" * 10000, "a+" * 5000 + "a", "-" * 100000 + "a"):
        with pytest.raises(InputError, match="--constrain"):
            check_expression(expr, NAMES, source="--constrain")


def test_constraint_with_open_never_runs(tmp_path, monkeypatch):
    """The issue's leak: an expression reading a file is refused before lmfit's asteval evaluates it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("42\n")
    monkeypatch.chdir(tmp_path)
    params = lmfit.Parameters()
    params.add("zero", value=0.0)
    params.add("a", value=3.0)
    with pytest.raises(InputError, match="'float' is not allowed|'float'"):
        apply_constraints(params, [("zero", "float(open('secret.txt').read())")])
    assert params["zero"].expr is None and params["zero"].value == 0.0


def test_valid_constraint_still_applies():
    params = lmfit.Parameters()
    params.add("a", value=3.0)
    params.add("b_x", value=4.0)
    out = apply_constraints(params, [("b_x", "sqrt(a**2 + 7)")])
    assert out["b_x"].expr == "sqrt(a**2 + 7)" and out["b_x"].value == pytest.approx(4.0, rel=1e-15)
    out.add("c", value=0.0)
    set_expression(out, "c", "b_x/2", source="--trend")
    out.update_constraints()
    assert out["c"].value == pytest.approx(2.0, rel=1e-15)
    with pytest.raises(InputError, match="--trend: 'b_x.__class__'"):
        set_expression(out, "c", "b_x.__class__", source="--trend")
    with pytest.raises(InputError, match="circular"):
        apply_constraints(out, [("a", "b_x*2")])


def test_restraints_are_checked_when_made_and_evaluated_without_asteval():
    params = lmfit.Parameters()
    params.add("a", value=3.0)
    params.add("b_x", value=4.0)
    rows = restraint_rows([Restraint("sqrt(a**2 + b_x**2)", target=4.5, sigma=0.25)], params)
    assert rows == pytest.approx([2.0], rel=1e-14)  # (5 - 4.5) / 0.25
    with pytest.raises(InputError, match=r"restraint: .*open\('x'\)\.read\" is not allowed"):
        Restraint("open('x').read()", target=1.0, sigma=1.0)
    with pytest.raises(InputError, match="unknown name 'q'"):
        restraint_rows([Restraint("q + a", target=1.0, sigma=1.0)], params)
    with pytest.raises(InputError, match="ZeroDivisionError"):
        restraint_rows([Restraint("a/(b_x - 4)", target=1.0, sigma=1.0)], params)
    r = pickle.loads(pickle.dumps(Restraint("a + b_x", target=1.0, sigma=1.0)))  # worker processes get restraints
    assert restraint_rows([r], params) == pytest.approx([6.0], rel=1e-15)


def test_evaluate_matches_numpy():
    values = {"a": 0.3, "b_x": -1.7}
    assert evaluate("arcsin(a) * cos(b_x) - log(e) + pi", values) == pytest.approx(
        np.arcsin(0.3) * np.cos(-1.7) - 1 + math.pi, rel=1e-15)
    assert Expression.parse("a + e").names == frozenset({"a", "e"})
