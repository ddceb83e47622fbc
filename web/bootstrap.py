"""Wiring in one place: every service-task handler, signal listener and run kind is registered here.

`create_app` calls `wire()` once per app; nothing registers itself by being imported. To add a
handler module, a listener or a kind of tracked run, add one line below.
"""


def wire():
    """Register handlers, listeners and run kinds (idempotent: a second app in the process changes nothing)."""
    from cases import audit, listeners, runkinds
    from payments import listeners as payment_listeners
    from payments import runs as payment_runs
    from tasks.base import load_handlers

    load_handlers()  # tasks/*: the operators service tasks call (tasks.base.REGISTRY)
    listeners.connect()  # cases: evidence, timeline, status, enrolment from the engine's signals
    payment_listeners.connect()  # payments: cycle status, maker and checker
    audit.connect()  # the audit trail of engine actions
    runkinds.register_run_kinds()  # import, re-check, registry re-check, re-verification
    payment_runs.register_run_kinds()  # results import, payment notices, payment reviews
