"""Community objections: telling the objector the outcome."""

from integrations.notify import APPLICANT_CHANNELS

from .base import handler


@handler("notify.objection_outcome")
def notify_objection_outcome(ctx, nik, objection_number, outcome):
    """Tell the resident who objected whether the objection was upheld (portal and SMS; no officer notes)."""
    params = {"objection_number": objection_number, "outcome": outcome}
    ids = [
        ctx.integrations.notifier.send(
            nik,
            channel,
            f"objection_{outcome}",
            params,
            idempotency_key=f"{ctx.idempotency_key}:{channel}" if ctx.idempotency_key else None,
        )
        for channel in APPLICANT_CHANNELS
    ]
    return {"message_ids": ids}
