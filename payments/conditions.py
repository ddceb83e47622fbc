"""Members' conditions in a cycle's entitlements: deceased members and PKH commitments (set-based).

Called from the entitlement step (`payments.cycles.compute_entitlements`) right after the entitlements
INSERT and before the arrears lines. Three statements, whatever the number of families:

1. `deceased`: a member in `member_benefit_ends` (a death in the civil registry) whose `ended_on` is on or
   before the cycle's cut-off day: each of that member's components loses one unit, not paid (no pro-rating:
   the simplest rule that never pays for a member who was dead when the list was frozen).
2. `warning` / `suspended`: PKH commitments (`commitment_checks`) of the quarters before the cycle's first
   month. A member's component whose checks since its last compliant quarter are non-compliant
   `warn_after` times or more is warned (still paid); `suspend_after` times or more is suspended (that
   member's unit is not paid). Thresholds come from payment_schedule.toml `[commitments]`, copied to the
   cycle when it opens.
3. The entitlements with a deceased or suspended member are recomputed: (frozen units - withheld), capped,
   times the cycle's rate.

Every condition is a row of `entitlement_conditions`, which the maker and checker count on the cycle page.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import aliased

from integrations.notify import APPLICANT_CHANNELS

from .models import CommitmentCheck, CycleMember, CycleMemberComponent, CycleRate, Entitlement, EntitlementCondition

JAKARTA = ZoneInfo("Asia/Jakarta")
WITHHELD = ("deceased", "suspended")

_DECEASED_SQL = {
    "sqlite": """
INSERT INTO entitlement_conditions (cycle_id, member_id, programme, category, member_nik, status)
SELECT DISTINCT m.cycle_id, m.id, e.programme, e.category, b.member_nik, 'deceased'
FROM cycle_members m
JOIN member_benefit_ends b ON b.enrolment_id = m.enrolment_id
JOIN json_each(b.categories) j
JOIN entitlements e ON e.member_id = m.id
 AND e.programme = coalesce(json_extract(j.value, '$.programme'), 'PKH')
 AND e.category = json_extract(j.value, '$.category')
WHERE m.cycle_id = :cycle_id AND b.ended_on <= :cut_off
""",
    "postgresql": """
INSERT INTO entitlement_conditions (cycle_id, member_id, programme, category, member_nik, status)
SELECT DISTINCT m.cycle_id, m.id, e.programme, e.category, b.member_nik, 'deceased'
FROM cycle_members m
JOIN member_benefit_ends b ON b.enrolment_id = m.enrolment_id
CROSS JOIN LATERAL json_array_elements(b.categories::json) j
JOIN entitlements e ON e.member_id = m.id
 AND e.programme = coalesce(j.value ->> 'programme', 'PKH')
 AND e.category = j.value ->> 'category'
WHERE m.cycle_id = :cycle_id AND b.ended_on <= :cut_off
""",
}


_ENDED_SQL = {
    "sqlite": """
SELECT b.enrolment_id, b.member_nik, b.ended_on,
       coalesce(json_extract(j.value, '$.programme'), 'PKH') AS programme,
       json_extract(j.value, '$.category') AS category
FROM member_benefit_ends b JOIN json_each(b.categories) j
""",
    "postgresql": """
SELECT b.enrolment_id, b.member_nik, b.ended_on,
       coalesce(j.value ->> 'programme', 'PKH') AS programme, j.value ->> 'category' AS category
FROM member_benefit_ends b CROSS JOIN LATERAL json_array_elements(b.categories::json) j
""",
}


def ended_components(session):
    """A selectable of every ended member component: (enrolment_id, member_nik, ended_on, programme, category)."""
    dialect = session.get_bind().dialect.name
    return text(_ENDED_SQL["postgresql" if dialect == "postgresql" else "sqlite"]).columns(
        column("enrolment_id", Integer),
        column("member_nik", String),
        column("ended_on", Date),
        column("programme", String),
        column("category", String),
    )


def quarter(month):
    """'2026-10' -> '2026-Q4' (commitment periods are quarters)."""
    year, number = month.split("-")[:2]
    return f"{year}-Q{(int(number) - 1) // 3 + 1}"


def cycle_quarter(cycle):
    """The quarter of a cycle's first month: checks of earlier quarters decide its amounts."""
    return quarter(cycle.months.split(",")[0])


def apply_member_conditions(session, cycle):
    """Write the cycle's deceased/warned/suspended conditions and reduce the entitlements they withhold."""
    dialect = session.get_bind().dialect.name
    cut_off = cycle.cut_off.astimezone(JAKARTA).date() if isinstance(cycle.cut_off, datetime) else cycle.cut_off
    session.execute(
        text(_DECEASED_SQL["postgresql" if dialect == "postgresql" else "sqlite"]).bindparams(
            bindparam("cut_off", type_=Date)
        ),
        {"cycle_id": cycle.id, "cut_off": cut_off},
    )
    if cycle.commitment_suspend_after:
        session.execute(
            insert(EntitlementCondition).from_select(
                ["cycle_id", "member_id", "programme", "category", "member_nik", "status"], commitment_conditions(cycle)
            )
        )
    _reduce(session, cycle)
    session.flush()


def strikes_query(before_period, enrolment_ids=None):
    """(enrolment_id, category, member_nik, strikes, last period): non-compliant checks before
    `before_period` since the member's last compliant check of that component."""
    check = aliased(CommitmentCheck)
    ok = aliased(CommitmentCheck)
    last_ok = (
        select(func.max(ok.period))
        .where(
            ok.enrolment_id == check.enrolment_id,
            ok.member_nik == check.member_nik,
            ok.category == check.category,
            ok.compliant.is_(True),
            ok.period < before_period,
        )
        .scalar_subquery()
    )
    query = (
        select(
            check.enrolment_id,
            check.category,
            check.member_nik,
            func.count().label("strikes"),
            func.max(check.period).label("last"),
        )
        .where(check.period < before_period, check.compliant.is_(False), check.period > func.coalesce(last_ok, ""))
        .group_by(check.enrolment_id, check.category, check.member_nik)
    )
    if enrolment_ids is not None:
        query = query.where(check.enrolment_id.in_(enrolment_ids))
    return query


def commitment_conditions(cycle):
    """SELECT of (cycle_id, member_id, programme, category, nik, status) for warned and suspended members."""
    strikes = strikes_query(cycle_quarter(cycle)).subquery()
    dead = aliased(EntitlementCondition)
    status = case((strikes.c.strikes >= cycle.commitment_suspend_after, literal("suspended")), else_=literal("warning"))
    return (
        select(
            CycleMember.cycle_id,
            CycleMember.id,
            Entitlement.programme,
            Entitlement.category,
            strikes.c.member_nik,
            status,
        )
        .join(strikes, strikes.c.enrolment_id == CycleMember.enrolment_id)
        .join(
            Entitlement,
            and_(
                Entitlement.member_id == CycleMember.id,
                Entitlement.programme == cycle.programme,
                Entitlement.category == strikes.c.category,
            ),
        )
        .where(
            CycleMember.cycle_id == cycle.id,
            strikes.c.strikes >= (cycle.commitment_warn_after or 1),
            ~exists().where(
                dead.member_id == CycleMember.id,
                dead.category == Entitlement.category,
                dead.member_nik == strikes.c.member_nik,
                dead.status == "deceased",
            ),
        )
    )


def _reduce(session, cycle):
    """Entitlements with withheld members: (frozen units - withheld), capped, times the rate (one UPDATE)."""
    withheld = (
        select(func.count())
        .where(
            EntitlementCondition.member_id == Entitlement.member_id,
            EntitlementCondition.programme == Entitlement.programme,
            EntitlementCondition.category == Entitlement.category,
            EntitlementCondition.status.in_(WITHHELD),
        )
        .scalar_subquery()
    )
    frozen = (
        select(CycleMemberComponent.units)
        .where(
            CycleMemberComponent.member_id == Entitlement.member_id,
            CycleMemberComponent.programme == Entitlement.programme,
            CycleMemberComponent.category == Entitlement.category,
        )
        .limit(1)
        .scalar_subquery()
    )
    rate = (
        select(CycleRate.amount)
        .where(
            CycleRate.cycle_id == Entitlement.cycle_id,
            CycleRate.programme == Entitlement.programme,
            CycleRate.category == Entitlement.category,
        )
        .scalar_subquery()
    )
    cap = (
        select(CycleRate.cap)
        .where(
            CycleRate.cycle_id == Entitlement.cycle_id,
            CycleRate.programme == Entitlement.programme,
            CycleRate.category == Entitlement.category,
        )
        .scalar_subquery()
    )
    left = frozen - withheld
    units = case((left <= 0, 0), (and_(cap.is_not(None), left > cap), cap), else_=left)
    any_withheld = exists().where(
        EntitlementCondition.member_id == Entitlement.member_id,
        EntitlementCondition.programme == Entitlement.programme,
        EntitlementCondition.category == Entitlement.category,
        EntitlementCondition.status.in_(WITHHELD),
    )
    session.execute(
        update(Entitlement)
        .where(Entitlement.cycle_id == cycle.id, any_withheld)
        .values(units=units, amount=rate * units)
        .execution_options(synchronize_session=False)
    )


def condition_counts(session, cycle_id, regions=None):
    """{status: (components, families)} of a cycle (deceased / warning / suspended), for the maker and checker."""
    query = (
        select(EntitlementCondition.status, func.count(), func.count(func.distinct(EntitlementCondition.member_id)))
        .join(CycleMember, CycleMember.id == EntitlementCondition.member_id)
        .where(EntitlementCondition.cycle_id == cycle_id)
        .group_by(EntitlementCondition.status)
    )
    if regions is not None:
        query = query.where(CycleMember.district_code.in_(sorted(regions)))
    return {status: (int(n), int(f)) for status, n, f in session.execute(query)}


def notify_conditions(session, notifier, cycle_id):
    """Tell each family with a warned or suspended component (SMS and portal), once per cycle; return how many.

    Per-family messages, like payments.results.notify_paid; the idempotency key (cycle, member, status) makes the
    step safe to run again.
    """
    from .models import PaymentCycle

    cycle = session.get(PaymentCycle, cycle_id)
    rows = session.execute(
        select(CycleMember.id, CycleMember.nik, EntitlementCondition.status)
        .join(EntitlementCondition, EntitlementCondition.member_id == CycleMember.id)
        .where(CycleMember.cycle_id == cycle_id, EntitlementCondition.status.in_(("warning", "suspended")))
        .distinct()
    ).all()
    for member_id, nik, status in rows:
        for medium in APPLICANT_CHANNELS:
            notifier.send(
                nik,
                medium,
                f"commitment_{status}",
                {"programme": cycle.programme, "cycle": cycle.code},
                idempotency_key=f"cycle:{cycle.code}:{member_id}:{status}:{medium}",
            )
    return len(rows)
