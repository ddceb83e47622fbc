"""Officer administration: create, edit roles and districts, deactivate, unlock, passwords; each audited.

District scope (engine/scope.py): an administrator limited to districts manages only officers of
their own districts and gives only those districts; only an administrator of every district gives
"every district". Each function here checks it (raising OutOfScope), for pages and commands alike.

Callers commit once. Two rules keep the system administrable: an administrator never removes their
own administrator role or deactivates themselves, and the last active administrator is never removed.
The check for "another active administrator remains" runs under locks (rows on PostgreSQL, the write
lock on SQLite), so two administrators demoting each other at the same moment cannot both succeed.
"""

from sqlalchemy import Text, cast, func, or_, select, update

from engine.errors import EngineError
from engine.humantasks import unclaim_task
from engine.models import HumanTask
from engine.scope import require_may_grant, require_may_manage
from integrations.nik import BANYUWANGI_DISTRICTS
from integrations.sandbox.extracts import DISTRICT_BY_CODE

from .accounts import WeakPassword, password_matches, set_password
from .audit import record
from .models import Officer
from .operations import create_officer
from .roles import ALL_ROLES, Role

OFFICER_ROLES = ALL_ROLES  # the one list (cases/roles.py)
ADMIN = Role.ADMINISTRATOR.value
# Tasks of a district sit unworked without these.
ESSENTIAL_ROLES = (Role.CASEWORKER.value, Role.SUPERVISOR.value)
DISTRICT_CODES = tuple(sorted(BANYUWANGI_DISTRICTS))
USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{2,39}$"


def district_name(code):
    """Return a district's name (as the registry extracts spell it, title-cased), or '' if unknown."""
    district = DISTRICT_BY_CODE.get(code)
    return district.name.title() if district else ""


def district_choices():
    """Return [(code, name)] for Banyuwangi's 25 districts."""
    return [(code, district_name(code)) for code in DISTRICT_CODES]


class OfficerError(EngineError):
    code = "OFFICER_ERROR"


class OfficerNotFound(OfficerError):
    code = "OFFICER_NOT_FOUND"


class UsernameTaken(OfficerError):
    code = "USERNAME_TAKEN"


class SelfLockout(OfficerError):
    """An administrator acting on their own account in a way that could lock them (or everyone) out."""

    code = "SELF_LOCKOUT"


class LastAdministrator(OfficerError):
    code = "LAST_ADMINISTRATOR"


class WrongPassword(OfficerError):
    code = "WRONG_PASSWORD"


def officer_by_id_or_404(session, officer_id):
    """Return the officer with this id or raise OfficerNotFound."""
    officer = session.get(Officer, officer_id)
    if officer is None:
        raise OfficerNotFound(f"officer {officer_id} does not exist")
    return officer


def snapshot(officer):
    """The audited view of an account: who, roles, districts, active (never a password hash)."""
    return {
        "username": officer.username,
        "name": officer.name,
        "roles": sorted(officer.roles or []),
        "regions": None if officer.regions is None else sorted(officer.regions),
        "active": bool(officer.active),
    }


def _audit(session, actor, action, officer, origin, **detail):
    ip, user_agent = origin or (None, None)
    record(
        session,
        actor,
        action,
        target_type="officer",
        target_id=officer.username,
        ip=ip,
        user_agent=user_agent,
        detail=detail or None,
    )


def _check_choices(roles, regions):
    unknown = set(roles) - set(OFFICER_ROLES)
    if unknown or not roles:
        raise ValueError(f"roles must be some of {OFFICER_ROLES}, not {sorted(unknown) or 'none'}")
    if regions is not None and (not regions or set(regions) - BANYUWANGI_DISTRICTS):
        raise ValueError("regions must be district codes 01-25, or None for every district")


def _normal_regions(regions):
    return None if regions is None else sorted(set(regions))


def add_officer(session, actor, username, name, roles, regions, password, origin=None):
    """Create an officer account with a password; raise UsernameTaken or WeakPassword."""
    _check_choices(roles, regions)
    require_may_grant(actor, regions)
    if session.execute(select(Officer.id).where(func.lower(Officer.username) == username.lower())).first():
        raise UsernameTaken(f"the username {username!r} is taken", username=username)
    officer = create_officer(session, username, name, sorted(set(roles)), _normal_regions(regions), password=None)
    set_password(officer, password)
    session.flush()
    _audit(session, actor, "officer.create", officer, origin, after=snapshot(officer))
    return officer


def _lock_administrators(session, officer):
    """Lock the officer and every active administrator (id order: no deadlock); return the administrators."""
    if session.get_bind().dialect.name == "sqlite":
        # Reads before a write see no lock on SQLite: take the database write lock first.
        session.execute(update(Officer).where(Officer.id == officer.id).values(active=Officer.active))
    query = (
        select(Officer)
        .where(or_(Officer.id == officer.id, Officer.active.is_(True) & cast(Officer.roles, Text).like(f'%"{ADMIN}"%')))
        .order_by(Officer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return [o for o in session.execute(query).scalars() if o.active and ADMIN in (o.roles or [])]


def _ensure_another_administrator(session, officer):
    others = [o for o in _lock_administrators(session, officer) if o.id != officer.id]
    if not others:
        raise LastAdministrator(f"{officer.username} is the last active administrator")


def end_sessions(officer):
    """End every signed-in session of the officer (each session carries the epoch it began in)."""
    officer.session_epoch = (officer.session_epoch or 0) + 1


def _is_self(actor, officer):
    return actor.id == officer.username


def _release_tasks(engine, actor, officer, keep=None):
    """Put the officer's claimed tasks back in their queues (those `keep(row)` refuses, or all); return ids."""
    rows = (
        engine.session.execute(
            select(HumanTask)
            .where(HumanTask.assignee == officer.username, HumanTask.status == "claimed")
            .order_by(HumanTask.id)
        )
        .scalars()
        .all()
    )
    released = []
    for row in rows:
        if keep is None or not keep(row):
            unclaim_task(engine, row.id, actor)
            released.append(row.id)
    return released


def update_officer(engine, actor, officer, name, roles, regions, origin=None):
    """Change name, roles and districts; tasks the officer may no longer work go back to their queues."""
    session = engine.session
    _check_choices(roles, regions)
    require_may_manage(actor, officer.id, officer.regions)
    roles, regions = sorted(set(roles)), _normal_regions(regions)
    require_may_grant(actor, regions)
    if ADMIN in (officer.roles or []) and ADMIN not in roles:
        if _is_self(actor, officer):
            raise SelfLockout("you cannot remove your own administrator role")
        _ensure_another_administrator(session, officer)
    before = snapshot(officer)
    officer.name, officer.roles, officer.regions = name, roles, regions
    session.flush()

    def still_workable(row):
        return row.queue in roles and (regions is None or row.region is None or row.region in regions)

    released = _release_tasks(engine, actor, officer, keep=still_workable) if officer.active else []
    after = snapshot(officer)
    if after != before or released:
        _audit(session, actor, "officer.update", officer, origin, before=before, after=after, released_tasks=released)
    return released


def deactivate_officer(engine, actor, officer, origin=None):
    """Stop an officer signing in and put their claimed tasks back in the queues; return released task ids."""
    session = engine.session
    if _is_self(actor, officer):
        raise SelfLockout("you cannot deactivate your own account")
    require_may_manage(actor, officer.id, officer.regions)
    if ADMIN in (officer.roles or []) and officer.active:
        _ensure_another_administrator(session, officer)
    if not officer.active:
        return []
    officer.active = False
    end_sessions(officer)
    session.flush()
    released = _release_tasks(engine, actor, officer)
    _audit(
        session,
        actor,
        "officer.deactivate",
        officer,
        origin,
        before={"active": True},
        after={"active": False},
        released_tasks=released,
    )
    return released


def reactivate_officer(session, actor, officer, origin=None):
    """Let a deactivated officer sign in again."""
    require_may_manage(actor, officer.id, officer.regions)
    if officer.active:
        return
    officer.active = True
    officer.failed_logins, officer.locked_until = 0, None
    session.flush()
    _audit(session, actor, "officer.reactivate", officer, origin, before={"active": False}, after={"active": True})


def unlock_officer(session, actor, officer, origin=None):
    """Lift a sign-in lock-out and forget the failed attempts."""
    require_may_manage(actor, officer.id, officer.regions)
    before = {
        "locked_until": officer.locked_until.isoformat() if officer.locked_until else None,
        "failed_logins": officer.failed_logins or 0,
    }
    officer.locked_until, officer.failed_logins = None, 0
    session.flush()
    _audit(session, actor, "officer.unlock", officer, origin, before=before)


def reset_password(session, actor, officer, password, origin=None):
    """Give another officer a new password (raise WeakPassword); one's own changes on the profile page."""
    if _is_self(actor, officer):
        raise SelfLockout("change your own password on your profile page, with your current password")
    require_may_manage(actor, officer.id, officer.regions)
    set_password(officer, password)
    end_sessions(officer)  # a copied cookie must not outlive the reset
    session.flush()
    _audit(session, actor, "officer.password_reset", officer, origin)


def change_own_password(session, actor, officer, current, new, origin=None):
    """Change one's own password after checking the current one (raise WrongPassword or WeakPassword).

    Every session of the officer ends; the caller carries its own session on into the new epoch
    (web/admin/profile.py), so only the other sessions (another browser, a copied cookie) are signed out.
    """
    if not password_matches(officer, current):
        _audit(session, actor, "officer.password_change_refused", officer, origin)
        raise WrongPassword("the current password is wrong")
    if current == new:
        raise WeakPassword("PASSWORD_UNCHANGED", "the new password is the current one")
    set_password(officer, new)
    end_sessions(officer)
    session.flush()
    _audit(session, actor, "officer.password_change", officer, origin)
