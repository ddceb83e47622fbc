"""Payment cycle operations: open, freeze, entitlements, payments and batches, figures.

The big steps are set-based (INSERT ... SELECT in the database), never a loop over families in
Python: a regency of 680,000 families is one statement per step. Callers commit once; these flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from cases.models import Application, Enrolment, EnrolmentComponent, Objection
from cases.statuses import CaseStatus
from engine.db import utcnow
from engine.errors import EngineError
from integrations.payments import BANK_CHANNELS, PaymentChannel  # noqa: F401  (BANK_CHANNELS: payments.dispatch)

from .conditions import apply_member_conditions
from .models import (
    BatchStatus,
    CycleMember,
    CycleMemberComponent,
    CycleRate,
    CycleStatus,
    Entitlement,
    Payment,
    PaymentBatch,
    PaymentCycle,
    PaymentStatus,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
PROCESS_ID = "payment_cycle"
# A cycle's process and tasks belong to the whole regency (Banyuwangi, 3510), not to one district:
# only officers of every district see and work them (engine/scope.py compares regions as given).
REGENCY_REGION = "3510"
POS = PaymentChannel.POS.value


class CycleError(EngineError):
    code = "CYCLE_ERROR"


class CycleUnknown(CycleError):
    """The schedule has no cycle with this code."""

    code = "CYCLE_UNKNOWN"


class CycleExists(CycleError):
    """The cycle was opened before (one process instance per cycle)."""

    code = "CYCLE_EXISTS"


class CycleNotFound(CycleError):
    code = "CYCLE_NOT_FOUND"


class SupplementTooEarly(CycleError):
    """A supplementary cycle opens only after the cycle it completes has frozen its list."""

    code = "CYCLE_SUPPLEMENT_EARLY"


def business_key(code):
    """The process instance key of a cycle."""
    return f"CYCLE-{code}"


def cut_off_instant(day):
    """The end of the cut-off day in Banyuwangi (Asia/Jakarta), in UTC."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=JAKARTA).astimezone(UTC)


def cycle_or_404(session, code):
    """Return the cycle with this code or raise CycleNotFound."""
    cycle = session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one_or_none()
    if cycle is None:
        raise CycleNotFound(f"no payment cycle {code}", code=code)
    return cycle


def open_cycle(engine, schedule, code, actor):
    """Open a scheduled cycle: copy its rates and start its process (which freezes the list at the cut-off)."""
    from cases.audit import record

    spec = schedule.cycles.get(code)
    if spec is None:
        raise CycleUnknown(f"the schedule has no cycle {code!r}", code=code)
    session = engine.session
    if session.execute(select(PaymentCycle.id).where(PaymentCycle.code == code)).first() is not None:
        raise CycleExists(f"cycle {code} was opened before", code=code)
    main = None
    if spec.supplements is not None:
        main = session.execute(select(PaymentCycle).where(PaymentCycle.code == spec.supplements)).scalar_one_or_none()
        if main is None or main.frozen_at is None:
            raise SupplementTooEarly(
                f"{code} completes {spec.supplements}, whose list is not frozen yet",
                code=code,
                supplements=spec.supplements,
            )
    cycle = PaymentCycle(
        code=code,
        programme=spec.programme,
        months=",".join(spec.months),
        cut_off=cut_off_instant(spec.cut_off),
        return_after_days=schedule.return_after_days,
        status=CycleStatus.OPEN,
        opened_by=actor.id,
        supplements_cycle_id=main.id if main else None,
        arrears_max_stages=schedule.programmes[spec.programme].arrears_max_stages,
    )
    rule = schedule.commitments
    if rule is not None and rule.programme == spec.programme:
        cycle.commitment_warn_after, cycle.commitment_suspend_after = rule.warn_after, rule.suspend_after
    session.add(cycle)
    session.flush()
    session.add_all(
        CycleRate(cycle_id=cycle.id, programme=p, category=c, amount=a, cap=cap)
        for p, c, a, cap in schedule.rates(code)
    )
    session.flush()
    instance = engine.start(
        PROCESS_ID,
        business_key(code),
        {"cycle_id": cycle.id, "cycle_code": code, "programme": spec.programme},
        region=REGENCY_REGION,
    )
    cycle.instance_id = instance.id
    record(
        session,
        actor,
        "cycle.open",
        "payment_cycle",
        code,
        detail={"programme": spec.programme, "months": list(spec.months), "cut_off": spec.cut_off.isoformat()},
    )
    return cycle


def first_day(cycle):
    """The start of the cycle's first month in Banyuwangi (Asia/Jakarta), in UTC."""
    year, month = (int(x) for x in cycle.months.split(",")[0].split("-"))
    return datetime(year, month, 1, tzinfo=JAKARTA).astimezone(UTC)


# --- the set-based steps (run by the process's service tasks) --------------------------------------


def freeze_members(session, cycle_id):
    """Copy the cycle's members and their components as they stand at the cut-off; return the count.

    Members: enrolled families (enrolment not ended, case ENROLLED, so not in a pending re-check or
    removal) enrolled by the cut-off, with a component of the cycle's programme, and no open community
    objection. Running it again changes nothing: the snapshot is taken once.
    """
    cycle = session.get(PaymentCycle, cycle_id)
    if cycle.frozen_at is not None:
        return cycle.member_count
    objected = exists().where(Objection.application_id == Application.id, Objection.status == "open")
    cut_day = cycle.cut_off.astimezone(JAKARTA).date()
    # A component counts from its first day (valid_from, a child added later); the rows valid on the cut-off day.
    valid = or_(EnrolmentComponent.valid_from.is_(None), EnrolmentComponent.valid_from <= cut_day)
    in_programme = exists().where(
        EnrolmentComponent.enrolment_id == Enrolment.id, EnrolmentComponent.programme == cycle.programme, valid
    )
    no_account = (Application.bank_account.is_(None)) | (Application.bank_account == "")
    channel = case(
        (Application.payment_channel.is_(None), literal(POS)),
        (and_(Application.payment_channel != POS, no_account), literal(POS)),
        else_=Application.payment_channel,
    )
    account = case((channel == POS, None), else_=Application.bank_account)
    # History: before the cycles paid every family, enrolment paid the first stage at once (Enrolment.disbursement_ref,
    # the older payments.request_disbursement step). Such a family, enrolled during the cycle's months, is not paid
    # that stage again. New enrolments have no disbursement_ref: the cycles are their only payments.
    paid_at_enrolment = and_(Enrolment.disbursement_ref.is_not(None), Enrolment.enrolled_at >= first_day(cycle))
    # A supplementary (susulan) cycle pays the stage to the families its main cycle did not have on its list.
    main_members = aliased(CycleMember)
    on_main_list = exists().where(
        main_members.cycle_id == cycle.supplements_cycle_id, main_members.enrolment_id == Enrolment.id
    )
    chosen = (
        select(
            literal(cycle.id),
            Enrolment.id,
            Application.id,
            Application.case_number,
            Enrolment.nik,
            Application.applicant_name,
            Application.district_code,
            Application.village,
            channel,
            account,
        )
        .join(Application, Application.id == Enrolment.application_id)
        .where(
            Enrolment.ended_at.is_(None),
            Application.status == CaseStatus.ENROLLED,
            Enrolment.enrolled_at <= cycle.cut_off,
            in_programme,
            ~objected,
            ~paid_at_enrolment,
            ~on_main_list,
        )
    )
    session.execute(
        insert(CycleMember).from_select(
            [
                "cycle_id",
                "enrolment_id",
                "application_id",
                "case_number",
                "nik",
                "name",
                "district_code",
                "village",
                "channel",
                "account",
            ],
            chosen,
        )
    )
    components = (
        select(
            CycleMember.cycle_id,
            CycleMember.id,
            EnrolmentComponent.programme,
            EnrolmentComponent.category,
            func.sum(EnrolmentComponent.units),
        )
        .join(EnrolmentComponent, EnrolmentComponent.enrolment_id == CycleMember.enrolment_id)
        .where(CycleMember.cycle_id == cycle.id, EnrolmentComponent.programme == cycle.programme, valid)
        .group_by(CycleMember.cycle_id, CycleMember.id, EnrolmentComponent.programme, EnrolmentComponent.category)
    )
    session.execute(
        insert(CycleMemberComponent).from_select(
            ["cycle_id", "member_id", "programme", "category", "units"], components
        )
    )
    _carry_failures(session, cycle)
    cycle.member_count = session.scalar(select(func.count()).where(CycleMember.cycle_id == cycle.id))
    cycle.frozen_at = utcnow()
    session.flush()
    return cycle.member_count


RETRY_ACTIONS = ("retry_next_cycle", "switch_to_pos")


def _carry_failures(session, cycle):
    """Failed payments of earlier cycles of the programme, marked to retry or to go through PT Pos, join this
    cycle when the family is on its list: they are marked carried here (once), paid as arrears, and a family
    switched to PT Pos is paid by the post office in this cycle."""
    old = aliased(CycleMember)
    new = aliased(CycleMember)
    earlier = (
        select(Payment.id)
        .join(old, old.id == Payment.member_id)
        .join(new, and_(new.enrolment_id == old.enrolment_id, new.cycle_id == cycle.id))
        .join(PaymentCycle, PaymentCycle.id == Payment.cycle_id)
        .where(
            PaymentCycle.programme == cycle.programme,
            PaymentCycle.id != cycle.id,
            Payment.status == PaymentStatus.FAILED,
            Payment.next_action.in_(RETRY_ACTIONS),
            Payment.carried_to_cycle_id.is_(None),
        )
    )
    session.execute(
        update(Payment)
        .where(Payment.id.in_(earlier))
        .values(carried_to_cycle_id=cycle.id)
        .execution_options(synchronize_session=False)
    )
    to_pos = (
        select(new.id)
        .join(old, old.enrolment_id == new.enrolment_id)
        .join(Payment, Payment.member_id == old.id)
        .where(
            new.cycle_id == cycle.id, Payment.carried_to_cycle_id == cycle.id, Payment.next_action == "switch_to_pos"
        )
    )
    session.execute(
        update(CycleMember)
        .where(CycleMember.id.in_(to_pos))
        .values(channel=POS, account=None)
        .execution_options(synchronize_session=False)
    )


def compute_entitlements(session, cycle_id):
    """Entitlements per family and component: capped units times the cycle's rate; return (count, total)."""
    cycle = session.get(PaymentCycle, cycle_id)
    done = session.scalar(select(func.count()).where(Entitlement.cycle_id == cycle.id))
    if not done:
        units = case(
            (and_(CycleRate.cap.is_not(None), CycleMemberComponent.units > CycleRate.cap), CycleRate.cap),
            else_=CycleMemberComponent.units,
        )
        rows = (
            select(
                CycleMemberComponent.cycle_id,
                CycleMemberComponent.member_id,
                CycleMemberComponent.programme,
                CycleMemberComponent.category,
                units,
                CycleRate.amount * units,
            )
            .join(
                CycleRate,
                and_(
                    CycleRate.cycle_id == CycleMemberComponent.cycle_id,
                    CycleRate.programme == CycleMemberComponent.programme,
                    CycleRate.category == CycleMemberComponent.category,
                ),
            )
            .where(CycleMemberComponent.cycle_id == cycle.id)
        )
        session.execute(
            insert(Entitlement).from_select(["cycle_id", "member_id", "programme", "category", "units", "amount"], rows)
        )
        # Members' conditions (deceased, PKH commitments warned/suspended): payments/conditions.py.
        apply_member_conditions(session, cycle)
        # Arrears: what the failed payments carried into this cycle at its freeze would have paid.
        old = aliased(CycleMember)
        new = aliased(CycleMember)
        arrears = (
            select(
                literal(cycle.id),
                new.id,
                literal(cycle.programme),
                literal("arrears"),
                func.count(),
                func.sum(Payment.amount),
            )
            .join(old, old.id == Payment.member_id)
            .join(new, and_(new.enrolment_id == old.enrolment_id, new.cycle_id == cycle.id))
            .where(Payment.carried_to_cycle_id == cycle.id)
            .group_by(new.id)
        )
        session.execute(
            insert(Entitlement).from_select(
                ["cycle_id", "member_id", "programme", "category", "units", "amount"], arrears
            )
        )
        add_appeal_arrears(session, cycle)
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Entitlement.amount), 0)).where(Entitlement.cycle_id == cycle.id)
    ).one()
    cycle.planned_total = int(total)
    session.flush()
    return int(count), int(total)


APPEAL_ARREARS_PREFIX = "rapel:"


def is_appeal_arrears(category):
    """True for an entitlement line that pays a missed stage to a family overturned on appeal (rapel)."""
    return str(category or "").startswith(APPEAL_ARREARS_PREFIX)


def add_appeal_arrears(session, cycle):
    """Arrears (rapel) for families whose rejection or exit was overturned on appeal (returns the driver's rowcount).

    A member of this cycle whose enrolment has `arrears_from` (set when the appeal was overturned: the
    application date, or the exit date) is owed each earlier regular stage of the programme whose cut-off fell
    on or after that date, that it was on no list of (neither the stage nor its supplement) and that no cycle
    has paid it as arrears yet; the most recent `arrears_max_stages` of them (0: the programme pays none).
    Each stage is one entitlement line, category "rapel:<stage code>", priced month by month with the
    components valid in that month (`arrears_month_units`) at that stage's own rates and caps:
    floor(sum over its months of rate x capped units / months of the stage). One INSERT ... SELECT.
    """
    if not cycle.arrears_max_stages:
        return 0
    stages = session.execute(
        select(PaymentCycle.id, PaymentCycle.months, PaymentCycle.commitment_suspend_after).where(
            PaymentCycle.programme == cycle.programme,
            PaymentCycle.supplements_cycle_id.is_(None),
            PaymentCycle.months < cycle.months,
            PaymentCycle.status != CycleStatus.CANCELLED,
        )
    ).all()
    if not stages:
        return 0
    missed = aliased(PaymentCycle)
    stage_member = aliased(CycleMember)
    paid_member = aliased(CycleMember)
    earlier_arrears = aliased(Entitlement)
    supplement = aliased(PaymentCycle)
    category = literal(APPEAL_ARREARS_PREFIX) + missed.code
    on_stage_list = exists().where(stage_member.enrolment_id == Enrolment.id, stage_member.cycle_id == missed.id)
    on_supplement_list = exists().where(
        stage_member.enrolment_id == Enrolment.id,
        stage_member.cycle_id == supplement.id,
        supplement.supplements_cycle_id == missed.id,
    )
    paid_before = exists().where(
        earlier_arrears.member_id == paid_member.id,
        paid_member.enrolment_id == Enrolment.id,
        earlier_arrears.programme == cycle.programme,
        earlier_arrears.category == category,
    )
    # A stage paid at enrolment (the older path, before the cycles paid every family) is not owed again.
    enrolled_month = func.substr(cast(Enrolment.enrolled_at, String), 1, 7)
    paid_at_enrolment = and_(Enrolment.disbursement_ref.is_not(None), missed.months.contains(enrolled_month))
    ranked = (
        select(
            CycleMember.id.label("member_id"),
            Enrolment.id.label("enrolment_id"),
            missed.id.label("missed_id"),
            category.label("category"),
            func.row_number()
            .over(partition_by=CycleMember.id, order_by=(missed.months.desc(), missed.id.desc()))
            .label("recent"),
        )
        .join(Enrolment, Enrolment.id == CycleMember.enrolment_id)
        .join(
            missed,
            and_(
                missed.programme == cycle.programme,
                missed.supplements_cycle_id.is_(None),
                missed.months < cycle.months,
                missed.cut_off >= Enrolment.arrears_from,
            ),
        )
        .where(
            CycleMember.cycle_id == cycle.id,
            Enrolment.arrears_from.is_not(None),
            missed.status != "cancelled",
            ~on_stage_list,
            ~on_supplement_list,
            ~paid_before,
            ~paid_at_enrolment,
        )
        .subquery()
    )
    owed = (
        select(ranked.c.member_id, ranked.c.enrolment_id, ranked.c.missed_id, ranked.c.category)
        .where(ranked.c.recent <= cycle.arrears_max_stages)
        .subquery("owed")
    )
    month = arrears_month_units(session, cycle, owed, stages)
    units = case(
        (month.c.units <= 0, 0),
        (and_(CycleRate.cap.is_not(None), month.c.units > CycleRate.cap), CycleRate.cap),
        else_=month.c.units,
    )
    per_stage = func.sum(CycleRate.amount * units)
    amount = cast((per_stage - per_stage % month.c.n_months) / month.c.n_months, BigInteger)
    lines = (
        select(literal(cycle.id), month.c.member_id, literal(cycle.programme), month.c.line, literal(1), amount)
        .join(
            CycleRate,
            and_(
                CycleRate.cycle_id == month.c.missed_id,
                CycleRate.programme == cycle.programme,
                CycleRate.category == month.c.component,
            ),
        )
        .group_by(month.c.member_id, month.c.line, month.c.n_months)
        .having(per_stage > 0)
    )
    return session.execute(
        insert(Entitlement).from_select(["cycle_id", "member_id", "programme", "category", "units", "amount"], lines)
    ).rowcount


def _month_rows(stages):
    """One row per month of each candidate stage: (missed_id, month_start, quarter, n_months, suspend_after)."""
    from .conditions import quarter

    rows = []
    for stage_id, months, suspend_after in stages:
        names = months.split(",")
        for name in names:
            year, number = (int(x) for x in name.split("-"))
            rows.append(
                select(
                    literal(stage_id).label("missed_id"),
                    literal(date(year, number, 1), Date).label("month_start"),
                    literal(quarter(name)).label("quarter"),
                    literal(len(names)).label("n_months"),
                    literal(int(suspend_after or 0)).label("suspend_after"),
                )
            )
    return union_all(*rows).subquery("stage_months")


def arrears_month_units(session, cycle, owed, stages):
    """Per owed stage, month and component: the family's units valid on the month's first day (subquery).

    Columns: member_id, missed_id, line (the "rapel:<stage>" category), n_months, component, units. A component
    counts in a month when its `enrolment_components` row is valid on the month's first day (`valid_from` NULL or
    on/before it: a child added later counts from its first whole month), minus the members dead before that day
    (`member_benefit_ends.ended_on` earlier than the first day) and the members whose PKH commitment was suspended
    for that month (the same rule as a cycle: the non-compliant quarters before the month's quarter reach the
    stage's `commitment_suspend_after`; a dead member is not subtracted twice).
    """
    from .conditions import ended_components, quarter, strikes_query

    months = _month_rows(stages)
    comp = aliased(EnrolmentComponent)
    valid = (
        select(
            owed.c.member_id,
            owed.c.enrolment_id,
            owed.c.missed_id,
            owed.c.category.label("line"),
            months.c.month_start,
            months.c.quarter,
            months.c.n_months,
            months.c.suspend_after,
            comp.category.label("component"),
            func.sum(comp.units).label("units"),
        )
        .join(months, months.c.missed_id == owed.c.missed_id)
        .join(
            comp,
            and_(
                comp.enrolment_id == owed.c.enrolment_id,
                comp.programme == cycle.programme,
                or_(comp.valid_from.is_(None), comp.valid_from <= months.c.month_start),
            ),
        )
        .group_by(
            owed.c.member_id,
            owed.c.enrolment_id,
            owed.c.missed_id,
            owed.c.category,
            months.c.month_start,
            months.c.quarter,
            months.c.n_months,
            months.c.suspend_after,
            comp.category,
        )
        .subquery("valid_units")
    )
    ended = ended_components(session).subquery("ended")
    dead = (
        select(func.count())
        .select_from(ended)
        .where(
            ended.c.enrolment_id == valid.c.enrolment_id,
            ended.c.programme == cycle.programme,
            ended.c.category == valid.c.component,
            ended.c.ended_on < valid.c.month_start,
        )
        .scalar_subquery()
    )
    withheld = dead
    quarters = sorted(
        {quarter(name) for _, names, suspend_after in stages if suspend_after for name in names.split(",")}
    )
    if quarters:
        enrolments = select(owed.c.enrolment_id)
        parts = []
        for q in quarters:
            s = strikes_query(q, enrolments).subquery()
            parts.append(
                select(literal(q).label("quarter"), s.c.enrolment_id, s.c.category, s.c.member_nik, s.c.strikes)
            )
        strikes = union_all(*parts).subquery("strikes")
        gone = aliased(ended)
        suspended = (
            select(func.count())
            .select_from(strikes)
            .where(
                strikes.c.enrolment_id == valid.c.enrolment_id,
                strikes.c.category == valid.c.component,
                strikes.c.quarter == valid.c.quarter,
                valid.c.suspend_after > 0,
                strikes.c.strikes >= valid.c.suspend_after,
                ~exists().where(
                    gone.c.enrolment_id == strikes.c.enrolment_id,
                    gone.c.member_nik == strikes.c.member_nik,
                    gone.c.category == strikes.c.category,
                    gone.c.ended_on < valid.c.month_start,
                ),
            )
            .scalar_subquery()
        )
        withheld = dead + suspended
    return select(
        valid.c.member_id,
        valid.c.missed_id,
        valid.c.line,
        valid.c.n_months,
        valid.c.component,
        (valid.c.units - withheld).label("units"),
    ).subquery("month_units")


def payment_reference(code, member_id, attempt=1):
    """The reference we (the sender) give one payment attempt: unique, and the same when built again."""
    return f"{code}-{member_id}-{attempt}"


def build_batches(session, cycle_id):
    """One payment per family (the sum of its entitlements) and one batch per channel, with control totals.

    Returns [(channel, count, total)]. Built once: running it again returns the batches made before.
    """
    from .bankfile import control_hash

    cycle = session.get(PaymentCycle, cycle_id)
    if not session.scalar(select(func.count()).where(PaymentBatch.cycle_id == cycle.id)):
        reference = literal(f"{cycle.code}-") + cast(CycleMember.id, String) + literal("-1")
        per_family = (
            select(
                CycleMember.cycle_id,
                CycleMember.id,
                literal(1),
                reference,
                CycleMember.channel,
                CycleMember.account,
                func.sum(Entitlement.amount),
                literal(PaymentStatus.PLANNED),
            )
            .join(Entitlement, Entitlement.member_id == CycleMember.id)
            .where(CycleMember.cycle_id == cycle.id)
            .group_by(CycleMember.cycle_id, CycleMember.id, CycleMember.channel, CycleMember.account)
            .having(func.sum(Entitlement.amount) > 0)
        )
        session.execute(
            insert(Payment).from_select(
                ["cycle_id", "member_id", "attempt", "reference", "channel", "account", "amount", "status"], per_family
            )
        )
        batches = (
            select(
                Payment.cycle_id,
                Payment.channel,
                literal(f"{cycle.code}-") + Payment.channel,
                func.count(),
                func.sum(Payment.amount),
                literal("ready"),
            )
            .where(Payment.cycle_id == cycle.id)
            .group_by(Payment.cycle_id, Payment.channel)
        )
        session.execute(
            insert(PaymentBatch).from_select(["cycle_id", "channel", "reference", "count", "total", "status"], batches)
        )
        batch_of = (
            select(PaymentBatch.id)
            .where(PaymentBatch.cycle_id == Payment.cycle_id, PaymentBatch.channel == Payment.channel)
            .scalar_subquery()
        )
        session.execute(
            update(Payment)
            .where(Payment.cycle_id == cycle.id)
            .values(batch_id=batch_of)
            .execution_options(synchronize_session=False)
        )
        for batch in session.execute(select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)).scalars():
            batch.control_hash = control_hash(session, batch)
        session.flush()
    return [
        (b.channel, b.count, b.total)
        for b in session.execute(
            select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id).order_by(PaymentBatch.channel)
        ).scalars()
    ]


def record_dispatch(session, cycle_id, sp2d_date=None):
    """The batches went to the paying channels: payments are sent, and the return date is set from the SP2D."""
    cycle = session.get(PaymentCycle, cycle_id)
    now = utcnow()
    if cycle.sp2d_at is None:
        cycle.sp2d_at = now if sp2d_date is None else datetime.combine(sp2d_date, time(0, 0), tzinfo=JAKARTA)
        cycle.return_at = cycle.sp2d_at + timedelta(days=cycle.return_after_days)
        session.execute(
            update(Payment)
            .where(Payment.cycle_id == cycle.id, Payment.status == PaymentStatus.PLANNED)
            .values(status=PaymentStatus.SENT)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.cycle_id == cycle.id, PaymentBatch.status == BatchStatus.READY)
            .values(status=BatchStatus.DISPATCHED, dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        session.flush()
    return cycle.return_at


FOLLOW_UP = {
    # What a failure leads to by default (an officer may change it on the cycle page).
    "ACCOUNT_CLOSED": "switch_to_pos",
    "DORMANT": "switch_to_pos",
    "NAME_MISMATCH": "review",
    "NIK_MISMATCH": "review",
    "OVER_LIMIT": "retry_next_cycle",
}


def follow_up_failures(session, cycle_id):
    """Give every failed payment without one its next action (by result code); return how many."""
    count = 0
    for code, action in FOLLOW_UP.items():
        count += session.execute(
            update(Payment)
            .where(
                Payment.cycle_id == cycle_id,
                Payment.status == PaymentStatus.FAILED,
                Payment.next_action.is_(None),
                Payment.result_code == code,
            )
            .values(next_action=action)
            .execution_options(synchronize_session=False)
        ).rowcount
    count += session.execute(
        update(Payment)
        .where(Payment.cycle_id == cycle_id, Payment.status == PaymentStatus.FAILED, Payment.next_action.is_(None))
        .values(next_action="review")
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return count


REVIEW_DECISIONS = ("retry_next_cycle", "switch_to_pos", "no_repeat")
REVIEW_PROCESS_ID = "payment_review"


def reviews_due(cycle_id):
    """The SELECT of the ids of the cycle's failed payments waiting for a caseworker review to start."""
    from cases.models import Application

    return (
        select(Payment.id)
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .join(Application, Application.id == CycleMember.application_id)
        .where(
            Payment.cycle_id == cycle_id,
            Payment.status == PaymentStatus.FAILED,
            Payment.next_action == "review",
            Payment.review_instance_id.is_(None),
            Application.status == CaseStatus.ENROLLED,
        )
    )


def start_reviews(engine, cycle_id):
    """Start a caseworker review (payment_review.bpmn) for each failure of the cycle whose next action is a
    review, in batches: a tracked run (payments/runs.py). Returns how many are due."""
    from .runs import start_reviews_run

    _run, due = start_reviews_run(engine, cycle_id)
    return due


def start_review_range(engine, cycle_id, low, high):
    """Start the reviews due among the cycle's payments with ids low..high (one transaction); return how many.

    The family is suspended from later cycles until its review is decided. A payment whose review was
    started before, that is no longer to review, or whose case is not enrolled, is left alone.
    """
    session = engine.session
    rows = session.execute(
        select(Payment, CycleMember.case_number, CycleMember.district_code)
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .where(Payment.id.in_(reviews_due(cycle_id).where(Payment.id.between(low, high))))
        .order_by(Payment.id)
    ).all()
    if not rows:
        return 0
    # One instance each, started as engine.start would; saved together (one INSERT, one flush).
    instances = engine.start_many(
        REVIEW_PROCESS_ID,
        (
            (
                case_number,
                {
                    "payment_id": payment.id,
                    "case_number": case_number,
                    "reference": payment.reference,
                    "result_code": payment.result_code,
                    "amount": payment.amount,
                    "channel": payment.channel,
                },
                district,
            )
            for payment, case_number, district in rows
        ),
        version=engine.latest_version(REVIEW_PROCESS_ID),
    )
    for (payment, _case_number, _district), instance in zip(rows, instances, strict=True):
        payment.review_instance_id = instance.id
    session.flush()
    return len(rows)


def apply_review(session, payment_id, decision):
    """Set a reviewed failure's next action."""
    if decision not in REVIEW_DECISIONS:
        raise ValueError(f"unknown review decision {decision!r}")
    payment = session.get(Payment, payment_id)
    payment.next_action = decision
    session.flush()


def return_undrawn(session, cycle_id):
    """Money credited but not drawn by the return date goes back to the treasury; return (count, total)."""
    now = utcnow()
    cycle = session.get(PaymentCycle, cycle_id)
    undrawn = and_(Payment.cycle_id == cycle.id, Payment.status.in_((PaymentStatus.CREDITED, PaymentStatus.SENT)))
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(undrawn)
    ).one()
    session.execute(
        update(Payment)
        .where(undrawn)
        .values(status=PaymentStatus.RETURNED, returned_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(count), int(total)


def close_cycle(session, cycle_id):
    """Mark the cycle closed."""
    cycle = session.get(PaymentCycle, cycle_id)
    cycle.closed_at = cycle.closed_at or utcnow()
    session.flush()


# --- figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    district_code: str | None
    programme: str
    channel: str
    families: int
    amount: int


def entitlement_figures(session, cycle_id, regions=None):
    """Families and rupiah per district, programme and channel (entitlements; `regions` limits districts)."""
    query = (
        select(
            CycleMember.district_code,
            Entitlement.programme,
            CycleMember.channel,
            func.count(func.distinct(CycleMember.id)),
            func.sum(Entitlement.amount),
        )
        .join(Entitlement, Entitlement.member_id == CycleMember.id)
        .where(CycleMember.cycle_id == cycle_id)
        .group_by(CycleMember.district_code, Entitlement.programme, CycleMember.channel)
        .order_by(CycleMember.district_code, Entitlement.programme, CycleMember.channel)
    )
    if regions is not None:
        query = query.where(CycleMember.district_code.in_(sorted(regions)))
    return [FigureRow(d, p, c, int(n), int(a or 0)) for d, p, c, n, a in session.execute(query)]


def payment_figures(session, cycle_id, regions=None):
    """{(district, channel): {status: (count, amount)}} of a cycle's payments."""
    query = (
        select(CycleMember.district_code, Payment.channel, Payment.status, func.count(), func.sum(Payment.amount))
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .where(Payment.cycle_id == cycle_id)
        .group_by(CycleMember.district_code, Payment.channel, Payment.status)
    )
    if regions is not None:
        query = query.where(CycleMember.district_code.in_(sorted(regions)))
    out = {}
    for district, channel, status, count, amount in session.execute(query):
        out.setdefault((district, channel), {})[status] = (int(count), int(amount or 0))
    return out


@dataclass(frozen=True)
class ArrearsRow:
    district_code: str
    channel: str
    families: int
    stages: int
    amount: int


def arrears_figures(session, cycle_id, regions=None):
    """The arrears (rapel) of overturned appeals in a cycle: families, stages and rupiah per district and channel
    (included in entitlement_figures; shown apart so the maker and the checker see them)."""
    query = (
        select(
            CycleMember.district_code,
            CycleMember.channel,
            func.count(func.distinct(CycleMember.id)),
            func.count(),
            func.sum(Entitlement.amount),
        )
        .join(Entitlement, Entitlement.member_id == CycleMember.id)
        .where(
            CycleMember.cycle_id == cycle_id,
            Entitlement.cycle_id == cycle_id,
            Entitlement.category.startswith(APPEAL_ARREARS_PREFIX),
        )
        .group_by(CycleMember.district_code, CycleMember.channel)
        .order_by(CycleMember.district_code, CycleMember.channel)
    )
    if regions is not None:
        query = query.where(CycleMember.district_code.in_(sorted(regions)))
    return [ArrearsRow(d, c, int(n), int(k), int(a or 0)) for d, c, n, k, a in session.execute(query)]
