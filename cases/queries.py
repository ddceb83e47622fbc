"""Read-only views of cases: lists scoped by district, and what a case view shows."""

from dataclasses import dataclass

from sqlalchemy import false, func, select

from engine.models import HumanTask

from .models import Application, CaseEvent, EvidenceRecord


@dataclass(frozen=True)
class CasePage:
    """One page of a case list."""

    rows: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))


def list_cases(session, regions, status=None, district=None, page=1, per_page=25):
    """Return a CasePage of cases in `regions` (None = every district), newest first, optionally filtered."""
    query = select(Application).where(Application.case_number.is_not(None))
    if regions is not None:
        query = query.where(Application.district_code.in_(sorted(regions)) if regions else false())
    if district:
        query = query.where(Application.district_code == district)
    if status:
        query = query.where(Application.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (
        session.execute(query.order_by(Application.id.desc()).limit(per_page).offset((page - 1) * per_page))
        .scalars()
        .all()
    )
    return CasePage(list(rows), total, page, per_page)


@dataclass(frozen=True)
class CaseRecords:
    """What a case view shows besides the application row."""

    tasks: list
    evidence: list
    events: list

    def registry_answer(self):
        """Return the latest civil-registry answer (the applicant and household), or {}."""
        return next((e.value for e in reversed(self.evidence) if e.source == "civil_registry"), {})


def case_records(session, app, actor=None):
    """Return the case's open tasks, evidence (oldest first, as `actor` may see it) and timeline."""
    tasks = (
        session.execute(
            select(HumanTask)
            .where(HumanTask.business_key == app.case_number, HumanTask.status.in_(("open", "claimed")))
            .order_by(HumanTask.id)
        )
        .scalars()
        .all()
    )
    from .duplicates import as_shown

    evidence = as_shown(  # the other cases of a face search with their NIKs masked in today's format
        session,
        session.execute(
            select(EvidenceRecord).where(EvidenceRecord.application_id == app.id).order_by(EvidenceRecord.id)
        )
        .scalars()
        .all(),
        actor,
    )
    events = (
        session.execute(
            select(CaseEvent).where(CaseEvent.application_id == app.id).order_by(CaseEvent.at, CaseEvent.id)
        )
        .scalars()
        .all()
    )
    return CaseRecords(list(tasks), list(evidence), list(events))


@dataclass(frozen=True)
class Place:
    """Who and where an inbox row is about: the applicant's name, village and district name."""

    name: str | None
    village: str | None
    district_name: str | None


def places_of(session, business_keys):
    """Return {business key: Place} for tasks' keys: case numbers, and objection numbers (the recipient)."""
    from .models import Objection

    keys = sorted({k for k in business_keys if k})
    if not keys:
        return {}
    places = {
        row.case_number: Place(row.applicant_name, row.village, row.district_name)
        for row in session.execute(
            select(
                Application.case_number, Application.applicant_name, Application.village, Application.district_name
            ).where(Application.case_number.in_(keys))
        )
    }
    rest = [k for k in keys if k not in places]
    if rest:
        for row in session.execute(
            select(Objection.number, Application.applicant_name, Objection.village, Application.district_name)
            .join(Application, Application.id == Objection.application_id)
            .where(Objection.number.in_(rest))
        ):
            places[row.number] = Place(row.applicant_name, row.village, row.district_name)
    return places
