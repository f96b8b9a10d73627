"""ModelBuilder: compose a profile model with widgets, see what it gives, save it as a versioned spec.

The widgets hold no logic and no state of their own: the state is a
:class:`workbench.model.editor.SpecEditor` (the spec, undo/redo, the saved marker); each control maps
one part of the spec and calls an editor method when the user moves it, and every change of the
spec (an edit, undo, redo, load) sets the controls from the spec again and refreshes the preview
(:class:`workbench.model.preview.PreviewEngine`). Tests drive it headless by setting ``v_model``.

>>> # in a notebook:  ModelBuilder.from_store(term="2026-2027-1", spec="whole_person")   # doctest: +SKIP
"""
from __future__ import annotations

import asyncio
import html
from pathlib import Path

import ipyvuetify as v
import ipywidgets as w

from widgets.preview import PreviewPanel
from workbench.indicators.catalogue import Catalogue, load_catalogue
from workbench.labels import ui
from workbench.model.editor import ModelLibrary, SpecEditor, default_models_dir
from workbench.model.preview import PreviewEngine
from workbench.model.spec import NORMALISERS, SCOPES, SEGMENT_METHODS, ProfileSpec, SpecError, load_spec, shipped_specs

WEIGHT_MAX, WEIGHT_STEP = 5, 0.5


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _error_text(exc: Exception, lang: str) -> str:
    if isinstance(exc, SpecError):
        return "；".join(f"{i.path}: {i.zh if lang == 'zh' else i.en}" for i in exc.issues)
    return str(exc)


class IndicatorRow(v.Html):
    """Checkbox (name, description as tooltip), weight slider, share of the dimension, direction toggle."""

    def __init__(self, dimension: str, indicator, lang: str):
        self.dimension, self.indicator = dimension, indicator.id
        desc = indicator.description.get(lang) or indicator.description.get("en", "")
        self.checkbox = v.Checkbox(v_model=False, label=indicator.label(lang), density="compact", hide_details=True,
                                   class_=f"wb-tick wb-tick-{indicator.id}",
                                   attributes={"title": desc, "data-test": f"tick-{indicator.id}"})
        self.slider = v.Slider(v_model=1, min=0, max=WEIGHT_MAX, step=WEIGHT_STEP, thumb_label=True, density="compact",
                               hide_details=True, class_=f"wb-weight wb-weight-{indicator.id}", style_="min-width:140px",
                               attributes={"data-test": f"weight-{indicator.id}"})
        self.share = v.Html(tag="span", class_="wb-share text-caption", style_="min-width:44px;text-align:right",
                            children=[""])
        self.direction = v.Btn(variant="text", size="small", class_=f"wb-direction wb-direction-{indicator.id}", attributes={"data-test": f"direction-{indicator.id}"},
                               children=["↑"], min_width=32)
        super().__init__(tag="div", class_=f"wb-row wb-row-{indicator.id}",
                         style_="display:flex;align-items:center;gap:8px",
                         attributes={"title": desc},
                         children=[v.Html(tag="div", style_="flex:0 0 46%", children=[self.checkbox]),
                                   v.Html(tag="div", style_="flex:1 1 auto", children=[self.slider]),
                                   self.share, self.direction])


class ModelBuilder(v.Container):
    """The model builder. Build it with :meth:`from_store` (from a store) or from an editor and a preview engine.

    Parameters
    ----------
    editor : the spec being edited.
    engine : the preview engine over one term's indicator values.
    library : where Save writes (``<id>.yaml`` plus ``history/``); default :func:`~workbench.model.editor.default_models_dir`
        (``models/`` next to the store).
    lang : ``zh`` (default) or ``en``; the language switch changes it live.
    """

    def __init__(self, editor: SpecEditor, engine: PreviewEngine, *, library: ModelLibrary | None = None,
                 lang: str = "zh", catalogue: Catalogue | None = None, chart_delay: float = 0.25):
        super().__init__(fluid=True, class_="wb-model-builder")
        self.editor, self.engine = editor, engine
        self.library = library or ModelLibrary(default_models_dir())
        self.catalogue = catalogue or load_catalogue()
        self.lang = lang
        self.chart_delay = chart_delay
        self._syncing = False
        self._confirm_load = False
        self._chart_handle = None
        self.message = ""
        editor.on_change(self._on_spec_change)
        self._build()
        self._sync(rules=True)
        self.panel.update(editor.spec)

    @classmethod
    def from_store(cls, store: str | Path | None = None, term: str = "2026-2027-1", spec: str | Path = "whole_person", *,
             models_dir: str | Path | None = None, lang: str = "zh", display=None, progress=None) -> ModelBuilder:
        """Open the builder on a store's term (every catalogue indicator is computed once, a few seconds)."""
        from workbench.store import find_store, open_store
        library = ModelLibrary(models_dir or default_models_dir())
        spec_obj = spec if isinstance(spec, ProfileSpec) else (
            library.load(str(spec)) if str(spec) in library.models() else load_spec(spec))
        with open_store(find_store(store or None), read_only=True) as s:
            engine = PreviewEngine.from_store(s.con, term, progress=progress, display=display)
        return cls(SpecEditor(spec_obj), engine, library=library, lang=lang)

    # ------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        lang, cat = self.lang, self.catalogue
        self.title = v.Html(tag="span", class_="text-h6 wb-title", children=[""])
        self.dirty_chip = v.Chip(size="small", color="warning", class_="ml-2 wb-dirty", children=[ui("mb_unsaved", lang)],
                                 attributes={"data-test": "mb-dirty"})
        self.undo_btn = v.Btn(children=[ui("mb_undo", lang)], variant="tonal", class_="ml-2 wb-undo", size="small",
                              attributes={"data-test": "mb-undo"})
        self.redo_btn = v.Btn(children=[ui("mb_redo", lang)], variant="tonal", class_="ml-1 wb-redo", size="small",
                              attributes={"data-test": "mb-redo"})
        self.save_btn = v.Btn(children=[ui("mb_save", lang)], color="primary", class_="ml-1 wb-save", size="small",
                              attributes={"data-test": "mb-save"})
        self.load_select = v.Select(label=ui("mb_model", lang), items=[], v_model=None, density="compact",
                                    hide_details=True, class_="ml-4 wb-load-select", style_="max-width:220px",
                                    attributes={"data-test": "mb-load-select"})
        self.load_btn = v.Btn(children=[ui("mb_load", lang)], variant="tonal", class_="ml-1 wb-load", size="small",
                              attributes={"data-test": "mb-load"})
        self.lang_toggle = v.BtnToggle(v_model=lang, mandatory=True, density="compact", class_="ml-4 wb-lang", attributes={"data-test": "mb-lang"},
                                       children=[v.Btn(value="zh", size="small", children=["中文"]),
                                                 v.Btn(value="en", size="small", children=["EN"])])
        self.status = w.HTML(value="")
        self.status.add_class("wb-status")
        self.undo_btn.on_event("click", lambda *_: self.editor.undo())
        self.redo_btn.on_event("click", lambda *_: self.editor.redo())
        self.save_btn.on_event("click", lambda *_: self.save())
        self.load_btn.on_event("click", lambda *_: self.load(self.load_select.v_model))
        self.lang_toggle.observe(lambda c: self.set_lang(c["new"]) if c["new"] else None, "v_model")
        toolbar = v.Html(tag="div", class_="d-flex align-center flex-wrap mb-2",
                         children=[self.title, self.dirty_chip, self.undo_btn, self.redo_btn, self.save_btn,
                                   self.load_select, self.load_btn, self.lang_toggle])

        # scoring options
        self.options = {
            "normaliser": v.Select(label=ui("mb_normaliser", lang), v_model=None, class_="wb-opt-normaliser",
                                   items=[{"title": ui(f"opt_{n}", lang), "value": n} for n in NORMALISERS]),
            "scope": v.Select(label=ui("mb_scope", lang), v_model=None, class_="wb-opt-scope",
                              items=[{"title": ui(f"opt_{s}", lang), "value": s} for s in SCOPES]),
            "missing": v.Select(label=ui("mb_missing", lang), v_model=None, class_="wb-opt-missing",
                                items=[{"title": ui(f"opt_{m}", lang), "value": m} for m in ("reweight", "impute")]),
        }
        for key, sel in self.options.items():
            sel.density, sel.hide_details = "compact", True
            sel.observe(lambda c, key=key: self._guard(lambda: self.editor.set_option(key, c["new"])), "v_model")
        options = v.Card(variant="outlined", class_="mb-3", children=[
            v.CardTitle(class_="text-subtitle-1", children=[ui("mb_options", lang)]),
            v.CardText(children=[v.Html(tag="div", style_="display:flex;gap:12px", children=list(self.options.values()))])])

        # one card per scored dimension of the catalogue
        self.rows: dict[tuple[str, str], IndicatorRow] = {}
        self.dim_sliders: dict[str, v.Slider] = {}
        self.dim_shares: dict[str, v.Html] = {}
        dim_cards = []
        for d in cat.dimensions:
            inds = [i for i in cat.select(d)]
            if d == "basic" or not inds:
                continue
            slider = v.Slider(v_model=1, min=0, max=WEIGHT_MAX, step=WEIGHT_STEP, thumb_label=True, density="compact",
                              hide_details=True, label=ui("mb_dimension_weight", lang), class_=f"wb-dim-weight wb-dim-weight-{d}")
            slider.observe(lambda c, d=d: self._guard(lambda: self.editor.set_dimension_weight(d, c["new"])), "v_model")
            share = v.Html(tag="span", class_="text-caption ml-2 wb-dim-share", children=[""])
            self.dim_sliders[d], self.dim_shares[d] = slider, share
            rows = []
            for ind in inds:
                row = IndicatorRow(d, ind, lang)
                row.checkbox.observe(lambda c, d=d, i=ind.id: self._guard(
                    lambda: self.editor.set_indicator(d, i, bool(c["new"]))), "v_model")
                row.slider.observe(lambda c, d=d, i=ind.id: self._guard(
                    lambda: self.editor.set_indicator_weight(d, i, c["new"])), "v_model")
                row.direction.on_event("click", lambda *_, d=d, i=ind.id: self._guard(lambda: self._flip(d, i)))
                self.rows[(d, ind.id)] = row
                rows.append(row)
            dim_cards.append(v.Card(variant="outlined", class_=f"mb-3 wb-dim wb-dim-{d}", children=[
                v.CardTitle(class_="text-subtitle-1", children=[cat.dimension_label(d, lang), share]),
                v.CardText(children=[slider, v.Divider(class_="my-2"), *rows])]))

        # tag rules
        self.tag_fields: dict[str, v.TextField] = {}
        self.tag_box = v.Html(tag="div", children=[])
        self.new_tag = {k: v.TextField(label=ui(f"mb_{k}", lang), v_model="", density="compact", class_=f"wb-new-{k}")
                        for k in ("label_zh", "label_en", "rule")}
        self.new_tag["rule"].hint = ui("mb_rule_help", lang)
        self.new_tag["rule"].observe(lambda c: self._check_rule(self.new_tag["rule"], c["new"]), "v_model")
        add_btn = v.Btn(children=[ui("mb_add", lang)], variant="tonal", size="small", class_="wb-add-tag")
        add_btn.on_event("click", lambda *_: self._guard(self._add_tag))
        tags = v.Card(variant="outlined", class_="mb-3 wb-tags", children=[
            v.CardTitle(class_="text-subtitle-1", children=[ui("mb_tags", lang)]),
            v.CardText(children=[self.tag_box, v.Html(tag="div", class_="text-subtitle-2 mt-2", children=[ui("mb_new_tag", lang)]),
                                 v.Html(tag="div", style_="display:flex;gap:8px", children=[self.new_tag["label_zh"], self.new_tag["label_en"]]),
                                 self.new_tag["rule"], add_btn])])

        # segmentation
        k_items = [{"title": ui("opt_auto", lang), "value": "auto"}] + [{"title": str(k), "value": k} for k in range(2, 9)]
        self.seg = {
            "method": v.Select(label=ui("mb_method", lang), v_model=None, class_="wb-seg-method",
                               items=[{"title": ui(f"opt_{m}", lang), "value": m} for m in SEGMENT_METHODS]),
            "k": v.Select(label=ui("mb_k", lang), v_model=None, items=k_items, class_="wb-seg-k"),
            "seed": v.TextField(label=ui("mb_seed", lang), v_model="0", type="number", class_="wb-seg-seed"),
        }
        for key, ctl in self.seg.items():
            ctl.density, ctl.hide_details = "compact", "auto"
            ctl.observe(lambda c, key=key: self._set_segments(key, c["new"]), "v_model")
        self.seg_btn = v.Btn(children=[ui("mb_run_segments", lang)], variant="tonal", size="small", class_="wb-run-segments")
        self.seg_btn.on_event("click", lambda *_: self.run_segments())
        self.seg_progress = v.ProgressLinear(indeterminate=True, style_="display:none", class_="my-1")
        self.seg_table = w.HTML()
        segments = v.Card(variant="outlined", class_="mb-3 wb-segments", children=[
            v.CardTitle(class_="text-subtitle-1", children=[ui("mb_segments", lang)]),
            v.CardText(children=[v.Html(tag="div", style_="display:flex;gap:12px", children=list(self.seg.values())),
                                 self.seg_btn, self.seg_progress, self.seg_table])])

        self.panel = PreviewPanel(self.engine, lang)
        self.children = [toolbar, self.status, v.Row(children=[
            v.Col(cols=12, md=7, children=[options, *dim_cards, tags, segments]),
            v.Col(cols=12, md=5, children=[v.Html(tag="div", style_="position:sticky;top:8px", children=[self.panel])])])]

    # ------------------------------------------------------------------------------------ spec → controls
    def _sync(self, rules: bool = False) -> None:
        ed, lang = self.editor, self.lang
        self._syncing = True
        try:
            spec = ed.spec
            self.title.children = [spec.name[lang] if isinstance(spec.name, dict) else spec.id]
            self.dirty_chip.style_ = "" if ed.dirty else "display:none"
            self.undo_btn.disabled, self.redo_btn.disabled = not ed.can_undo, not ed.can_redo
            for key, sel in self.options.items():
                sel.v_model = getattr(spec, key)
            shares, dshares = ed.shares(), ed.dimension_shares()
            for d, slider in self.dim_sliders.items():
                on = d in spec.dimensions
                slider.v_model = float(spec.dimensions[d].get("weight", 1)) if on else 1
                slider.disabled = not on
                self.dim_shares[d].children = [ui("mb_share", lang, share=_pct(dshares[d])) if on else ui("mb_not_scored", lang)]
            for (d, i), row in self.rows.items():
                on = ed.selected(d, i)
                row.checkbox.v_model = on
                row.slider.v_model = ed.weight(d, i) if on else 1
                row.slider.disabled = not on
                row.share.children = [_pct(shares[d][i]) if on else ""]
                direction = ed.direction(d, i)
                row.direction.children = ["↑" if direction == "higher_better" else "↓" if direction == "lower_better" else "·"]
                row.direction.disabled = not on
                row.direction.attributes = {"title": ui("mb_higher_better" if direction == "higher_better" else "mb_lower_better", lang)}
            seg = spec.segments
            self.seg["method"].v_model = seg.get("method", "kmeans")
            self.seg["k"].v_model = seg.get("k", "auto")
            self.seg["seed"].v_model = str(seg.get("seed", 0))
            if rules:
                self._sync_rules()
            self.load_select.items = [{"title": s, "value": s} for s in self.models()]
        finally:
            self._syncing = False

    def _sync_rules(self) -> None:
        lang = self.lang
        rows = []
        self.tag_fields = {}
        for t in self.editor.spec.tags:
            field = v.TextField(label=f"{t['label'][lang]} ({t['id']})", v_model=t["rule"], density="compact",
                                class_=f"wb-rule wb-rule-{t['id']}", hint=ui("mb_rule_help", lang),
                                attributes={"data-test": f"rule-{t['id']}"})
            field.observe(lambda c, tid=t["id"], f=field: self._edit_rule(tid, f, c["new"]), "v_model")
            remove = v.Btn(children=[ui("mb_remove", lang)], variant="text", size="small", color="error",
                           class_=f"wb-remove-tag wb-remove-{t['id']}")
            remove.on_event("click", lambda *_, tid=t["id"]: self._guard(lambda: self.editor.remove_tag(tid)))
            self._check_rule(field, t["rule"])
            self.tag_fields[t["id"]] = field
            rows.append(v.Html(tag="div", style_="display:flex;align-items:start;gap:8px",
                               children=[v.Html(tag="div", style_="flex:1 1 auto", children=[field]), remove]))
        self.tag_box.children = rows

    # ------------------------------------------------------------------------------------ controls → spec
    def _guard(self, action) -> None:
        """Run an edit coming from a control; a refused edit shows why and puts the control back."""
        if self._syncing:
            return
        try:
            action()
        except (SpecError, ValueError, KeyError) as exc:
            self._say(ui("mb_error", self.lang, msg=_error_text(exc, self.lang)), error=True)
            self._sync()

    def _flip(self, d: str, i: str) -> None:
        now = self.editor.direction(d, i)
        self.editor.set_indicator_direction(d, i, "lower_better" if now == "higher_better" else "higher_better")

    def _set_segments(self, key: str, value) -> None:
        if key == "seed":
            try:
                value = int(str(value).strip())
            except ValueError:
                self.seg["seed"].error_messages = ["0, 1, 2 …"]
                return
            self.seg["seed"].error_messages = []
        self._guard(lambda: self.editor.set_segments(**{key: value}))

    def _check_rule(self, field: v.TextField, text: str):
        check = self.engine.rule_check(text or "", self.editor.spec, self.panel.preview.dimensions
                                       if self.panel.preview is not None else None)
        field.error_messages = [] if check.ok else [check.message(self.lang)]
        field.messages = [check.message(self.lang)] if check.ok else []
        return check

    def _edit_rule(self, tag_id: str, field: v.TextField, text: str) -> None:
        if self._syncing:
            return
        if self._check_rule(field, text).ok:
            self._guard(lambda: self.editor.set_tag_rule(tag_id, text))

    def _add_tag(self) -> None:
        f = self.new_tag
        zh, en, rule = (f[k].v_model.strip() for k in ("label_zh", "label_en", "rule"))
        if not self._check_rule(f["rule"], rule).ok:
            return
        self.editor.add_tag(zh or en, en or zh, rule)
        for k in f:
            f[k].v_model = ""
        f["rule"].error_messages, f["rule"].messages = [], []

    # ------------------------------------------------------------------------------------ actions
    def save(self) -> Path:
        path = self.library.save(self.editor.spec)
        self.editor.mark_saved(path)
        self._say(ui("mb_saved_to", self.lang, path=path, n=len(self.library.revisions(self.editor.spec.id))))
        return path

    def models(self) -> list[str]:
        """The models Open offers: saved in the library, or shipped."""
        return sorted(set(self.library.models()) | set(shipped_specs()))

    def load(self, name: str | None) -> None:
        if not name:
            return
        if name not in self.models():     # a value forged by the browser is never read as a path
            self._say(ui("mb_error", self.lang, msg=f"{name!r}"), error=True)
            return
        if self.editor.dirty and not self._confirm_load:
            self._confirm_load = True
            self._say(ui("mb_discard", self.lang), error=True)
            return
        self._confirm_load = False
        spec = self.library.load(name) if name in self.library.models() else load_spec(name)
        self.editor.replace(spec)
        self._say(ui("mb_loaded", self.lang, name=spec.name[self.lang]))

    def run_segments(self):
        self.seg_progress.style_ = ""
        try:
            table = self.engine.segments(self.editor.spec, self.panel.preview.dimensions)
        finally:
            self.seg_progress.style_ = "display:none"
        lang = self.lang
        names = self.panel.preview.dimensions.columns
        from widgets.preview import dimension_names
        dn = dimension_names(self.editor.spec, lang)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["#", "n", "", *[dn[c] for c in names if c != "overall"]])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in
                                        [r["segment"], r["students"], r[lang], *[r[c] for c in names if c != "overall"]])
                       + "</tr>" for _, r in table.iterrows())
        self.seg_table.value = f'<table class="wb-table wb-seg-table" style="font-size:12px"><tr>{head}</tr>{body}</table>'
        self._segments_for = self.editor.spec.hash
        return table

    def set_lang(self, lang: str) -> None:
        if lang == self.lang:
            return
        self.lang = lang
        self._build()
        self._sync(rules=True)
        self.panel.update(self.editor.spec)

    def _say(self, text: str, error: bool = False) -> None:
        self.message = text
        colour = "#c62828" if error else "#2e7d32"
        self.status.value = f'<div class="wb-message" style="color:{colour};margin:4px 0">{html.escape(text)}</div>'

    # ------------------------------------------------------------------------------------ spec changed
    def _on_spec_change(self, editor: SpecEditor, what: str) -> None:
        self._sync(rules=what in ("undo", "redo", "load", "tag"))
        if what != "saved":
            self._say("")
            self.panel.update(editor.spec, charts_too=False)
            self._schedule_charts()
            if getattr(self, "_segments_for", None) not in (None, editor.spec.hash):
                self.seg_table.value = f'<div class="text-caption">{ui("mb_segments_stale", self.lang)}</div>'

    def _schedule_charts(self) -> None:
        """Redraw the charts once the user pauses (a dragged slider sends many values); at once when no event
        loop runs (headless tests, scripts)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.chart_delay <= 0:
            self.panel.draw_charts()
            return
        if self._chart_handle is not None:
            self._chart_handle.cancel()
        self._chart_handle = loop.call_later(self.chart_delay, self.panel.draw_charts)


def builder_app(query: str | None = None, *, store: str | Path | None = None, models_dir: str | Path | None = None):
    """The Voila app: the builder on the term, model and language named in the URL (``?term=…&spec=…&lang=en``).

    The store and the models folder come from the server (``$WORKBENCH_STORE``, ``$WORKBENCH_MODELS``), never
    from the URL; a model is chosen by name among the saved and shipped ones. A value that is not allowed
    gives a message saying what is, not an error page.
    """
    import os

    from workbench.apps import AppParamError, query_values
    from workbench.privacy import ScopeError, current_viewer
    from workbench.privacy.viewer import ENV_SECRET
    from workbench.store import find_store, open_store
    if os.environ.get(ENV_SECRET):          # served by `workbench serve`: researchers only
        try:
            current_viewer().require_app("model_builder")
        except ScopeError as exc:
            return v.Alert(type="error", variant="tonal", class_="ma-4", attributes={"data-test": "refused"},
                           children=[exc.message("zh")])
    library = ModelLibrary(models_dir or default_models_dir())
    with open_store(find_store(store or None), read_only=True) as s:
        terms = [t for (t,) in s.con.execute("""SELECT t.term_id FROM terms t WHERE EXISTS (SELECT 1 FROM enrolments e
                    WHERE e.term_id = t.term_id) ORDER BY t.start_date""").fetchall()]
    lang = query_values(query, {"lang": "zh"}).get("lang")
    lang = lang if lang in ("zh", "en") else "zh"
    try:
        p = query_values(query, {"term": terms[-1] if terms else "", "spec": "whole_person", "lang": "zh"},
                         {"term": terms, "spec": sorted(set(library.models()) | set(shipped_specs())), "lang": ["zh", "en"]})
    except AppParamError as exc:
        return v.Alert(type="error", variant="tonal", class_="ma-4 wb-app-error", attributes={"data-test": "app-error"},
                       children=[exc.message(lang)])
    return ModelBuilder.from_store(store, p["term"], p["spec"], models_dir=library.folder, lang=p["lang"])
