"""What enrolment records for the payment cycles: the family's payment plan (no money moves at enrolment).

A newly enrolled family is paid only by payment cycles: the next regular cycle of each of its cash
programmes, or the supplementary (susulan) cycle of a stage whose list was frozen before the family was
enrolled. Enrolment records the paying channel (a bank channel without an account is paid by PT Pos, as the
freeze does), the cycle expected to pay the family first per programme, its months and cut-off, and an estimate
of that stage's amount from the schedule's rates and caps; the portal shows it until the first cycle payment.
The freeze decides: the plan is what the schedule said on the day of enrolment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cases.models import enrolment_components
from integrations.payments import PaymentChannel

from .models import CycleStatus, PaymentCycle

log = logging.getLogger(__name__)
JAKARTA = ZoneInfo("Asia/Jakarta")
POS = PaymentChannel.POS.value


def today_in_jakarta(now=None):
    return (now or datetime.now(JAKARTA)).astimezone(JAKARTA).date()


def effective_channel(channel, account):
    """(channel, account on file) as the cycle freeze will pay it: no channel or no account -> PT Pos."""
    if not channel or (channel != POS and not account):
        return POS, False
    return channel, channel != POS


def first_cycles(schedule, programmes, today, closed_codes=()):
    """{programme: CycleSpec} of the cycle expected to pay a family enrolled `today` first.

    A regular cycle qualifies when its cut-off is today or later and its list is not frozen (`closed_codes`:
    frozen or cancelled cycles); a supplementary cycle when its main cycle's cut-off has passed (or its list is
    frozen) and its own cut-off has not. The earliest cut-off wins.
    """
    closed = set(closed_codes)
    out = {}
    for spec in sorted(schedule.cycles.values(), key=lambda s: (s.cut_off, s.code)):
        if spec.programme not in programmes or spec.programme in out or spec.code in closed:
            continue
        if spec.cut_off is None or spec.cut_off < today:
            continue
        if spec.supplements is not None:
            main = schedule.cycles.get(spec.supplements)
            if main is None or not (main.code in closed or main.cut_off < today):
                continue
        out[spec.programme] = spec
    return out


def estimate(schedule, spec, units):
    """Whole rupiah a stage pays for {category: units}, capped, at the schedule's rates."""
    programme = schedule.programmes[spec.programme]
    total = 0
    for category, count in units.items():
        if category not in programme.components:
            continue
        cap = programme.caps.get(category)
        total += programme.amount_per_unit(category, len(spec.months)) * (min(count, cap) if cap else count)
    return total


def build_plan(schedule, benefits, programmes, channel, account, today, closed_codes=()):
    """The payment plan document kept with the enrolment (JSON)."""
    paid_by, has_account = effective_channel(channel, account)
    units = {}
    for programme, category, count in enrolment_components(benefits, programmes):
        units.setdefault(programme, {})[category] = count
    cycles = []
    if schedule is not None:
        for programme, spec in sorted(first_cycles(schedule, set(units), today, closed_codes).items()):
            cycles.append(
                {
                    "programme": programme,
                    "cycle": spec.code,
                    "months": list(spec.months),
                    "cut_off": spec.cut_off.isoformat(),
                    "supplementary": spec.supplements is not None,
                    "estimated": estimate(schedule, spec, units[programme]),
                }
            )
    return {
        "registered_on": today.isoformat(),
        "channel": paid_by,
        "account_on_file": has_account,
        "programmes": sorted(units),
        "cycles": cycles,
        # a cash programme with no cycle in the schedule yet: paid by the next cycle opened for it
        "unscheduled": sorted(set(units) - {c["programme"] for c in cycles}),
    }


# Asked once per enrolment: built once.
_CLOSED_CYCLES = select(PaymentCycle.code).where(
    (PaymentCycle.frozen_at.is_not(None)) | (PaymentCycle.status == CycleStatus.CANCELLED)
)


def closed_cycle_codes(session):
    """Codes of the cycles whose list is frozen or that were cancelled: a new family cannot join them."""
    return set(session.execute(_CLOSED_CYCLES).scalars())


def schedule_of(settings):
    """The payment schedule of the process folder, or None when it is missing or broken (the plan then names no
    cycle; the family is still paid by the next cycle opened for its programme)."""
    from .schedule import ScheduleInvalid, load_schedule

    folder = (settings or {}).get("BANSOS_PROCESS_DIR")
    if not folder:
        return None
    try:
        return load_schedule(folder)
    except ScheduleInvalid as exc:
        log.warning("payment schedule unreadable, the payment plan names no cycle: %s", exc)
        return None


def plan_for(settings, session, benefits, programmes, channel, account, today=None):
    """The payment plan of a family enrolled today (see build_plan)."""
    closed = closed_cycle_codes(session) if session is not None else ()
    return build_plan(
        schedule_of(settings), benefits or {}, programmes or [], channel, account, today or today_in_jakarta(), closed
    )
