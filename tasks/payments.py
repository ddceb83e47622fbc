"""Disbursement requests and decision notices."""
from forms.reason_codes import applicant_reason_text

from .base import handler


@handler("payments.request_disbursement")
def request_disbursement(ctx, reference, nik, amount, channel, account):
    """Ask the paying bank or post office to pay the first stage; idempotent by reference."""
    if not amount:
        return {"status": "NOTHING_TO_PAY", "reference": reference, "amount": 0, "evidence": []}
    receipt = ctx.integrations.payments.request_disbursement(reference, nik, int(amount), channel, account)
    return {"status": receipt.status, "reference": receipt.reference, "provider_ref": receipt.provider_ref,
            "amount": int(amount), "channel": channel,
            "evidence": [receipt.evidence.to_dict()] if receipt.evidence else []}


@handler("notify.decision")
def notify_decision(ctx, nik, case_number, decision, reasons, message=None, appeal_window=None):
    """Tell the applicant the decision, every reason and the officer's message to them, by SMS and in the portal.

    An officer's reasons go out as their codes' catalogue texts (forms/reason_codes.py), never as the
    officer's own words; only the message written for the applicant is sent as written.
    """
    params = {"case_number": case_number, "decision": decision,
              "reasons": [{"code": r.get("code"), "id": applicant_reason_text(r, "id"),
                           "en": applicant_reason_text(r, "en")} for r in reasons or []]}
    if message:
        params["message"] = message
    if appeal_window:  # a removal: how long the family has to appeal (ISO 8601 duration, e.g. P30D)
        params["appeal_window"] = appeal_window
    ids = [ctx.integrations.notifier.send(nik, channel, f"decision_{decision}", params,
                                          idempotency_key=f"{ctx.idempotency_key}:{channel}" if ctx.idempotency_key else None)
           for channel in ("SMS", "PORTAL")]
    return {"message_ids": ids}
