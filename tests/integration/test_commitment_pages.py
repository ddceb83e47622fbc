"""The PKH commitments page as facilitators, caseworkers, other roles and outsiders use it."""

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from payments.models import CommitmentCheck
from tests.integration.payment_support import family
from tests.integration.portal_helpers import PASSWORD, csrf_of, fresh_client, officer_login, portal  # noqa: F401

COVERED_ENDPOINTS = {"commitments.index", "commitments.record_one", "commitments.upload", "commitments.errors"}
KK = "3510010101260001"
FAR_KK = "3510250101260009"
CHILD = "3510015505150001"


@pytest.fixture
def setup(svc):
    for username, roles, regions in (
        ("fac01", ["facilitator"], ["01"]),
        ("cw", ["caseworker"], None),
        ("fin", ["finance_officer"], None),
        ("aud", ["auditor"], None),
    ):
        create_officer(db.session, username, username.upper(), roles, regions, password=PASSWORD)
    near = family([("PKH", "SD", 1), ("PKH", "child_0_6", 1)], district="01")
    near.kk_number = KK
    far = family([("PKH", "SD", 1)], district="25")
    far.kk_number = FAR_KK
    db.session.commit()


def client_for(username):
    client = fresh_client().__enter__()
    assert officer_login(client, username).status_code == 302
    return client


def workbook(rows):
    book = Workbook()
    sheet = book.active
    sheet.append(["NIK", "No KK", "Komponen", "Periode", "Kehadiran (%)", "Pemeriksaan"])
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_roles_and_districts_on_every_route(setup):
    anonymous = fresh_client().__enter__()
    assert anonymous.get("/commitments").status_code == 302
    for username in ("fin", "aud"):
        client = client_for(username)
        assert client.get("/commitments").status_code == 403
        page = client.get("/cycles").get_data(as_text=True)
        token = csrf_of(page) if 'name="csrf_token"' in page else ""
        assert client.post("/commitments/record", data={"csrf_token": token}).status_code == 403
        assert client.post("/commitments/import", data={"csrf_token": token}).status_code == 403
        assert client.get("/commitments/imports/1/errors.xlsx").status_code == 403
    fac = client_for("fac01")
    page = fac.get(f"/commitments?kk={KK}").get_data(as_text=True)
    assert "data-family" in page and ">Catat<" in page, page[-3000:]
    # A family of another district is not shown, and a recording for it is refused.
    assert "data-family" not in fac.get(f"/commitments?kk={FAR_KK}").get_data(as_text=True)
    token = csrf_of(page)
    fac.post(
        "/commitments/record",
        data={
            "csrf_token": token,
            "kk": FAR_KK,
            "nik": CHILD,
            "category": "SD",
            "period": "2026-Q3",
            "attendance": "90",
        },
    )
    assert db.session.scalars(select(CommitmentCheck)).all() == []
    # In the district: recorded, audited.
    response = fac.post(
        "/commitments/record",
        data={"csrf_token": token, "kk": KK, "nik": CHILD, "category": "SD", "period": "2026-Q3", "attendance": "70"},
    )
    assert response.status_code == 302
    check = db.session.scalars(select(CommitmentCheck)).one()
    assert (check.compliant, check.source, check.recorded_by) == (False, "field", "fac01")
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "commitments.recorded")).one()
    # A bad value gets a clear Indonesian error.
    page = fac.post(
        "/commitments/record",
        data={"csrf_token": token, "kk": KK, "nik": CHILD, "category": "SD", "period": "2026-Q3", "attendance": "abc"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Kehadiran harus angka 0 sampai 100" in page


def test_import_keeps_good_rows_lists_refused_ones_and_only_the_importer_gets_them(setup, monkeypatch):
    cw = client_for("cw")
    token = csrf_of(cw.get("/commitments").get_data(as_text=True))
    data = workbook([(CHILD, KK, "SD", "2026-Q3", 90, None), ("123", KK, "SD", "2026-Q3", 90, None)])
    page = cw.post(
        "/commitments/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "daftar.xlsx")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "NIK harus 16 angka" in page
    import_id = int(page.split('data-import="')[1].split('"')[0])
    errors = cw.get(f"/commitments/imports/{import_id}/errors.xlsx")
    assert errors.status_code == 200
    rows = list(load_workbook(io.BytesIO(errors.data)).active.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[-1]) for r in rows] == [(3, "123", "NIK harus 16 angka")]
    assert client_for("fac01").get(f"/commitments/imports/{import_id}/errors.xlsx").status_code == 404
    # Not an Excel workbook: refused as a whole, in Indonesian.
    response = cw.post(
        "/commitments/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"a,b\n"), "x.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "bukan buku kerja Excel" in response.get_data(as_text=True)
    # Larger than the request limit (16 MB in production; lowered here to keep the test small): refused with
    # the reason. The 50 MB limit of the list itself is checked in test_cycle_conditions.py.
    from flask import current_app

    monkeypatch.setitem(current_app.config, "MAX_CONTENT_LENGTH", 4096)
    response = cw.post(
        "/commitments/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"PK" + b"\0" * 8192), "big.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "lebih dari 50 MB" in response.get_data(as_text=True)


def test_the_family_sees_its_commitments_and_the_maker_sees_the_counts(svc, setup, personas, portal):
    from datetime import date, timedelta

    from payments.commitments import next_quarter, record_check
    from payments.cycles import open_cycle
    from tests.integration.payment_support import finance_officers
    from tests.integration.portal_helpers import sign_in_applicant
    from tests.integration.test_cycle_conditions import schedule_with_commitments

    nik = personas["eligible_family_with_children"]
    app = family([("PKH", "SD", 2)], district="01")
    app.nik = app.active_nik = nik
    app.kk_number = "3510010101260077"
    db.session.commit()
    rule = schedule_with_commitments().commitments
    # Two quarters below the attendance threshold for one child, one quarter for the other.
    this = next_quarter(date.today() - timedelta(days=92))
    before = next_quarter(date.today() - timedelta(days=184))
    actor = finance_officers()["fin1"]
    # The maker (before the family below has any check) and checker see how many components are warned
    # or suspended in a cycle.
    record_check(db.session, rule, actor, kk_number=KK, nik=CHILD, category="SD", period="2026-Q3", attendance=10)
    db.session.commit()
    open_cycle(svc.engine, schedule_with_commitments(), "PKH-TEST-T1", actor)
    db.session.commit()
    page = client_for("fin").get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert 'data-condition="warning">1<' in page and 'data-condition="suspended">0<' in page
    record_check(
        db.session, rule, actor, kk_number="3510010101260077", nik=CHILD, category="SD", period=before, attendance=50
    )
    record_check(
        db.session, rule, actor, kk_number="3510010101260077", nik=CHILD, category="SD", period=this, attendance=60
    )
    record_check(
        db.session,
        rule,
        actor,
        kk_number="3510010101260077",
        nik="3510015505160002",
        category="SD",
        period=this,
        attendance=70,
    )
    db.session.commit()
    sign_in_applicant(portal, nik)
    page = portal.get(f"/portal/cases/{app.case_number}").get_data(as_text=True)
    assert 'data-commitment="suspended"' in page and 'data-commitment="warning"' in page
    assert "Ditangguhkan" in page and "Hubungi pendamping PKH Anda" in page
    assert "Anak sekolah SD" in page and CHILD not in page  # the member's NIK is masked
