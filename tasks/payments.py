"""Joining the payment cycles at enrolment, and decision notices."""

from forms.reason_codes import applicant_reason_text
from integrations.notify import APPLICANT_CHANNELS

from .base import handler


@handler("payments.join_cycles")
def join_cycles(ctx, benefits, programmes, channel, account):
    """Register the family for the payment cycles: no money moves here.

    Returns the payment plan (payments/plan.py): the channel the cycles will pay through, and per cash programme
    the cycle expected to pay the family first (the next regular cycle, or the susulan of a stage already
    frozen), with its months and an estimate of the stage's amount. The enrolment keeps it; the notice and the
    portal tell the family when to expect the first payment.
    """
    from payments.plan import plan_for

    return plan_for(ctx.settings, ctx.session, benefits, programmes, channel, account)


@handler("payments.request_disbursement")
def request_disbursement(ctx, reference, nik, amount, channel, account, benefits=None, programmes=None):
    """The older enrolment step (application diagrams before the payment cycles paid every family).

    An instance still running such a diagram reaches this step after the change: it no longer pays the first
    stage outside the cycles; it registers the family for the cycles like `payments.join_cycles` and returns no
    reference, so the enrolment records no disbursement and the cycles pay the family. The diagrams of that
    time pass no benefits: the enrolment listener completes the plan from the case's benefits.
    """
    plan = join_cycles(ctx, benefits or {}, programmes or [], channel, account)
    return {"status": "JOINS_CYCLES", "reference": None, "amount": 0, "channel": plan["channel"], "payment_plan": plan}


@handler("notify.decision")
def notify_decision(ctx, nik, case_number, decision, reasons, message=None, appeal_window=None, payment_plan=None):
    """Tell the applicant the decision, every reason and the officer's message to them, by SMS and in the portal.

    An officer's reasons go out as their codes' catalogue texts (forms/reason_codes.py), never as the
    officer's own words; only the message written for the applicant is sent as written.
    """
    params = {
        "case_number": case_number,
        "decision": decision,
        "reasons": [
            {"code": r.get("code"), "id": applicant_reason_text(r, "id"), "en": applicant_reason_text(r, "en")}
            for r in reasons or []
        ],
    }
    if message:
        params["message"] = message
    first = [c for c in (payment_plan or {}).get("cycles") or [] if c.get("cycle")]
    if first:  # an enrolment: the stage expected to pay the family first (the earliest of its programmes)
        first = min(first, key=lambda c: (c.get("months") or [""])[0])
        amount = "Rp " + f"{int(first.get('estimated') or 0):,}".replace(",", ".")
        params.update(cycle=first["cycle"], programme=first.get("programme"), amount=amount)
    if appeal_window:  # a removal: how long the family has to appeal (ISO 8601 duration, e.g. P30D)
        params["appeal_window"] = appeal_window
    ids = [
        ctx.integrations.notifier.send(
            nik,
            channel,
            f"decision_{decision}",
            params,
            idempotency_key=f"{ctx.idempotency_key}:{channel}" if ctx.idempotency_key else None,
        )
        for channel in APPLICANT_CHANNELS
    ]
    return {"message_ids": ids}
