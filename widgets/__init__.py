from widgets.kgraph import KnowledgeGraphView as KnowledgeGraphView
