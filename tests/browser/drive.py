"""Driving ipyvuetify widgets in a Voila page from the browser tests: locate a widget by its ``data-test``
attribute, set a Checkbox, Slider, Select or TextField, click a Btn, and ``settle`` so the kernel has every
change before the next action. Verified on the stack named in ``harness.py``.

Locating widgets (f)
--------------------
Give every widget a test is going to touch ``attributes={"data-test": "name"}`` and find it with
``by_test_id(page, "name")`` (= ``page.locator('[data-test="name"]')``).

- ``attributes={"data-test": ...}`` and ``class_="..."`` both land on the component's **root** element
  (``div.v-input`` for Checkbox/Slider/Select/TextField/Textarea, ``button.v-btn`` for Btn). Vuetify 3 does
  this on purpose (vuetifyjs/vuetify#16276, #7295: attributes go to the root so you select the inner parts
  with a compound selector); so the recipes below go from the root to the inner control.
- ``attributes={"id": ...}`` is *not* a root locator: for inputs Vuetify 3 takes ``id`` as a prop and puts it
  on the inner ``<input>`` (checkbox: ``<input id=... type=checkbox>``, and the messages div becomes
  ``<id>-messages``). Prefer ``data-test``; ``class_`` works too but mixes styling with testing.
- Menus (Select options) are teleported to ``.v-overlay-container`` at the end of ``<body>``, outside the
  widget's root: find options on the page (``page.get_by_role("option", name=...)``), not inside the widget.

Driving widgets (a–e)
---------------------
Each driver below ends with ``settle(page)``: it waits until the ipywidgets front end has no unsent or
unacknowledged state (see "Why settle" below), so the kernel has the new ``v_model`` when it returns.

(a) ``v.Checkbox``: ``widget.locator("input[type=checkbox]").set_checked(True)`` (playwright clicks the
    real, transparent input and verifies it became checked). ``v_model`` becomes ``True``.
    → ``set_checkbox(widget, True)``.
(b) ``v.Slider``: the thumb is ``widget.locator("[role=slider]")`` (``tabindex=0``, ``aria-valuenow``,
    ``aria-valuemin``, ``aria-valuemax``). ``thumb.press("ArrowRight")`` / ``"ArrowLeft"`` (``press``
    focuses it first) moves **one step**: with ``step=0.5`` the Python ``v_model`` goes 2 → 2.5 → 3.0 ….
    Other keys (Vuetify 3.12 ``VSlider``), each checked in the kernel with step 0.5 on 0–10:
    ``Control+ArrowRight`` = 2 steps, ``Shift+ArrowRight`` = 3 steps, ``PageUp``/``PageDown`` = 10 steps,
    ``Home``/``End`` = min/max, ``ArrowUp``/``ArrowDown`` = right/left. (From the bundle's code, not
    tried: with ``step=0`` Ctrl/Shift are 5/10 × 0.1, and PageUp is a tenth of the range past 100
    steps.) Values arrive in Python as JSON numbers: integral ones as ``int`` (``4``, not ``4.0``), so
    compare with ``==``.
    → ``set_slider(widget, 3.5)`` presses arrows until ``aria-valuenow`` equals the target (it needs no
    knowledge of ``step``; it fails if the target is not on the step grid) and returns the press count.
(c) ``v.Btn``: ``widget.click()`` (the root *is* the ``<button>``). ``on_event("click", fn)`` runs
    ``fn`` in the kernel; wait for its effect (a file: ``wait_for_json``; a DOM change: a locator wait),
    never with a sleep. → ``click(widget)``.
(d) ``v.Select``: click the field, ``widget.locator(".v-field").click()``; the menu opens with items as
    ``[role=option]`` (in ``.v-overlay-container``); ``page.get_by_role("option", name=text, exact=True)
    .click()``; the menu closes and ``.v-select__selection-text`` shows the text. ``v_model`` becomes the
    item's value (for plain string items, the string). → ``select_item(widget, "数学")``.
(e) ``v.TextField`` / ``v.Textarea``: ``widget.locator("input")`` / ``widget.locator("textarea")`` then
    ``.fill(text)``. Vuetify updates ``modelValue`` on every ``input`` event and ipyvuetify syncs it, so
    ``v_model`` is the full text right after (no blur / Enter needed; CJK and newlines arrive intact).
    → ``fill_text(widget, text)``.

Why settle (important under load)
    ipywidgets throttles state sync per model: while one update of a model is unacknowledged by the
    kernel (``model._pending_msgs >= 1``), further updates are merged into ``model._msg_buffer`` and only
    sent when the kernel reports idle. Custom messages (ipyvuetify events such as a Btn click) are sent
    at once. So "press ArrowRight 5 times, click Save" can deliver the click *before* the last slider
    value on a busy machine. ``settle(page)`` polls ``window.jupyterapp.widgetManager`` (Voila exposes
    its app there) until every model has ``_pending_msgs == 0`` and no ``_msg_buffer`` and the kernel
    is idle. (``_expectedEchoMsgIds`` is no use: ipyvuetify's ``ThemeModel`` keeps one forever.)
    Seen here: 8 ArrowRight key events 20 ms apart, then a click at once — the click handler read 4.5
    instead of 5, 4 instead of 5 and 1.5 instead of 1 in 3 of 5 trials; with ``settle`` first, 8 of 8 right.
    (Playwright's own ``press`` calls are slow enough that it rarely shows — until the machine is busy.)
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .timeouts import ACTION_TIMEOUT, PLAYWRIGHT_TIMEOUT_MS


_SETTLE_JS = """async () => {
  await new Promise(r => setTimeout(r, 0));   // let Vue watchers and ipywidgets' save_changes run first
  const app = window.jupyterapp;
  const wm = app && app.widgetManager;
  if (!wm || !wm._models) return {missing: true};
  const models = await Promise.all(Object.values(wm._models));
  const busy = models.filter(m => m && (m._pending_msgs > 0 || m._msg_buffer))
    .map(m => `${m.get('_model_name')}(${m.model_id}) pending=${m._pending_msgs} buffered=${!!m._msg_buffer}`);
  const kernel = wm._kernel ? wm._kernel.status : 'unknown';
  return {busy, kernel};
}"""


def settle(page: Any, timeout: float = ACTION_TIMEOUT) -> None:
    """Wait until every widget model's state has reached the kernel and the kernel is idle (twice in a row,
    50 ms apart). Call after driving widgets and before an action whose handler reads them (the drivers
    here do it for you). Only for Voila pages (uses ``window.jupyterapp.widgetManager``)."""
    deadline = time.monotonic() + timeout
    calm, state = 0, None
    while True:
        state = page.evaluate(_SETTLE_JS)
        if state.get("missing"):
            raise RuntimeError("no ipywidgets manager at window.jupyterapp.widgetManager: not a Voila page "
                               "(or not rendered yet: call wait_rendered first)")
        calm = calm + 1 if not state["busy"] and state["kernel"] == "idle" else 0
        if calm >= 2:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"widgets did not settle in {timeout:.0f} s: {state}")
        time.sleep(0.05)


def by_test_id(scope: Any, test_id: str) -> Any:
    """The widget built with ``attributes={"data-test": test_id}`` (its root element) in a page or locator."""
    return scope.locator(f'[data-test="{test_id}"]')


def set_checkbox(widget: Any, checked: bool = True) -> None:
    """Tick (or untick) a ``v.Checkbox`` / ``v.Switch`` given its root locator."""
    widget.locator("input[type=checkbox]").set_checked(checked)
    settle(widget.page)


def set_slider(widget: Any, value: float, *, max_presses: int = 1000) -> int:
    """Move a ``v.Slider`` to ``value`` with ArrowRight/ArrowLeft on its thumb (one step per press) and
    return the number of presses. Raises if ``value`` is outside the range or not on the step grid."""
    thumb = widget.locator("[role=slider]")
    lo, hi = float(thumb.get_attribute("aria-valuemin")), float(thumb.get_attribute("aria-valuemax"))
    if not lo <= value <= hi:
        raise ValueError(f"slider value {value} outside [{lo}, {hi}]")
    presses, seen = 0, set()
    while True:
        now = float(thumb.get_attribute("aria-valuenow"))
        if abs(now - value) < 1e-9:
            break
        if now in seen or presses >= max_presses:
            raise ValueError(f"slider cannot reach {value} by steps (stuck at {now} after {presses} presses)")
        seen.add(now)
        before = thumb.get_attribute("aria-valuenow")
        thumb.press("ArrowRight" if now < value else "ArrowLeft")
        presses += 1
        # Vue re-renders the thumb on its next tick: read the new value only once it is there
        expect(thumb).not_to_have_attribute("aria-valuenow", before, timeout=PLAYWRIGHT_TIMEOUT_MS)
    settle(widget.page)
    return presses


def select_item(widget: Any, text: str) -> None:
    """Pick the item shown as ``text`` in a single-choice ``v.Select`` given its root locator."""
    page = widget.page
    widget.locator(".v-field").click()
    page.get_by_role("option", name=text, exact=True).click()
    widget.locator(".v-select__selection-text", has_text=text).wait_for(state="visible")
    page.locator(".v-overlay--active [role=option]").first.wait_for(state="detached")
    settle(page)


def fill_text(widget: Any, text: str) -> None:
    """Replace the text of a ``v.TextField`` / ``v.Textarea`` given its root locator."""
    widget.locator("input:not([type=hidden]):not([type=checkbox]), textarea:not(.v-textarea__sizer)").first.fill(text)
    settle(widget.page)


def click(widget: Any) -> None:
    """Click a ``v.Btn`` (or any widget root) after the widgets have settled, so its handler sees them."""
    settle(widget.page)
    widget.click()


def wait_for_json(path: str | os.PathLike[str], timeout: float = ACTION_TIMEOUT) -> Any:
    """Poll until ``path`` exists and holds complete JSON (write it atomically in the kernel: a temporary
    file and ``os.replace``); returns the parsed value."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} not written (or not valid JSON) within {timeout:.0f} s") from None
            time.sleep(0.05)
