"""The zh/en words of the class and student reports: headings, column names, messages and sentences.

Sentences are ``str.format`` templates; :func:`tr` picks the language (unknown keys come back as
themselves, so a missing entry shows up in the report instead of failing it).

>>> tr("sec_strengths", "zh"), tr("sec_strengths", "en")
('亮点', 'Strengths')
>>> tr("above_class", "en", dim="Academics", score="78", mean="61")
'Academics: 78, above the class average (61)'
"""
from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    # ---- headings ------------------------------------------------------------------------------
    "class_title": {"zh": "{name} 学情报告", "en": "{name}: class report"},
    "student_title": {"zh": "学生成长报告 {code}", "en": "Student report {code}"},
    "subtitle": {"zh": "学期 {term} · 画像模型「{spec}」第 {version} 版 · {students} 名学生",
                 "en": "Term {term} · profile model “{spec}” version {version} · {students} students"},
    "student_subtitle": {"zh": "{class_name} · 学期 {term} · 画像模型「{spec}」第 {version} 版",
                         "en": "{class_name} · term {term} · profile model “{spec}” version {version}"},
    "sec_overview": {"zh": "班级概况", "en": "Class overview"},
    "sec_distribution": {"zh": "综合得分分布", "en": "Composite scores"},
    "sec_dimensions": {"zh": "各维度：班级平均与年级平均", "en": "Dimensions: class and grade means"},
    "sec_segments": {"zh": "学生分群", "en": "Segments"},
    "sec_tags": {"zh": "标签", "en": "Tags"},
    "sec_teaching": {"zh": "教学地图（知识点掌握）", "en": "Teaching map (knowledge-point mastery)"},
    "sec_lacking": {"zh": "多数同学尚未掌握的知识点", "en": "Points most of the class has not mastered"},
    "sec_chapters": {"zh": "各章节平均掌握程度", "en": "Mean mastery per chapter"},
    "sec_alerts": {"zh": "预警", "en": "Alerts"},
    "sec_growth": {"zh": "成长轨迹", "en": "Growth since last term"},
    "sec_cards": {"zh": "学生卡片", "en": "Student cards"},
    "sec_radar": {"zh": "各维度得分", "en": "Scores by dimension"},
    "sec_correlation": {"zh": "维度之间的相关", "en": "How the dimensions correlate"},
    "sec_strengths": {"zh": "亮点", "en": "Strengths"},
    "sec_work_on": {"zh": "需要加强", "en": "What to work on"},
    "sec_trends": {"zh": "每周变化", "en": "Week by week"},
    "sec_mastery": {"zh": "各章节掌握情况", "en": "Mastery by chapter"},
    "sec_profile": {"zh": "标签与画像解释", "en": "Tags and what drives the profile"},
    "sec_notes": {"zh": "阅读说明", "en": "How to read this report"},
    # ---- column names and chart words ------------------------------------------------------------
    "col_code": {"zh": "学生代码", "en": "student"},
    "col_composite": {"zh": "综合得分", "en": "composite"},
    "col_dimension": {"zh": "维度", "en": "dimension"},
    "col_score": {"zh": "得分", "en": "score"},
    "col_class_mean": {"zh": "班级平均", "en": "class mean"},
    "col_grade_mean": {"zh": "年级平均", "en": "grade mean"},
    "col_difference": {"zh": "班级−年级", "en": "class − grade"},
    "col_vs_class": {"zh": "与班级平均之差", "en": "vs class mean"},
    "col_students": {"zh": "人数", "en": "students"},
    "col_share": {"zh": "占比", "en": "share"},
    "col_segment": {"zh": "分群", "en": "segment"},
    "col_description": {"zh": "描述", "en": "description"},
    "col_tag": {"zh": "标签", "en": "tag"},
    "col_tags": {"zh": "标签", "en": "tags"},
    "col_strengths": {"zh": "亮点", "en": "strengths"},
    "col_work_on": {"zh": "需要加强", "en": "to work on"},
    "col_kp": {"zh": "知识点", "en": "knowledge point"},
    "col_chapter": {"zh": "章节", "en": "chapter"},
    "col_with_evidence": {"zh": "有作答证据人数", "en": "students with evidence"},
    "col_lacking": {"zh": "未掌握人数", "en": "not mastered"},
    "col_share_lacking": {"zh": "未掌握比例", "en": "share not mastered"},
    "col_mastery": {"zh": "掌握程度", "en": "mastery"},
    "col_then": {"zh": "上学期", "en": "then"},
    "col_now": {"zh": "本学期", "en": "now"},
    "col_change": {"zh": "变化", "en": "change"},
    "col_level": {"zh": "级别", "en": "level"},
    "col_rule": {"zh": "规则", "en": "rule"},
    "col_route": {"zh": "推送给", "en": "routed to"},
    "col_status": {"zh": "状态", "en": "status"},
    "col_created": {"zh": "时间", "en": "created"},
    "col_week": {"zh": "周", "en": "week"},
    "this_student": {"zh": "本人", "en": "this student"},
    "this_class": {"zh": "本班", "en": "this class"},
    "class_avg": {"zh": "班级平均", "en": "class mean"},
    "grade_avg": {"zh": "年级平均", "en": "grade mean"},
    "school_avg": {"zh": "全校平均", "en": "school mean"},
    "grade_band": {"zh": "年级中间一半（25%–75%）", "en": "middle half of the grade (25–75 %)"},
    "grade_median": {"zh": "年级中位数", "en": "grade median"},
    "count_axis": {"zh": "学生人数", "en": "students"},
    "score_axis": {"zh": "得分（0–100）", "en": "score (0–100)"},
    # ---- sentences -------------------------------------------------------------------------------
    "above_class": {"zh": "{dim}：{score} 分，高于班级平均（{mean} 分）", "en": "{dim}: {score}, above the class average ({mean})"},
    "above_grade": {"zh": "{dim}：{score} 分，高于年级平均（{mean} 分）", "en": "{dim}: {score}, above the grade average ({mean})"},
    "best_relative": {"zh": "{dim}是相对最好的方面（{score} 分，{ref} {mean} 分）",
                      "en": "{dim} is the relatively strongest side ({score}; {ref} {mean})"},
    "ref_class": {"zh": "班级平均", "en": "class average"},
    "ref_grade": {"zh": "年级平均", "en": "grade average"},
    "below_class": {"zh": "{dim}：{score} 分，低于班级平均（{mean} 分）", "en": "{dim}: {score}, below the class average ({mean})"},
    "below_grade": {"zh": "{dim}：{score} 分，低于年级平均（{mean} 分）", "en": "{dim}: {score}, below the grade average ({mean})"},
    "indicator_good": {"zh": "，其中「{ind}」较突出（{value}，班级平均 {mean}）",
                       "en": "; {ind} stands out ({value}; class average {mean})"},
    "indicator_weak": {"zh": "，可以从「{ind}」做起（{value}，班级平均 {mean}）",
                       "en": "; a place to start: {ind} ({value}; class average {mean})"},
    "gaps_short": {"zh": "知识点：建议先补{points}（见下方「各章节掌握情况」）",
                   "en": "Knowledge: start with {points} (see “Mastery by chapter” below)"},
    "nothing_below": {"zh": "各维度都不低于班级平均，保持现在的节奏。",
                      "en": "No dimension is below the class average: keep up the current pace."},
    "no_gaps": {"zh": "没有发现薄弱的知识点。", "en": "No weak knowledge point was found."},
    "no_tags": {"zh": "无", "en": "none"},
    "explanation": {"zh": "影响综合得分最多的因素：{text}", "en": "What moves the composite most: {text}"},
    "segment_line": {"zh": "所在分群：{text}", "en": "Segment: {text}"},
    "tags_line": {"zh": "标签：{text}", "en": "Tags: {text}"},
    "composite_line": {"zh": "综合得分 {score} 分（班级平均 {class_mean}，年级平均 {grade_mean}）",
                       "en": "Composite {score} (class mean {class_mean}, grade mean {grade_mean})"},
    "cards_gap": {"zh": "知识点：{kp}", "en": "knowledge point: {kp}"},
    "growth_then_now": {"zh": "与上学期（{previous}）相比，{students} 名同学两个学期都有画像。",
                        "en": "Compared with the previous term ({previous}); {students} students have a profile in both terms."},
    "growth_student": {"zh": "与上学期（{previous}）相比：", "en": "Compared with the previous term ({previous}):"},
    "growth_relative": {"zh": "注意：得分是在{scope}内的相对位置（{normaliser}），变化表示相对位置的升降，而不是绝对水平的变化。",
                        "en": "Note: scores are positions relative to the {scope} ({normaliser}); a change is a move relative to "
                              "the cohort, not a change in absolute level."},
    "growth_up": {"zh": "{dim}比上学期高 {change} 分", "en": "{dim} up {change} on last term"},
    "growth_down": {"zh": "{dim}比上学期低 {change} 分", "en": "{dim} down {change} on last term"},
    # ---- messages ---------------------------------------------------------------------------------
    "suppressed_note": {"zh": "少于 {n} 人的组不显示人数和平均值（显示为 {mark}）。",
                        "en": "Groups of fewer than {n} students show neither count nor mean (shown as {mark})."},
    "no_mastery": {"zh": "本学期没有知识点掌握数据（没有题目作答记录）。",
                   "en": "No knowledge-point mastery for this term (no question-level responses)."},
    "no_mastery_student": {"zh": "本学期没有这位同学的知识点掌握数据。", "en": "No knowledge-point mastery for this student this term."},
    "no_lacking": {"zh": "没有多数同学都未掌握的知识点。", "en": "No point is missing for most of the class."},
    "no_alerts": {"zh": "本班暂无预警。", "en": "No alerts for this class."},
    "no_previous": {"zh": "没有上一学期用同一画像模型的结果，暂无成长轨迹。",
                    "en": "No profile with this model for a previous term: no growth to show yet."},
    "no_overlap": {"zh": "本班同学在上一学期（{previous}）没有画像，无法比较。",
                   "en": "None of this class's students has a profile in the previous term ({previous})."},
    "growth_small": {"zh": "两个学期都有画像的同学少于 {n} 人，不显示班级平均的变化。",
                     "en": "Fewer than {n} students have a profile in both terms: class changes are not shown."},
    "no_student_growth": {"zh": "这位同学在上一学期（{previous}）没有画像。",
                          "en": "This student has no profile in the previous term ({previous})."},
    "no_trends": {"zh": "本学期没有每周数据。", "en": "No weekly data this term."},
    "trend_note": {"zh": "实线是本人，虚线是班级平均（某周少于 {n} 人时不画）。",
                   "en": "Solid line: this student; dashed: class mean (left out in weeks with fewer than {n} students)."},
    "reliability_low": {"zh": "「{dim}」维度的指标内部一致性较低（α = {alpha}），解读该维度得分时请谨慎。",
                        "en": "The indicators of {dim} do not hang together well (α = {alpha}): read that score with care."},
    "missing_dims": {"zh": "以下维度在本学期没有数据，未计入综合得分：{dims}。",
                     "en": "These dimensions have no data this term and are left out of the composite: {dims}."},
    "scores_relative": {"zh": "各维度得分为 0–100，是在{scope}内的相对位置（{normaliser}）。",
                        "en": "Dimension scores run from 0 to 100 and are positions relative to the {scope} ({normaliser})."},
    "no_student_key": {"zh": "请用参数 student_key 指定学生。", "en": "Give the student with the parameter student_key."},
    "prepared": {"zh": "已先计算本学期所需数据：{what}", "en": "Computed this term's data first: {what}"},
    "output_written": {"zh": "数据已写入 {path}", "en": "Data written to {path}"},
    # ---- knowledge-graph view (widgets.kgraph) -----------------------------------------------------
    "kg_title": {"zh": "知识图谱：本班掌握情况", "en": "Knowledge graph: class mastery"},
    "kg_legend": {"zh": "班级平均掌握程度", "en": "class mean mastery"},
    "kg_insufficient": {"zh": "证据不足（有作答证据的同学少于 {n} 人）", "en": "insufficient evidence (fewer than {n} students)"},
    "kg_hint": {"zh": "点击知识点，查看低于阈值的同学和背后的先修知识点。",
                "en": "Click a point to list the students below the threshold and the prerequisites behind it."},
    "kg_context": {"zh": "虚线圈：先修知识点（非本年级本学期所学）", "en": "dashed: a prerequisite shown for context (not taught this term)"},
    "kg_weak": {"zh": "薄弱线", "en": "weak"},
    "kg_mastered": {"zh": "掌握线", "en": "mastered"},
    "kg_tooltip": {"zh": "{name}\n章节：{chapter}\n平均掌握程度：{mean}\n有作答证据 {n} 人，低于 {threshold}：{below} 人",
                   "en": "{name}\nChapter: {chapter}\nMean mastery: {mean}\n{n} students with evidence, {below} below {threshold}"},
    "kg_tooltip_none": {"zh": "{name}\n章节：{chapter}\n证据不足：有作答证据 {n} 人",
                        "en": "{name}\nChapter: {chapter}\nInsufficient evidence: {n} students with evidence"},
    "kg_below": {"zh": "低于阈值的同学", "en": "Students below the threshold"},
    "kg_prerequisites": {"zh": "直接先修知识点", "en": "Direct prerequisites"},
    "kg_weak_ancestors": {"zh": "更早的先修知识点（班级薄弱，或是个别同学的根源）",
                          "en": "Earlier prerequisites (weak for the class, or a student's root gap)"},
    "kg_root_of": {"zh": "根源人数", "en": "root for"},
    "kg_root_causes": {"zh": "可能的根源", "en": "likely root"},
    "kg_none_below": {"zh": "没有低于阈值的同学。", "en": "No student is below the threshold."},
    "kg_no_prerequisites": {"zh": "没有先修知识点。", "en": "No prerequisites."},
    "kg_mastery": {"zh": "掌握程度", "en": "mastery"},
    "kg_student": {"zh": "学生", "en": "student"},
    "kg_root_count": {"zh": "{name}（{n} 人）", "en": "{name} ({n} students)"},
    "kg_line": {"zh": "{name}：{below} 名同学低于 {threshold}，最常见的根源是{roots}。",
                "en": "{name}: {below} students below {threshold}; the commonest roots: {roots}."},
    "kg_line_no_root": {"zh": "{name}：{below} 名同学低于 {threshold}，其先修知识点未见薄弱，建议从本知识点补起。",
                        "en": "{name}: {below} students below {threshold}; their prerequisites show no weakness: start here."},
    "kg_line_none_below": {"zh": "{name}：有作答证据的 {n} 名同学都不低于 {threshold}。",
                           "en": "{name}: none of the {n} students with evidence is below {threshold}."},
    "kg_line_no_evidence": {"zh": "{name}：本班暂无作答证据。", "en": "{name}: no evidence from this class yet."},
    # ---- normalisers and scopes ---------------------------------------------------------------------
    "norm_percentile": {"zh": "百分位", "en": "percentile"},
    "norm_zscore": {"zh": "标准分", "en": "z-score"},
    "norm_minmax": {"zh": "最小–最大缩放", "en": "min–max scaling"},
    "scope_class": {"zh": "班级", "en": "class"},
    "scope_grade": {"zh": "年级", "en": "grade"},
    "scope_school": {"zh": "全校", "en": "school"},
}


def tr(key: str, lang: str = "zh", **values: object) -> str:
    """The text for ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``values``."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def join_list(items: list[str], lang: str = "zh") -> str:
    """``a、b、c`` in Chinese, ``a, b, c`` in English.

    >>> join_list(["学业", "情绪"]), join_list(["academics", "wellbeing"], "en")
    ('学业、情绪', 'academics, wellbeing')
    """
    return ("、" if lang == "zh" else ", ").join(items)
