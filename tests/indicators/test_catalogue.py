"""The indicator catalogue as data: complete metadata, one runnable SQL query per indicator, extensible by YAML."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.indicators import DIRECTIONS, CatalogueError, compute_indicators, load_catalogue
from workbench.indicators.catalogue import CATALOGUE_DIR, KINDS
from workbench.store import TABLES

DIMENSIONS = {"basic", "academic", "behaviour", "interest", "emotion", "social"}
NOT_IN_DEMO = {"basic_registration_day"}  # an open-university field: the demo school registers no one late


def test_catalogue_has_forty_indicators_over_six_dimensions_with_full_metadata():
    cat = load_catalogue()
    assert len(cat.indicators) >= 40
    assert set(cat.dimensions) == DIMENSIONS
    per_dim = {d: len(cat.select(d)) for d in DIMENSIONS}
    assert min(per_dim.values()) >= 5, per_dim
    for ind in cat.indicators.values():
        for text in (ind.name, ind.description, ind.unit):
            assert text["zh"].strip() and text["en"].strip(), ind.id
        assert any("\u4e00" <= ch <= "\u9fff" for ch in ind.name["zh"]), ind.id   # really Chinese
        assert ind.direction in DIRECTIONS and ind.kind in KINDS
        assert ind.aspect in cat.dimensions[ind.dimension]["aspects"], ind.id
        assert set(cat.sources(ind.id)) <= set(TABLES), ind.id
        assert ind.grain in (("term",), ("term", "week"))
    # the examples the issue names are all there
    for iid in ["acad_score_mean", "acad_score_trend", "acad_volatility", "acad_grade_percentile", "beh_homework_completion",
                "beh_homework_on_time", "beh_active_days", "beh_longest_inactive", "beh_video_completion",
                "int_subject_breadth", "int_club_sessions", "soc_volunteer_hours", "emo_mood_mean", "emo_mood_variability",
                "emo_negative_streak", "psy_gad7_latest", "beh_attendance_rate", "beh_late_count", "soc_forum_posts",
                "soc_forum_replies", "soc_likes_received", "soc_degree_centrality"]:
        assert iid in cat, iid


def test_every_trend_has_a_weekly_series_behind_it():
    cat = load_catalogue()
    trends = [i for i in cat.indicators.values() if i.kind == "trend"]
    assert len(trends) >= 4
    for t in trends:
        assert cat[t.of].weekly
        assert "regr_slope" in cat.sql(t.id)


def test_every_sql_indicator_query_runs_alone_and_equals_the_fused_computation(demo_school):
    """Indicator.sql() is the definition; the engine fuses a family into one GROUP BY. Both must agree."""
    import duckdb
    cat = load_catalogue()
    term = "2026-2027-1"
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    fused = compute_indicators(con, term).values
    checked = 0
    for ind in cat.indicators.values():
        if ind.kind == "network":
            continue
        alone = con.execute(cat.sql(ind.id), {"term": term}).df().set_index("student_key")["value"].astype(float)
        if ind.id in NOT_IN_DEMO:
            assert alone.isna().all()
            continue
        assert alone.notna().any(), f"{ind.id} has no value on the demo school"
        got = fused.loc[alone.index, ind.id]
        known = alone.notna()
        tol = 1e-9 * max(1.0, float(alone[known].abs().max()))   # values are rounded to 12 significant digits
        assert got[known].notna().all() and ((got[known] - alone[known]).abs() < tol).all(), ind.id
        # where the query has no value the engine leaves it unknown, or fills the indicator's "none" value
        assert got[~known].isna().all() or (ind.fill is not None and (got[~known].fillna(ind.fill) == ind.fill).all()), ind.id
        if ind.weekly:
            weekly = con.execute(cat.sql(ind.id, weekly=True), {"term": term}).df()
            assert {"student_key", "week", "value"} <= set(weekly.columns) and weekly["week"].min() >= 1
        checked += 1
    con.close()
    assert checked >= 50


def test_cli_lists_the_catalogue(run_cli):
    out = run_cli("indicators", "--json")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert len(items) == len(load_catalogue().indicators)
    emo = run_cli("indicators", "--dimension", "emotion", "--lang", "en")
    assert emo.returncode == 0 and "Mean mood" in emo.stdout and "Grade percentile" not in emo.stdout
    zh = run_cli("indicators", "--dimension", "emotion")
    assert "情绪均值" in zh.stdout and "越低越好" in zh.stdout
    sql = run_cli("indicators", "--sql", "beh_homework_on_time")
    assert sql.returncode == 0 and "homework_submit" in sql.stdout and "$term" in sql.stdout
    bad = run_cli("indicators", "--dimension", "happiness")
    assert bad.returncode != 0 and "unknown dimension" in bad.stderr


def test_a_school_adds_an_indicator_and_an_aspect_as_yaml(tmp_path, demo_school):
    import duckdb
    extra = tmp_path / "ours"
    extra.mkdir()
    (extra / "ours.yaml").write_text("""
dimensions:
  behaviour:
    aspects:
      evenings: {zh: 晚间学习, en: evening study}
indicators:
  - id: beh_evening_actions
    name: {zh: 晚间操作次数, en: Evening actions}
    description: {zh: 19 点到 22 点之间的平台操作次数。, en: Platform actions between 19:00 and 22:00.}
    dimension: behaviour
    aspect: evenings
    unit: {zh: 次, en: actions}
    direction: neutral
    family: events
    expr: sum(n) FILTER (WHERE hour BETWEEN 19 AND 21)
    fill: 0
""", encoding="utf-8")
    cat = load_catalogue([CATALOGUE_DIR, extra])
    assert "beh_evening_actions" in cat and len(cat.indicators) == len(load_catalogue().indicators) + 1
    assert cat.aspect_label("behaviour", "evenings", "en") == "evening study"
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    f = compute_indicators(con, "2026-2027-1", ["beh_evening_actions", "beh_actions"], catalogue=cat)
    direct = con.execute("SELECT count(*) FROM events WHERE term_id = '2026-2027-1' AND hour(ts) BETWEEN 19 AND 21 "
                         "AND student_key IS NOT NULL").fetchall()[0][0]
    con.close()
    assert f.values["beh_evening_actions"].sum() == direct > 0
    assert (f.values["beh_evening_actions"] <= f.values["beh_actions"]).all()


@pytest.mark.parametrize("change,message", [
    ({"dimension": "happiness"}, "unknown dimension 'happiness'"),
    ({"family": "nowhere"}, "unknown family 'nowhere'"),
    ({"direction": "up"}, "direction: 'up'"),
    ({"expr": None}, "needs an aggregate expression"),
])
def test_catalogue_mistakes_name_the_file_and_entry(tmp_path, change, message):
    spec = {"id": "x_test", "name": {"zh": "测试", "en": "test"}, "dimension": "behaviour", "aspect": "participation",
            "unit": {"zh": "次", "en": "times"}, "direction": "neutral", "family": "events", "expr": "count(*)"}
    spec.update(change)
    import yaml
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump({"indicators": [spec]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue([CATALOGUE_DIR, tmp_path])
    assert "broken.yaml: indicators[0]" in str(err.value) and message in str(err.value)


def test_duplicate_indicator_id_is_refused(tmp_path):
    src = (CATALOGUE_DIR / "emotion.yaml").read_text(encoding="utf-8")
    (tmp_path / "copy.yaml").write_text(src, encoding="utf-8")
    with pytest.raises(CatalogueError, match="defined twice"):
        load_catalogue([CATALOGUE_DIR, tmp_path])


@pytest.mark.parametrize("base, sliced, message", [
    ("SELECT student_key FROM events WHERE term_id = $term AND $slice(hash(student_key))", True, "$slice(<alias>.student_key)"),
    ("SELECT student_key FROM events WHERE term_id = $term AND $slice", True, "$slice(<alias>.student_key)"),
    ("SELECT student_key FROM events WHERE term_id = $term AND $slice(student_key)", False, "without sliced: true"),
])
def test_slice_marker_is_checked(tmp_path, base, sliced, message):
    import yaml
    doc = {"families": {"broken_family": {"sources": ["events"], "base": base, "sliced": sliced}}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue([CATALOGUE_DIR, tmp_path])
    assert "broken.yaml: families.broken_family" in str(err.value) and message in str(err.value)


def test_catalogue_files_are_package_data():
    import tomllib
    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "indicators/catalogue/*.yaml" in cfg["tool"]["setuptools"]["package-data"]["workbench"]
    assert "model/specs/*.yaml" in cfg["tool"]["setuptools"]["package-data"]["workbench"]
