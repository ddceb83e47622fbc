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
    wages = [dict(r._mapping) for r in db.session.execute(select(t.bpjs_employment)
                                                          .where(t.bpjs_employment.c.nik == nik))]
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
        assert criteria_candidates(db.session, officers["cw_far"], svc.engine.settings["BANSOS_GRADUATION"]) == [] \
            or case(number).district_code == "25"
        start_graduation(svc.engine, number, "criteria", officers["cw1"], "criteria")
        db.session.commit()
        assert case(number).status == "GRADUATION_REVIEW"
        task = open_task(number, "confirm_graduation")
        assert task is not None and task.queue == "caseworker"
        app = work(svc, number, "confirm_graduation", officers["cw2"],
                   {"graduation_decision": "graduate", "graduation_notes": "usaha warung berjalan baik"})
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
        app = work(svc, number, "confirm_graduation", officers["cw1"],
                   {"graduation_decision": "keep", "graduation_notes": "pendapatan belum tetap"})
        assert app.status == "ENROLLED" and active_enrolment(number).ended_at is None
        assert db.session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalars().all() \
            == [active_enrolment(number)]  # no second enrolment row
        assert not [m for m in svc.integrations.notifier.outbox(nik) if m["template"].startswith("graduation")]
    finally:
        _restore(*saved)
