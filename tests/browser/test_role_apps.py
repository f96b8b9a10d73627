"""The real role apps in `voila_apps/`, served by `workbench serve` on the demo school and opened in Chromium after
logging in: each role sees its app's charts and tables, out-of-scope URLs get the refusal page, and the rendered
pages carry no raw identifier from the identity vault (masked display names only for roles that may see them)."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.privacy import mask_name
from workbench.reports.common import display_code

from .harness import assert_clean, screenshot, wait_rendered
from .test_serve import log_in, site, start_serve  # noqa: F401 - the module's users, store and server

ROOT = Path(__file__).resolve().parents[2]
CASES = [  # login, app URL, selectors that must be on the page, whether masked names may appear
    ("li_t", "class_dashboard.ipynb?class=G7C1", ["distribution", "teaching-map", "students"], True),
    ("mum", "parent_report.ipynb", ["strengths", "radar"], True),
    ("xin_t", "psychology_dashboard.ipynb?class=G8C1", ["psychology-table", "withheld"], True),
    ("admin", "school_overview.ipynb", ["units", "quality-map", "gender"], False),
    ("li_t", "alert_inbox.ipynb?status=all", ["alert-inbox", "alert", "count-warning"], True),
]


@pytest.fixture(scope="module")
def apps_server(site):  # noqa: F811
    from workbench.alerts import run_alerts
    from workbench.store import open_store
    with open_store(site.store) as store:                  # the term's alerts, as `make demo` runs them
        run_alerts(store.con, "2026-2027-1")
    server = start_serve(site, ROOT / "voila_apps")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def vault(site):  # noqa: F811
    con = duckdb.connect(str(site.store), read_only=True)
    rows = con.execute("SELECT student_key, name, national_id, phone FROM identity_vault").fetchall()
    con.close()
    return rows


def _leaks(html: str, vault, masked_ok: bool) -> list[str]:
    out = []
    for key, name, nid, phone in vault:
        if name and name in html:
            out.append(name)
        if not masked_ok and name and len(name) >= 3 and mask_name(name) in html:
            out.append(mask_name(name))
        out += [v for v in (nid, phone, key) if v and v in html]
    return out


@pytest.mark.parametrize("login,url,sections,masked_ok", CASES, ids=[c[1].split(".")[0] for c in CASES])
def test_role_opens_its_app(apps_server, site, vault, new_page, login, url, sections, masked_ok):  # noqa: F811
    page = new_page()
    page.goto(apps_server.url + "voila/render/" + url, wait_until="commit")
    page.locator("[data-test=login-form]").wait_for()
    page.locator("#login").fill(login)
    from .test_serve import PASSWORD
    page.locator("#password").fill(PASSWORD[login])
    page.locator("button[type=submit]").click()
    wait_rendered(page, f"[data-test={sections[0]}]")
    for s in sections:
        assert page.locator(f"[data-test={s}]").count() >= 1, s
    assert page.locator("[data-test=refused]").count() == 0
    html = page.content()
    assert not _leaks(html, vault, masked_ok)
    if login == "mum":
        child = next(n for k, n, *_ in vault if k == site.child)
        assert mask_name(child) in html and display_code(site.other_child) not in html
    screenshot(page, f"app_{url.split('.')[0]}")
    assert_clean(page)


def test_out_of_scope_app_urls_are_refused(apps_server, site, new_page):  # noqa: F811
    cases = {"li_t": ["class_dashboard.ipynb?class=G7C2", "psychology_dashboard.ipynb"],
             "wang_t": ["psychology_dashboard.ipynb", "student_profile.ipynb?class=G9C1"],
             "mum": [f"parent_report.ipynb?student={display_code(site.other_child)}", "student_profile.ipynb"]}
    for login, urls in cases.items():
        page = new_page()
        log_in(page, apps_server, login)
        for url in urls:
            resp = page.goto(apps_server.url + "voila/render/" + url)
            assert resp.status == 403, (login, url)
            assert page.locator("[data-test=refused]").count() == 1
            assert "<svg" not in page.content()


def test_head_teacher_acknowledges_an_alert_in_the_browser(apps_server, site, new_page):  # noqa: F811
    """A click in Chromium reaches the kernel's callback: the alert is acknowledged (journaled beside the store)."""
    import json
    page = new_page()
    log_in(page, apps_server, "li_t")
    page.goto(apps_server.url + "voila/render/alert_inbox.ipynb?status=open", wait_until="commit")
    wait_rendered(page, "[data-test=alert]")
    card = page.locator("[data-test=alert]").first
    alert_id = int(card.get_attribute("data-alert"))
    card.locator("[data-test=ack]").click()
    page.locator("[data-test=saved]").wait_for()
    journal = site.store.parent / "alert_actions.jsonl"
    entries = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert [(e["action"], e["alert_id"], e["user"]) for e in entries] == [("acknowledge", alert_id, "li_t")]
    assert_clean(page)


def test_class_dashboard_paints_before_its_widgets(apps_server, new_page):  # noqa: F811
    """Served as `workbench serve` serves it, the class dashboard's HTML copy is on screen before Voila's scripts have
    drawn a widget, shows the same students table, and gives way to the live app (one visible table)."""
    page = new_page()
    page.goto(apps_server.url + "voila/render/class_dashboard.ipynb?class=G7C1", wait_until="commit")
    page.locator("[data-test=login-form]").wait_for()
    page.locator("#login").fill("li_t")
    from .test_serve import PASSWORD
    page.locator("#password").fill(PASSWORD["li_t"])
    page.locator("button[type=submit]").click()
    copy = page.locator("[data-test=first-students] table")
    copy.wait_for(state="visible")
    assert page.locator("[data-test=students]").count() == 0          # no widget drawn yet
    assert page.locator("#rendered_cells").is_hidden()                # Voila still at work behind the copy
    first_text = copy.inner_text()
    assert "七年级(1)班" in page.locator("[data-test=first-paint]").first.inner_text()
    wait_rendered(page, "[data-test=students]")
    live = page.locator("[data-test=students] table")
    assert live.count() == 1 and live.inner_text().split() == first_text.split()
    page.locator("[data-test=first-paint]").first.wait_for(state="detached")      # removed once the app is live
    assert page.locator("[data-test=teaching-map]").count() == 1 and page.locator("[data-test=students]").count() == 1
    assert_clean(page)
