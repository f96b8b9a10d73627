"""Thin ipyvuetify views over :mod:`workbench` (JupyterLab and Voila): they hold no logic of their own."""
from widgets.builder import ModelBuilder
from widgets.charts import ChartView
from widgets.kgraph import KnowledgeGraphView
from widgets.preview import PreviewPanel

__all__ = ["ModelBuilder", "ChartView", "KnowledgeGraphView", "PreviewPanel"]
