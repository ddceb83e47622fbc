"""Case search for officers: exact NIK or family-card number, case number, or name prefix.

Limited to the officer's districts; every search is audited like a view of personal data (the kind
of query, the NIK masked, the number of results and the case numbers shown). The forms POST the
query, so a NIK never lands in an address bar, browser history or access log; GET ?q= works too (links).
"""

from flask import Blueprint, make_response, render_template, request
from flask_login import current_user

from cases.audit import record
from cases.search import COUNT_CAP, PER_PAGE, audit_detail, parse, search_cases
from engine.db import db, unit_of_work
from integrations.nik import mask_nik

from .auth import roles_required
from .casepages import READERS

bp = Blueprint("search", __name__)


def _page_number():
    try:
        return min(max(1, int(request.values.get("page", "1"))), 10_000)
    except ValueError:
        return 1


@bp.route("/search", methods=["GET", "POST"])
@roles_required(*READERS)
def index():
    """Search the cases of the officer's districts (every search audited)."""
    text = request.values.get("q", "")[:200]
    if not text.strip():
        return render_template("search.html", q="", query=None, results=None, mask_nik=mask_nik)
    query = parse(text)
    results = search_cases(db.session, current_user.actor.regions, query, _page_number())
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "case.search",
            target_type="search",
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail=audit_detail(query, results),
        )
    response = make_response(
        render_template("search.html", q=text, query=query, results=results, per_page=PER_PAGE, mask_nik=mask_nik)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/search/export.xlsx")
@roles_required(*READERS)
def export():
    """Every result of a search (up to the search's cap) as Excel, NIKs masked as on the page (audited).

    POST, like the search: a NIK typed never lands in an address."""
    from flask import abort
    from flask_babel import gettext as _

    from .exports import xlsx_export
    from .labels import district_label, status_label, village_label

    query = parse(request.form.get("q", "")[:200])
    if query.kind not in ("nik", "case", "name"):
        abort(400)
    results = search_cases(db.session, current_user.actor.regions, query, 1, per_page=COUNT_CAP)
    detail = audit_detail(query, results)
    rows = [
        [
            c.case_number,
            c.applicant_name or "",
            mask_nik(c.nik),
            village_label(c.village),
            district_label(c.district_code, c.district_name),
            status_label(c.status),
            c.created_at,
        ]
        for c in results.rows
    ]
    headers = [_("Case"), _("Name"), "NIK", _("Village"), _("District"), _("Status"), _("Submitted")]
    return xlsx_export(
        "search",
        _("Cases found"),
        headers,
        rows,
        filters={"kind": query.kind, "query": detail["query"]},
        extra={"cases": detail["cases"], "more": results.capped},
    )
