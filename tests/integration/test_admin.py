"""Officer administration, profiles, district coverage, desk charts and the approval queue, through the web."""

import json
import re

import pytest
from flask import current_app
from sqlalchemy import func, select

from cases.audit import AuditEntry, verify_chain
from cases.models import Officer
from cases.officers import LastAdministrator, deactivate_officer, update_officer
from cases.operations import actor_for, create_officer
from engine.core import Actor
from engine.db import db
from engine.models import HumanTask
from tests.helpers import FreshContextClient, fresh_client, later, open_task, submit, work

PASSWORD = "correct-horse-battery"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator")
ADMIN_ROUTES = {"officers", "create_form", "create", "edit_form", "edit", "act", "password", "regions"}


@pytest.fixture
def web(ctx):
    """A test client; one officer per role (all districts), a second administrator and a target officer."""
    for role in ROLES:
        create_officer(db.session, f"a_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "a_admin2", "Second Admin", ["administrator"], None, password=PASSWORD)
    create_officer(db.session, "a_cwsup", "Both", ["caseworker", "supervisor"], None, password=PASSWORD)
    create_officer(db.session, "a_target", "Target", ["caseworker"], ["05"], password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


def csrf_of(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(client)})


def post(client, path, data=None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_of(client, "/profile")})


def officer(username):
    db.session.expire_all()
    return db.session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()


def audits(action):
    db.session.expire_all()
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def error_beside(html, field):
    """The error text shown beside a field (its invalid-feedback block), or None."""
    found = re.search(rf'id="(?:reset-)?{field}-error">([^<]+)<', html)
    return found.group(1) if found else None


# --- the authorization matrix ------------------------------------------------------------------

COVERED_ENDPOINTS = {
    "admin.officers",
    "admin.create",
    "admin.edit",
    "admin.act",
    "admin.password",
    "admin.regions",
    "profile.show",
    "profile.password",
    "desk.approvals",
}


def _expected(role, name, method):
    if role is None:
        return {302} if method == "GET" else {302, 400}
    if name in ADMIN_ROUTES:
        allowed, ok = (
            {"administrator"},
            {
                "officers": {200},
                "create_form": {200},
                "create": {422},
                "edit_form": {200},
                "edit": {422},
                "act": {302},
                "password": {422},
                "regions": {200},
            }[name],
        )
    elif name == "approvals":
        allowed, ok = {"supervisor", "administrator"}, {200}
    else:  # the profile: every officer
        allowed, ok = set(ROLES), {"profile": {200}, "profile_password": {422}}[name]
    return ok if role in allowed else {403}


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(web, role):
    target = officer("a_target").id
    routes = [
        ("GET", "officers", "/admin/officers"),
        ("GET", "create_form", "/admin/officers/new"),
        ("POST", "create", "/admin/officers/new"),
        ("GET", "edit_form", f"/admin/officers/{target}"),
        ("POST", "edit", f"/admin/officers/{target}"),
        ("POST", "act", f"/admin/officers/{target}/unlock"),
        ("POST", "password", f"/admin/officers/{target}/password"),
        ("GET", "regions", "/admin/regions"),
        ("GET", "profile", "/profile"),
        ("POST", "profile_password", "/profile/password"),
        ("GET", "approvals", "/desk/approvals"),
    ]
    if role is not None:
        assert login(web, f"a_{role}").status_code == 302
    for method, name, path in routes:
        if method == "GET":
            status = web.get(path).status_code
        elif role is None:
            status = web.post(path).status_code
        else:
            status = post(web, path).status_code
        assert status in _expected(role, name, method), (role, name, status)
    assert officer("a_target").roles == ["caseworker"]  # no refused request changed anything


def test_anonymous_is_sent_to_sign_in_and_a_missing_csrf_token_saves_nothing(web):
    assert web.get("/admin/officers").headers["Location"].startswith("/login")
    login(web, "a_administrator")
    before = db.session.scalar(select(func.count()).select_from(Officer))
    form = {
        "username": "csrf_victim",
        "name": "X",
        "roles": "caseworker",
        "password": "a-good-password-1",
        "password_confirm": "a-good-password-1",
    }
    assert web.post("/admin/officers/new", data=form).status_code == 400
    assert web.post("/admin/officers/new", data={**form, "csrf_token": "forged"}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Officer)) == before


# --- creating and editing ------------------------------------------------------------------------

NEW = {
    "username": "budi.s",
    "name": "Budi Santoso",
    "roles": ["caseworker", "supervisor"],
    "region_scope": "some",
    "regions": ["03", "07"],
    "password": "kopi-tubruk-pagi",
    "password_confirm": "kopi-tubruk-pagi",
}


def test_create_an_officer_who_then_signs_in_and_the_change_is_audited(web):
    login(web, "a_administrator")
    page = web.get("/admin/officers/new").get_data(as_text=True)
    assert "Bangorejo" in page and 'value="25"' in page  # districts by code and name
    response = post(web, "/admin/officers/new", NEW)
    assert response.status_code == 302
    made = officer("budi.s")
    assert made.roles == ["caseworker", "supervisor"] and made.regions == ["03", "07"] and made.active
    assert made.password_hash and "kopi" not in made.password_hash
    entry = audits("officer.create")[-1]
    assert entry.actor == "a_administrator" and entry.target_id == "budi.s"
    assert entry.detail["after"] == {
        "username": "budi.s",
        "name": "Budi Santoso",
        "roles": ["caseworker", "supervisor"],
        "regions": ["03", "07"],
        "active": True,
    }
    assert "kopi" not in json.dumps(entry.detail)
    post(web, "/logout")
    assert login(web, "budi.s", "kopi-tubruk-pagi").status_code == 302
    assert verify_chain(db.session).ok


@pytest.mark.parametrize(
    "change, field, text",
    [
        ({"username": "a_target"}, "username", "Nama pengguna ini sudah dipakai"),
        ({"username": "Bad Name!"}, "username", "3 sampai 40 karakter"),
        ({"roles": ["caseworker", "wizard"]}, "roles", "Peran tidak dikenal"),
        ({"roles": []}, "roles", "Pilih setidaknya satu peran"),
        ({"regions": ["03", "99"]}, "regions", "Banyuwangi tidak punya kecamatan itu"),
        ({"regions": []}, "regions", "Pilih setidaknya satu kecamatan"),
        ({"password": "short", "password_confirm": "short"}, "password", "minimal 10 karakter"),
        ({"password": "password123", "password_confirm": "password123"}, "password", "terlalu umum"),
        ({"password": "aaaaabbbbbaaaaa", "password_confirm": "aaaaabbbbbaaaaa"}, "password", "5 karakter berbeda"),
        ({"password": "xx-budi.s-xx-99", "password_confirm": "xx-budi.s-xx-99"}, "password", "nama pengguna"),
        ({"password_confirm": "something-else-1"}, "password_confirm", "berbeda"),
        ({"name": ""}, "name", "Isi nama 1 sampai 200"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(web, change, field, text):
    login(web, "a_administrator")
    before = db.session.scalar(select(func.count()).select_from(Officer))
    response = post(web, "/admin/officers/new", {**NEW, **change})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert text in (error_beside(html, field) or ""), html[html.find("invalid-feedback") - 400 :][:1200]
    assert 'value="Budi Santoso"' in html or field == "name"  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(Officer)) == before
    assert audits("officer.create") == []


def test_edit_roles_and_districts_with_before_and_after_in_the_audit(web):
    target = officer("a_target")
    login(web, "a_administrator")
    assert "Target" in web.get(f"/admin/officers/{target.id}").get_data(as_text=True)
    assert audits("officer.view")[-1].target_id == "a_target"
    response = post(
        web,
        f"/admin/officers/{target.id}",
        {"name": "Target Renamed", "roles": ["caseworker", "auditor"], "region_scope": "some", "regions": ["05", "06"]},
    )
    assert response.status_code == 302
    changed = officer("a_target")
    assert (changed.name, changed.roles, changed.regions) == ("Target Renamed", ["auditor", "caseworker"], ["05", "06"])
    entry = audits("officer.update")[-1]
    assert entry.detail["before"]["roles"] == ["caseworker"] and entry.detail["before"]["regions"] == ["05"]
    assert entry.detail["after"]["roles"] == ["auditor", "caseworker"] and entry.detail["after"]["regions"] == [
        "05",
        "06",
    ]
    post(
        web, f"/admin/officers/{target.id}", {"name": "Target Renamed", "roles": ["caseworker"], "region_scope": "all"}
    )
    assert officer("a_target").regions is None
    response = post(
        web,
        f"/admin/officers/{target.id}",
        {"name": "T", "roles": ["caseworker"], "region_scope": "some", "regions": ["99"]},
    )
    assert response.status_code == 422 and error_beside(response.get_data(as_text=True), "regions")
    assert officer("a_target").regions is None


# --- the rules that keep the system administrable ----------------------------------------------


def test_an_administrator_cannot_demote_or_deactivate_themselves(web):
    me = officer("a_administrator")
    login(web, "a_administrator")
    response = post(web, f"/admin/officers/{me.id}", {"name": "Me", "roles": ["supervisor"], "region_scope": "all"})
    assert response.status_code == 422
    assert "administrator Anda sendiri" in error_beside(response.get_data(as_text=True), "roles")
    assert officer("a_administrator").roles == ["administrator"]
    page = web.get(post(web, f"/admin/officers/{me.id}/deactivate").headers["Location"]).get_data(as_text=True)
    assert "administrator Anda sendiri" in page and officer("a_administrator").active
    response = post(
        web, f"/admin/officers/{me.id}/password", {"password": "new-pass-word-1", "password_confirm": "new-pass-word-1"}
    )
    assert response.status_code == 422 and "profil" in error_beside(response.get_data(as_text=True), "password")
    # Another administrator may be demoted while one remains.
    other = officer("a_admin2")
    assert (
        post(
            web, f"/admin/officers/{other.id}", {"name": "Ex", "roles": ["auditor"], "region_scope": "all"}
        ).status_code
        == 302
    )
    assert officer("a_admin2").roles == ["auditor"]
    assert audits("officer.update")[-1].detail["before"]["roles"] == ["administrator"]


def test_the_last_active_administrator_is_never_removed(ctx, svc):
    solo = create_officer(db.session, "solo", "Solo", ["administrator", "supervisor"], None, password=PASSWORD)
    create_officer(db.session, "gone", "Gone", ["administrator"], None, password=PASSWORD).active = False
    db.session.commit()
    # An actor not among the officers (a command line run, or a session of an account removed meanwhile).
    root = Actor("root", frozenset({"administrator"}))
    with pytest.raises(LastAdministrator):
        update_officer(svc.engine, root, solo, "Solo", ["supervisor"], None)
    db.session.rollback()
    with pytest.raises(LastAdministrator):
        deactivate_officer(svc.engine, root, solo)
    db.session.rollback()
    solo = officer("solo")
    assert solo.active and "administrator" in solo.roles
    update_officer(svc.engine, root, solo, "Solo", ["administrator"], ["01"])  # keeping the role is fine
    db.session.commit()
    assert officer("solo").regions == ["01"]


# --- deactivation, lock-out, passwords ---------------------------------------------------------


def test_a_deactivated_officer_cannot_sign_in_and_their_claimed_tasks_go_back(web, svc, personas):
    from engine.humantasks import claim_task

    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    claim_task(svc.engine, task.id, actor_for(officer("a_caseworker")))
    db.session.commit()
    victim = current_app.test_client()
    assert login(victim, "a_caseworker").status_code == 302
    assert victim.get("/inbox").status_code == 200
    login(web, "a_administrator")
    cw = officer("a_caseworker")
    response = post(web, f"/admin/officers/{cw.id}/deactivate")
    assert response.status_code == 302
    assert "kembali ke antreannya" in web.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(HumanTask, task.id)
    assert (row.status, row.assignee) == ("open", None)
    assert not officer("a_caseworker").active
    entry = audits("officer.deactivate")[-1]
    assert entry.detail["released_tasks"] == [task.id] and entry.detail["after"] == {"active": False}
    assert [e.detail["task"] for e in audits("task.unclaim")] == ["review"]
    assert victim.get("/inbox").status_code == 302  # the open session ends
    assert login(victim, "a_caseworker").status_code == 401
    assert "Nonaktif" in web.get("/admin/officers?active=inactive").get_data(as_text=True)
    assert post(web, f"/admin/officers/{cw.id}/reactivate").status_code == 302
    assert audits("officer.reactivate")
    assert login(victim, "a_caseworker").status_code == 302


def test_removing_a_role_releases_the_tasks_it_gave(web, svc, personas):
    from engine.humantasks import claim_task

    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    claim_task(svc.engine, task.id, actor_for(officer("a_cwsup")))
    db.session.commit()
    login(web, "a_administrator")
    both = officer("a_cwsup")
    post(
        web,
        f"/admin/officers/{both.id}",
        {"name": "Both", "roles": ["caseworker", "supervisor"], "region_scope": "all"},
    )
    db.session.expire_all()
    assert open_task(number, "review").assignee == "a_cwsup"  # still workable: kept
    post(web, f"/admin/officers/{both.id}", {"name": "Both", "roles": ["supervisor"], "region_scope": "all"})
    db.session.expire_all()
    row = open_task(number, "review")
    assert (row.status, row.assignee) == ("open", None)
    assert audits("officer.update")[-1].detail["released_tasks"] == [task.id]


def test_unlock_a_locked_out_account(web):
    for _ in range(5):
        login(web, "a_target", "wrong-password")
    assert login(web, "a_target").status_code == 429
    target = officer("a_target")
    assert target.locked_until is not None
    login(web, "a_administrator")
    listing = web.get("/admin/officers?q=target").get_data(as_text=True)
    assert "a_target" in listing and "text-danger" in listing  # locked-until shown
    assert post(web, f"/admin/officers/{target.id}/unlock").status_code == 302
    assert officer("a_target").locked_until is None
    assert audits("officer.unlock")[-1].detail["before"]["locked_until"] is not None
    post(web, "/logout")
    assert login(web, "a_target").status_code == 302


def test_reset_password_by_an_administrator(web):
    target = officer("a_target")
    login(web, "a_administrator")
    response = post(web, f"/admin/officers/{target.id}/password", {"password": "tiny", "password_confirm": "tiny"})
    assert response.status_code == 422 and "minimal 10 karakter" in error_beside(
        response.get_data(as_text=True), "password"
    )
    assert (
        post(
            web,
            f"/admin/officers/{target.id}/password",
            {"password": "sambal-terasi-9", "password_confirm": "sambal-terasi-9"},
        ).status_code
        == 302
    )
    entry = audits("officer.password_reset")[-1]
    assert entry.target_id == "a_target" and entry.detail is None  # never the password
    post(web, "/logout")
    assert login(web, "a_target", PASSWORD).status_code == 401
    assert login(web, "a_target", "sambal-terasi-9").status_code == 302


def test_officers_change_their_own_password_with_the_current_one(web):
    login(web, "a_auditor")
    page = web.get("/profile").get_data(as_text=True)
    assert "a_auditor" in page and "Semua kecamatan" in page
    response = post(
        web,
        "/profile/password",
        {"current_password": "not-my-password", "password": "nasi-goreng-77", "password_confirm": "nasi-goreng-77"},
    )
    assert response.status_code == 422
    assert "salah" in error_beside(response.get_data(as_text=True), "current_password")
    assert audits("officer.password_change_refused")[-1].actor == "a_auditor"
    response = post(
        web, "/profile/password", {"current_password": PASSWORD, "password": PASSWORD, "password_confirm": PASSWORD}
    )
    assert response.status_code == 422 and error_beside(response.get_data(as_text=True), "password")
    assert (
        post(
            web,
            "/profile/password",
            {"current_password": PASSWORD, "password": "nasi-goreng-77", "password_confirm": "nasi-goreng-77"},
        ).status_code
        == 302
    )
    assert audits("officer.password_change")[-1].actor == "a_auditor"
    post(web, "/logout")
    assert login(web, "a_auditor", PASSWORD).status_code == 401
    assert login(web, "a_auditor", "nasi-goreng-77").status_code == 302


# --- the list and the coverage -------------------------------------------------------------------


def test_list_searches_filters_and_pages(web):
    for i in range(30):
        create_officer(db.session, f"zz{i:02d}", f"Zainal {i}", ["caseworker"], [f"{i % 25 + 1:02d}"])
    officer("a_target").active = False
    db.session.commit()
    login(web, "a_administrator")
    page = web.get("/admin/officers").get_data(as_text=True)
    assert "39 petugas" in page and "page=2" in page
    second = web.get("/admin/officers?page=2").get_data(as_text=True)
    assert "zz29" in second and "a_admin2" not in second
    found = web.get("/admin/officers?q=zainal 1").get_data(as_text=True)
    assert "11 petugas" in found  # Zainal 1, 10-19
    assert "1 petugas" in web.get("/admin/officers?q=A_CWS").get_data(as_text=True)
    by_role = web.get("/admin/officers?role=supervisor").get_data(as_text=True)
    assert "a_supervisor" in by_role and "a_cwsup" in by_role and "a_caseworker" not in by_role
    district = web.get("/admin/officers?district=05&role=caseworker").get_data(as_text=True)
    # zz04 and zz29 work district 05; officers of all districts work it too; a_target (05) is inactive but listed.
    assert all(u in district for u in ("zz04", "zz29", "a_caseworker", "a_cwsup", "a_target"))
    assert "zz05" not in district
    only_active = web.get("/admin/officers?district=05&role=caseworker&active=active").get_data(as_text=True)
    assert "a_target" not in only_active and "zz04" in only_active
    lenient = web.get("/admin/officers?district=99&role=wizard")
    assert lenient.status_code == 200 and "39 petugas" in lenient.get_data(as_text=True)


def test_coverage_highlights_districts_without_a_caseworker_or_supervisor(ctx):
    create_officer(db.session, "admin_only", "Admin", ["administrator"], None, password=PASSWORD)
    create_officer(db.session, "cw_0102", "CW", ["caseworker"], ["01", "02"])
    create_officer(db.session, "sup_01", "Sup", ["supervisor"], ["01"])
    create_officer(db.session, "sup_02_off", "Sup", ["supervisor"], ["02"]).active = False
    db.session.commit()
    app = current_app._get_current_object()
    app.test_client_class = FreshContextClient
    try:
        client = app.test_client()
        login(client, "admin_only")
        html = client.get("/admin/regions").get_data(as_text=True)
    finally:
        app.test_client_class = None
    rows = {m.group(2): m.group(1) for m in re.finditer(r'<tr class="([^"]*)" id="district-(\d\d)"', html)}
    assert len(rows) == 25
    assert rows["01"] == ""  # a caseworker and a supervisor
    assert rows["02"] == "table-warning"  # its supervisor is deactivated
    assert rows["25"] == "table-warning"
    assert "24 kecamatan" in html and "01 Pesanggaran" in html


# --- the supervisor desk -------------------------------------------------------------------------


def desk_data(client):
    html = client.get("/desk").get_data(as_text=True)
    return json.loads(re.search(r'<script type="application/json" id="desk-data">(.*?)</script>', html, re.S).group(1))


def test_desk_chart_data_matches_the_tasks(web, svc, personas):
    first = submit(svc, personas["not_in_dtsen"]).case_number
    early = open_task(first, "review")
    with later(10):  # the first review is overdue by now; the second is new
        second = submit(svc, personas["eligible_head_without_photo"]).case_number
        fresh = open_task(second, "review")
        # An officer completes the overdue review late.
        work(
            svc,
            first,
            "review",
            actor_for(officer("a_caseworker")),
            {
                "review_decision": "reject",
                "review_reason_codes": ["OTHER"],
                "review_message": "Silakan datang ke kantor desa.",
                "review_notes": "x",
            },
        )
        login(web, "a_supervisor")
        data = desk_data(web)
    db.session.expire_all()
    rows = db.session.scalars(select(HumanTask).where(HumanTask.status.in_(("open", "claimed")))).all()
    assert {r.id for r in rows} == {fresh.id}
    sla = dict(
        zip(
            data["sla"]["codes"],
            zip(*(data["sla"]["series"][k] for k in ("on_track", "due_soon", "overdue")), strict=True),
            strict=True,
        )
    )
    assert sla == {fresh.region: (1, 0, 0)}
    assert data["sla"]["labels"][0].startswith(fresh.region + " ")
    officers = dict(
        zip(
            data["officers"]["labels"],
            zip(data["officers"]["series"]["on_time"], data["officers"]["series"]["late"], strict=True),
            strict=True,
        )
    )
    assert officers == {"a_caseworker": (0, 1)}
    districts = dict(zip(data["districts"]["codes"], data["districts"]["series"]["late"], strict=True))
    assert districts == {early.region: 1}
    assert data["names"]["overdue"] == "Terlambat"
    # Overdue open work shows as overdue: travel past the second task's deadline.
    with later(20):  # (the session has expired by then: sign in again)
        login(web, "a_supervisor")
        data = desk_data(web)
        html = web.get("/desk").get_data(as_text=True)
    assert data["sla"]["series"]["overdue"] == [1] and data["sla"]["series"]["on_track"] == [0]
    # The table carries the same figures; the page loads Chart.js and the desk script from our own origin.
    table = re.search(r'<table class="table table-sm small" id="table-sla">.*?</table>', html, re.S).group(0)
    assert re.findall(r"<td[^>]*>(\d+)</td>", table) == ["1", "1", "0"]  # open, overdue, due within a day
    assert 'src="/static/vendor/chart.umd.min.js"' in html and 'src="/static/desk.js"' in html


def test_desk_charts_are_limited_to_the_supervisors_districts(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    region = open_task(number, "review").region
    other = "01" if region != "01" else "02"
    create_officer(db.session, "far_sup", "Far", ["supervisor"], [other], password=PASSWORD)
    db.session.commit()
    login(web, "far_sup")
    assert desk_data(web)["sla"]["codes"] == []
    post(web, "/logout")
    login(web, "a_supervisor")
    assert desk_data(web)["sla"]["codes"] == [region]


def test_approval_queue_shows_four_eyes_refusals(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(svc, number, "review", actor_for(officer("a_cwsup")), {"review_decision": "approve", "review_notes": "ok"})
    task = open_task(number, "approve")
    assert task is not None
    login(web, "a_cwsup")
    html = web.get("/desk/approvals").get_data(as_text=True)
    row = re.search(rf'<tr id="approval-{task.id}".*?</tr>', html, re.S).group(0)
    assert "Empat mata" in row and "Tinjau kasus" in row
    assert f"/tasks/{task.id}/claim" not in row
    assert f'/cases/{number}"' in row
    post(web, "/logout")
    login(web, "a_supervisor")
    row = re.search(
        rf'<tr id="approval-{task.id}".*?</tr>', web.get("/desk/approvals").get_data(as_text=True), re.S
    ).group(0)
    assert f"/tasks/{task.id}/claim" in row and "Empat mata" not in row
    assert post(web, f"/tasks/{task.id}/claim").status_code == 302
    db.session.expire_all()
    assert open_task(number, "approve").assignee == "a_supervisor"
    post(web, "/logout")
    login(web, "a_administrator")  # administrators watch the queue; approving is a supervisor's role
    row = re.search(
        rf'<tr id="approval-{task.id}".*?</tr>', web.get("/desk/approvals").get_data(as_text=True), re.S
    ).group(0)
    assert "Bukan peran Anda" in row and "a_supervisor" in row and f"/tasks/{task.id}/claim" not in row


def test_two_administrators_demoting_each_other_at_once_leave_one(ctx, svc, monkeypatch):
    import threading

    import cases.officers as officer_ops
    from web import services

    for name in ("twin_a", "twin_b"):
        create_officer(db.session, name, name, ["administrator"], None, password=PASSWORD)
    db.session.commit()
    app = current_app._get_current_object()
    # Both requests reach the check at the same moment: only the locks keep them from both passing it.
    barrier = threading.Barrier(2, timeout=30)
    real_lock = officer_ops._lock_administrators

    def lock_together(session, target):
        barrier.wait()
        return real_lock(session, target)

    monkeypatch.setattr(officer_ops, "_lock_administrators", lock_together)
    outcome = {}

    def demote(actor_name, target_name):
        with app.app_context():
            try:
                target = db.session.execute(select(Officer).where(Officer.username == target_name)).scalar_one()
                update_officer(
                    services().engine,
                    Actor(actor_name, frozenset({"administrator"})),
                    target,
                    target_name,
                    ["supervisor"],
                    None,
                )
                db.session.commit()
                outcome[actor_name] = "demoted"
            except LastAdministrator:
                db.session.rollback()
                outcome[actor_name] = "refused"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=demote, args=pair) for pair in (("twin_a", "twin_b"), ("twin_b", "twin_a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcome.values()) == ["demoted", "refused"]
    db.session.expire_all()
    assert len([o for o in db.session.scalars(select(Officer)) if "administrator" in o.roles and o.active]) == 1
