"""Payment cycle steps (processes/payment_cycle.bpmn): each a set-based statement on the database.

These steps work on the engine's own transaction (`ctx.session`): they flush, and what they wrote is
committed with the instance's new state, or rolled back with it. Each is safe to run again.
"""

from datetime import date

from .base import handler


def _session(ctx):
    if ctx.session is None:
        raise RuntimeError("payment cycle steps need the engine's database session")
    return ctx.session


@handler("cycle.freeze_list")
def freeze_list(ctx, cycle_id):
    """Copy the cycle's members and their components as they stand at the cut-off."""
    from payments.cycles import freeze_members

    return {"members": freeze_members(_session(ctx), int(cycle_id))}


@handler("cycle.compute_entitlements")
def compute_entitlements(ctx, cycle_id):
    """Entitlements per family and component: capped units times the cycle's rates."""
    from payments.cycles import compute_entitlements as compute

    count, total = compute(_session(ctx), int(cycle_id))
    told = 0
    if ctx.integrations is not None:  # families with a warned or suspended PKH commitment are told why
        from payments.conditions import notify_conditions

        told = notify_conditions(_session(ctx), ctx.integrations.notifier, int(cycle_id))
    return {"entitlements": count, "total": total, "commitment_notices": told}


@handler("cycle.make_batches")
def make_batches(ctx, cycle_id):
    """One payment per family and one batch per paying channel, with control totals."""
    from payments.cycles import build_batches

    return {
        "batches": [{"channel": c, "count": n, "total": t} for c, n, t in build_batches(_session(ctx), int(cycle_id))]
    }


@handler("cycle.record_dispatch")
def record_dispatch(ctx, cycle_id, sp2d_date=None):
    """Payments are sent (over HTTP to the channels that take it); the return date counts from the SP2D."""
    from payments.cycles import record_dispatch as record
    from payments.dispatch import send_batches

    day = date.fromisoformat(sp2d_date) if sp2d_date else None
    # Channels taking batches by API get them first (file channels were downloaded by the officer): after a
    # timeout nothing is marked sent and the engine retries the step with the same references, which the
    # bank pays once.
    sent = send_batches(_session(ctx), int(cycle_id), ctx.settings)
    return_at = record(_session(ctx), int(cycle_id), day)
    return {"return_at": return_at.isoformat(), "sent": sent}


@handler("cycle.notify_paid")
def notify_paid(ctx, cycle_id):
    """Tell the families paid (SMS and portal), once each: a tracked run of batches (payments/runs.py)."""
    from payments.runs import start_notices

    run = start_notices(_session(ctx), int(cycle_id))
    return {"notices_run": run.id if run is not None else None}


@handler("cycle.follow_up")
def follow_up(ctx, cycle_id):
    """Every failed payment gets its next action."""
    from payments.cycles import follow_up_failures

    return {"failed": follow_up_failures(_session(ctx), int(cycle_id))}


@handler("cycle.return_undrawn")
def return_undrawn(ctx, cycle_id):
    """Money not drawn by the return date goes back to the treasury."""
    from payments.cycles import return_undrawn as do_return

    count, total = do_return(_session(ctx), int(cycle_id))
    return {"returned": count, "total": total}


@handler("cycle.close")
def close(ctx, cycle_id):
    """The cycle is closed."""
    from payments.cycles import close_cycle

    close_cycle(_session(ctx), int(cycle_id))
    return {"closed": True}


@handler("cycle.apply_review")
def apply_review(ctx, payment_id, decision):
    """A caseworker's decision on a failed payment becomes its next action (the next cycle acts on it)."""
    from payments.cycles import apply_review as apply

    apply(_session(ctx), int(payment_id), decision)
    return {"payment_id": int(payment_id), "next_action": decision}
