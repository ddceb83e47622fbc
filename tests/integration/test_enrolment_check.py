"""A family that qualifies for no programme is never enrolled, on every path to enrolment: after a
caseworker's review (processes/application.bpmn, check_enrolment before every approval) as after an
overturned appeal (tests/integration/test_appeal_recheck.py), and the rules never auto-approve it."""

from flask import current_app
from sqlalchemy import select

from cases.models import Enrolment
from cases.operations import create_officer
from engine.db import db
from engine.deploy import read_folder
from forms.reason_codes import RULE_REASONS, reason_text
from integrations.sandbox.tables import outbox
from tests.conftest import faces_or_skip
from tests.helpers import case, fresh_client, open_task, submit, work
from tests.integration.api_support import api  # noqa: F401  (fixture)
from tests.integration.portal_helpers import portal, sign_in_applicant  # noqa: F401  (fixture)
from tests.integration.test_lifecycle import other_photo_of
from tests.integration.test_web import PASSWORD, login

INTERNAL_NOTE = "Kunjungan lapangan: rumah kosong, tetangga bilang pindah ke Surabaya"


def approver_page(number, username):
    """The case page as a new supervisor sees it (the approval form and any warning beside it)."""
    create_officer(db.session, username, "Approver", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, username)
        return client.get(f"/cases/{number}").get_data(as_text=True)


def test_a_family_not_in_dtsen_approved_after_review_is_not_enrolled(svc, personas, officers, portal):  # noqa: F811
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    app = case(number)
    assert app.status == "IN_REVIEW" and "NOT_IN_DTSEN" in {r["code"] for r in app.reasons}
    assert app.programmes == []
    app = work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": INTERNAL_NOTE})
    assert app.status == "AWAITING_APPROVAL"

    # The approver is told why before approving, beside the approval form.
    html = approver_page(number, "w_rev_approver")
    assert "data-approval-warning" in html
    warning = html.split("data-approval-warning", 1)[1].split("</div>", 1)[0]
    assert "NO_PROGRAMME" in warning and "belum terdaftar di DTSEN" in warning
    assert "versi proses lama" not in warning  # the current diagram's own check, not the legacy guess

    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.decision == "reject" and app.status == "REJECTED"  # the appeal window is open
    assert [r["code"] for r in app.reasons] == ["NO_PROGRAMME"]
    assert db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).first() is None
    assert app.benefits in (None, {})
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == nik)).scalars().all()
    assert "decision_enrolled" not in sent and "decision_rejected" in sent
    notice = (
        db.session.execute(
            select(outbox.c.params).where(outbox.c.recipient_nik == nik, outbox.c.template == "decision_rejected")
        )
        .scalars()
        .first()
    )
    assert notice["reasons"] == [
        {"code": "NO_PROGRAMME", "id": reason_text("NO_PROGRAMME", "id"), "en": reason_text("NO_PROGRAMME", "en")}
    ]
    assert INTERNAL_NOTE not in str(notice)

    # The applicant reads the reason and what to do next, in Indonesian; never the caseworker's note.
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    reasons = html.split('id="reasons-title"', 1)[1].split("</ul>", 1)[0]
    assert "belum terdaftar di DTSEN" in reasons and "minta kantor desa/kelurahan mendaftarkan keluarga" in reasons
    assert INTERNAL_NOTE not in html
    english = reason_text("NO_PROGRAMME", "en")
    assert english == RULE_REASONS["NO_PROGRAMME"] and "village office" in english
    assert reason_text("NO_PROGRAMME", "id") != english  # translated, not the English source


def test_a_family_that_qualifies_is_still_enrolled_after_review(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "checked"})
    assert "data-approval-warning" not in approver_page(number, "w_ok_approver")
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED" and app.programmes and app.benefits["first_payment"] > 0


def test_an_approver_warned_may_reject_with_their_own_reason(svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "checked"})
    app = work(
        svc,
        number,
        "approve",
        officers["sup1"],
        {
            "approval_decision": "reject",
            "approval_reason_codes": ["DECILE_ABOVE_CUTOFF"],
            "approval_notes": "not in DTSEN",
        },
    )
    assert app.status == "REJECTED" and [r["code"] for r in app.reasons] == ["DECILE_ABOVE_CUTOFF"]


def test_an_approver_through_the_api_is_warned_too(api, svc, personas):  # noqa: F811
    number = submit(svc, personas["not_in_dtsen"]).case_number
    review = open_task(number, "review")
    api.post(f"/api/v1/tasks/{review.id}/claim", "a_caseworker")
    done = api.post(
        f"/api/v1/tasks/{review.id}/complete",
        "a_caseworker",
        json={"review_decision": "approve", "review_notes": "checked"},
    )
    assert done.status_code == 200 and done.get_json()["case"]["status"] == "AWAITING_APPROVAL"
    approve = open_task(number, "approve")
    shown = api.get(f"/api/v1/tasks/{approve.id}", "a_supervisor").get_json()
    warning = shown["approval_warning"]
    assert [b["code"] for b in warning["blockers"]] == ["NO_PROGRAMME"] and warning["legacy"] is False
    assert "DTSEN" in warning["blockers"][0]["en"] and "DTSEN" in warning["blockers"][0]["id"]
    assert api.get(f"/api/v1/tasks/{review.id}", "a_supervisor").get_json()["approval_warning"] is None
    api.post(f"/api/v1/tasks/{approve.id}/claim", "a_supervisor")
    finished = api.post(f"/api/v1/tasks/{approve.id}/complete", "a_supervisor", json={"approval_decision": "approve"})
    assert finished.get_json()["case"] == {"case_number": number, "status": "REJECTED", "decision": "reject"}


def test_the_rules_never_auto_approve_a_family_with_no_programme(svc, population):
    """A family no ground excludes, whose programme table gives nothing (here: a table whose cut-offs
    nobody meets), goes to a caseworker instead of being enrolled with Rp0."""
    faces = faces_or_skip()
    files = read_folder(current_app.config["BANSOS_PROCESS_DIR"])
    assert files["programmes.dmn"].count("&lt;= 4") == 2 and files["programmes.dmn"].count("&lt;= 5") == 1
    files["programmes.dmn"] = files["programmes.dmn"].replace("&lt;= 4", "&lt;= 0").replace("&lt;= 5", "&lt;= 0")
    svc.engine.deploy_files(files, deployed_by="tests")
    db.session.commit()
    nik = population["personas"]["eligible_head_with_photo"]
    selfie = other_photo_of(faces, population["photo_holders"][nik]).read_bytes()
    app = case(submit(svc, nik, selfie=selfie).case_number)
    assert app.reasons == [] and app.review_flags == []  # nothing but the missing programme
    assert app.status == "IN_REVIEW" and app.decision == "review" and app.programmes == []
    assert open_task(app.case_number, "review") is not None
    assert db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).first() is None


def test_an_approver_on_the_command_line_is_warned_on_claiming(svc, personas, officers):
    from tests.integration.test_cli import _task_id, run

    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "checked"})
    runner = current_app.test_cli_runner()
    task = _task_id(run(runner, "tasks", "list", "--as", "sup1"), number)
    out = run(runner, "tasks", "claim", task, "--as", "sup1")
    assert "WARNING: this family cannot be enrolled" in out and "NO_PROGRAMME:" in out
    out = run(runner, "tasks", "complete", task, "--as", "sup1", "-f", "approval_decision=approve")
    assert f"case {number}: REJECTED" in out and "NO_PROGRAMME" in out
