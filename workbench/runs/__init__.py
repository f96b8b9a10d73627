"""Term runs: prepare a term once, execute the report notebooks per class (and student) with Papermill."""
from workbench.runs.prepare import DEFAULT_SPEC, Prepared, data_fingerprint, is_prepared, prepare_term, term_classes

__all__ = ["DEFAULT_SPEC", "Prepared", "data_fingerprint", "is_prepared", "prepare_term", "term_classes"]
