"""Look-ups in DTSEN, BPJS, the asset registries and the civil-service registry."""

from .base import handler
from .prefetch import take


def _evidence(*records):
    return [r.evidence.to_dict() for r in records if r is not None and r.evidence is not None]


@handler("dtsen.lookup")
def lookup_dtsen(ctx, kk_number):
    """Return the family's DTSEN welfare decile (None when not ranked)."""
    if not kk_number:
        return {"decile": None, "updated_at": None, "evidence": []}
    record = take("dtsen", kk_number, lambda: ctx.integrations.dtsen.lookup_household(kk_number))
    return {"decile": record.decile, "updated_at": record.updated_at, "evidence": _evidence(record)}


@handler("bpjs_health.lookup")
def lookup_bpjs_health(ctx, nik):
    """Return the applicant's BPJS Kesehatan membership and segment."""
    record = take("bpjs_health", nik, lambda: ctx.integrations.bpjs_health.lookup(nik))
    return {"member": record.member, "segment": record.segment, "active": record.active, "evidence": _evidence(record)}


@handler("bpjs_employment.lookup_household")
def lookup_bpjs_employment(ctx, niks):
    """Return the highest wage reported to BPJS Ketenagakerjaan for anyone in the household
    (one household look-up: a single query in the sandbox, not one per member)."""
    niks = list(niks or [])
    records = take("bpjs_employment", tuple(niks), lambda: ctx.integrations.bpjs_employment.lookup_household(niks))
    wages = [r.monthly_wage for r in records if r.member and r.monthly_wage is not None]
    return {"max_wage": max(wages) if wages else 0, "members_with_wage": len(wages), "evidence": _evidence(*records)}


@handler("assets.lookup")
def lookup_assets(ctx, kk_number):
    """Return the family's cars, electricity connection and company roles."""
    if not kk_number:
        return {
            "four_wheel_vehicles": 0,
            "electricity_va": 0,
            "electricity_subsidised": True,
            "company_roles": [],
            "evidence": [],
        }
    record = take("assets", kk_number, lambda: ctx.integrations.assets.lookup_household(kk_number))
    return {
        "four_wheel_vehicles": record.four_wheel_vehicles,
        "electricity_va": record.electricity_va,
        "electricity_subsidised": record.electricity_subsidised,
        "company_roles": [{"role": r["role"]} for r in record.company_roles],
        "evidence": _evidence(record),
    }


@handler("civil_service.lookup_household")
def lookup_civil_service(ctx, niks):
    """Return the state-employment categories found among the household's members."""
    niks = list(niks or [])
    records = take("civil_service", tuple(niks), lambda: ctx.integrations.civil_service.lookup_household(niks))
    categories = sorted({r.category for r in records if r.category})
    return {"categories": categories, "evidence": _evidence(*records)}
