"""Editing a profile spec step by step: the state behind the model builder's widgets.

:class:`SpecEditor` holds the current :class:`~workbench.model.spec.ProfileSpec`, an undo/redo
history and the last saved document. Every edit builds a new document, checks it with the spec
checker and either becomes the current spec or raises :class:`~workbench.model.spec.SpecError`
naming the path and the reason, leaving everything as it was. Listeners (the widgets) are told
after each change. Ticking an indicator off and on again restores the same document, and a spec
loaded and saved without edits is byte-for-byte the file it came from.

:class:`ModelLibrary` keeps saved specs in a folder: ``<id>.yaml`` is the current model and every
saved change is kept as ``history/<id>/<nnn>-<hash>.yaml``, so earlier versions can be listed,
compared and loaded.

>>> ed = SpecEditor(load_spec("academic_emotion"))
>>> ed.set_indicator_weight("academic", "acad_score_z", 5)
>>> ed.dirty, ed.can_undo
(True, True)
>>> ed.undo(); ed.dirty
False
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.indicators.catalogue import DIRECTIONS, Catalogue, load_catalogue
from workbench.model.spec import ProfileSpec, SpecError, SpecIssue, load_spec, spec_from_dict

HISTORY_LIMIT = 200
Listener = Callable[["SpecEditor", str], None]


def _number(w: float) -> int | float:
    w = float(w)
    return int(w) if w.is_integer() else round(w, 3)


class SpecEditor:
    """The spec being edited, with undo/redo and an unsaved-changes marker.

    Parameters
    ----------
    spec : the spec to start from (a :class:`ProfileSpec`, a file or a shipped spec name).
    saved : whether ``spec`` is what is on disk (``dirty`` is False until the first edit).
    """

    def __init__(self, spec: ProfileSpec | str | Path, *, saved: bool = True, catalogue: Catalogue | None = None):
        self.catalogue = catalogue or load_catalogue()
        self.spec = spec if isinstance(spec, ProfileSpec) else load_spec(spec, self.catalogue)
        self._saved_doc = copy.deepcopy(self.spec.doc) if saved else None
        self._undo: list[dict] = []
        self._redo: list[dict] = []
        self._listeners: list[Listener] = []
        self._removed: dict[tuple[str, str], tuple[int, dict]] = {}     # unticked entries, to tick back in place
        self._removed_dims: dict[str, tuple[int, dict]] = {}
        self.path: Path | None = Path(self.spec.source) if saved and Path(self.spec.source).is_file() else None

    # ------------------------------------------------------------------------------------ state
    @property
    def doc(self) -> dict[str, Any]:
        return self.spec.doc

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet saved."""
        return self._saved_doc != self.spec.doc

    can_undo = property(lambda self: bool(self._undo))
    can_redo = property(lambda self: bool(self._redo))

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(editor, what)`` after every change (``what``: the edit's name)."""
        self._listeners.append(listener)

    def _notify(self, what: str) -> None:
        for fn in list(self._listeners):
            fn(self, what)

    def apply(self, doc: dict[str, Any], what: str = "edit") -> None:
        """Make ``doc`` the current spec if it checks (else raise :class:`SpecError`, nothing changes)."""
        if doc == self.spec.doc:
            return
        new = spec_from_dict(doc, self.spec.source, self.catalogue)
        self._undo.append(self.spec.doc)
        del self._undo[:-HISTORY_LIMIT]
        self._redo.clear()
        self.spec = new
        self._notify(what)

    def _edit(self, what: str, change: Callable[[dict], None]) -> None:
        doc = copy.deepcopy(self.spec.doc)
        change(doc)
        self.apply(doc, what)

    def undo(self) -> None:
        if self._undo:
            self._redo.append(self.spec.doc)
            self.spec = ProfileSpec(self._undo.pop(), self.spec.source)
            self._notify("undo")

    def redo(self) -> None:
        if self._redo:
            self._undo.append(self.spec.doc)
            self.spec = ProfileSpec(self._redo.pop(), self.spec.source)
            self._notify("redo")

    def replace(self, spec: ProfileSpec, *, saved: bool = True) -> None:
        """Start over from ``spec`` (e.g. a loaded file): history cleared."""
        self.spec = spec
        self._saved_doc = copy.deepcopy(spec.doc) if saved else None
        self._undo.clear()
        self._redo.clear()
        self._notify("load")

    def mark_saved(self, path: Path | None = None) -> None:
        self._saved_doc = copy.deepcopy(self.spec.doc)
        self.path = path or self.path
        self._notify("saved")

    # ------------------------------------------------------------------------------------ queries
    def entry(self, dimension: str, indicator: str) -> dict | None:
        for ind in self.doc["dimensions"].get(dimension, {}).get("indicators", []):
            if ind["id"] == indicator:
                return ind
        return None

    def selected(self, dimension: str, indicator: str) -> bool:
        return self.entry(dimension, indicator) is not None

    def weight(self, dimension: str, indicator: str) -> float:
        e = self.entry(dimension, indicator)
        return float(e.get("weight", 1)) if e else 0.0

    def direction(self, dimension: str, indicator: str) -> str:
        e = self.entry(dimension, indicator) or {}
        return e.get("direction", self.catalogue[indicator].direction)

    def shares(self) -> dict[str, dict[str, float]]:
        """Each ticked indicator's share of its dimension (weights renormalised to sum 1)."""
        out = {}
        for d, dspec in self.doc["dimensions"].items():
            total = sum(float(i.get("weight", 1)) for i in dspec["indicators"])
            out[d] = {i["id"]: (float(i.get("weight", 1)) / total if total else 0.0) for i in dspec["indicators"]}
        return out

    def dimension_shares(self) -> dict[str, float]:
        dims = self.doc["dimensions"]
        total = sum(float(d.get("weight", 1)) for d in dims.values())
        return {d: (float(v.get("weight", 1)) / total if total else 0.0) for d, v in dims.items()}

    # ------------------------------------------------------------------------------------ edits
    def set_indicator(self, dimension: str, indicator: str, selected: bool) -> None:
        """Tick (add, weight 1, in catalogue order) or untick (remove) an indicator; a dimension whose last
        indicator is unticked leaves the spec, and comes back with weight 1 when one is ticked again."""
        if indicator not in self.catalogue:
            raise SpecError(self.spec.source, [SpecIssue(f"dimensions.{dimension}", f"unknown indicator {indicator!r}",
                                                         "未知指标")])
        if selected == self.selected(dimension, indicator):
            return

        def change(doc: dict) -> None:
            dims = doc["dimensions"]
            if selected:
                self._insert(doc, dimension, indicator)
                return
            old = dims[dimension]["indicators"]
            pos = next(n for n, i in enumerate(old) if i["id"] == indicator)
            self._removed[(dimension, indicator)] = (pos, copy.deepcopy(old[pos]))
            inds = old[:pos] + old[pos + 1:]
            if inds:
                dims[dimension]["indicators"] = inds
            else:
                rest = {k: copy.deepcopy(v) for k, v in dims[dimension].items() if k != "indicators"}
                self._removed_dims[dimension] = (list(dims).index(dimension), rest)
                del dims[dimension]
        self._edit("indicator", change)

    def _insert(self, doc: dict, dimension: str, indicator: str) -> dict:
        """Put an indicator back where it was unticked (same weight and direction), or a new one in catalogue
        order with weight 1; a dimension comes back at its old place, or in catalogue order."""
        pos, entry = self._removed.get((dimension, indicator), (None, None))
        entry = copy.deepcopy(entry) if entry else {"id": indicator, "weight": 1}
        if entry is not None and "direction" not in entry and self.catalogue[indicator].direction == "neutral":
            entry["direction"] = "higher_better"
        dims = doc["dimensions"]
        if dimension not in dims:
            dpos, rest = self._removed_dims.get(dimension, (None, {"weight": 1}))
            order = list(dims)
            if dpos is None:
                rank = {d: n for n, d in enumerate(self.catalogue.dimensions)}
                dpos = next((n for n, d in enumerate(order) if rank.get(d, len(rank)) > rank.get(dimension, len(rank))),
                            len(order))
            order.insert(min(dpos, len(order)), dimension)
            dims[dimension] = {**copy.deepcopy(rest), "indicators": [entry]}
            doc["dimensions"] = {d: dims[d] for d in order}
            return entry
        inds = dims[dimension]["indicators"]
        if pos is None:
            rank = {iid: n for n, iid in enumerate(self.catalogue.indicators)}
            pos = next((n for n, i in enumerate(inds) if rank.get(i["id"], -1) > rank[indicator]), len(inds))
        inds.insert(min(pos, len(inds)), entry)
        return entry

    def set_indicator_weight(self, dimension: str, indicator: str, weight: float) -> None:
        """Set a weight (ticking the indicator first if needed: one step to undo)."""
        def change(doc: dict) -> None:
            found = [i for i in doc["dimensions"].get(dimension, {}).get("indicators", []) if i["id"] == indicator]
            entry = found[0] if found else self._insert(doc, dimension, indicator)
            entry["weight"] = _number(weight)
        self._edit("weight", change)

    def set_indicator_direction(self, dimension: str, indicator: str, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise SpecError(self.spec.source, [SpecIssue(f"dimensions.{dimension}", f"{direction!r} is not one of "
                                                         f"{', '.join(DIRECTIONS)}", "方向无效")])

        def change(doc: dict) -> None:
            for i in doc["dimensions"][dimension]["indicators"]:
                if i["id"] == indicator:
                    if direction == self.catalogue[indicator].direction:
                        i.pop("direction", None)
                    else:
                        i["direction"] = direction
        self._edit("direction", change)

    def set_dimension_weight(self, dimension: str, weight: float) -> None:
        self._edit("dimension_weight", lambda doc: doc["dimensions"][dimension].__setitem__("weight", _number(weight)))

    def set_option(self, key: str, value: str) -> None:
        """``normaliser``, ``scope`` or ``missing``."""
        if key not in ("normaliser", "scope", "missing"):
            raise KeyError(key)
        self._edit(key, lambda doc: doc.__setitem__(key, value))

    def set_segments(self, **values: Any) -> None:
        """Any of ``method``, ``k`` (``"auto"`` or an integer), ``k_range`` ([low, high]), ``seed``."""
        def change(doc: dict) -> None:
            seg = dict(doc.get("segments") or {})
            for k, v in values.items():
                if k == "k" and v != "auto":
                    v = int(v)
                seg[k] = list(v) if k == "k_range" else v
            doc["segments"] = seg
        self._edit("segments", change)

    def set_tag_rule(self, tag_id: str, rule: str) -> None:
        """Change a tag's rule; an invalid rule raises :class:`SpecError` (``tags[n].rule``) and is not kept."""
        def change(doc: dict) -> None:
            for t in doc["tags"]:
                if t["id"] == tag_id:
                    t["rule"] = rule
        self._edit("tag_rule", change)

    def add_tag(self, label_zh: str, label_en: str, rule: str, tag_id: str | None = None) -> str:
        tag_id = tag_id or _tag_id(label_en, {t["id"] for t in self.spec.tags})
        self._edit("tag", lambda doc: doc.setdefault("tags", []).append(
            {"id": tag_id, "label": {"zh": label_zh, "en": label_en}, "rule": rule}))
        return tag_id

    def remove_tag(self, tag_id: str) -> None:
        def change(doc: dict) -> None:
            doc["tags"] = [t for t in doc.get("tags") or [] if t["id"] != tag_id]
            if not doc["tags"]:
                del doc["tags"]
        self._edit("tag", change)

    def set_identity(self, spec_id: str | None = None, name_zh: str | None = None, name_en: str | None = None) -> None:
        """Rename the model (id and zh/en name): saving then writes a new model next to the original."""
        def change(doc: dict) -> None:
            if spec_id is not None:
                doc["id"] = spec_id
            if name_zh is not None or name_en is not None:
                name = dict(doc.get("name") or {"zh": doc["id"], "en": doc["id"]})
                name["zh"] = name_zh if name_zh is not None else name["zh"]
                name["en"] = name_en if name_en is not None else name["en"]
                doc["name"] = name
        self._edit("identity", change)


def _tag_id(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "tag"
    if not base[0].isalpha():
        base = "tag_" + base
    tag_id, n = base, 2
    while tag_id in taken:
        tag_id, n = f"{base}_{n}", n + 1
    return tag_id


ENV_MODELS = "WORKBENCH_MODELS"


def default_models_dir() -> Path:
    """``$WORKBENCH_MODELS``, else ``models/`` next to the store (``data/models`` for the demo)."""
    import os

    from workbench.store import find_store
    return Path(os.environ.get(ENV_MODELS) or find_store().parent / "models")


class ModelLibrary:
    """Saved specs in one folder, each saved change kept in ``history/<id>/``.

    >>> import tempfile
    >>> lib = ModelLibrary(tempfile.mkdtemp())
    >>> path = lib.save(load_spec("academic_emotion"))
    >>> lib.models(), len(lib.revisions("academic_emotion"))
    (['academic_emotion'], 1)
    >>> lib.save(load_spec("academic_emotion")) == path, len(lib.revisions("academic_emotion"))   # unchanged: no new revision
    (True, 1)
    """

    def __init__(self, folder: str | Path, loader: Callable[[Path], Any] | None = None):
        self.folder = Path(folder)
        self.loader = loader            # how a saved document is read back (default: a profile spec)

    def path(self, spec_id: str) -> Path:
        return self.folder / f"{spec_id}.yaml"

    def models(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.yaml")) if self.folder.is_dir() else []

    def revisions(self, spec_id: str) -> list[Path]:
        d = self.folder / "history" / spec_id
        return sorted(d.glob("*.yaml")) if d.is_dir() else []

    def save(self, spec: Any) -> Path:
        """Write ``<id>.yaml`` (any versioned document with ``id``, ``hash`` and ``dump()``: a profile spec, a rule
        set); a content change also becomes the next revision in the history."""
        text = spec.dump()
        path = self.path(spec.id)
        self.folder.mkdir(parents=True, exist_ok=True)
        revs = self.revisions(spec.id)
        if not revs or revs[-1].read_text(encoding="utf-8") != text:
            hist = self.folder / "history" / spec.id
            hist.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            (hist / f"{len(revs) + 1:03d}-{spec.hash}-{stamp}.yaml").write_text(text, encoding="utf-8")
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        return path

    def load(self, spec_id: str, revision: int | None = None, catalogue: Catalogue | None = None) -> Any:
        """The current model, or revision ``n`` (1 = the first saved) of its history."""
        if revision is None:
            return self.loader(self.path(spec_id)) if self.loader else load_spec(self.path(spec_id), catalogue)
        revs = self.revisions(spec_id)
        if not 1 <= revision <= len(revs):
            raise SpecError(str(self.path(spec_id)), [SpecIssue("", f"no revision {revision}; there are {len(revs)}",
                                                                f"没有第 {revision} 版")])
        return self.loader(revs[revision - 1]) if self.loader else load_spec(revs[revision - 1], catalogue)
