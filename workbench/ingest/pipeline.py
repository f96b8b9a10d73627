"""Ingest one file: read → identity → validate → de-duplicate → write, in one transaction.

Nothing is lost: every source row ends up accepted, quarantined (with every reason) or merged
(an exact duplicate of a row that was kept), and ``rows_read = accepted + quarantined + merged``
is checked before the transaction commits. A whole-file problem (unreadable, wrong encoding,
missing column, unknown preset) rolls back and leaves the store untouched.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.identity import check_key, resolve_identities
from workbench.ingest.presets import Preset
from workbench.ingest.readers import FileProblem, ReadResult, read_file
from workbench.ingest.validate import build_checked, lit, q
from workbench.store import Store
from workbench.store.schema import TABLES

Progress = Callable[[str, int, int], None]
MASK = "«vault»"


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
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.merged

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["balanced"] = self.balanced
        return d


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


class _Ingest:
    def __init__(self, store: Store, path: Path, preset: Preset, key: bytes, rejects_dir: Path | None,
                 progress: Progress | None):
        self.store, self.con, self.path, self.preset, self.key = store, store.con, path, preset, key
        self.rejects_dir, self.progress = rejects_dir, progress
        self.report = FileReport(file=path.name, preset=preset.name, table=preset.table)

    def step(self, name: str, done: int) -> None:
        if self.progress:
            self.progress(name, done, 6)

    # ------------------------------------------------------------------------------------
    def run(self) -> FileReport:
        t0 = time.perf_counter()
        rep, con = self.report, self.con
        if not self.path.exists():
            rep.status, rep.message = "failed", f"{self.path}: file not found / 文件不存在"
            return rep
        sha = file_sha256(self.path)
        prev = con.execute("SELECT file_id, rows_read, accepted, quarantined, merged FROM ingest_log WHERE sha256 = ? "
                           "AND preset = ? AND status = 'ok' ORDER BY file_id LIMIT 1", [sha, self.preset.name]).fetchone()
        if prev:
            rep.status, rep.file_id = "unchanged", prev[0]
            rep.rows_read, rep.accepted, rep.quarantined, rep.merged = prev[1:]
            rep.message = f"already ingested as file {prev[0]}; nothing changed / 已导入过，未做改动"
            return rep
        con.execute("BEGIN TRANSACTION")
        try:
            check_key(con, self.key)
            fid = con.execute("SELECT nextval('file_seq')").fetchone()[0]
            rep.file_id = fid
            self._ingest(fid, sha)
            if not rep.balanced:  # the invariant: never commit a file whose rows do not add up
                raise AssertionError(f"accounting does not balance: {rep.as_dict()}")
            con.execute("COMMIT")
        except FileProblem as exc:
            con.execute("ROLLBACK")
            rep.status, rep.message = "failed", f"{self.path}: {exc}"
            rep.rows_read = rep.accepted = rep.quarantined = rep.merged = 0
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            self._drop_temps()
        rep.seconds = round(time.perf_counter() - t0, 3)
        return rep

    def _drop_temps(self) -> None:
        for (name,) in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND "
                                        "table_name LIKE 'wb\\_%' ESCAPE '\\'").fetchall():
            self.con.execute(f"DROP TABLE IF EXISTS temp.{q(name)}")

    def _ingest(self, fid: int, sha: str) -> None:
        con, p, rep = self.con, self.preset, self.report
        raw = f"wb_raw_{fid}"
        self.step("read", 0)
        res: ReadResult = read_file(con, self.path, raw, p.reader)
        rep.encoding = res.encoding
        missing = [c for c in p.required_columns() if c not in res.columns]
        if p.unpivot:
            missing = [c for c in missing if not c.startswith(p.unpivot["prefix"])]
        if missing:
            raise FileProblem(f"missing required column(s) {', '.join(missing)}; found: {', '.join(res.columns)} "
                              f"/ 缺少必需的列：{', '.join(missing)}")
        self.raw_cols = [c for c in res.columns if not c.startswith("_")]
        long = raw
        if p.unpivot:
            long = f"wb_long_{fid}"
            pre = p.unpivot["prefix"]
            cols = [c for c in res.columns if c.startswith(pre)]
            if not cols:
                raise FileProblem(f"no column starts with {pre!r}; found: {', '.join(res.columns)}")
            con.execute(f"CREATE TEMP TABLE {long} AS SELECT * EXCLUDE (_c), replace(_c, {lit(pre)}, '') AS "
                        f"{q(p.unpivot.get('name_field', 'item'))} FROM (UNPIVOT {raw} ON {', '.join(map(q, cols))} "
                        f"INTO NAME _c VALUE {q(p.unpivot.get('value_field', 'value'))})")
        self.step("identity", 1)
        if p.identity:
            st = resolve_identities(con, p, raw, self.key, fid)
            rep.identity = {"created": st.created, "linked": st.linked, "review": st.review}
        self.step("validate", 2)
        chk = f"wb_chk_{fid}"
        build_checked(con, p, long, chk, self.path.stem)
        con.execute(f"CREATE TEMP TABLE wb_rid_{fid} AS SELECT * FROM {chk}")  # stable row ids for joins below
        con.execute(f"DROP TABLE {chk}")
        chk = f"wb_rid_{fid}"
        self.chk = chk
        self.step("deduplicate", 3)
        self._dedupe(fid)
        self.step("write", 4)
        self._write(fid, sha, raw, res)
        self.step("report", 5)
        if self.rejects_dir is not None:
            self._rejects_report(raw, fid)
        self.step("done", 6)

    # ------------------------------------------------------------------------------------
    def _dedupe(self, fid: int) -> None:
        con, p, chk = self.con, self.preset, self.chk
        fields = [n for n in p.fields]
        keys = p.key_fields() if p.key is not None or (p.table and TABLES[p.table].key) else fields
        if p.unpivot and keys is not fields:
            keys = list(dict.fromkeys(keys + [p.unpivot.get("name_field", "item")]))
        dup = f"wb_dup_{fid}"
        con.execute(f"CREATE TEMP TABLE {dup} (rid BIGINT, _row BIGINT, same BOOLEAN, other VARCHAR)")
        if not keys:
            return
        hashed = f"hash({', '.join(q(f) for f in fields)})"
        part = ", ".join(q(k) for k in keys) if keys is not fields else "h"
        con.execute(f"""INSERT INTO {dup} SELECT rid, _row, h = h0, 'row ' || line0 FROM (
              SELECT rowid AS rid, _row, {hashed} AS h,
                     first_value({hashed}) OVER w AS h0, first_value(_line) OVER w AS line0, row_number() OVER w AS rn
              FROM {chk} WHERE len(_errs) = 0 WINDOW w AS (PARTITION BY {part} ORDER BY _row, rowid)) WHERE rn > 1""")
        if not p.table or p.write == "upsert":
            return
        tcols = [f for f in fields if f in TABLES[p.table].column_names()]
        tkeys = [k for k in keys if k in tcols] if keys is not fields else None

        def th(alias: str) -> str:
            return "hash(" + ", ".join(f"{alias}{q(f)}" for f in tcols) + ")"
        if tkeys:
            on = " AND ".join(f"c.{q(k)} = t.{q(k)}" for k in tkeys)
            con.execute(f"""INSERT INTO {dup} SELECT c.rowid, c._row, {th('c.')} = {th('t.')}, 'file ' || t.file_id
                FROM {chk} c JOIN {p.table} t ON {on}
                WHERE len(c._errs) = 0 AND c.rowid NOT IN (SELECT rid FROM {dup})""")
        elif self.store.count(p.table):
            con.execute(f"""INSERT INTO {dup} SELECT c.rid, c._row, TRUE, 'file ' || t.f FROM
                (SELECT rowid AS rid, _row, {th('')} AS h FROM {chk} WHERE len(_errs) = 0) c
                JOIN (SELECT {th('')} AS h, any_value(file_id) AS f FROM {p.table} GROUP BY 1) t ON c.h = t.h
                WHERE c.rid NOT IN (SELECT rid FROM {dup})""")

    def _write(self, fid: int, sha: str, raw: str, res: ReadResult) -> None:
        con, p, chk, rep = self.con, self.preset, self.chk, self.report
        dup = f"wb_dup_{fid}"
        keylabel = ",".join(p.key_fields()) or "row"
        # rows with any failure (their own checks or a conflicting duplicate), one entry per source row
        con.execute(f"""CREATE TEMP TABLE wb_bad_{fid} AS SELECT _row, min(_line) AS _line, flatten(list(errs)) AS errs,
                any_value(_qid) AS _qid FROM (
              SELECT _row, _line, _errs AS errs, {self._qid_expr(chk)} AS _qid FROM {chk} WHERE len(_errs) > 0
              UNION ALL
              SELECT c._row, c._line, [{{'column': {lit(keylabel)}, 'value': d.other, 'code': 'duplicate_conflict'}}],
                     {self._qid_expr('c')} FROM {dup} d JOIN {chk} c ON c.rowid = d.rid WHERE NOT d.same)
            GROUP BY _row""")
        long_counts = f"(SELECT _row, count(*) AS n FROM {chk} GROUP BY _row)" if p.unpivot else None
        if long_counts:
            merged_sql = f"""SELECT d._row FROM {dup} d JOIN {long_counts} lc USING (_row) WHERE d.same
                             GROUP BY d._row, lc.n HAVING count(*) = lc.n"""
        else:
            merged_sql = f"SELECT _row FROM {dup} WHERE same"
        con.execute(f"CREATE TEMP TABLE wb_merged_{fid} AS SELECT DISTINCT m._row FROM ({merged_sql}) m "
                    f"WHERE m._row NOT IN (SELECT _row FROM wb_bad_{fid})")
        ok = (f"len(c._errs) = 0 AND c._row NOT IN (SELECT _row FROM wb_bad_{fid}) "
              f"AND c.rowid NOT IN (SELECT rid FROM {dup})")
        if p.table:
            cols = [f for f in p.fields if f in TABLES[p.table].column_names() and f != "file_id"]
            collist = ", ".join(q(c) for c in cols)
            if p.write == "upsert":
                keys = [k for k in TABLES[p.table].key]
                sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c not in keys)
                con.execute(f"INSERT INTO {p.table} ({collist}, file_id) SELECT {collist}, {fid} FROM {chk} c WHERE {ok} "
                            f"ON CONFLICT ({', '.join(map(q, keys))}) DO UPDATE SET {sets}")
            else:
                con.execute(f"INSERT INTO {p.table} ({collist}, file_id) SELECT {collist}, {fid} FROM {chk} c WHERE {ok}")
        for d in p.derive:
            table = TABLES[d["table"]]
            mapping = {t: s for t, s in (d.get("fields") or {}).items()}
            exprs = [(f"{lit(s['const'])}" if isinstance(s, dict) else f"c.{q(s)}") + f"::{table.column(t).type} AS {q(t)}"
                     for t, s in mapping.items()]
            keys = [k for k in table.key if k in mapping]
            distinct = f"DISTINCT ON ({', '.join(map(q, keys))})" if keys else "DISTINCT"
            nonnull = " AND ".join(f"c.{q(mapping[k])} IS NOT NULL" for k in keys if not isinstance(mapping[k], dict)) or "TRUE"
            con.execute(f"INSERT OR IGNORE INTO {table.name} ({', '.join(map(q, mapping))}, file_id) "
                        f"SELECT *, {fid} FROM (SELECT {distinct} {', '.join(exprs)} FROM {chk} c WHERE {ok} AND {nonnull} "
                        f"ORDER BY {', '.join(map(q, keys)) if keys else '1'})")
        # quarantine: masked raw row in the store, identifiers in the vault
        masked = set(p.pii_columns()) | {f.source for f in p.fields.values() if f.student and f.source}
        if p.identity:
            masked.add(p.identity.id)
        masked &= set(self.raw_cols)
        raw_json = "json_object(" + ", ".join(
            f"{lit(c)}, " + (f"CASE WHEN r.{q(c)} IS NULL THEN NULL ELSE {lit(MASK)} END" if c in masked else f"r.{q(c)}")
            for c in self.raw_cols) + ")" if self.raw_cols else "'{}'"
        mask_list = "[" + ", ".join(lit(c) for c in masked) + "]" if masked else "[]::VARCHAR[]"
        reasons = (f"list_transform(b.errs, lambda x: CASE WHEN list_contains({mask_list}, x.column) THEN "
                   f"{{'column': x.column, 'value': {lit(MASK)}, 'code': x.code}} ELSE x END)")
        con.execute(f"""CREATE TEMP TABLE wb_q_{fid} AS SELECT nextval('quarantine_seq') AS qid, b.* FROM wb_bad_{fid} b
                        ORDER BY b._row""")
        con.execute(f"""INSERT INTO quarantine SELECT b.qid, {fid}, {lit(self.path.name)}, {lit(p.name)}, b._line, NULL,
                {reasons}, {raw_json}, 'open', NULL, now() FROM wb_q_{fid} b JOIN {raw} r USING (_row)""")
        if masked:
            con.execute(f"""INSERT INTO identity_vault_quarantine SELECT b.qid, json_object({', '.join(
                f"{lit(c)}, r.{q(c)}" for c in sorted(masked))}) FROM wb_q_{fid} b JOIN {raw} r USING (_row)""")
        for m in res.malformed:
            qid = con.execute("SELECT nextval('quarantine_seq')").fetchone()[0]
            text = m.get("text") or ""
            con.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, NULL, [{'column': ?, 'value': ?, 'code': "
                        "'malformed_row'}], ?, 'open', NULL, now())",
                        [qid, fid, self.path.name, p.name, m["line"], m["column"], m["message"][:300],
                         f'{{"_text": "{MASK}"}}' if masked else _json_text(text)])
            if masked:
                con.execute("INSERT INTO identity_vault_quarantine VALUES (?, ?)", [qid, _json_text(text)])
        # accounting
        n_rows = con.execute(f"SELECT count(DISTINCT _row) FROM {raw}").fetchone()[0]
        rep.rows_read = n_rows + len(res.malformed)
        rep.quarantined = con.execute(f"SELECT count(*) FROM wb_bad_{fid}").fetchone()[0] + len(res.malformed)
        rep.merged = con.execute(f"SELECT count(*) FROM wb_merged_{fid}").fetchone()[0]
        rep.accepted = n_rows - (rep.quarantined - len(res.malformed)) - rep.merged
        rep.reasons = dict(Counter(dict(con.execute(
            f"SELECT x.code, count(*) FROM (SELECT unnest(errs) AS x FROM wb_bad_{fid}) GROUP BY 1").fetchall())))
        if res.malformed:
            rep.reasons["malformed_row"] = rep.reasons.get("malformed_row", 0) + len(res.malformed)
        if rep.merged:
            rep.reasons["duplicate_exact"] = rep.merged
        # corrected rejects going back in: close the entries they came from
        if "_quarantine_id" in self._chk_columns():
            released = con.execute(f"""UPDATE quarantine SET status = 'released', closed_by_file = {fid}
                WHERE status = 'open' AND quarantine_id IN (SELECT TRY_CAST(_quarantine_id AS BIGINT) FROM {chk}
                WHERE _row NOT IN (SELECT _row FROM wb_bad_{fid}))""").fetchone()[0]
            con.execute(f"""UPDATE quarantine SET status = 'superseded', closed_by_file = {fid}
                WHERE status = 'open' AND file_id <> {fid} AND quarantine_id IN (SELECT TRY_CAST(_qid AS BIGINT)
                FROM wb_bad_{fid})""")
            rep.released = int(released)
        con.execute("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, now())",
                    [fid, self.path.name, str(self.path), sha, p.name, p.table, rep.encoding, rep.rows_read,
                     rep.accepted, rep.quarantined, rep.merged, rep.released, rep.message])

    def _chk_columns(self) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE {self.chk}").fetchall()]

    def _qid_expr(self, alias: str) -> str:
        return f"{alias}._quarantine_id" if "_quarantine_id" in self._chk_columns() else "NULL"

    def _rejects_report(self, raw: str, fid: int) -> None:
        from workbench.ingest.report import write_rejects
        self.report.rejects = write_rejects(self.con, self.path, self.preset, raw, fid, self.raw_cols,
                                            self.rejects_dir)


def _json_text(text: str) -> str:
    import json
    return json.dumps({"_text": text}, ensure_ascii=False)


def ingest_file(store: Store, path: str | Path, preset: Preset, key: bytes, *, rejects_dir: str | Path | None = None,
                progress: Progress | None = None) -> FileReport:
    """Ingest one file with ``preset`` into ``store``; see the module docstring for the guarantees."""
    return _Ingest(store, Path(path), preset, key, Path(rejects_dir) if rejects_dir else None, progress).run()
