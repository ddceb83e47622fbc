"""Disbursement requests and decision notices."""
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
def notify_decision(ctx, nik, case_number, decision, reasons):
    """Tell the applicant the decision and every reason, by SMS and in the portal."""
    params = {"case_number": case_number, "decision": decision,
              "reasons": [{"code": r.get("code"), "id": r.get("id"), "en": r.get("en")} for r in reasons or []]}
    ids = [ctx.integrations.notifier.send(nik, channel, f"decision_{decision}", params,
                                          idempotency_key=f"{ctx.idempotency_key}:{channel}" if ctx.idempotency_key else None)
           for channel in ("SMS", "PORTAL")]
    return {"message_ids": ids}
