"""E-mail to officers: a sandbox outbox (a table) or an SMTP server, chosen by BANSOS_MAIL_BACKEND."""

from __future__ import annotations

import hashlib
import re
import smtplib
from abc import ABC, abstractmethod
from email.message import EmailMessage

from sqlalchemy import bindparam, insert, select

from integrations.sandbox import tables as t
from integrations.sandbox.common import SandboxAdapter, as_utc

MAIL_BACKENDS = ("sandbox", "smtp")


class OfficerMailer(ABC):
    """Sends one plain-text e-mail to an officer.

    Contract: ``send(to, subject, body, idempotency_key)`` returns a message id; a second send with
    the same key sends nothing (the sandbox) or carries the same Message-ID (SMTP, so a receiving
    server or client drops the duplicate). Implementations never commit the caller's transaction.
    Source trouble raises OSError (smtplib's errors are OSErrors too).
    """

    @abstractmethod
    def send(self, to: str, subject: str, body: str, idempotency_key: str) -> str:
        """Send one message and return its id."""

    @staticmethod
    def checked(to, subject, body):
        if not isinstance(to, str) or "@" not in to or len(to) > 254 or any(c in to for c in "\r\n,;"):
            raise ValueError(f"not a single e-mail address: {to!r}")
        if any(c in subject for c in "\r\n"):
            raise ValueError("a subject is one line")
        return to.strip(), subject[:300], body


_MAIL_BY_KEY = select(t.mail_outbox.c.id).where(t.mail_outbox.c.idempotency_key == bindparam("key"))


class SandboxMailer(SandboxAdapter, OfficerMailer):
    """Keeps every message in ``sandbox_mail_outbox`` (demos and tests read it there)."""

    source = "mail"

    def send(self, to, subject, body, idempotency_key):
        to, subject, body = self.checked(to, subject, body)
        known = self._session.execute(_MAIL_BY_KEY, {"key": idempotency_key}).scalar()
        if known is not None:
            return str(known)
        result = self._session.execute(
            insert(t.mail_outbox).values(
                to_address=to, subject=subject, body=body, sent_at=self._clock(), idempotency_key=idempotency_key
            )
        )
        return str(result.inserted_primary_key[0])

    def outbox(self, to):
        """The messages sent to this address, oldest first."""
        rows = self._session.execute(
            select(t.mail_outbox).where(t.mail_outbox.c.to_address == to).order_by(t.mail_outbox.c.id)
        ).all()
        return [
            {
                "id": r.id,
                "to": r.to_address,
                "subject": r.subject,
                "body": r.body,
                "sent_at": as_utc(r.sent_at),
                "key": r.idempotency_key,
            }
            for r in rows
        ]


def message_id(key, sender):
    """The Message-ID of the message sent under `key`: the same for every resend of it."""
    digest = hashlib.sha256(f"{sender}\n{key}".encode()).hexdigest()[:24]
    domain = sender.rpartition("@")[2] or "tepat"
    return f"<{re.sub(r'[^A-Za-z0-9.-]', '.', key)[:60]}.{digest}@{domain}>"


class SmtpMailer(OfficerMailer):
    """Sends through an SMTP server (STARTTLS and login when configured)."""

    def __init__(self, host, port, sender, user="", password="", starttls=True, timeout=20, smtp=smtplib.SMTP):
        self.host, self.port, self.sender = host, int(port), sender
        self.user, self.password, self.starttls, self.timeout, self._smtp = user, password, starttls, timeout, smtp

    def send(self, to, subject, body, idempotency_key):
        to, subject, body = self.checked(to, subject, body)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        # The same key gives the same Message-ID: a resend after a crash is a recognisable duplicate.
        message["Message-ID"] = message_id(idempotency_key, self.sender)
        message.set_content(body)
        with self._smtp(self.host, self.port, timeout=self.timeout) as server:
            if self.starttls:
                server.starttls()
            if self.user:
                server.login(self.user, self.password)
            server.send_message(message)
        return message["Message-ID"]


def build_mailer(settings, session_factory):
    """The mailer BANSOS_MAIL_BACKEND names."""
    backend = settings.get("BANSOS_MAIL_BACKEND", "sandbox")
    if backend == "sandbox":
        return SandboxMailer(session_factory)
    if backend == "smtp":
        return SmtpMailer(
            settings.get("BANSOS_SMTP_HOST", "localhost"),
            settings.get("BANSOS_SMTP_PORT", 587),
            settings.get("BANSOS_MAIL_FROM", "tepat@localhost"),
            settings.get("BANSOS_SMTP_USER", ""),
            settings.get("BANSOS_SMTP_PASSWORD", ""),
            settings.get("BANSOS_SMTP_STARTTLS", True),
        )
    raise ValueError(f"BANSOS_MAIL_BACKEND={backend!r} is not available; use one of {MAIL_BACKENDS}.")
