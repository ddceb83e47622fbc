"""Many starts at once (engine.start_many): each instance as engine.start makes it, with fewer statements.

The payment reviews of a cycle's failures are started this way; where the first run cannot have used its
data (start event, then a user task), the others are derived from it (engine/startbatch.py). Every one
must be a real instance of the deployed diagram: its own task ids, its data, its caseworker task in its
district's queue, its case's timeline and status, and a caseworker can work it to the end.
"""

import json
import re
from datetime import date

import pytest
from sqlalchemy import select

import engine.startbatch as startbatch
from cases.models import Application, CaseEvent
from engine.db import db
from engine.models import HumanTask, ProcessInstance
from payments.models import CycleMember, Payment
from tests.helpers import work
from tests.integration.payment_support import family, finance_officers
from tests.integration.test_engine import tick_engine  # noqa: F401 (a fixture)
from tests.integration.test_payment_results import _sum, _through_dispatch, batch, upload

TODAY = date.today()
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def derived(monkeypatch):
    """Counts the starts derived from a batch's first run."""
    made = []
    real = startbatch.DerivedStart.__init__

    def counting(self, *args, **kwargs):
        made.append(args[2])  # the business key
        real(self, *args, **kwargs)

    monkeypatch.setattr(startbatch.DerivedStart, "__init__", counting)
    return made


def _shape(state, data):
    """An instance's state with task ids numbered in order of appearance, no change times, no start data."""
    seen = {}
    dct = json.loads(_UUID.sub(lambda m: seen.setdefault(m.group(0), f"#{len(seen)}"), state))
    for task in dct["tasks"].values():
        task.pop("last_state_change")
        if task["data"]:
            assert task["data"] == data
            task["data"] = "<start data>"
    return dct


def test_the_reviews_of_a_cycle_are_real_instances_each_with_its_task_data_and_timeline(svc, officers, derived):
    fin = finance_officers()
    districts = ["01", "02", "01", "01", "02"]
    families = [family([("PKH", "SD", 1)], district=d, account=f"8{n}") for n, d in enumerate(districts)]
    fine = family([("PKH", "SD", 1)], account="77")
    db.session.commit()
    first = _through_dispatch(svc, fin, "PKH-TEST-T1")
    bri = batch("BRI")
    lines = []
    for payment in db.session.scalars(select(Payment).where(Payment.cycle_id == first.id)):
        app_id = db.session.get(CycleMember, payment.member_id).application_id
        failed = app_id != fine.id
        code = "NIK_MISMATCH" if app_id == families[1].id else "NAME_MISMATCH"
        lines.append(
            f"R,{payment.reference},{payment.amount},{'FAILED' if failed else 'CREDITED'},"
            f"{code if failed else ''},{TODAY}\n"
        )
    upload(svc, bri, [f"H,{bri.reference},{len(lines)},{_sum(lines)}\n", *lines], fin["fin1"])
    db.session.expire_all()

    payments = db.session.scalars(
        select(Payment).where(Payment.cycle_id == first.id, Payment.status == "failed").order_by(Payment.id)
    ).all()
    assert len(payments) == 5 and all(p.review_instance_id for p in payments)
    # The first two were run by the engine (the second checks the derivation); the other three derived.
    assert len(derived) == 3
    shapes, guids = [], set()
    for payment in payments:
        member = db.session.get(CycleMember, payment.member_id)
        app = db.session.get(Application, member.application_id)
        instance = db.session.get(ProcessInstance, payment.review_instance_id)
        assert instance.version.process_id == "payment_review" and instance.status == "waiting"
        assert (instance.business_key, instance.region) == (app.case_number, app.district_code)
        assert instance.wake_at is None
        data = {
            "payment_id": payment.id,
            "case_number": app.case_number,
            "reference": payment.reference,
            "result_code": payment.result_code,
            "amount": payment.amount,
            "channel": payment.channel,
        }
        # A real SpiffWorkflow instance of the deployed diagram, waiting at the review with the payment's data.
        workflow = svc.engine.load_readonly(instance)
        ready = [t for t in workflow.get_tasks() if t.state == 16]  # READY
        assert [t.task_spec.bpmn_id for t in ready] == ["review_payment"] and ready[0].data == data
        task = db.session.execute(select(HumanTask).where(HumanTask.instance_id == instance.id)).scalar_one()
        assert task.task_guid == str(ready[0].id)
        assert (task.bpmn_id, task.queue, task.region, task.business_key, task.status, task.form_name) == (
            "review_payment",
            "caseworker",
            app.district_code,
            app.case_number,
            "open",
            "payment_review",
        )
        assert task.due_at is not None and task.priority == 55
        ids = {str(t.id) for t in workflow.get_tasks()}
        assert not ids & guids  # every instance its own task ids
        guids |= ids
        shapes.append(_shape(instance.state_json, data))
        assert app.status == "PAYMENT_REVIEW"
        events = db.session.scalars(
            select(CaseEvent.kind).where(CaseEvent.application_id == app.id).order_by(CaseEvent.id)
        ).all()
        assert events == ["started", "milestone", "task_created"], events
    # Derived or run, the states are the same but for ids, times and data.
    assert all(shape == shapes[0] for shape in shapes)

    # A caseworker of the district works a derived review to the end: the decision is applied.
    derived_payment = payments[2]
    app = db.session.get(Application, db.session.get(CycleMember, derived_payment.member_id).application_id)
    assert app.case_number in derived and app.district_code == "01"
    work(
        svc,
        app.case_number,
        "review_payment",
        officers["cw1"],
        {"payment_review_decision": "switch_to_pos", "payment_review_notes": "nama di bank salah eja"},
    )
    db.session.expire_all()
    assert db.session.get(Application, app.id).status == "ENROLLED"
    assert db.session.get(Payment, derived_payment.id).next_action == "switch_to_pos"
    assert db.session.get(ProcessInstance, derived_payment.review_instance_id).status == "completed"


def test_starts_whose_run_uses_a_script_are_all_run_by_the_engine(tick_engine, derived):  # noqa: F811
    starts = [(f"COUNT-{n}", {"target": n}, "01") for n in range(1, 5)]
    instances = tick_engine.start_many("counter", starts)
    db.session.commit()
    assert derived == []  # a script ran before the wait: no start is derived
    for (key, data, _region), instance in zip(starts, instances, strict=True):
        db.session.refresh(instance)
        assert instance.business_key == key and instance.status == "waiting"
        workflow = tick_engine.load_readonly(instance)
        ready = [t for t in workflow.get_tasks() if t.state == 16]
        assert [t.task_spec.bpmn_id for t in ready] == ["step"]
        assert ready[0].data == {**data, "count": 0}
        assert db.session.execute(
            select(HumanTask.task_guid).where(HumanTask.instance_id == instance.id)
        ).scalar_one() == str(ready[0].id)


def test_only_starts_of_the_checked_data_shape_are_derived(svc, derived):
    starts = [
        ("R-1", {"a": 1, "b": "x"}, "01"),
        ("R-2", {"a": 2, "b": "y"}, "01"),  # run: checks the derivation
        ("R-3", {"b": "z", "a": 3}, "02"),  # other key order: run
        ("R-4", {"a": 4, "b": {"nested": True}}, "02"),  # not plain JSON values: run
        ("R-5", {"a": 5, "b": None}, "03"),  # derived
    ]
    instances = svc.engine.start_many("payment_review", starts)
    db.session.commit()
    assert derived == ["R-5"]
    for (key, data, region), instance in zip(starts, instances, strict=True):
        db.session.refresh(instance)
        assert (instance.business_key, instance.region, instance.status) == (key, region, "waiting")
        workflow = svc.engine.load_readonly(instance)
        assert workflow.task_tree.data == data
        ready = [t for t in workflow.get_tasks() if t.state == 16]
        task = db.session.execute(select(HumanTask).where(HumanTask.instance_id == instance.id)).scalar_one()
        assert (task.task_guid, task.region) == (str(ready[0].id), region) and ready[0].data == data
