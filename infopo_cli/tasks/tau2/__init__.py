"""tau2-bench (airline, retail, telecom): tools over databases, policies, a simulated customer.

The store, the tool declarations and errors, the calculator, the airline and retail rules and the
customer-side helpers are shared with UserGym's TauGym (tau-bench v1) in ``tasks/tau``; this
package keeps what is tau2-bench's own: strict argument schemas and the ``Toolkit`` of methods,
the telecom domain and the customer's phone, the text protocol, the episode and its scoring.
"""

from infopo_cli.tasks.tau2.scoring import pass_hat_k
from infopo_cli.tasks.tau2.task import Tau2Task

__all__ = ["Tau2Task", "pass_hat_k"]
