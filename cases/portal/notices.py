"""Messages to applicants about their case: by SMS and in the portal inbox, through the notifier."""
import logging

from integrations.base import TransientIntegrationError

log = logging.getLogger(__name__)
NOTICE_CHANNELS = ("SMS", "PORTAL")
PORTAL = "PORTAL"


def notify_applicant(notifier, nik, template, params, channels=NOTICE_CHANNELS):
    """Send a templated message on each channel; return the message ids of those that went.

    A channel that is down does not undo what the applicant did: the portal shows the case anyway.
    """
    sent = []
    for channel in channels:
        try:
            sent.append(notifier.send(nik, channel, template, params))
        except TransientIntegrationError as exc:
            log.warning("notice %s by %s not sent: %s", template, channel, exc)
    return sent


def portal_notices(notifier, nik):
    """Return the person's portal messages, newest first."""
    return [m for m in reversed(notifier.outbox(nik)) if m["channel"] == PORTAL]


def notify_enrolment(engine, runtime):
    """Tell the applicant their application was approved (the diagram itself notifies rejections)."""
    if runtime.instance.version.process_id != "application":
        return
    if not any(e["kind"] == "milestone" and e.get("status") == "ENROLLED" for e in runtime.journal):
        return
    nik = (runtime.current_data or {}).get("nik")
    notifier = getattr(getattr(engine.script_engine, "integrations", None), "notifier", None)
    if nik and notifier is not None:  # engines built without outside systems (tests, tools) send nothing
        notify_applicant(notifier, nik, "decision_enrolled", {"case_number": runtime.instance.business_key})


def connect():
    """Send the portal's own notices on the engine's signals (idempotent)."""
    from engine import signals

    signals.instance_saved.connect(notify_enrolment)
