"""Paying banks (Himbara) and the post office: disbursement requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from integrations.base import Evidence


class PaymentChannel(StrEnum):
    """Who pays a family (Application.payment_channel, a payment's channel): the one list, used by the forms,
    the API, the CLI, the cycles, the dispatch settings and the portal."""

    BRI = "BRI"
    BNI = "BNI"
    MANDIRI = "MANDIRI"
    BTN = "BTN"
    BSI = "BSI"  # Bank Syariah Indonesia: the paying bank in Aceh (Qanun Aceh 11/2018), domain.md
    POS = "POS"


# Each channel's label (English msgid where it needs translating; bank names are not translated).
CHANNEL_LABELS = {
    PaymentChannel.BRI: "Bank BRI",
    PaymentChannel.BNI: "Bank BNI",
    PaymentChannel.MANDIRI: "Bank Mandiri",
    PaymentChannel.BTN: "Bank BTN",
    PaymentChannel.BSI: "Bank Syariah Indonesia (BSI)",
    PaymentChannel.POS: "PT Pos Indonesia (cash at the post office)",
}
CHANNELS = tuple(c.value for c in PaymentChannel)
BANK_CHANNELS = tuple(c.value for c in PaymentChannel if c is not PaymentChannel.POS)
# The post office pays out in cash (community pay-outs, home delivery): no account needed.
CHANNELS_WITHOUT_ACCOUNT = frozenset({PaymentChannel.POS.value})


@dataclass(frozen=True)
class DisbursementReceipt:
    """The provider's acknowledgement of one disbursement request."""

    reference: str
    status: str  # 'ACCEPTED'
    provider_ref: str
    evidence: Evidence | None = None


class PaymentGateway(ABC):
    """Sends disbursement requests to a paying bank or the post office.

    Contract for every implementation:
    - ``request_disbursement`` is idempotent by ``reference``: asking again with the same reference
      returns the first receipt and never pays twice. Reusing a reference for a different NIK, amount,
      channel or account raises ``DisbursementConflict``.
    - ``amount`` is a positive integer number of rupiah; ``channel`` is one of ``CHANNELS``; bank
      channels need an ``account``. Bad arguments raise ``ValueError``; a bad NIK raises ``NikInvalid``.
    - Source trouble raises a ``TransientIntegrationError`` subclass; retrying with the same
      reference is always safe.
    - Implementations never commit a database transaction, and never flush the caller's session.
    """

    source = "payments"

    @abstractmethod
    def request_disbursement(
        self, reference: str, nik: str, amount: int, channel: str, account: str | None
    ) -> DisbursementReceipt:
        """Ask the provider to pay ``amount`` rupiah to this person; return its receipt."""


def check_disbursement(reference, amount, channel, account) -> None:
    """Refuse a disbursement whose arguments break the contract (every implementation applies this)."""
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("A disbursement needs a non-empty reference.")
    if len(reference) > 100:
        raise ValueError("A disbursement reference has at most 100 characters.")
    # bool is an int in Python; a True amount is a bug, not one rupiah.
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("The amount must be a positive integer number of rupiah.")
    if channel not in CHANNELS:
        raise ValueError(f"Unknown payment channel {channel!r}; use one of {CHANNELS}.")
    if channel not in CHANNELS_WITHOUT_ACCOUNT and not account:
        raise ValueError(f"Channel {channel} pays into an account; give the account number.")
