"""TauGym: tau-bench (v1) retail and airline tasks with rule-based tools and end-state reward.

The store, the domain rules, the calculator and the customer-side helpers are shared with tau2
(``tasks/tau``); this package keeps tau-bench v1's own: where its rules differ
(``TauBenchAirline``, ``TauBenchRetail``), its tool declarations and flat argument checks, its
database files and canonical-JSON comparison, the scripted customer and the environment.
"""

from infopo_cli.tasks.usergym.tau.env import TauEnv, validate_record

__all__ = ["TauEnv", "validate_record"]
