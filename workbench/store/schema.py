"""Canonical tables of the store: the one place where the schema (now v3) is written down.

Every table and column has a zh/en description; :func:`schema_markdown` renders them as the
reference page, and :func:`ddl` renders the ``CREATE TABLE`` statements the migrations run. Each table and
column records the schema version that introduced it (``since``), so migration ``v`` creates
exactly what version ``v`` added, on a new store and on an old one alike.
Tables whose name starts with ``identity_vault`` form the identity vault: the only tables that
hold names, national IDs, phone numbers and source-system IDs. Everything else is keyed by the
pseudonym ``student_key``.

Every fact table carries ``file_id`` (which ingested file the row came from) so that each file's
accounting ``rows read = accepted + quarantined + merged`` can be checked against the store.

>>> "identity_vault" in TABLES and TABLES["identity_vault"].vault
True
>>> TABLES["events"].column_names()[:3]
['student_key', 'ts', 'term_day']
"""
from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    zh: str
    en: str
    since: int = 1


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    vault: bool = False
    extra: tuple[str, ...] = field(default=())  # table constraints
    since: int = 1

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")


def _t(name: str, zh: str, en: str, cols: list[tuple],
       key: tuple[str, ...] = (), vault: bool = False, file_id: bool = True, since: int = 1) -> Table:
    columns = [Column(*c) for c in cols]
    if file_id:
        columns.append(Column("file_id", "INTEGER", "来源文件编号", "id of the ingested source file"))
    return Table(name, zh, en, tuple(columns), key, vault, since=since)


_STUDENT = ("student_key", "VARCHAR", "学生假名键（HMAC-SHA256，S + 11 位 62 进制）",
            "student pseudonym (keyed HMAC-SHA256: S + 11 base-62 digits)")

_TABLE_LIST: list[Table] = [
    _t("workbench_meta", "工作台元数据", "workbench metadata (schema version, key fingerprint)", [
        ("key", "VARCHAR", "键", "key"), ("value", "VARCHAR", "值", "value")], key=("key",), file_id=False),
    _t("ingest_log", "导入记录", "one row per ingested file, with its accounting", [
        ("file_id", "INTEGER", "文件编号", "file id"),
        ("file_name", "VARCHAR", "文件名", "file name"),
        ("path", "VARCHAR", "路径", "path at ingest time"),
        ("sha256", "VARCHAR", "内容哈希", "SHA-256 of the file content"),
        ("bytes", "BIGINT", "文件大小（字节）", "file size in bytes"),
        ("preset", "VARCHAR", "导入预设", "preset name"),
        ("target", "VARCHAR", "目标表", "target table"),
        ("encoding", "VARCHAR", "编码", "detected encoding"),
        ("rows_read", "BIGINT", "读取行数", "rows read"),
        ("accepted", "BIGINT", "接收行数", "rows accepted"),
        ("quarantined", "BIGINT", "隔离行数", "rows quarantined"),
        ("merged", "BIGINT", "合并重复行数", "exact duplicates merged"),
        ("released", "BIGINT", "移出隔离行数", "earlier quarantined rows released by this file"),
        ("status", "VARCHAR", "状态", "ok | failed"),
        ("message", "VARCHAR", "说明", "message"),
        ("ingested_at", "TIMESTAMP", "导入时间", "ingest time")], key=("file_id",), file_id=False),
    _t("quarantine", "隔离区", "rejected rows with every reason; raw identifiers are kept in the vault", [
        ("quarantine_id", "BIGINT", "隔离编号", "quarantine id"),
        ("file_id", "INTEGER", "文件编号", "file id"),
        ("file_name", "VARCHAR", "文件名", "file name"),
        ("preset", "VARCHAR", "导入预设", "preset"),
        ("row_no", "BIGINT", "行号（表头为第1行）", "row number (header is row 1)"),
        ("source_id", "VARCHAR", "来源学生编号的假名（如有）", "pseudonymised source student id, if any"),
        ("reasons", "STRUCT(\"column\" VARCHAR, \"value\" VARCHAR, code VARCHAR)[]", "原因列表", "list of reasons"),
        ("raw", "JSON", "原始行（身份信息已遮蔽）", "raw row (identifiers masked)"),
        ("status", "VARCHAR", "状态 open/released/superseded", "open | released | superseded"),
        ("closed_by_file", "INTEGER", "由哪个文件关闭", "file that closed this entry"),
        ("created_at", "TIMESTAMP", "创建时间", "created at")], key=("quarantine_id",), file_id=False),
    # ---- identity vault -------------------------------------------------------------------
    _t("identity_vault", "身份保险库（唯一含个人身份信息的表）", "identity vault: the only table with personal identifiers", [
        _STUDENT,
        ("name", "VARCHAR", "姓名", "name"),
        ("name_norm", "VARCHAR", "规范化姓名（匹配用）", "normalised name (for matching)"),
        ("national_id", "VARCHAR", "身份证号", "national ID"),
        ("phone", "VARCHAR", "电话", "phone"),
        ("birth_date", "DATE", "出生日期", "birth date"),
        ("class_name", "VARCHAR", "班级（匹配用）", "class name (for matching)"),
        ("anchor", "VARCHAR", "生成假名的来源标识", "identifier the pseudonym was derived from"),
        ("created_at", "TIMESTAMP", "创建时间", "created at")], key=("student_key",), vault=True),
    _t("identity_vault_ids", "来源系统编号（保险库）", "source-system ids per student (vault)", [
        ("system", "VARCHAR", "来源系统", "source system"),
        ("source_id", "VARCHAR", "来源编号", "id in that system"),
        _STUDENT,
        ("matched_by", "VARCHAR", "匹配依据", "how it was matched"),
        ("linked_at", "TIMESTAMP", "关联时间", "linked at")], key=("system", "source_id"), vault=True),
    _t("identity_vault_review", "待人工确认的身份匹配（保险库）", "ambiguous identity matches awaiting a person (vault)", [
        ("review_id", "BIGINT", "复核编号", "review id"),
        ("system", "VARCHAR", "来源系统", "source system"),
        ("source_id", "VARCHAR", "来源编号", "id in that system"),
        ("name", "VARCHAR", "姓名", "name as written in the source"),
        ("birth_date", "DATE", "出生日期", "birth date"),
        ("class_name", "VARCHAR", "班级", "class"),
        ("reason", "VARCHAR", "原因", "why it needs review"),
        ("candidates", "VARCHAR[]", "候选学生假名键", "candidate student keys"),
        ("status", "VARCHAR", "状态 pending/resolved", "pending | resolved"),
        ("decision", "VARCHAR", "决定", "decision"),
        ("created_at", "TIMESTAMP", "创建时间", "created at")], key=("review_id",), vault=True),
    _t("identity_vault_quarantine", "隔离行中的身份信息（保险库）", "identifiers of quarantined rows (vault)", [
        ("quarantine_id", "BIGINT", "隔离编号", "quarantine id"),
        ("raw", "JSON", "原始身份字段", "raw identifier fields")], key=("quarantine_id",), vault=True, file_id=False),
    # ---- school structure -----------------------------------------------------------------
    _t("schools", "学校", "schools", [
        ("school_id", "VARCHAR", "学校编号", "school id"), ("name", "VARCHAR", "校名", "name"),
        ("district", "VARCHAR", "区县", "district")], key=("school_id",)),
    _t("terms", "学期", "terms", [
        ("term_id", "VARCHAR", "学期编号", "term id"), ("name", "VARCHAR", "名称", "name"),
        ("start_date", "DATE", "开始日期", "start date"), ("end_date", "DATE", "结束日期", "end date"),
        ("weeks", "INTEGER", "周数", "weeks")], key=("term_id",)),
    _t("classes", "班级（或课程开设）", "classes (or course presentations)", [
        ("class_id", "VARCHAR", "班级编号", "class id"), ("school_id", "VARCHAR", "学校编号", "school id"),
        ("term_id", "VARCHAR", "学期（课程开设时）", "term (for course presentations)"),
        ("name", "VARCHAR", "班级名称", "class name"), ("grade", "INTEGER", "年级", "grade"),
        ("subject", "VARCHAR", "学科（课程开设时）", "subject (for course presentations)"),
        ("head_teacher", "VARCHAR", "班主任（显示名）", "head teacher (display name)"),
        ("room", "VARCHAR", "教室", "room"), ("length_days", "INTEGER", "时长（天）", "length in days")],
        key=("class_id",)),
    _t("students", "学生（非身份属性）", "students: non-identifying attributes", [
        _STUDENT, ("gender", "VARCHAR", "性别", "gender"), ("birth_year", "INTEGER", "出生年份", "birth year"),
        ("school_id", "VARCHAR", "学校编号", "school id"), ("enrol_year", "INTEGER", "入学年份", "enrolment year"),
        ("attrs", "JSON", "其他属性", "other attributes (region, band, …)")], key=("student_key",)),
    _t("enrolments", "选课/在班记录", "enrolments: student in class in term", [
        _STUDENT, ("class_id", "VARCHAR", "班级编号", "class id"), ("term_id", "VARCHAR", "学期", "term"),
        ("registered_day", "INTEGER", "注册日（相对学期开始）", "registration day (from term start)"),
        ("unregistered_day", "INTEGER", "退出日（相对学期开始）", "withdrawal day (from term start)"),
        ("final_result", "VARCHAR", "最终结果", "final result")], key=("student_key", "class_id", "term_id")),
    # ---- assessment -----------------------------------------------------------------------
    _t("assessments", "测评", "assessments", [
        ("assessment_id", "VARCHAR", "测评编号", "assessment id"), ("class_id", "VARCHAR", "班级/课程", "class or course"),
        ("term_id", "VARCHAR", "学期", "term"), ("subject", "VARCHAR", "学科", "subject"),
        ("name", "VARCHAR", "名称", "name"), ("kind", "VARCHAR", "类型（考试/单元测验/作业）", "kind (exam, unit test, assignment)"),
        ("date", "DATE", "日期", "date"), ("term_day", "INTEGER", "学期第几天", "day from term start"),
        ("max_score", "DOUBLE", "满分", "maximum score"), ("weight", "DOUBLE", "权重", "weight")],
        key=("assessment_id",)),
    _t("scores", "成绩", "scores", [
        _STUDENT, ("assessment_id", "VARCHAR", "测评编号", "assessment id"),
        ("score", "DOUBLE", "得分", "score"), ("max_score", "DOUBLE", "满分", "maximum score"),
        ("date", "DATE", "日期", "date"), ("term_day", "INTEGER", "提交日（相对学期开始）", "submission day"),
        ("is_banked", "BOOLEAN", "沿用以前成绩", "carried over from an earlier attempt")],
        key=("student_key", "assessment_id")),
    _t("items", "题目", "items (questions) and their knowledge points", [
        ("item_id", "VARCHAR", "题目编号", "item id"), ("subject", "VARCHAR", "学科", "subject"),
        ("knowledge_points", "VARCHAR[]", "知识点", "knowledge points"),
        ("ability_level", "VARCHAR", "能力层级（理解/应用/迁移）", "ability level (understand/apply/transfer)"),
        ("max_score", "DOUBLE", "满分", "maximum score")], key=("item_id",)),
    _t("responses", "作答记录", "question-level responses", [
        _STUDENT, ("item_id", "VARCHAR", "题目编号", "item id"),
        ("skill", "VARCHAR", "技能/知识点（无题目表时）", "skill or knowledge point (when there is no item table)"),
        ("ts", "TIMESTAMP", "作答时间", "answered at"), ("seq", "BIGINT", "序号（无时间时）", "order when there is no time"),
        ("correct", "BOOLEAN", "是否正确", "correct"), ("duration_s", "DOUBLE", "用时（秒）", "duration (s)"),
        ("attempt", "INTEGER", "第几次作答", "attempt number"), ("split", "VARCHAR", "数据集划分", "dataset split")]),
    _t("events", "学习行为日志", "behaviour logs", [
        _STUDENT, ("ts", "TIMESTAMP", "时间", "time"), ("term_day", "INTEGER", "学期第几天", "day from term start"),
        ("term_id", "VARCHAR", "学期", "term"), ("class_id", "VARCHAR", "班级/课程", "class or course"),
        ("verb", "VARCHAR", "行为", "verb (login, video_play, homework_submit, …)"),
        ("object_id", "VARCHAR", "对象", "object"), ("subject", "VARCHAR", "学科", "subject"),
        ("duration_s", "DOUBLE", "时长（秒）", "duration (s)"), ("on_time", "BOOLEAN", "是否按时", "on time"),
        ("target_key", "VARCHAR", "互动对象学生假名键", "pseudonym of the student interacted with"),
        ("count", "INTEGER", "次数", "count (e.g. clicks)")]),
    _t("attendance", "考勤", "attendance", [
        _STUDENT, ("date", "DATE", "日期", "date"), ("term_id", "VARCHAR", "学期", "term"),
        ("status", "VARCHAR", "状态 present/late/absent/leave", "present | late | absent | leave"),
        ("minutes_late", "INTEGER", "迟到分钟", "minutes late")], key=("student_key", "date")),
    _t("activities", "活动（社团/志愿/竞赛）", "activities: clubs, volunteering, competitions", [
        _STUDENT, ("kind", "VARCHAR", "类型", "kind"), ("name", "VARCHAR", "名称", "name"),
        ("date", "DATE", "日期", "date"), ("term_id", "VARCHAR", "学期", "term"),
        ("hours", "DOUBLE", "时长（小时）", "hours"), ("award", "VARCHAR", "获奖", "award")]),
    _t("surveys", "问卷与量表条目", "surveys: interest inventories, scale items, mood check-ins (long format)", [
        _STUDENT, ("instrument", "VARCHAR", "问卷/量表", "instrument"), ("ts", "TIMESTAMP", "时间", "time"),
        ("term_id", "VARCHAR", "学期", "term"), ("item", "VARCHAR", "条目", "item"),
        ("value", "DOUBLE", "数值", "value"), ("text", "VARCHAR", "文字", "text")]),
    _t("scale_scores", "量表总分", "psychological scale scores", [
        _STUDENT, ("instrument", "VARCHAR", "量表", "instrument"), ("date", "DATE", "日期", "date"),
        ("term_id", "VARCHAR", "学期", "term"), ("score", "DOUBLE", "总分", "total score")],
        key=("student_key", "instrument", "date")),
    _t("resources", "学习资源", "learning resources", [
        ("resource_id", "VARCHAR", "资源编号", "resource id"), ("class_id", "VARCHAR", "课程", "course"),
        ("kind", "VARCHAR", "类型", "kind"), ("knowledge_point", "VARCHAR", "知识点", "knowledge point"),
        ("level", "VARCHAR", "层级", "level"), ("title", "VARCHAR", "标题", "title"),
        ("week_from", "INTEGER", "开始周", "week from"), ("week_to", "INTEGER", "结束周", "week to")],
        key=("resource_id",)),
    # ---- results (filled by later stages) ---------------------------------------------------
    _t("profiles", "画像结果", "profile results per term and model spec", [
        ("term_id", "VARCHAR", "学期", "term"), ("spec_id", "VARCHAR", "模型编号", "model spec id"),
        ("spec_version", "INTEGER", "模型版本", "spec version"), _STUDENT,
        ("dimension", "VARCHAR", "维度（overall = 综合）", "dimension (overall = composite)"),
        ("score", "DOUBLE", "得分 0–100", "score 0–100"),
        ("computed_at", "TIMESTAMP", "计算时间", "computed at"),
        ("spec_hash", "VARCHAR", "模型规格哈希（同一版本号下内容不同即不同）", "hash of the spec document", 2)],
        file_id=False),
    _t("profile_students", "学生画像（标签、分群、解释）", "per-student profile: tags, segment, explanation", [
        ("term_id", "VARCHAR", "学期", "term"), ("spec_id", "VARCHAR", "模型编号", "model spec id"),
        ("spec_hash", "VARCHAR", "模型规格哈希", "spec hash"), _STUDENT,
        ("class_id", "VARCHAR", "班级", "class"), ("grade", "INTEGER", "年级", "grade"),
        ("composite", "DOUBLE", "综合得分 0–100", "composite 0–100"),
        ("segment", "INTEGER", "分群编号", "segment number"),
        ("segment_zh", "VARCHAR", "分群描述（中文）", "segment description (zh)"),
        ("segment_en", "VARCHAR", "分群描述（英文）", "segment description (en)"),
        ("tags", "VARCHAR[]", "标签", "tags"),
        ("explanation_zh", "VARCHAR", "解释（中文）", "explanation (zh)"),
        ("explanation_en", "VARCHAR", "解释（英文）", "explanation (en)"),
        ("imputed", "VARCHAR[]", "被插补的指标", "indicators imputed for this student"),
        ("computed_at", "TIMESTAMP", "计算时间", "computed at")], file_id=False, since=2),
    _t("profile_runs", "画像运行记录", "one row per profile run (term × spec hash)", [
        ("term_id", "VARCHAR", "学期", "term"), ("spec_id", "VARCHAR", "模型编号", "model spec id"),
        ("spec_version", "INTEGER", "模型版本", "spec version"), ("spec_hash", "VARCHAR", "模型规格哈希", "spec hash"),
        ("spec", "JSON", "模型规格全文", "the spec document"), ("students", "INTEGER", "学生数", "students"),
        ("report", "JSON", "信度、相关、缺失指标与警告", "reliability, correlations, missing indicators, warnings"),
        ("computed_at", "TIMESTAMP", "计算时间", "computed at")], file_id=False, since=2),
    _t("indicator_values", "指标值", "indicator values per student, term and week", [
        ("term_id", "VARCHAR", "学期", "term"), _STUDENT, ("indicator_id", "VARCHAR", "指标", "indicator"),
        ("week", "INTEGER", "周（空 = 全学期）", "week (empty = whole term)"), ("value", "DOUBLE", "值", "value"),
        ("computed_at", "TIMESTAMP", "计算时间", "computed at")], file_id=False, since=2),
    _t("mastery", "知识点掌握", "knowledge-point mastery", [
        ("term_id", "VARCHAR", "学期", "term"), _STUDENT, ("kp_id", "VARCHAR", "知识点", "knowledge point"),
        ("p_mastery", "DOUBLE", "掌握概率", "mastery probability"), ("attempts", "INTEGER", "作答次数", "attempts"),
        ("status", "VARCHAR", "状态", "status"), ("computed_at", "TIMESTAMP", "计算时间", "computed at")], file_id=False),
    _t("alerts", "预警", "alerts", [
        ("alert_id", "BIGINT", "预警编号", "alert id"), ("term_id", "VARCHAR", "学期", "term"), _STUDENT,
        ("rule_id", "VARCHAR", "规则", "rule"), ("level", "VARCHAR", "级别", "level"),
        ("route_to", "VARCHAR", "推送角色", "routed to role"), ("detail", "JSON", "详情", "detail"),
        ("status", "VARCHAR", "状态", "status"), ("created_at", "TIMESTAMP", "创建时间", "created at"),
        ("rule_set", "VARCHAR", "规则集", "rule set id", 3), ("rule_version", "INTEGER", "规则集版本", "rule set version", 3),
        ("class_id", "VARCHAR", "班级", "class", 3), ("start_on", "DATE", "起始日期", "first day of the evidence", 3),
        ("fired_on", "DATE", "触发日期", "day the rule fired", 3),
        ("acknowledged_by", "VARCHAR", "确认人", "acknowledged by (user)", 3),
        ("acknowledged_at", "TIMESTAMP", "确认时间", "acknowledged at", 3),
        ("feedback", "VARCHAR", "反馈（有用/无用）", "feedback: useful / not_useful", 3),
        ("feedback_by", "VARCHAR", "反馈人", "feedback by (user)", 3),
        ("updated_at", "TIMESTAMP", "更新时间", "updated at", 3)], file_id=False),
    _t("interventions", "干预记录", "interventions", [
        ("intervention_id", "BIGINT", "干预编号", "intervention id"), ("alert_id", "BIGINT", "预警编号", "alert id"),
        _STUDENT, ("kind", "VARCHAR", "类型", "kind"), ("by_role", "VARCHAR", "执行角色", "by role"),
        ("notes", "VARCHAR", "记录", "notes"), ("outcome", "VARCHAR", "结果", "outcome"),
        ("created_at", "TIMESTAMP", "创建时间", "created at"),
        ("term_id", "VARCHAR", "学期", "term", 3), ("by_user", "VARCHAR", "执行人", "by user", 3),
        ("visible_to", "VARCHAR", "记录可见角色（逗号分隔）", "roles that may read the notes (comma-separated)", 3),
        ("outcome_at", "TIMESTAMP", "结果记录时间", "outcome recorded at", 3)], file_id=False),
    _t("partner_groups", "学伴分组", "learning-partner groups per class and term", [
        ("term_id", "VARCHAR", "学期", "term"), ("class_id", "VARCHAR", "班级", "class"),
        ("group_no", "INTEGER", "组号", "group number"), _STUDENT,
        ("score", "DOUBLE", "组内互补度", "complementarity of the group"),
        ("created_by", "VARCHAR", "创建人", "created by (user)"),
        ("created_at", "TIMESTAMP", "创建时间", "created at")], key=("term_id", "class_id", "student_key"),
       file_id=False, since=4),
    _t("consents", "授权同意", "consents", [
        _STUDENT, ("purpose", "VARCHAR", "用途", "purpose"), ("granted", "BOOLEAN", "是否同意", "granted"),
        ("recorded_at", "TIMESTAMP", "记录时间", "recorded at")]),
    _t("audit_log", "审计日志", "audit log", [
        ("ts", "TIMESTAMP", "时间", "time"), ("user_name", "VARCHAR", "用户", "user"), ("role", "VARCHAR", "角色", "role"),
        ("action", "VARCHAR", "操作", "action"), ("target", "VARCHAR", "对象", "target"),
        ("detail", "JSON", "详情", "detail")], file_id=False),
]

TABLES: dict[str, Table] = {t.name: t for t in _TABLE_LIST}
VAULT_TABLES = tuple(t.name for t in _TABLE_LIST if t.vault)


def ddl(table: Table, version: int = SCHEMA_VERSION) -> str:
    """``CREATE TABLE`` statement for ``table`` as it was at schema ``version``.

    >>> ddl(TABLES["schools"]).splitlines()[0]
    'CREATE TABLE IF NOT EXISTS schools ('
    >>> "spec_hash" in ddl(TABLES["profiles"], 1), "spec_hash" in ddl(TABLES["profiles"], 2)
    (False, True)
    """
    cols = [f'    "{c.name}" {c.type}' for c in table.columns if c.since <= version]
    if table.key:
        cols.append("    PRIMARY KEY (" + ", ".join(f'"{k}"' for k in table.key) + ")")
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n" + ",\n".join(cols) + "\n)"


def schema_markdown() -> str:
    """The schema reference as Markdown, every table and column in Chinese and English.

    >>> schema_markdown().splitlines()[0]
    '# Schema v4 — 数据库结构'
    """
    out = [f"# Schema v{SCHEMA_VERSION} — 数据库结构", "",
           "Generated by `workbench schema` from `workbench/store/schema.py`. 🔒 = identity vault.", ""]
    for t in _TABLE_LIST:
        out += [f"## `{t.name}` — {t.zh} / {t.en}" + (" 🔒" if t.vault else "")
                + (f" (since v{t.since})" if t.since > 1 else ""), "",
                "| column | type | 说明 | meaning |", "|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type.split('(')[0]} | {c.zh} | {c.en}"
                + (f" (since v{c.since})" if c.since > t.since else "") + " |" for c in t.columns]
        if t.key:
            out.append(f"\nkey: {', '.join(t.key)}")
        out.append("")
    return "\n".join(out)
