"""Absolute links to Tepat's pages, for messages read outside the app (officers' e-mails).

The base is BANSOS_PUBLIC_URL (the address officers open Tepat at, e.g. https://tepat.dinsos.example;
a path prefix is kept). Without it a link made during a request uses that request's host, and a link
made elsewhere (the scheduler mails without a request) is the page's path only.
"""

from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for


def check_public_url(value):
    """Refuse a BANSOS_PUBLIC_URL that is not an http(s) address (empty: not configured)."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"BANSOS_PUBLIC_URL must be an http(s) address such as https://tepat.example, not {value!r}")


def _path(endpoint, values):
    """The page's path from the site's root (built without a request)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def public_url(endpoint, **values):
    """An absolute link to the page (see the module's note for what is used as its base)."""
    values = {k: v for k, v in values.items() if v is not None}
    base = (current_app.config.get("BANSOS_PUBLIC_URL") or "").strip().rstrip("/")
    if base:
        return base + _path(endpoint, values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return _path(endpoint, values)


def task_target(business_key):
    """(endpoint, values) of the page where a task of this business key is worked."""
    if business_key.startswith("CYCLE-"):
        return "cycles.show", {"code": business_key[len("CYCLE-") :]}
    return "casepages.show", {"case_number": business_key}


def notification_link(n):
    """The absolute link of an officer's notification: its task's page, or the queue's inbox for new tasks."""
    if n.business_key:
        endpoint, values = task_target(n.business_key)
        return public_url(endpoint, **values)
    if n.kind == "new_tasks":
        detail = n.detail or {}
        return public_url("inbox.index", queue=detail.get("queue"), district=detail.get("region"))
    return public_url("notifications.index")
