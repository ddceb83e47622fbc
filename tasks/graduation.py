"""Graduation (graduasi) notices: the decision and a thank-you letter to the family, by SMS and in the portal."""

from integrations.notify import APPLICANT_CHANNELS

from .base import handler

GRADUATION_KINDS = ("voluntary", "criteria")


@handler("notify.graduation")
def notify_graduation(ctx, nik, case_number, kind, name=None):
    """Send the graduation notice and the thank-you letter (templates graduation_notice, graduation_thanks)."""
    if kind not in GRADUATION_KINDS:
        raise ValueError(f"unknown graduation kind {kind!r}")
    params = {"case_number": case_number, "kind": kind, "name": name or ""}
    ids = []
    for template in ("graduation_notice", "graduation_thanks"):
        for channel in APPLICANT_CHANNELS:
            key = f"{ctx.idempotency_key}:{template}:{channel}" if ctx.idempotency_key else None
            ids.append(ctx.integrations.notifier.send(nik, channel, template, params, idempotency_key=key))
    return {"message_ids": ids}
