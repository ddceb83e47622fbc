"""District scope: the one rule deciding which districts' work an officer may see and act on.

The rule (docs/authorization.md says the same for people):

1. An officer limited to districts (``Officer.regions``, the Actor's ``regions``; None = every
   district) sees and acts only on cases, tasks, incidents and objections of those districts: open,
   claim, release (also as a supervisor), reassign, complete, retry, skip. Work with no district
   (``region`` None, e.g. a process started without one) is open to every officer of the right role.
2. Lists are filtered the same way: inbox, desk figures, incidents, approvals, cases (a limited
   officer's lists show their districts only; work with no district is listed to unlimited officers).
3. Officer accounts: only an administrator of every district may give an officer every district.
   An administrator limited to districts manages only officers whose districts all lie within their
   own (never an officer of every district), and gives only districts of their own: nobody widens
   their own or another's scope beyond the districts they hold.
4. Refusals: the engine raises OutOfScope (a NotAllowed); pages and the API answer 404 for another
   district's object (its existence is not confirmed) and write the refusal to the audit log.

Every check of pages, API, command line and scheduler goes through this module: ``in_scope`` and
``require_in_scope`` for one object, ``scoped`` for a query, ``may_manage``/``require_may_manage`` and
``require_may_grant`` for officer accounts.
"""

from .errors import NotAllowed


class OutOfScope(NotAllowed):
    """The object lies in a district outside the actor's."""


def in_scope(actor, region):
    """Return True if `actor` may see and act on work of district `region` (None: no district)."""
    return actor.regions is None or region is None or region in actor.regions


def require_in_scope(actor, region, what, ident):
    """Raise OutOfScope unless `actor` may act on the `what` `ident` of district `region`."""
    if not in_scope(actor, region):
        raise OutOfScope(f"{what} {ident} is in district {region}, outside yours", what=what, reason="district")


def scoped(query, column, actor):
    """Filter a query to the rows whose district `column` lies in `actor`'s districts."""
    if actor.regions is None:
        return query
    return query.where(column.in_(sorted(actor.regions)))


def may_manage(actor, officer_regions):
    """Return True if `actor` (an administrator) may manage an officer working `officer_regions`."""
    if actor.regions is None:
        return True
    return officer_regions is not None and bool(officer_regions) and set(officer_regions) <= set(actor.regions)


def require_may_manage(actor, officer_id, officer_regions):
    """Raise OutOfScope unless `actor` may manage the officer `officer_id` working `officer_regions`."""
    if not may_manage(actor, officer_regions):
        raise OutOfScope(f"officer {officer_id} works districts outside yours", what="officer", reason="district")


def require_may_grant(actor, regions):
    """Raise OutOfScope unless `actor` may give an officer the districts `regions` (None = every district)."""
    if actor.regions is None:
        return
    if regions is None or not set(regions) <= set(actor.regions):
        raise OutOfScope(
            "you may give only districts you work in yourself",
            what="officer",
            reason="grant",
            allowed=sorted(actor.regions),
        )
