"""One-ID: match records from several systems to one ``student_key``; keyed pseudonyms; the vault.

``student_key`` is ``S`` + the first 64 bits of ``HMAC-SHA256(key, anchor)`` in 11 base-62 digits,
where the anchor is the identifier a student was first seen with (``system:id``): see
:mod:`workbench.student_keys` (12 characters, which DuckDB keeps inline; a store made before keeps its
``S`` + 24 hex digits). The key lives outside the repository and the store: ``$WORKBENCH_KEY`` (hex), or the file ``$WORKBENCH_KEY_FILE``, or
``~/.config/profile-workbench/pseudonym.key`` (created with mode 0600 by ``workbench key init``).
The store remembers a fingerprint of the key and refuses a different one.

Matching rules, strongest first: an existing link (system, id); the same national ID; for
linking systems (LMS, apps) the exact name + class (+ birth date when given) with exactly one
candidate. Everything weaker — a name variant (繁体, full-width, spaces), two candidates, no
candidate, a national ID already tied to another school number — goes to a person for review
(``workbench identity review`` / ``workbench identity resolve FILE``), never merged silently.

>>> pseudonym(b"k" * 32, "school_no:2026070101")
'SLK5C0ch8z9m'
>>> key_hex(pseudonym(b"k" * 32, "school_no:2026070101"))   # the hex of its bits: display codes are made of them
'f85f7e6362913702'
>>> normalize_name(" 張 小明 ")
'张小明'
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from workbench.sqltext import DEFAULT_DATE_FORMATS, lit, q, special_column
from workbench.student_keys import fresh_pseudonym, key_hex, pseudonym  # noqa: F401 (pseudonym, key_hex: part of this API)

if TYPE_CHECKING:
    from workbench.ingest.presets import Preset

ENV_KEY, ENV_KEY_FILE = "WORKBENCH_KEY", "WORKBENCH_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "profile-workbench" / "pseudonym.key"

# traditional → simplified for characters common in names (the variants school systems produce)
_T2S = str.maketrans(
    "張劉陳楊趙黃吳孫馬羅鄭謝許韓馮鄧蕭蔣葉蘇盧閻賈鍾魏陸龔賴譚戴夏鄒錢湯華國偉麗軍紅東龍鵬濤傑婷嬌靜強磊輝歡寧燕鳳飛"
    "書蘭慶學瑩聰穎順義樂雲晉鑫銘麟誠嘉",
    "张刘陈杨赵黄吴孙马罗郑谢许韩冯邓萧蒋叶苏卢阎贾钟魏陆龚赖谭戴夏邹钱汤华国伟丽军红东龙鹏涛杰婷娇静强磊辉欢宁燕凤飞"
    "书兰庆学莹聪颖顺义乐云晋鑫铭麟诚嘉")


class PseudonymKeyError(RuntimeError):
    """No pseudonym key, or not the key this store was built with."""


def normalize_name(name: str | None) -> str:
    """Full-width → half-width, no spaces or dots, traditional → simplified (common name characters)."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if not ch.isspace() and ch not in "·•.")
    return text.translate(_T2S)


def init_key(path: str | os.PathLike[str] | None = None) -> Path:
    """Create a random 256-bit key file with permissions 0600 (refuses to overwrite)."""
    path = Path(path or os.environ.get(ENV_KEY_FILE) or DEFAULT_KEY_FILE)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


def load_key(path: str | os.PathLike[str] | None = None) -> bytes:
    """The pseudonym key from ``$WORKBENCH_KEY``, ``path``, ``$WORKBENCH_KEY_FILE`` or the default file."""
    if os.environ.get(ENV_KEY) and not path:
        key = bytes.fromhex(os.environ[ENV_KEY].strip())
        if len(key) < 16:
            raise PseudonymKeyError(f"${ENV_KEY} holds {len(key)} bytes; a pseudonym key needs at least 16")
        return key
    p = Path(path or os.environ.get(ENV_KEY_FILE) or DEFAULT_KEY_FILE)
    if not p.exists():
        raise PseudonymKeyError(f"no pseudonym key at {p}; create one with `workbench key init` (or set {ENV_KEY}) "
                        f"/ 未找到假名密钥，请先运行 `workbench key init`")
    if os.name == "posix" and p.stat().st_mode & 0o077:
        raise PseudonymKeyError(f"key file {p} is readable by others; run: chmod 600 {p}")
    key = bytes.fromhex(p.read_text().strip())
    if len(key) < 16:
        raise PseudonymKeyError(f"key file {p} holds {len(key)} bytes; a pseudonym key needs at least 16 (use `workbench key init`)")
    return key


def key_fingerprint(key: bytes) -> str:
    return hmac.new(key, b"profile-workbench key fingerprint", hashlib.sha256).hexdigest()[:16]


def check_key(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Record the key's fingerprint in a new store; refuse a store made with another key."""
    fp = key_fingerprint(key)
    row = next(iter(con.execute("SELECT value FROM workbench_meta WHERE key = 'key_fingerprint'").fetchall()), None)
    if row is None:
        con.execute("INSERT INTO workbench_meta VALUES ('key_fingerprint', ?)", [fp])
    elif row[0] != fp:
        raise PseudonymKeyError("this store was pseudonymised with a different key; use the key it was built with "
                        "/ 该数据库使用了不同的假名密钥")


@dataclass
class IdentityStats:
    created: int = 0
    linked: int = 0
    review: int = 0
    pending_ids: set[str] = field(default_factory=set)


def id_sql(preset: Preset, columns: set[str], stem: str, line: str) -> str:
    """SQL (over alias ``raw``) for the source id of a record under ``preset``'s identity section."""
    ident = preset.identity
    assert ident is not None
    ids = ident.id if isinstance(ident.id, list) else [ident.id]
    parts = [special_column(c, line, stem, columns) if c in ("_row", "_line", "_file")
             else f"NULLIF(trim(raw.{q(c)}), '')" for c in ids]
    return parts[0] if len(parts) == 1 else "concat_ws(':', " + ", ".join(parts) + ")"


def _pull(con: duckdb.DuckDBPyConnection, preset: Preset, raw: str, stem: str, line: str) -> pd.DataFrame:
    ident = preset.identity
    assert ident is not None
    columns = {r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()}

    def col(c: str | None) -> str:
        return f"NULLIF(trim(raw.{q(c)}), '')" if c else "NULL"
    fmts = ident.birth_formats or DEFAULT_DATE_FORMATS
    birth = f"CAST(try_strptime({col(ident.birth_date)}, [{', '.join(map(lit, fmts))}]) AS DATE)" \
        if ident.birth_date else "NULL::DATE"
    # one id, several different people (name, ID, birth date or class disagree): a person must look
    return con.execute(f"""SELECT min(_pos) AS _pos, sid, any_value(name) AS name, any_value(nid) AS nid,
            any_value(phone) AS phone, any_value(birth) AS birth, bool_or(bad_birth) AS bad_birth,
            any_value(class_name) AS class_name, count(DISTINCT (name, nid, birth, class_name)) AS variants
        FROM (SELECT raw.rowid AS _pos, {id_sql(preset, columns, stem, line)} AS sid, {col(ident.name)} AS name,
                     upper({col(ident.national_id)}) AS nid, {col(ident.phone)} AS phone, {birth} AS birth,
                     ({col(ident.birth_date)} IS NOT NULL AND {birth} IS NULL) AS bad_birth,
                     {col(ident.class_name)} AS class_name FROM {raw} raw) WHERE sid IS NOT NULL
        GROUP BY sid ORDER BY _pos""").df()


def withdraw_failed(con: duckdb.DuckDBPyConnection, preset: Preset, raw: str, bad_rids: str, file_id: int,
                    stem: str, line: str) -> int:
    """Undo the identities and links this file made from records that then failed their checks.

    ``bad_rids`` is a SQL query giving the raw rowids of failed records. An id all of whose records
    failed is unlinked again (and its new vault entry removed), so a typo in a rejected roster row
    never settles in the vault; the corrected row creates it properly. Returns the ids withdrawn.
    """
    columns = {r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()}
    system = preset.identity.system if preset.identity else ""
    n = con.execute(f"""DELETE FROM identity_vault_ids WHERE file_id = {file_id} AND system = {lit(system)}
        AND source_id IN (SELECT sid FROM (SELECT {id_sql(preset, columns, stem, line)} AS sid,
                                                  raw.rowid IN ({bad_rids}) AS bad FROM {raw} raw)
                          WHERE sid IS NOT NULL GROUP BY sid HAVING bool_and(bad))""").fetchall()[0][0]
    con.execute(f"""DELETE FROM identity_vault WHERE file_id = {file_id}
        AND student_key NOT IN (SELECT student_key FROM identity_vault_ids)""")
    return int(n)


def resolve_identities(con: duckdb.DuckDBPyConnection, preset: Preset, raw: str, key: bytes,
                       file_id: int, stem: str = "", line: str = "(raw.rowid + 2)") -> IdentityStats:
    """Create or link identities for the ids in raw table ``raw`` (run inside the ingest transaction)."""
    ident = preset.identity
    assert ident is not None
    stats = IdentityStats()
    rows = _pull(con, preset, raw, stem, line)
    if rows.empty:
        return stats
    system = ident.system
    links = dict(con.execute("SELECT source_id, student_key FROM identity_vault_ids WHERE system = ?",
                             [system]).fetchall())
    pending = {r[0] for r in con.execute("SELECT source_id FROM identity_vault_review WHERE system = ? "
                                         "AND status = 'pending'", [system]).fetchall()}
    vault = con.execute("SELECT student_key, name, name_norm, national_id, birth_date, class_name "
                        "FROM identity_vault").df()
    by_nid = {n: k for k, n in zip(vault.student_key, vault.national_id) if isinstance(n, str)}
    taken = set(vault.student_key)   # a new student's key is none of these (see fresh_pseudonym)
    by_name: dict[tuple[str, str], list[int]] = {}
    for i, (nn, cl) in enumerate(zip(vault.name_norm, vault.class_name)):
        by_name.setdefault((nn or "", cl or ""), []).append(i)
    new_vault, new_links, reviews = [], [], []
    now = pd.Timestamp.now()
    for r in rows.itertuples(index=False):
        sid = str(r.sid)
        if sid in links or sid in pending or r.bad_birth:
            continue
        if r.variants > 1:  # the same id for different people within this file
            reviews.append((system, sid, r.name if isinstance(r.name, str) else None, None, r.class_name,
                            "identity_conflict", [links[sid]] if sid in links else []))
            pending.add(sid)
            continue
        name = r.name if isinstance(r.name, str) else None
        nid = r.nid if isinstance(r.nid, str) else None
        birth = r.birth if isinstance(r.birth, (pd.Timestamp,)) or (r.birth is not None and not pd.isna(r.birth)) else None
        if ident.mode == "create":
            if nid and nid in by_nid:
                reviews.append((system, sid, name, birth, r.class_name, "identity_conflict", [by_nid[nid]]))
                pending.add(sid)
                continue
            k = fresh_pseudonym(key, f"{system}:{sid}", taken)
            taken.add(k)
            new_vault.append((k, name, normalize_name(name), nid, r.phone if isinstance(r.phone, str) else None,
                              birth, r.class_name if isinstance(r.class_name, str) else None, f"{system}:{sid}", now, file_id))
            new_links.append((system, sid, k, "new", now, file_id))
            links[sid] = k
            if nid:
                by_nid[nid] = k
            stats.created += 1
            continue
        # link mode: find the one student this record is about, or ask a person
        norm = normalize_name(name)
        cands = by_name.get((norm, r.class_name or ""), [])
        exact = [i for i in cands if vault.name.iat[i] == (name or "").strip()]
        if birth is not None:
            same_birth = [i for i in exact if pd.Timestamp(vault.birth_date.iat[i]) == pd.Timestamp(birth)]
        else:
            same_birth = exact if len(cands) == 1 else []
        if len(same_birth) == 1 and len(exact) >= 1:
            k = vault.student_key.iat[same_birth[0]]
            new_links.append((system, sid, k, "name+class+birth" if birth is not None else "name+class", now, file_id))
            links[sid] = k
            stats.linked += 1
        else:
            reason = "no_match" if not cands else ("name_variant" if not exact else "ambiguous")
            reviews.append((system, sid, name, birth, r.class_name, reason, [vault.student_key.iat[i] for i in cands]))
            pending.add(sid)
    if new_vault:
        con.register("_nv", pd.DataFrame(new_vault, columns=["student_key", "name", "name_norm", "national_id", "phone",
                                                            "birth_date", "class_name", "anchor", "created_at", "file_id"]))
        con.execute("INSERT INTO identity_vault BY NAME SELECT * FROM _nv")
        con.unregister("_nv")
    if new_links:
        con.register("_nl", pd.DataFrame(new_links, columns=["system", "source_id", "student_key", "matched_by",
                                                            "linked_at", "file_id"]))
        con.execute("INSERT INTO identity_vault_ids BY NAME SELECT * FROM _nl")
        con.unregister("_nl")
    for system_, sid, name, birth, cls, reason, cands in reviews:
        con.execute("INSERT INTO identity_vault_review VALUES (nextval('review_seq'), ?, ?, ?, ?, ?, ?, ?, 'pending', "
                    "NULL, ?, ?)", [system_, sid, name, birth, cls, reason, cands, now, file_id])
        stats.review += 1
        stats.pending_ids.add(sid)
    return stats


REVIEW_COLUMNS = ["review_id", "system", "source_id", "name", "birth_date", "class_name", "reason",
                  "candidate_1", "candidate_2", "candidate_3", "decision"]


def write_review_file(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]) -> int:
    """Write pending reviews to a CSV (UTF-8 with BOM) for a person to fill the ``decision`` column.

    ``decision`` takes ``1``/``2``/``3`` (that candidate is the same student), ``new`` (a different
    student: create one) or ``reject`` (drop the record). The file holds names: keep it with the vault.
    """
    rows = con.execute("""SELECT r.review_id, r.system, r.source_id, r.name, r.birth_date, r.class_name, r.reason,
            list(concat_ws(' | ', v.name, CAST(v.birth_date AS VARCHAR), v.class_name, v.student_key) ORDER BY c.i)
                FILTER (WHERE v.student_key IS NOT NULL) AS cands
        FROM identity_vault_review r
        LEFT JOIN (SELECT review_id, unnest(candidates) AS k, generate_subscripts(candidates, 1) AS i
                   FROM identity_vault_review) c USING (review_id)
        LEFT JOIN identity_vault v ON v.student_key = c.k
        WHERE r.status = 'pending'
        GROUP BY ALL ORDER BY r.review_id""").fetchall()
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEW_COLUMNS)
        for r in rows:
            cands = list(r[7] or [])[:3]
            w.writerow(list(r[:7]) + cands + [""] * (3 - len(cands)) + [""])
    return len(rows)


def apply_review_decisions(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], key: bytes) -> dict[str, Any]:
    """Apply the decisions of a filled review file; returns counts and the (system, id) pairs now linked."""
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    missing = [c for c in ("review_id", "decision") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; use the file written by `workbench identity review`")
    out: dict[str, Any] = {"linked": 0, "created": 0, "rejected": 0, "skipped": 0, "resolved_ids": []}
    now = pd.Timestamp.now()
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        decision = str(row.decision).strip().lower()
        if not decision:
            out["skipped"] += 1
            continue
        rec = next(iter(con.execute("SELECT system, source_id, name, birth_date, class_name, candidates FROM identity_vault_review "
                          "WHERE review_id = ? AND status = 'pending'", [int(row.review_id)]).fetchall()), None)
        if rec is None:
            out["skipped"] += 1
            continue
        system, sid, name, birth, cls, cands = rec
        if decision in ("1", "2", "3"):
            idx = int(decision) - 1
            if idx >= len(cands or []):
                raise ValueError(f"{path}, row {line}, column decision: candidate {decision} does not exist")
            con.execute("INSERT INTO identity_vault_ids VALUES (?, ?, ?, 'person', ?, NULL)", [system, sid, cands[idx], now])
            out["linked"] += 1
            out["resolved_ids"].append((system, sid))
        elif decision == "new":
            taken = {r[0] for r in con.execute("SELECT student_key FROM identity_vault").fetchall()}
            k = fresh_pseudonym(key, f"{system}:{sid}", taken)
            con.execute("INSERT INTO identity_vault VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL)",
                        [k, name, normalize_name(name), birth, cls, f"{system}:{sid}", now])
            con.execute("INSERT INTO identity_vault_ids VALUES (?, ?, ?, 'person:new', ?, NULL)", [system, sid, k, now])
            out["created"] += 1
            out["resolved_ids"].append((system, sid))
        elif decision == "reject":
            out["rejected"] += 1
        else:
            raise ValueError(f"{path}, row {line}, column decision: {decision!r} is not 1, 2, 3, new or reject")
        con.execute("UPDATE identity_vault_review SET status = 'resolved', decision = ? WHERE review_id = ?",
                    [decision, int(row.review_id)])
    return out


def student_key_for(con: duckdb.DuckDBPyConnection, source_id: str, system: str = "school_no") -> str | None:
    """The ``student_key`` the vault links to ``source_id`` in ``system`` (a school number by default), or
    ``None``. The one way to turn an identifier a person types (a parent's child's school number) into a
    pseudonym; the identifier itself stays in the vault."""
    row = con.execute("SELECT student_key FROM identity_vault_ids WHERE system = ? AND source_id = ?",
                      [system, str(source_id).strip()]).fetchone()
    return row[0] if row else None
