"""The open-task counters behind the inbox stay equal to a count of human_tasks through every change."""

import pytest
from sqlalchemy import func, select

from cases.operations import actor_for, create_officer
from engine.core import Actor
from engine.db import db
from engine.humantasks import claim_task, queue_counts, reassign_task, unclaim_task
from engine.models import HumanTask
from engine.queuecounts import open_counts, rebuild_open_counts
from tests.helpers import later, open_task, submit, wake_all, work

EVERYONE = Actor("all", frozenset({"caseworker", "supervisor", "appeals_officer"}))


def counted():
    """What a GROUP BY over human_tasks says (the former queue_counts query)."""
    rows = db.session.execute(
        select(HumanTask.queue, HumanTask.region, func.count())
        .where(HumanTask.status == "open")
        .group_by(HumanTask.queue, HumanTask.region)
    )
    return {(q, r): n for q, r, n in rows}


def check():
    db.session.expire_all()
    assert open_counts(db.session, EVERYONE.roles) == counted()


def test_counts_follow_claims_releases_completions_escalations_and_rollbacks(svc, officers, personas):
    first = submit(svc, personas["not_in_dtsen"]).case_number
    second = submit(svc, personas["eligible_head_without_photo"]).case_number
    check()
    assert sum(counted().values()) == 2
    review = open_task(first, "review")
    claim_task(svc.engine, review.id, officers["cw1"])
    db.session.commit()
    check()
    unclaim_task(svc.engine, review.id, officers["cw1"])
    db.session.commit()
    check()
    reassign_task(svc.engine, review.id, officers["sup1"], officers["cw2"])
    db.session.commit()
    check()
    db.session.rollback()
    # A change rolled back leaves the counts alone.
    claim_task(svc.engine, open_task(second, "review").id, officers["cw1"])
    db.session.rollback()
    check()
    # The review is completed and an approval task appears in the supervisors' queue.
    work(svc, first, "review", officers["cw2"], {"review_decision": "approve", "review_notes": "ok"})
    check()
    assert counted()[("supervisor", open_task(first, "approve").region)] >= 1
    # The second review's SLA passes: it is cancelled and an escalated review opens.
    with later(10):
        wake_all(svc)
    check()
    assert open_task(second, "review_escalated") is not None
    # A plain ORM edit of an expired row (as a script or a test might do) is counted too.
    row = open_task(second, "review_escalated")
    db.session.commit()
    row.region = "25"
    db.session.commit()
    check()
    row.status = "cancelled"
    db.session.flush()
    with db.session.begin_nested() as savepoint:
        open_task(first, "approve").status = "claimed"
        db.session.flush()
        savepoint.rollback()
    db.session.commit()
    check()


def test_the_inbox_counts_by_role_and_district_and_a_rebuild_agrees(svc, officers, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    region = open_task(number, "review").region
    assert queue_counts(db.session, officers["cw1"]) == {("caseworker", region): 1}
    assert queue_counts(db.session, officers["sup1"]) == {}
    far = Actor("far", frozenset({"caseworker"}), frozenset({"25" if region != "25" else "24"}))
    assert queue_counts(db.session, far) == {}
    before = open_counts(db.session, EVERYONE.roles)
    rebuild_open_counts(db.session)
    db.session.commit()
    assert open_counts(db.session, EVERYONE.roles) == before == counted()


def test_deactivating_an_officer_puts_counts_back(svc, officers, personas):
    from cases.officers import deactivate_officer

    number = submit(svc, personas["not_in_dtsen"]).case_number
    claim_task(svc.engine, open_task(number, "review").id, officers["cw1"])
    db.session.commit()
    check()
    admin = create_officer(db.session, "root_admin", "Root", ["administrator"], None)
    db.session.commit()
    from cases.models import Officer

    cw1 = db.session.execute(select(Officer).where(Officer.username == "cw1")).scalar_one()
    deactivate_officer(svc.engine, actor_for(admin), cw1)
    db.session.commit()
    check()
    assert sum(counted().values()) == 1


def _tasks(n_per_owner, owners, queue="caseworker", region="07"):
    """Open tasks in one queue and district, `n_per_owner` per owner (as assignee tags), without a process run."""
    from engine.db import utcnow
    from engine.models import ProcessInstance, ProcessVersion

    version = ProcessVersion(
        process_id="application",
        number=1,
        name="application",
        content_hash="0" * 64,
        files={},
        spec_json="{}",
        serializer_version="t",
        deployed_at=utcnow(),
        deployed_by="test",
    )
    db.session.add(version)
    db.session.flush()
    instance = ProcessInstance(
        version_id=version.id,
        business_key="TPT-C",
        region=region,
        status="running",
        state_json="{}",
        serializer_version="t",
    )
    db.session.add(instance)
    db.session.flush()
    for owner in owners:
        for i in range(n_per_owner):
            db.session.add(
                HumanTask(
                    instance_id=instance.id,
                    task_guid=f"{owner}-{i}",
                    bpmn_id="review",
                    queue=queue,
                    region=region,
                    business_key="TPT-C",
                    status="open",
                    assignee=owner,
                )
            )
    db.session.commit()


def _flip(session, task_id):
    task = session.get(HumanTask, task_id)
    task.status = "claimed" if task.status == "open" else "open"
    session.commit()


def test_counts_are_kept_in_slot_rows_summed_on_read_and_folded(ctx):
    from engine.models import OpenTaskCount
    from engine.queuecounts import fold_open_counts

    ctx.config["BANSOS_COUNTER_SLOTS"] = 4
    try:
        _tasks(10, ["a"])
        ids = db.session.scalars(select(HumanTask.id)).all()
        for i in range(40):
            _flip(db.session, ids[i % 7])
        check()
        if db.engine.dialect.name == "postgresql":
            # A change to a key whose slot rows exist: one statement finds a free slot row and adds to it.
            from sqlalchemy import event

            sent = []

            def note(conn, cursor, statement, parameters, context, executemany):
                if "open_task_counts" in statement:
                    sent.append(statement)

            event.listen(db.engine, "before_cursor_execute", note)
            try:
                _flip(db.session, ids[0])
            finally:
                event.remove(db.engine, "before_cursor_execute", note)
            assert len(sent) == 1 and sent[0].lstrip().startswith("WITH"), sent
            check()
        if db.engine.dialect.name == "postgresql":
            # Another transaction holds every slot row of the key: a change goes to another slot, without waiting.
            from sqlalchemy import text
            from sqlalchemy.orm import Session

            with Session(db.engine) as other:
                held = other.execute(select(OpenTaskCount.slot).with_for_update()).scalars().all()
                db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
                _flip(db.session, ids[8])
                other.rollback()
            check()
        rows = db.session.execute(select(OpenTaskCount.slot, OpenTaskCount.open_count)).all()
        assert {slot for slot, _ in rows} <= {0, 1, 2, 3}
        if db.engine.dialect.name == "postgresql":
            assert len(rows) == len(held) + 1
        assert sum(n for _, n in rows) == counted()[("caseworker", "07")]
        assert fold_open_counts(db.session) == 1
        db.session.commit()
        check()
        assert db.session.execute(select(OpenTaskCount.slot, OpenTaskCount.open_count)).all() == [
            (0, counted()[("caseworker", "07")])
        ]
    finally:
        ctx.config.pop("BANSOS_COUNTER_SLOTS")


def test_concurrent_changes_in_one_queue_keep_exact_counts(ctx):
    """Four threads change their own tasks of one queue and district at once: no deadlock, no lost update."""
    import threading

    from sqlalchemy.orm import Session

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one database write lock: concurrent writers just queue")
    owners = ["a", "b", "c", "d"]
    _tasks(5, owners)
    by_owner = {o: db.session.scalars(select(HumanTask.id).where(HumanTask.assignee == o)).all() for o in owners}
    errors = []

    def work(owner):
        try:
            with ctx.app_context(), Session(db.engine) as session:
                for i in range(23):  # tasks 0-2 flipped 5 times (claimed), 3-4 four times (open)
                    _flip(session, by_owner[owner][i % 5])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    check()
    assert open_counts(db.session, {"caseworker"}) == counted() == {("caseworker", "07"): 4 * 2}
