"""Fixtures for Chromium tests of the Voila apps and JupyterLab (helpers and recipes: ``harness.py`` and
the modules it indexes).

- ``browser`` (session): Debian's ``/usr/bin/chromium`` through playwright, headless; fails (never skips)
  when it is missing.
- ``voila``: factory ``voila(notebook_dir, *, env=None, preheat=False, extra_args=(), show_tracebacks=True)``
  → ``VoilaServer`` (``url``, ``token``, ``proc``, ``log_path``, ``app_url(nb, **query)``, ``get(path)``,
  ``wait_log(rx)``); every server is stopped at teardown (process group, then leftover kernels).
- ``lab``: the same for JupyterLab, ``lab(root_dir, *, env=None, extra_args=())`` → ``LabServer``.
- ``page``: a fresh context and page collecting console errors, page errors and failed requests
  (``harness.assert_clean(page)``); closed at teardown. ``new_page(url=None, **kw)``: a factory for more.

When a test fails, its report gets the tail of each server's log, and each open page's collected
problems plus a screenshot in ``tests/browser/_artifacts/<test>-failure.png``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from .harness import (BrowserMissing, LabServer, Server, VoilaServer, launch_browser, open_page, page_log,
                      screenshot, start_lab, start_voila)

_ServerT = TypeVar("_ServerT", bound=Server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        try:
            chromium = launch_browser(pw)
        except BrowserMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        yield chromium
        chromium.close()


@pytest.fixture
def voila(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., VoilaServer]]:
    """``voila(notebook_dir, *, env=None, preheat=False, extra_args=(), show_tracebacks=True)`` → a running
    ``VoilaServer``; logs and private Jupyter folders under ``tmp_path/servers``."""
    yield from _server_factory(request, tmp_path, start_voila)


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., LabServer]]:
    """``lab(root_dir, *, env=None, extra_args=())`` → a running JupyterLab ``LabServer``."""
    yield from _server_factory(request, tmp_path, start_lab)


def _server_factory(request: pytest.FixtureRequest, tmp_path: Path,
                    start_server: Callable[..., _ServerT]) -> Iterator[Callable[..., _ServerT]]:
    """Body of the ``voila`` / ``lab`` fixtures: yields ``start(root, **kwargs)`` that runs ``start_server``
    with ``log_dir=tmp_path/servers`` unless given and records the server (for the failure report); stops
    every server it started at teardown."""
    servers = _servers(request)

    def start(root: str | Path, **kwargs: Any) -> _ServerT:
        kwargs.setdefault("log_dir", tmp_path / "servers")
        server = start_server(root, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Factory ``new_page(url=None, **open_page_kwargs)`` → a page like ``page`` (fresh context, problems
    collected); use it for a second page or a page opened later in a test. All are closed at teardown."""
    pages: list[Any] = []

    def make(url: str | None = None, **kwargs: Any) -> Any:
        pg = open_page(browser, url, **kwargs)
        pages.append(pg)
        request.node.__dict__.setdefault("_browser_pages", []).append(pg)
        return pg

    yield make
    for pg in pages:
        pg.context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A new page (own browser context) whose console errors, page errors and failed requests are collected;
    check them with ``assert_clean(page)``. Closed at teardown."""
    return new_page()


def _servers(request: pytest.FixtureRequest) -> list:
    return request.node.__dict__.setdefault("_browser_servers", [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for server in item.__dict__.get("_browser_servers", []):
            report.sections.append((f"{server.name} log (tail) {server.log_path}", server.log_tail()))
        for i, pg in enumerate(item.__dict__.get("_browser_pages", [])):
            try:
                if pg.is_closed():
                    continue
                shot = screenshot(pg, f"{item.name}-failure{'-' + str(i) if i else ''}")
                problems = page_log(pg).problems()
                text = "\n".join([f"screenshot: {shot}", *(problems or ["no problems collected"])])
                report.sections.append((f"page {pg.url}", text))
            except Exception as exc:  # the report must not fail because the page is gone
                report.sections.append(("page", f"could not inspect page: {exc!r}"))
    return report
