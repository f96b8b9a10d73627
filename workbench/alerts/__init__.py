"""Early warning: rule sets as data, detectors over dated signals, tiered and routed alerts, the intervention loop."""
from workbench.alerts.engine import AlertRun, run_alerts
from workbench.alerts.signals import SIGNALS, known_signals, load_signal
from workbench.alerts.spec import LEVELS, ROUTES, RuleSet, load_rule_set, rule_set_from_dict

__all__ = ["AlertRun", "run_alerts", "SIGNALS", "known_signals", "load_signal", "LEVELS", "ROUTES", "RuleSet",
           "load_rule_set", "rule_set_from_dict"]
