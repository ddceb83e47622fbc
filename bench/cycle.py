"""A payment cycle over many enrolled families: each step's time and peak memory (prints figures, not a test).

    PYTHONPATH=. python bench/cycle.py --families 150000                       # SQLite in a temporary file
    PYTHONPATH=. python bench/cycle.py --families 150000 --no-sqlite \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/<your database>  # its schema is reset!

Steps measured: open (freeze the list + entitlements, run by the process's service tasks), approval
(payments, batches and their control hashes), dispatch, the bank files (CSV, streamed), the results
import of every batch with reconciliation (the sandbox bank's answers are made beforehand, untimed),
and the return of undrawn money. Memory: Python's peak allocations during the step (tracemalloc) and
the process's peak resident size so far.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHANNELS = ("BRI", "BNI", "MANDIRI", "BTN", "POS")


def nik_of(i):
    """A valid, unique NIK for family number i (district, a birth date, a serial)."""
    return f"3510{1 + i % 25:02d}{1 + (i // 9999) % 28:02d}{1 + (i // (9999 * 28)) % 12:02d}90{i % 9999 + 1:04d}"


def populate(session, families):
    """Enrolled families with components, inserted in chunks (untimed set-up)."""
    from cases.models import Application, Enrolment, EnrolmentComponent
    from engine.db import utcnow

    now = utcnow()
    chunk = 10_000
    for start in range(0, families, chunk):
        ids = range(start + 1, min(families, start + chunk) + 1)
        session.execute(
            Application.__table__.insert(),
            [
                {
                    "id": i,
                    "case_number": f"TPT-B-{i:09d}",
                    "nik": nik_of(i),
                    "active_nik": nik_of(i),
                    "applicant_name": f"Keluarga Bench {i}",
                    "district_code": f"{1 + i % 25:02d}",
                    "village": "DESA",
                    "channel": "self",
                    "payment_channel": CHANNELS[i % 5],
                    "bank_account": None if i % 5 == 4 else f"{i:012d}",
                    "consent_version": "v1",
                    "consent_at": now,
                    "status": "ENROLLED",
                    "reasons": [],
                    "review_flags": [],
                    "programmes": ["PKH", "BPNT"],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        session.execute(
            Enrolment.__table__.insert(),
            [
                {
                    "id": i,
                    "application_id": i,
                    "nik": nik_of(i),
                    "programmes": ["PKH", "BPNT"],
                    "benefits": {},
                    "enrolled_at": now,
                }
                for i in ids
            ],
        )
        components = []
        for i in ids:
            components.append({"enrolment_id": i, "programme": "PKH", "category": "SD", "units": 1 + i % 3})
            if i % 4 == 0:
                components.append({"enrolment_id": i, "programme": "PKH", "category": "child_0_6", "units": 1 + i % 3})
            if i % 7 == 0:
                components.append({"enrolment_id": i, "programme": "PKH", "category": "elderly_70", "units": 1})
            components.append({"enrolment_id": i, "programme": "BPNT", "category": "food", "units": 1})
        session.execute(EnrolmentComponent.__table__.insert(), components)
        # Members' conditions (payments/conditions.py): a deceased child in 1 family of 50; PKH commitment checks
        # of two quarters in 1 family of 10, missed once (warning) or twice (suspension, 1 family of 20).
        from cases.programme import MemberBenefitEnd
        from payments.models import CommitmentCheck

        ended = [
            {
                "enrolment_id": i,
                "application_id": i,
                "member_nik": f"{nik_of(i)[:12]}9999",
                "categories": [{"programme": "PKH", "category": "SD", "annual": 900000}],
                "reason": "DECEASED",
                "ended_on": now.date(),
                "created_at": now,
            }
            for i in ids
            if i % 50 == 0
        ]
        if ended:
            session.execute(MemberBenefitEnd.__table__.insert(), ended)
        checks = [
            {
                "enrolment_id": i,
                "application_id": i,
                "district_code": f"{1 + i % 25:02d}",
                "member_nik": f"{nik_of(i)[:12]}8888",
                "category": "SD",
                "period": period,
                "attendance": 50 if (period == "2026-Q3" or i % 20 == 0) else 95,
                "compliant": not (period == "2026-Q3" or i % 20 == 0),
                "source": "import",
                "recorded_at": now,
            }
            for i in ids
            if i % 10 == 0
            for period in ("2026-Q2", "2026-Q3")
        ]
        if checks:
            session.execute(CommitmentCheck.__table__.insert(), checks)
        session.commit()


class Step:
    """Time and memory of one step."""

    def __init__(self, label, name):
        self.label, self.name = label, name

    def __enter__(self):
        tracemalloc.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"  {self.label:<10} {self.name:<34} {seconds:8.2f} s   peak {peak / 2**20:7.1f} MiB (Python)"
            f"   max RSS {rss:7.0f} MiB",
            flush=True,
        )


class CountingNotifier:
    """Counts the notices instead of writing them to the sandbox outbox (see --notices)."""

    def __init__(self):
        self.sent = 0

    def send(self, recipient_nik, channel, template, params, idempotency_key=None):
        self.sent += 1
        return str(self.sent)


def measure(label, url, families, tmp, notices=False):
    from sqlalchemy import func, select

    from cases.operations import actor_for, create_officer
    from engine.db import db
    from engine.humantasks import claim_task, complete_task
    from engine.models import HumanTask
    from integrations.sandbox.paying_bank import results_lines
    from payments.bankfile import batch_csv_lines
    from payments.cycles import open_cycle, return_undrawn
    from payments.models import Payment, PaymentBatch, PaymentCycle
    from payments.results import import_and_advance
    from payments.schedule import parse_schedule
    from web import create_app, services
    from web.schema import reset_schema

    app = create_app({"BANSOS_DATABASE_URL": url, "BANSOS_VAR_DIR": str(tmp), "BANSOS_SCHEDULER_ENABLED": False})
    with app.app_context():
        reset_schema(db.engine)
        svc = services()
        counting = None
        if not notices:  # the sandbox outbox writes one row per message (one query each): minutes at this scale
            counting = svc.engine.script_engine.integrations.notifier = CountingNotifier()
        svc.engine.deploy_folder(deployed_by="bench")
        maker = actor_for(create_officer(db.session, "fin1", "Fin 1", ["finance_officer"], None))
        checker = actor_for(create_officer(db.session, "fin2", "Fin 2", ["finance_officer"], None))
        db.session.commit()
        started = time.perf_counter()
        populate(db.session, families)
        print(f"{label}: {families:,} enrolled families inserted in {time.perf_counter() - started:.1f} s (set-up)")
        cut_off = date.today() + timedelta(days=1)
        schedule = parse_schedule(f"""
[programmes.PKH]
kind = "annual"
arrears = true
arrears_max_stages = 4
[programmes.PKH.components]
SD = 900000
child_0_6 = 3000000
elderly_70 = 2400000
[programmes.PKH.caps]
child_0_6 = 2
elderly_70 = 1
[[cycles]]
code = "PKH-BENCH"
programme = "PKH"
months = ["2026-10", "2026-11", "2026-12"]
cut_off = "{cut_off.isoformat()}"
[commitments]
programme = "PKH"
[commitments.categories]
SD = "school"
child_0_6 = "health"
""")

        def work(bpmn_id, actor, data):
            row = db.session.execute(
                select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.status == "open")
            ).scalar_one()
            claim_task(svc.engine, row.id, actor)
            db.session.commit()
            complete_task(svc.engine, row.id, actor, data)
            db.session.commit()

        # An earlier stage (closed, its rates kept) that every 100th family missed: a rejection or an exit
        # overturned on appeal since, so the entitlement step adds its arrears (rapel) line.
        from payments.models import CycleRate

        earlier = PaymentCycle(
            code="PKH-BENCH-T0",
            programme="PKH",
            months="2026-07,2026-08,2026-09",
            cut_off=datetime.combine(cut_off - timedelta(days=90), datetime.min.time(), tzinfo=UTC),
            return_after_days=105,
            status="closed",
            opened_by="bench",
            arrears_max_stages=4,
        )
        db.session.add(earlier)
        db.session.flush()
        db.session.add_all(
            CycleRate(cycle_id=earlier.id, programme=p, category=c, amount=a, cap=cap)
            for p, c, a, cap in schedule.rates("PKH-BENCH")
        )
        from cases.models import Enrolment

        db.session.execute(
            Enrolment.__table__.update()
            .where(Enrolment.id % 100 == 0)
            .values(arrears_from=earlier.cut_off - timedelta(days=30))
        )
        db.session.commit()
        with Step(label, "open: freeze + entitlements"):
            open_cycle(svc.engine, schedule, "PKH-BENCH", maker)
            db.session.commit()
        cycle = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == "PKH-BENCH")).scalar_one()
        from payments.models import Entitlement

        rapel = db.session.execute(
            select(func.count(), func.coalesce(func.sum(Entitlement.amount), 0)).where(
                Entitlement.cycle_id == cycle.id, Entitlement.category.startswith("rapel:")
            )
        ).one()
        print(
            f"  {label:<10} {cycle.member_count:,} families frozen, planned Rp {cycle.planned_total:,}; "
            f"arrears (rapel) lines {rapel[0]:,}, Rp {int(rapel[1]):,}"
        )
        from payments.conditions import condition_counts

        print(f"  {label:<10} members' conditions (components, families): {condition_counts(db.session, cycle.id)}")
        work("prepare_cycle", maker, {"prepare_decision": "submit"})
        with Step(label, "approve: payments, batches, hashes"):
            work("approve_cycle", checker, {"cycle_approval_decision": "approve"})
        with Step(label, "dispatch (SP2D)"):
            work("dispatch_batches", maker, {"sp2d_number": "SP2D-1", "sp2d_date": date.today().isoformat()})
        batches = db.session.execute(select(PaymentBatch).order_by(PaymentBatch.channel)).scalars().all()
        files = {}
        with Step(label, "bank files (CSV, streamed)"):
            for batch in batches:
                path = Path(tmp) / f"{batch.reference}.csv"
                with path.open("w") as out:
                    for line in batch_csv_lines(db.session, batch):
                        out.write(line)
                files[batch.id] = path
        answers = {}
        for batch in batches:  # the sandbox bank's answers (untimed: it is the bank's work)
            with files[batch.id].open() as handle:
                answers[batch.id] = "".join(results_lines(handle, date.today())).encode()
        with Step(label, "results import + reconciliation"):
            for batch in batches:
                row = import_and_advance(
                    svc.engine, batch, answers[batch.id], f"{batch.reference}.csv", checker, follow_up=False
                )
                db.session.commit()
                assert row.status == "applied" and row.refused == 0, (row.status, row.refusals[:3])
        from payments.runs import run_follow_ups_inline

        with Step(label, "follow-up: notices + reviews (runs)"):
            run_follow_ups_inline(svc.engine)
            db.session.commit()
        from engine.models import HumanTask as Task

        reviews = db.session.scalar(select(func.count()).select_from(Task).where(Task.bpmn_id == "review_payment"))
        print(f"  {label:<10} caseworker reviews started: {reviews:,}")
        db.session.expire_all()
        cycle = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == "PKH-BENCH")).scalar_one()
        counts = dict(db.session.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
        print(
            f"  {label:<10} cycle {cycle.status}; payments by status {counts}; notices "
            f"{'written to the sandbox outbox' if counting is None else f'counted, not written: {counting.sent:,}'}"
        )
        with Step(label, "return of undrawn money"):
            count, total = return_undrawn(db.session, cycle.id)
            db.session.commit()
        print(f"  {label:<10} returned {count:,} payments, Rp {total:,}")
        db.session.remove()
        db.engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=150_000)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--notices",
        action="store_true",
        help="write the SMS/portal notices to the sandbox outbox (slow: one query per message)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"),
        help="a database of your own: its schema is dropped and created",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            measure("SQLite", f"sqlite:///{Path(tmp) / 'cycle.sqlite'}", args.families, tmp, args.notices)
        if args.postgres:
            measure("PostgreSQL", args.postgres, args.families, tmp, args.notices)


if __name__ == "__main__":
    main()
