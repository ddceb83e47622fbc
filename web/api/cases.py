"""Cases: the list of the caller's districts, one case with its decision and timeline, its diagram."""

from flask import request
from flask_smorest import Blueprint

from cases.audit import record
from cases.operations import CaseNotFound, case_diagram, case_or_404
from cases.queries import case_records, list_cases
from cases.search import PER_PAGE, audit_detail, parse, search_cases
from engine.db import db
from engine.scope import in_scope

from .. import services
from ..casepages import READERS
from . import API_PREFIX, documented_errors
from .auth import api_roles_required, caller, refuse_out_of_scope
from .errors import api_abort, register_json_errors
from .present import case_decisions_out, case_detail_out
from .schemas import (
    CaseDetailSchema,
    CaseListQuery,
    CasePageSchema,
    CaseSearchResultSchema,
    CaseSearchSchema,
    DiagramSchema,
)

bp = Blueprint(
    "api_cases",
    __name__,
    url_prefix=f"{API_PREFIX}/cases",
    description="Cases (applications) of the caller's districts.",
)
register_json_errors(bp)


def case_for_caller_or_404(case_number):
    """Return the case if the caller may see it (its district), else answer 404."""
    try:
        app = case_or_404(db.session, case_number)
    except CaseNotFound:
        api_abort(404, "CASE_NOT_FOUND")
    if not in_scope(caller().actor, app.district_code):
        refuse_out_of_scope("case", case_number)
        api_abort(404, "CASE_NOT_FOUND")  # another district's case: do not even confirm it exists
    return app


@bp.route("")
@api_roles_required(*READERS)
@bp.arguments(CaseListQuery, location="query")
@bp.response(200, CasePageSchema)
@documented_errors(bp, 401, 403)
def index(query):
    """List cases of the caller's districts, newest first.

    Filter by status and district; a district outside the caller's gives an empty list.
    """
    page = list_cases(db.session, caller().actor.regions, **query)
    return {"items": page.rows, "total": page.total, "page": page.page, "pages": page.pages, "per_page": page.per_page}


@bp.route("/search", methods=["POST"])
@api_roles_required(*READERS)
@bp.arguments(CaseSearchSchema)
@bp.response(200, CaseSearchResultSchema)
@documented_errors(bp, 401, 403)
def search(body):
    """Find cases of the caller's districts by NIK or family-card number, case number or name prefix.

    The same search as the officers' /search page; each call is written to the audit log (the NIK masked).
    """
    query = parse(body["q"])
    results = search_cases(db.session, caller().actor.regions, query, body["page"])
    who = caller()
    record(
        db.session,
        who.actor,
        "case.search",
        target_type="search",
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=who.audit_detail(**audit_detail(query, results)),
    )
    return {
        "kind": query.kind,
        "more": results.capped,
        "items": results.rows,
        "total": results.total,
        "page": results.page,
        "pages": results.pages,
        "per_page": PER_PAGE,
    }


@bp.route("/<case_number>")
@api_roles_required(*READERS)
@bp.response(200, CaseDetailSchema)
@documented_errors(bp, 401, 403, 404)
def show(case_number):
    """Show a case: applicant (NIK masked), household, decision, reasons, explanation, timeline, evidence.

    Each call is a view of personal data and is written to the audit log, as on the case page.
    """
    app = case_for_caller_or_404(case_number)
    shown = case_detail_out(app, case_records(db.session, app, caller().actor))
    shown.update(case_decisions_out(app))
    who = caller()
    record(
        db.session,
        who.actor,
        "case.view",
        target_type="case",
        target_id=app.case_number,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=who.audit_detail(),
    )
    return shown


@bp.route("/<case_number>/diagram")
@api_roles_required(*READERS)
@bp.response(200, DiagramSchema)
@documented_errors(bp, 401, 403, 404)
def diagram(case_number):
    """The BPMN diagram of the case's process and where the case stands in it (for the bpmn-js viewer)."""
    app = case_for_caller_or_404(case_number)
    try:
        return case_diagram(services().engine, app)
    except CaseNotFound:
        api_abort(404, "CASE_NOT_FOUND")
