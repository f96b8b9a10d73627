"""First paint: an app's content as plain HTML, on screen before Voila's scripts and widgets are.

A Voila page shows nothing until its scripts have loaded (≈ 80 files, ipyvuetify's 2 MB among them), connected to
the kernel and drawn every widget: 2.5–3.5 s of the browser's time on a small machine, on every visit. The apps are
mostly HTML already (tables, SVG charts), so a notebook can show that HTML as soon as the kernel has it:

- ``first_paint(app)`` (a cell of its own, after the one that builds the app) displays the app's widget tree as
  static HTML: cards, headings, tables and charts as they are; a select shows its chosen item; test ids become
  ``first-<id>``. It is marked in the output's metadata (:data:`MARK`).
- the ``workbench`` Voila template writes a marked output straight into the page (Voila streams the page cell by
  cell, so it leaves the server as soon as its cell has run) and moves it out of the part Voila keeps hidden
  until it has finished.
- the template removes the copy once the live app (``.wb-app``) is on the page, so the viewer sees the same content
  become interactive. Other templates never show it. Outside Voila (a notebook in JupyterLab) nothing is displayed.

The copy carries exactly what the live widgets show the same viewer (it is built from them), so it adds no data
to the page; all text is escaped, HTML widgets' values (our own, escaped when built) are copied as they are.
"""
from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable

import ipywidgets as w

MARK = "workbench-first-paint"
ROOT_CLASS = "wb-first-paint"

# The copy is hidden unless the workbench template shows it (it also removes it once the live app is drawn, and
# shrinks Voila's spinner meanwhile): other templates render outputs with the widgets, where a copy would only
# double the page. A few rules make it look like the outlined Vuetify cards it stands for. (No `:has()` rule:
# one on <body> made Chromium restyle the page at every widget it drew, 2–3 s more to the live app.)
STYLE = f"""<style>
.{ROOT_CLASS} {{ display: none; }}
.wb-first-paint-host .{ROOT_CLASS} {{ display: block; }}
.{ROOT_CLASS} {{ font-family: Roboto, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; padding: 16px; max-width: 1400px; }}
.{ROOT_CLASS} .wb-fp-card {{ border: 1px solid rgba(0,0,0,.12); border-radius: 4px; margin-bottom: 12px; }}
.{ROOT_CLASS} .wb-fp-card-title {{ font-size: 1rem; font-weight: 500; padding: 12px 16px 4px; }}
.{ROOT_CLASS} .wb-fp-card-text {{ padding: 4px 16px 12px; font-size: .875rem; }}
.{ROOT_CLASS} .wb-fp-select {{ display: inline-block; border-bottom: 1px solid rgba(0,0,0,.42); padding: 4px 8px;
  margin-bottom: 8px; min-width: 200px; }}
.{ROOT_CLASS} .wb-fp-select small {{ display: block; color: rgba(0,0,0,.6); }}
.{ROOT_CLASS} .wb-fp-alert {{ padding: 12px 16px; border-radius: 4px; background: #fdecea; margin: 16px; }}
.{ROOT_CLASS} .text-h5 {{ font-size: 1.5rem; }}
</style>"""

_TAGS = {"CardTitle": ("div", "wb-fp-card-title"), "CardText": ("div", "wb-fp-card-text"),
         "Card": ("div", "wb-fp-card"), "Alert": ("div", "wb-fp-alert")}
_VOID = {"br", "hr", "img", "input"}


def in_voila() -> bool:
    """True in a kernel Voila started (cold or preheated), False in JupyterLab or a script."""
    return "VOILA_BASE_URL" in os.environ


def static_html(node) -> str:
    """The widget tree ``node`` (ipyvuetify and ipywidgets) as static HTML; strings are escaped."""
    if node is None:
        return ""
    if isinstance(node, str):
        return html.escape(node)
    if isinstance(node, Iterable) and not isinstance(node, w.Widget):
        return "".join(static_html(n) for n in node)
    if isinstance(node, w.HTML):                      # our HTML widgets (tables, charts): already escaped
        return f"<div{_attrs(node, '')}>{_own_ids(node.value)}</div>"
    name = type(node).__name__
    if name == "Select":                              # the chosen item, read-only until the app is live
        items = {(i.get("value") if isinstance(i, dict) else i): (i.get("title") if isinstance(i, dict) else i)
                 for i in (getattr(node, "items", None) or [])}
        chosen = items.get(getattr(node, "v_model", None), getattr(node, "v_model", "") or "")
        label = getattr(node, "label", "") or ""
        return (f"<div class='wb-fp-select'{_attrs(node, '', with_class=False)}><small>{html.escape(str(label))}</small>"
                f"{html.escape(str(chosen))}</div>")
    children = getattr(node, "children", None)
    if name == "Html":
        tag = getattr(node, "tag", "div") or "div"
        cls = ""
    else:
        tag, cls = _TAGS.get(name, ("div", ""))
    if tag in _VOID:
        return f"<{tag}{_attrs(node, cls)}>"
    return f"<{tag}{_attrs(node, cls)}>{static_html(children or [])}</{tag}>"


def _own_ids(markup: str) -> str:
    """Element ids (an SVG chart's clip paths, its groups) prefixed, with the references to them: the live chart
    has the same ids, and a reference to an id resolves to the first in the page, which would be the hidden copy."""
    markup = re.sub(r'\bid="([^"]+)"', r'id="fp-\1"', markup)
    return re.sub(r'(url\(#|href="#)', r"\1fp-", markup)


def _attrs(node, cls: str, *, with_class: bool = True) -> str:
    out = []
    classes = [cls] if cls else []
    own = getattr(node, "class_", None) or ""
    classes += [c if c != "wb-app" else "wb-app-copy" for c in own.split()]   # never mistaken for the live app
    classes += list(getattr(node, "_dom_classes", None) or ())
    if with_class and classes:
        out.append(f' class="{html.escape(" ".join(classes))}"')
    test = (getattr(node, "attributes", None) or {}).get("data-test")
    if test:
        out.append(f' data-test="first-{html.escape(str(test))}"')
    return "".join(out)


def first_paint(*parts) -> None:
    """Display ``parts`` (widgets, lists of widgets) as the page's first paint (see the module); in Voila only."""
    if not in_voila():
        return
    from IPython.display import HTML, display
    body = "".join(static_html(p) for p in parts)
    display(HTML(f"{STYLE}<div class='{ROOT_CLASS}' data-test='first-paint'>{body}</div>"), metadata={MARK: True})
