"""Messages to applicants about their case: by SMS and in the portal inbox, through the notifier."""

import logging

from integrations.base import TransientIntegrationError
from integrations.notify import APPLICANT_CHANNELS, NoticeChannel

log = logging.getLogger(__name__)
NOTICE_CHANNELS = APPLICANT_CHANNELS
PORTAL = NoticeChannel.PORTAL.value


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
