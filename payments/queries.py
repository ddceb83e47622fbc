"""Read-only views of payment cycles for pages: lists, a family's payments, progress."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from cases.models import Application, Enrolment
from integrations.payments import PaymentChannel

from .models import (
    CycleMember,
    CycleStatus,
    Entitlement,
    Payment,
    PaymentBatch,
    PaymentCycle,
    PaymentResultImport,
    PaymentStatus,
)

# The steps of a cycle as its page shows them, in order.
PROGRESS = tuple(s for s in CycleStatus if s is not CycleStatus.CANCELLED)


@dataclass(frozen=True)
class FamilyPayment:
    cycle_code: str
    programme: str
    months: str
    amount: int
    channel: str
    status: str
    result_code: str | None
    next_action: str | None
    date: object  # when the status was reached (result, draw, return) or the SP2D date
    arrears: int = 0  # the part of the amount that pays missed stages of an overturned appeal (rapel)
    # Paid at enrolment, outside any cycle (the older path, before the cycles paid every family): cycle_code is
    # then the disbursement reference, and the amount the enrolment's first payment.
    at_enrolment: bool = False


def cycles(session):
    """Every cycle, newest first."""
    return session.execute(select(PaymentCycle).order_by(PaymentCycle.id.desc())).scalars().all()


def batches_of(session, cycle_id):
    return (
        session.execute(select(PaymentBatch).where(PaymentBatch.cycle_id == cycle_id).order_by(PaymentBatch.channel))
        .scalars()
        .all()
    )


def imports_of(session, cycle_id, limit=50):
    return (
        session.execute(
            select(PaymentResultImport)
            .join(PaymentBatch, PaymentBatch.id == PaymentResultImport.batch_id)
            .where(PaymentBatch.cycle_id == cycle_id)
            .order_by(PaymentResultImport.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def _family_payments(session, where):
    query = (
        select(
            PaymentCycle.code,
            PaymentCycle.programme,
            PaymentCycle.months,
            Payment.amount,
            Payment.channel,
            Payment.status,
            Payment.result_code,
            Payment.next_action,
            func.coalesce(Payment.returned_at, Payment.drawn_at, Payment.result_at, PaymentCycle.sp2d_at),
            select(func.coalesce(func.sum(Entitlement.amount), 0))
            .where(Entitlement.member_id == Payment.member_id, Entitlement.category.startswith("rapel:"))
            .scalar_subquery(),
        )
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .join(PaymentCycle, PaymentCycle.id == Payment.cycle_id)
        .where(where, Payment.status != PaymentStatus.PLANNED)
        .order_by(PaymentCycle.id.desc(), Payment.attempt.desc())
    )
    return [FamilyPayment(*row) for row in session.execute(query)]


def _paid_at_enrolment(session, where):
    """The first stages paid at enrolment by the older path (Enrolment.disbursement_ref), as FamilyPayments."""
    query = (
        select(
            Enrolment.disbursement_ref,
            Enrolment.programmes,
            Enrolment.benefits,
            Enrolment.enrolled_at,
            Application.payment_channel,
        )
        .join(Application, Application.id == Enrolment.application_id)
        .where(where, Enrolment.disbursement_ref.is_not(None))
        .order_by(Enrolment.id.desc())
    )
    out = []
    for reference, programmes, benefits, enrolled_at, channel in session.execute(query):
        cash = [p for p in programmes or [] if p != "PBI"]
        out.append(
            FamilyPayment(
                reference,
                ", ".join(cash),
                "",
                int((benefits or {}).get("first_payment") or 0),
                channel or PaymentChannel.POS.value,
                "sent",
                None,
                None,
                enrolled_at,
                at_enrolment=True,
            )
        )
    return out


def payments_of_application(session, application_id):
    """A case's payments in every cycle (sent or later), newest first; then a first stage paid at enrolment."""
    return _family_payments(session, CycleMember.application_id == application_id) + _paid_at_enrolment(
        session, Enrolment.application_id == application_id
    )


def payments_of_nik(session, nik):
    """The payments of the family whose applicant has this NIK (the portal), newest first."""
    return _family_payments(session, CycleMember.nik == nik) + _paid_at_enrolment(session, Enrolment.nik == nik)


@dataclass(frozen=True)
class ExpectedPayment:
    """The stage expected to pay an enrolled family first (its payment plan), until a cycle has paid it."""

    programme: str
    cycle_code: str
    first_month: date
    last_month: date
    cut_off: date
    estimated: int
    supplementary: bool


def _month(text):
    year, month = (int(x) for x in text.split("-")[:2])
    return date(year, month, 1)


def expected_first_payments(session, application_id):
    """The payment plan's first stages of a family still enrolled, for the programmes no cycle has paid it yet."""
    enrolment = session.execute(
        select(Enrolment).where(Enrolment.application_id == application_id, Enrolment.ended_at.is_(None))
    ).scalar_one_or_none()
    plan = (enrolment.payment_plan if enrolment is not None else None) or {}
    if not plan.get("cycles"):
        return []
    paid = set(
        session.execute(
            select(PaymentCycle.programme)
            .join(Payment, Payment.cycle_id == PaymentCycle.id)
            .join(CycleMember, CycleMember.id == Payment.member_id)
            .where(CycleMember.application_id == application_id, Payment.status != PaymentStatus.PLANNED)
        ).scalars()
    )
    return [
        ExpectedPayment(
            c["programme"],
            c["cycle"],
            _month(c["months"][0]),
            _month(c["months"][-1]),
            date.fromisoformat(c["cut_off"]),
            int(c.get("estimated") or 0),
            bool(c.get("supplementary")),
        )
        for c in plan["cycles"]
        if c["programme"] not in paid and c.get("months")
    ]
