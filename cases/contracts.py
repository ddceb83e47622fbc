"""What the case code relies on inside the case processes (checked at every deploy by engine/contracts.py).

Each entry names the code that relies on it. Change a contract together with that code; an administrator's
diagram that breaks one is refused by the editor's "Check and save" and by `tepat deploy`.
"""

from engine.contracts import DEFAULT, ProcessContract, ReasonCatalogue, Step
from forms.reason_codes import REASONS, ReasonCode

from .objections import PROCESS_ID as OBJECTION_PROCESS
from .objections import REVIEW_FORM as OBJECTION_FORM
from .operations import PROCESS_ID as APPLICATION_PROCESS
from .statuses import CLOSED_STATUSES, DECISION_STATUSES, CaseStatus

S = CaseStatus

# The message cases.operations.file_appeal sends to a case waiting in its appeal window.
APPEAL_MESSAGE = "appeal_filed"

APPLICATION = ProcessContract(
    APPLICATION_PROCESS,
    elements={
        # web/taskcontext, web/labels: the officer's review; the queue pages read its flags.
        "review": Step("userTask", form="case_review"),
        # cases.enrolment_check, web/casepages: the supervisor's approval (approval warnings).
        "approve": Step("userTask", form="approval"),
        # cases.listeners.record_task_completed keeps the appeal's outcome from this task.
        "appeal_review": Step("userTask", form="appeal_review"),
        # cases.listeners._apply_status copies these onto the case (decision, reasons, explanation).
        "decide": Step("scriptTask", produces=frozenset({"decision", "reasons", "decided_by"})),
        # cases.operations.file_appeal sends the appeal; web/portal/mycase computes the window's end itself.
        "appeal_received": Step("message", message=APPEAL_MESSAGE),
        "appeal_window_closed": Step("timer"),
    },
    # cases.listeners._apply_status; cases.figures counts them.
    statuses=frozenset({S.SUBMITTED, S.IN_REVIEW_ESCALATED, S.APPEAL_REVIEW, *DECISION_STATUSES, *CLOSED_STATUSES}),
)

RECHECK = ProcessContract(
    "recheck",  # cases.operations.recheck_enrolment, cases.listeners._record_recheck
    elements={
        "removal_review": Step("userTask", form="removal_review"),
        "approve_removal": Step("userTask", form="approval"),
        # cases.listeners._reinstate: who overturned the exit.
        "appeal_review": Step("userTask", form="appeal_review"),
        # cases.listeners._record_recheck keeps the outcome and reasons.
        "decide": Step("scriptTask", produces=frozenset({"recheck_outcome", "reasons"})),
        "exit_appeal_received": Step("message", message=APPEAL_MESSAGE),
        "exit_appeal_window_closed": Step("timer"),
    },
    # cases.listeners._record_recheck: ENROLLED after APPEAL_REVIEW reinstates, REMOVED ends the enrolment.
    statuses=frozenset({S.ENROLLED, S.REMOVAL_REVIEW, S.AWAITING_REMOVAL_APPROVAL, S.REMOVED, S.APPEAL_REVIEW}),
)

GRADUATION = ProcessContract(
    "graduation",  # cases.graduation.start_graduation, cases.listeners._record_graduation
    elements={"confirm_graduation": Step("userTask", form="graduation_confirm")},
    statuses=frozenset({S.GRADUATION_REVIEW, S.ENROLLED, S.GRADUATED}),
)

OBJECTION = ProcessContract(
    OBJECTION_PROCESS,  # cases.objections.record_objection_review reads the verification's outcome
    elements={"verify_objection": Step("userTask", form=OBJECTION_FORM)},
    statuses=frozenset(),  # an objection never sets the case's status (the re-check it starts does)
)


# Any other process (an administrator's new one) may set a case status, but only one of the list.
OTHER_PROCESSES = ProcessContract(DEFAULT, statuses=frozenset(CaseStatus))

# The reason codes a decision table or a script may write, with the texts it must write beside them.
REASON_CATALOGUE = ReasonCatalogue(
    codes=frozenset(c.value for c in ReasonCode),
    texts={code.value: {"id": reason.id, "en": reason.en} for code, reason in REASONS.items()},
)

del S


def case_contracts():
    """The case processes' contracts, for the engine's deploy checks (wired in web.build_services)."""
    return (APPLICATION, RECHECK, GRADUATION, OBJECTION, OTHER_PROCESSES, REASON_CATALOGUE)
