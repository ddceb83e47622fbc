"""Appeals filed in the portal: only within the window, with the evidence files attached before."""

from engine.db import utcnow

from ..operations import AppealNotAllowed, file_appeal
from ..statuses import CaseStatus
from .casefile import appeal_deadline
from .files import pending_files


class AppealWindowClosed(AppealNotAllowed):
    code = "APPEAL_WINDOW_CLOSED"


def file_portal_appeal(engine, app, reason, window, actor):
    """File the applicant's appeal with the files attached so far; refused outside the window."""
    if app.status in (CaseStatus.REJECTED, CaseStatus.REMOVED):
        deadline = appeal_deadline(engine.session, app, window)
        # The scheduler may not have closed the window yet: the deadline, not the status, decides.
        if deadline is None or utcnow() > deadline:
            raise AppealWindowClosed(
                f"the appeal window of {app.case_number} has closed",
                deadline=deadline.isoformat() if deadline else None,
            )
    files = pending_files(engine.session, app)
    appeal = file_appeal(
        engine, app.case_number, {"reason": reason, "evidence_refs": [f.key for f in files]}, actor=actor
    )
    for row in files:
        row.appeal_id = appeal.id
    return appeal
