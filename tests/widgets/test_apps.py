"""Every role app rendered for the demo school (headless, the viewer handed over as the server does): each shows
its sections, refuses out-of-scope parameters, and no widget state carries a raw identifier from the vault —
names only masked and only for roles that may see them, never national IDs, phones or school numbers."""
from __future__ import annotations

import json
import secrets

import duckdb
import ipywidgets
import pytest

from widgets import apps
from workbench.privacy import Viewer, mask_name
from workbench.privacy.viewer import ENV_SECRET, ENV_TOKEN
from workbench.reports.common import display_code

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def demo(prepared_demo, tmp_path_factory):
    con = duckdb.connect(str(prepared_demo["store"]), read_only=True)
    vault = con.execute("SELECT student_key, name, national_id, phone FROM identity_vault").fetchall()
    ids = {v for (v,) in con.execute("SELECT source_id FROM identity_vault_ids").fetchall() if v and len(v) >= 6}
    g7c1 = [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND class_id = 'G7C1' "
                                      "ORDER BY 1", {"t": TERM}).fetchall()]
    con.close()
    return {"store": prepared_demo["store"], "vault": vault, "ids": ids, "g7c1": g7c1,
            "audit": tmp_path_factory.mktemp("audit") / "audit.jsonl"}


@pytest.fixture
def as_viewer(demo, monkeypatch):
    secret = secrets.token_bytes(32)
    monkeypatch.setenv("WORKBENCH_STORE", str(demo["store"]))
    monkeypatch.setenv("WORKBENCH_AUDIT", str(demo["audit"]))
    monkeypatch.setenv(ENV_SECRET, secret.hex())

    def set_viewer(viewer: Viewer) -> None:
        monkeypatch.setenv(ENV_TOKEN, viewer.token(secret))
    return set_viewer


def _state(widget) -> str:
    seen, out = set(), []

    def walk(w):
        if id(w) in seen:
            return
        seen.add(id(w))
        out.append(json.dumps(w.get_state(), ensure_ascii=False, default=str))
        for c in getattr(w, "children", None) or []:
            if isinstance(c, ipywidgets.Widget):
                walk(c)
        for c in (getattr(w, "v_slots", None) or []):
            if isinstance(c.get("children"), ipywidgets.Widget):
                walk(c["children"])
    walk(widget)
    return "\n".join(out)


def _identifiers_in(text: str, demo, *, masked_ok: bool) -> list[str]:
    found = []
    for key, name, nid, phone in demo["vault"]:
        if name and len(name) >= 2 and name in text:
            found.append(f"name {name}")
        if not masked_ok and name and mask_name(name) in text and len(name) >= 3:
            found.append(f"masked name {mask_name(name)}")
        for v in (nid, phone):
            if v and v in text:
                found.append(f"identifier {v}")
        if key in text:
            found.append(f"student_key {key}")
    found += [f"source id {i}" for i in demo["ids"] if i in text]
    return found


ROLE_APPS = [
    ("class_dashboard", Viewer("li_t", "head_teacher", classes=("G7C1",)), "class=G7C1", ["distribution", "teaching-map", "students"], True),
    ("class_dashboard", Viewer("wang_t", "subject_teacher", classes=("G7C1", "G7C2")), "class=G7C2&lang=en", ["distribution", "students"], True),
    ("student_profile", Viewer("li_t", "head_teacher", classes=("G7C1",)), "class=G7C1", ["strengths", "radar", "mastery"], True),
    ("psychology_dashboard", Viewer("psy", "psychology_teacher"), "class=G8C1", ["psychology-table", "withheld"], True),
    ("school_overview", Viewer("adm", "school_admin"), "", ["units", "quality-map", "gender"], False),
    ("district_overview", Viewer("dist", "district_admin"), "lang=en", ["units", "quality-map", "gender"], False),
]


@pytest.mark.parametrize("app,viewer,query,sections,names_ok", ROLE_APPS, ids=lambda x: getattr(x, "role", None) or str(x)[:20])
def test_app_renders_its_sections_without_identifiers(app, viewer, query, sections, names_ok, as_viewer, demo):
    as_viewer(viewer)
    widget = getattr(apps, app)(query)
    text = _state(widget)
    assert '"data-test": "refused"' not in text, text[:500]
    for s in sections:
        assert f'"data-test": "{s}"' in text, s
    assert not _identifiers_in(text, demo, masked_ok=names_ok)


def test_parent_report_shows_own_child_by_display_name(as_viewer, demo):
    child = demo["g7c1"][5]
    as_viewer(Viewer("mum", "parent", student=child))
    text = _state(apps.parent_report("student=" + display_code(demo["g7c1"][6])))     # the URL is ignored
    name = next(n for k, n, *_ in demo["vault"] if k == child)
    assert mask_name(name) in text and '"data-test": "strengths"' in text
    assert not _identifiers_in(text, demo, masked_ok=True)
    others = [mask_name(n) for k, n, *_ in demo["vault"] if k in demo["g7c1"] and k != child and len(n) >= 3
              and mask_name(n) != mask_name(name)]
    assert not [o for o in others if o in text]


@pytest.mark.parametrize("app,viewer,query", [
    ("class_dashboard", Viewer("li_t", "head_teacher", classes=("G7C1",)), "class=G7C2"),
    ("psychology_dashboard", Viewer("wang_t", "subject_teacher", classes=("G7C1",)), ""),
    ("parent_report", Viewer("li_t", "head_teacher", classes=("G7C1",)), ""),
    ("school_overview", Viewer("mum", "parent", student="S0"), ""),
    ("student_profile", Viewer("li_t", "head_teacher", classes=("G7C1",)), "class=G8C1"),
])
def test_out_of_scope_requests_are_refused(app, viewer, query, as_viewer, demo):
    as_viewer(viewer)
    text = _state(getattr(apps, app)(query))
    assert '"data-test": "refused"' in text
    assert "<svg" not in text and "wb-table" not in text
    last = json.loads(demo["audit"].read_text(encoding="utf-8").splitlines()[-1])
    assert (last["action"], last["target"], last["user_name"]) == ("refused", app, viewer.login)


def test_no_viewer_no_data(monkeypatch, demo):
    monkeypatch.setenv("WORKBENCH_STORE", str(demo["store"]))
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    text = _state(apps.class_dashboard("class=G7C1"))
    assert '"data-test": "refused"' in text and "未登录" in text
    monkeypatch.setenv(ENV_SECRET, secrets.token_bytes(32).hex())
    monkeypatch.setenv(ENV_TOKEN, Viewer("li_t", "head_teacher", classes=("G7C1",)).token(b"x" * 32))   # forged
    assert "身份凭证无效" in _state(apps.class_dashboard("class=G7C1"))


def test_app_notebooks_hold_only_calls():
    import ast
    from pathlib import Path

    import nbformat
    root = Path(__file__).resolve().parents[2] / "voila_apps"
    names = sorted(p.stem for p in root.glob("*.ipynb"))
    assert names == ["alert_inbox", "class_dashboard", "district_overview", "model_builder", "parent_report", "psychology_dashboard",
                     "school_overview", "student_profile"]
    for name in names:
        nb = nbformat.read(root / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        for c in code:
            assert not c.outputs and c.execution_count is None
            tree = ast.parse(c.source)
            # calls, imports, and a call's result kept under a name (an app shown in steps): no logic
            assert all(isinstance(n, ast.Expr | ast.ImportFrom | ast.Import) or (
                isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                and isinstance(n.value, ast.Call)) for n in tree.body), (name, c.source)
        src = "\n".join(c.source for c in code)
        assert "get_query_string()" in src                              # parameters come from the URL only
        if name != "model_builder":
            assert hasattr(apps, name) and f"{name}(get_query_string()" in src


def test_widget_callbacks_cannot_widen_the_scope(as_viewer, demo):
    """A select's value forged by the browser (a class or student not offered) gets a refusal, not data."""
    as_viewer(Viewer("li_t", "head_teacher", classes=("G7C1",)))
    dash = apps.class_dashboard("class=G7C1")
    pick = dash.children[0]
    assert [i["value"] for i in pick.items] == ["G7C1"]
    pick.v_model = "G8C2"
    text = _state(dash)
    assert '"data-test": "refused"' in text and "八年级(2)班" not in text and "<svg" not in text
    prof = apps.student_profile("class=G7C1")
    spick = prof.children[0]
    outsider = demo["vault"][-1][0]
    spick.v_model = display_code(outsider) if outsider not in demo["g7c1"] else "S-zzzzzz"
    assert '"data-test": "refused"' in _state(prof)


def test_class_dashboard_first_paint(as_viewer, demo, monkeypatch):
    """The staged class dashboard: its first part's HTML copy carries the live widgets' content (tables, charts) and
    nothing more, with its own test and element ids; finish() adds the rest, ending where the one-step app does;
    first_paint() displays only in a Voila kernel."""
    import re

    from widgets import first_paint as fp
    as_viewer(Viewer("li_t", "head_teacher", classes=("G7C1",)))
    whole = apps.class_dashboard("class=G7C1")
    app = apps.class_dashboard("class=G7C1", staged=True)
    copy = fp.static_html(app)
    tests = re.findall(r'data-test="([^"]+)"', copy)
    assert {"first-class-dashboard", "first-class-select", "first-distribution", "first-dimensions",
            "first-students"} <= set(tests) and "first-teaching-map" not in tests
    assert all(t.startswith("first-") for t in tests)
    assert not re.search(r'class="[^"]*(?<![\w-])wb-app(?![\w-])', copy)   # never taken for the live app
    assert not re.search(r'\bid="(?!fp-)', copy) and "url(#fp-" in copy  # chart ids and references renamed
    html_widgets = [w for w in _walk(app) if isinstance(w, ipywidgets.HTML)]
    tables = [w.value for w in html_widgets if "wb-table" in w.value]
    assert len(tables) >= 4 and all(t in copy for t in tables)         # every table, as the live app shows it
    assert copy.count("<svg") == sum(w.value.count("<svg") for w in html_widgets) == 2
    assert "七年级(1)班" in copy and not _identifiers_in(copy, demo, masked_ok=True)

    more = app.finish()
    assert [w.attributes["data-test"] for w in more][:1] == ["teaching-map"] and app.finish() == []
    cards = [w.attributes.get("data-test") for w in app.children[1].children if hasattr(w, "attributes")]
    assert sorted(filter(None, cards)) == sorted(filter(None, [w.attributes.get("data-test") for w in whole.children[1].children
                                                               if hasattr(w, "attributes")]))
    assert cards.index("students") < cards.index("teaching-map")

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.delenv("VOILA_BASE_URL", raising=False)
    fp.first_paint(app)
    assert shown == []                                                 # JupyterLab: the live app alone
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    fp.first_paint(app)
    (obj, kw), = shown
    assert kw == {"metadata": {fp.MARK: True}} and fp.static_html(app) in obj.data and "wb-first-paint" in obj.data


def _walk(widget):
    yield widget
    for c in getattr(widget, "children", None) or []:
        if isinstance(c, ipywidgets.Widget):
            yield from _walk(c)
