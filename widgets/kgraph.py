"""KnowledgeGraphView: a class's knowledge graph drawn as an inline SVG in a Vue template (ipyvuetify), coloured
by class mastery; clicking a point lists the students below the threshold and the prerequisites behind it.

A thin view: the traits hold the JSON of :func:`workbench.knowledge.view.class_graph_view` and
:func:`~workbench.knowledge.view.point_detail`, and the template only maps them to SVG and Vuetify. It needs no
JavaScript or CSS beyond ipyvuetify's own (no ``<script>``, no external files, only Vue event bindings), so it
renders in JupyterLab and Voila alike.

    view = KnowledgeGraphView.from_store("data/workbench.duckdb", "2026-2027-1", "G7C1")
    view            # in a notebook cell; view.vue_select("M7-GEO-04") does what a click does
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import ipyvuetify as v
import pandas as pd
import traitlets

from workbench.knowledge.graph import KnowledgeGraph
from workbench.knowledge.mastery import WEAK
from workbench.knowledge.view import class_graph_view, class_mastery, point_detail
from workbench.reports.common import class_info
from workbench.reports.student import as_graph

PAD_X, PAD_Y, COL_W, ROW_H, LEGEND_H, MIN_W = 70, 24, 96, 58, 56, 680

TEMPLATE = r"""
<template>
  <v-card flat class="kgraph">
    <v-card-title class="text-subtitle-1">{{ view.strings && view.strings.title }}</v-card-title>
    <v-alert v-if="view.message" type="info" density="compact" variant="tonal">{{ view.message }}</v-alert>
    <v-row v-else dense>
      <v-col cols="12" md="8">
        <svg class="kgraph-svg" :viewBox="'0 0 ' + width + ' ' + (height + legend_h)" :width="width"
             style="max-width: 100%; height: auto; font-family: sans-serif">
          <defs>
            <marker :id="uid + '-arrow'" viewBox="0 0 10 10" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8"
                    refX="24" refY="5" orient="auto">
              <path d="M0,0 L10,5 L0,10 z" fill="#757575"></path>
            </marker>
            <linearGradient :id="uid + '-scale'" x1="0" x2="1" y1="0" y2="0">
              <stop v-for="s in view.legend.stops" :key="s.value" :offset="s.value" :stop-color="s.colour"></stop>
            </linearGradient>
          </defs>
          <g class="kgraph-edges">
            <line v-for="e in view.edges" :key="e.source + '>' + e.target" :data-edge="e.source + '>' + e.target"
                  :x1="pad_x + e.x1 * plot_w" :y1="pad_y + e.y1 * plot_h" :x2="pad_x + e.x2 * plot_w" :y2="pad_y + e.y2 * plot_h"
                  :stroke="e.target === selected || e.source === selected ? '#37474f' : '#b0b0b0'"
                  :stroke-width="e.target === selected || e.source === selected ? 2 : 1"
                  :marker-end="'url(#' + uid + '-arrow)'"></line>
          </g>
          <g v-for="n in view.nodes" :key="n.id" class="kgraph-node" :data-kp="n.id" :data-colour="n.colour"
             role="button" tabindex="0" style="cursor: pointer; outline: none"
             @click="select(n.id)" @keydown.enter="select(n.id)">
            <title>{{ n.tooltip }}</title>
            <circle :cx="pad_x + n.x * plot_w" :cy="pad_y + n.y * plot_h" r="11" :fill="n.colour"
                    :stroke="n.id === selected ? '#1a237e' : '#616161'" :stroke-width="n.id === selected ? 3 : 1"
                    :stroke-dasharray="n.in_grade ? null : '3 2'"></circle>
            <text :x="pad_x + n.x * plot_w" :y="pad_y + n.y * plot_h + 25" text-anchor="middle" font-size="11"
                  :font-weight="n.id === selected ? 'bold' : 'normal'" fill="#212121">{{ n.short }}</text>
          </g>
          <g class="kgraph-legend" :transform="'translate(' + pad_x + ',' + (height + 8) + ')'" font-size="11" fill="#424242">
            <text x="0" y="10">{{ view.strings.legend }}</text>
            <rect x="0" y="16" width="200" height="10" :fill="'url(#' + uid + '-scale)'"></rect>
            <g v-for="t in view.legend.ticks" :key="t.value">
              <line :x1="t.value * 200" :x2="t.value * 200" y1="14" y2="30" stroke="#212121"></line>
              <text :x="t.value * 200" y="42" text-anchor="middle">{{ t.value }} {{ t.label }}</text>
            </g>
            <circle cx="236" cy="21" r="6" :fill="view.legend.grey" stroke="#616161"></circle>
            <text x="248" y="25">{{ view.strings.insufficient }}</text>
            <circle cx="236" cy="40" r="6" fill="#ffffff" stroke="#616161" stroke-dasharray="3 2"></circle>
            <text x="248" y="44">{{ view.strings.context }}</text>
          </g>
        </svg>
      </v-col>
      <v-col cols="12" md="4" class="kgraph-detail">
        <div v-if="!detail" class="text-body-2 text-medium-emphasis">{{ view.strings.hint }}</div>
        <div v-else>
          <div class="text-subtitle-1 font-weight-bold">
            <svg width="14" height="14"><circle cx="7" cy="7" r="6" :fill="detail.colour" stroke="#616161"></circle></svg>
            {{ detail.label }}
          </div>
          <div class="text-caption">{{ detail.chapter }} · {{ detail.strings.mastery }} {{ detail.mean_text }}</div>
          <p class="text-body-2 my-2 kgraph-line">{{ detail.text }}</p>
          <div class="text-subtitle-2">{{ detail.strings.prerequisites }}</div>
          <div v-if="!detail.prerequisites.length" class="text-body-2">{{ detail.strings.no_prerequisites }}</div>
          <div v-for="p in detail.prerequisites" :key="p.kp" class="text-body-2 kgraph-prereq" :data-kp="p.kp"
               style="cursor: pointer" @click="select(p.kp)">
            <svg width="12" height="12"><circle cx="6" cy="6" r="5" :fill="p.colour" stroke="#616161"></circle></svg>
            {{ p.label }} · {{ p.mean_text }}
          </div>
          <template v-if="detail.weak_ancestors.length">
            <div class="text-subtitle-2 mt-2">{{ detail.strings.weak_ancestors }}</div>
            <div v-for="p in detail.weak_ancestors" :key="p.kp" class="text-body-2 kgraph-ancestor" :data-kp="p.kp"
                 style="cursor: pointer" @click="select(p.kp)">
              <svg width="12" height="12"><circle cx="6" cy="6" r="5" :fill="p.colour" stroke="#616161"></circle></svg>
              {{ p.label }} · {{ p.mean_text }}
              <span v-if="p.root_cause_of" class="text-caption"> · {{ detail.strings.root_of }} {{ p.root_cause_of }}</span>
            </div>
          </template>
          <div class="text-subtitle-2 mt-2">{{ detail.strings.below }} ({{ detail.threshold }})</div>
          <div v-if="!detail.students.length" class="text-body-2">{{ detail.strings.none_below }}</div>
          <v-table v-else density="compact" class="kgraph-students">
            <thead><tr><th>{{ detail.strings.student }}</th><th>{{ detail.strings.mastery }}</th>
                       <th>{{ detail.strings.root_causes }}</th></tr></thead>
            <tbody>
              <tr v-for="s in detail.students" :key="s.name">
                <td style="white-space: nowrap">{{ s.name }}</td><td>{{ s.p_mastery.toFixed(2) }}</td>
                <td><span v-if="!s.root_causes.length">—</span><v-chip v-for="c in s.root_causes" :key="c.kp" size="x-small" class="mr-1">{{ c.label }}</v-chip></td>
              </tr>
            </tbody>
          </v-table>
        </div>
      </v-col>
    </v-row>
  </v-card>
</template>
"""


class KnowledgeGraphView(v.VuetifyTemplate):
    """The class's knowledge graph with a detail panel for the clicked point.

    Traits (synced): ``view`` (:func:`class_graph_view`), ``selected`` (a kp id or None), ``detail``
    (:func:`point_detail` of ``selected``), ``lang`` (``zh``/``en``: setting it re-renders every label),
    ``threshold``, and the drawing's pixel sizes. The graph, mastery frame, roster and names stay in
    Python and never reach the browser.
    """

    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    view = traitlets.Dict().tag(sync=True)
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    detail = traitlets.Dict(None, allow_none=True).tag(sync=True)
    lang = traitlets.Unicode("zh").tag(sync=True)
    threshold = traitlets.Float(WEAK).tag(sync=True)
    uid = traitlets.Unicode("kgraph").tag(sync=True)
    width = traitlets.Int(PAD_X * 2).tag(sync=True)
    height = traitlets.Int(PAD_Y * 2).tag(sync=True)
    plot_w = traitlets.Int(0).tag(sync=True)
    plot_h = traitlets.Int(0).tag(sync=True)
    pad_x = traitlets.Int(PAD_X).tag(sync=True)
    pad_y = traitlets.Int(PAD_Y).tag(sync=True)
    legend_h = traitlets.Int(LEGEND_H).tag(sync=True)

    def __init__(self, kg: KnowledgeGraph, mastery: pd.DataFrame, students: Sequence[str], *,
                 names: Mapping[str, str] | None = None, lang: str = "zh", threshold: float = WEAK,
                 grades: Collection[int] | None = None, **kwargs: Any) -> None:
        self.kg, self.mastery, self.students, self.names = kg, mastery, list(students), names
        self.grades = None if grades is None else list(grades)
        super().__init__(lang=lang, threshold=threshold, **kwargs)
        self.uid = f"kgraph-{self.model_id[:8]}"
        self._refresh()
        self.observe(lambda _: self._refresh(), names=["lang", "threshold"])

    @classmethod
    def from_store(cls, store: str | Path | duckdb.DuckDBPyConnection | Any, term: str, class_id: str,
                   graph: KnowledgeGraph | str = "math_junior", lang: str = "zh", *,
                   names: Mapping[str, str] | None = None, threshold: float = WEAK) -> KnowledgeGraphView:
        """The view of ``class_id`` in ``term`` read from a store path, a DuckDB connection or a ``Store``."""
        con = getattr(store, "con", store)
        own = not isinstance(con, duckdb.DuckDBPyConnection)
        if own:
            from workbench.store import find_store
            con = duckdb.connect(str(find_store(store or None)), read_only=True)
        try:
            students, mastery = class_mastery(con, term, class_id)
            grade = class_info(con, term, class_id)["grade"]
        finally:
            if own:
                con.close()
        return cls(as_graph(graph), mastery, students, names=names, lang=lang, threshold=threshold,
                   grades=None if grade is None else [grade])

    def _refresh(self) -> None:
        view = class_graph_view(self.kg, self.mastery, self.students, grades=self.grades, threshold=self.threshold,
                                lang=self.lang)
        with self.hold_sync():
            self.width = max(PAD_X * 2 + COL_W * max(view["layers"] - 1, 1), MIN_W)
            self.plot_w = self.width - 2 * PAD_X
            self.plot_h = ROW_H * max(view["rows"], 1)
            self.height = self.plot_h + 2 * PAD_Y
            self.view = view
            self._fill_detail()

    def _fill_detail(self) -> None:
        self.detail = None if self.selected is None else point_detail(
            self.kg, self.mastery, self.students, self.selected, threshold=self.threshold, lang=self.lang,
            names=self.names)

    def vue_select(self, kp: str) -> None:
        """A click on a point (from the template: ``select(id)``); unknown ids are ignored."""
        if kp not in self.kg.points:
            return
        with self.hold_sync():
            self.selected = kp
            self._fill_detail()
