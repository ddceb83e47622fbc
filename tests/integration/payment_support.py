"""Factories for payment cycle tests: enrolled families as case records, a schedule, finance officers."""

from datetime import date, timedelta

from cases.models import Application, Enrolment, EnrolmentComponent
from cases.operations import actor_for, create_officer
from engine.db import db, utcnow
from payments.schedule import parse_schedule

SCHEDULE = """
return_after_days = 105

[programmes.PKH]
name = "PKH"
kind = "annual"
[programmes.PKH.components]
child_0_6 = 3000000
SD = 900000
elderly_70 = 2400000
[programmes.PKH.caps]
child_0_6 = 2
elderly_70 = 1

[programmes.BPNT]
kind = "monthly"
[programmes.BPNT.components]
food = 200000

[[cycles]]
code = "PKH-TEST-T1"
programme = "PKH"
months = ["2026-10", "2026-11", "2026-12"]
cut_off = "{cut_off}"

[[cycles]]
code = "PKH-TEST-T1-S1"
programme = "PKH"
months = ["2026-10", "2026-11", "2026-12"]
cut_off = "{later}"
supplements = "PKH-TEST-T1"

[[cycles]]
code = "PKH-TEST-T2"
programme = "PKH"
months = ["2027-01", "2027-02", "2027-03"]
cut_off = "{cut_off}"

[[cycles]]
code = "PKH-TEST-T3"
programme = "PKH"
months = ["2027-04", "2027-05", "2027-06"]
cut_off = "{cut_off}"

[[cycles]]
code = "BPNT-TEST-T1"
programme = "BPNT"
months = ["2026-11", "2026-12"]
cut_off = "{cut_off}"
"""


def schedule(cut_off=None):
    """A small schedule whose cycles' cut-off is tomorrow (families enrolled now are on the list)."""
    cut_off = cut_off or (date.today() + timedelta(days=1))
    return parse_schedule(SCHEDULE.format(cut_off=cut_off.isoformat(), later=(cut_off + timedelta(days=1)).isoformat()))


_serial = [0]


def family(
    components,
    district="01",
    channel="BRI",
    account="1234567890",
    status="ENROLLED",
    name="Siti Aminah",
    enrolled_at=None,
    ended=False,
    disbursement_ref=None,
):
    """An enrolled family (application, enrolment, components); return the Application."""
    _serial[0] += 1
    n = _serial[0]
    nik = f"3510{district}{41 + n % 28}0190{n % 9999 + 1:04d}"  # a valid NIK: a woman born on day 1-28
    app = Application(
        nik=nik,
        active_nik=nik,
        applicant_name=name,
        district_code=district,
        village="KALIPURO",
        channel="self",
        payment_channel=channel,
        bank_account=account,
        consent_version="v1",
        status=status,
        programmes=sorted({p for p, _, _ in components}),
    )
    db.session.add(app)
    db.session.flush()
    app.case_number = f"TPT-2026-{app.id:07d}"
    enrolment = Enrolment(
        application_id=app.id,
        nik=nik,
        programmes=app.programmes,
        benefits={},
        disbursement_ref=disbursement_ref,
        enrolled_at=enrolled_at or utcnow(),
        ended_at=utcnow() if ended else None,
    )
    db.session.add(enrolment)
    db.session.flush()
    db.session.add_all(
        EnrolmentComponent(enrolment_id=enrolment.id, programme=p, category=c, units=u) for p, c, u in components
    )
    db.session.flush()
    return app


def finance_officers():
    """Two finance officers of every district and one of district 25 only; return {username: Actor}."""
    out = {}
    for username, regions in (("fin1", None), ("fin2", None), ("fin_far", ["25"])):
        out[username] = actor_for(create_officer(db.session, username, username.upper(), ["finance_officer"], regions))
    db.session.commit()
    return out


def take_uploads(svc):
    """What the in-process scheduler (or a worker) does after a results upload: run every due chunk of every
    active run (the file's check and staging, then the chunks of its lines, then the follow-ups) until none is due.
    Returns how many chunks were taken."""
    from web.runs_exec import run_in_process

    taken = 0
    while True:
        db.session.rollback()
        now = run_in_process(svc.engine)
        if not now:
            db.session.expire_all()
            return taken
        taken += now
