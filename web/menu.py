"""The officers' main menu: one list of items, shown to each officer by what their roles may open.

To add a page to the menu, add one `Item` line to `ITEMS` (in the group it belongs to). Who sees it is
read from the page's own `roles_required(...)`, so a menu item can never lead to a 403; `roles` on an
item narrows it further (a page open to many roles that only some need in the menu). A group with one
visible item shows as a plain link; a group with more is a dropdown.
"""

from dataclasses import dataclass, field

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Item:
    endpoint: str
    label: object
    group: str | None = None  # None: a top-level link
    roles: tuple = ()  # optional narrowing of the page's own roles
    args: dict = field(default_factory=dict)


GROUPS = {
    "work": _l("Work"),
    "payments": _l("Payments"),
    "reports": _l("Reports"),
    "admin": _l("Administration"),
}

ITEMS = [
    Item("inbox.index", _l("Inbox")),
    Item("inbox.index", _l("My tasks"), args={"view": "mine"}),
    Item("assist.index", _l("Assisted registration")),
    Item("desk.index", _l("Supervisor desk"), "work"),
    Item("graduation.index", _l("Graduation"), "work"),
    Item("commitments.index", _l("PKH commitments"), "work"),
    Item("cycles.index", _l("Payment cycles"), "payments"),
    Item("reports.programme", _l("Programme dashboard"), "reports"),
    Item("reports.targeting", _l("Targeting report"), "reports"),
    Item("auditpages.index", _l("Audit trail"), "reports"),
    Item("admin.runs", _l("Runs"), "reports"),
    Item("admin.officers", _l("Officers"), "admin"),
    Item("editor.index", _l("Processes and rules"), "admin"),
]


def page_roles(endpoint):
    """The roles a page admits (from its roles_required), or None for any signed-in officer."""
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return frozenset()  # not registered in this app: never shown
    return getattr(view, "required_roles", None)


def may_open(user, item):
    """True when `user` may open the item's page (and the item is meant for one of their roles)."""
    roles = page_roles(item.endpoint)
    if roles is not None and not user.has_any(*roles):
        return False
    return not item.roles or user.has_any(*item.roles)


def menu_for(user):
    """The menu of a signed-in officer: [{"label", "url"} | {"label", "group", "children": [...]}], in order."""
    entries, groups = [], {}
    for item in ITEMS:
        if not may_open(user, item):
            continue
        link = {"label": str(item.label), "url": url_for(item.endpoint, **item.args), "endpoint": item.endpoint}
        if item.group is None:
            entries.append(link)
        elif item.group in groups:
            groups[item.group]["children"].append(link)
        else:
            groups[item.group] = {"label": str(GROUPS[item.group]), "group": item.group, "children": [link]}
            entries.append(groups[item.group])
    return [e["children"][0] if "children" in e and len(e["children"]) == 1 else e for e in entries]


def register(app):
    """Make the menu available to the templates."""
    app.jinja_env.globals.update(menu_for=menu_for)
