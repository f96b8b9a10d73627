"""Subject knowledge graphs (format, validation, import), BKT mastery and diagnosis on the graph."""
from workbench.knowledge.bkt import BKT
from workbench.knowledge.diagnosis import (chapter_radar, class_teaching_map, learning_path, root_cause_text,
                                           root_causes, root_gap_text, root_gaps, weak_points)
from workbench.knowledge.graph import (GraphError, GraphIssue, KnowledgeGraph, graph_from_doc, load_graph,
                                       validate_graph)
from workbench.knowledge.junyi import JunyiImport, import_junyi
from workbench.knowledge.mastery import compute_mastery, write_mastery

__all__ = ["BKT", "GraphError", "GraphIssue", "JunyiImport", "KnowledgeGraph", "chapter_radar", "class_teaching_map",
           "compute_mastery", "graph_from_doc", "import_junyi", "learning_path", "load_graph", "root_cause_text",
           "root_causes", "root_gap_text", "root_gaps", "validate_graph", "weak_points", "write_mastery"]
