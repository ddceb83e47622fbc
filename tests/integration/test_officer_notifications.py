"""Officers are told of new tasks, near deadlines and reassignments: in the app and by e-mail, each once."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cases import notifications as n
from cases.models import Officer
from cases.operations import create_officer
from engine.db import db, utcnow
from engine.humantasks import claim_task, reassign_task
from integrations.mail import SandboxMailer, SmtpMailer
from integrations.sandbox.tables import mail_outbox
from tests.helpers import fresh_client, open_task, submit
from web.scheduler import notify_officers

PASSWORD = "correct-horse-battery"


def _told(kind=None):
    db.session.expire_all()
    query = select(n.OfficerNotification).order_by(n.OfficerNotification.id)
    if kind:
        query = query.where(n.OfficerNotification.kind == kind)
    return list(db.session.scalars(query))


def test_new_tasks_are_told_once_to_the_officers_who_may_take_them(svc, personas, officers):
    assert n.new_task_notices(db.session) == 0  # the first run sets the mark only
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    region = open_task(number, "review").region
    assert region != "25"
    n.new_task_notices(db.session)
    db.session.commit()
    told = {row.officer: row.detail for row in _told("new_tasks")}
    assert set(told) == {"cw1", "cw2", "cwsup"}  # caseworkers of every district; not cw_far (25), not supervisors
    assert told["cw1"] == {"queue": "caseworker", "region": region, "count": 1}
    assert n.new_task_notices(db.session) == 0  # nothing new since
    db.session.commit()
    assert len(_told("new_tasks")) == 3


def test_a_reassigned_task_and_a_near_deadline_are_told_to_the_holder(svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    row = open_task(number, "review")
    reassign_task(svc.engine, row.id, officers["sup1"], officers["cw2"])
    db.session.commit()
    [told] = _told("reassigned")
    assert (told.officer, told.task_id, told.detail["by"]) == ("cw2", row.id, "sup1")
    claim_task(svc.engine, open_task(number, "review").id, officers["cw2"])  # own claim: no notification
    db.session.commit()
    assert len(_told("reassigned")) == 1
    row = open_task(number, "review")
    row.due_at = utcnow() + timedelta(hours=1, minutes=30)
    db.session.commit()
    assert n.deadline_reminders(db.session, [24, 2]) == 2  # both thresholds reached
    assert n.deadline_reminders(db.session, [24, 2]) == 0
    db.session.commit()
    assert sorted(r.detail["hours"] for r in _told("due_soon")) == [2, 24]
    assert n.unread_count(db.session, "cw2") == 3 and n.unread_count(db.session, "cw1") == 0
    assert n.mark_read(db.session, "cw1") == 0  # another officer's stay unread
    assert n.mark_read(db.session, "cw2", [told.id]) == 1
    db.session.commit()
    assert n.unread_count(db.session, "cw2") == 2


def test_mail_goes_once_to_officers_with_an_address(svc, personas, officers, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "BANSOS_PUBLIC_URL", "https://tepat.dinsos.example/tepat/")
    db.session.execute(Officer.__table__.update().where(Officer.username == "cw2").values(email="cw2@dinsos.example"))
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    reassign_task(svc.engine, open_task(number, "review").id, officers["sup1"], officers["cw2"])
    reassign_task(svc.engine, open_task(number, "review").id, officers["sup1"], officers["cw1"])
    db.session.commit()
    told, sent = notify_officers(ctx)
    assert sent == 1
    mails = SandboxMailer(lambda: db.session).outbox("cw2@dinsos.example")
    assert len(mails) == 1 and "Tepat" in mails[0]["subject"] and number in mails[0]["body"]
    assert "memberi Anda tugas" in mails[0]["body"] and "gave you the task" in mails[0]["body"]
    # Both texts link to the task's case page, absolute, under the configured public address.
    link = f"https://tepat.dinsos.example/tepat/cases/{number}"
    assert f"Buka: {link}\n" in mails[0]["body"] and f"Open it: {link}\n" in mails[0]["body"]
    assert {r.officer: r.mail_status for r in _told("reassigned")} == {"cw2": "sent", "cw1": "no_address"}
    assert notify_officers(ctx)[1] == 0  # a second run mails nothing again
    mailer = SandboxMailer(lambda: db.session)
    assert mailer.send("x@y.example", "s", "b", "k1") == mailer.send("x@y.example", "s", "b", "k1")
    assert db.session.scalar(select(func.count()).select_from(mail_outbox)) == 2


def test_every_kind_of_notice_links_to_its_page_from_the_base_the_request_or_the_path(ctx, monkeypatch):
    from web.links import check_public_url, notification_link

    reassigned = n.OfficerNotification(kind="reassigned", business_key="BSN-2026-000042", detail={"by": "sup1"})
    due = n.OfficerNotification(kind="due_soon", business_key="CYCLE-2026-Q3-PKH", detail={"hours": 2})
    new = n.OfficerNotification(kind="new_tasks", detail={"queue": "caseworker", "region": "24", "count": 3})
    monkeypatch.setitem(ctx.config, "BANSOS_PUBLIC_URL", "")
    # No base configured and no request (the scheduler): the path only.
    assert notification_link(reassigned) == "/cases/BSN-2026-000042"
    assert notification_link(due) == "/cycles/2026-Q3-PKH"
    assert notification_link(new) == "/inbox?queue=caseworker&district=24"
    # No base configured, during a request: that request's host.
    with ctx.test_request_context("/", base_url="http://10.1.2.3:8000/"):
        assert notification_link(reassigned) == "http://10.1.2.3:8000/cases/BSN-2026-000042"
    # A base configured wins over the request's host.
    monkeypatch.setitem(ctx.config, "BANSOS_PUBLIC_URL", "https://tepat.dinsos.example")
    with ctx.test_request_context("/", base_url="http://10.1.2.3:8000/"):
        assert notification_link(due) == "https://tepat.dinsos.example/cycles/2026-Q3-PKH"
    assert notification_link(new) == "https://tepat.dinsos.example/inbox?queue=caseworker&district=24"
    subject, body = n.mail_text(new, link=notification_link)
    assert body.count("https://tepat.dinsos.example/inbox?queue=caseworker&district=24") == 2
    # Without a link function the texts are as before (no "Open it:" line).
    assert "Buka:" not in n.mail_text(new)[1] and "Open it:" not in n.mail_text(new)[1]
    check_public_url("https://tepat.dinsos.example/tepat")
    for wrong in ("tepat.dinsos.example", "ftp://tepat.example", "https://", "https://x.example/?a=1"):
        with pytest.raises(ValueError, match="BANSOS_PUBLIC_URL"):
            check_public_url(wrong)


def test_smtp_mailer_repeats_the_message_id_for_a_key():
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            self.host = host

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            sent.append("tls")

        def login(self, user, password):
            sent.append(("login", user))

        def send_message(self, message):
            sent.append(message)

    mailer = SmtpMailer("smtp.example", 587, "tepat@example", "u", "p", smtp=FakeSMTP)
    first = mailer.send("cw@example", "Subject", "Body", "officer-notification:7")
    again = mailer.send("cw@example", "Subject", "Body", "officer-notification:7")
    assert first == again and sent[0] == "tls" and sent[1] == ("login", "u")
    assert sent[2]["To"] == "cw@example" and sent[2]["Message-ID"] == first
    try:
        mailer.send("a@b\r\nBcc: c@d", "s", "b", "k")
    except ValueError:
        pass
    else:
        raise AssertionError("a header injection was accepted")


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_menu_counts_unread_and_the_page_marks_them_read(svc, personas, officers):
    create_officer(db.session, "n_cw", "Nia Caseworker", ["caseworker"], None, password=PASSWORD)
    create_officer(db.session, "n_other", "Other", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    for i in range(2):
        n.notify(db.session, "n_cw", "reassigned", f"test:{i}", 1, f"TPT-2026-000000{i}", {"by": "sup1"})
    n.notify(db.session, "n_other", "reassigned", "test:other", 1, "TPT-2026-0000009", {"by": "sup1"})
    db.session.commit()
    with fresh_client() as client:
        client.post("/login", data={"username": "n_cw", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        html = client.get("/inbox").get_data(as_text=True)
        assert re.search(r'id="unread-badge">2<', html)
        page = client.get("/notifications").get_data(as_text=True)
        assert page.count("notification-unread") == 2 and "TPT-2026-0000009" not in page
        other = db.session.scalar(select(n.OfficerNotification.id).where(n.OfficerNotification.officer == "n_other"))
        client.post("/notifications/read", data={"id": str(other), "csrf_token": _csrf(client, "/notifications")})
        assert n.unread_count(db.session, "n_other") == 1
        client.post("/notifications/read", data={"csrf_token": _csrf(client, "/notifications")})
        assert 'id="unread-badge"' not in client.get("/inbox").get_data(as_text=True)
        assert (
            client.post(
                "/notifications/read", data={"id": "x1", "csrf_token": _csrf(client, "/notifications")}
            ).status_code
            == 302
        )
        bad = client.post("/profile/email", data={"email": "not an address", "csrf_token": _csrf(client, "/profile")})
        assert bad.status_code == 422 and "name@example.go.id" in bad.get_data(as_text=True)
        client.post("/profile/email", data={"email": "nia@dinsos.example", "csrf_token": _csrf(client, "/profile")})
    db.session.expire_all()
    assert db.session.scalar(select(Officer.email).where(Officer.username == "n_cw")) == "nia@dinsos.example"


def test_an_administrator_sets_an_officers_address_audited_without_it(svc):
    from cases.audit import AuditEntry

    create_officer(db.session, "n_admin", "Admin", ["administrator"], None, password=PASSWORD)
    target = create_officer(db.session, "n_target", "Target", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        client.post("/login", data={"username": "n_admin", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        path = f"/admin/officers/{target.id}"
        form = {"name": "Target", "roles": "caseworker", "region_scope": "all", "csrf_token": _csrf(client, path)}
        bad = client.post(path, data={**form, "email": "nope"})
        assert bad.status_code in (400, 422) and "name@example.go.id" in bad.get_data(as_text=True)
        assert client.post(path, data={**form, "email": "t@dinsos.example"}).status_code == 302
        assert 'value="t@dinsos.example"' in client.get(path).get_data(as_text=True)
        assert client.post(path, data={**form, "email": ""}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Officer.email).where(Officer.username == "n_target")) is None
    changes = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "officer.email_changed")).all()
    assert [e.detail for e in changes] == [{"email": "set"}, {"email": "cleared"}]
