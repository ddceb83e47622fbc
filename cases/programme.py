"""Programme operations (issue 12): the registry refresh and the quarterly re-verification.

Registry refresh. Before a registry extract import replaces the sandbox registry tables, the fields
that matter for eligibility (civil registry: alive; DTSEN: decile; BPJS Ketenagakerjaan: wage;
ASN/TNI/Polri: category; assets: vehicles, electricity, company roles per person) are copied into `registry_snapshot`
with one
INSERT ... SELECT per field; after the import the change set is computed in the database (new or
changed values by an outer join of the table on the snapshot, removed rows by the reverse join) and
kept in `registry_changes` (NIK and/or KK, source, field, old, new, the import run). Nothing is
loaded row by row. The enrolled families touched by a change (their KK, or the applicant's NIK) are
re-checked by a tracked run of kind "registry_recheck" on the workers; the deaths end the deceased
member's benefit components at once (`member_benefit_ends`: one row per enrolment and member, with
the member's component categories, the reason and the end date, for the payment cycle to read).

Quarterly re-verification. A run of kind "reverify" re-checks every enrolled family (of the
starter's districts) once per quarter: the outcome per family is continue (the rules still pass),
review (a caseworker's removal review) or exit (an exclusion: the removal review, then a second
officer's approval, then the notice with every reason and the appeal window; processes/recheck.bpmn).
A quarter's run is started once: by `tepat reverify --quarter 2026Q4`, by an administrator on
/admin/runs, or by the scheduler when BANSOS_REVERIFY_SCHEDULE_ENABLED is on.
"""

from datetime import date

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from engine.db import UTCDateTime, db, utcnow
from engine.errors import EngineError, NotAllowed
from engine.runs import CANCELLED, FAILED, Run, create_run, register_kind
from engine.scope import scoped
from forms.reason_codes import ReasonCode
from integrations.nik import mask_nik
from integrations.sandbox import tables as t

from .audit import record
from .models import _ID, Application, Enrolment, Recheck
from .statuses import CaseStatus

REGISTRY_RECHECK, REVERIFY = "registry_recheck", "reverify"
DECEASED = ReasonCode.DECEASED.value  # a member benefit ended: the reason code


class RegistrySnapshot(db.Model):
    """The watched registry fields as they were before an import (emptied once the changes are kept)."""

    __tablename__ = "registry_snapshot"

    source: Mapped[str] = mapped_column(String(30), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(120), nullable=True)


class RegistryChange(db.Model):
    """One watched field of one person or family that an extract import changed."""

    __tablename__ = "registry_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # the import run
    source: Mapped[str] = mapped_column(String(30))
    nik: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    kk_number: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(120), nullable=True)
    new_value: Mapped[str | None] = mapped_column(String(120), nullable=True)
    detected_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class MemberBenefitEnd(db.Model):
    """A family member's benefit components ended (a death in the civil registry): what a payment cycle
    leaves out from `ended_on`. Additive: the enrolment's own benefits are left as they were."""

    __tablename__ = "member_benefit_ends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    application_id: Mapped[int] = mapped_column(_ID, ForeignKey("applications.id"), index=True)
    member_nik: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list] = mapped_column(JSON, default=list)  # [{programme, category, annual}]
    reason: Mapped[str] = mapped_column(String(40))
    ended_on: Mapped[object] = mapped_column(Date)
    change_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (db.UniqueConstraint("enrolment_id", "member_nik", name="uq_member_benefit_end"),)


# --- the change set of an import -------------------------------------------------------------------------


def _company_roles_by_person():
    """Company roles per person (the asset extract's PENGURUS_BADAN_USAHA): one row per NIK holding any,
    its value how many companies the person holds each role in, e.g. 'DIRECTOR:1,OWNER:0' (the same
    text on every database; a new role, a role dropped or another company is a change)."""
    from integrations.sandbox.extracts import ROLE_LABELS

    roles = t.company_roles
    parts = []
    for n, role in enumerate(sorted(ROLE_LABELS)):
        held = func.sum(case((roles.c.role == role, 1), else_=0))
        parts.append(literal(("," if n else "") + role + ":") + cast(held, String(12)))
    value = parts[0]
    for part in parts[1:]:
        value = value + part
    return select(roles.c.nik, value.label("roles")).group_by(roles.c.nik).subquery("company_roles_by_nik")


# (source, table, key column, field): what an import is compared on.
WATCHED = (
    ("civil_registry", t.people, "nik", "alive"),
    ("civil_registry", t.people, "nik", "kk_number"),
    ("dtsen", t.dtsen, "kk_number", "decile"),
    ("bpjs_employment", t.bpjs_employment, "nik", "monthly_wage"),
    ("civil_service", t.civil_service, "nik", "category"),
    ("assets", t.assets, "kk_number", "four_wheel_vehicles"),
    ("assets", t.assets, "kk_number", "electricity_va"),
    ("assets", t.assets, "kk_number", "electricity_subsidised"),
    ("assets", _company_roles_by_person(), "nik", "roles"),  # a member now a company owner or director
)


def _text(column):
    """A column's value as text, the same on every database (booleans as 'true'/'false')."""
    if isinstance(column.type, Boolean):
        return case((column == true(), literal("true")), (column == false(), literal("false")), else_=None)
    return cast(column, String(120))


def snapshot_registry(session):
    """Copy the watched fields into registry_snapshot (set-based); call before the import, same transaction.

    Returns the last change id kept so far: the changes of this import are those after it.
    """
    mark = session.scalar(select(func.max(RegistryChange.id))) or 0
    session.execute(delete(RegistrySnapshot))
    snap = RegistrySnapshot.__table__
    for source, table, key, field in WATCHED:
        session.execute(
            insert(snap).from_select(
                ["source", "field", "key", "value"],
                select(literal(source), literal(field), table.c[key], _text(table.c[field])),
            )
        )
    return mark


def record_changes(session, run_id=None, now=None):
    """Compare the imported tables with the snapshot in the database; keep the changes; return how many."""
    now = now or utcnow()
    snap = RegistrySnapshot.__table__
    changes = RegistryChange.__table__
    columns = ["run_id", "source", "nik", "kk_number", "field", "old_value", "new_value", "detected_at"]
    before = session.scalar(select(func.count()).select_from(changes))
    for source, table, key, field in WATCHED:
        new = _text(table.c[field])
        kind = and_(snap.c.source == source, snap.c.field == field)
        if key == "nik":
            people = t.people.alias("p")
            kk = (
                select(people.c.kk_number).where(people.c.nik == table.c.nik).scalar_subquery()
                if table is not t.people
                else table.c.kk_number
            )
            nik_col, kk_col = table.c.nik, kk
        else:
            nik_col, kk_col = literal(None, String(16)), table.c.kk_number
        # new or changed values
        session.execute(
            insert(changes).from_select(
                columns,
                select(
                    literal(run_id, Integer),
                    literal(source),
                    nik_col,
                    kk_col,
                    literal(field),
                    snap.c.value,
                    new,
                    literal(now, UTCDateTime),
                )
                .select_from(table.outerjoin(snap, and_(kind, snap.c.key == table.c[key])))
                .where(or_(snap.c.key.is_(None), snap.c.value.is_distinct_from(new))),
            )
        )
        # rows the extract no longer lists
        gone_kk = (
            select(t.people.c.kk_number).where(t.people.c.nik == snap.c.key).scalar_subquery()
            if key == "nik" and table is not t.people
            else literal(None, String(16))
        )
        session.execute(
            insert(changes).from_select(
                columns,
                select(
                    literal(run_id, Integer),
                    literal(source),
                    snap.c.key if key == "nik" else literal(None, String(16)),
                    gone_kk if key == "nik" else snap.c.key,
                    literal(field),
                    snap.c.value,
                    literal(None, String(120)),
                    literal(now, UTCDateTime),
                )
                .select_from(snap.outerjoin(table, table.c[key] == snap.c.key))
                .where(kind, table.c[key].is_(None)),
            )
        )
    session.execute(delete(RegistrySnapshot))
    return session.scalar(select(func.count()).select_from(changes)) - before


def _changes_of(run_id, since=0, change=RegistryChange):
    of_run = change.run_id.is_(None) if run_id is None else change.run_id == run_id
    return and_(of_run, change.id > (since or 0))


def touched_enrolled(run_id, since=0):
    """A SELECT of the case numbers of the enrolled families an import's changes touch (by KK or NIK)."""
    change = aliased(RegistryChange)
    touched = select(change.id).where(
        _changes_of(run_id, since, change),
        or_(
            and_(change.kk_number.is_not(None), change.kk_number == Application.kk_number),
            and_(change.nik.is_not(None), change.nik == Application.nik),
        ),
    )
    return select(Application.case_number).where(Application.status == CaseStatus.ENROLLED, touched.exists())


def end_deceased_components(session, settings, run_id=None, today=None, since=0):
    """End the benefit components of every enrolled family's member who died in this import; return how many.

    The deaths and their families are found set-based; each death's row is written once per enrolment
    (a second import repeating it changes nothing).
    """
    from tasks.benefits import pkh_components

    today = today or date.today()
    amounts = (settings.get("BANSOS_BENEFITS") or {}).get("PKH", {})
    query = (
        select(
            RegistryChange.id,
            RegistryChange.nik,
            Enrolment.id,
            Application.id,
            Application.case_number,
            t.people.c.birth_date,
            t.people.c.pregnant,
            t.people.c.disability,
            t.people.c.school_level,
            t.people.c.death_date,
        )
        .select_from(RegistryChange)
        .join(t.people, t.people.c.nik == RegistryChange.nik)
        .join(
            Application,
            and_(
                Application.status == CaseStatus.ENROLLED,
                or_(Application.kk_number == t.people.c.kk_number, Application.nik == RegistryChange.nik),
            ),
        )
        .join(Enrolment, and_(Enrolment.application_id == Application.id, Enrolment.ended_at.is_(None)))
        .where(
            _changes_of(run_id, since),
            RegistryChange.source == "civil_registry",
            RegistryChange.field == "alive",
            RegistryChange.new_value == "false",
        )
    )
    from .operations import add_event

    count = 0
    for change_id, nik, enrolment_id, app_id, _number, birth, pregnant, disability, school, died in session.execute(
        query
    ).all():
        exists = session.scalar(
            select(MemberBenefitEnd.id).where(
                MemberBenefitEnd.enrolment_id == enrolment_id, MemberBenefitEnd.member_nik == nik
            )
        )
        if exists:
            continue
        member = {"birth_date": birth, "pregnant": pregnant, "disability": disability, "school_level": school}
        categories = (
            pkh_components([member], {k: v for k, v in amounts.items() if k != "caps"}, today) if amounts else []
        )
        session.add(
            MemberBenefitEnd(
                enrolment_id=enrolment_id,
                application_id=app_id,
                member_nik=nik,
                categories=categories,
                reason=DECEASED,
                ended_on=died or today,
                change_id=change_id,
            )
        )
        app = session.get(Application, app_id)
        add_event(
            session,
            app,
            "member_benefits_ended",
            "Benefit components of a deceased member ended (civil registry)",
            detail={
                "member": mask_nik(nik),
                "reason": DECEASED,
                "categories": [c["category"] for c in categories],
                "ended_on": (died or today).isoformat(),
            },
        )
        count += 1
    session.flush()
    return count


def after_import(engine, import_run, since=0):
    """The import's change set is kept: end the deceased's components; start re-checking the touched families.

    Returns the re-check run (None when no enrolled family was touched). Same transaction as the import.
    """
    session = engine.session
    run_id = import_run.id if import_run else None
    ended = end_deceased_components(session, engine.settings, run_id, since=since)
    keys = touched_enrolled(run_id, since)
    if not session.scalar(select(func.count()).select_from(keys.subquery())):
        return None, ended
    run = create_run(
        session,
        REGISTRY_RECHECK,
        {"import_run_id": import_run.id if import_run else None, "deaths_ended": ended},
        import_run.started_by if import_run else "system",
        keys,
        engine.settings.get("BANSOS_RUN_CHUNK_SIZE", 50),
        regions=None,
    )
    record(
        session,
        import_run.started_by if import_run else "system",
        "run.start",
        target_type="run",
        target_id=str(run.id),
        detail={"kind": REGISTRY_RECHECK, "total": run.total, "import_run": import_run.id if import_run else None},
    )
    from .runkinds import _hint

    _hint(engine, run)
    return run, ended


# --- re-checking one family -----------------------------------------------------------------------------

OUTCOMES = {"keep": "continue", "review": "review", "exclude": "exit"}


def _recheck_family(engine, run, case_number):
    """Re-check one enrolled family; the outcome: continue, review, exit (or skipped: not enrolled now)."""
    from .operations import RecheckNotAllowed, case_or_404, recheck_enrolment

    try:
        instance = recheck_enrolment(engine, case_number, actor=run.started_by)
    except RecheckNotAllowed:
        return "skipped"
    engine.session.flush()
    outcome = engine.session.scalar(select(Recheck.outcome).where(Recheck.instance_id == instance.id))
    if outcome is None:  # deferred to a worker's step run (not expected inside a run's item)
        return case_or_404(engine.session, case_number).status.lower()
    return OUTCOMES.get(outcome, outcome)


def _prepare_families(engine, run, case_numbers):
    """A chunk's registry answers, set-based: one query per source for all its families (tasks/prefetch).

    Returns `around(case_number)`: each family's re-check takes its answers from them (a step that
    finds none asks the registry itself). Nothing with workers deferring steps: the run happens later.
    """
    from contextlib import nullcontext

    from tasks.prefetch import prefetch_families, using

    if engine.defer_steps or not case_numbers:
        return None
    version = engine.latest_version("recheck")
    niks = list(engine.session.scalars(select(Application.nik).where(Application.case_number.in_(case_numbers))))
    answers = prefetch_families(engine.script_engine.integrations, engine.operators(version), niks)
    if not answers:
        return lambda _key: nullcontext()
    return lambda _key: using(answers)


def register_run_kinds():
    """Declare the registry re-check and the re-verification kinds (through cases.runkinds.register_run_kinds)."""
    register_kind(REGISTRY_RECHECK, _recheck_family, prepare=_prepare_families)
    register_kind(REVERIFY, _recheck_family, prepare=_prepare_families)


# --- the quarterly re-verification ------------------------------------------------------------------------


class QuarterInvalid(EngineError):
    code = "QUARTER_INVALID"


class QuarterAlreadyRun(EngineError):
    code = "QUARTER_ALREADY_RUN"


def quarter_of(day):
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def parse_quarter(text):
    """'2026Q4' -> '2026Q4'; anything else raises QuarterInvalid."""
    value = (text or "").strip().upper()
    if len(value) != 6 or not value[:4].isdigit() or value[4] != "Q" or value[5] not in "1234":
        raise QuarterInvalid(f"{text!r} is not a quarter such as 2026Q4", field="quarter")
    return value


def quarter_run(session, quarter, regions=None):
    """The quarter's re-verification run that counts (not cancelled, not failed as a whole), if any."""
    runs = session.scalars(
        select(Run).where(Run.kind == REVERIFY, Run.status.not_in((CANCELLED, FAILED))).order_by(Run.id.desc())
    ).all()
    wanted = sorted(regions) if regions else None
    return next((r for r in runs if (r.params or {}).get("quarter") == quarter and r.regions == wanted), None)


def start_reverify_run(engine, actor, quarter, ip=None, user_agent=None):
    """Start the quarter's re-verification of every enrolled family of the actor's districts (once a quarter)."""
    if not set(actor.roles) & {"administrator"}:
        raise NotAllowed("only administrators start the quarterly re-verification", what="run")
    quarter = parse_quarter(quarter)
    existing = quarter_run(engine.session, quarter, actor.regions)
    if existing is not None:
        raise QuarterAlreadyRun(f"the re-verification of {quarter} is run {existing.id}", run_id=existing.id)
    keys = scoped(
        select(Application.case_number).where(Application.status == CaseStatus.ENROLLED),
        Application.district_code,
        actor,
    )
    from .runkinds import start_run

    return start_run(
        engine,
        actor,
        REVERIFY,
        {"quarter": quarter},
        keys,
        engine.settings.get("BANSOS_RUN_CHUNK_SIZE", 50),
        regions=actor.regions,
        ip=ip,
        user_agent=user_agent,
        detail={"quarter": quarter},
    )


def reverify_if_due(engine, today=None):
    """The scheduler's job: start this quarter's re-verification when the setting allows and none exists.

    Due from day BANSOS_REVERIFY_DAY (default 1) of the quarter's first month. Returns the run or None.
    """
    from engine.core import Actor

    settings = engine.settings
    if not settings.get("BANSOS_REVERIFY_SCHEDULE_ENABLED"):
        return None
    today = today or date.today()
    first_month = 3 * ((today.month - 1) // 3) + 1
    if (today.month, today.day) < (first_month, int(settings.get("BANSOS_REVERIFY_DAY", 1))):
        return None
    quarter = quarter_of(today)
    if quarter_run(engine.session, quarter) is not None:
        return None
    system = Actor(id="scheduler", roles=frozenset({"administrator"}), regions=None, name="scheduler")
    return start_reverify_run(engine, system, quarter, user_agent="scheduler")
