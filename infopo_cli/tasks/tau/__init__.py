"""The tau-bench core shared by ``tasks/tau2`` (tau2-bench) and ``tasks/usergym/tau`` (TauGym).

Both tasks serve customers of the same airline and retail stores: tools over a database, a
simulated customer, a reward on the end state. Each reproduces a different reference
implementation (tau2-bench, and tau-bench v1 as UserGym's TauGym), whose gold end states depend on
the details, so the two keep many small differences: error texts, how arguments are checked,
search results, whether a booking takes seats. The common parts live here; a variant states what
differs as class attributes or method overrides (the domain classes default to tau2-bench) or as
settings (``Calculator``, ``mentioned``):

* ``store``: copy-on-write tables over a shared database, with rollback and comparison.
* ``tools``: what a tool is (``ToolSpec``), ``ToolError``, and how a call becomes text.
* ``arithmetic``: the ``calculate`` tool.
* ``airline``, ``retail``: the domain rules (bookings, payments, refunds, orders).
* ``conversation``: the customer's side (``###STOP###``, first person, confirmations, outputs).
"""
