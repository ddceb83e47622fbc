"""Programme operations (issue 12): the registry refresh's change set and the quarterly re-verification."""

import json
import shutil
from datetime import date

import pytest
from sqlalchemy import func, select, update

from cases.audit import AuditEntry
from cases.models import Enrolment, Recheck
from cases.programme import (
    REGISTRY_RECHECK,
    REVERIFY,
    MemberBenefitEnd,
    QuarterAlreadyRun,
    QuarterInvalid,
    RegistryChange,
    after_import,
    record_changes,
    reverify_if_due,
    snapshot_registry,
    start_reverify_run,
)
from cases.runkinds import start_import_run
from engine.core import Actor
from engine.db import db
from engine.errors import FourEyesViolation, NotAllowed
from engine.runs import Run, RunItem
from integrations.sandbox import tables as t
from integrations.sandbox.importer import import_extracts
from tests.helpers import case, open_task, submit, work
from tests.integration.test_web import web  # noqa: F401  (fixture)
from web.runs_exec import run_in_process

ADMIN = Actor(id="admin", roles=frozenset({"administrator", "supervisor"}))
APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def _enrolled(svc, officers, nik):
    number = submit(svc, nik).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    return app


@pytest.fixture
def registry(population):
    """The test may change the sandbox registry and commit: it is imported again afterwards."""
    yield
    db.session.rollback()
    import_extracts(population["dir"], db.session, max_delete_share=None)
    db.session.commit()


def _keys(run_id):
    return sorted(db.session.scalars(select(RunItem.key).where(RunItem.run_id == run_id)))


def test_a_changed_extract_rechecks_exactly_the_changed_families(
    svc, personas, officers, population, registry, tmp_path
):
    changed = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    same = _enrolled(svc, officers, personas["eligible_family_with_children"])
    assert changed.kk_number and same.kk_number and changed.kk_number != same.kk_number
    decile = db.session.scalar(select(t.dtsen.c.decile).where(t.dtsen.c.kk_number == changed.kk_number))
    # The stored registry differs from the extract for one family: the import brings it back.
    db.session.execute(update(t.dtsen).where(t.dtsen.c.kk_number == changed.kk_number).values(decile=decile % 4 + 1))
    db.session.commit()
    folder = tmp_path / "extracts"
    shutil.copytree(population["dir"], folder)
    imported = start_import_run(svc.engine, ADMIN, folder)
    db.session.commit()
    run_in_process(svc.engine, imported.id, wait=True)
    db.session.expire_all()
    imported = db.session.get(Run, imported.id)
    assert imported.status == "done", imported.result
    rows = db.session.scalars(select(RegistryChange).where(RegistryChange.run_id == imported.id)).all()
    assert [(r.source, r.kk_number, r.field, r.old_value, r.new_value) for r in rows] == [
        ("dtsen", changed.kk_number, "decile", str(decile % 4 + 1), str(decile))
    ]
    recheck = db.session.get(Run, imported.result["recheck_run"])
    assert recheck.kind == REGISTRY_RECHECK and imported.result["families_to_recheck"] == 1
    assert _keys(recheck.id) == [changed.case_number]
    run_in_process(svc.engine, recheck.id, wait=True)
    db.session.expire_all()
    recheck = db.session.get(Run, recheck.id)
    assert (recheck.status, recheck.done, recheck.outcomes) == ("done", 1, {"continue": 1})
    assert [a for (a,) in db.session.execute(select(Recheck.application_id))] == [changed.id]  # only that one
    assert case(same.case_number).status == "ENROLLED"


def _member(kk, not_nik):
    return db.session.execute(
        select(t.people)
        .where(t.people.c.kk_number == kk, t.people.c.nik != not_nik)
        .order_by(t.people.c.birth_date.desc())
    ).first()


def test_a_death_ends_the_members_components_at_once_and_rechecks_the_family(svc, personas, officers, registry):
    family = _enrolled(svc, officers, personas["eligible_family_with_children"])
    other = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    child = _member(family.kk_number, family.nik)
    assert child is not None and child.alive
    snapshot_registry(db.session)
    db.session.execute(
        update(t.people).where(t.people.c.nik == child.nik).values(alive=False, death_date=date(2026, 11, 2))
    )
    assert record_changes(db.session) == 1
    recheck, ended = after_import(svc.engine, None)
    db.session.commit()
    assert ended == 1
    end = db.session.scalars(select(MemberBenefitEnd)).one()
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.application_id == family.id))
    assert (end.enrolment_id, end.member_nik, end.reason, end.ended_on) == (
        enrolment.id,
        child.nik,
        "DECEASED",
        date(2026, 11, 2),
    )
    assert end.categories and all(c["programme"] == "PKH" for c in end.categories)
    assert _keys(recheck.id) == [family.case_number]  # not the other family
    # The same change seen again ends nothing twice.
    from cases.programme import end_deceased_components

    assert end_deceased_components(db.session, svc.engine.settings) == 0
    run_in_process(svc.engine, recheck.id, wait=True)
    db.session.expire_all()
    assert db.session.get(Run, recheck.id).outcomes == {"continue": 1}
    assert case(other.case_number).status == "ENROLLED"
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "run.start", AuditEntry.target_id == str(recheck.id))
        )
        == 1
    )


def test_the_quarterly_reverification_exit_needs_four_eyes_and_a_notice_with_the_appeal_window(
    svc, personas, officers, registry
):
    from integrations.sandbox.tables import outbox

    staying = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    leaving = _enrolled(svc, officers, personas["eligible_family_with_children"])
    db.session.execute(update(t.dtsen).where(t.dtsen.c.kk_number == leaving.kk_number).values(decile=9))
    db.session.commit()
    run = start_reverify_run(svc.engine, officers["admin"], "2026q4")
    db.session.commit()
    assert (run.kind, run.params, run.total) == (REVERIFY, {"quarter": "2026Q4"}, 2)
    with pytest.raises(QuarterAlreadyRun):
        start_reverify_run(svc.engine, officers["admin"], "2026Q4")
    with pytest.raises(QuarterInvalid):
        start_reverify_run(svc.engine, officers["admin"], "2026Q5")
    with pytest.raises(NotAllowed):
        start_reverify_run(svc.engine, officers["sup1"], "2027Q1")
    db.session.rollback()
    run_in_process(svc.engine, run.id, wait=True)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.status, run.done, run.outcomes) == ("done", 2, {"continue": 1, "exit": 1})
    assert case(staying.case_number).status == "ENROLLED"
    assert case(leaving.case_number).status == "REMOVAL_REVIEW" and open_task(leaving.case_number, "removal_review")
    work(
        svc,
        leaving.case_number,
        "removal_review",
        officers["cwsup"],
        {"removal_decision": "remove", "removal_notes": "DTSEN decile 9"},
    )
    from engine.humantasks import claim_task

    with pytest.raises(FourEyesViolation):  # the reviewer may not approve their own removal
        claim_task(svc.engine, open_task(leaving.case_number, "approve_removal").id, officers["cwsup"])
    db.session.rollback()
    app = work(svc, leaving.case_number, "approve_removal", officers["sup2"], {"approval_decision": "approve"})
    assert app.status == "REMOVED"
    assert db.session.scalar(select(Enrolment.ended_at).where(Enrolment.application_id == leaving.id)) is not None
    notice = db.session.execute(
        select(outbox.c.params).where(outbox.c.recipient_nik == leaving.nik, outbox.c.template == "decision_removed")
    ).first()
    assert notice is not None
    codes = [r["code"] for r in notice.params["reasons"]]
    assert "DECILE_ABOVE_CUTOFF" in codes and all(r["id"] for r in notice.params["reasons"])
    assert notice.params["appeal_window"] == svc.engine.settings["BANSOS_APPEAL_WINDOW"]


def test_the_scheduler_starts_the_quarter_once_when_enabled(svc, personas, officers):
    _enrolled(svc, officers, personas["eligible_head_without_photo"])
    settings = svc.engine.settings
    assert reverify_if_due(svc.engine, date(2026, 10, 5)) is None  # off by default
    settings["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = True
    try:
        run = reverify_if_due(svc.engine, date(2026, 10, 5))
        db.session.commit()
        assert run.params == {"quarter": "2026Q4"} and run.total == 1 and run.started_by == "scheduler"
        assert reverify_if_due(svc.engine, date(2026, 11, 20)) is None  # once a quarter
    finally:
        settings["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = False


def test_tepat_reverify_runs_the_quarter_once_and_refuses_bad_input(svc, personas, officers, ctx):
    app = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["reverify", "--quarter", "2026Q4", "--wait"])
    assert result.exit_code == 0, result.output
    assert "reverify done: 1/1 (100%) done 1 failed 0 [continue 1]" in result.output
    again = runner.invoke(args=["reverify", "--quarter", "2026Q4"])
    assert again.exit_code == 2 and "QUARTER_ALREADY_RUN" in again.output
    bad = runner.invoke(args=["reverify", "--quarter", "2026-4"])
    assert bad.exit_code == 2 and "Triwulan tidak valid" in bad.output
    assert case(app.case_number).status == "ENROLLED"


COVERED_ENDPOINTS = {"admin.start_reverify"}


@pytest.mark.parametrize(
    "role", [None, "caseworker", "appeals_officer", "facilitator", "auditor", "supervisor", "administrator"]
)
def test_the_reverify_button_by_role(web, svc, role):  # noqa: F811
    from tests.integration.test_web import login, post

    if role is None:
        assert web.post("/admin/runs/reverify", data={"quarter": "2026Q4"}).status_code in (302, 400)
        assert db.session.scalar(select(func.count()).select_from(Run)) == 0
        return
    assert login(web, f"w_{role}").status_code == 302
    page = web.get("/admin/runs").get_data(as_text=True)
    assert ("Mulai verifikasi ulang triwulanan" in page) == (role == "administrator")
    started = post(web, "/admin/runs/reverify", {"quarter": "2026Q4"})
    assert started.status_code == (302 if role == "administrator" else 403)
    db.session.expire_all()
    runs = db.session.scalars(select(Run)).all()
    assert [(r.kind, r.params) for r in runs] == (
        [(REVERIFY, {"quarter": "2026Q4"})] if role == "administrator" else []
    )
    if role == "administrator":
        assert db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "run.start")) == "w_administrator"
        again = post(web, "/admin/runs/reverify", {"quarter": "2026Q4"})
        assert again.status_code == 302
        assert "sudah dijalankan" in web.get("/admin/runs").get_data(as_text=True)
        post(web, "/admin/runs/reverify", {"quarter": "20264"})
        assert "Itu bukan triwulan" in web.get("/admin/runs").get_data(as_text=True)
        assert db.session.scalar(select(func.count()).select_from(Run)) == 1


def test_an_administrator_of_one_district_reverifies_only_its_families(svc, personas, officers):
    app = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    other = "25" if app.district_code != "25" else "24"
    local = Actor(id="admin_far", roles=frozenset({"administrator"}), regions=frozenset({other}))
    run = start_reverify_run(svc.engine, local, "2026Q4")
    assert (run.total, run.regions) == (0, [other])
    run = start_reverify_run(
        svc.engine, Actor(id="a2", roles=frozenset({"administrator"}), regions=frozenset({app.district_code})), "2026Q4"
    )
    assert run.total == 1 and _keys(run.id) == [app.case_number]


def test_the_leader_dispatcher_starts_the_quarter_when_enabled(svc, personas, officers, app):
    from web.dispatcher import Dispatcher

    _enrolled(svc, officers, personas["eligible_head_without_photo"])
    app.config["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = svc.engine.settings["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = True
    try:
        Dispatcher(app, send=lambda ids: None, send_chunks=lambda chunks: None).tick()
    finally:
        app.config["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = svc.engine.settings["BANSOS_REVERIFY_SCHEDULE_ENABLED"] = False
    db.session.expire_all()
    run = db.session.scalars(select(Run).where(Run.kind == REVERIFY)).one()
    assert run.params == {"quarter": f"{date.today().year}Q{(date.today().month - 1) // 3 + 1}"}
    assert run.status == "done" and run.outcomes == {"continue": 1}  # inline: the same tick ran it


def test_tepat_sandbox_import_keeps_the_change_set_and_starts_the_recheck(
    svc, personas, officers, population, registry, ctx, tmp_path
):
    changed = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    _enrolled(svc, officers, personas["eligible_family_with_children"])
    earlier = RegistryChange(
        run_id=None, source="dtsen", kk_number=changed.kk_number, field="decile", old_value="1", new_value="2"
    )  # an earlier inline import's change: not again
    db.session.add(earlier)
    db.session.execute(update(t.assets).where(t.assets.c.kk_number == changed.kk_number).values(four_wheel_vehicles=3))
    db.session.commit()
    folder = tmp_path / "extracts"
    shutil.copytree(population["dir"], folder)
    result = ctx.test_cli_runner().invoke(args=["sandbox", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "registry changes: 1; deceased members' components ended: 0; run " in result.output
    db.session.expire_all()
    run = db.session.scalars(select(Run).where(Run.kind == REGISTRY_RECHECK)).one()
    assert _keys(run.id) == [changed.case_number]
    change = db.session.scalars(select(RegistryChange).where(RegistryChange.id > earlier.id)).one()
    assert (change.source, change.field, change.old_value, change.new_value) == (
        "assets",
        "four_wheel_vehicles",
        "3",
        "0",
    )


def test_new_employment_above_the_minimum_wage_rechecks_the_family_to_an_exit(svc, personas, officers, registry):
    family = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    _enrolled(svc, officers, personas["eligible_family_with_children"])
    assert db.session.execute(select(t.bpjs_employment).where(t.bpjs_employment.c.nik == family.nik)).first() is None
    wage = int(svc.engine.settings["BANSOS_REGIONAL_MINIMUM_WAGE"]) * 2
    snapshot_registry(db.session)
    db.session.execute(t.bpjs_employment.insert().values(nik=family.nik, monthly_wage=wage, employer="PT Baru"))
    assert record_changes(db.session) == 1
    change = db.session.scalars(select(RegistryChange)).one()
    assert (change.source, change.nik, change.kk_number, change.old_value, change.new_value) == (
        "bpjs_employment",
        family.nik,
        family.kk_number,
        None,
        str(wage),
    )
    recheck, ended = after_import(svc.engine, None)
    db.session.commit()
    assert ended == 0 and _keys(recheck.id) == [family.case_number]
    run_in_process(svc.engine, recheck.id, wait=True)
    db.session.expire_all()
    assert db.session.get(Run, recheck.id).outcomes == {"exit": 1}
    assert case(family.case_number).status == "REMOVAL_REVIEW"  # a caseworker, then a second officer


def test_a_member_who_becomes_a_company_director_rechecks_the_family_to_an_exit(svc, personas, officers, registry):
    family = _enrolled(svc, officers, personas["eligible_family_with_children"])
    other = _enrolled(svc, officers, personas["eligible_head_without_photo"])
    member = _member(family.kk_number, family.nik)  # not the applicant: found through the family card
    assert db.session.execute(select(t.company_roles).where(t.company_roles.c.nik == member.nik)).first() is None
    snapshot_registry(db.session)
    db.session.execute(t.company_roles.insert().values(nik=member.nik, role="DIRECTOR", company="PT Maju Jaya"))
    assert record_changes(db.session) == 1
    change = db.session.scalars(select(RegistryChange)).one()
    assert (change.source, change.field, change.nik, change.kk_number, change.old_value, change.new_value) == (
        "assets",
        "roles",
        member.nik,
        family.kk_number,
        None,
        "DIRECTOR:1,OWNER:0",
    )
    recheck, _ended = after_import(svc.engine, None)
    db.session.commit()
    assert _keys(recheck.id) == [family.case_number]  # not the other family
    run_in_process(svc.engine, recheck.id, wait=True)
    db.session.expire_all()
    assert db.session.get(Run, recheck.id).outcomes == {"exit": 1}
    explanation = db.session.scalars(select(Recheck.explanation).where(Recheck.application_id == family.id)).one()
    assert "COMPANY_OWNER" in json.dumps(explanation)
    assert case(family.case_number).status == "REMOVAL_REVIEW"
    assert case(other.case_number).status == "ENROLLED"
    # A second role (owner of another company) is a change too; the same roles again are none.
    snapshot_registry(db.session)
    db.session.execute(t.company_roles.insert().values(nik=member.nik, role="OWNER", company="CV Sentosa"))
    assert record_changes(db.session) == 1
    assert (
        db.session.scalars(select(RegistryChange).order_by(RegistryChange.id.desc())).first().new_value
        == "DIRECTOR:1,OWNER:1"
    )
    snapshot_registry(db.session)
    assert record_changes(db.session) == 0
    # A role given up: the old value, and NULL when the person holds none any more.
    snapshot_registry(db.session)
    db.session.execute(t.company_roles.delete().where(t.company_roles.c.nik == member.nik))
    assert record_changes(db.session) == 1
    gone = db.session.scalars(select(RegistryChange).order_by(RegistryChange.id.desc())).first()
    assert (gone.nik, gone.kk_number, gone.old_value, gone.new_value) == (
        member.nik,
        family.kk_number,
        "DIRECTOR:1,OWNER:1",
        None,
    )


def test_a_chunks_registry_answers_are_those_of_the_one_by_one_lookups(svc, personas):
    """On the app's database (SQLite, or PostgreSQL's `= ANY(array)`): a re-check chunk's set-based answers
    (tasks.prefetch.prefetch_families) equal each family's own look-ups."""
    from dataclasses import replace

    from integrations.base import PersonNotFound
    from tasks.prefetch import prefetch_families, take, using

    def same(record):  # the answer and its evidence's value, not the moment it was asked
        if isinstance(record, list):
            return [same(r) for r in record]
        return replace(record, evidence=None), record.evidence.source, record.evidence.value

    integrations = svc.engine.script_engine.integrations
    operators = svc.engine.operators(svc.engine.latest_version("recheck"))
    niks = [
        personas[p]
        for p in ("eligible_family_with_children", "company_owner", "four_wheel_vehicle", "eligible_head_without_photo")
    ] + ["3510011708459999"]
    answers = prefetch_families(integrations, operators, niks)
    with using(answers):
        for nik in niks[:-1]:
            person = take("civil_registry.lookup_person", nik, lambda: None)
            assert same(person) == same(integrations.civil_registry.lookup_person(nik))
            household = tuple(m["nik"] for m in person.household)
            kk = person.kk_number
            for kind, key, ask in (
                ("dtsen", kk, lambda kk=kk: integrations.dtsen.lookup_household(kk)),
                ("assets", kk, lambda kk=kk: integrations.assets.lookup_household(kk)),
                ("bpjs_health", nik, lambda nik=nik: integrations.bpjs_health.lookup(nik)),
                (
                    "bpjs_employment",
                    household,
                    lambda h=household: integrations.bpjs_employment.lookup_household(list(h)),
                ),
                ("civil_service", household, lambda h=household: integrations.civil_service.lookup_household(list(h))),
            ):
                assert (kind, key) in answers, kind
                assert same(take(kind, key, lambda: None)) == same(ask()), kind
        with pytest.raises(PersonNotFound):  # an unknown NIK: the error is kept for its step
            take("civil_registry.lookup_person", niks[-1], lambda: None)
    # Every answer taken once; the unknown NIK's health answer is left (its re-check stops at identity).
    assert list(answers) == [("bpjs_health", niks[-1])]
