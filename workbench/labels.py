"""The zh/en label catalogue: rejection reasons and UI strings, kept in one place.

>>> reason_text("negative_score", "en")
'negative score'
>>> reason_text("negative_score", "zh")
'分数为负'
"""
from __future__ import annotations

REASONS: dict[str, dict[str, str]] = {
    "missing_value": {"zh": "必填值为空", "en": "required value is empty"},
    "bad_type": {"zh": "类型错误（应为数字/布尔值）", "en": "wrong type (number/boolean expected)"},
    "bad_date": {"zh": "日期/时间无法识别", "en": "date or time cannot be read"},
    "date_outside_term": {"zh": "日期不在任何已知学期内", "en": "date is outside every known term"},
    "negative_score": {"zh": "分数为负", "en": "negative score"},
    "score_above_max": {"zh": "分数超过满分", "en": "score above the maximum"},
    "out_of_range": {"zh": "数值超出允许范围", "en": "value out of the allowed range"},
    "bad_format": {"zh": "格式不符（如证件号、电话）", "en": "wrong format (e.g. ID or phone number)"},
    "unknown_value": {"zh": "取值不在允许范围内（未知代码或拼写错误）", "en": "value not in the allowed set (unknown code or typo)"},
    "unknown_student": {"zh": "未知学生（在身份库中找不到该编号）", "en": "unknown student (id not in the identity vault)"},
    "identity_pending": {"zh": "身份匹配待人工确认", "en": "identity match awaits a person's decision"},
    "unknown_class": {"zh": "未知班级", "en": "unknown class"},
    "unknown_item": {"zh": "未知题目", "en": "unknown item"},
    "unknown_assessment": {"zh": "未知测评", "en": "unknown assessment"},
    "unknown_reference": {"zh": "引用的记录不存在", "en": "referenced record does not exist"},
    "duplicate_exact": {"zh": "完全重复的行（已合并）", "en": "exact duplicate row (merged)"},
    "duplicate_conflict": {"zh": "同一记录出现多次且取值不同", "en": "same record appears again with different values"},
    "malformed_row": {"zh": "行结构错误（列数不符）", "en": "malformed row (wrong number of fields)"},
    "identity_conflict": {"zh": "身份信息冲突（同一证件号对应不同学号）", "en": "conflicting identifiers (one national ID, two school numbers)"},
}

UI: dict[str, dict[str, str]] = {
    "file": {"zh": "文件", "en": "file"},
    "preset": {"zh": "预设", "en": "preset"},
    "rows_read": {"zh": "读取", "en": "read"},
    "accepted": {"zh": "接收", "en": "accepted"},
    "quarantined": {"zh": "隔离", "en": "quarantined"},
    "merged": {"zh": "合并重复", "en": "merged"},
    "released": {"zh": "移出隔离", "en": "released"},
    "status": {"zh": "状态", "en": "status"},
    "unchanged": {"zh": "未变化（已导入过）", "en": "unchanged (already ingested)"},
    "total": {"zh": "合计", "en": "total"},
}


def reason_text(code: str, lang: str = "zh") -> str:
    """The sentence for a rejection reason code in ``lang`` (``zh`` or ``en``)."""
    entry = REASONS.get(code)
    if entry is None:
        return code
    return entry.get(lang, entry["en"])


def ui(key: str, lang: str = "zh") -> str:
    """A UI string in ``lang``; unknown keys are returned unchanged."""
    return UI.get(key, {}).get(lang, key)
