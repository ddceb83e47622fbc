"""An officer's notifications: the unread count in the menu, the list, marking them read."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from cases.notifications import describe, mark_read, notifications_of, unread_count
from engine.db import db, unit_of_work

from .inbox import task_page
from .labels import district_label, task_label

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def index():
    """The signed-in officer's notifications, unread first."""
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    rows, has_more = notifications_of(db.session, current_user.actor.id, page)
    items = [(n, describe(n, task_label, district_label)) for n in rows]
    return render_template("notifications.html", items=items, page=page, has_more=has_more, task_page=task_page)


@bp.post("/notifications/read")
@login_required
def read():
    """Mark one (``id``) or every notification of the officer read; another officer's are untouched."""
    raw = request.form.get("id", "")
    ids = [int(raw)] if raw.isdigit() and len(raw) <= 12 else None
    if raw and ids is None:
        flash(_("That notification does not exist."), "danger")
        return redirect(url_for("notifications.index"))
    with unit_of_work(db.session):
        count = mark_read(db.session, current_user.actor.id, ids)
    if ids is None:
        flash(_("%(n)d notification(s) marked as read.", n=count), "success")
    return redirect(url_for("notifications.index"))


def register(app):
    """The blueprint, and `unread_notifications()` for the menu badge (one indexed count)."""
    app.register_blueprint(bp)

    def unread_notifications():
        if not getattr(current_user, "is_authenticated", False) or not hasattr(current_user, "actor"):
            return 0
        try:
            return unread_count(db.session, current_user.actor.id)
        except SQLAlchemyError:  # an error page after a failed transaction: the badge is not worth a second error
            return 0

    app.jinja_env.globals["unread_notifications"] = unread_notifications
