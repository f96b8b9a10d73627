"""A small, safe expression language for tag rules, evaluated column-wise over a DataFrame.

Grammar (a subset of Python's expression syntax, parsed with :mod:`ast` and walked by a
whitelist, never ``eval``): numbers, ``true``/``false``, names, ``+ - * /``, comparisons (chains
allowed), ``and``, ``or``, ``not``, parentheses and four functions ``abs``, ``min``, ``max`` and
``missing(x)``. A comparison with a missing value is false.

>>> import pandas as pd
>>> rule = parse_rule("academic < 40 and psy_gad7_max >= 10")
>>> sorted(rule.names)
['academic', 'psy_gad7_max']
>>> frame = pd.DataFrame({"academic": [30, 30, 80, None], "psy_gad7_max": [12, 5, 15, 14]})
>>> rule.evaluate(frame).tolist()
[True, False, False, False]
>>> parse_rule("__import__('os')")
Traceback (most recent call last):
...
workbench.model.expr.RuleError: column 1: function __import__ is not allowed; use abs, min, max or missing / 不允许的函数
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import pandas as pd

FUNCTIONS = ("abs", "min", "max", "missing")
_CMP = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_ARITH = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv"}
_CONST = {"true": True, "false": False}


class RuleError(ValueError):
    """A rule that does not parse or uses something the language does not allow."""


@dataclass(frozen=True)
class Rule:
    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean Series over ``frame``'s rows (missing → False)."""
        out = _eval(self.tree.body, frame)
        if not isinstance(out, pd.Series):
            out = pd.Series(out, index=frame.index)
        return out.fillna(False).astype(bool)


def parse_rule(text: str) -> Rule:
    """Parse ``text``; raise :class:`RuleError` naming the column of the problem."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("empty rule / 规则为空")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"column {exc.offset or 0}: cannot parse ({exc.msg}) / 无法解析") from None
    names: set[str] = set()
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        _check(node, names, funcs)
    return Rule(text, tree, frozenset(names))


def _where(node: ast.AST) -> str:
    return f"column {getattr(node, 'col_offset', 0) + 1}"


def _check(node: ast.AST, names: set[str], funcs: set[int]) -> None:
    ok = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
          ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.Call, *_CMP, *_ARITH)
    if not isinstance(node, ok):
        raise RuleError(f"{_where(node)}: {type(node).__name__} is not allowed in a rule / 规则中不允许此写法")
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
        raise RuleError(f"{_where(node)}: only numbers are allowed as constants, got {node.value!r} / 只允许数字常量")
    if isinstance(node, ast.Call):
        fname = node.func.id if isinstance(node.func, ast.Name) else None
        if fname not in FUNCTIONS or node.keywords:
            raise RuleError(f"{_where(node)}: function {fname or ast.unparse(node.func)} is not allowed; "
                            f"use {', '.join(FUNCTIONS[:-1])} or {FUNCTIONS[-1]} / 不允许的函数")
        if (fname in ("abs", "missing") and len(node.args) != 1) or not node.args:
            raise RuleError(f"{_where(node)}: {fname} takes {'one argument' if fname in ('abs', 'missing') else 'arguments'}")
    if isinstance(node, ast.Name) and id(node) not in funcs and node.id not in _CONST:
        names.add(node.id)


def _eval(node: ast.AST, frame: pd.DataFrame):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONST:
            return _CONST[node.id]
        return frame[node.id].astype(float)
    if isinstance(node, ast.BoolOp):
        vals = [_bool(_eval(v, frame), frame) for v in node.values]
        out = vals[0]
        for v in vals[1:]:
            out = (out & v) if isinstance(node.op, ast.And) else (out | v)
        return out
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            return ~_bool(v, frame)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _num(_eval(node.left, frame), frame), _num(_eval(node.right, frame), frame)
        if isinstance(node.op, ast.Div):
            b = b.where(b != 0) if isinstance(b, pd.Series) else (np.nan if b == 0 else b)
        return getattr(_series(a, frame), _ARITH[type(node.op)])(b)
    if isinstance(node, ast.Compare):
        left, out = _eval(node.left, frame), None
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, frame)
            a, b = _series(left, frame), right
            known = a.notna() & (b.notna() if isinstance(b, pd.Series) else pd.Series(b is not None, index=frame.index))
            part = getattr(a, _CMP[type(op)])(b) & known
            out = part if out is None else out & part
            left = right
        return out
    if isinstance(node, ast.Call):
        args = [_eval(a, frame) for a in node.args]
        if node.func.id == "missing":
            return _series(args[0], frame).isna()
        if node.func.id == "abs":
            return _series(args[0], frame).abs()
        stacked = pd.concat([_series(a, frame) for a in args], axis=1)
        return stacked.min(axis=1, skipna=False) if node.func.id == "min" else stacked.max(axis=1, skipna=False)
    raise RuleError(f"{_where(node)}: cannot evaluate {type(node).__name__}")  # pragma: no cover


def _num(v, frame: pd.DataFrame):
    """Arithmetic is on numbers: a comparison's True/False counts as 1/0 (pandas would OR booleans)."""
    if isinstance(v, pd.Series):
        return v.astype(float)
    return float(v)


def _series(v, frame: pd.DataFrame) -> pd.Series:
    return v if isinstance(v, pd.Series) else pd.Series(v, index=frame.index, dtype=float)


def _bool(v, frame: pd.DataFrame) -> pd.Series:
    s = v if isinstance(v, pd.Series) else pd.Series(bool(v), index=frame.index)
    return s.fillna(False).astype(bool)
