"""Validation as one SQL pass: typed field values plus, per row, the list of every failed check.

:func:`build_checked` turns a preset's field specs into a ``CREATE TEMP TABLE … AS SELECT`` over
the raw all-VARCHAR table. Each check yields a ``{column, value, code}`` struct or NULL, and
``list_filter`` keeps the failures, so every reason of every row is collected at once (pandera's
``lazy=True``) while DuckDB does the work at scan speed.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from workbench.ingest.presets import FieldSpec, Preset
from workbench.store.schema import TABLES

DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"]
DEFAULT_TS_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M",
                      "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"]
TRUE_WORDS = ("1", "true", "t", "yes", "y", "是", "1.0")
FALSE_WORDS = ("0", "false", "f", "no", "n", "否", "0.0")


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


@dataclass
class Checked:
    table: str
    fields: list[str]


def _raw_expr(f: FieldSpec, file_stem: str) -> str:
    def col(c: str) -> str:
        if c == "_file":
            return lit(file_stem)
        if c in ("_row", "_line"):
            return f"CAST(raw.{c} AS VARCHAR)"
        return f"NULLIF(trim(raw.{q(c)}), '')"
    if f.source:
        return col(f.source)
    if f.concat:
        parts = [lit(p["const"]) if isinstance(p, dict) else col(p) for p in f.concat]
        return "CASE WHEN " + " OR ".join(f"{p} IS NULL" for p in parts) + \
            " THEN NULL ELSE concat_ws(" + lit(f.sep) + ", " + ", ".join(parts) + ") END"
    if f.object:
        return "CAST(json_object(" + ", ".join(f"{lit(c)}, {col(c)}" for c in f.object) + ") AS VARCHAR)"
    return "NULL" if f.const is None else f"CAST({lit(f.const)} AS VARCHAR)"


def _mapped(f: FieldSpec, r: str) -> str:
    if not f.map:
        return r
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in f.map.items())
    return f"CAST(CASE {r} {whens} ELSE NULL END AS VARCHAR)"


def _typed(f: FieldSpec, m: str) -> str:
    if f.type == "int":
        return f"CASE WHEN TRY_CAST({m} AS DOUBLE) = round(TRY_CAST({m} AS DOUBLE)) " \
               f"THEN CAST(TRY_CAST({m} AS DOUBLE) AS BIGINT) END"
    if f.type == "double":
        return f"TRY_CAST({m} AS DOUBLE)" + (f" * {lit(f.scale)}" if f.scale else "")
    if f.type == "bool":
        return f"CASE WHEN lower({m}) IN ({', '.join(map(lit, TRUE_WORDS))}) THEN TRUE " \
               f"WHEN lower({m}) IN ({', '.join(map(lit, FALSE_WORDS))}) THEN FALSE END"
    if f.type == "date":
        fmts = f.formats or DEFAULT_DATE_FORMATS
        return f"CAST(try_strptime({m}, [{', '.join(map(lit, fmts))}]) AS DATE)"
    if f.type == "timestamp":
        if f.timezone:
            return f"timezone({lit(f.timezone)}, TRY_CAST({m} AS TIMESTAMPTZ))"
        fmts = f.formats or DEFAULT_TS_FORMATS
        return f"CAST(try_strptime({m}, [{', '.join(map(lit, fmts))}]) AS TIMESTAMP)"
    if f.type == "list":
        return f"list_filter(string_split({m}, {lit(f.split or ';')}), lambda x: trim(x) <> '')"
    return m


def _err(column: str, value: str, code: str, code_sql: str | None = None) -> str:
    return f"{{'column': {lit(column)}, 'value': CAST({value} AS VARCHAR), 'code': {code_sql or lit(code)}}}"


def _target_type(preset: Preset, name: str) -> str | None:
    tables = [preset.table] if preset.table else []
    tables += [d["table"] for d in preset.derive]
    for t in tables:
        for c in TABLES[t].columns:
            if c.name == name:
                return c.type
    return None


def build_checked(con: duckdb.DuckDBPyConnection, preset: Preset, raw: str, out: str, file_stem: str) -> Checked:
    """Create temp table ``out``: ``_row``, ``_line``, one column per field, ``_errs``."""
    inner, outer, checks, joins = [], [], [], []
    for n, f in preset.fields.items():
        if f.term_of:
            continue
        r = _raw_expr(f, file_stem)
        m = _mapped(f, r)
        inner.append(f"{r} AS {q('r__' + n)}")
        inner.append(f"{_typed(f, m)} AS {q('v__' + n)}")
        label = f.source or (",".join(p if isinstance(p, str) else str(p.get("const")) for p in f.concat or []) or n)
        rr, vv = f"b.{q('r__' + n)}", f"b.{q('v__' + n)}"
        if f.required:
            checks.append(f"CASE WHEN {rr} IS NULL THEN {_err(label, rr, 'missing_value')} END")
        if f.map:
            checks.append(f"CASE WHEN {rr} IS NOT NULL AND {_mapped(f, rr)} IS NULL THEN {_err(label, rr, 'unknown_value')} END")
        bad = "bad_date" if f.type in ("date", "timestamp") else "bad_type"
        if f.type not in ("string", "list"):
            checks.append(f"CASE WHEN {_mapped(f, rr)} IS NOT NULL AND {vv} IS NULL THEN {_err(label, rr, bad)} END")
        if f.min is not None:
            checks.append(f"CASE WHEN {vv} < {lit(f.min)} THEN {_err(label, rr, f.min_reason)} END")
        if f.max is not None:
            checks.append(f"CASE WHEN {vv} > {lit(f.max)} THEN {_err(label, rr, f.max_reason)} END")
        if f.max_field:
            other = f"b.{q('v__' + f.max_field)}"
            checks.append(f"CASE WHEN {vv} > {other} THEN {_err(label, rr, f.max_reason)} END")
        value = vv
        if f.student:
            alias = f"idm_{len(joins)}"
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {out}_{alias} AS
                SELECT d.sid, v.student_key, (p.source_id IS NOT NULL) AS pending
                FROM (SELECT DISTINCT {_typed(f, _mapped(f, r))} AS sid FROM {raw} raw) d
                LEFT JOIN identity_vault_ids v ON v.system = {lit(f.student)} AND v.source_id = d.sid
                LEFT JOIN (SELECT DISTINCT source_id FROM identity_vault_review
                           WHERE system = {lit(f.student)} AND status = 'pending') p ON p.source_id = d.sid""")
            joins.append(f"LEFT JOIN {out}_{alias} {alias} ON {alias}.sid = {vv}")
            if not f.optional_student:
                code = f"CASE WHEN {alias}.pending THEN 'identity_pending' ELSE 'unknown_student' END"
                checks.append(f"CASE WHEN {vv} IS NOT NULL AND {alias}.student_key IS NULL THEN "
                              f"{_err(label, rr, '', code)} END")
            value = f"{alias}.student_key"
        if f.lookup:
            alias = f"lk_{len(joins)}"
            table, column = f.lookup["table"], f.lookup.get("column", n)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {out}_{alias} AS SELECT DISTINCT CAST({q(column)} AS VARCHAR) AS k "
                        f"FROM {q(table)}")
            joins.append(f"LEFT JOIN {out}_{alias} {alias} ON {alias}.k = CAST({vv} AS VARCHAR)")
            reason = f.lookup.get("reason", "unknown_reference")
            checks.append(f"CASE WHEN {vv} IS NOT NULL AND {alias}.k IS NULL THEN {_err(label, rr, reason)} END")
        ttype = _target_type(preset, n)
        outer.append((f"CAST({value} AS {ttype})" if ttype and f.type != "list" else value) + f" AS {q(n)}")
    for n, f in preset.fields.items():
        if not f.term_of:
            continue
        date_f = preset.fields[f.term_of]
        alias = f"tm_{len(joins)}"
        dv = f"CAST(b.{q('v__' + f.term_of)} AS DATE)"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {out}_{alias} AS
            SELECT d.d, min(t.term_id) AS term_id FROM
              (SELECT DISTINCT CAST({_typed(date_f, _mapped(date_f, _raw_expr(date_f, file_stem)))} AS DATE) AS d
               FROM {raw} raw) d
            LEFT JOIN terms t ON d.d BETWEEN t.start_date AND t.end_date GROUP BY d.d""")
        joins.append(f"LEFT JOIN {out}_{alias} {alias} ON {alias}.d = {dv}")
        checks.append(f"CASE WHEN {dv} IS NOT NULL AND {alias}.term_id IS NULL THEN "
                      f"{_err(date_f.source or f.term_of, 'b.' + q('r__' + f.term_of), 'date_outside_term')} END")
        outer.append(f"{alias}.term_id AS {q(n)}")
    extra_raw = ", raw._quarantine_id" if _has_column(con, raw, "_quarantine_id") else ""
    sql = f"""CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT b._row, b._line{', b._quarantine_id' if extra_raw else ''}, {', '.join(outer) if outer else 'NULL AS _none'},
               list_filter([{', '.join(checks) if checks else 'NULL'}], lambda x: x IS NOT NULL) AS _errs
        FROM (SELECT raw._row, raw._line{extra_raw}, {', '.join(inner) if inner else 'NULL AS _none'} FROM {raw} raw) b
        {' '.join(joins)}"""
    con.execute(sql)
    return Checked(out, list(preset.fields))


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return any(r[0] == column for r in con.execute(f"DESCRIBE {table}").fetchall())
