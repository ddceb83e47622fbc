"""Graduation (graduasi): voluntary and by criteria, through processes/graduation.bpmn; the enrolment ends."""

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.graduation import GraduationNotAllowed, criteria_candidates, start_graduation
from cases.models import Enrolment
from cases.operations import recheck_enrolment
from engine.db import db
from integrations.sandbox import tables as t
from tests.helpers import case, open_task, submit, work

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def enrol(svc, officers, nik):
    number = submit(svc, nik).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    return number


def active_enrolment(number):
    app = case(number)
    return db.session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalar_one()


def outbox_templates(svc, nik):
    return [(m["template"], m["channel"]) for m in svc.integrations.notifier.outbox(nik)]


def test_voluntary_graduation_ends_the_enrolment_notifies_and_is_audited(svc, personas, officers):
    nik = personas["eligible_head_without_photo"]
    number = enrol(svc, officers, nik)
    start_graduation(svc.engine, number, "voluntary", officers["cw1"], "facilitator")
    db.session.commit()
    app = case(number)
    assert app.status == "GRADUATED" and app.active_nik is None
    assert active_enrolment(number).ended_at is not None  # the next payment cycle leaves it out
    sent = outbox_templates(svc, nik)
    for template in ("graduation_notice", "graduation_thanks"):
        assert (template, "SMS") in sent and (template, "PORTAL") in sent
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "graduation.start")).scalar_one()
    assert entry.actor == "cw1" and entry.target_id == number
    with pytest.raises(GraduationNotAllowed):  # not enrolled any more
        start_graduation(svc.engine, number, "voluntary", officers["cw1"], "facilitator")
    db.session.rollback()


def _restore(kk, decile, nik, wage_rows):
    db.session.rollback()
    db.session.execute(t.dtsen.update().where(t.dtsen.c.kk_number == kk).values(decile=decile))
    db.session.execute(t.bpjs_employment.delete().where(t.bpjs_employment.c.nik == nik))
    for row in wage_rows:
        db.session.execute(t.bpjs_employment.insert().values(**row))
    db.session.commit()


def _saved(nik):
    kk = db.session.execute(select(t.people.c.kk_number).where(t.people.c.nik == nik)).scalar_one()
    decile = db.session.execute(select(t.dtsen.c.decile).where(t.dtsen.c.kk_number == kk)).scalar_one()
    wages = [
        dict(r._mapping) for r in db.session.execute(select(t.bpjs_employment).where(t.bpjs_employment.c.nik == nik))
    ]
    return kk, decile, nik, wages


def _make_better_off(nik, wage):
    kk = db.session.execute(select(t.people.c.kk_number).where(t.people.c.nik == nik)).scalar_one()
    db.session.execute(t.dtsen.update().where(t.dtsen.c.kk_number == kk).values(decile=4))
    db.session.execute(t.bpjs_employment.delete().where(t.bpjs_employment.c.nik == nik))
    db.session.execute(t.bpjs_employment.insert().values(nik=nik, monthly_wage=wage, employer="Toko"))
    db.session.commit()
    return kk


def test_criteria_graduation_needs_consecutive_checks_and_a_caseworker(svc, personas, officers):
    nik = personas["eligible_head_without_photo"]
    number = enrol(svc, officers, nik)
    saved = _saved(nik)
    try:
        _make_better_off(nik, 2_500_000)  # decile 4, wage over the graduation threshold, under the UMK
        recheck_enrolment(svc.engine, number)
        db.session.commit()
        assert case(number).status == "ENROLLED"  # still eligible by the rules
        assert criteria_candidates(db.session, officers["cw1"], svc.engine.settings["BANSOS_GRADUATION"]) == []
        with pytest.raises(GraduationNotAllowed):  # one check only; two are needed
            start_graduation(svc.engine, number, "criteria", officers["cw1"], "criteria")
        db.session.rollback()
        recheck_enrolment(svc.engine, number)
        db.session.commit()
        assert criteria_candidates(db.session, officers["cw1"], svc.engine.settings["BANSOS_GRADUATION"]) == [number]
        assert (
            criteria_candidates(db.session, officers["cw_far"], svc.engine.settings["BANSOS_GRADUATION"]) == []
            or case(number).district_code == "25"
        )
        start_graduation(svc.engine, number, "criteria", officers["cw1"], "criteria")
        db.session.commit()
        assert case(number).status == "GRADUATION_REVIEW"
        task = open_task(number, "confirm_graduation")
        assert task is not None and task.queue == "caseworker"
        app = work(
            svc,
            number,
            "confirm_graduation",
            officers["cw2"],
            {"graduation_decision": "graduate", "graduation_notes": "usaha warung berjalan baik"},
        )
        assert app.status == "GRADUATED" and active_enrolment(number).ended_at is not None
        assert ("graduation_thanks", "PORTAL") in outbox_templates(svc, nik)
    finally:
        _restore(*saved)


def test_a_caseworker_may_keep_the_family_enrolled(svc, personas, officers):
    nik = personas["eligible_head_without_photo"]
    number = enrol(svc, officers, nik)
    saved = _saved(nik)
    try:
        _make_better_off(nik, 2_500_000)
        for _ in range(2):
            recheck_enrolment(svc.engine, number)
            db.session.commit()
        start_graduation(svc.engine, number, "criteria", officers["cw1"], "criteria")
        db.session.commit()
        app = work(
            svc,
            number,
            "confirm_graduation",
            officers["cw1"],
            {"graduation_decision": "keep", "graduation_notes": "pendapatan belum tetap"},
        )
        assert app.status == "ENROLLED" and active_enrolment(number).ended_at is None
        assert db.session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalars().all() == [
            active_enrolment(number)
        ]  # no second enrolment row
        assert not [m for m in svc.integrations.notifier.outbox(nik) if m["template"].startswith("graduation")]
    finally:
        _restore(*saved)


# --- pages ------------------------------------------------------------------------------------------------

from tests.helpers import fresh_client  # noqa: E402
from tests.integration.portal_helpers import (  # noqa: E402,F401  (fixtures)
    PASSWORD,
    ROLES,
    csrf_of,
    officer_login,
    portal,
    post_form,
    sign_in_applicant,
)

COVERED_ENDPOINTS = {
    "graduation.index",
    "graduation.start",
    "graduation.voluntary",
    "portal.graduate",
    "portal.graduate_send",
}
DISTRICT_SCOPED_ENDPOINTS = {"graduation.start"}


@pytest.fixture
def enrolled(svc, personas, officers):
    from cases.operations import create_officer

    number = enrol(svc, officers, personas["eligible_head_without_photo"])
    home = case(number).district_code
    other = "25" if home != "25" else "24"
    for role in ROLES:
        create_officer(db.session, f"g_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "g_far", "Far", ["caseworker", "supervisor", "facilitator"], [other], password=PASSWORD)
    db.session.commit()
    return number


def _post(client, path, data):
    token = csrf_of(client.get("/profile").get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


@pytest.mark.parametrize("role", [None, *ROLES])
def test_officer_authorization_matrix(enrolled, role):
    allowed = role in ("caseworker", "supervisor", "facilitator")
    with fresh_client() as client:
        if role is None:
            assert client.get("/graduation").status_code == 302
            assert client.post(f"/cases/{enrolled}/graduation", data={"kind": "voluntary"}).status_code == 400
            return
        assert officer_login(client, f"g_{role}").status_code == 302
        assert client.get("/graduation").status_code == (200 if allowed else 403)
        # Unconfirmed: nothing starts (a redirect with the error) for the allowed roles.
        response = _post(client, f"/cases/{enrolled}/graduation", {"kind": "voluntary"})
        assert response.status_code == (302 if allowed else 403)
        response = _post(client, "/graduation/voluntary", {"case_number": enrolled})
        assert response.status_code == (302 if allowed else 403)
        assert case(enrolled).status == "ENROLLED"


def test_an_officer_of_another_district_cannot_graduate_the_family(enrolled):
    with fresh_client() as client:
        officer_login(client, "g_far")
        response = _post(client, f"/cases/{enrolled}/graduation", {"kind": "voluntary", "confirm": "yes"})
        assert response.status_code == 404
        response = _post(client, "/graduation/voluntary", {"case_number": enrolled, "confirm": "yes"})
        assert response.status_code == 404
    assert case(enrolled).status == "ENROLLED"
    refusals = db.session.execute(select(AuditEntry).where(AuditEntry.action == "graduation.refused")).scalars().all()
    assert len(refusals) == 2


def test_a_facilitator_records_the_familys_declaration(enrolled):
    with fresh_client() as client:
        officer_login(client, "g_facilitator")
        response = _post(client, "/graduation/voluntary", {"case_number": enrolled, "confirm": "yes"})
        assert response.status_code == 302
    app = case(enrolled)
    assert app.status == "GRADUATED" and active_enrolment(enrolled).ended_at is not None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "graduation.start")).scalar_one()
    assert entry.actor == "g_facilitator" and entry.detail["declared_by"] == "facilitator"


def test_the_family_declares_graduation_in_the_portal_with_a_confirmation(portal, svc, personas, officers):
    nik = personas["eligible_head_without_photo"]
    number = enrol(svc, officers, nik)
    sign_in_applicant(portal, nik)
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert f"/portal/cases/{number}/graduate" in page
    response = post_form(portal, f"/portal/cases/{number}/graduate", {})
    assert response.status_code == 422 and "Centang" in response.get_data(as_text=True)
    assert case(number).status == "ENROLLED"
    response = post_form(portal, f"/portal/cases/{number}/graduate", {"confirm": "yes"})
    assert response.status_code == 302
    assert case(number).status == "GRADUATED"
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "mandiri" in page
    messages = portal.get("/portal/messages").get_data(as_text=True)
    assert "Terima kasih" in messages
    response = post_form(portal, f"/portal/cases/{number}/graduate", {"confirm": "yes"}, page=f"/portal/cases/{number}")
    assert response.status_code == 409
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "graduation.start")).scalar_one()
    assert entry.actor.startswith("applicant:") and entry.detail["declared_by"] == "family"


def test_cli_starts_a_voluntary_graduation_only_when_confirmed(svc, personas, officers):
    from flask import current_app

    number = enrol(svc, officers, personas["eligible_head_without_photo"])
    runner = current_app.test_cli_runner()
    result = runner.invoke(args=["graduation", "start", number, "--kind", "voluntary", "--as", "cw1"])
    assert result.exit_code == 2 and case(number).status == "ENROLLED"
    result = runner.invoke(args=["graduation", "start", number, "--kind", "criteria", "--as", "cw1"])
    assert result.exit_code == 2 and "GRADUATION_NOT_ALLOWED" in result.output
    result = runner.invoke(
        args=["graduation", "start", number, "--kind", "voluntary", "--confirm", "--as", "cw1"], catch_exceptions=False
    )
    assert result.exit_code == 0 and "GRADUATED" in result.output
    result = runner.invoke(args=["graduation", "candidates"], catch_exceptions=False)
    assert result.exit_code == 0


def test_a_caseworker_confirms_a_criteria_graduation_on_the_case_page(svc, personas, officers, enrolled):
    from engine.core import Actor
    from engine.humantasks import claim_task
    from tests.integration.test_web import stamp_of

    nik = personas["eligible_head_without_photo"]
    saved = _saved(nik)
    try:
        _make_better_off(nik, 2_500_000)
        for _ in range(2):
            recheck_enrolment(svc.engine, enrolled)
            db.session.commit()
        with fresh_client() as client:
            officer_login(client, "g_caseworker")
            assert f"candidate-{enrolled}" in client.get("/graduation").get_data(as_text=True)
            assert _post(client, f"/cases/{enrolled}/graduation", {"kind": "criteria"}).status_code == 302
            task = open_task(enrolled, "confirm_graduation")
            claim_task(
                svc.engine, task.id, Actor(id="g_caseworker", roles=frozenset({"caseworker"}), regions=None, name="g")
            )
            db.session.commit()
            page = client.get(f"/cases/{enrolled}").get_data(as_text=True)
            assert "Konfirmasi graduasi" in page and 'name="graduation_decision"' in page
            response = _post(
                client,
                f"/cases/{enrolled}/tasks/{task.id}",
                {"claim_stamp": stamp_of(client, enrolled), "graduation_decision": "graduate"},
            )
            assert response.status_code == 422  # the internal note is required
            response = _post(
                client,
                f"/cases/{enrolled}/tasks/{task.id}",
                {
                    "claim_stamp": stamp_of(client, enrolled),
                    "graduation_decision": "graduate",
                    "graduation_notes": "warung keluarga sudah stabil",
                },
            )
            assert response.status_code == 302
        assert case(enrolled).status == "GRADUATED"
    finally:
        _restore(*saved)
