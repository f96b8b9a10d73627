"""Profile Workbench 学生画像建模工作台 — the pure core (never imports widget libraries)."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
