"""Applications through the JSON API (a facilitators' field app): the portal's checks, an idempotency key."""

import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.models import Application
from cases.operations import create_officer
from cases.portal.models import ApiSubmission
from cases.tokens import issue_token
from engine.db import db
from integrations.sandbox.tables import people
from tests.conftest import faces_or_skip
from tests.integration.api_support import api  # noqa: F401  (the fixture)
from tests.integration.portal_helpers import other_photo_of

PATH = "/api/v1/applications"
COVERED_ENDPOINTS = {"api_applications.submit"}


def registry_name(nik):
    return db.session.execute(select(people.c.name).where(people.c.nik == nik)).scalar_one()


def selfie_of(population, nik):
    faces = faces_or_skip()
    return other_photo_of(faces, population["photo_holders"][nik]).read_bytes()


def blank_png():
    out = io.BytesIO()
    Image.new("RGB", (400, 400), (180, 170, 160)).save(out, "PNG")
    return out.getvalue()


def application(nik, **changes):
    body = {
        "nik": nik,
        "applicant_name": registry_name(nik),
        "consent": True,
        "phone": "081234567890",
        "payment_channel": "BRI",
        "bank_account": "1234567890",
    }
    return {**body, **changes}


def send(api, body, selfie, key="field-app-0001", as_="a_facilitator", **headers):
    data = {"application": json.dumps(body) if not isinstance(body, str) else body}
    if selfie is not None:
        data["selfie"] = (io.BytesIO(selfie), "selfie.jpg", "image/jpeg")
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post(PATH, data=data, content_type="multipart/form-data", headers=api.bearer(as_, **headers))


def counts():
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(Application)),
        db.session.scalar(select(func.count()).select_from(ApiSubmission)),
    )


def test_a_field_app_registers_with_a_selfie_and_a_retry_makes_one_case(api, svc, population):
    nik = population["personas"]["eligible_head_with_photo"]
    body, selfie = application(nik, consent_at="2026-12-01T09:30:00+07:00"), selfie_of(population, nik)
    first = send(api, body, selfie)
    assert first.status_code == 201, first.get_json()
    number = first.get_json()["case_number"]
    assert first.get_json()["replayed"] is False and first.headers["Location"].endswith(number)
    again = send(api, dict(reversed(list(body.items()))), selfie)  # the app lost the answer and sends it again
    assert again.status_code == 200 and again.get_json()["case_number"] == number
    assert again.get_json()["replayed"] is True
    assert counts() == (1, 1)
    app = db.session.scalar(select(Application))
    assert app.channel == "facilitator" and app.facilitator == "a_facilitator" and app.selfie_ref
    assert app.status != "SUBMITTED"  # the engine ran (inline): the case moved on
    assert app.consent_at.isoformat().startswith("2026-12-01T02:30")
    shown = api.get(f"/api/v1/cases/{number}", as_="a_supervisor")
    assert shown.status_code == 200
    actions = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "application.submit")).all()
    assert len(actions) == 1 and actions[0].detail["via"] == "api-token" and nik not in json.dumps(actions[0].detail)


def test_the_same_key_for_another_application_is_refused(api, svc, population):
    personas = population["personas"]
    nik = personas["eligible_head_with_photo"]
    assert send(api, application(nik), selfie_of(population, nik)).status_code == 201
    other = personas["eligible_family_with_children"]
    refused = send(api, application(other), selfie_of(population, nik))
    assert refused.status_code == 422 and refused.get_json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert counts() == (1, 1)


def test_another_facilitators_key_is_their_own(api, svc, population):
    nik = population["personas"]["eligible_head_with_photo"]
    officer = create_officer(db.session, "f_two", "F TWO", ["facilitator"], None)
    api.tokens["f_two"] = issue_token(db.session, officer, "tests", 30)[1]
    db.session.commit()
    assert send(api, application(nik), selfie_of(population, nik)).status_code == 201
    second = send(api, application(nik), selfie_of(population, nik), as_="f_two")  # same key, other officer
    assert second.status_code == 409 and second.get_json()["error"] == "DUPLICATE_APPLICATION"
    assert second.get_json()["detail"]["case_number"]


@pytest.mark.parametrize(
    "case, status, error, field",
    [
        ("no key", 422, "IDEMPOTENCY_KEY_INVALID", None),
        ("short key", 422, "IDEMPOTENCY_KEY_INVALID", None),
        ("not json", 422, "INVALID_REQUEST", "application"),
        ("unknown field", 422, "INVALID_REQUEST", "salary"),
        ("bad nik", 422, "NIK_INVALID", "nik"),
        ("no consent", 422, "INVALID_REQUEST", "consent"),
        ("no account for a bank", 422, "INVALID_REQUEST", "bank_account"),
        ("consent in the future", 422, "INVALID_REQUEST", "consent_at"),
        ("no selfie", 422, "INVALID_REQUEST", "selfie"),
        ("no face", 422, "SELFIE_REJECTED", "selfie"),
        ("wrong name", 422, "NAME_MISMATCH", "applicant_name"),
        ("caseworker", 403, "NOT_ALLOWED", None),
    ],
)
def test_bad_submissions_are_refused_with_a_reason_and_nothing_is_kept(
    api, svc, population, case, status, error, field
):
    nik = population["personas"]["eligible_head_without_photo"]
    body, selfie, key, as_ = application(nik), blank_png(), "field-app-0002", "a_facilitator"
    if case in (
        "wrong name",
        "no consent",
        "no account for a bank",
        "consent in the future",
        "bad nik",
        "not json",
        "unknown field",
    ):
        selfie = selfie_of(population, population["personas"]["eligible_head_with_photo"])
    body = {
        "not json": "{nik:",
        "unknown field": {**body, "salary": 1},
        "bad nik": {**body, "nik": "3510x"},
        "no consent": {**body, "consent": False},
        "no account for a bank": {**body, "bank_account": None},
        "consent in the future": {**body, "consent_at": "2099-01-01T00:00:00+07:00"},
        "wrong name": {**body, "applicant_name": "SOMEONE ELSE"},
    }.get(case, body)
    key = {"no key": None, "short key": "abc"}.get(case, key)
    selfie = None if case == "no selfie" else selfie
    as_ = "a_caseworker" if case == "caseworker" else as_
    answer = send(api, body, selfie, key=key, as_=as_)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"] == error and answer.get_json()["message"]
    if field:
        assert field in answer.get_json()["errors"]["form"], answer.get_json()
    assert counts() == (0, 0)


def test_refusals_speak_the_callers_language(api, svc, population):
    nik = population["personas"]["eligible_head_without_photo"]
    indonesian = send(api, application(nik), blank_png()).get_json()
    english = send(api, application(nik), blank_png(), **{"Accept-Language": "en"}).get_json()
    assert indonesian["error"] == english["error"] == "SELFIE_REJECTED"
    assert "wajah" in indonesian["errors"]["form"]["selfie"][0].lower()
    assert "face" in english["errors"]["form"]["selfie"][0].lower()


def test_a_facilitator_outside_the_district_is_refused_and_audited(api, svc, population):
    nik = population["personas"]["eligible_head_with_photo"]
    other = "25" if nik[4:6] != "25" else "24"
    officer = create_officer(db.session, "f_far", "F FAR", ["facilitator"], [other])
    api.tokens["f_far"] = issue_token(db.session, officer, "tests", 30)[1]
    db.session.commit()
    answer = send(api, application(nik), selfie_of(population, nik), as_="f_far")
    assert answer.status_code == 403 and answer.get_json()["error"] == "OUTSIDE_DISTRICT"
    assert counts() == (0, 0)
    refused = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "assist.outside_region")).all()
    assert len(refused) == 1 and refused[0].actor == "f_far"


def test_the_openapi_document_describes_the_upload(api):
    spec = api.client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/applications"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in post["parameters"])
    assert {"201", "200", "409", "422"} <= set(post["responses"])
    assert "ApiApplication" in spec["components"]["schemas"]


def test_only_facilitators_may_register_through_the_api(api):
    from tests.integration.api_support import ROLES

    assert api.client.post(PATH, data={}).status_code == 401  # anonymous
    for role in ROLES:
        answer = api.client.post(PATH, data={}, headers=api.bearer(f"a_{role}"))
        expected = 422 if role == "facilitator" else 403  # the facilitator gets as far as the missing key
        assert answer.status_code == expected, (role, answer.get_json())
    assert counts() == (0, 0)
