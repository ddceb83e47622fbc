"""Public figures: counts match the database, small village cells are suppressed, no personal data leaks."""

import csv
import io
import json
import re
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select

from cases.figures import (
    APPROVED_STATUSES,
    HIDDEN,
    REJECTED_STATUSES,
    REMOVED_STATUSES,
    Area,
    cache,
    compute_figures,
    suppress_villages,
)
from cases.models import Appeal, Application
from cases.operations import file_appeal
from engine.db import db
from integrations.sandbox.tables import people
from tests.helpers import submit, work
from tests.integration.test_web import ROLES, login

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}
SUP_APPROVE = {"approval_decision": "approve"}
PUBLIC_ROUTES = ("/figures", "/figures.json", "/figures.csv")

# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py).
PUBLIC_ENDPOINTS = {"public.figures_page", "public.figures_json", "public.figures_csv"}


@pytest.fixture(autouse=True)
def _fresh_figures():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def handful(svc, personas, officers):
    """A handful of cases in several states: rejected, appealed, in review, enrolled."""
    numbers = {
        kind: submit(svc, personas[kind]).case_number
        for kind in ("civil_servant", "rich_decile", "deceased", "not_in_dtsen", "eligible_head_without_photo")
    }
    file_appeal(svc.engine, numbers["civil_servant"], {"reason": "My husband retired years ago, no pension."})
    db.session.commit()
    number = numbers["eligible_head_without_photo"]
    work(svc, number, "review", officers["cw1"], APPROVE)
    assert work(svc, number, "approve", officers["sup1"], SUP_APPROVE).status == "ENROLLED"
    return numbers


def _expected_from_rows():
    """Count every case by (district, village) in Python, the slow obvious way."""
    expected = defaultdict(Counter)
    days = defaultdict(list)
    apps = db.session.scalars(select(Application)).all()
    for app in apps:
        key = (app.district_code, app.village or "")
        cell = expected[key]
        cell["registered"] += 1
        if app.status in APPROVED_STATUSES:
            cell["approved"] += 1
        elif app.status in REJECTED_STATUSES:
            cell["rejected"] += 1
        elif app.status in REMOVED_STATUSES:
            cell["removed"] += 1
        else:
            cell["in_review"] += 1
        if app.decided_at is not None:
            days[key].append((app.decided_at - app.created_at).total_seconds() / 86400)
    for appeal in db.session.scalars(select(Appeal)).all():
        app = db.session.get(Application, appeal.application_id)
        expected[(app.district_code, app.village or "")]["appeals"] += 1
    return expected, days, apps


def test_figures_match_the_database(handful):
    db.session.expire_all()
    expected, days, apps = _expected_from_rows()
    assert all(app.village for app in apps), "the civil registry's village is kept on each case"
    assert {a.status for a in apps} >= {"ENROLLED", "REJECTED", "APPEAL_REVIEW", "IN_REVIEW"}
    figures = compute_figures(db.session, threshold=1)  # no suppression: every count exact
    seen = {}
    for district in figures.districts:
        for village in district.villages:
            seen[(district.code, village.name)] = village
        for name in ("registered", "approved", "rejected", "in_review", "removed", "appeals"):
            assert getattr(district, name) == sum(expected[k][name] for k in expected if k[0] == district.code)
        assert district.name and not district.name.isdigit()
    assert set(seen) == set(expected)
    for key, village in seen.items():
        for name in ("registered", "approved", "rejected", "in_review", "removed", "appeals"):
            assert getattr(village, name) == expected[key][name], (key, name)
        if days[key]:
            assert village.avg_days_to_decision == pytest.approx(sum(days[key]) / len(days[key]), abs=0.06)
        else:
            assert village.avg_days_to_decision is None
    assert figures.total.registered == len(apps) == 5
    assert figures.total.approved == 1 and figures.total.appeals == 1 and figures.total.in_review == 1
    assert figures.total.rejected == 3


def test_village_counts_under_the_threshold_are_suppressed(handful):
    figures = compute_figures(db.session, threshold=5)
    villages = [v for d in figures.districts for v in d.villages]
    assert villages and all(v.registered == "<5" for v in villages)  # a handful: every village is small
    assert all(v.avg_days_to_decision is None for v in villages)
    assert figures.total.registered == 5  # district and regency totals stay exact
    for district in figures.districts:
        assert isinstance(district.registered, int)


def _village(name, **counts):
    area = Area(None, name, **counts)
    area.registered = sum(counts.get(k, 0) for k in ("approved", "rejected", "in_review", "removed"))
    return area


def test_suppression_hides_what_subtraction_would_reveal():
    # One small cell in a column: another village's cell is hidden too, a zero first (shown "<5").
    villages = [
        _village("A", approved=20, rejected=2, in_review=9),
        _village("B", approved=30, rejected=0, in_review=12),
        _village("C", approved=25, rejected=11, in_review=7),
    ]
    suppress_villages(villages, 5)
    assert villages[0].rejected == "<5"
    assert villages[1].rejected == "<5"  # the zero, hidden as the complement of A's 2 in the column
    assert villages[2].rejected == 11
    # The row of A: rejected hidden, so another category of that row is hidden too.
    assert villages[0].removed == "<5"  # its zero
    # Rows and columns all hold zero or at least two hidden cells now.
    for v in villages:
        row = [getattr(v, k) for k in ("approved", "rejected", "in_review", "removed")]
        assert sum(isinstance(x, str) for x in row) != 1
    for k in ("registered", "approved", "rejected", "in_review", "removed", "appeals"):
        column = [getattr(v, k) for v in villages]
        assert sum(isinstance(x, str) for x in column) != 1, k


def test_suppression_hides_a_larger_count_as_a_star_when_no_zero_is_left():
    villages = [
        _village("A", approved=6, rejected=3, in_review=8, removed=5),
        _village("B", approved=7, rejected=9, in_review=10, removed=6),
    ]
    suppress_villages(villages, 5)
    assert villages[0].rejected == "<5"
    assert villages[0].removed == HIDDEN  # the smallest other count of A's row (5)
    assert villages[1].rejected == HIDDEN  # the column partner of A's rejected
    assert villages[1].removed == HIDDEN  # the column partner of A's removed
    # B's row now hides rejected and removed: two cells, nothing to work out.
    assert isinstance(villages[1].approved, int) and isinstance(villages[1].registered, int)


def test_village_averages_need_enough_decisions():
    small = Area(None, "A", registered=9, approved=9, decided=4, days_total=8.0)
    large = Area(None, "B", registered=9, approved=9, decided=5, days_total=10.0)
    suppress_villages([small, large], 5)
    assert small.avg_days_to_decision is None and large.avg_days_to_decision == 2.0


def test_figures_are_cached_for_a_minute(handful, svc, personas):
    first = cache.get(db.session, 5, 60)
    submit(svc, personas["high_wage"])
    assert cache.get(db.session, 5, 60) is first  # within the minute: the same publication
    assert cache.get(db.session, 5, 0).total.registered == first.total.registered + 1


@pytest.fixture
def client(ctx):
    from cases.operations import create_officer
    from tests.helpers import fresh_client
    from tests.integration.test_web import PASSWORD

    for role in ROLES:
        create_officer(db.session, f"w_{role}", role.title(), [role], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


def _personal_data(apps):
    """Every NIK, name, family-card and case number of the applicants and their households."""
    values = set()
    for app in apps:
        values |= {app.nik, app.case_number, app.kk_number, app.applicant_name}
        rows = db.session.execute(select(people.c.nik, people.c.name).where(people.c.kk_number == app.kk_number))
        for nik, name in rows:
            values |= {nik, name}
    return {v for v in values if v}


def test_public_pages_show_no_personal_data(client, handful):
    db.session.expire_all()
    apps = db.session.scalars(select(Application)).all()
    secrets = _personal_data(apps)
    assert len(secrets) > 10
    pages = {path: client.get(path) for path in PUBLIC_ROUTES}
    for path, response in pages.items():
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        leaked = [s for s in secrets if s in text]
        assert leaked == [], (path, leaked)
        assert not re.search(r"\d{16}", text), path
        assert "TPT-" not in text
    html = pages["/figures"].get_data(as_text=True)
    assert "<5" in html or "&lt;5" in html
    assert "Angka publik" in html and "kurang dari 5" in html  # Indonesian first; the threshold is explained
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert 'src="' in script[0] or 'type="application/json"' in script[0], script  # CSP: no inline code
    assert "'unsafe-inline'" not in pages["/figures"].headers["Content-Security-Policy"]
    data = json.loads(re.search(r'id="figures-chart-data">(.*?)</script>', html, re.S).group(1))
    assert sum(sum(d["data"]) for d in data["datasets"]) == 5
    rows = list(csv.DictReader(io.StringIO(pages["/figures.csv"].get_data(as_text=True))))
    assert rows[0]["level"] == "regency" and rows[0]["registered"] == "5"
    assert {r["level"] for r in rows} == {"regency", "district", "village"}
    assert all(r["registered"] == "<5" for r in rows if r["level"] == "village")
    assert "attachment" in pages["/figures.csv"].headers["Content-Disposition"]
    body = pages["/figures.json"].get_json()
    assert body["total"]["registered"] == 5 and body["threshold"] == 5


def test_figures_page_in_english_with_accessible_table_and_chart(client, handful):
    client.get("/lang/en")
    html = client.get("/figures").get_data(as_text=True)
    assert "Public figures" in html and "fewer than 5" in html
    assert "<caption>" in html and 'scope="col"' in html and 'scope="row"' in html
    canvas = re.search(r"<canvas[^>]*>", html).group(0)
    assert 'role="img"' in canvas and "aria-labelledby" in canvas and "aria-describedby" in canvas


@pytest.mark.parametrize("role", [None, *ROLES])
def test_public_routes_are_open_to_everyone(client, role):
    if role is not None:
        assert login(client, f"w_{role}").status_code == 302
    for path in PUBLIC_ROUTES:
        assert client.get(path).status_code == 200, (role, path)
