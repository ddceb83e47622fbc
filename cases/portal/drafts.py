"""Registration drafts: an application filled in step by step, kept on the server until submitted."""

import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine.db import open_transaction, utcnow

from ..models import Application
from ..operations import CaseError, DuplicateApplication, submit_application
from .models import RegistrationDraft

STEPS = ("consent", "household", "payment", "photo", "review")
SELF = "self"


class DraftIncomplete(CaseError):
    code = "DRAFT_INCOMPLETE"


def open_case_of(session, nik):
    """Return the person's open (or enrolled) case, or None."""
    return session.execute(select(Application).where(Application.active_nik == nik)).scalar_one_or_none()


def draft_of(session, nik, owner=SELF):
    """Return the draft of this person kept by `owner`, or None."""
    return session.execute(
        select(RegistrationDraft).where(RegistrationDraft.nik == nik, RegistrationDraft.owner == owner)
    ).scalar_one_or_none()


def draft_by_key(session, key, owner):
    """Return the draft with this handle if `owner` keeps it, else None."""
    return session.execute(
        select(RegistrationDraft).where(RegistrationDraft.key == str(key)[:32], RegistrationDraft.owner == owner)
    ).scalar_one_or_none()


def drafts_kept_by(session, owner):
    """Return the drafts `owner` keeps, most recently changed first."""
    return (
        session.execute(
            select(RegistrationDraft)
            .where(RegistrationDraft.owner == owner)
            .order_by(RegistrationDraft.updated_at.desc())
        )
        .scalars()
        .all()
    )


def start_draft(session, nik, owner=SELF, channel="self"):
    """Return the person's draft kept by `owner`, creating it the first time."""
    draft = draft_of(session, nik, owner)
    if draft is not None:
        return draft
    draft = RegistrationDraft(
        key=secrets.token_urlsafe(16)[:22], nik=nik, owner=owner, channel=channel, data={}, steps=[]
    )
    open_transaction(session, RegistrationDraft)  # else on SQLite the savepoint's release commits at once
    try:
        with session.begin_nested():
            session.add(draft)
            session.flush()
    except IntegrityError:  # the same person's draft started at the same moment elsewhere
        return draft_of(session, nik, owner)
    return draft


def record_step(draft, step, values):
    """Keep a step's values in the draft and mark the step done."""
    draft.data = {**(draft.data or {}), **values}
    if step not in (draft.steps or []):
        draft.steps = [*(draft.steps or []), step]
    draft.updated_at = utcnow()


def record_selfie(draft, ref):
    """Keep the reference of a selfie that passed the quality checks."""
    draft.selfie_ref = ref
    record_step(draft, "photo", {})


def next_step(draft):
    """Return the first step not done yet ("review" when all are)."""
    done = set(draft.steps or [])
    return next((s for s in STEPS if s not in done), "review")


def may_open(draft, step):
    """Tell whether a step may be shown: every step before it is done."""
    return step in STEPS and STEPS.index(step) <= STEPS.index(next_step(draft))


def submit_draft(engine, draft, actor):
    """Submit a complete draft as an application; return (application, created).

    A person with an open case already (a second tab, a second click, or a facilitator's
    registration) gets that case back with created False; the draft is removed either way.
    """
    session = engine.session
    if next_step(draft) != "review":
        raise DraftIncomplete(f"step {next_step(draft)} is not done", step=next_step(draft))
    data = draft.data or {}
    payload = {
        "nik": draft.nik,
        "channel": draft.channel,
        "payment_channel": data.get("payment_channel"),
        "bank_account": data.get("bank_account") or None,
        "phone": data.get("phone") or None,
        "consent": True,
        "consent_version": data["consent_version"],
        "selfie_ref": draft.selfie_ref,
    }
    if draft.channel == "facilitator":
        payload["facilitator_id"] = draft.owner
    try:
        app = submit_application(engine, payload, actor=actor)
        created = True
    except DuplicateApplication:
        app, created = open_case_of(session, draft.nik), False
    else:
        if data.get("consent_at"):  # when the person agreed, not when the last step was sent
            app.consent_at = datetime.fromisoformat(data["consent_at"])
    # A Core delete: a concurrent submit may have removed the row already.
    session.execute(delete(RegistrationDraft).where(RegistrationDraft.id == draft.id))
    return app, created


def discard_draft(session, draft):
    """Remove a draft (the applicant or facilitator gives up)."""
    session.execute(delete(RegistrationDraft).where(RegistrationDraft.id == draft.id))
