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
    hashes: str = ""  # _cid, _rid, _h and _bad alone, read without the view's joins (default: ``table``)

    def __post_init__(self) -> None:
        self.hashes = self.hashes or self.table


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


def _scalar_lookup(con: duckdb.DuckDBPyConnection, name: str, rows_sql: str, values: list[str], order: str = "k") -> int:
    """A lookup without a join: ENUM type ``name_e`` over the keys ``k`` of ``rows_sql`` (distinct), and
    per column ``c`` of ``values`` a list variable ``name_c`` indexed by the key's ``enum_code`` + 1.

    A cast to an ENUM of a value it does not hold costs DuckDB about 13 µs (it builds an error message
    for ``TRY_CAST`` to throw away): 17 s for a million unknown accounts, where a known one costs 20 ns. So
    the keys also go into a Bloom filter of one hash, variable ``name_bits`` (a BIT string of the size
    returned, at most 2^20 bits: DuckDB copies a variable into every chunk of 2,048 rows); :func:`_enum_code`
    casts only what passes it. ``order`` orders the ENUM's values (their codes)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM ({rows_sql}) WHERE k IS NOT NULL")
    con.execute(f"CREATE TEMP TYPE {name}_e AS ENUM (SELECT k FROM {name} ORDER BY {order})")
    for c in values:
        con.execute(f"SET VARIABLE {name}_{c} = (SELECT coalesce(list({q(c)} ORDER BY enum_code(CAST(k AS {name}_e))), []) "
                    f"FROM {name})")
    n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    bits = min(max(1 << 16, 1 << (16 * max(n, 1) - 1).bit_length()), 1 << 20)  # 16 bits a key: few false hits
    con.execute(f"SET VARIABLE {name}_bits = (SELECT coalesce(bitstring_agg(CAST(hash(k) % {bits} AS INTEGER), 0, "
                f"{bits - 1}), bitstring('0', {bits})) FROM {name})")
    return bits


def _student_lookup(con: duckdb.DuckDBPyConnection, name: str, rows_sql: str) -> tuple[int, int, int, bool]:
    """:func:`_scalar_lookup` of source ids (``k``, ``student_key``, ``pending``) whose codes say all a check needs:
    ``[0, keyed)`` have a student key, ``[keyed, keyed + pending)`` wait for review, the rest neither. The keys
    themselves go into table ``name_m`` (``code``, ``v``), joined in only where rows are written: a list of
    them indexed per row would be copied into every chunk (10M rows against 100k students: 21 s, not 6).
    Returns (bits, keyed, pending, one key per id: no student has two ids here)."""
    bits = _scalar_lookup(con, name, rows_sql, [], order="student_key IS NULL, NOT coalesce(pending, FALSE), k")
    code = f"enum_code(CAST(k AS {name}_e))"
    keyed, pending, students = con.execute(f"SELECT count(student_key), count(*) FILTER (WHERE student_key IS NULL AND "
                                           f"pending), count(DISTINCT student_key) FROM {name}").fetchall()[0]
    misplaced = con.execute(f"""SELECT count(*) FROM {name} WHERE (student_key IS NOT NULL) <> ({code} < {keyed})
        OR (student_key IS NULL AND coalesce(pending, FALSE)) <> ({code} >= {keyed} AND {code} < {keyed + pending})""").fetchall()[0][0]
    if misplaced:  # DuckDB did not number the values in the order asked: take the way with joins
        raise OrderNotKept(f"{name}: ENUM codes not in the order asked")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_m AS SELECT CAST({code} AS UINTEGER) AS code, student_key AS v "
                f"FROM {name} WHERE student_key IS NOT NULL")
    return bits, keyed, pending, students == keyed


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
    deferred: dict[str, tuple[str, str]] = {}  # student fields of the one-scan path: field → (code SQL, key table)
    hash_by_code: dict[str, str | None] = {}     # … and what stands for the key in the row hash (None: the key)
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
            if scalar:  # the same lookup as the joins below, as ENUM casts; the key itself is joined in by the view
                if f.type != "string":
                    raise ValueError(f"field {n}: a student id looked up without a join must be a string")
                bits, keyed, pending, one_to_one = _student_lookup(con, f"{out}_{a}", f"""SELECT sid AS k, any_value(student_key) AS student_key,
                    bool_or(pending) AS pending FROM (
                        SELECT source_id AS sid, student_key, FALSE AS pending FROM identity_vault_ids WHERE system = {lit(f.student)}
                        UNION ALL SELECT source_id, NULL, TRUE FROM identity_vault_review WHERE system = {lit(f.student)}
                        AND status = 'pending') GROUP BY sid""")
                code_col = q("c__" + a)
                inner.append(f"{_enum_code(q('v__' + n), f'{out}_{a}', bits)} AS {code_col}")
                no_key = f"(b.{code_col} IS NULL OR b.{code_col} >= {keyed})"
                pending_sql = f"coalesce(b.{code_col} >= {keyed} AND b.{code_col} < {keyed + pending}, FALSE)"
                deferred[n] = (f"b.{code_col}", f"{out}_{a}_m")
                # the row hash may take the code for the key when codes and keys go one to one (ids waiting for
                # review have no key: NULL, as the key would be)
                hash_by_code[n] = f"CASE WHEN {q(CODE + n)} < {keyed} THEN {q(CODE + n)} END" if one_to_one else None
            else:
                joins.append(f"LEFT JOIN (SELECT source_id AS sid, student_key FROM identity_vault_ids "
                             f"WHERE system = {lit(f.student)}) {a} ON {a}.sid = {vv}")
                pending = con.execute("SELECT count(*) FROM identity_vault_review WHERE system = ? AND status = 'pending'",
                                      [f.student]).fetchall()[0][0]
                joins.append(f"LEFT JOIN (SELECT DISTINCT source_id AS sid FROM identity_vault_review WHERE system = "
                             f"{lit(f.student)} AND status = 'pending') {a}p ON {a}p.sid = {vv}" if pending else
                             f"LEFT JOIN (SELECT NULL::VARCHAR AS sid) {a}p ON FALSE")
                key, pending_sql = f"{a}.student_key", f"{a}p.sid IS NOT NULL"
                no_key = f"{key} IS NULL"
            ident = preset.identity
            if ident and ident.system == f.student and [f.source] == (ident.id if isinstance(ident.id, list) else [ident.id]):
                # the file creates these identities itself: a row the identity step skipped has its own reason
                checks.append((f"{vv} IS NOT NULL AND {no_key} AND {pending_sql}",
                               _err(label, rr, "identity_pending")))
            elif not f.optional_student:
                code = f"CASE WHEN {pending_sql} THEN 'identity_pending' ELSE 'unknown_student' END"
                checks.append((f"{vv} IS NOT NULL AND {no_key}", _err(label, rr, "", code)))
            value = None if n in deferred else key
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
        if n in deferred:  # the code stands in the checked table; the view gives the key
            outer.append(f"{deferred[n][0]} AS {q(CODE + n)}")
            continue
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
    view_hashes = any(v is None for v in hash_by_code.values())  # a student with two ids: the view hashes keys
    row_hash = "" if view_hashes else f", hash({', '.join(hash_by_code.get(n) or q(n) for n in preset.fields)}) AS _h"
    phase1 = f"""CREATE OR REPLACE TEMP TABLE {out}_t AS SELECT *{_exclude(a for _, a in kept)}{row_hash}{keep}
        FROM (SELECT {'' if scalar else 'b._rid, '}{'b._quarantine_id, ' if qid else ''}{', '.join(outer) if outer else 'NULL AS _none'},
               ({flag}) AS _bad{''.join(f', b.{a}' for _, a in kept)} {body(src, rid, carry=carry)})"""
    if scalar and not _keeps_order(con, phase1):  # positions would not be the records' own
        raise OrderNotKept(f"{preset.name}: the one-scan check would not keep the file's row order")
    con.execute(phase1)
    if deferred:
        con.execute(_keyed_view(con, preset, out, deferred, view_hashes))
    else:
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
    hashes = f"(SELECT rowid AS _cid, rowid AS _rid, _h, _bad FROM {out}_t)" if deferred and not view_hashes else ""
    return Checked(out, f"{out}_err", list(preset.fields), hashes)


CODE = "_code__"  # a student field's ENUM code in the one-scan path's checked table


def _keyed_view(con: duckdb.DuckDBPyConnection, preset: Preset, out: str, deferred: dict[str, tuple[str, str]],
                hashes: bool) -> str:
    """The view ``out`` over the one-scan path's table ``out_t``: each student field's key joined in from its
    code, in the field's place; with ``hashes``, the row hash ``_h`` over the fields as they read there (else
    the table has it)."""
    cols = [r[0] for r in con.execute(f"DESCRIBE {out}_t").fetchall()]
    exprs, joins = {}, []
    for i, (n, (_, table)) in enumerate(deferred.items()):
        ttype = _target_type(preset, n) or "VARCHAR"
        exprs[n] = f"CAST(m{i}.v AS {ttype})"
        joins.append(f"LEFT JOIN {table} m{i} ON m{i}.code = t.{q(CODE + n)}")
    select = [f"{exprs[c[len(CODE):]]} AS {q(c[len(CODE):])}" if c.startswith(CODE) else f"t.{q(c)}"
              for c in cols if c != "_raw"]
    if hashes:
        select.append("hash(" + ", ".join(exprs.get(n, f"t.{q(n)}") for n in preset.fields) + ") AS _h")
    return (f"CREATE OR REPLACE TEMP VIEW {out} AS SELECT t.rowid AS _cid, t.rowid AS _rid, {', '.join(select)} "
            f"FROM {out}_t t {' '.join(joins)}")


def _exclude(aliases) -> str:
    names = ", ".join(aliases)
    return f" EXCLUDE ({names})" if names else ""
