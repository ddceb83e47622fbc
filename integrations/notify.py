"""Messages to applicants: SMS, e-mail and the portal inbox."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from enum import StrEnum

from integrations.nik import validate_nik


class NoticeChannel(StrEnum):
    """How a message reaches an applicant."""

    SMS = "SMS"
    EMAIL = "EMAIL"
    PORTAL = "PORTAL"


NOTIFY_CHANNELS = tuple(c.value for c in NoticeChannel)
# What a notice about the applicant's case or payments goes by (cases/portal/notices.py, tasks/).
APPLICANT_CHANNELS = (NoticeChannel.SMS.value, NoticeChannel.PORTAL.value)


class Notifier(ABC):
    """Sends templated messages to a person identified by NIK.

    Contract for every implementation:
    - ``send`` queues one message and returns its message id (a string); ``template`` is a template
      name (rendering and translation happen at the provider or the portal), ``params`` a JSON-able
      dict. A bad channel or parameters raise ``ValueError``; a bad NIK raises ``NikInvalid``.
    - ``outbox(recipient_nik)`` lists the messages sent to that person, oldest first, as dicts
      ``{message_id, recipient_nik, channel, template, params, sent_at}``.
    - Source trouble raises a ``TransientIntegrationError`` subclass.
    - ``idempotency_key`` (optional): a second ``send`` with the same key sends nothing and returns
      the first message's id. The engine derives it from the instance and the step, so a step run
      again after a crash never notifies twice.
    - Implementations never commit a database transaction, and never flush the caller's session.
    """

    source = "notify"

    @abstractmethod
    def send(
        self, recipient_nik: str, channel: str, template: str, params: dict, idempotency_key: str | None = None
    ) -> str:
        """Send one templated message and return its id."""

    def send_many(self, messages: list[tuple]) -> list[str]:
        """Send [(recipient_nik, channel, template, params, idempotency_key)] as ``send`` sends each; return
        their ids in order. Implementations may send them in bulk (the sandbox: one statement)."""
        return [
            self.send(nik, channel, template, params, idempotency_key=key)
            for nik, channel, template, params, key in messages
        ]

    @abstractmethod
    def outbox(self, recipient_nik: str) -> list[dict]:
        """Return the messages sent to this person, oldest first."""

    @staticmethod
    def checked_head(channel, template):
        """Validate a message's channel and template (part of `checked`)."""
        if channel not in NOTIFY_CHANNELS:
            raise ValueError(f"Unknown channel {channel!r}; use one of {NOTIFY_CHANNELS}.")
        if not isinstance(template, str) or not template.strip():
            raise ValueError("A message needs a template name.")

    @staticmethod
    def checked(recipient_nik, channel, template, params):
        """Validate a message's arguments as every implementation must; return (nik, JSON round-tripped params)."""
        recipient_nik = validate_nik(recipient_nik)
        Notifier.checked_head(channel, template)
        if not isinstance(params, dict):
            raise ValueError("Message parameters must be a dict.")
        try:
            # Round-trip so what is kept is exactly what a JSON API would have received.
            return recipient_nik, json.loads(json.dumps(params))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Message parameters must be JSON-able: {exc}") from exc
