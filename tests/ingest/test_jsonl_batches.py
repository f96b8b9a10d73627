"""JSON lines are read in batches (a district's check-ins are gigabytes): the same table as one batch."""
from __future__ import annotations

import json

import duckdb

from workbench.ingest import readers


def _table(con, res):
    cols = [r[0] for r in con.execute(f"DESCRIBE {res.table}").fetchall()]
    return cols, con.execute(f"SELECT * FROM {res.table} ORDER BY rowid").fetchall()


def test_batches_give_the_same_table_as_one_read(tmp_path, monkeypatch):
    lines = [json.dumps({"actor": {"name": "u1"}, "verb": "login"}),
             json.dumps({"actor": {"name": "u2"}, "verb": "like", "result": {"score": 3}}),
             "{not json",
             "",
             json.dumps({"actor": {"name": "u3"}, "verb": "like", "context": {"tags": ["a", "b"]}}),
             json.dumps({"actor": {"name": "学生\u2028四"}, "verb": "post", "result": {"score": None}}),
             json.dumps([1, 2])]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    out = {}
    for batch in (2, 1000):
        monkeypatch.setattr(readers, "JSONL_BATCH", batch)
        con = duckdb.connect()
        res = readers.read_jsonl(con, path, f"wb_raw_{batch}", {})
        out[batch] = (_table(con, res), res.rows, [(m["line"], m["message"][:12]) for m in res.malformed])
    assert out[2] == out[1000]
    (cols, rows), n, bad = out[2]
    assert cols == ["actor.name", "verb", "result.score", "context.tags", "_line"]   # in order of first appearance
    assert n == 4 and [r[-1] for r in rows] == [1, 2, 5, 6]                       # the lines a person sees
    assert rows[3][0] == "学生\u2028四" and rows[2][3] == '["a", "b"]'
    assert bad == [(3, "invalid JSON"), (7, "invalid JSON")]
