"""The applicant portal: sign-in with the digital ID, registration, my case, appeals; and the
facilitators' assisted registration. `current_applicant` / `applicant_required` are in .session."""

from datetime import datetime

from flask import Blueprint, render_template, request
from flask_babel import format_decimal

bp = Blueprint("portal", __name__, url_prefix="/portal")


def too_large(exc):
    """An upload refused unread for its announced size (web/portal/uploads.py HARD_LIMIT)."""
    return render_template("portal/too_large.html", back=request.path), 413


bp.register_error_handler(413, too_large)


def rupiah(amount):
    """Format an integer number of rupiah for the current language (Rp 3.000.000 / Rp 3,000,000)."""
    return f"Rp {format_decimal(int(amount or 0))}"


def register(app):
    """Register the portal's blueprints, template helpers, and the CSRF exemptions of upload views.

    Upload views read their body with limits first and check the CSRF token themselves
    (web/portal/uploads.py); the sandbox provider's token endpoint authenticates the client instead.
    """
    from cases.portal.files import files_of_case
    from engine.db import db

    from .. import csrf
    from . import appeal, apply, assist, evidence, graduation, idp_pages, mycase, signin  # noqa: F401  (routes on bp)
    from .session import current_applicant

    for view in (
        idp_pages.token,
        apply.apply_photo,
        apply.apply_photo_check,
        appeal.appeal_send,
        assist.photo,
        assist.photo_check,
    ):
        csrf.exempt(view)
    app.jinja_env.globals["current_applicant"] = current_applicant
    app.jinja_env.globals["appeal_files_of"] = lambda case: files_of_case(db.session, case)
    app.jinja_env.filters["rupiah"] = rupiah
    app.jinja_env.filters["fromiso"] = datetime.fromisoformat
    for blueprint in (bp, idp_pages.bp, evidence.bp, assist.bp):
        app.register_blueprint(blueprint)
