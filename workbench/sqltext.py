"""Small helpers for writing SQL text safely: identifiers, literals, the date formats we accept.

>>> q('学号'), lit("O'Neil")
('"学号"', "'O''Neil'")
"""
from __future__ import annotations

MASK = "«vault»"  # stands for an identifier kept in the identity vault
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"]
DEFAULT_TS_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M",
                      "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"]


def special_column(name: str, line: str, file_stem: str, columns: set[str]) -> str:
    """SQL (over alias ``raw``) for ``_row``/``_line``/``_file`` of a record.

    A rejects file going back in carries the record's original ``_row`` and ``_file``: those win, so ids
    built from them (``xapi_edu:5``, ``builder_train:17``) stay the same the second time round.
    """
    if name in ("_row", "_line"):
        return 'CAST(raw."_row" AS VARCHAR)' if "_row" in columns else f"CAST({line} AS VARCHAR)"
    if "_file" in columns:
        return "regexp_replace(raw.\"_file\", '\\.[^.]*$', '')"
    return lit(file_stem)


def cell(expr: str) -> str:
    """SQL for a text cell as checks see it: ``NULLIF(trim(expr), '')``, at a fraction of its cost.

    DuckDB's ``trim`` removes Unicode space separators (U+0020, U+00A0, U+3000 …), never a tab, and copies
    every string it reads. Most cells are ASCII with no space at either end, and ``trim`` returns them as
    they are; they are found cheaply (``strlen`` in bytes equals ``length`` in characters only for ASCII) and
    only the rest is trimmed. On 10M rows of LMS events: 0.09 s against 0.39 s per column of student ids.

    >>> print(cell("x"))
    CASE WHEN strlen(x) <> length(x) OR prefix(x, ' ') OR suffix(x, ' ') THEN NULLIF(trim(x), '') WHEN x = '' THEN NULL ELSE x END
    """
    return (f"CASE WHEN strlen({expr}) <> length({expr}) OR prefix({expr}, ' ') OR suffix({expr}, ' ') "
            f"THEN NULLIF(trim({expr}), '') WHEN {expr} = '' THEN NULL ELSE {expr} END")


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal for a preset constant (strings, numbers, booleans, NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
