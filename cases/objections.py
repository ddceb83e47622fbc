"""Community objections (usul/sanggah): a resident objects to an enrolled family of their own village.

The resident's village comes from their own civil-registry record, never from the request. The
objection is a process instance (processes/objection.bpmn) whose verification task sits in the
district's caseworker queue with a 14-day deadline; when an officer upholds it, the family's
enrolment is re-checked (`recheck_enrolment`), and the re-check decides, with its own four eyes.
The objector is known to officers; nothing about them reaches the recipient's case or its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.db import open_transaction, utcnow
from engine.errors import FormInvalid
from engine.models import HumanTask
from forms import ObjectionSchema
from forms.reason_codes import OBJECTION_GROUNDS, REASONS, ReasonCode
from integrations.base import PersonNotFound
from integrations.nik import NikInvalid, mask_nik, validate_nik

from .audit import record
from .models import Application, Objection
from .operations import CaseError, RecheckNotAllowed, recheck_enrolment
from .statuses import CaseStatus

PROCESS_ID = "objection"
REVIEW_FORM = "objection_review"
NUMBER_PREFIX = "SGH"

# What each ground says, in Indonesian and English (shown to residents and officers, and put in the
# re-check's reasons when an objection is upheld): the catalogue's short label of its reason code.
GROUND_TEXTS = {ground: (REASONS[code].label_id, REASONS[code].label_en) for ground, code in OBJECTION_GROUNDS.items()}


class ObjectionRefused(CaseError):
    code = "OBJECTION_REFUSED"


class ObjectorUnknown(ObjectionRefused):
    code = "OBJECTOR_UNKNOWN"


class RecipientNotInVillage(ObjectionRefused):
    code = "OBJECTION_OTHER_VILLAGE"


class DuplicateObjection(ObjectionRefused):
    code = "OBJECTION_DUPLICATE"


class TooManyObjections(ObjectionRefused):
    code = "OBJECTION_RATE_LIMIT"


class ObjectionNotFound(CaseError):
    code = "OBJECTION_NOT_FOUND"


@dataclass(frozen=True)
class Resident:
    """A resident as their own civil-registry record places them: who, and which village."""

    nik: str
    name: str
    district_code: str
    district_name: str
    village: str


def resident_for(integrations, nik):
    """Look the resident up in the civil registry; raise ObjectorUnknown if they are not a living resident."""
    try:
        nik = validate_nik(nik)
        person = integrations.civil_registry.lookup_person(nik)
    except (NikInvalid, PersonNotFound) as exc:
        raise ObjectorUnknown(f"{mask_nik(nik)} is not in the civil registry") from exc
    if not person.alive:
        raise ObjectorUnknown(f"{mask_nik(nik)} is recorded as deceased")
    return Resident(
        nik=person.nik,
        name=person.name,
        district_code=person.district_code,
        district_name=person.district_name,
        village=person.village,
    )


def initials(name):
    """Return the initials of a name ("Siti Rahayu" -> "S. R."); never the name itself."""
    return " ".join(f"{part[0]}." for part in (name or "").split() if part[:1].isalpha()) or "-"


def village_recipients(session, resident):
    """Return the enrolled families of the resident's village as [{id, initials, nik (masked)}], themselves left out.

    This is the minimum the programme publishes for objections: initials and a masked NIK.
    """
    rows = session.execute(
        select(Application.id, Application.applicant_name, Application.nik).where(
            Application.district_code == resident.district_code,
            Application.village == resident.village,
            Application.status == CaseStatus.ENROLLED,
            Application.nik != resident.nik,
        )
    ).all()
    listed = [{"id": app_id, "initials": initials(name), "nik": mask_nik(nik)} for app_id, name, nik in rows]
    return sorted(listed, key=lambda r: (r["initials"], r["nik"], r["id"]))


def _open_key(nik, application_id):
    return f"{nik}:{application_id}"


def file_objection(engine, resident, payload, per_day, actor_label=None):
    """Check and record an objection, start its verification process, and audit it; return the Objection.

    Refused: a recipient outside the resident's village (or not enrolled), the resident themselves,
    a second open objection by the same person about the same family, more than `per_day` in 24 hours.
    """
    session = engine.session
    try:
        data = ObjectionSchema().load(payload)
    except ValidationError as exc:
        raise FormInvalid("the objection has errors", exc.messages) from exc
    app = session.get(Application, data["recipient"])
    if (
        app is None
        or app.status != CaseStatus.ENROLLED
        or app.district_code != resident.district_code
        or app.village != resident.village
        or app.nik == resident.nik
    ):
        raise RecipientNotInVillage("objections can only be about an enrolled family of your own village")
    since = utcnow() - timedelta(hours=24)
    recent = session.scalar(
        select(func.count())
        .select_from(Objection)
        .where(Objection.objector_nik == resident.nik, Objection.filed_at >= since)
    )
    if recent >= per_day:
        raise TooManyObjections(f"at most {per_day} objections in 24 hours", limit=per_day)
    objection = Objection(
        application_id=app.id,
        objector_nik=resident.nik,
        objector_name=resident.name,
        open_key=_open_key(resident.nik, app.id),
        district_code=app.district_code,
        village=app.village,
        ground=data["ground"],
        reason=data["reason"],
        status="open",
    )
    open_transaction(session, Objection)  # else on SQLite the savepoint's release commits the objection
    try:
        with session.begin_nested():
            session.add(objection)
            session.flush()
    except IntegrityError as exc:  # the unique open key: already objected, or a concurrent double submit
        raise DuplicateObjection("you already have an open objection about this family") from exc
    objection.number = f"{NUMBER_PREFIX}-{utcnow():%Y}-{objection.id:07d}"
    session.flush()
    instance = engine.start(
        PROCESS_ID,
        objection.number,
        {
            "objection_number": objection.number,
            "objector_nik": resident.nik,
            "recipient_case": app.case_number,
            "ground": objection.ground,
        },
        region=app.district_code,
    )
    objection.instance_id = instance.id
    record(
        session,
        actor_label or f"resident {mask_nik(resident.nik)}",
        "objection.file",
        "objection",
        objection.number,
        detail={
            "recipient_case": app.case_number,
            "ground": objection.ground,
            "village": app.village,
            "district": app.district_code,
        },
        roles=("resident",),
    )
    return objection


def objection_or_404(session, number):
    """Return the objection with this number or raise ObjectionNotFound."""
    objection = session.execute(select(Objection).where(Objection.number == number)).scalar_one_or_none()
    if objection is None:
        raise ObjectionNotFound(f"objection {number} does not exist")
    return objection


def objections_of(session, nik, limit=100):
    """Return the objections a resident filed, newest first, as [{objection, initials, nik (masked)}]."""
    rows = session.execute(
        select(Objection, Application.applicant_name, Application.nik)
        .join(Application, Objection.application_id == Application.id)
        .where(Objection.objector_nik == nik)
        .order_by(Objection.filed_at.desc(), Objection.id.desc())
        .limit(limit)
    ).all()
    return [
        {"objection": o, "initials": initials(name), "nik": mask_nik(recipient_nik)} for o, name, recipient_nik in rows
    ]


def objection_tasks(session, number):
    """Return the verification tasks of an objection (open, claimed and finished), oldest first."""
    return list(
        session.execute(select(HumanTask).where(HumanTask.business_key == number).order_by(HumanTask.id)).scalars()
    )


def is_objection_number(value):
    """Tell whether a business key names an objection (its tasks sit in the same inbox as cases)."""
    return isinstance(value, str) and value.startswith(f"{NUMBER_PREFIX}-")


def _upheld_reason(objection):
    id_text, en_text = GROUND_TEXTS.get(objection.ground, GROUND_TEXTS["OTHER"])
    upheld = REASONS[ReasonCode.COMMUNITY_OBJECTION]
    return {
        "code": ReasonCode.COMMUNITY_OBJECTION.value,
        "effect": "review",
        "ref": objection.number,
        "id": f"{upheld.id.rstrip('.')}: {id_text}.",
        "en": f"{upheld.en.rstrip('.')}: {en_text}.",
    }


def record_objection_review(engine, row, actor, data, **_):
    """On a completed verification: keep the outcome and, if upheld, start the family's re-check."""
    if row.form_name != REVIEW_FORM or not is_objection_number(row.business_key):
        return
    session = engine.session
    objection = objection_or_404(session, row.business_key)
    objection.status = data["objection_outcome"]
    objection.outcome_note = data.get("objection_notes")
    objection.decided_by, objection.decided_at, objection.open_key = actor.id, utcnow(), None
    if objection.status == "upheld":
        app = session.get(Application, objection.application_id)
        try:
            recheck_enrolment(engine, app.case_number, actor=actor.id, review_reasons=[_upheld_reason(objection)])
            objection.recheck = "started"
        except RecheckNotAllowed:
            # Already under a re-check (it decides), or no longer enrolled: nothing more to start.
            objection.recheck = "already_running" if app.status == CaseStatus.ENROLLED else "not_enrolled"
        record(
            session,
            actor,
            "objection.recheck",
            "case",
            app.case_number,
            detail={"objection": objection.number, "result": objection.recheck},
        )
    session.flush()
