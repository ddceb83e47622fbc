"""Messages to applicants: SMS, e-mail and the portal inbox."""
from __future__ import annotations

from abc import ABC, abstractmethod

NOTIFY_CHANNELS = ("SMS", "EMAIL", "PORTAL")


class Notifier(ABC):
    """Sends templated messages to a person identified by NIK.

    Contract for every implementation:
    - ``send`` queues one message and returns its message id (a string); ``template`` is a template
      name (rendering and translation happen at the provider or the portal), ``params`` a JSON-able
      dict. A bad channel or parameters raise ``ValueError``; a bad NIK raises ``NikInvalid``.
    - ``outbox(recipient_nik)`` lists the messages sent to that person, oldest first, as dicts
      ``{message_id, recipient_nik, channel, template, params, sent_at}``.
    - Source trouble raises a ``TransientIntegrationError`` subclass.
    - Implementations never commit a database transaction; they may flush.
    """

    source = "notify"

    @abstractmethod
    def send(self, recipient_nik: str, channel: str, template: str, params: dict) -> str:
        """Send one templated message and return its id."""

    @abstractmethod
    def outbox(self, recipient_nik: str) -> list[dict]:
        """Return the messages sent to this person, oldest first."""
