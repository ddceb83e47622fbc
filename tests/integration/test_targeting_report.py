"""The targeting report: savings per exclusion ground equal a hand-computed case; roles and districts.

The households below are written as the civil registry answers them (the case's civil_registry
evidence); the amounts are the settings' (BANSOS_BENEFITS, the domain's figures), computed by hand in
the comments.
"""

import io
from datetime import UTC, datetime

import pytest
from flask import current_app
from openpyxl import load_workbook
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application, EvidenceRecord
from cases.operations import create_officer
from cases.targeting import targeting_report
from engine.core import Actor
from engine.db import db
from tests.helpers import fresh_client
from tests.integration.test_web import PASSWORD, ROLES, login

DECIDED = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
EVERYWHERE = Actor(id="t", roles=frozenset({"administrator"}), regions=None, name="t")

# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py).
COVERED_ENDPOINTS = {"reports.targeting", "reports.targeting_xlsx"}


def person(nik, birth, alive=True, **extra):
    return {
        "nik": nik,
        "name": "X",
        "relation": "other",
        "sex": "F",
        "birth_date": birth,
        "alive": alive,
        "disability": False,
        "pregnant": False,
        "school_level": None,
        **extra,
    }


def _case(n, district, status, reasons=(), programmes=(), household=None, benefits=None, older=None):
    app = Application(
        nik=f"35100{n:011d}",
        consent_version="v1",
        district_code=district,
        status=status,
        reasons=[r if isinstance(r, dict) else {"code": r, "effect": "reject"} for r in reasons],
        programmes=list(programmes),
        benefits=benefits,
        decided_at=DECIDED,
        case_number=f"T-{n}",
        decision="approve" if status == "ENROLLED" else "reject",
    )
    db.session.add(app)
    db.session.flush()
    for members in (older, household):
        if members is not None:
            db.session.add(
                EvidenceRecord(
                    application_id=app.id,
                    source="civil_registry",
                    operator="civil_registry",
                    checked_at=DECIDED,
                    value={"nik": app.nik, "household": members},
                )
            )
    return app


@pytest.fixture
def world(svc):
    """Five excluded families, one enrolled, one still in review, in districts 01 and 02."""
    # A (01): deceased applicant AND wage above UMK. Living: spouse, three children aged 4, 3, 2 (PKH caps
    # young children at 2: 2 x 3,000,000) and a primary-school child (900,000); BPNT 12 x 200,000.
    # Cash 6,000,000 + 900,000 + 2,400,000 = 9,300,000; PBI 5 living x 42,000 x 12 = 2,520,000.
    _case(
        1,
        "01",
        "REJECTED",
        ["DECEASED", "WAGE_ABOVE_MINIMUM"],
        ["PKH", "BPNT", "PBI"],
        [
            person("a1", "1950-01-01", alive=False),
            person("a2", "1980-05-05"),
            person("a3", "2022-01-01"),
            person("a4", "2023-01-01"),
            person("a5", "2024-01-01"),
            person("a6", "2017-03-03", school_level="SD"),
        ],
        older=[person("a1", "1950-01-01"), person("a7", "2010-01-01", school_level="SMA")],
    )  # an older answer
    # B (01): decile 7, no programme: would have been paid Rp0.
    _case(
        2,
        "01",
        "CLOSED_REJECTED",
        ["DECILE_ABOVE_CUTOFF"],
        [],
        [person("b1", "1970-01-01"), person("b2", "2020-01-01")],
    )
    # G (01): removed after enrolment for a car. Senior-secondary child 2,000,000 + BPNT 2,400,000 = 4,400,000;
    # PBI 2 x 42,000 x 12 = 1,008,000.
    _case(
        3,
        "01",
        "REMOVED",
        ["FOUR_WHEEL_VEHICLE"],
        ["PKH", "BPNT", "PBI"],
        [person("g1", "1975-01-01"), person("g2", "2009-01-01", school_level="SMA")],
    )
    # C (02): civil-servant household. Elderly 86 (2,400,000), disabled adult (2,400,000), pregnant
    # (3,000,000), BPNT 2,400,000 = 10,200,000; PBI 3 x 504,000 = 1,512,000.
    _case(
        4,
        "02",
        "REJECTED",
        ["CIVIL_SERVANT_HOUSEHOLD"],
        ["PKH", "BPNT", "PBI"],
        [
            person("c1", "1940-01-01"),
            person("c2", "1975-01-01", disability=True),
            person("c3", "1995-01-01", pregnant=True),
        ],
    )
    # D (02): an officer's rejection as a duplicate; decile 5: PBI only, 2 x 504,000 = 1,008,000, no cash.
    _case(
        5,
        "02",
        "REJECTED",
        [{"code": "DUPLICATE", "by": "officer"}],
        ["PBI"],
        [person("d1", "1960-01-01"), person("d2", "1961-01-01")],
    )
    # E (01): enrolled: 5,000,000 cash and 84,000 a month of PBI premium (1,008,000 a year).
    _case(
        6,
        "01",
        "ENROLLED",
        [],
        ["PKH", "PBI"],
        [person("e1", "1980-01-01")],
        benefits={"annual_cash_total": 5_000_000, "pbi_premium_monthly": 84_000},
    )
    # F (01): still in review: not counted.
    _case(7, "01", "IN_REVIEW", ["DECEASED"], ["PKH"], [person("f1", "1980-01-01")])
    db.session.commit()


def _report(regions=None):
    actor = Actor(id="t", roles=frozenset({"supervisor"}), regions=regions, name="t")
    return targeting_report(db.session, actor, current_app.config["BANSOS_BENEFITS"])


def test_savings_equal_the_hand_computed_case(world):
    report = _report()
    d01, d02 = report.districts
    assert (d01.code, d02.code) == ("01", "02")
    g = d01.grounds
    assert (g["deceased"].families, g["deceased"].cash, g["deceased"].pbi) == (1, 9_300_000, 2_520_000)
    assert (g["wage"].families, g["wage"].total) == (1, 11_820_000)
    assert (g["decile"].families, g["decile"].total, g["decile"].zero) == (1, 0, 1)
    assert (g["assets"].families, g["assets"].cash, g["assets"].pbi) == (1, 4_400_000, 1_008_000)
    assert (g["civil_servant"].families, g["duplicate"].families, g["other"].families) == (0, 0, 0)
    # Any ground: A once (not twice), B, G.
    assert (d01.excluded.families, d01.excluded.cash, d01.excluded.pbi, d01.excluded.zero) == (
        3,
        13_700_000,
        3_528_000,
        1,
    )
    assert (d01.included.families, d01.included.cash, d01.included.pbi) == (1, 5_000_000, 1_008_000)
    g = d02.grounds
    assert (g["civil_servant"].families, g["civil_servant"].cash, g["civil_servant"].pbi) == (1, 10_200_000, 1_512_000)
    assert (g["duplicate"].families, g["duplicate"].cash, g["duplicate"].pbi, g["duplicate"].zero) == (
        1,
        0,
        1_008_000,
        0,
    )
    assert (d02.excluded.families, d02.excluded.total, d02.included.families) == (2, 12_720_000, 0)
    t = report.total
    assert (t.excluded.families, t.excluded.total, t.excluded.zero) == (5, 29_948_000, 1)
    # The ground lines count A under two grounds: they add up to more than the total saved.
    assert sum(c.total for c in t.grounds.values()) == 41_768_000
    assert (t.included.families, t.included.total) == (1, 6_008_000)


def test_an_officer_of_one_district_sees_only_it(world):
    report = _report(["02"])
    assert [d.code for d in report.districts] == ["02"]
    assert (report.total.excluded.families, report.total.excluded.total, report.total.included.families) == (
        2,
        12_720_000,
        0,
    )


@pytest.fixture
def web(world):
    for role in ROLES:
        create_officer(db.session, f"w_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "w_sup02", "Sup 02", ["supervisor"], ["02"], password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(web, role):
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302
    for path in ("/reports/targeting", "/reports/targeting.xlsx"):
        status = web.get(path).status_code
        if role is None:
            assert status == 302
        elif role in ("supervisor", "administrator", "auditor"):
            assert status == 200
        else:
            assert status == 403, (role, path, status)


def test_page_and_workbook_show_the_figures_and_the_method_and_are_audited(web):
    login(web, "w_auditor")
    html = web.get("/reports/targeting").get_data(as_text=True)
    assert "Laporan penargetan" in html and "Cara menghitung" in html
    assert 'id="total-excluded-families">5<' in html and "29.948.000" in html and "6.008.000" in html
    assert "tidak memenuhi program apa pun" in html  # the Rp0 families are named as such
    response = web.get("/reports/targeting.xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    total_any = [r for r in rows if not r[0] and r[2] and r[2].startswith("Keluarga dikecualikan")]
    assert total_any and total_any[0][3:8] == [5, 23_900_000, 6_048_000, 29_948_000, 1]
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.actor == "w_auditor")).scalars().all()
    assert "report.targeting.view" in actions and "report.targeting.export" in actions


def test_a_supervisor_of_district_02_does_not_see_district_01(web):
    login(web, "w_sup02")
    html = web.get("/reports/targeting").get_data(as_text=True)
    assert 'id="district-02"' in html and 'id="district-01"' not in html
    assert "12.720.000" in html and "29.948.000" not in html
    sheet = load_workbook(io.BytesIO(web.get("/reports/targeting.xlsx").data)).active
    assert {r[0] for r in sheet.iter_rows(min_row=2, values_only=True) if r[0]} == {"02"}


def test_cli_prints_the_report_and_writes_the_workbook(world, tmp_path):
    out = tmp_path / "t.xlsx"
    result = current_app.test_cli_runner().invoke(
        args=["report", "targeting", "--xlsx", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "29,948,000" in result.output and "Cara menghitung" in result.output
    sheet = load_workbook(out).active
    assert any(
        r[2] == "Pengecualian: Meninggal dunia" and r[0] == "01" and r[3] == 1 and r[6] == 11_820_000
        for r in sheet.iter_rows(values_only=True)
    )


def test_cases_decided_by_the_engine_land_under_their_grounds(svc, personas, officers):
    """Real runs of the application process: each rejection under its rule codes, the would-be benefit
    from the civil-registry household and the decile's programmes; the enrolled family's recorded benefit."""
    from tasks.benefits import calculate
    from tests.helpers import case, submit, work

    benefits = current_app.config["BANSOS_BENEFITS"]
    numbers = {p: submit(svc, personas[p]).case_number for p in ("deceased", "high_wage", "rich_decile")}
    enrolled = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, enrolled, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "ok"})
    work(svc, enrolled, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert case(enrolled).status == "ENROLLED"
    expected_grounds, expected_total = {}, 0
    from cases.targeting import grounds_of

    for number in numbers.values():
        app = case(number)
        assert app.status == "REJECTED"
        household = db.session.execute(
            select(EvidenceRecord.value)
            .where(EvidenceRecord.application_id == app.id, EvidenceRecord.source == "civil_registry")
            .order_by(EvidenceRecord.id.desc())
            .limit(1)
        ).scalar_one()["household"]
        amounts = (
            calculate(household, app.programmes, benefits, today=app.decided_at.date())
            if app.programmes
            else {"annual_cash_total": 0, "pbi_premium_monthly": 0}
        )
        amount = amounts["annual_cash_total"] + 12 * amounts["pbi_premium_monthly"]
        expected_total += amount
        for key in grounds_of(app.reasons):
            expected_grounds[key] = expected_grounds.get(key, 0) + amount
    assert "deceased" in expected_grounds and "wage" in expected_grounds and "decile" in expected_grounds
    report = targeting_report(db.session, EVERYWHERE, benefits)
    t = report.total
    assert t.excluded.families == 3 and t.excluded.total == expected_total
    assert {k: c.total for k, c in t.grounds.items() if c.families} == expected_grounds
    assert t.grounds["decile"].zero == t.grounds["decile"].families  # decile 6+: no programme, Rp0
    app = case(enrolled)
    assert (t.included.families, t.included.cash) == (1, app.benefits["annual_cash_total"])
    assert t.included.cash > 0


def test_the_cached_report_is_recomputed_when_a_case_changes(world):
    from cases.targeting import cache

    benefits = current_app.config["BANSOS_BENEFITS"]
    first = cache.get(db.session, EVERYWHERE, benefits)
    assert cache.get(db.session, EVERYWHERE, benefits) is first  # nothing changed: the same report
    app = db.session.execute(select(Application).where(Application.case_number == "T-7")).scalar_one()
    app.status, app.decided_at = "REJECTED", DECIDED
    from engine.db import utcnow

    app.updated_at = utcnow()
    db.session.commit()
    again = cache.get(db.session, EVERYWHERE, benefits)
    assert again is not first and again.total.excluded.families == first.total.excluded.families + 1


def test_a_removed_family_counts_with_the_household_its_removal_saw_not_a_later_answer(svc):
    """H was removed on a re-check that saw the head and a senior-secondary child; the civil registry
    answered again after the exit (the child moved out). The report counts what the removal saw:
    SMA 2,000,000 + BPNT 2,400,000 = 4,400,000 cash; PBI 2 x 42,000 x 12 = 1,008,000; total 5,408,000
    (with the later answer it would be 2,400,000 + 504,000 = 2,904,000).
    I was removed the same way but its re-check kept no civil-registry evidence: the newest answer,
    one head: 2,400,000 + 504,000 = 2,904,000."""

    seen = [person("h1", "1975-01-01"), person("h2", "2009-01-01", school_level="SMA")]
    removed = _case(8, "01", "REMOVED", ["FOUR_WHEEL_VEHICLE"], ["PKH", "BPNT", "PBI"], seen)
    decision_evidence = db.session.scalars(
        select(EvidenceRecord.id).where(EvidenceRecord.application_id == removed.id)
    ).one()
    later = EvidenceRecord(
        application_id=removed.id,
        source="civil_registry",
        operator="civil_registry",
        checked_at=datetime(2026, 9, 1, tzinfo=UTC),
        value={"nik": removed.nik, "household": [person("h1", "1975-01-01")]},
    )
    other = _case(
        9, "01", "REMOVED", ["FOUR_WHEEL_VEHICLE"], ["PKH", "BPNT", "PBI"], [person("i1", "1975-01-01")], older=seen
    )
    db.session.add(later)
    for app, evidence in ((removed, [{"id": decision_evidence, "source": "civil_registry"}]), (other, [])):
        _removed_on_recheck(
            svc,
            app,
            [
                {"criterion": "DECEASED", "outcome": "pass", "evidence": evidence},
                {"criterion": "FOUR_WHEEL_VEHICLE", "outcome": "fail", "evidence": [{"id": 10**9, "source": "assets"}]},
            ],
        )
    db.session.commit()
    assert later.id > decision_evidence  # the later answer is the newest
    g = _report().total.grounds["assets"]
    assert (g.families, g.cash, g.pbi) == (2, 4_400_000 + 2_400_000, 1_008_000 + 504_000)


def _removed_on_recheck(svc, app, explanation, checked_at=None):
    """The Recheck (and its finished instance) that removed `app`, with this explanation."""
    from cases.models import Recheck
    from engine.models import ProcessInstance

    instance = ProcessInstance(
        version_id=svc.engine.latest_version("recheck").id,
        business_key=app.case_number,
        status="completed",
        state_json="{}",
        serializer_version="1",
    )
    db.session.add(instance)
    db.session.flush()
    recheck = Recheck(application_id=app.id, instance_id=instance.id, outcome="exclude", explanation=explanation)
    if checked_at is not None:
        recheck.checked_at = checked_at
    db.session.add(recheck)
    return recheck


def _programme_rules(*eligible):
    return [
        {"criterion": f"PROGRAMME_{p}", "outcome": "eligible" if p in eligible else "not_eligible", "evidence": []}
        for p in ("PKH", "BPNT", "PBI")
    ]


def test_a_removed_family_counts_with_the_programmes_and_the_day_of_its_removal(svc):
    """The programmes are those the removal's re-check found the decile qualifies for, not the enrolment's.

    J enrolled at decile 2 (PKH, BPNT, PBI) with a head, a spouse and a child of 3; by its removal (a car)
    the decile had moved to 5: PBI only, 3 living x 42,000 x 12 = 1,512,000, no cash (with the enrolment's
    programmes it would be child 3,000,000 + BPNT 2,400,000 = 5,400,000 cash more).
    K enrolled at decile 5 (PBI only); its removal (wage above UMK) found decile 2: PKH, BPNT, PBI. Its one
    member, born 1 September 1956, was 69 at the enrolment decision (1 June 2026) and 70 at the re-check
    (1 November 2026), when ages are counted: elderly 2,400,000 + BPNT 2,400,000 = 4,800,000 cash;
    PBI 504,000 (with the enrolment's programmes: PBI 504,000 only).
    L's re-check kept no programme rule (an older diagram): its enrolment's programmes, PBI: 504,000."""
    removal_day = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    j = _case(
        10,
        "01",
        "REMOVED",
        ["FOUR_WHEEL_VEHICLE"],
        ["PKH", "BPNT", "PBI"],
        [person("j1", "1985-01-01"), person("j2", "1986-01-01"), person("j3", "2023-06-01")],
    )
    k = _case(11, "02", "REMOVED", ["WAGE_ABOVE_MINIMUM"], ["PBI"], [person("k1", "1956-09-01")])
    l_ = _case(12, "02", "REMOVED", ["WAGE_ABOVE_MINIMUM"], ["PBI"], [person("l1", "1960-01-01")])
    _removed_on_recheck(svc, j, [{"criterion": "FOUR_WHEEL_VEHICLE", "outcome": "fail"}, *_programme_rules("PBI")])
    _removed_on_recheck(
        svc,
        k,
        [{"criterion": "WAGE_ABOVE_MINIMUM", "outcome": "fail"}, *_programme_rules("PKH", "BPNT", "PBI")],
        checked_at=removal_day,
    )
    _removed_on_recheck(svc, l_, [{"criterion": "WAGE_ABOVE_MINIMUM", "outcome": "fail"}])
    db.session.commit()
    report = _report()
    d01, d02 = report.districts
    assert (d01.grounds["assets"].families, d01.grounds["assets"].cash, d01.grounds["assets"].pbi) == (1, 0, 1_512_000)
    wage = d02.grounds["wage"]
    assert (wage.families, wage.cash, wage.pbi) == (2, 4_800_000, 504_000 + 504_000)
    assert (report.total.excluded.families, report.total.excluded.total) == (3, 1_512_000 + 5_304_000 + 504_000)
