"""Ingest one file: read → identity → validate → de-duplicate → write, in one transaction.

Nothing is lost: every source row ends up accepted, quarantined (with every reason) or merged
(an exact duplicate of a row that was kept), and ``rows_read = accepted + quarantined + merged``
is checked before the transaction commits. A whole-file problem (unreadable, wrong encoding,
missing column, unknown preset) rolls back and leaves the store untouched.

A plain CSV file for a plain preset (one target table, no identity section, unpivot or derive) takes
the fused path: one DuckDB scan of the file reads, types and checks every record and keeps the raw
text of the failing records only (:func:`~workbench.ingest.validate.build_checked` with
``keep_raw``), instead of first copying the whole file into an all-VARCHAR table. What it writes is
the same as the general path's. The scan has no join (students and lookups are found through ENUM
types; a student's key is joined in from its id's code only where rows are written, by the view over
the checked table), so the checked table keeps the file's order and a row's position is its record's id. A file
the fused scan cannot take as it is (not UTF-8, records spanning lines or blank lines, a plan DuckDB
would not keep in order) goes the general way.
"""
from __future__ import annotations

import codecs
import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from workbench.identity import check_key, resolve_identities, withdraw_failed
from workbench.ingest.presets import Preset
from workbench.ingest.readers import (FileProblem, ReadResult, csv_columns, csv_rejects, csv_scan, malformed_of,
                                      physical_lines, read_file, reader_format, register_malformed)
from workbench.ingest.validate import OrderNotKept, build_checked
from workbench.sqltext import MASK, lit, q
from workbench.store import Store
from workbench.store.schema import TABLES

Progress = Callable[[str, int, int], None]
PROGRESS_BYTES = 5_000_000
FUSED_CSV = True  # take the fused path where it applies (tests turn it off to compare with the general path)
SPECIAL = ("_row", "_line", "_file")


@dataclass
class FileReport:
    """The accounting of one file (``rows_read = accepted + quarantined + merged``)."""
    file: str
    preset: str
    table: str | None
    status: str = "ok"            # ok | unchanged | failed
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    merged: int = 0
    released: int = 0
    encoding: str = ""
    file_id: int | None = None
    message: str = ""
    reasons: dict[str, int] = field(default_factory=dict)
    rejects: list[str] = field(default_factory=list)
    identity: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.merged

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["balanced"] = self.balanced
        return d


def file_sha256(path: Path) -> str:
    return sha256_and_lines(path, count_lines=False)[0]


def sha256_and_lines(path: Path, count_lines: bool = True) -> tuple[str, int | None]:
    """The file's SHA-256 and, from the same read, its physical line count (as :func:`physical_lines`)."""
    h, n, last = hashlib.sha256(), 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
            if count_lines:  # numpy: half the time of bytes.count, and without the GIL
                n += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == 10))
                last = chunk[-1:]
    return h.hexdigest(), (n + (1 if last not in (b"\n", b"") else 0)) if count_lines else None


class _Ingest:
    def __init__(self, store: Store, path: Path, preset: Preset, key: bytes, rejects_dir: Path | None,
                 progress: Progress | None):
        self.store, self.con, self.path, self.preset, self.key = store, store.con, path, preset, key
        self.rejects_dir, self.progress = rejects_dir, progress
        self.chk = None
        self.rawrows = ""
        self.fused = False
        self.lines = None  # the file's physical line count, being counted in a thread (fused path)
        self.report = FileReport(file=path.name, preset=preset.name, table=preset.table)
        self.stem = source_stem(path)

    def step(self, name: str, done: int) -> None:
        if self.progress:
            self.progress(name, done, 6)

    # ------------------------------------------------------------------------------------
    def _previous(self, sha: str) -> tuple | None:
        return next(iter(self.con.execute(
            "SELECT file_id, rows_read, accepted, quarantined, merged FROM ingest_log WHERE sha256 = ? AND preset = ? "
            "AND status = 'ok' ORDER BY file_id LIMIT 1", [sha, self.preset.name]).fetchall()), None)

    def _unchanged(self, prev: tuple) -> FileReport:
        rep = self.report
        rep.status, rep.file_id = "unchanged", prev[0]
        rep.rows_read, rep.accepted, rep.quarantined, rep.merged = prev[1:]
        rep.message = f"already ingested as file {prev[0]}; nothing changed / 已导入过，未做改动"
        return rep

    def run(self) -> FileReport:
        t0 = time.perf_counter()
        rep, con = self.report, self.con
        if not self.path.exists():
            rep.status, rep.message = "failed", f"{self.path}: file not found / 文件不存在"
            return rep
        size = self.path.stat().st_size
        if size < PROGRESS_BYTES:  # a bar for files over ~100k rows only
            self.progress = None
        seen_size = con.execute("SELECT count(*) FROM ingest_log WHERE preset = ? AND bytes = ? AND status = 'ok'",
                                [self.preset.name, size]).fetchall()[0][0]
        hasher = None
        if seen_size:  # possibly the same file again: hash first, and skip all work if so
            sha = file_sha256(self.path)
            prev = self._previous(sha)
            if prev:
                return self._unchanged(prev)
        fusable = self._fusable()
        sha_future = None
        if not seen_size or fusable:  # hash (new content) and count lines in a thread while DuckDB reads:
            hasher = ThreadPoolExecutor(1)  # one read of the file for both (hashlib and reads release the GIL)
            both = hasher.submit(sha256_and_lines, self.path, fusable)
            sha_future = both if not seen_size else None
            self.lines = hasher.submit(lambda: both.result()[1]) if fusable else None
        self.raw = f"wb_raw_{uuid.uuid4().hex[:8]}"
        try:
            self.step("read + check" if fusable else "read", 0)
            # read outside the transaction: a temp table's rowid is then the record's position in the file
            self._prepare()
            if sha_future:
                sha = sha_future.result()[0]
            con.execute("BEGIN TRANSACTION")
            try:
                check_key(con, self.key)
                fid = con.execute("SELECT nextval('file_seq')").fetchall()[0][0]
                rep.file_id = fid
                self._ingest(fid, sha, size)
                if not rep.balanced:  # the invariant: never commit a file whose rows do not add up
                    raise AssertionError(f"accounting does not balance: {rep.as_dict()}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except FileProblem as exc:
            rep.status, rep.message = "failed", f"{self.path}: {exc}"
            rep.file_id = None
            rep.rows_read = rep.accepted = rep.quarantined = rep.merged = rep.released = 0
        finally:
            if hasher:
                hasher.shutdown()
            self._drop_temps()
        rep.seconds = round(time.perf_counter() - t0, 3)
        return rep

    def _drop_temps(self) -> None:
        for (name,) in self.con.execute("SELECT name FROM duckdb_variables() WHERE name LIKE 'wb\\_%' ESCAPE '\\'").fetchall():
            self.con.execute(f"RESET VARIABLE {q(name)}")
        for (name,) in self.con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND "
                                        "view_name LIKE 'wb\\_%' ESCAPE '\\'").fetchall():
            self.con.execute(f"DROP VIEW IF EXISTS temp.{q(name)}")
        for (name,) in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND "
                                        "table_name LIKE 'wb\\_%' ESCAPE '\\'").fetchall():
            self.con.execute(f"DROP TABLE IF EXISTS temp.{q(name)}")
        for (name,) in self.con.execute("SELECT type_name FROM duckdb_types() WHERE database_name = 'temp' AND "
                                        "type_name LIKE 'wb\\_%' ESCAPE '\\'").fetchall():
            self.con.execute(f"DROP TYPE IF EXISTS {q(name)}")

    def _columns_ok(self, columns: list[str]) -> None:
        p = self.preset
        missing = [c for c in p.required_columns() if c not in columns]
        if missing:
            raise FileProblem(f"missing required column(s) {', '.join(missing)}; found: {', '.join(columns)} "
                              f"/ 缺少必需的列：{', '.join(missing)}")
        self.raw_cols = [c for c in columns if not c.startswith("_")]
        used = set(p.referenced_columns())
        prefix = (p.unpivot or {}).get("prefix")
        # what quarantine may keep: the columns the preset reads (and those it unpivots by prefix)
        self.kept_cols = [c for c in self.raw_cols if c in used or (prefix and c.startswith(prefix))]

    def _prepare(self) -> None:
        """Read the file into an all-VARCHAR temp table whose rowid is each record's position (or, on the
        fused path, read and check it in one scan)."""
        if self._fusable() and self._prepare_fused():
            return
        self.res = read_file(self.con, self.path, self.raw, self.preset.reader)
        self._columns_ok(self.res.columns)
        hidden = [c for c in self.preset.pii_columns() if c in self.res.columns]
        if hidden and "_quarantine_id" in self.res.columns:  # a corrected rejects file: identifiers come back
            for c in hidden:
                self.con.execute(f"""UPDATE {self.raw} SET {q(c)} = json_extract_string(v.raw, {lit('$."' + c + '"')})
                    FROM identity_vault_quarantine v WHERE v.quarantine_id = TRY_CAST({self.raw}._quarantine_id AS BIGINT)
                    AND {self.raw}.{q(c)} = {lit(MASK)}""")
        self.rawrows = f"(SELECT rowid AS _rid, * FROM {self.raw})"
        self.records = self.raw

    # ------------------------------------------------------------------------------------ fused CSV path
    def _fusable(self) -> bool:
        p = self.preset
        if not FUSED_CSV or not p.table or p.write != "insert" or p.identity or p.unpivot or p.derive:
            return False
        fmt, _ = reader_format(self.path, p.reader)
        if fmt not in ("csv", "txt", "tsv") or self.path.name.endswith(".rejects.csv"):
            return False
        used = [c for f in p.fields.values() for c in [f.source, *(f.concat or []), *(f.object or [])] if isinstance(c, str)]
        # student ids are found through ENUM types, which match text: a typed id goes the general way
        return not any(c in SPECIAL for c in used) and all(f.type == "string" for f in p.fields.values() if f.student)

    def _prepare_fused(self) -> bool:
        """Read and check the file in one scan; False (and nothing left behind) if it must go the general way."""
        con, p, opts = self.con, self.preset, self.preset.reader
        names = csv_columns(self.path, opts)
        if not names or any(c.startswith("_") for c in names) or \
                any(c not in names for c in p.required_columns()):  # the general path says what is wrong
            return False
        self._columns_ok(names)
        out = f"wb_chk_{self.raw[len('wb_raw_'):]}"
        try:  # rid=None: one scan with no join, so a row's position in the checked table is its record's
            chk = build_checked(con, p, csv_scan(self.path, self.raw, opts), None, "NULL", out, self.stem,
                                src_cols=set(names), keep_raw=(self.raw, self.kept_cols))
        except (duckdb.Error, OrderNotKept):  # let the general path read it (and say what is wrong)
            self._drop_temps()
            con.execute(f"DROP TABLE IF EXISTS {self.raw}_rej; DROP TABLE IF EXISTS {self.raw}_scan")
            return False
        rej = csv_rejects(con, self.raw)
        first = 2 if opts.get("header", True) else 1
        malformed = malformed_of(rej)
        rows = con.execute(f"SELECT count(*) FROM {out}_t").fetchall()[0][0]
        lines = self.lines.result() if self.lines else physical_lines(self.path)
        if any(r[2] == "INVALID ENCODING" for r in rej) or lines != first - 1 + rows + len(malformed):
            self._drop_temps()  # not UTF-8 (transcoded first), or a record's line must be found by parsing
            return False
        if malformed:
            register_malformed(con, self.raw, malformed)
        with open(self.path, "rb") as fh:
            encoding = "utf-8-sig" if fh.read(3) == codecs.BOM_UTF8 else "utf-8"
        self.res = ReadResult(self.raw, names, rows, encoding, malformed, first_line=first, rid="_rid")
        self.chk, self.fused = chk, True
        self.rawrows, self.records = f"(SELECT * FROM {self.raw})", f"{out}_t"
        return True

    def _fetch_raw(self, rids_sql: str) -> None:
        """Add the raw values of records ``rids_sql`` to the fused path's raw table (a second, targeted scan)."""
        name = f"{self.raw}_again"
        cols = ", ".join(q(c) for c in self.kept_cols)
        self.con.execute(f"""INSERT INTO {self.raw} SELECT _rid{', ' + cols if cols else ''} FROM (SELECT row_number() OVER () - 1
            AS _rid, * FROM {csv_scan(self.path, name, self.preset.reader)}) WHERE _rid IN ({rids_sql})
            AND _rid NOT IN (SELECT _rid FROM {self.raw})""")
        csv_rejects(self.con, name)

    def _ingest(self, fid: int, sha: str, size: int) -> None:
        con, p, rep, res, raw = self.con, self.preset, self.report, self.res, self.raw
        rep.encoding = res.encoding
        src, rid, line = raw, "raw.rowid", res.line_sql("raw")
        if p.unpivot:
            src = f"wb_long_{fid}"
            pre = p.unpivot.get("prefix", "")
            cols = list(p.unpivot["columns"]) if p.unpivot.get("columns") else \
                [c for c in res.columns if pre and c.startswith(pre)]
            absent = [c for c in cols if c not in res.columns]
            if not cols or absent:
                raise FileProblem(f"missing column(s) to unpivot {absent or pre + '*'}; found: {', '.join(res.columns)} "
                                  f"/ 缺少需要展开的列")
            name_f, value_f = p.unpivot.get("name_field", "item"), p.unpivot.get("value_field", "value")
            # SQL-standard UNPIVOT, which can keep empty cells (INCLUDE NULLS): a blank answer is checked, not dropped
            con.execute(f"""CREATE TEMP TABLE {src} AS SELECT * EXCLUDE (_c), replace(_c, {lit(pre)}, '') AS {q(name_f)}
                FROM (SELECT raw.rowid AS _rid, {line} AS _line, * FROM {raw} raw)
                UNPIVOT INCLUDE NULLS ({q(value_f)} FOR _c IN ({', '.join(map(q, cols))}))""")
            if p.unpivot.get("skip_empty"):  # blank = not asked (e.g. no physics in grade 7); all blank stays
                con.execute(f"""DELETE FROM {src} WHERE NULLIF(trim({q(value_f)}), '') IS NULL AND _rid IN (
                    SELECT _rid FROM {src} GROUP BY _rid HAVING count(NULLIF(trim({q(value_f)}), '')) > 0)""")
            rid, line = "raw._rid", "raw._line"
        self.step("identity", 1)
        if p.identity:
            st = resolve_identities(con, p, raw, self.key, fid, self.stem, res.line_sql("raw"))
            rep.identity = {"created": st.created, "linked": st.linked, "review": st.review}
        self.step("validate", 2)
        if self.chk is None:  # the fused path checked while it read
            self.chk = build_checked(con, p, src, rid, line, f"wb_chk_{fid}", self.stem)
        self.step("deduplicate", 3)
        self._dedupe(fid)
        self.step("write", 4)
        self._write(fid, sha, size)
        self.step("report", 5)
        if self.rejects_dir is not None:
            from workbench.ingest.report import write_rejects
            if self.fused and rep.merged:  # the report shows merged rows as they were written
                self._fetch_raw(f"SELECT _rid FROM wb_merged_{fid}")
            rep.rejects = write_rejects(self, fid)
        self.step("done", 6)

    # ------------------------------------------------------------------------------------
    def _dedupe(self, fid: int) -> None:
        """Duplicates among rows that passed their checks: within the file, then against the store.

        ``wb_dup`` gets one row per later copy: ``cid`` (its row in the checked table), ``_rid``,
        ``same`` (identical to the first copy → merged; else a conflict) and what it duplicates.
        """
        con, p, chk = self.con, self.preset, self.chk.table
        fields = list(p.fields)
        keys = p.key_fields() if p.key is not None or (p.table and TABLES[p.table].key) else None
        if p.unpivot and keys:
            keys = list(dict.fromkeys(keys + [p.unpivot.get("name_field", "item")]))
        dup = f"wb_dup_{fid}"
        con.execute(f"CREATE TEMP TABLE {dup} (cid BIGINT, _rid BIGINT, same BOOLEAN, other VARCHAR)")
        if keys == []:
            return
        part = ", ".join(q(k) for k in keys) if keys else "_h"
        rows = chk if keys else self.chk.hashes  # the hashes alone need none of the view's joins
        # a cheap GROUP BY finds the few keys that repeat; only those rows go through the window
        con.execute(f"""CREATE TEMP TABLE wb_rep_{fid} AS SELECT {part} FROM {rows} WHERE NOT _bad
                        GROUP BY {part} HAVING count(*) > 1""")
        if con.execute(f"SELECT count(*) FROM wb_rep_{fid}").fetchall()[0][0]:
            con.execute(f"""INSERT INTO {dup} SELECT cid, _rid, _h = h0, 'row ' || CAST({self._line_of('r0')} AS VARCHAR)
                FROM (SELECT c._cid AS cid, c._rid, c._h, first_value(c._h) OVER w AS h0, first_value(c._rid) OVER w AS r0,
                             row_number() OVER w AS rn
                      FROM {rows} c SEMI JOIN wb_rep_{fid} k USING ({part}) WHERE NOT c._bad
                      WINDOW w AS (PARTITION BY {', '.join('c.' + q(k) for k in keys) if keys else 'c._h'}
                                   ORDER BY c._rid, c._cid)) WHERE rn > 1""")
        if not p.table or p.write == "upsert" or not self.store.count(p.table):
            return
        tcols = [f for f in fields if f in TABLES[p.table].column_names()]

        def th(alias: str) -> str:
            return "hash(" + ", ".join(f"{alias}{q(f)}" for f in tcols) + ")"
        tkeys = [k for k in keys if k in tcols] if keys else None
        if tkeys:
            on = " AND ".join(f"c.{q(k)} = t.{q(k)}" for k in tkeys)
            con.execute(f"""INSERT INTO {dup} SELECT c._cid, c._rid, {th('c.')} = {th('t.')}, 'file ' || t.file_id
                FROM {chk} c JOIN {p.table} t ON {on}
                WHERE NOT c._bad AND c._cid NOT IN (SELECT cid FROM {dup})""")
        else:
            con.execute(f"""INSERT INTO {dup} SELECT c.cid, c._rid, TRUE, 'file ' || t.f FROM
                (SELECT _cid AS cid, _rid, {th('')} AS h FROM {chk} WHERE NOT _bad) c
                JOIN (SELECT {th('')} AS h, any_value(file_id) AS f FROM {p.table} GROUP BY 1) t ON c.h = t.h
                WHERE c.cid NOT IN (SELECT cid FROM {dup})""")

    def _line_of(self, rid_sql: str) -> str:
        """SQL for the line a person sees of the record with id ``rid_sql``."""
        if self.res.has_line_column:
            return f"(SELECT _line FROM {self.raw} x WHERE x.rowid = {rid_sql})"
        return self.res.line_sql("x").replace(f"x.{self.res.rid}", rid_sql)

    def _write(self, fid: int, sha: str, size: int) -> None:
        con, p, chk, rep = self.con, self.preset, self.chk.table, self.report
        dup = f"wb_dup_{fid}"
        keylabel = ",".join(p.key_fields()) or "row"
        qcol = "_quarantine_id" in [r[0] for r in con.execute(f"DESCRIBE {chk}").fetchall()]
        # rows with any failure (own checks, or a conflicting duplicate): one entry per source record
        failures = f"""SELECT _rid, _errs AS errs FROM {self.chk.errors}
              UNION ALL
              SELECT _rid, [{{'column': {lit(keylabel)}, 'value': other, 'code': 'duplicate_conflict'}}]
              FROM {dup} WHERE NOT same"""
        conflicts = con.execute(f"SELECT count(*) FROM {dup} WHERE NOT same").fetchall()[0][0]
        if p.unpivot or conflicts:  # a record's long rows (or its conflicts) come one by one: gather them
            con.execute(f"CREATE TEMP TABLE wb_bad_{fid} AS SELECT _rid, flatten(list(errs)) AS errs FROM ({failures}) GROUP BY _rid")
        else:  # one row per record, each failing record once already
            con.execute(f"CREATE TEMP TABLE wb_bad_{fid} AS SELECT _rid, _errs AS errs FROM {self.chk.errors}")
        n_bad = con.execute(f"SELECT count(*) FROM wb_bad_{fid}").fetchall()[0][0]
        if p.identity and n_bad:
            withdrawn = withdraw_failed(con, p, self.raw, f"SELECT _rid FROM wb_bad_{fid}", fid,
                                        self.stem, self.res.line_sql("raw"))
            if withdrawn:
                rep.identity["withdrawn"] = withdrawn
        n_dup = con.execute(f"SELECT count(*) FROM {dup}").fetchall()[0][0]
        if p.unpivot:  # a record is merged when every one of its long rows is an exact duplicate
            merged_sql = f"""SELECT d._rid FROM {dup} d JOIN (SELECT _rid, count(*) AS n FROM {chk} GROUP BY _rid) lc
                             USING (_rid) WHERE d.same GROUP BY d._rid, lc.n HAVING count(*) = lc.n"""
        else:
            merged_sql = f"SELECT _rid FROM {dup} WHERE same"
        con.execute(f"""CREATE TEMP TABLE wb_merged_{fid} AS SELECT DISTINCT m._rid, CAST({self._line_of('m._rid')}
                        AS BIGINT) AS _line FROM ({merged_sql}) m WHERE m._rid NOT IN (SELECT _rid FROM wb_bad_{fid})""")
        if n_dup:  # later copies are not written: flagged like failed rows (``_cid`` is the checked table's rowid), so
            # the insert below is a plain filtered scan that every thread can write, with no anti-join
            con.execute(f"UPDATE {chk}_t SET _bad = TRUE WHERE rowid IN (SELECT cid FROM {dup})")
        # rows to write: no failed check, not a later duplicate; with unpivot, no failure in the whole record
        ok = "NOT c._bad" + \
            (f" AND NOT EXISTS (SELECT 1 FROM wb_bad_{fid} b WHERE b._rid = c._rid)" if n_bad and p.unpivot else "")
        if p.table:
            cols = [f for f in p.fields if f in TABLES[p.table].column_names() and f != "file_id"]
            collist = ", ".join(q(c) for c in cols)
            conflict = ""
            if p.write == "upsert":
                keys = list(TABLES[p.table].key)
                # the row stays the creating file's (file_id); the upsert's own count is checked below
                sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c not in keys)
                conflict = f" ON CONFLICT ({', '.join(map(q, keys))}) DO UPDATE SET {sets}"
            insert = f"INSERT INTO {p.table} ({collist}, file_id) SELECT {collist}, {fid} FROM {chk} c WHERE {ok}{conflict}"
            if conflict:
                written = con.execute(insert).fetchall()[0][0]
            else:  # a table's rows have no order: DuckDB's unordered insert writes with every thread and no
                with _unordered(con):  # batch bookkeeping (10M events: 3.6 s against 4.7–5.6 s in order)
                    written = con.execute(insert).fetchall()[0][0]
        for d in p.derive:
            self._derive(d, chk, ok, fid)
        self._quarantine(fid)
        # accounting, each number counted on its own: the raw table, the quarantine rows written, the
        # merged duplicates and the records whose rows went in (the balance is checked in run())
        rep.rows_read = con.execute(f"SELECT count(*) FROM {self.records}").fetchall()[0][0] + len(self.res.malformed)
        rep.quarantined = con.execute(f"SELECT count(*) FROM quarantine WHERE file_id = {fid}").fetchall()[0][0]
        rep.merged = con.execute(f"SELECT count(*) FROM wb_merged_{fid}").fetchall()[0][0]
        if p.table and not p.unpivot:  # one record, one row: what the INSERT reports it wrote
            rep.accepted = written
        else:
            rep.accepted = con.execute(f"SELECT count(DISTINCT c._rid) FROM {chk} c WHERE {ok}").fetchall()[0][0]
        rep.reasons = dict(Counter(dict(con.execute(
            f"SELECT x.code, count(*) FROM (SELECT unnest(errs) AS x FROM wb_bad_{fid}) GROUP BY 1").fetchall())))
        if self.res.malformed:
            rep.reasons["malformed_row"] = rep.reasons.get("malformed_row", 0) + len(self.res.malformed)
        if rep.merged:
            rep.reasons["duplicate_exact"] = rep.merged
        if qcol:  # corrected rejects going back in: close the entries they came from
            rep.released = int(con.execute(f"""UPDATE quarantine SET status = 'released', closed_by_file = {fid}
                WHERE status = 'open' AND preset = {lit(p.name)} AND quarantine_id IN (SELECT TRY_CAST(_quarantine_id AS BIGINT) FROM {chk}
                WHERE _rid NOT IN (SELECT _rid FROM wb_bad_{fid}))""").fetchall()[0][0])
            con.execute(f"""UPDATE quarantine SET status = 'superseded', closed_by_file = {fid}
                WHERE status = 'open' AND preset = {lit(p.name)} AND file_id <> {fid} AND quarantine_id IN (SELECT TRY_CAST(c._quarantine_id AS BIGINT)
                FROM {chk} c JOIN wb_bad_{fid} b USING (_rid))""")
        con.execute("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, now())",
                    [fid, self.path.name, str(self.path), sha, size, p.name, p.table, rep.encoding, rep.rows_read,
                     rep.accepted, rep.quarantined, rep.merged, rep.released, rep.message])

    def _derive(self, d: dict[str, Any], chk: str, ok: str, fid: int) -> None:
        table = TABLES[d["table"]]
        mapping = dict(d.get("fields") or {})
        exprs = [(f"{lit(s['const'])}" if isinstance(s, dict) else f"c.{q(s)}") + f"::{table.column(t).type} AS {q(t)}"
                 for t, s in mapping.items()]
        keys = [k for k in table.key if k in mapping]
        distinct = f"DISTINCT ON ({', '.join(map(q, keys))})" if keys else "DISTINCT"
        nonnull = " AND ".join(f"c.{q(mapping[k])} IS NOT NULL" for k in keys if not isinstance(mapping[k], dict)) or "TRUE"
        if keys:  # derived rows that disagree (within the file, or with what is stored) are kept out, and said
            rows = f"SELECT DISTINCT {', '.join(exprs)} FROM {chk} c WHERE {ok} AND {nonnull}"
            others = [q(t) for t in mapping if t not in keys]
            inner_conf = self.con.execute(f"SELECT count(*) FROM (SELECT {', '.join(map(q, keys))} FROM ({rows}) "
                                          f"GROUP BY ALL HAVING count(*) > 1)").fetchall()[0][0]
            on = " AND ".join(f"n.{q(k)} = t.{q(k)}" for k in keys)
            differs = " OR ".join(f"n.{c} IS DISTINCT FROM t.{c}" for c in others) or "FALSE"
            stored_conf = self.con.execute(f"SELECT count(DISTINCT ({', '.join('n.' + q(k) for k in keys)})) FROM ({rows}) n "
                                           f"JOIN {table.name} t ON {on} WHERE {differs}").fetchall()[0][0]
            if inner_conf or stored_conf:
                self.report.warnings.append(
                    f"{table.name}: {inner_conf + stored_conf} derived record(s) disagree"
                    + (f" within this file ({inner_conf}, the first row's values were kept)" if inner_conf else "")
                    + (f" with stored ones ({stored_conf}, the stored values were kept)" if stored_conf else "")
                    + f" / 派生的{table.zh}记录与已有记录不一致")
        self.con.execute(f"INSERT OR IGNORE INTO {table.name} ({', '.join(map(q, mapping))}, file_id) "
                         f"SELECT *, {fid} FROM (SELECT {distinct} {', '.join(exprs)} FROM {chk} c WHERE {ok} AND {nonnull} "
                         f"ORDER BY {', '.join(map(q, keys)) if keys else '1'})")

    def _quarantine(self, fid: int) -> None:
        """Quarantine rows: masked raw values in the store, identifiers in the vault."""
        con, p = self.con, self.preset
        masked = set(p.pii_columns()) | {f.source for f in p.fields.values() if f.student and f.source}
        if p.identity:
            ids = p.identity.id
            masked.update(ids if isinstance(ids, list) else [ids])
        masked &= set(self.kept_cols)
        raw_json = "json_object(" + ", ".join(
            f"{lit(c)}, " + (f"CASE WHEN r.{q(c)} IS NULL THEN NULL ELSE {lit(MASK)} END" if c in masked else f"r.{q(c)}")
            for c in self.kept_cols) + ")" if self.kept_cols else "'{}'"
        mask_list = "[" + ", ".join(lit(c) for c in masked) + "]" if masked else "[]::VARCHAR[]"
        reasons = (f"list_transform(b.errs, lambda x: CASE WHEN list_contains({mask_list}, x.column) THEN "
                   f"{{'column': x.column, 'value': {lit(MASK)}, 'code': x.code}} ELSE x END)")
        con.execute(f"""CREATE TEMP TABLE wb_q_{fid} AS SELECT nextval('quarantine_seq') AS qid, b._rid, b.errs,
                        CAST({self._line_of('b._rid')} AS BIGINT) AS _line FROM wb_bad_{fid} b ORDER BY b._rid""")
        # a row that comes round again (corrected rejects, release) keeps the file and row it first came from
        chk = self.chk.table
        if "_quarantine_id" in [r[0] for r in con.execute(f"DESCRIBE {chk}").fetchall()]:
            origin = (f"LEFT JOIN (SELECT _rid, any_value(TRY_CAST(_quarantine_id AS BIGINT)) AS old FROM {chk} "
                      f"GROUP BY _rid) o USING (_rid) LEFT JOIN quarantine oq ON oq.quarantine_id = o.old")
            name_sql, row_sql = f"coalesce(oq.file_name, {lit(self.path.name)})", "coalesce(oq.row_no, b._line)"
        else:
            origin, name_sql, row_sql = "", lit(self.path.name), "b._line"
        con.execute(f"""INSERT INTO quarantine SELECT b.qid, {fid}, {name_sql}, {lit(p.name)}, {row_sql}, NULL,
                {reasons}, {raw_json}, 'open', NULL, now() FROM wb_q_{fid} b JOIN {self.rawrows} r USING (_rid) {origin}""")
        if masked:
            con.execute(f"""INSERT INTO identity_vault_quarantine SELECT b.qid, json_object({', '.join(
                f"{lit(c)}, r.{q(c)}" for c in sorted(masked))}) FROM wb_q_{fid} b JOIN {self.rawrows} r USING (_rid)""")
        for m in self.res.malformed:
            qid = con.execute("SELECT nextval('quarantine_seq')").fetchall()[0][0]
            con.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, NULL, [{'column': ?, 'value': ?, 'code': "
                        "'malformed_row'}], ?, 'open', NULL, now())",
                        [qid, fid, self.path.name, p.name, m["line"], m["column"], m["message"][:300],
                         f'{{"_text": "{MASK}"}}'])
            # a malformed line may hold anything (names, IDs): its text is kept in the vault only
            con.execute("INSERT INTO identity_vault_quarantine VALUES (?, ?)", [qid, _json_text(m.get("text") or "")])


@contextmanager
def _unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``preserve_insertion_order = false`` for the statements inside, then the setting as it was."""
    prev = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if prev else 'false'}")


def source_stem(path: Path) -> str:
    """The stem of the export a file came from: ``x.rejects.csv`` and ``x.release.rejects.csv`` → ``x``.

    >>> source_stem(Path("builder_train.release.rejects.csv"))
    'builder_train'
    """
    name = path.name.split(".release.rejects")[0].split(".rejects")[0]
    return Path(name).stem if name != path.name else path.stem


def _json_text(text: str) -> str:
    import json
    return json.dumps({"_text": text}, ensure_ascii=False)


def ingest_file(store: Store, path: str | Path, preset: Preset, key: bytes, *, rejects_dir: str | Path | None = None,
                progress: Progress | None = None) -> FileReport:
    """Ingest one file with ``preset`` into ``store``; see the module docstring for the guarantees."""
    return _Ingest(store, Path(path), preset, key, Path(rejects_dir) if rejects_dir else None, progress).run()
