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
from workbench.sqltext import DEFAULT_DATE_FORMATS, DEFAULT_TS_FORMATS, cell, lit, q, special_column
from workbench.store.schema import TABLES

TRUE_WORDS = ("1", "true", "t", "yes", "y", "是", "1.0")
FALSE_WORDS = ("0", "false", "f", "no", "n", "否", "0.0")


@dataclass
class Checked:
    table: str        # one row per (long) record: _rid, field values, _bad, _h
    errors: str       # one row per bad record: _rid, _errs (list of {column, value, code})
    fields: list[str]


def _raw_expr(f: FieldSpec, file_stem: str, line: str, columns: set[str] = frozenset()) -> str:
    def col(c: str) -> str:
        if c in ("_file", "_row", "_line"):
            return special_column(c, line, file_stem, columns)
        return cell(f"raw.{q(c)}")
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
    if f.type == "bool":  # one CASE, not IN lists: DuckDB plans a list of constants as a join
        return f"CASE lower({m}) " + " ".join(f"WHEN {lit(w)} THEN TRUE" for w in TRUE_WORDS) + " " + \
            " ".join(f"WHEN {lit(w)} THEN FALSE" for w in FALSE_WORDS) + " END"
    if f.type == "date":
        if f.formats:
            return f"CAST(try_strptime({m}, [{', '.join(map(lit, f.formats))}]) AS DATE)"
        return f"coalesce(TRY_CAST({m} AS DATE), CAST(try_strptime({m}, [{', '.join(map(lit, DEFAULT_DATE_FORMATS))}]) AS DATE))"
    if f.type == "timestamp":
        if f.timezone:
            return f"timezone({lit(f.timezone)}, TRY_CAST({m} AS TIMESTAMPTZ))"
        if f.formats:
            return f"CAST(try_strptime({m}, [{', '.join(map(lit, f.formats))}]) AS TIMESTAMP)"
        return (f"coalesce(TRY_CAST({m} AS TIMESTAMP), "
                f"CAST(try_strptime({m}, [{', '.join(map(lit, DEFAULT_TS_FORMATS))}]) AS TIMESTAMP))")
    if f.type == "list":
        return f"list_filter(string_split({m}, {lit(f.split or ';')}), lambda x: trim(x) <> '')"
    return m


def _err(column: str, value: str, code: str, code_sql: str | None = None) -> str:
    col = column[4:] if column.startswith("SQL:") else lit(column)  # "SQL:expr" names the column per row
    return f"{{'column': {col}, 'value': CAST({value} AS VARCHAR), 'code': {code_sql or lit(code)}}}"


def _target_type(preset: Preset, name: str) -> str | None:
    tables = [preset.table] if preset.table else []
    tables += [d["table"] for d in preset.derive]
    for t in tables:
        for c in TABLES[t].columns:
            if c.name == name:
                return c.type
    return None


def _term_case(con: duckdb.DuckDBPyConnection, date_sql: str) -> str:
    terms = con.execute("SELECT term_id, start_date, end_date FROM terms WHERE start_date IS NOT NULL "
                        "AND end_date IS NOT NULL ORDER BY start_date").fetchall()
    if not terms:
        return "CAST(NULL AS VARCHAR)"
    whens = " ".join(f"WHEN {date_sql} BETWEEN DATE '{s}' AND DATE '{e}' THEN {lit(t)}" for t, s, e in terms)
    return f"CASE {whens} END"


class OrderNotKept(Exception):
    """The one-scan plan would hold an operator that may reorder rows (see :func:`build_checked`)."""


SCANS = {"READ_CSV", "SEQ_SCAN", "TABLE_SCAN"}
ORDER_KEEPING = {"CREATE_TABLE_AS", "BATCH_CREATE_TABLE_AS", "PROJECTION", "FILTER"} | SCANS


def _keeps_order(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """True if DuckDB's physical plan for ``sql`` is a single scan under projections and filters only: the
    operators whose output keeps the input's row order (DuckDB's order preservation rules)."""
    import json
    names: list[str] = []

    def walk(node: dict) -> None:
        names.append(node.get("name", ""))
        for child in node.get("children", []):
            walk(child)
    for root in json.loads(con.execute(f"EXPLAIN (FORMAT json) {sql}").fetchall()[0][1]):
        walk(root)
    return set(names) <= ORDER_KEEPING and sum(n in SCANS for n in names) == 1


def _scalar_lookup(con: duckdb.DuckDBPyConnection, name: str, rows_sql: str, values: list[str]) -> int:
    """A lookup without a join: ENUM type ``name_e`` over the keys ``k`` of ``rows_sql`` (distinct), and
    per column ``c`` of ``values`` a list variable ``name_c`` indexed by the key's ``enum_code`` + 1.

    A cast to an ENUM of a value it does not hold costs DuckDB about 13 µs (it builds an error message
    for ``TRY_CAST`` to throw away): 17 s for a million unknown accounts, where a known one costs 20 ns. So
    the keys also go into a Bloom filter of one hash, variable ``name_bits`` (a BIT string of the size
    returned); :func:`_enum_code` casts only what passes it."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM ({rows_sql}) WHERE k IS NOT NULL")
    con.execute(f"CREATE TEMP TYPE {name}_e AS ENUM (SELECT k FROM {name} ORDER BY k)")
    for c in values:
        con.execute(f"SET VARIABLE {name}_{c} = (SELECT coalesce(list({q(c)} ORDER BY enum_code(CAST(k AS {name}_e))), []) "
                    f"FROM {name})")
    n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    bits = min(max(1 << 16, 1 << (16 * max(n, 1) - 1).bit_length()), 1 << 24)  # ≥ 16 bits a key: few false hits
    con.execute(f"SET VARIABLE {name}_bits = (SELECT coalesce(bitstring_agg(CAST(hash(k) % {bits} AS INTEGER), 0, "
                f"{bits - 1}), bitstring('0', {bits})) FROM {name})")
    return bits


def _enum_code(value_sql: str, name: str, bits: int) -> str:
    """SQL for the ``enum_code`` of ``value_sql`` in lookup ``name`` of :func:`_scalar_lookup`, NULL if it has none."""
    return (f"CASE WHEN get_bit(getvariable({lit(name + '_bits')}), CAST(hash({value_sql}) % {bits} AS INTEGER)) = 1 "
            f"THEN enum_code(TRY_CAST({value_sql} AS {name}_e)) END")


def build_checked(con: duckdb.DuckDBPyConnection, preset: Preset, src: str, rid: str | None, line: str,
                  out: str, file_stem: str, *, src_cols: set[str] | None = None,
                  keep_raw: tuple[str, list[str]] | None = None) -> Checked:
    """Validate ``src`` (a raw or unpivoted temp table, aliased ``raw``) into view ``out`` and table ``out_err``.

    ``rid`` and ``line`` are SQL expressions (over alias ``raw``) for the record id and the line a
    person sees. Phase 1 computes every field, one ``_bad`` flag and a row hash ``_h`` at scan speed;
    phase 2 builds the full reason list, only for the rows flagged bad. ``out`` has ``_cid`` (its
    own row id) and ``_rid`` (the record id: joins may reorder rows, so it is carried explicitly).

    ``src`` may also be a scan of the file itself (``src_cols`` then names its columns). With
    ``rid=None`` the record id is the row's position: phase 1 is then one order-preserving scan with
    no join (students and lookups are found through ENUM types, see :func:`_scalar_lookup`), run
    outside any transaction, and ``_rid`` is the rowid of ``out_t``. With ``keep_raw = (table,
    columns)`` phase 1 keeps those raw columns of the rows flagged bad, and only of those, in temp
    table ``table`` (``_rid`` + the columns); phase 2 then reads that small table instead of ``src``,
    so the file is scanned once.
    """
    inner, outer, checks, joins = [], [], [], []
    scalar = rid is None
    n_lookups = 0
    if src_cols is None:
        src_cols = {r[0] for r in con.execute(f"DESCRIBE {src}").fetchall()}
    unpivoted = None
    if preset.unpivot:  # a value cell is reported on the column it came from (q3, 兴趣_数学), not on 'value'
        name_f = preset.unpivot.get("name_field", "item")
        inner.append(f"{lit(preset.unpivot.get('prefix', ''))} || raw.{q(name_f)} AS _uncol")
        unpivoted = preset.unpivot.get("value_field", "value")
    for n, f in preset.fields.items():
        if f.term_of:
            continue
        r = _raw_expr(f, file_stem, line, src_cols)
        inner.append(f"{r} AS {q('r__' + n)}")
        if f.map:  # map once; checks and the typed value read the mapped column
            inner.append(f"{_mapped(f, r)} AS {q('m__' + n)}")
        m = f"{q('m__' + n)}" if f.map else q('r__' + n)
        label = f.source or (",".join(p if isinstance(p, str) else str(p.get("const")) for p in f.concat or []) or n)
        if unpivoted and f.source == unpivoted:
            label = "SQL:b._uncol"
        rr, vv = f"b.{q('r__' + n)}", f"b.{q('v__' + n)}"
        mm = f"b.{q('m__' + n)}" if f.map else rr
        inner.append(f"{_typed(f, m)} AS {q('v__' + n)}")  # DuckDB reads aliases of the same SELECT
        if f.required:
            checks.append((f"{rr} IS NULL", _err(label, rr, "missing_value")))
        if f.map:
            checks.append((f"{rr} IS NOT NULL AND {mm} IS NULL", _err(label, rr, "unknown_value")))
        if f.type not in ("string", "list"):
            bad = {"date": "bad_date", "timestamp": "bad_date", "bool": "unknown_value"}.get(f.type, "bad_type")
            checks.append((f"{mm} IS NOT NULL AND {vv} IS NULL", _err(label, rr, bad)))
        if f.pattern:
            checks.append((f"{rr} IS NOT NULL AND NOT regexp_full_match({rr}, {lit(f.pattern)})",
                           _err(label, rr, "bad_format")))
        if f.min is not None:
            checks.append((f"{vv} < {lit(f.min)}", _err(label, rr, f.min_reason)))
        if f.max is not None:
            checks.append((f"{vv} > {lit(f.max)}", _err(label, rr, f.max_reason)))
        if f.max_field:
            checks.append((f"{vv} > b.{q('v__' + f.max_field)}", _err(label, rr, f.max_reason)))
        value = vv
        if f.student:
            a = f"idm_{n_lookups}"
            n_lookups += 2
            if scalar:  # the same lookup as the joins below, as ENUM casts and list indexing
                if f.type != "string":
                    raise ValueError(f"field {n}: a student id looked up without a join must be a string")
                bits = _scalar_lookup(con, f"{out}_{a}", f"""SELECT sid AS k, any_value(student_key) AS student_key,
                    bool_or(pending) AS pending FROM (
                        SELECT source_id AS sid, student_key, FALSE AS pending FROM identity_vault_ids WHERE system = {lit(f.student)}
                        UNION ALL SELECT source_id, NULL, TRUE FROM identity_vault_review WHERE system = {lit(f.student)}
                        AND status = 'pending') GROUP BY sid""", ["student_key", "pending"])
                code_col = q("c__" + a)
                inner.append(f"{_enum_code(q('v__' + n), f'{out}_{a}', bits)} AS {code_col}")
                key = f"getvariable({lit(f'{out}_{a}_student_key')})[b.{code_col} + 1]"
                pending_sql = f"coalesce(getvariable({lit(f'{out}_{a}_pending')})[b.{code_col} + 1], FALSE)"
            else:
                joins.append(f"LEFT JOIN (SELECT source_id AS sid, student_key FROM identity_vault_ids "
                             f"WHERE system = {lit(f.student)}) {a} ON {a}.sid = {vv}")
                pending = con.execute("SELECT count(*) FROM identity_vault_review WHERE system = ? AND status = 'pending'",
                                      [f.student]).fetchall()[0][0]
                joins.append(f"LEFT JOIN (SELECT DISTINCT source_id AS sid FROM identity_vault_review WHERE system = "
                             f"{lit(f.student)} AND status = 'pending') {a}p ON {a}p.sid = {vv}" if pending else
                             f"LEFT JOIN (SELECT NULL::VARCHAR AS sid) {a}p ON FALSE")
                key, pending_sql = f"{a}.student_key", f"{a}p.sid IS NOT NULL"
            ident = preset.identity
            if ident and ident.system == f.student and [f.source] == (ident.id if isinstance(ident.id, list) else [ident.id]):
                # the file creates these identities itself: a row the identity step skipped has its own reason
                checks.append((f"{vv} IS NOT NULL AND {key} IS NULL AND {pending_sql}",
                               _err(label, rr, "identity_pending")))
            elif not f.optional_student:
                code = f"CASE WHEN {pending_sql} THEN 'identity_pending' ELSE 'unknown_student' END"
                checks.append((f"{vv} IS NOT NULL AND {key} IS NULL", _err(label, rr, "", code)))
            value = key
        if f.lookup:
            a = f"lk_{n_lookups}"
            n_lookups += 1
            table, column = f.lookup["table"], f.lookup.get("column", n)
            give = f.lookup.get("value", column)
            rows = f"SELECT CAST({q(column)} AS VARCHAR) AS k, min({q(give)}) AS v FROM {q(table)} GROUP BY 1"
            if scalar:
                bits = _scalar_lookup(con, f"{out}_{a}", rows, ["v"])
                code_col = q("c__" + a)
                text = f"CAST({q('v__' + n)} AS VARCHAR)"
                inner.append(f"{_enum_code(text, f'{out}_{a}', bits)} AS {code_col}")
                found, found_value = f"b.{code_col} IS NOT NULL", f"getvariable({lit(f'{out}_{a}_v')})[b.{code_col} + 1]"
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {out}_{a} AS {rows}")
                joins.append(f"LEFT JOIN {out}_{a} {a} ON {a}.k = CAST({vv} AS VARCHAR)")
                found, found_value = f"{a}.k IS NOT NULL", f"{a}.v"
            checks.append((f"{vv} IS NOT NULL AND NOT ({found})",
                           _err(label, rr, f.lookup.get("reason", "unknown_reference"))))
            if "value" in f.lookup:
                value = found_value
        ttype = _target_type(preset, n)
        outer.append((f"CAST({value} AS {ttype})" if ttype and f.type != "list" else value) + f" AS {q(n)}")
    for n, f in preset.fields.items():
        if not f.term_of:
            continue
        date_f = preset.fields[f.term_of]
        dv = f"CAST(b.{q('v__' + f.term_of)} AS DATE)"
        term = _term_case(con, dv)
        checks.append((f"{dv} IS NOT NULL AND ({term}) IS NULL",
                       _err(date_f.source or f.term_of, "b." + q("r__" + f.term_of), "date_outside_term")))
        outer.append(f"{term} AS {q(n)}")
    qid = "raw._quarantine_id, " if "_quarantine_id" in src_cols else ""
    kept = [(c, q("_raw__" + c)) for c in keep_raw[1]] if keep_raw else []

    def body(source: str, rid_sql: str | None, where: str = "", carry: str = "") -> str:
        return f"""FROM (SELECT {f'{rid_sql} AS _rid, ' if rid_sql else ''}{qid}{carry}{', '.join(inner) if inner else 'NULL AS _none'}
            FROM {source} raw{where}) b {' '.join(joins)}"""
    fields = [q(n) for n in preset.fields]
    flag = " OR ".join(f"coalesce({c}, FALSE)" for c, _ in checks) or "FALSE"
    carry = "".join(f"raw.{q(c)} AS {a}, " for c, a in kept)
    # the failing rows' raw values as one list column (NULL on every other row: cheap to keep)
    keep = f", CASE WHEN _bad THEN [{', '.join(a for _, a in kept)}]::VARCHAR[] END AS _raw" if kept else ""
    phase1 = f"""CREATE OR REPLACE TEMP TABLE {out}_t AS SELECT *{_exclude(a for _, a in kept)}, hash({', '.join(fields)}) AS _h{keep}
        FROM (SELECT {'' if scalar else 'b._rid, '}{'b._quarantine_id, ' if qid else ''}{', '.join(outer) if outer else 'NULL AS _none'},
               ({flag}) AS _bad{''.join(f', b.{a}' for _, a in kept)} {body(src, rid, carry=carry)})"""
    if scalar and not _keeps_order(con, phase1):  # positions would not be the records' own
        raise OrderNotKept(f"{preset.name}: the one-scan check would not keep the file's row order")
    con.execute(phase1)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {out} AS SELECT rowid AS _cid, {'rowid AS _rid, ' if scalar else ''}"
                f"*{' EXCLUDE (_raw)' if kept else ''} FROM {out}_t")
    structs = ", ".join(f"CASE WHEN {c} THEN {e} END" for c, e in checks) or "NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out}_err (_rid BIGINT, _errs STRUCT(\"column\" VARCHAR, "
                f"\"value\" VARCHAR, code VARCHAR)[])")
    if keep_raw:  # the failing rows' raw values, as a small table phase 2 reads instead of the file
        raw_table = keep_raw[0]
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {raw_table} AS SELECT {'rowid AS ' if scalar else ''}_rid{''.join(f', _raw[{i}] AS {q(c)}' for i, (c, _) in enumerate(kept, 1))}
            FROM {out}_t WHERE _bad ORDER BY _rid""")
        second = body(raw_table, "raw._rid")
    else:
        second = body(src, rid, f" WHERE {rid} IN (SELECT _rid FROM {out}_t WHERE _bad)")
    if con.execute(f"SELECT count(*) FROM {out}_t WHERE _bad").fetchall()[0][0]:
        con.execute(f"INSERT INTO {out}_err SELECT b._rid, list_filter([{structs}], lambda x: x IS NOT NULL) {second}")
    return Checked(out, f"{out}_err", list(preset.fields))


def _exclude(aliases) -> str:
    names = ", ".join(aliases)
    return f" EXCLUDE ({names})" if names else ""
