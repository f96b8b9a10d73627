"""The request gate without a server: routes, app and scope refusals, the kernel cap, kernel owners, the
signed viewer header, and the Voila command line of `workbench serve`."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tornado.httputil import HTTPHeaders

from workbench.privacy import Viewer
from workbench.privacy.scope import ScopeIndex
from workbench.serve.gate import HEADER, Gate, classify, kernels_in_use, set_viewer_header
from workbench.serve.launch import VOILA_CSP, ServeOptions, voila_command

K1, K2 = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class FakeKernels:
    def __init__(self, ids=(), pools=None, stopping=()):
        self.ids = list(ids)
        self.stopping = set(stopping)
        if pools is not None:
            self._pools = pools

    def list_kernel_ids(self):
        return list(self.ids)

    def get_kernel(self, kid):
        if kid not in self.ids:
            raise KeyError(kid)
        return SimpleNamespace(shutting_down=kid in self.stopping)


@pytest.fixture
def gate(tmp_path) -> Gate:
    for app in ("class_dashboard", "parent_report", "model_builder"):
        (tmp_path / f"{app}.ipynb").write_text("{}")
    g = Gate(None, tmp_path, b"k" * 32, max_kernels=2)
    g._index = ScopeIndex({"G7C1": "DEMO01", "G7C2": "DEMO01"}, {"S" + "a" * 24: ("G7C1",)}, ("DEMO01",))
    return g


def test_routes():
    assert classify("/") == ("home", None) and classify("/voila/tree/sub") == ("home", None)
    assert classify("/voila/render/class_dashboard.ipynb") == ("render", "class_dashboard")
    assert classify("/voila/render/class%5Fdashboard.ipynb") == ("render", "class_dashboard")
    for path in ("/voila/render/sub/app.ipynb", "/voila/render/app.ipynb/", "/voila/render/%2e%2e/app.ipynb",
                 "/voila/render/data.csv", "/voila/api/contents", "/voila/api/contents/app.ipynb", "/api/contents",
                 "/voila/render/./app.ipynb"):
        assert classify(path)[0] == "other", path
    assert classify(f"/voila/api/shutdown/{K1}") == ("kernel", K1)
    assert classify("/voila/labextensions/jupyter-vue/static/x.js")[0] == "asset"
    assert classify("/login") == ("auth", None)


def test_app_scope_cap_and_owners(gate):
    head = Viewer("li_t", "head_teacher", classes=("G7C1",))
    parent = Viewer("mum", "parent", student="S" + "a" * 24)
    idle = FakeKernels()
    assert gate.check(head, "/voila/render/class_dashboard.ipynb", "class=G7C1", idle) is None
    for viewer, path, query, kind in [
        (head, "/voila/render/class_dashboard.ipynb", "class=G7C2", "refused"),
        (head, "/voila/render/model_builder.ipynb", "", "refused"),
        (parent, "/voila/render/model_builder.ipynb", "", "refused"),
        (parent, "/voila/render/parent_report.ipynb", "student=S-bbbbbb", "refused"),
        (head, "/voila/render/psychology_dashboard.ipynb", "", "not_found"),     # not on this server
        (head, "/voila/api/contents", "", "not_found"),
        (head, "/", "", "home"),
    ]:
        refusal = gate.check(viewer, path, query, idle)
        assert refusal is not None and refusal.kind == kind, (viewer.login, path, query)
    assert gate.check(parent, "/voila/render/parent_report.ipynb", "student=S-aaaaaa", idle) is None

    # the cap counts kernels in use, not those waiting in Voila's preheat pools
    assert kernels_in_use(FakeKernels([K1, K2], pools={"a.ipynb": [object()]})) == 1
    # nor a kernel being shut down (culled): its seat is free before the server drops it from its list
    assert kernels_in_use(FakeKernels([K1, K2], stopping=[K2])) == 1
    assert gate.check(head, "/voila/render/class_dashboard.ipynb", "", FakeKernels([K1, K2], stopping=[K1])) is None
    assert gate.check(head, "/voila/render/class_dashboard.ipynb", "", FakeKernels([K1, K2])).kind == "busy"
    assert gate.check(head, "/voila/render/class_dashboard.ipynb", "",
                      FakeKernels([K1, K2], pools={"x": [object()]})) is None

    # a kernel belongs to the first login that reaches it
    live = FakeKernels([K1])
    assert gate.check(head, f"/api/kernels/{K1}/channels", "", live) is None
    assert gate.check(head, f"/api/kernels/{K1}", "", live) is None
    assert gate.check(parent, f"/api/kernels/{K1}/channels", "", live).kind == "refused"
    assert gate.check(parent, f"/voila/api/shutdown/{K1}", "", live).kind == "refused"
    assert gate.check(parent, f"/api/kernels/{K1}", "", FakeKernels()) is None      # gone: Voila answers 404
    assert K1 not in gate.owners                                                     # forgotten once gone


def test_viewer_header_is_replaced(gate):
    head = Viewer("li_t", "head_teacher", classes=("G7C1",))
    headers = HTTPHeaders()
    for name in ("X-Workbench-Viewer", "x-workbench-viewer", "X_Workbench_Viewer"):
        headers.add(name, "forged")
    set_viewer_header(headers, gate.sign(head))
    assert [v for k, v in headers.get_all() if k.upper().replace("-", "_") == "X_WORKBENCH_VIEWER"] == \
        [headers[HEADER]]
    assert Viewer.from_token(headers[HEADER], b"k" * 32) == head


def test_voila_command(tmp_path):
    opts = ServeOptions(apps_dir=tmp_path, store=tmp_path / "s.duckdb", users=tmp_path / "u.yaml", port=9999,
                        preheat=True, max_kernels=7, cull_idle=300, cull_interval=30, refill_delay=4)
    argv, env = voila_command(opts, "ab" * 32, tmp_path)
    args = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    assert args["--Voila.identity_provider_class"] == "workbench.serve.identity.WorkbenchIdentityProvider"
    assert args["--WorkbenchIdentityProvider.max_kernels"] == "7"
    assert args["--VoilaConfiguration.preheat_kernel"] == "True"
    assert args["--MappingKernelManager.cull_idle_timeout"] == "300"
    assert args["--MappingKernelManager.cull_connected"] == "True"
    assert args["--VoilaKernelManager.fill_delay"] == "4" and args["--KernelManager.transport"] == "ipc"
    assert not any("token" in a.lower() for a in argv)                      # nobody logs in with a token
    assert argv[argv.index("--Voila.config_file_paths") + 1] == str(tmp_path)
    config = json.loads((tmp_path / "voila.json").read_text())
    assert config["VoilaConfiguration"] == {"http_header_envs": ["X-Workbench-Viewer"], "file_allowlist": []}
    headers = config["Voila"]["tornado_settings"]["headers"]
    assert headers["Content-Security-Policy"] == VOILA_CSP and headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in VOILA_CSP and "default-src 'self'" in VOILA_CSP
    assert "unsafe-eval" not in VOILA_CSP and "data:" not in VOILA_CSP and "cdn.jsdelivr.net" not in VOILA_CSP
    assert env["WORKBENCH_SERVE_SECRET"] == "ab" * 32 and Path(env["WORKBENCH_STORE"]).is_absolute()
    assert env["JUPYTER_PATH"].split(":")[0].endswith("workbench/serve/jupyter")
