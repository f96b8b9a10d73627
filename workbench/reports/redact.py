"""Leaving dimensions out of a view: psychology and emotion detail is for the psychology view only.

A role without psychology access sees a profile without its emotion dimension: the dimension's score and
comparisons, its indicators' weekly lines, the tags whose rules use it, the parts of the model's
explanation and of the segment descriptions that name it. The composite stays (it is one number that
mixes every dimension). :func:`psychology_dimensions` says which dimensions of a spec are psychology:
those with an indicator of the catalogue's ``emotion`` dimension.

>>> from workbench.model.spec import load_spec
>>> spec = load_spec("whole_person")
>>> sorted(psychology_dimensions(spec))
['emotion']
>>> sorted(hidden_tags(spec, {"emotion"}))
['academic_difficulty_with_anxiety', 'all_round_strength']
>>> strip_parts("学业强、情绪弱", ["情绪"], "zh"), strip_parts("情绪弱", ["情绪"], "zh")
('学业强', '各方面中等')
"""
from __future__ import annotations

from collections.abc import Iterable

from workbench.indicators.catalogue import load_catalogue
from workbench.model.expr import parse_rule
from workbench.model.spec import ProfileSpec

PSYCHOLOGY = "emotion"
NEUTRAL = {"zh": "各方面中等", "en": "average across the board"}
SEPARATORS = {"zh": ("、", "；"), "en": (", ", "; ")}


def psychology_dimensions(spec: ProfileSpec) -> frozenset[str]:
    cat = load_catalogue()
    return frozenset(d for d, ds in spec.dimensions.items()
                     if d == PSYCHOLOGY or any(i["id"] in cat and cat[i["id"]].dimension == PSYCHOLOGY
                                               for i in ds["indicators"]))


def hidden_indicators(spec: ProfileSpec, hide: Iterable[str]) -> set[str]:
    """The indicators of the hidden dimensions, and every catalogue indicator of those dimensions."""
    hide = set(hide)
    cat = load_catalogue()
    out = {i["id"] for d in hide if d in spec.dimensions for i in spec.dimensions[d]["indicators"]}
    return out | {i.id for i in cat.indicators.values() if i.dimension in hide}


def hidden_tags(spec: ProfileSpec, hide: Iterable[str]) -> set[str]:
    hide = set(hide)
    if not hide:
        return set()
    names = hide | hidden_indicators(spec, hide)
    return {t["id"] for t in spec.tags if parse_rule(t["rule"]).names & names}


def visible_spec(spec: ProfileSpec, hide: Iterable[str]) -> ProfileSpec:
    """The spec without the hidden dimensions and the tags that use them (for presentation only: stored
    results are found by the original spec's hash)."""
    hide = set(hide)
    if not hide:
        return spec
    gone = hidden_tags(spec, hide)
    doc = dict(spec.doc, dimensions={d: v for d, v in spec.dimensions.items() if d not in hide},
               tags=[t for t in spec.tags if t["id"] not in gone])
    return ProfileSpec(doc, spec.source)


def strip_parts(text: str, words: Iterable[str], lang: str = "zh", sep: str | None = None) -> str:
    """``text`` without its parts (split at ``sep``, default 、 or ", ") that mention any of ``words``."""
    words = [w for w in words if w]
    if not text or not words:
        return text
    sep = sep or SEPARATORS["zh" if lang == "zh" else "en"][0]
    kept = [p for p in text.split(sep) if not any(w in p for w in words)]
    return sep.join(kept) if kept else NEUTRAL.get(lang, NEUTRAL["en"])


def strip_explanation(text: str, words: Iterable[str], lang: str = "zh") -> str:
    """The model's explanation (parts joined by ；/ "; ") without the parts naming hidden indicators."""
    out = strip_parts(text, words, lang, SEPARATORS["zh" if lang == "zh" else "en"][1])
    return out if out != NEUTRAL.get(lang, NEUTRAL["en"]) else ("无突出因素" if lang == "zh" else "no factor stands out")


def hidden_words(spec: ProfileSpec, hide: Iterable[str], lang: str = "zh") -> list[str]:
    """The words by which texts name the hidden dimensions and their indicators (labels and short names)."""
    cat = load_catalogue()
    hide = set(hide)
    out = []
    for d in hide:
        out += [cat.dimension_short(d, lang), cat.dimension_label(d, lang)]
        name = spec.dimensions.get(d, {}).get("name")
        if isinstance(name, dict):
            out.append(name.get(lang, ""))
    out += [cat[i].label(lang) for i in hidden_indicators(spec, hide) if i in cat]
    return [w for w in dict.fromkeys(out) if w]
