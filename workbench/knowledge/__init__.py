"""Subject knowledge graphs (format, validation, import) — mastery and diagnosis build on them."""
from workbench.knowledge.graph import (GraphError, GraphIssue, KnowledgeGraph, graph_from_doc, load_graph,
                                       validate_graph)
from workbench.knowledge.junyi import JunyiImport, import_junyi

__all__ = ["GraphError", "GraphIssue", "JunyiImport", "KnowledgeGraph", "graph_from_doc", "import_junyi", "load_graph",
           "validate_graph"]
