"""Officers' case search (/search): NIK or family card, case number, name prefix; district limits; audit."""

import re

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application
from cases.officers import district_name
from cases.operations import create_officer
from cases.search import COUNT_CAP, Query, parse
from cases.tokens import issue_token
from engine.db import db
from integrations.nik import mask_nik
from tests.helpers import case, fresh_client, submit
from tests.integration.api_support import api  # noqa: F401  (the fixture)
from tests.integration.test_web import PASSWORD, ROLES, csrf_of, login

# The authorization matrix below requests this route as every role and anonymously.
COVERED_ENDPOINTS = {"search.index"}


@pytest.fixture
def client(ctx):
    for role in ROLES:
        create_officer(db.session, f"s_{role}", role.title(), [role], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as c:
        yield c


def _far_officer(district):
    """A caseworker of one district that is not `district`."""
    other = "25" if district != "25" else "24"
    create_officer(db.session, "s_far", "Far Caseworker", ["caseworker"], [other], password=PASSWORD)
    db.session.commit()


def _searches():
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.search").order_by(AuditEntry.id)
    ).all()


def search(client, q, page=None):
    """Search as the top bar's form does (POST: a NIK stays out of addresses and logs); return the page."""
    data = {"q": q, "csrf_token": csrf_of(client, "/search"), **({"page": page} if page else {})}
    response = client.post("/search", data=data)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def _results(html):
    """The page without the search field (which shows what the officer typed)."""
    return html.split('id="search-help"', 1)[1]


def _rows(html):
    return re.findall(r'href="/cases/(TPT-\d{4}-\d{7})"', html)


def test_parse_tells_nik_case_number_and_name_apart():
    assert parse("3510 0112 3456 0001") == Query("nik", "3510011234560001")
    assert parse(" tpt-2026-0000042 ") == Query("case", "TPT-2026-0000042")
    assert parse("TPT 2026 0000042") == Query("case", "TPT-2026-0000042")
    assert parse("  Siti   NUR ") == Query("name", "siti nur")
    assert parse("si").kind == "too_short"
    assert parse("35100112").kind == "invalid"  # part of a NIK is not searched
    assert parse("").kind == "invalid"


def test_search_by_nik_case_number_and_name_prefix(client, svc, personas):
    nik = personas["not_in_dtsen"]
    app = submit(svc, nik)
    other = submit(svc, personas["eligible_head_without_photo"])
    app, other = case(app.case_number), case(other.case_number)
    assert app.applicant_name and app.village
    login(client, "s_caseworker")

    html = search(client, nik)
    assert _rows(html) == [app.case_number]
    assert nik not in _results(html) and mask_nik(nik) in html  # the NIK masked
    assert app.applicant_name in html and app.village.title() in html and district_name(app.district_code) in html
    assert "Dalam peninjauan" in html and "IN_REVIEW" not in html  # the status, translated
    if app.kk_number and app.kk_number != other.kk_number:  # the family card number finds the family's case
        assert _rows(search(client, app.kk_number)) == [app.case_number]

    sloppy = app.case_number.lower().replace("-", " ")
    assert _rows(search(client, sloppy)) == [app.case_number]

    prefix = app.applicant_name.split()[0][:4].lower()
    html = client.get(f"/search?q={prefix}").get_data(as_text=True)  # a link (GET) works too
    assert app.case_number in _rows(html)
    assert all(case(n).applicant_name.lower().startswith(prefix) for n in _rows(html))
    assert other.case_number not in _rows(html) or other.applicant_name.lower().startswith(prefix)

    html = search(client, "zzzzqx")
    assert _rows(html) == [] and "0 kasus ditemukan" in html
    html = search(client, "si")
    assert "Ketik paling sedikit 3 huruf nama." in html
    assert "Bukan NIK, nomor kasus, atau nama." in search(client, "3510011")


def test_a_district_limited_officer_never_learns_of_a_case_elsewhere(client, svc, personas):
    nik = personas["not_in_dtsen"]
    app = case(submit(svc, nik).case_number)
    _far_officer(app.district_code)
    login(client, "s_far")
    for q in (nik, app.case_number, app.applicant_name[:5]):
        html = search(client, q)
        assert app.case_number not in _results(html) and "0 kasus ditemukan" in html, q
        assert "Hanya kasus di kecamatan Anda yang dicari." in html
    assert [e.detail["results"] for e in _searches()] == [0, 0, 0]


def test_every_search_is_audited_with_the_nik_masked(client, svc, personas):
    nik = personas["not_in_dtsen"]
    app = case(submit(svc, nik).case_number)
    login(client, "s_auditor")
    search(client, nik)
    search(client, app.case_number.lower())
    search(client, app.applicant_name[:3])
    search(client, "3510011")
    nik_search, number_search, name_search, invalid = _searches()
    assert nik_search.actor == "s_auditor" and nik_search.target_type == "search"
    assert nik_search.detail["kind"] == "nik" and nik_search.detail["results"] == 1
    assert nik_search.detail["query"] == mask_nik(nik)
    assert nik not in str(nik_search.detail) and nik_search.detail["cases"] == [app.case_number]
    assert number_search.detail["kind"] == "case" and number_search.detail["query"] == app.case_number
    assert name_search.detail["kind"] == "name" and name_search.detail["results"] >= 1
    assert invalid.detail == {**invalid.detail, "kind": "invalid", "query": None, "results": 0}


def test_name_search_pages_and_caps_its_count(client, svc, personas):
    app = case(submit(svc, personas["not_in_dtsen"]).case_number)
    # Many families of one name: the count stops at COUNT_CAP and pages are read in index order.
    db.session.add_all(
        [
            Application(
                nik=f"35100101010{i:05d}",
                case_number=f"TPT-2026-9{i:06d}",
                applicant_name=f"Sulastri Uji {i:04d}",
                district_code=app.district_code,
                consent_version="2025-01",
            )
            for i in range(COUNT_CAP + 5)
        ]
    )
    db.session.commit()
    assert (
        db.session.scalar(select(Application.name_key).where(Application.case_number == "TPT-2026-9000000"))
        == "sulastri uji 0000"
    )
    login(client, "s_supervisor")
    html = search(client, "SULASTRI  uji")
    assert "Ditemukan lebih dari 1000 kasus" in html
    assert _rows(html) == [f"TPT-2026-9{i:06d}" for i in range(25)]
    assert _rows(search(client, "sulastri uji", page=3))[0] == "TPT-2026-9000050"
    assert _rows(search(client, "sulastri_")) == []  # LIKE wildcards are literal


@pytest.mark.parametrize("role", [None, *ROLES])
def test_search_authorization_matrix(client, svc, personas, role):
    nik = personas["not_in_dtsen"]
    submit(svc, nik)
    if role is not None:
        assert login(client, f"s_{role}").status_code == 302
    status = client.get("/search?q=TPT-2026-0000001").status_code
    readers = {"caseworker", "supervisor", "appeals_officer", "administrator", "auditor"}
    expected = 302 if role is None else 200 if role in readers else 403
    assert status == expected
    if role is not None:  # and POSTed with a valid CSRF token (a facilitator gets the token from /profile)
        token = csrf_of(client, "/profile")
        assert client.post("/search", data={"q": nik, "csrf_token": token}).status_code == expected
    else:
        assert client.post("/search", data={"q": nik}).status_code in (302, 400)
    if role in readers:  # the search box is in the top bar of every page of these roles
        assert 'action="/search"' in client.get("/profile").get_data(as_text=True)
    elif role == "facilitator":
        assert 'action="/search"' not in client.get("/profile").get_data(as_text=True)


def test_the_api_searches_the_same_way_limited_and_audited(api, svc, personas):
    nik = personas["not_in_dtsen"]
    app = case(submit(svc, nik).case_number)
    response = api.post("/api/v1/cases/search", as_="a_caseworker", json={"q": f" {nik[:8]} {nik[8:]} "})
    body = response.get_json()
    assert response.status_code == 200 and body["kind"] == "nik" and body["total"] == 1
    hit = body["items"][0]
    assert hit["case_number"] == app.case_number and hit["nik"] == mask_nik(nik)
    assert hit["name"] == app.applicant_name and hit["district_name"] == district_name(app.district_code)
    assert nik not in response.get_data(as_text=True)
    other = "25" if app.district_code != "25" else "24"
    far = create_officer(db.session, "a_far_search", "Far", ["caseworker"], [other], password=PASSWORD)
    api.tokens["a_far_search"] = issue_token(db.session, far, "tests", 30)[1]
    db.session.commit()
    for q in (nik, app.case_number, app.applicant_name[:4]):
        assert api.post("/api/v1/cases/search", as_="a_far_search", json={"q": q}).get_json()["total"] == 0, q
    assert api.post("/api/v1/cases/search", as_="a_caseworker", json={"q": "x", "extra": 1}).status_code == 422
    entry = _searches()[0]  # (the refused body was not searched, so not audited)
    assert len(_searches()) == 4
    assert entry.detail["via"] == "api-token" and entry.detail["query"] == hit["nik"] and entry.detail["results"] == 1
