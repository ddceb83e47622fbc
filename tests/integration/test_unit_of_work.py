"""One unit of work per request (engine.db.unit_of_work): a page view that raises after its changes
leaves nothing committed, and a successful one commits exactly once."""

import io
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from cases.audit import AuditEntry, record
from cases.tokens import ApiToken
from engine.db import db, unit_of_work
from engine.models import ProcessDraft
from tests.integration.api_support import api, csrf_of  # noqa: F401  (the fixture)


@contextmanager
def counting_commits():
    """Count every session commit and rollback (the request's own sessions, whichever app context)."""
    seen = {"commit": 0, "rollback": 0}

    def committed(session):
        seen["commit"] += 1

    def rolled_back(session):
        seen["rollback"] += 1

    event.listen(Session, "after_commit", committed)
    event.listen(Session, "after_rollback", rolled_back)
    try:
        yield seen
    finally:
        event.remove(Session, "after_commit", committed)
        event.remove(Session, "after_rollback", rolled_back)


def _tokens_named(name):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.name == name))


def _audits(action):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def test_a_successful_view_commits_exactly_once(api):
    api.login("a_caseworker")
    csrf = csrf_of(api.client, "/tokens")
    with counting_commits() as seen:
        response = api.client.post("/tokens", data={"name": "once", "days": "30", "csrf_token": csrf})
    assert response.status_code == 201
    assert seen["commit"] == 1  # the token and its audit entry together, nothing before or after
    assert _tokens_named("once") == 1 and _audits("token.create") == 1


def test_a_view_raising_after_its_changes_leaves_nothing_committed(api, monkeypatch):
    import web.tokens

    api.login("a_caseworker")
    before = _audits("token.create")

    def broken_audit(action, token, **detail):
        db.session.flush()  # the token row is written in the transaction...
        raise RuntimeError("the audit log is unavailable")  # ...then the view fails

    monkeypatch.setattr(web.tokens, "_audit", broken_audit)
    csrf = csrf_of(api.client, "/tokens")
    with counting_commits() as seen:
        try:
            response = api.client.post("/tokens", data={"name": "never", "days": "30", "csrf_token": csrf})
        except RuntimeError:  # the test app propagates the view's exception
            response = None
    assert response is None or response.status_code == 500
    assert seen["commit"] == 0 and seen["rollback"] >= 1
    assert _tokens_named("never") == 0  # rolled back: the flushed row is gone
    assert _audits("token.create") == before


def test_a_refusal_is_kept_in_its_own_unit_while_the_refused_change_is_rolled_back(api, svc):
    """The editor's upload: a refused draft is rolled back, the audit of the refusal committed on its own."""
    api.login("a_administrator")
    csrf = csrf_of(api.client, "/admin/processes")
    with counting_commits() as seen:
        response = api.client.post(
            "/admin/processes/upload",
            data={"file": (io.BytesIO(b"not xml at all"), "application.bpmn"), "csrf_token": csrf},
            content_type="multipart/form-data",
        )
    assert response.status_code == 303
    assert seen["commit"] == 1 and seen["rollback"] >= 1  # the draft's unit rolled back, the refusal's committed
    db.session.expire_all()
    assert db.session.scalars(select(ProcessDraft)).all() == []
    assert _audits("process.upload_refused") == 1 and _audits("process.draft_uploaded") == 0


def test_unit_of_work_commits_once_or_rolls_back_and_reraises(ctx):
    with counting_commits() as seen:
        with unit_of_work(db.session):
            record(db.session, "tests", "uow.kept")
    assert seen == {"commit": 1, "rollback": 0}
    with counting_commits() as seen, pytest.raises(ValueError, match="boom"):
        with unit_of_work(db.session):
            record(db.session, "tests", "uow.lost")  # flushed
            raise ValueError("boom")
    assert seen == {"commit": 0, "rollback": 1}
    assert _audits("uow.kept") == 1 and _audits("uow.lost") == 0
