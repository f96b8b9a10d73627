"""The risk model's feature catalogue: which features, in which order, and how to say them in zh and en.

The list lives in ``risk_features.yaml`` (data, versioned). A feature that is a catalogue indicator
accumulated to the cut-off (``indicator:``) takes its name, unit and direction from
``workbench/indicators/catalogue``; the others carry their own labels there, and ordinal ones their levels.

>>> feats, groups = feature_catalogue()
>>> list(feats)[:3]
['beh_active_days', 'beh_actions', 'risk_recent_actions']
>>> feats["beh_active_days"].label("en"), feats["beh_active_days"].label("zh")
('Login days', '登录天数')
>>> feats["risk_age_band"].value_text(2.0, "en"), groups["imd_band"]["en"]
('55 and over', 'IMD band')
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from workbench.indicators.catalogue import load_catalogue

FEATURES_FILE = Path(__file__).with_name("risk_features.yaml")


@dataclass(frozen=True)
class Feature:
    """One model feature and how to say it (zh/en)."""
    id: str
    name: dict[str, str]
    unit: dict[str, str]
    direction: str
    indicator: str | None = None
    attribute: str | None = None
    levels: tuple[dict[str, str], ...] = ()
    categorical: bool = False

    def label(self, lang: str = "zh") -> str:
        return self.name.get(lang) or self.name["en"]

    def value_text(self, value: Any, lang: str = "zh") -> str:
        """The value in words: a level's text, or the number with its unit."""
        if self.levels and isinstance(value, (int, float, np.number)) and np.isfinite(value):
            return self.levels[int(value)].get(lang, self.levels[int(value)]["value"])
        if isinstance(value, (int, float, np.number)):
            num = f"{value:.2f}" if abs(value) < 1 and value != 0 else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
            unit = self.unit.get(lang, "")
            return f"{num}{'' if lang == 'zh' else ' '}{unit}".rstrip() if unit else num
        return str(value)


@lru_cache(maxsize=1)
def feature_catalogue() -> tuple[dict[str, Feature], dict[str, dict[str, str]]]:
    """The risk features (in model order) and the fairness subgroups, from ``risk_features.yaml``."""
    doc = yaml.safe_load(FEATURES_FILE.read_text(encoding="utf-8"))
    cat = load_catalogue()
    out: dict[str, Feature] = {}
    for f in doc["features"]:
        if f.get("indicator"):
            ind = cat[f["indicator"]]
            out[f["id"]] = Feature(f["id"], ind.name, ind.unit, ind.direction, indicator=ind.id)
        else:
            out[f["id"]] = Feature(f["id"], f["name"], f.get("unit", {}), f.get("direction", "neutral"),
                                   attribute=f.get("attribute"), levels=tuple(f.get("levels", ())),
                                   categorical=bool(f.get("categorical")))
    return out, doc["groups"]
