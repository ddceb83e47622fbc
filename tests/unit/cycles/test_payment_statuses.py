"""Payment cycles' named values: each status is defined once (payments.models) and every screen has its label."""

from payments.listeners import STATUS_BY_MILESTONE
from payments.models import (
    BATCH_STATUSES,
    CYCLE_STATUSES,
    PAYMENT_STATUSES,
    BatchStatus,
    CycleStatus,
    PaymentStatus,
    ResultImportStatus,
)
from payments.queries import PROGRESS
from web.cycles import BATCH_STATUS_TEXTS, PAYMENT_STATUS_TEXTS, STATUS_TEXTS
from web.portal.texts import PAYMENT_STATUS_TEXTS as APPLICANT_PAYMENT_TEXTS


def test_the_stored_values_are_the_strings_the_database_holds():
    # No migration: the enums' values are the strings written before they existed.
    assert CYCLE_STATUSES == (
        "open",
        "frozen",
        "entitled",
        "approved",
        "dispatched",
        "reconciled",
        "closed",
        "cancelled",
    )
    assert PAYMENT_STATUSES == ("planned", "sent", "credited", "failed", "drawn", "returned")
    assert BATCH_STATUSES == ("ready", "dispatched", "partial", "reconciled")
    assert {s.value for s in ResultImportStatus} == {"received", "importing", "applied", "refused"}


def test_every_status_has_its_label_on_the_officers_pages():
    assert set(STATUS_TEXTS) == set(CycleStatus)
    assert set(PAYMENT_STATUS_TEXTS) == set(PaymentStatus)
    assert set(BATCH_STATUS_TEXTS) == set(BatchStatus)
    # a planned payment is not shown to the family; every other one is, in its own words
    assert set(APPLICANT_PAYMENT_TEXTS) == set(PaymentStatus) - {PaymentStatus.PLANNED}


def test_the_diagrams_milestones_mean_cycle_statuses_and_the_progress_follows_the_enum():
    assert set(STATUS_BY_MILESTONE.values()) <= set(CycleStatus)
    assert set(STATUS_BY_MILESTONE.values()) == set(CycleStatus) - {CycleStatus.OPEN}  # open is set when opened
    assert PROGRESS == tuple(s for s in CycleStatus if s is not CycleStatus.CANCELLED)
    assert PROGRESS[0] is CycleStatus.OPEN and PROGRESS[-1] is CycleStatus.CLOSED
