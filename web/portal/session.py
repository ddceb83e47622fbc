"""Who the applicant is: the portal's sign-in state, apart from the officers' Flask-Login session.

Use it in any blueprint (the public pages use it for community objections)::

    from web.portal.session import applicant_required, current_applicant

    @bp.get("/my-village")
    @applicant_required               # not signed in (or expired): redirected to the portal's sign-in
    def my_village():
        applicant = current_applicant()   # an Applicant: nik, name, district_code, village, kk_number
        ...
        record(db.session, applicant.audit_actor, "objection.view", ...)

``current_applicant()`` returns None when nobody is signed in, so it also works on public pages.
An officer's session is never an applicant (and the other way round): signing in as one clears
the other. Sessions end on sign-out, after ``BANSOS_APPLICANT_SESSION_MINUTES`` without a request
and after ``BANSOS_APPLICANT_SESSION_MAX_MINUTES`` in any case.
"""

import functools
import time
from dataclasses import dataclass

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from cases.portal.sessions import applicant_session_for
from engine.db import db
from integrations.nik import mask_nik

TOKEN_KEY = "applicant_token"
SEEN_KEY = "applicant_seen"
# What survives a sign-in or sign-out in the session cookie.
KEPT_KEYS = ("lang",)


@dataclass(frozen=True)
class Applicant:
    """A signed-in applicant, as the civil registry knew them at sign-in."""

    nik: str
    name: str | None
    district_code: str | None
    village: str | None
    kk_number: str | None
    signed_in_at: object

    @property
    def masked_nik(self):
        return mask_nik(self.nik)

    @property
    def audit_actor(self):
        """Who acts, for the audit log and the case timeline (officers see it; the NIK is masked)."""
        return f"applicant:{mask_nik(self.nik)}"


def current_applicant():
    """Return the signed-in Applicant, or None (not signed in, signed out, or expired)."""
    if "tepat_applicant" in g:
        return g.tepat_applicant
    applicant = None
    token = session.get(TOKEN_KEY)
    if token:
        config = current_app.config
        idle = int(config["BANSOS_APPLICANT_SESSION_MINUTES"]) * 60
        seen = session.get(SEEN_KEY) or 0
        row = None
        if time.time() - seen <= idle:
            row = applicant_session_for(db.session, token, int(config["BANSOS_APPLICANT_SESSION_MAX_MINUTES"]))
        if row is None:
            forget_applicant()
            g.tepat_applicant_expired = True
        else:
            session[SEEN_KEY] = int(time.time())
            applicant = Applicant(
                nik=row.nik,
                name=row.name,
                district_code=row.district_code,
                village=row.village,
                kk_number=row.kk_number,
                signed_in_at=row.created_at,
            )
    g.tepat_applicant = applicant
    return applicant


def remember_applicant(token):
    """Start the browser's applicant session (call after the sign-in was verified)."""
    kept = {k: session[k] for k in KEPT_KEYS if k in session}
    session.clear()  # no session fixation, and no officer left signed in beside the applicant
    session.update(kept)
    session.permanent = True
    session[TOKEN_KEY] = token
    session[SEEN_KEY] = int(time.time())
    g.pop("tepat_applicant", None)


def forget_applicant():
    """Drop the applicant from the browser's session; return the token it held."""
    token = session.pop(TOKEN_KEY, None)
    session.pop(SEEN_KEY, None)
    g.pop("tepat_applicant", None)
    return token


def applicant_required(view):
    """Allow the view only to a signed-in applicant; others go to the portal's sign-in page."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_applicant() is None:
            if g.get("tepat_applicant_expired"):
                flash(_("Your session has ended. Please sign in again."), "warning")
            return redirect(url_for("portal.index", next=request.path))
        return view(*args, **kwargs)

    return wrapped
