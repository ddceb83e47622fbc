"""How much database work one submission costs: counted statements, not timings (issue 10).

A submission used to make about 70 round trips: two registry queries per household member per
registry, the case row written four times, evidence rows one INSERT each, the process state inserted
empty and then updated. These tests count the SQL statements of one real submission (real engine,
real sandbox registry, on the test database) with a SQLAlchemy ``before_cursor_execute`` event.
"""

import re
from contextlib import contextmanager

from sqlalchemy import event, func, select

from cases.models import Application, EvidenceRecord
from engine.db import db
from engine.models import ProcessInstance
from integrations.sandbox.tables import people
from tests.helpers import case, submit

REGISTRY_TABLES = (
    "sandbox_people",
    "sandbox_households",
    "sandbox_dtsen",
    "sandbox_bpjs_health",
    "sandbox_bpjs_employment",
    "sandbox_assets",
    "sandbox_company_roles",
    "sandbox_civil_service",
)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|SAVEPOINT)\b", re.I)


@contextmanager
def statements():
    """Collect the SQL statements sent to the database inside the block."""
    sent = []

    def note(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _household(nik):
    kk = db.session.execute(select(people.c.kk_number).where(people.c.nik == nik)).scalar_one()
    return list(db.session.scalars(select(people.c.nik).where(people.c.kk_number == kk).order_by(people.c.nik)))


def _mentions(sent, table):
    return [s for s in sent if re.search(rf"\b{table}\b", s)]


def test_household_look_ups_are_one_query_per_registry_whatever_the_family_size(svc, personas):
    niks = _household(personas["eligible_family_with_children"])
    assert len(niks) >= 3
    employment, civil_service = svc.integrations.bpjs_employment, svc.integrations.civil_service
    with statements() as sent:
        wages = employment.lookup_household(niks)
        categories = civil_service.lookup_household(niks)
    assert len(sent) == 2, sent
    # The same answers, in the order asked, as the person-by-person look-up gives.
    assert [r.nik for r in wages] == niks and [r.nik for r in categories] == niks
    assert [(r.member, r.monthly_wage) for r in wages] == [
        (r.member, r.monthly_wage) for r in (employment.lookup(n) for n in niks)
    ]
    assert [r.category for r in categories] == [civil_service.lookup(n).category for n in niks]


def test_household_look_up_of_an_unknown_member_is_person_not_found(svc, personas):
    import pytest

    from integrations.base import PersonNotFound

    niks = _household(personas["eligible_family_with_children"])
    with pytest.raises(PersonNotFound):
        svc.integrations.bpjs_employment.lookup_household([*niks, "3510999999999999"])
    with pytest.raises(PersonNotFound):
        svc.integrations.civil_service.lookup_household(["3510999999999999", *niks])


def test_one_submission_sends_few_statements_and_writes_each_row_once(svc, personas):
    nik = personas["eligible_family_with_children"]
    household = _household(nik)
    with statements() as sent:
        number = submit(svc, nik).case_number
    app = case(number)
    assert app.status in ("ENROLLED", "REJECTED", "IN_REVIEW"), app.status
    # Each registry is asked once for the whole family, not once (or twice) per member.
    for table in ("sandbox_bpjs_employment", "sandbox_civil_service", "sandbox_dtsen", "sandbox_bpjs_health"):
        assert len(_mentions(sent, table)) == 1, (table, _mentions(sent, table))
    assert len(household) >= 3
    # The case row: one INSERT (it claims the NIK and gives the id), one UPDATE with everything else.
    assert len([s for s in sent if s.startswith("INSERT INTO applications")]) == 1
    assert (
        len(
            [
                s
                for s in sent
                if s.startswith("UPDATE applications SET") and "WHERE 0 = 1" not in s and "WHERE false" not in s
            ]
        )
        == 1
    ), [s[:80] for s in sent if s.startswith("UPDATE applications")]
    # The engine state is inserted once, whole, and not updated afterwards.
    assert len([s for s in sent if s.startswith("INSERT INTO process_instances")]) == 1
    assert not [s for s in sent if s.startswith("UPDATE process_instances")]
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert len(instance.state_json) > 1000
    # Evidence and timeline rows: one multi-row INSERT each.
    assert len([s for s in sent if s.startswith("INSERT INTO evidence")]) == 1
    assert len([s for s in sent if s.startswith("INSERT INTO case_events")]) == 1
    assert len(db.session.scalars(select(EvidenceRecord.id).where(EvidenceRecord.application_id == app.id)).all()) >= 6
    # In all: about 70 round trips before; the goal is at most 30.
    assert len(sent) <= 30, "\n".join(s[:100] for s in sent)


def test_registry_questions_are_asked_before_the_submission_writes_anything(svc, personas):
    """On SQLite the first write takes the database's write lock until commit: registry calls come first."""
    with statements() as sent:
        submit(svc, personas["eligible_family_with_children"])
    first_write = next(i for i, s in enumerate(sent) if WRITE.match(s))
    registry = [i for i, s in enumerate(sent) if any(re.search(rf"\b{t}\b", s) for t in REGISTRY_TABLES)]
    assert registry and max(registry) < first_write, "\n".join(f"{i}: {s[:90]}" for i, s in enumerate(sent))


def test_a_new_deployed_version_is_used_by_the_next_decision(svc, personas):
    """The deployed files are cached per version: a new version is a new key, never a stale bundle."""
    first = case(submit(svc, personas["high_wage"]).case_number)
    files = dict(svc.engine.version_files(db.session.get(ProcessInstance, first.instance_id).version))
    name = next(n for n in files if n.endswith("eligibility.dmn"))
    files[name] = files[name].replace("</definitions>", "<!-- v2 --></definitions>")
    svc.engine.deploy_files(files, deployed_by="tests")
    db.session.commit()
    second = case(submit(svc, personas["not_in_dtsen"]).case_number)
    assert second.rule_version != first.rule_version
    version = db.session.get(ProcessInstance, second.instance_id).version
    assert "<!-- v2 -->" in svc.engine.version_files(version)[name]
    assert db.session.scalar(select(Application.rule_version).where(Application.id == first.id)) == first.rule_version


def test_a_submission_racing_an_uncommitted_one_for_the_same_nik_waits_then_is_refused(app, svc, personas):
    """The case row's INSERT claims the NIK (ON CONFLICT DO NOTHING, no savepoint): a concurrent
    submission for the same NIK waits for the first to commit, then is refused with its case number."""
    import threading

    import pytest
    from sqlalchemy.orm import Session

    from cases.operations import DuplicateApplication
    from web import services

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite the first writer holds the database's write lock, one at a time")
    nik = personas["not_in_dtsen"]
    first = Session(db.engine)
    row = Application(
        nik=nik,
        active_nik=nik,
        district_code=nik[4:6],
        channel="self",
        consent_version="v1",
        status="SUBMITTED",
        case_number="TPT-RACE-1",
    )
    first.add(row)
    first.flush()  # holds the NIK, uncommitted
    outcome = {}

    def second():
        with app.app_context():
            try:
                submit(services(), nik)
                outcome["result"] = "submitted"
            except DuplicateApplication as exc:
                outcome["result"] = exc.details.get("case_number")
            finally:
                db.session.rollback()
                db.session.remove()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the second submission must wait for the first one's commit"
    first.commit()
    thread.join(30)
    first.close()
    assert outcome["result"] == "TPT-RACE-1"
    assert db.session.scalar(select(func.count()).select_from(Application).where(Application.nik == nik)) == 1


def test_a_version_deployed_by_another_process_is_used_by_the_next_submission(svc, personas):
    """The engine remembers the newest version it read and a submission prepares with it (no version
    query); the INSERT that claims the NIK reads the newest version's id and hash in the same statement,
    so a version another process deployed in the meantime is still the one the submission runs."""
    from sqlalchemy.orm import Session

    from engine.core import Engine
    from engine.models import ProcessVersion

    first = case(submit(svc, personas["high_wage"]).case_number)
    with statements() as sent:
        second = case(submit(svc, personas["eligible_family_with_children"]).case_number)
    assert not [s for s in sent if s.startswith("SELECT") and "process_versions" in s], sent
    assert (
        db.session.get(ProcessInstance, second.instance_id).version_id
        == db.session.get(ProcessInstance, first.instance_id).version_id
    )
    # Another process (its own connection and engine, not this engine) deploys a new version.
    files = dict(svc.engine.version_files(db.session.get(ProcessInstance, first.instance_id).version))
    name = next(n for n in files if n.endswith("eligibility.dmn"))
    files[name] = files[name].replace("</definitions>", "<!-- elsewhere --></definitions>")
    with Session(db.engine) as other:
        Engine(other, svc.engine.settings, svc.integrations, svc.engine.forms).deploy_files(files, deployed_by="tests")
        other.commit()
        newest = other.scalar(select(func.max(ProcessVersion.id)).where(ProcessVersion.process_id == "application"))
    assert svc.engine.remembered_version("application").id != newest  # this engine has not seen it
    third = case(submit(svc, personas["not_in_dtsen"]).case_number)
    assert db.session.get(ProcessInstance, third.instance_id).version_id == newest
    assert (
        "<!-- elsewhere -->"
        in svc.engine.version_files(db.session.get(ProcessInstance, third.instance_id).version)[name]
    )
    assert third.rule_version != first.rule_version
    assert svc.engine.remembered_version("application").id == newest


def test_a_notice_with_a_used_idempotency_key_is_stored_once_and_answers_the_first_id(svc, personas):
    """The notifier's one-statement path (INSERT ... ON CONFLICT DO NOTHING RETURNING) when no fault can apply."""
    import pytest

    from integrations.base import IntegrationTimeout
    from integrations.sandbox.tables import outbox

    notifier, nik = svc.integrations.notifier, personas["eligible_family_with_children"]
    with statements() as sent:
        first = notifier.send(nik, "SMS", "decision_approve", {"case_number": "TPT-X"}, idempotency_key="perf10:k1")
    assert len(sent) == 1, sent
    again = notifier.send(nik, "SMS", "decision_approve", {"case_number": "TPT-X"}, idempotency_key="perf10:k1")
    assert again == first
    db.session.commit()
    assert notifier.send(nik, "SMS", "decision_approve", {"case_number": "TPT-X"}, idempotency_key="perf10:k1") == first
    assert (
        db.session.scalar(select(func.count()).select_from(outbox).where(outbox.c.idempotency_key == "perf10:k1")) == 1
    )
    # With a fault injected for the recipient the call still goes through the fault check first.
    svc.integrations.faults.inject("notify", nik, "timeout")
    with pytest.raises(IntegrationTimeout):
        notifier.send(nik, "SMS", "decision_approve", {"case_number": "TPT-X"}, idempotency_key="perf10:k2")
    assert notifier.send(nik, "SMS", "decision_approve", {"case_number": "TPT-X"}, idempotency_key="perf10:k2")
