"""Composite profile models: specs (YAML), the ProfileModel estimator, tags, segments, runs."""
from workbench.model.estimator import ProfileModel, ProfileResult
from workbench.model.expr import RuleError, parse_rule
from workbench.model.spec import ProfileSpec, SpecError, load_spec, shipped_specs, spec_from_dict

__all__ = ["ProfileModel", "ProfileResult", "ProfileSpec", "RuleError", "SpecError", "load_spec", "parse_rule",
           "shipped_specs", "spec_from_dict"]
