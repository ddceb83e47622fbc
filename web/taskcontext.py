"""What an officer needs beside a task form on the case page: the applicant's appeal (reason and
evidence files) beside the appeal review, the earlier human decisions beside every approval."""

from flask_babel import gettext as _

from cases.decisions import human_decisions, latest_appeal
from cases.portal.files import files_of_case
from engine.db import db
from forms.reason_codes import reason_label

APPEAL_FORMS = ("appeal_review",)
APPROVAL_FORMS = ("approval",)

# How a decision value reads on the officers' pages (msgids; choice labels of the forms).
DECISION_WORDS = {
    "approve": "Approve",
    "reject": "Reject",
    "overturn": "Overturn the decision",
    "uphold": "Uphold the decision",
    "remove": "Remove from the programme",
    "keep": "Keep enrolled",
}


def task_context(app, task):
    """The panel's content for one task of the case: {"appeal": ..., "files": ..., "decisions": ...}."""
    context = {}
    if task.form_name in APPEAL_FORMS + APPROVAL_FORMS:
        appeal = latest_appeal(db.session, app)
        if appeal is not None or task.form_name in APPEAL_FORMS:  # an approval after an appeal shows it too
            context["appeal"] = appeal
            context["files"] = [
                f for f in files_of_case(db.session, app) if appeal is not None and f.appeal_id == appeal.id
            ]
    if task.form_name in APPROVAL_FORMS:
        context["decisions"] = human_decisions(db.session, app.case_number)
    return context


def decision_word(value):
    """The translated word for a decision value."""
    return _(DECISION_WORDS[value]) if value in DECISION_WORDS else (value or "—")


def register(app):
    """Make the panel's helpers available to the templates."""
    app.jinja_env.globals.update(task_context=task_context, reason_label=reason_label, decision_word=decision_word)
