"""The rule editor driven headless: edits are checked at once and name the rule, only a valid set saves, saving
keeps history, and the engine then runs the saved set."""
import ipywidgets

from widgets.rules import RuleEditor
from workbench.alerts import load_rule_set
from workbench.model.editor import ModelLibrary


def _text(w) -> str:
    out = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, ipywidgets.Widget):
            for c in getattr(x, "children", None) or []:
                walk(c)
    walk(w)
    return " ".join(out)


def test_edits_are_checked_and_name_the_rule(tmp_path):
    ed = RuleEditor(load_rule_set("default"), ModelLibrary(tmp_path, loader=load_rule_set))
    ed.fields[("engagement_falling_3d", "share")].v_model = "1.5"
    assert ed.save_btn.disabled and ed.valid is None
    msg = _text(ed.message)
    assert "rules[engagement_falling_3d].share" in msg and "规则 engagement_falling_3d" in msg
    assert ed.save() is None and not list(tmp_path.glob("*.yaml"))
    ed.fields[("engagement_falling_3d", "share")].v_model = "0.4"
    ed.fields[("gad7_high", "route")].v_model = []
    assert "rules[gad7_high].route" in _text(ed.message)
    ed.fields[("gad7_high", "route")].v_model = ["psychology_teacher"]
    assert not ed.save_btn.disabled and ed.valid is not None


def test_saving_keeps_history_and_the_engine_reads_the_saved_set(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RULES", str(tmp_path))
    from workbench.alerts.spec import rules_library
    ed = RuleEditor(load_rule_set("default"), rules_library(), lang="en")
    ed.fields[("absences", "count")].v_model = "3"
    ed.fields[("homework_missed", "enabled")].v_model = False
    path = ed.save()
    assert path == tmp_path / "default.yaml" and "revision 1" in _text(ed.message)
    saved = load_rule_set("default")                       # the saved set now shadows the shipped one
    assert saved.rule("absences")["count"] == 3 and saved.rule("homework_missed")["enabled"] is False
    assert "homework_missed" not in [r["id"] for r in saved.enabled()]
    ed.save()
    assert len(rules_library().revisions("default")) == 1     # unchanged: no new revision
    ed.fields[("absences", "cooldown_days")].v_model = "7"
    ed.save()
    assert len(rules_library().revisions("default")) == 2
    assert rules_library().load("default", revision=1).rule("absences").get("cooldown_days") == 14


def test_rule_notebook_parameters_and_a_real_kernel(tmp_path):
    """notebooks/alert_rules.ipynb: parameters pinned, and a real kernel shows the editor for the shipped set."""
    from pathlib import Path

    import papermill as pm
    nb_path = Path(__file__).resolve().parents[2] / "notebooks" / "alert_rules.ipynb"
    params = pm.inspect_notebook(str(nb_path))
    assert {k: p["default"] for k, p in params.items()} == {"rules": '"default"', "lang": '"zh"'}
    nb = pm.execute_notebook(str(nb_path), str(tmp_path / "out.ipynb"), parameters={"lang": "en"}, kernel_name="python3",
                             progress_bar=False, log_output=False, cwd=str(nb_path.parents[1]))
    outs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outs if o.get("output_type") == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
