"""Read-only views of payment cycles for pages: lists, a family's payments, progress."""
from dataclasses import dataclass

from sqlalchemy import func, select

from .models import CycleMember, Entitlement, Payment, PaymentBatch, PaymentCycle, PaymentResultImport

# The steps of a cycle as its page shows them, in order.
PROGRESS = ("open", "frozen", "entitled", "approved", "dispatched", "reconciled", "closed")


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


def cycles(session):
    """Every cycle, newest first."""
    return session.execute(select(PaymentCycle).order_by(PaymentCycle.id.desc())).scalars().all()


def batches_of(session, cycle_id):
    return session.execute(select(PaymentBatch).where(PaymentBatch.cycle_id == cycle_id)
                           .order_by(PaymentBatch.channel)).scalars().all()


def imports_of(session, cycle_id, limit=50):
    return session.execute(select(PaymentResultImport).join(PaymentBatch, PaymentBatch.id == PaymentResultImport.batch_id)
                           .where(PaymentBatch.cycle_id == cycle_id)
                           .order_by(PaymentResultImport.id.desc()).limit(limit)).scalars().all()


def _family_payments(session, where):
    query = (select(PaymentCycle.code, PaymentCycle.programme, PaymentCycle.months, Payment.amount, Payment.channel,
                    Payment.status, Payment.result_code, Payment.next_action,
                    func.coalesce(Payment.returned_at, Payment.drawn_at, Payment.result_at, PaymentCycle.sp2d_at),
                    select(func.coalesce(func.sum(Entitlement.amount), 0))
                    .where(Entitlement.member_id == Payment.member_id, Entitlement.category.startswith("rapel:"))
                    .scalar_subquery())
             .join(CycleMember, CycleMember.id == Payment.member_id)
             .join(PaymentCycle, PaymentCycle.id == Payment.cycle_id)
             .where(where, Payment.status != "planned")
             .order_by(PaymentCycle.id.desc(), Payment.attempt.desc()))
    return [FamilyPayment(*row) for row in session.execute(query)]


def payments_of_application(session, application_id):
    """A case's payments in every cycle (sent or later), newest first."""
    return _family_payments(session, CycleMember.application_id == application_id)


def payments_of_nik(session, nik):
    """The payments of the family whose applicant has this NIK (the portal), newest first."""
    return _family_payments(session, CycleMember.nik == nik)
