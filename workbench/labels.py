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
    # ---- model builder ----------------------------------------------------------------------------
    "mb_title": {"zh": "画像模型构建器", "en": "Profile model builder"},
    "mb_unsaved": {"zh": "未保存", "en": "unsaved"},
    "mb_saved": {"zh": "已保存", "en": "saved"},
    "mb_undo": {"zh": "撤销", "en": "Undo"},
    "mb_redo": {"zh": "重做", "en": "Redo"},
    "mb_save": {"zh": "保存", "en": "Save"},
    "mb_load": {"zh": "打开", "en": "Open"},
    "mb_model": {"zh": "模型", "en": "Model"},
    "mb_saved_to": {"zh": "已保存到 {path}（第 {n} 版）", "en": "saved to {path} (revision {n})"},
    "mb_loaded": {"zh": "已打开 {name}", "en": "opened {name}"},
    "mb_discard": {"zh": "有未保存的更改；再点一次「打开」将放弃它们", "en": "there are unsaved changes; click Open again to discard them"},
    "mb_options": {"zh": "计分方式", "en": "Scoring"},
    "mb_normaliser": {"zh": "标准化方法", "en": "Normaliser"},
    "mb_scope": {"zh": "比较范围", "en": "Compare within"},
    "mb_missing": {"zh": "缺失数据", "en": "Missing data"},
    "opt_percentile": {"zh": "百分位（推荐）", "en": "percentile (recommended)"},
    "opt_zscore": {"zh": "标准分 z", "en": "z-score"},
    "opt_minmax": {"zh": "最小–最大", "en": "min–max"},
    "opt_class": {"zh": "班级", "en": "class"},
    "opt_grade": {"zh": "年级", "en": "grade"},
    "opt_school": {"zh": "全校", "en": "school"},
    "opt_reweight": {"zh": "按已有指标重新分配权重", "en": "reweight the available indicators"},
    "opt_impute": {"zh": "用同组中位数插补", "en": "impute the group median"},
    "opt_kmeans": {"zh": "K 均值", "en": "k-means"},
    "opt_gmm": {"zh": "高斯混合", "en": "Gaussian mixture"},
    "opt_auto": {"zh": "自动", "en": "auto"},
    "mb_dimension_weight": {"zh": "维度权重", "en": "dimension weight"},
    "mb_share": {"zh": "占综合 {share}", "en": "{share} of the composite"},
    "mb_not_scored": {"zh": "未计分", "en": "not scored"},
    "mb_higher_better": {"zh": "越高越好", "en": "higher is better"},
    "mb_lower_better": {"zh": "越低越好", "en": "lower is better"},
    "mb_tags": {"zh": "标签规则", "en": "Tag rules"},
    "mb_rule": {"zh": "规则", "en": "rule"},
    "mb_new_tag": {"zh": "新标签", "en": "New tag"},
    "mb_label_zh": {"zh": "中文名称", "en": "Chinese label"},
    "mb_label_en": {"zh": "英文名称", "en": "English label"},
    "mb_add": {"zh": "添加", "en": "Add"},
    "mb_remove": {"zh": "删除", "en": "Remove"},
    "mb_rule_help": {"zh": "例：academic < 40 and psy_gad7_max >= 10；可用维度编号、overall、指标编号，and/or/not，abs/min/max/missing",
                     "en": "e.g. academic < 40 and psy_gad7_max >= 10; use dimension ids, overall, indicator ids, "
                           "and/or/not, abs/min/max/missing"},
    "mb_segments": {"zh": "学生分群", "en": "Segmentation"},
    "mb_method": {"zh": "方法", "en": "method"},
    "mb_k": {"zh": "群数", "en": "segments"},
    "mb_seed": {"zh": "随机种子", "en": "seed"},
    "mb_run_segments": {"zh": "预览分群", "en": "Preview segments"},
    "mb_segments_stale": {"zh": "模型已更改，点击「预览分群」更新", "en": "the model changed; click Preview segments to update"},
    "mb_preview": {"zh": "实时预览", "en": "Live preview"},
    "mb_distribution": {"zh": "综合得分分布", "en": "Composite scores"},
    "mb_summary": {"zh": "{n} 名学生 · 综合均值 {mean} · 中位数 {median} · 标准差 {sd}",
                   "en": "{n} students · composite mean {mean} · median {median} · SD {sd}"},
    "mb_reliability": {"zh": "内部一致性（Cronbach α）", "en": "Internal consistency (Cronbach's alpha)"},
    "mb_correlation": {"zh": "维度相关（Spearman）", "en": "Dimension correlation (Spearman)"},
    "mb_top": {"zh": "综合得分最高", "en": "Highest composite"},
    "mb_bottom": {"zh": "综合得分最低", "en": "Lowest composite"},
    "mb_student": {"zh": "查看学生", "en": "Student"},
    "mb_group_mean": {"zh": "同组平均", "en": "group mean"},
    "mb_tag_count": {"zh": "{label}：{n} 人", "en": "{label}: {n} students"},
    "mb_no_warnings": {"zh": "没有需要注意的问题", "en": "nothing to watch out for"},
    "mb_error": {"zh": "未应用：{msg}", "en": "not applied: {msg}"},
    "mb_loading": {"zh": "正在计算本学期全部指标…", "en": "computing every indicator of the term…"},
    "mb_language": {"zh": "语言", "en": "Language"},
    # ---- published apps ---------------------------------------------------------------------------
    "app_refused": {"zh": "无法显示：", "en": "Cannot show this:"},
    "app_class": {"zh": "班级", "en": "Class"},
    "app_student": {"zh": "学生", "en": "Student"},
    "app_no_consent": {"zh": "该生家长未同意使用心理数据，情绪与心理内容不予显示。",
                       "en": "The family has not consented to psychology data; emotion and psychology detail is not shown."},
    "app_parent_note": {"zh": "本报告只与班级、年级的平均水平比较，不与任何其他同学比较。得分是相对位置，不是考试分数。",
                        "en": "This report compares with class and grade averages only, never with other students. "
                              "Scores are relative positions, not marks."},
    "app_psychology": {"zh": "心理与情绪（仅心理教师可见）", "en": "Psychology and emotion (psychology teacher only)"},
    "app_withheld": {"zh": "共 {total} 名学生，其中 {n} 名家长未同意使用心理数据，未列出。",
                     "en": "{total} students; {n} whose families did not consent to psychology data are not listed."},
    "app_mood": {"zh": "心情均值", "en": "mood mean"},
    "app_streak": {"zh": "连续低落天数", "en": "low-mood streak"},
    "app_school_overview": {"zh": "学校概览", "en": "School overview"},
    "app_district_overview": {"zh": "区域概览", "en": "District overview"},
    "app_units": {"zh": "各单位比较", "en": "Comparison"},
    "app_quality_map": {"zh": "质量地图", "en": "Quality map"},
    "app_by_gender": {"zh": "按性别（人数与综合均分）", "en": "By gender (students and mean composite)"},
    # ---- workbench serve: login, refusals, the list of apps ----------------------------------------
    "sv_title": {"zh": "学生画像工作台", "en": "Profile Workbench"},
    "sv_login": {"zh": "登录", "en": "Log in"},
    "sv_login_name": {"zh": "用户名", "en": "Login"},
    "sv_password": {"zh": "密码", "en": "Password"},
    "sv_bad_login": {"zh": "用户名或密码不正确", "en": "wrong login or password"},
    "sv_throttled": {"zh": "尝试次数过多，请 {minutes} 分钟后再试", "en": "too many attempts; try again in {minutes} minutes"},
    "sv_logged_out": {"zh": "您已退出登录", "en": "you have logged out"},
    "sv_logout": {"zh": "退出登录", "en": "Log out"},
    "sv_other_lang": {"zh": "English", "en": "中文"},
    "sv_refused": {"zh": "无权访问", "en": "Access refused"},
    "sv_not_found": {"zh": "页面不存在", "en": "Page not found"},
    "sv_busy": {"zh": "当前使用人数较多", "en": "Too many people are using the apps"},
    "sv_busy_text": {"zh": "服务器暂时无法打开更多页面，请过几分钟再试；关闭不用的页面也能腾出位置。",
                     "en": "The server cannot open more pages right now. Please try again in a few minutes; "
                           "closing pages you no longer use frees room too."},
    "sv_my_apps": {"zh": "我的应用", "en": "My apps"},
    "sv_no_apps": {"zh": "您的角色暂时没有可用的应用", "en": "there is no app for your role yet"},
    "sv_signed_in_as": {"zh": "{login}（{role}）", "en": "{login} ({role})"},
    "sv_back": {"zh": "返回我的应用", "en": "Back to my apps"},
    "sv_unknown_app": {"zh": "没有这个应用", "en": "there is no such app"},
    "app_model_builder": {"zh": "画像模型构建器", "en": "Profile model builder"},
    "app_class_dashboard": {"zh": "班级学情看板", "en": "Class dashboard"},
    "app_student_profile": {"zh": "学生画像", "en": "Student profile"},
    "app_psychology_dashboard": {"zh": "心理健康看板", "en": "Psychology dashboard"},
    "app_parent_report": {"zh": "家长报告", "en": "Report for parents"},
}


def reason_text(code: str, lang: str = "zh") -> str:
    """The sentence for a rejection reason code in ``lang`` (``zh`` or ``en``)."""
    entry = REASONS.get(code)
    if entry is None:
        return code
    return entry.get(lang, entry["en"])


def ui(key: str, lang: str = "zh", **values: object) -> str:
    """A UI string in ``lang`` (a ``str.format`` template filled with ``values``); unknown keys are returned
    unchanged."""
    text = UI.get(key, {}).get(lang, key)
    return text.format(**values) if values else text
