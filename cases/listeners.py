"""Record what the engine did on the case: evidence, timeline, status, decision, enrolment."""

from datetime import datetime

from sqlalchemy import insert, inspect, select

from engine import signals
from engine.db import utcnow

from .explanation import build_explanation, compare_explanations
from .models import (
    Appeal,
    Application,
    CaseEvent,
    Enrolment,
    EnrolmentComponent,
    EvidenceRecord,
    Recheck,
    enrolment_components,
)
from .objections import record_objection_review
from .operations import SUBMITTED_KEY, add_event
from .statuses import CLOSED_STATUSES, DECISION_STATUSES, CaseStatus

# Built once (rows go in as parameters): no statement construction per run.
_INSERT_EVIDENCE = insert(EvidenceRecord.__table__)
_INSERT_EVIDENCE_RETURNING = _INSERT_EVIDENCE.returning(
    EvidenceRecord.__table__.c.id, EvidenceRecord.__table__.c.source, EvidenceRecord.__table__.c.checked_at
)
_INSERT_EVENTS = insert(CaseEvent.__table__)
_INSERT_ENROLMENT = insert(Enrolment.__table__).returning(Enrolment.__table__.c.id)
_INSERT_COMPONENTS = insert(EnrolmentComponent.__table__)


def _application(session, runtime):
    """Return (the case, what cases.operations.submit_application left to record with the first run)."""
    key = runtime.instance.business_key
    submitted = session.info.get(SUBMITTED_KEY, {}).get(key)
    if submitted is not None and submitted.get("event") is not None:
        app = submitted["application"]  # at hand: no query
        if app in session and inspect(app).persistent:
            return app, submitted
    batch = getattr(runtime, "save_batch", None)
    if batch is not None:  # instances saved together (engine.start_many): their cases read in one query
        return _batch_applications(session, batch).get(key), None
    return session.execute(select(Application).where(Application.case_number == key)).scalar_one_or_none(), None


_BATCH_APPLICATIONS, _BATCH_EVENTS = "cases.applications", "cases.events"


def _batch_applications(session, batch):
    """{case number: case} of every instance of a batched save, read once for the whole batch."""
    found = batch.memo.get(_BATCH_APPLICATIONS)
    if found is None:
        keys = sorted({runtime.instance.business_key for runtime in batch.runtimes})
        found = batch.memo[_BATCH_APPLICATIONS] = {}
        for start in range(0, len(keys), 500):
            query = select(Application).where(Application.case_number.in_(keys[start : start + 500]))
            found.update((app.case_number, app) for app in session.scalars(query))
    return found


def _insert_events(session, runtime, events):
    """Timeline lines as one multi-row INSERT: now, or for a batched save once for the whole batch."""
    batch = getattr(runtime, "save_batch", None)
    if batch is None:
        session.execute(_INSERT_EVENTS, events)
        return
    pending = batch.memo.get(_BATCH_EVENTS)
    if pending is None:
        pending = batch.memo[_BATCH_EVENTS] = []
        batch.after.append(lambda: session.execute(_INSERT_EVENTS, pending))
    pending.extend(events)


def _summary(entry):
    kind = entry["kind"]
    if kind == "service":
        return f"Check {entry['operator']} done"
    if kind == "bpmn_error":
        return f"Check {entry['operator']} failed: {entry['code']}"
    if kind == "retry_scheduled":
        return f"{entry['operator']} unavailable (attempt {entry['attempts']}), retry at {entry['retry_at']}"
    if kind == "incident":
        return f"Incident on {entry['bpmn_id']}: {entry['error']}"
    if kind in ("task_created", "task_completed", "task_cancelled"):
        return f"{kind.replace('_', ' ').capitalize()}: {entry.get('name')}"
    if kind == "milestone":
        return f"Status {entry['status']}"
    if kind == "message":
        return f"Message received: {entry['name']}"
    return kind.replace("_", " ").capitalize()


def record_instance_saved(engine, runtime):
    """Turn an engine run's journal into evidence rows, timeline lines and the case status.

    Evidence rows and timeline lines go in as one multi-row INSERT each (no ORM round trip per row);
    the case row itself is only changed in memory here and written by the caller's next flush.
    """
    session = engine.session
    with session.no_autoflush:
        _record(engine, session, runtime)


def _record(engine, session, runtime):
    app, submitted = _application(session, runtime)
    if app is None:
        return
    evidence, events = [], []
    if submitted is not None:  # a case submitted in this transaction: its number, photo, first line
        for name, value in submitted["fields"].items():
            setattr(app, name, value)
        event = submitted.pop("event")
        events.append({"application_id": app.id, **event})
    if app.instance_id is None:
        app.instance_id = runtime.instance.id
    status = None
    for entry in runtime.journal:
        kind = entry["kind"]
        if kind == "service":
            for ev in entry.get("evidence") or []:
                evidence.append(
                    {
                        "application_id": app.id,
                        "source": ev["source"],
                        "operator": entry["operator"],
                        "checked_at": datetime.fromisoformat(ev["checked_at"]),
                        "value": ev["value"],
                    }
                )
                if ev["source"] == "civil_registry" and ev["value"].get("name"):
                    app.applicant_name = ev["value"]["name"]
                    app.kk_number = ev["value"].get("kk_number")
                    app.district_name = ev["value"].get("district_name")
                    app.village = ev["value"].get("village")
            continue  # the evidence row, with its time and source, is the timeline's record of a check
        if kind == "milestone":
            if entry["status"] == status:
                continue
            status = entry["status"]
        events.append(
            {
                "application_id": app.id,
                "kind": kind,
                "summary": _summary(entry),
                "actor": entry.get("actor", "system"),
                "at": entry["at"],
                "detail": {
                    k: v
                    for k, v in entry.items()
                    if k
                    in (
                        "operator",
                        "bpmn_id",
                        "code",
                        "message",
                        "status",
                        "attempts",
                        "queue",
                        "due_at",
                        "error",
                        "name",
                        "retry_at",
                    )
                },
            }
        )
    runtime.tepat_evidence = None
    if evidence:
        if submitted is not None:
            # The case's first run: these are all its evidence rows; their ids come back with the
            # INSERT, so the decision's explanation needs no query for them.
            # (Each returned row names its own source and time, so the order they come back in does
            # not matter: one multi-row statement, sorted by id here.)
            rows = session.execute(_INSERT_EVIDENCE_RETURNING, evidence).all()
            runtime.tepat_evidence = sorted((r.id, r.source, r.checked_at) for r in rows)
        else:
            session.execute(_INSERT_EVIDENCE, evidence)
    elif submitted is not None:
        runtime.tepat_evidence = []
    if events:
        _insert_events(session, runtime, events)
    # Set before the status is applied: the case row is then written once, by the caller's flush.
    app.updated_at = utcnow()
    if runtime.instance.version.process_id == "recheck":
        _record_recheck(session, app, status, runtime)
    elif runtime.instance.version.process_id == "payment_review":
        # A failed payment under review suspends the family from cycles (PAYMENT_REVIEW) and back; nothing else.
        if status in (CaseStatus.PAYMENT_REVIEW, CaseStatus.ENROLLED) and app.status in (
            CaseStatus.ENROLLED,
            CaseStatus.PAYMENT_REVIEW,
        ):
            app.status = status
    elif runtime.instance.version.process_id == "graduation":
        _record_graduation(session, app, status, runtime)
    elif status and status != app.status:
        _apply_status(session, app, status, runtime, first_run=submitted is not None)


_RULE_VERSIONS: dict[tuple[int, str], str] = {}  # (version id, content hash) -> its name


def rule_version(version, engine=None):
    """Name the rules a decision used: process, content hash and DMN files (cached per version)."""
    key = (version.id, version.content_hash)
    if key not in _RULE_VERSIONS:
        files = engine.version_files(version) if engine is not None else version.files
        dmn = ", ".join(sorted(n for n in files if n.endswith(".dmn")))
        _RULE_VERSIONS[key] = f"{version.process_id}@{version.content_hash[:12]} ({dmn})"
    return _RULE_VERSIONS[key]


def _explain(session, app, runtime, data):
    # This run's evidence rows are in the database already (inserted by _record, not pending).
    rows = getattr(runtime, "tepat_evidence", None)  # a new case's rows, from their INSERT
    if rows is None:
        rows = session.execute(
            select(EvidenceRecord.id, EvidenceRecord.source, EvidenceRecord.checked_at)
            .where(EvidenceRecord.application_id == app.id)
            .order_by(EvidenceRecord.id)
        )
    evidence = [{"id": ev_id, "source": source, "checked_at": at.isoformat()} for ev_id, source, at in rows]
    version = runtime.instance.version
    return build_explanation(
        runtime.engine.version_files(version), rule_version(version, runtime.engine), data, evidence
    )


def _record_recheck(session, app, status, runtime):
    """Keep a re-check's result and what changed since the last decision; act on removal."""
    data = runtime.current_data
    done = session.execute(select(Recheck).where(Recheck.instance_id == runtime.instance.id)).scalar_one_or_none()
    if done is None and "recheck_outcome" in data:
        explanation = _explain(session, app, runtime, data)
        changes = compare_explanations(app.explanation, explanation)
        session.add(
            Recheck(
                application_id=app.id,
                instance_id=runtime.instance.id,
                outcome=data["recheck_outcome"],
                rule_version=rule_version(runtime.instance.version),
                changes=changes,
                explanation=explanation,
            )
        )
        add_event(
            session,
            app,
            "recheck",
            f"Re-check: {data['recheck_outcome']}, {len(changes)} change(s)",
            detail={"outcome": data["recheck_outcome"], "change_count": len(changes), "changes": changes[:20]},
        )
    if status and status != app.status:
        before, app.status = app.status, status
        if status == CaseStatus.ENROLLED and before == CaseStatus.APPEAL_REVIEW:
            _reinstate(session, app, runtime)
        if status == CaseStatus.REMOVED:
            app.active_nik = None
            app.reasons = data.get("reasons") or []
            app.applicant_message = data.get("approval_message") or data.get("removal_message") or None
            for enrolment in session.execute(
                select(Enrolment).where(Enrolment.application_id == app.id, Enrolment.ended_at.is_(None))
            ).scalars():
                enrolment.ended_at = utcnow()


def _reinstate(session, app, runtime):
    """An exit overturned on appeal (processes/recheck.bpmn, reinstated): the enrolment resumes (its end is
    cleared) and the stages missed since the exit are owed as arrears (payments.cycles.add_appeal_arrears)."""
    from .operations import _open_case_for

    enrolment = session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalar_one_or_none()
    exited = enrolment.ended_at if enrolment is not None else None
    if enrolment is not None:
        enrolment.arrears_from = enrolment.arrears_from or exited
        enrolment.ended_at = None
    # The open-case NIK again, unless the family applied anew meanwhile (that case keeps it).
    other = _open_case_for(session, app.nik)
    if other is None or other.id == app.id:
        app.active_nik = app.nik
    app.reasons = []
    app.applicant_message = None
    # The appeals officer who overturned it (this run completed their task).
    judged = next(
        (
            e.get("actor")
            for e in runtime.journal
            if e.get("kind") == "task_completed" and e.get("bpmn_id") == "appeal_review"
        ),
        None,
    )
    add_event(
        session,
        app,
        "reinstated",
        "Exit overturned on appeal: enrolment restored",
        actor=judged or "system",
        detail={
            "exited_at": exited.isoformat() if exited else None,
            "other_open_case": other.case_number if other is not None and other.id != app.id else None,
        },
    )


def _record_graduation(session, app, status, runtime):
    """A graduation's status: under confirmation, back to enrolled, or graduated (the enrolment ends, so the
    next payment cycle leaves the family out; the NIK may apply again later)."""
    if not status or status == app.status:
        return
    app.status = status
    if status != CaseStatus.GRADUATED:
        return
    data = runtime.current_data
    app.active_nik = None
    app.applicant_message = data.get("graduation_message") or None
    ended = utcnow()
    for enrolment in session.execute(
        select(Enrolment).where(Enrolment.application_id == app.id, Enrolment.ended_at.is_(None))
    ).scalars():
        enrolment.ended_at = ended
    add_event(
        session,
        app,
        "graduated",
        f"Graduated ({data.get('graduation_kind')})",
        detail={"kind": data.get("graduation_kind"), "declared_by": data.get("declared_by")},
    )


def _apply_status(session, app, status, runtime, first_run=False):
    """Set the case's status and decision from the run; an enrolment is written with Core statements
    (its row, then its components), so the case row is still written once, by the caller's flush.

    `first_run`: the case was submitted in this transaction, so it has no appeal yet.
    """
    app.status = status
    data = runtime.current_data
    if status in DECISION_STATUSES and "exclusions" in data:
        app.explanation = _explain(session, app, runtime, data)
    if status in DECISION_STATUSES:
        app.decision = data.get("decision")
        app.decided_by = data.get("decided_by")
        app.reasons = data.get("reasons") or []
        app.applicant_message = data.get("applicant_message") or None
        app.review_flags = data.get("review_flags") or []
        app.programmes = data.get("programmes") or []
        app.rule_version = rule_version(runtime.instance.version)
        if app.decision in ("approve", "reject") and status != CaseStatus.AWAITING_APPROVAL:
            app.decided_at = utcnow()
    if status in CLOSED_STATUSES:
        app.active_nik = None
    if status == CaseStatus.ENROLLED:
        app.benefits = data.get("benefits")
        # An instance of an older diagram may have paid the first stage at enrolment (its reference is kept for
        # the history); since the cycles pay every family, enrolment records the payment plan instead.
        disbursement = data.get("disbursement") or {}
        plan = data.get("payment_plan") or disbursement.get("payment_plan")
        # A rejection overturned on appeal: the stages missed since the application are owed as arrears.
        overturned = (
            None
            if first_run
            else session.execute(
                select(Appeal.id).where(Appeal.application_id == app.id, Appeal.outcome == "overturn").limit(1)
            ).first()
        )
        # The enrolment's id comes back with its INSERT, for its components (what payment cycles freeze).
        enrolment_id = session.execute(
            _INSERT_ENROLMENT,
            {
                "application_id": app.id,
                "nik": app.nik,
                "programmes": app.programmes,
                "benefits": app.benefits or {},
                "disbursement_ref": disbursement.get("reference"),
                "payment_plan": _complete_plan(session, runtime, app, data, plan),
                "arrears_from": app.created_at if overturned is not None else None,
            },
        ).scalar_one()
        components = [
            {"enrolment_id": enrolment_id, "programme": p, "category": c, "units": n}
            for p, c, n in enrolment_components(app.benefits, app.programmes)
        ]
        if components:
            session.execute(_INSERT_COMPONENTS, components)


def _complete_plan(session, runtime, app, data, plan):
    """The payment plan the enrolment keeps: the diagram's, or, for an older diagram whose step passed no
    benefits (payments.request_disbursement), one built now from the case's benefits."""
    if plan is None or plan.get("programmes") or not enrolment_components(app.benefits, app.programmes):
        return plan
    from payments.plan import plan_for

    settings = getattr(getattr(runtime, "engine", None), "settings", None) or {}
    return plan_for(
        settings, session, app.benefits, app.programmes, data.get("payment_channel"), data.get("bank_account")
    )


def record_task_completed(engine, row, actor, data):
    """Keep the appeal's outcome with the appeal."""
    if row.bpmn_id != "appeal_review":
        return
    session = engine.session
    app = session.execute(select(Application).where(Application.case_number == row.business_key)).scalar_one()
    appeal = (
        session.execute(
            select(Appeal).where(Appeal.application_id == app.id, Appeal.outcome.is_(None)).order_by(Appeal.id.desc())
        )
        .scalars()
        .first()
    )
    if appeal is not None:
        appeal.outcome, appeal.decided_by, appeal.decided_at = data["appeal_outcome"], actor.id, utcnow()


def record_task_assigned(engine, row, actor, action, target, runtime=None):
    """Log claims, releases and reassignments on the case timeline."""
    session = engine.session
    app = session.execute(select(Application).where(Application.case_number == row.business_key)).scalar_one_or_none()
    if app is not None:
        add_event(
            session,
            app,
            f"task_{action}",
            f"Task {row.name}: {action} ({target or '-'})",
            actor=actor.id,
            detail={"task_id": row.id, "target": target, "bpmn_id": row.bpmn_id, "name": row.name},
        )


def connect():
    """Subscribe the case recorders to the engine's signals (idempotent)."""
    signals.instance_saved.connect(record_instance_saved)
    signals.task_completed.connect(record_task_completed)
    signals.task_assigned.connect(record_task_assigned)
    signals.task_completed.connect(record_objection_review)
