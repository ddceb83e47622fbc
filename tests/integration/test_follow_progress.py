"""With workers, officers' pages and `tepat submit` follow the steps they leave to the workers.

A task completed on the case page (a review, an approval, an appeal decision) or an assisted
registration saves the instance due now and returns: the page the officer lands on says "being
processed" and follows the steps (the case page polls its notice with htmx and reloads once they
are done; the facilitator's list reloads itself as the portal's case page does);
`tepat submit` waits for the decision with a progress line and a timeout.
"""

import re
import threading
import time

import pytest
from flask import current_app

from engine.db import db
from tests.helpers import case, open_task, submit
from tests.integration.test_execution_modes import _worker, workers_mode  # noqa: F401  (fixture)
from tests.integration.test_web import login, post, web  # noqa: F401  (fixture)
from web.worker import advance_instance

REFRESH = 'http-equiv="refresh"'


POLL = 'hx-trigger="every 2s"'
COVERED_ENDPOINTS = {"casepages.processing"}


def test_the_case_page_follows_the_steps_a_completed_task_left_to_the_workers(web, svc, personas, workers_mode):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    worker = _worker(svc)
    advance_instance(worker, case(number).instance_id)
    task = open_task(number, "review")
    assert login(web, "w_caseworker").status_code == 302
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert POLL not in html and 'id="processing"' not in html  # nothing pending: an ordinary page
    assert post(web, f"/tasks/{task.id}/claim").status_code == 302
    response = post(
        web,
        f"/cases/{number}/tasks/{task.id}",
        {"review_decision": "approve", "review_notes": "checked at the village office"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{number}")
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert POLL in html and f"/cases/{number}/processing" in html and "Sedang diproses" in html
    assert open_task(number, "approve") is None  # the approval task is not there yet
    polled = web.get(f"/cases/{number}/processing")
    assert polled.status_code == 200 and "HX-Refresh" not in polled.headers and "Sedang diproses" in polled.text
    assert advance_instance(worker, case(number).instance_id) == "woken"
    polled = web.get(f"/cases/{number}/processing")
    assert polled.headers.get("HX-Refresh") == "true"  # done: the page reloads itself
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert POLL not in html and 'id="processing"' not in html
    assert open_task(number, "approve") is not None


@pytest.mark.parametrize(
    "role", [None, "caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator"]
)
def test_who_may_poll_a_case(web, svc, personas, role):
    number = submit(svc, personas["civil_servant"]).case_number
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302
    status = web.get(f"/cases/{number}/processing").status_code
    assert status == {None: 302, "facilitator": 403}.get(role, 200)


def test_the_page_does_not_poll_under_an_officer_filling_a_form(web, svc, personas, workers_mode):
    from engine.db import utcnow
    from engine.models import ProcessInstance

    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    advance_instance(_worker(svc), case(number).instance_id)
    task = open_task(number, "review")
    assert login(web, "w_caseworker").status_code == 302
    assert post(web, f"/tasks/{task.id}/claim").status_code == 302
    db.session.get(ProcessInstance, case(number).instance_id).wake_at = utcnow()  # a timer came due meanwhile
    db.session.commit()
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert POLL not in html  # their claimed task's form is on the page


def test_a_facilitators_list_follows_the_check_of_a_registration(web, svc, personas, workers_mode):
    assert login(web, "w_facilitator").status_code == 302
    number = submit(svc, personas["civil_servant"], channel="facilitator", facilitator_id="w_facilitator").case_number
    html = web.get("/assist/").get_data(as_text=True)
    assert number in html and REFRESH in html and "Halaman ini diperbarui otomatis" in html
    advance_instance(_worker(svc), case(number).instance_id)
    html = web.get("/assist/").get_data(as_text=True)
    assert number in html and REFRESH not in html


def _cli(*args, code=0):
    result = current_app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_tepat_submit_waits_for_the_workers_decision(svc, personas, workers_mode, app):
    def a_worker_later():
        with app.app_context():
            time.sleep(1.0)
            try:
                for _ in range(40):
                    db.session.rollback()
                    numbers = [i for i in workers_mode]
                    if numbers:
                        advance_instance(_worker(svc), numbers[0])
                        return
                    time.sleep(0.25)
            finally:
                db.session.remove()

    thread = threading.Thread(target=a_worker_later)
    thread.start()
    try:
        out = _cli("submit", "--nik", personas["high_wage"], "--account", "1234567890", "--timeout", "20")
    finally:
        thread.join(30)
    assert re.search(r"case TPT-\d{4}-\d{7}: SUBMITTED\n", out)  # committed, left to the workers
    assert re.search(r"case TPT-\d{4}-\d{7}: REJECTED\n", out) and "keputusan / decision" in out
    assert "sedang diproses / being processed" in out


def test_tepat_submit_without_waiting_or_past_its_timeout(svc, personas, workers_mode):
    out = _cli("submit", "--nik", personas["civil_servant"], "--account", "1234567890", "--no-wait")
    number = re.search(r"case (TPT-\d{4}-\d{7}): SUBMITTED", out).group(1)
    assert f"tepat case show {number}" in out and "decision" not in out
    out = _cli("submit", "--nik", personas["high_wage"], "--account", "1234567890", "--timeout", "1", code=3)
    assert "no decision after 1 s" in out


def test_tepat_tasks_complete_without_waiting_leaves_the_steps_to_the_workers(svc, personas, officers, workers_mode):
    from engine.humantasks import claim_task

    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    advance_instance(_worker(svc), case(number).instance_id)
    task = open_task(number, "review")
    claim_task(svc.engine, task.id, officers["cw1"])
    db.session.commit()
    out = _cli(
        "tasks",
        "complete",
        str(task.id),
        "--as",
        "cw1",
        "-f",
        "review_decision=approve",
        "-f",
        "review_notes=checked at the village office",
        "--no-wait",
    )
    assert f"task {task.id} completed; case {number}: IN_REVIEW" in out
    assert open_task(number, "approve") is None and workers_mode[-1] == case(number).instance_id
