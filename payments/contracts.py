"""What the payment code relies on inside the payment processes (checked at every deploy by engine/contracts.py)."""

from cases.statuses import CaseStatus
from engine.contracts import ProcessContract, Step

from .cycles import PROCESS_ID as CYCLE_PROCESS
from .cycles import REVIEW_PROCESS_ID
from .listeners import STATUS_BY_MILESTONE

PAYMENT_CYCLE = ProcessContract(
    CYCLE_PROCESS,
    elements={
        # payments.listeners.record_cycle_task: the maker and the checker (four eyes).
        "prepare_cycle": Step("userTask", form="cycle_prepare"),
        "approve_cycle": Step("userTask", form="cycle_approval"),
        "dispatch_batches": Step("userTask", form="cycle_dispatch"),
        # payments.results sends it when every batch is reconciled.
        "results_reconciled": Step("message", message="cycle_reconciled"),
        # the undrawn money goes back on the return date (payments.dispatch sets dispatch['return_at']).
        "return_due": Step("timer"),
    },
    # payments.listeners.STATUS_BY_MILESTONE: the cycle status each milestone means.
    statuses=frozenset(STATUS_BY_MILESTONE),
)

PAYMENT_REVIEW = ProcessContract(
    REVIEW_PROCESS_ID,
    elements={"review_payment": Step("userTask", form="payment_review")},
    # cases.listeners._record: a review only suspends the family from cycles and back.
    statuses=frozenset({CaseStatus.PAYMENT_REVIEW, CaseStatus.ENROLLED}),
)


def payment_contracts():
    """The payment processes' contracts, for the engine's deploy checks (wired in web.build_services)."""
    return (PAYMENT_CYCLE, PAYMENT_REVIEW)
