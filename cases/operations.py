"""State changes of cases, one function each; callers commit once."""

from marshmallow import ValidationError
from sqlalchemy import Executable, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from engine.core import Actor
from engine.db import open_transaction, utcnow
from engine.errors import EngineError, FormInvalid
from forms import AppealSchema, ApplicationSubmissionSchema
from integrations.nik import NikInvalid, mask_nik, validate_nik
from tasks.prefetch import prefetch_application, using

from .models import Appeal, Application, CaseEvent, Officer
from .statuses import CaseStatus

PROCESS_ID = "application"
# session.info key: {case number: Application} of the cases submitted in this session, so that the
# engine's listener (cases.listeners) finds the case without querying for it.
SUBMITTED_KEY = "tepat_submitted_applications"


class CaseError(EngineError):
    code = "CASE_ERROR"


class NikRejected(CaseError):
    code = "NIK_INVALID"


class DuplicateApplication(CaseError):
    code = "DUPLICATE_APPLICATION"


class CaseNotFound(CaseError):
    code = "CASE_NOT_FOUND"


class AppealNotAllowed(CaseError):
    code = "APPEAL_NOT_ALLOWED"


def case_or_404(session, case_number):
    """Return the application with this case number or raise CaseNotFound."""
    app = session.execute(select(Application).where(Application.case_number == case_number)).scalar_one_or_none()
    if app is None:
        raise CaseNotFound(f"case {case_number} does not exist")
    return app


def add_event(session, application, kind, summary, actor="system", detail=None, at=None):
    """Append a line to a case's timeline."""
    session.add(
        CaseEvent(
            application_id=application.id, kind=kind, summary=summary, actor=actor, detail=detail, at=at or utcnow()
        )
    )


def _open_case_for(session, nik):
    return session.execute(select(Application).where(Application.active_nik == nik)).scalar_one_or_none()


# (attribute key, column) of every mapped column of the case row, in table order.
_APPLICATION_COLUMNS = tuple((prop.key, prop.columns[0]) for prop in inspect(Application).column_attrs)


# Built once per dialect: a statement reused as it is costs no construction and no cache-key walk
# per submission (its values go in as parameters).
_CLAIM_STATEMENTS: dict[str, Executable] = {}
# Schemas are stateless once built; building one per submission cost more than loading with it.
_SUBMISSION_SCHEMA = ApplicationSubmissionSchema()


def _newest(column):
    """(SELECT column of the newest version of the application process), for the INSERT's RETURNING."""
    from engine.models import ProcessVersion

    return (
        select(column)
        .where(ProcessVersion.process_id == PROCESS_ID)
        .order_by(ProcessVersion.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _claim_statement(dialect):
    stmt = _CLAIM_STATEMENTS.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from engine.models import ProcessVersion

        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = Application.__table__
        # A Core INSERT returning every column, the columns' Python-side defaults included (the ORM's
        # own INSERT ... RETURNING entity path cost more than the rest of the claim); the newest
        # version's id and content hash come back with the row: read in the same statement (the
        # same snapshot) that claims the NIK, so the submission needs no separate version query.
        stmt = _CLAIM_STATEMENTS[dialect] = (
            insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.active_nik])
            .returning(
                *(table.c[column.key] for _, column in _APPLICATION_COLUMNS),
                _newest(ProcessVersion.id).label("newest_version_id"),
                _newest(ProcessVersion.content_hash).label("newest_version_hash"),
            )
        )
    return stmt


def _persistent_application(session, row):
    """The claimed row as a persistent Application of this session, as a query would load it (no SQL)."""
    app = Application()
    state = inspect(app)
    for (key, _column), value in zip(_APPLICATION_COLUMNS, row, strict=True):
        state.dict[key] = value
    make_transient_to_detached(app)  # loaded state, no pending changes: later changes are one UPDATE
    session.add(app)
    return app


def _insert_claiming_nik(session, values):
    """Insert the case row unless the NIK already has an open case.

    Return (the case or None when refused, (id, content hash) of the newest deployed version of the
    application process as this statement saw it, or None when not read).

    PostgreSQL and SQLite: one INSERT ... ON CONFLICT (active_nik) DO NOTHING RETURNING (a concurrent
    submission for the same NIK is waited for, then refused), with no savepoint around it.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        row = session.execute(_claim_statement(dialect), values, execution_options={"autoflush": False}).one_or_none()
        if row is None:
            return None, None
        width = len(_APPLICATION_COLUMNS)
        return _persistent_application(session, row[:width]), (row[width], row[width + 1])
    app = Application(**values)
    open_transaction(session, Application)  # else on SQLite the savepoint's release commits the case
    try:
        with session.begin_nested():
            session.add(app)
            session.flush()
    except IntegrityError:
        return None, None
    return app, None


def submit_application(engine, payload, photos=None, selfie=None, actor="applicant"):
    """Validate, create the case and start its process; refuse a second open case for a NIK."""
    session = engine.session
    try:
        data = _SUBMISSION_SCHEMA.load(payload)
    except ValidationError as exc:
        raise FormInvalid("the application has errors", exc.messages) from exc
    if selfie is not None and len(selfie) > photos.max_bytes:
        raise FormInvalid(
            "the photo is too large", {"selfie": [f"the photo is larger than {photos.max_bytes // (1024 * 1024)} MB"]}
        )
    try:
        nik = validate_nik(data["nik"])
    except NikInvalid as exc:
        raise NikRejected(str(exc), field="nik", reason=getattr(exc, "code", "NIK_INVALID")) from exc
    values = dict(
        nik=nik,
        active_nik=nik,
        district_code=nik[4:6],
        channel=data["channel"],
        facilitator=data.get("facilitator_id"),
        payment_channel=data["payment_channel"],
        bank_account=data.get("bank_account"),
        phone=data.get("phone"),
        consent_version=data["consent_version"],
        selfie_ref=data.get("selfie_ref"),
        status=CaseStatus.SUBMITTED.value,
    )
    # Slow work first, before this transaction writes anything (on SQLite the first write takes the
    # database's write lock until commit): the registry look-ups of the first run and the selfie's
    # face encoding (tasks/prefetch.py). Not with workers: the run happens later, on a worker.
    # The version to prepare with: the one this engine last read (no query), checked against the newest
    # one by the INSERT below, in the same statement; on a mismatch (a deploy since) the newest is read
    # then and used. Prefetched answers the newer diagram does not take are dropped; a look-up it adds
    # is made by its step.
    version, answers = None, None
    if not engine.defer_steps:
        version = engine.remembered_version(PROCESS_ID)
        if version is None:
            with session.no_autoflush:
                version = engine.latest_version(PROCESS_ID)
        answers = prefetch_application(engine.script_engine.integrations, engine.operators(version), nik, selfie)
    app, newest = _insert_claiming_nik(session, values)
    if app is not None and version is not None and newest != (version.id, version.content_hash):
        with session.no_autoflush:
            version = engine.latest_version(PROCESS_ID)
        engine.operators(version)  # known from now on: the next submission prepares with this version
    if app is None:  # the unique open-case NIK: an open case exists, or a concurrent submit won
        existing = _open_case_for(session, nik)
        number = existing.case_number if existing else None
        raise DuplicateApplication(
            f"NIK {mask_nik(nik)} already has an open case {number or ''}".strip(), case_number=number
        )
    if selfie is not None:  # stored only once the case exists: a refused submission keeps no photo
        selfie_ref = photos.put(selfie)
        kept = getattr(engine.script_engine.integrations, "selfie_faces", None)
        if kept is not None and engine.defer_steps:
            # With workers the face steps run in another process: keep the template (the caller's check
            # encoded it already; else it is encoded here, once) so they do not encode the selfie again.
            kept.keep(selfie, engine.script_engine.integrations.face)
    else:
        selfie_ref = app.selfie_ref
    case_number = f"TPT-{utcnow():%Y}-{app.id:07d}"
    settings = engine.settings
    start_data = {
        "nik": nik,
        "case_number": case_number,
        "selfie_ref": selfie_ref,
        "payment_channel": app.payment_channel,
        "bank_account": app.bank_account,
        "review_flags": [],
        "appeal_count": 0,
        "appeal_window": settings["BANSOS_APPEAL_WINDOW"],
        "review_sla_days": int(settings["BANSOS_REVIEW_SLA_WORKING_DAYS"]),
        "umk": int(settings["BANSOS_REGIONAL_MINIMUM_WAGE"]),
    }
    # The row's remaining fields (case number, photo, then the run's outcome) are given to the
    # engine's listener (cases.listeners), which sets them with the run's results: the row is then
    # written once more, in one UPDATE, instead of once before the run and again after it. The
    # INSERT above already holds the NIK and gives the id.
    submitted = {
        "application": app,
        "fields": {"case_number": case_number, "selfie_ref": selfie_ref},
        "event": {
            "kind": "submitted",
            "summary": f"Application submitted ({data['channel']})",
            "actor": actor,
            "at": utcnow(),
            "detail": {"consent_version": data["consent_version"], "channel": data["channel"]},
        },
    }
    session.info.setdefault(SUBMITTED_KEY, {})[case_number] = submitted
    try:
        with using(answers):
            instance = engine.start(PROCESS_ID, case_number, start_data, region=app.district_code, version=version)
    finally:
        session.info.get(SUBMITTED_KEY, {}).pop(case_number, None)
    if submitted.get("event") is not None:  # no listener took it (the engine alone, without cases)
        for name, value in submitted["fields"].items():
            setattr(app, name, value)
        event = submitted["event"]
        add_event(
            session, app, event["kind"], event["summary"], actor=event["actor"], detail=event["detail"], at=event["at"]
        )
    app.instance_id = instance.id
    return app


def file_appeal(engine, case_number, payload, actor="applicant"):
    """Record an appeal and deliver it to the waiting process; refused outside the window."""
    session = engine.session
    app = case_or_404(session, case_number)
    try:
        data = AppealSchema().load(payload)
    except ValidationError as exc:
        raise FormInvalid("the appeal has errors", exc.messages) from exc
    if app.status == CaseStatus.REMOVED:
        # An exit after a re-check is appealable while its re-check process waits in the appeal window
        # (processes/recheck.bpmn, exit_appeal_window); after the window, or a judged appeal, it is final.
        instance = engine.instance_for_key(case_number)
        if instance is None or instance.version.process_id != "recheck":
            raise AppealNotAllowed(
                f"case {case_number} cannot be appealed now (the appeal window has closed)", status=app.status
            )
    elif app.status != CaseStatus.REJECTED:
        raise AppealNotAllowed(f"case {case_number} cannot be appealed now (status {app.status})", status=app.status)
    appeal = Appeal(application_id=app.id, reason=data["reason"], evidence_refs=data["evidence_refs"])
    session.add(appeal)
    session.flush()
    engine.send_message(
        case_number,
        "appeal_filed",
        {"appeal_id": appeal.id, "reason": data["reason"], "filed_at": utcnow().isoformat()},
    )
    add_event(session, app, "appeal_filed", "Appeal filed", actor=actor, detail={"appeal_id": appeal.id})
    return appeal


class RecheckNotAllowed(CaseError):
    code = "RECHECK_NOT_ALLOWED"


def recheck_enrolment(engine, case_number, actor="system", review_reasons=()):
    """Re-run the eligibility rules for an enrolled family on fresh evidence (one re-check at a time).

    `review_reasons` (reason dicts: code, effect, id, en) send the family to a caseworker's removal
    review even when the rules still pass, e.g. a verified community objection.
    """
    app = case_or_404(engine.session, case_number)
    if app.status != CaseStatus.ENROLLED:
        raise RecheckNotAllowed(f"case {case_number} is {app.status}, not enrolled", status=app.status)
    if engine.instance_for_key(case_number) is not None:
        raise RecheckNotAllowed(f"case {case_number} already has a process running")
    settings = engine.settings
    data = {
        "nik": app.nik,
        "case_number": case_number,
        "review_flags": list(dict.fromkeys(r["code"] for r in review_reasons)),
        "review_reasons": [dict(r) for r in review_reasons],
        "umk": int(settings["BANSOS_REGIONAL_MINIMUM_WAGE"]),
        "appeal_window": settings["BANSOS_APPEAL_WINDOW"],
    }
    add_event(engine.session, app, "recheck_started", "Re-check started", actor=actor)
    return engine.start("recheck", case_number, data, region=app.district_code)


def case_diagram(engine, app):
    """Return the diagram of the case's latest process with where it stands: {xml, active, done}."""
    instance = engine.instance_for_key(app.case_number)
    instance_id = instance.id if instance is not None else app.instance_id
    found = engine.positions(instance_id) if instance_id else None
    if found is None:
        raise CaseNotFound(f"case {app.case_number} has no process")
    files, process_id, active, done = found
    xml = next((x for x in files.values() if f'id="{process_id}"' in x), next(iter(files.values())))
    return {"process_id": process_id, "xml": xml, "active": active, "done": done}


def actor_for(officer):
    """Build the engine's Actor from an officer record."""
    return Actor(
        id=officer.username,
        roles=frozenset(officer.roles or []),
        regions=None if officer.regions is None else frozenset(officer.regions),
        name=officer.name,
    )


def officer_or_404(session, username):
    """Return the active officer with this username or raise CaseNotFound."""
    officer = session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
    if officer is None or not officer.active:
        raise CaseNotFound(f"no active officer {username!r}")
    return officer


def create_officer(session, username, name, roles, regions=None, password=None):
    """Add an officer; roles and regions as lists; a password of at least 10 characters, if given."""
    from .accounts import set_password

    officer = Officer(username=username, name=name, roles=list(roles), regions=regions, failed_logins=0)
    if password:
        set_password(officer, password)
    session.add(officer)
    session.flush()
    return officer
