"""The tag rule language: column-wise evaluation over a DataFrame (missing → false), and a whitelist that
rejects anything else — unsafe or unsupported input raises RuleError at parse time, and nothing is executed.
"""
from __future__ import annotations

import builtins
import math
import os
import re

import numpy as np
import pandas as pd
import pytest

from workbench.model.expr import FUNCTIONS, Rule, RuleError, parse_rule

NAN = np.nan


@pytest.fixture
def frame() -> pd.DataFrame:
    """Five students (a non-default index) with one missing value in each of two columns."""
    return pd.DataFrame({
        "academic": [10.0, 30.0, 60.0, NAN, 90.0],
        "emotion": [0.0, 50.0, 80.0, 40.0, NAN],
        "psy_gad7_max": [12, 5, 15, 14, 3],            # integers: evaluated as numbers too
        "zero": [0.0, 2.0, 0.0, 4.0, 5.0],
    }, index=pd.Index(["s1", "s2", "s3", "s4", "s5"], name="student_key"))


def ev(rule: str, frame: pd.DataFrame) -> list[bool]:
    out = parse_rule(rule).evaluate(frame)
    assert isinstance(out, pd.Series) and out.dtype == bool
    assert out.index.equals(frame.index)
    return out.tolist()


# ---------------------------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize("rule,expected", [
    # comparisons
    ("academic < 40", [True, True, False, False, False]),
    ("academic <= 30", [True, True, False, False, False]),
    ("academic > 30", [False, False, True, False, True]),
    ("academic >= 30", [False, True, True, False, True]),
    ("academic == 60", [False, False, True, False, False]),
    ("academic != 30", [True, False, True, False, True]),
    ("academic > emotion", [True, False, False, False, False]),
    ("psy_gad7_max >= 10", [True, False, True, True, False]),
    ("40 > academic", [True, True, False, False, False]),
    # and / or / not
    ("academic < 40 and psy_gad7_max >= 10", [True, False, False, False, False]),
    ("academic > 50 or emotion > 70", [False, False, True, False, True]),
    ("academic < 20 or emotion > 70 or psy_gad7_max < 4", [True, False, True, False, True]),
    ("not academic < 40", [False, False, True, True, True]),        # documented: NaN < 40 is false, so not → true
    ("not (academic < 40 or emotion < 40)", [False, False, True, True, True]),
    ("academic > 20 and not emotion > 60", [False, True, False, False, True]),
    ("(academic < 20 or academic > 80) and psy_gad7_max < 13", [True, False, False, False, True]),
    # chained comparison
    ("20 <= academic < 40", [False, True, False, False, False]),
    ("10 <= academic <= 60", [True, True, True, False, False]),
    ("0 <= emotion < academic", [True, False, False, False, False]),
    ("0 < academic < 100 < emotion", [False, False, False, False, False]),
    # arithmetic, precedence, unary minus / plus
    ("academic * 2 - 10 > 100", [False, False, True, False, True]),
    ("academic + emotion / 2 >= 70", [False, False, True, False, False]),
    ("(academic + emotion) / 2 >= 70", [False, False, True, False, False]),
    ("(academic + emotion) / 2 >= 40", [False, True, True, False, False]),
    ("academic - emotion > 0", [True, False, False, False, False]),
    ("-academic < -50", [False, False, True, False, True]),
    ("-(academic) + 100 > 50", [True, True, False, False, False]),
    ("academic - -10 > 95", [False, False, False, False, True]),
    ("+academic > 50", [False, False, True, False, True]),
    ("academic > -1", [True, True, True, False, True]),
    ("academic * 0.5 == 5", [True, False, False, False, False]),
    # functions
    ("abs(academic - 50) <= 20", [False, True, True, False, False]),
    ("abs(-5) == 5", [True, True, True, True, True]),
    ("min(academic, emotion) >= 10", [False, True, True, False, False]),   # a missing argument → missing
    ("max(academic, emotion) >= 80", [False, False, True, False, False]),
    ("max(academic, 50) == 50", [True, True, False, False, False]),
    ("min(academic, 20, psy_gad7_max) == 5", [False, True, False, False, False]),
    ("missing(academic)", [False, False, False, True, False]),
    ("missing(emotion) or missing(academic)", [False, False, False, True, True]),
    ("not missing(emotion)", [True, True, True, True, False]),
    ("academic < 20 and (psy_gad7_max >= 10 or missing(emotion))", [True, False, False, False, False]),
    # true / false
    ("true", [True] * 5),
    ("false", [False] * 5),
    ("not false", [True] * 5),
    ("not true", [False] * 5),
    ("true and academic > 50", [False, False, True, False, True]),
    ("false or academic > 50", [False, False, True, False, True]),
    ("1 < 2", [True] * 5),
])
def test_evaluate(frame, rule, expected):
    assert ev(rule, frame) == expected


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_any_comparison_with_a_missing_value_is_false(frame, op):
    assert ev(f"academic {op} 30", frame)[3] is False       # academic missing
    assert ev(f"30 {op} academic", frame)[3] is False
    assert ev(f"emotion {op} academic", frame)[3:] == [False, False]
    assert ev(f"academic + 1 {op} 30", frame)[3] is False   # arithmetic keeps it missing


def test_missing_value_is_not_equal_to_itself(frame):
    assert ev("academic == academic", frame) == [True, True, True, False, True]


def test_division_by_zero_is_missing_so_false(frame):
    assert ev("academic / 0 > 1", frame) == [False] * 5
    assert ev("academic / 0 < 1", frame) == [False] * 5
    assert ev("academic / 0 == academic / 0", frame) == [False] * 5
    assert ev("missing(academic / 0)", frame) == [True] * 5
    assert ev("academic < 1 / 0", frame) == [False] * 5
    assert ev("0 / 0 == 0", frame) == [False] * 5
    # column divisor: zero where zero == 0 (s1, s3), missing academic for s4
    assert ev("academic / zero > 0", frame) == [False, True, False, False, True]
    assert ev("missing(academic / zero)", frame) == [True, False, True, True, False]
    assert ev("not academic / zero > 0", frame) == [True, False, True, True, False]


def test_evaluate_leaves_the_frame_alone(frame):
    before = frame.copy()
    parse_rule("academic / zero > 0 and -academic < 0 or missing(emotion)").evaluate(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_evaluate_on_empty_frame_and_nullable_columns():
    empty = pd.DataFrame({"academic": pd.Series([], dtype=float)})
    assert parse_rule("academic < 40").evaluate(empty).tolist() == []
    nullable = pd.DataFrame({"academic": pd.array([10, None, 50], dtype="Int64")})
    assert parse_rule("academic < 40").evaluate(nullable).tolist() == [True, False, False]
    assert parse_rule("missing(academic)").evaluate(nullable).tolist() == [False, True, False]


def test_rule_keeps_its_text_and_is_reusable(frame):
    rule = parse_rule("academic < 40")
    assert isinstance(rule, Rule) and rule.text == "academic < 40"
    assert ev("academic < 40", frame) == rule.evaluate(frame).tolist() == rule.evaluate(frame).tolist()
    assert rule.evaluate(frame.iloc[:2]).tolist() == [True, True]


def test_comparisons_count_as_numbers_in_arithmetic(frame):
    # s3: academic 60 > 50 and emotion 80 > 50 → two conditions hold
    assert ev("(academic > 50) + (emotion > 50) >= 2", frame) == [False, False, True, False, False]


# ---------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("rule,names", [
    ("academic < 40 and psy_gad7_max >= 10", {"academic", "psy_gad7_max"}),
    ("max(academic, emotion) > 3 and missing(psy) and true", {"academic", "emotion", "psy"}),
    ("min(abs(academic), max(overall, 1)) < 2 or false", {"academic", "overall"}),
    ("20 <= academic < 40", {"academic"}),
    ("true", set()),
    ("1 < 2", set()),
])
def test_names_are_fields_only(rule, names):
    assert parse_rule(rule).names == frozenset(names)
    assert not parse_rule(rule).names & set(FUNCTIONS)


# ---------------------------------------------------------------------------------------------- rejected
@pytest.mark.parametrize("rule,fragment", [
    ("__import__('os').system('x')", "is not allowed"),
    ("__import__('os')", "function __import__ is not allowed"),
    ("academic.real > 1", "Attribute is not allowed"),
    ("academic.__class__", "Attribute is not allowed"),
    ("().__class__.__bases__", "is not allowed"),
    ("academic[0] > 1", "Subscript is not allowed"),
    ("(lambda: 1)() > 0", "is not allowed"),
    ("lambda x: x", "Lambda is not allowed"),
    ("academic == 'x'", "only numbers are allowed as constants"),
    ("'academic' < 40", "only numbers are allowed as constants"),
    ("academic == b'x'", "only numbers are allowed as constants"),
    ("academic == None", "only numbers are allowed as constants"),
    ("academic > True", "only numbers are allowed as constants"),
    ("academic > 1j", "only numbers are allowed as constants"),
    ("f'{academic}' == 1", "is not allowed"),
    ("max(academic, key=abs) > 1", "function max is not allowed"),
    ("[x for x in academic]", "ListComp is not allowed"),
    ("sum(x for x in academic) > 1", "is not allowed"),
    ("(x := 1) > 0", "NamedExpr is not allowed"),
    ("open('f')", "function open is not allowed"),
    ("eval('1') > 0", "function eval is not allowed"),
    ("exec('x = 1')", "function exec is not allowed"),
    ("getattr(academic, 'real') > 1", "function getattr is not allowed"),
    ("sum(academic) > 1", "function sum is not allowed"),
    ("max(*academic) > 1", "Starred is not allowed"),
    ("academic ** 2 > 1", "Pow is not allowed"),
    ("academic % 2 == 0", "Mod is not allowed"),
    ("academic // 2 == 0", "FloorDiv is not allowed"),
    ("academic & emotion", "BitAnd is not allowed"),
    ("~academic", "Invert is not allowed"),
    ("academic in (1, 2)", "is not allowed"),
    ("academic is emotion", "Is is not allowed"),
    ("academic if emotion else 1", "IfExp is not allowed"),
    ("{1: academic}", "Dict is not allowed"),
    ("{academic}", "Set is not allowed"),
    ("academic, emotion", "Tuple is not allowed"),
    ("[academic]", "List is not allowed"),
    ("abs(academic, emotion) > 1", "abs takes one argument"),
    ("missing() or true", "missing takes one argument"),
    ("missing(academic, emotion)", "missing takes one argument"),
    ("max() > 1", "max takes arguments"),
    ("academic.real(1) > 1", "is not allowed"),
])
def test_rejected(rule, fragment):
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    msg = str(info.value)
    assert fragment in msg, msg
    assert re.match(r"column \d+: ", msg), msg


@pytest.mark.parametrize("rule", ["import os", "academic; 1", "x = 1", "academic <", "academic < 40 and",
                                  "academic <> 3", "a b", "academic < 40)", "def f(): pass"])
def test_does_not_parse(rule):
    with pytest.raises(RuleError, match=r"^column \d+: cannot parse \(.+\)"):
        parse_rule(rule)


def test_unbalanced_parenthesis_names_the_column():
    with pytest.raises(RuleError) as info:
        parse_rule("(academic < 40")
    assert str(info.value).startswith("column 1: cannot parse (")
    assert "never closed" in str(info.value)
    with pytest.raises(RuleError, match=r"^column 14: cannot parse \(unmatched '\)'\)"):
        parse_rule("academic < 40)")


def test_rejected_construct_is_located():
    with pytest.raises(RuleError, match=r"^column 19: Attribute is not allowed"):
        parse_rule("academic < 40 and emotion.real > 3")


@pytest.mark.parametrize("rule", ["", "   ", "\n\t", None, 5])
def test_empty_rule(rule):
    with pytest.raises(RuleError, match="empty rule"):
        parse_rule(rule)


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)


# ---------------------------------------------------------------------------------------------- nothing executed
def test_unsafe_rules_execute_nothing(monkeypatch, tmp_path):
    calls: list[tuple] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(("system", a)) or 0)
    monkeypatch.setattr(os, "remove", lambda *a: calls.append(("remove", a)))
    monkeypatch.chdir(tmp_path)
    for rule in ["__import__('os').system('x')", "__import__('os').remove('f')", "open('pwned.txt', 'w')",
                 "(lambda: __import__('os').system('x'))()", "[__import__('os').system('x') for _ in [1]]",
                 "exec(\"open('pwned.txt', 'w')\")", "eval(\"__import__('os').system('x')\")"]:
        with pytest.raises(RuleError):
            parse_rule(rule)
    assert calls == []
    assert list(tmp_path.iterdir()) == []


def test_evaluation_never_calls_eval(monkeypatch, frame):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"eval/exec called with {args!r}")
    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(pd, "eval", forbidden)
    monkeypatch.setattr(pd.DataFrame, "eval", forbidden)
    monkeypatch.setattr(pd.DataFrame, "query", forbidden)
    rule = parse_rule("20 <= academic < 40 and not missing(emotion) or abs(-academic) / zero > max(1, psy_gad7_max)")
    assert rule.evaluate(frame).tolist() == [False, True, False, False, True]
    assert ev("true and -academic + 1 < min(emotion, 5)", frame) == [True, True, True, False, False]


def test_names_in_the_rule_are_looked_up_only_as_columns(frame):
    """A rule field that is a Python builtin is just a (missing) column, never the builtin."""
    assert parse_rule("open < 1").names == {"open"}
    with pytest.raises(KeyError):
        parse_rule("open < 1").evaluate(frame)
    assert ev("len > 1", frame.assign(len=[0, 2, 0, 2, math.nan])) == [False, True, False, True, False]
