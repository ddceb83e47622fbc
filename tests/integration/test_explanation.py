"""Explainable decisions per criterion, and re-checks of enrolled families on fresh evidence."""

import pytest
from sqlalchemy import select, update

from cases.models import Enrolment, EvidenceRecord, Recheck
from cases.operations import RecheckNotAllowed, recheck_enrolment
from engine.db import db
from integrations.sandbox.tables import dtsen
from tests.helpers import case, submit, work


def _by_criterion(app):
    return {e["criterion"]: e for e in app.explanation}


def test_every_criterion_is_explained_with_facts_evidence_rule_and_outcome(svc, personas):
    app = case(submit(svc, personas["high_wage"]).case_number)
    assert app.status == "REJECTED"
    entries = _by_criterion(app)
    # One entry per rule of the deployed DMN tables: 14 exclusion grounds and 3 programmes.
    assert len(entries) == 17
    wage = entries["WAGE_ABOVE_MINIMUM"]
    assert wage["outcome"] == "fail" and wage["effect"] == "reject"
    assert wage["facts"]["max_wage"] > wage["facts"]["umk"] == 2_810_000
    assert wage["rule"] == "rule_wage_above_minimum" and wage["file"] == "eligibility.dmn"
    assert wage["rule_version"] == app.rule_version
    assert wage["text_id"] and wage["text_en"] and wage["text_id"] != wage["text_en"]
    [evidence] = wage["evidence"]
    assert evidence["source"] == "bpjs_employment"
    assert db.session.get(EvidenceRecord, evidence["id"]).application_id == app.id
    assert entries["DECEASED"]["outcome"] == "pass" and entries["DECEASED"]["facts"] == {"alive": True}
    assert {e["outcome"] for e in app.explanation} <= {
        "pass",
        "fail",
        "review",
        "not_checked",
        "eligible",
        "not_eligible",
    }


def _enrol(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve"})
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    return app


def test_recheck_without_changes_keeps_the_family_enrolled(svc, personas, officers):
    app = _enrol(svc, personas, officers)
    recheck_enrolment(svc.engine, app.case_number)
    db.session.commit()
    app = case(app.case_number)
    assert app.status == "ENROLLED"
    check = db.session.scalars(select(Recheck)).one()
    assert check.outcome == "keep" and check.changes == []


@pytest.fixture
def dtsen_update():
    """Change a family's DTSEN decile in the shared sandbox registry, and put it back afterwards."""
    changed = {}

    def apply(kk_number, decile):
        changed[kk_number] = db.session.scalar(select(dtsen.c.decile).where(dtsen.c.kk_number == kk_number))
        db.session.execute(update(dtsen).where(dtsen.c.kk_number == kk_number).values(decile=decile))
        db.session.commit()

    yield apply
    db.session.rollback()
    for kk_number, decile in changed.items():
        db.session.execute(update(dtsen).where(dtsen.c.kk_number == kk_number).values(decile=decile))
    db.session.commit()


def test_recheck_after_a_dtsen_update_records_changes_and_leads_to_removal(svc, personas, officers, dtsen_update):
    app = _enrol(svc, personas, officers)
    dtsen_update(app.kk_number, 8)
    recheck_enrolment(svc.engine, app.case_number)
    db.session.commit()
    app = case(app.case_number)
    assert app.status == "REMOVAL_REVIEW"
    check = db.session.scalars(select(Recheck)).one()
    assert check.outcome == "exclude"
    changed = {(c.get("fact"), c.get("criterion")): c for c in check.changes}
    assert changed[("decile", "DECILE_ABOVE_CUTOFF")]["to"] == 8
    assert any(c.get("criterion") == "DECILE_ABOVE_CUTOFF" and c.get("to") == "fail" for c in check.changes)
    app = work(
        svc,
        app.case_number,
        "removal_review",
        officers["cw2"],
        {"removal_decision": "remove", "removal_notes": "DTSEN Q3 update: decile 8"},
    )
    assert app.status == "AWAITING_REMOVAL_APPROVAL"
    app = work(svc, app.case_number, "approve_removal", officers["sup2"], {"approval_decision": "approve"})
    assert app.status == "REMOVED" and app.active_nik is None
    assert db.session.scalars(select(Enrolment)).one().ended_at is not None


def test_recheck_needs_an_enrolled_case(svc, personas):
    number = submit(svc, personas["rich_decile"]).case_number
    with pytest.raises(RecheckNotAllowed):
        recheck_enrolment(svc.engine, number)
