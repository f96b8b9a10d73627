"""Reports: data builders for each view (``data``), charts (``charts``) and notebook rendering (``render``).

``data`` and ``charts`` are plain functions (pandas in, pandas/dicts or SVG out); only ``render`` uses
IPython's display, and nothing here imports a widget library.
"""
from workbench.reports.common import MIN_CELL, SUPPRESSED, display_code
from workbench.reports.data import (class_alerts, class_cards, class_growth, class_overview, class_teaching_map,
                                    student_growth, student_report)

__all__ = ["MIN_CELL", "SUPPRESSED", "class_alerts", "class_cards", "class_growth", "class_overview",
           "class_teaching_map", "display_code", "student_growth", "student_report"]
