"""Who may use the officers' daily-work pages: the audit browser, notifications, batch actions, the e-mail
field of the profile. Every role and an anonymous visitor ask for each."""

import pytest

from tests.integration.test_web import ROLES, csrf_of, login, web  # noqa: F401  (fixture)

COVERED_ENDPOINTS = {
    "auditpages.entries",
    "auditpages.export_entries",
    "notifications.index",
    "notifications.read",
    "profile.email",
    "taskbatch.run",
}
AUDIT_READERS = {"auditor", "administrator"}
BATCH = {"supervisor", "administrator"}


def _post(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, "/profile")})


@pytest.mark.parametrize("role", [None, *ROLES])
def test_each_role_reaches_only_its_pages(web, svc, role):
    if role is None:
        for path in ("/audit/entries", "/audit/entries.csv", "/notifications"):
            answer = web.get(path)
            assert answer.status_code == 302 and "/login" in answer.headers["Location"], path
        for path in ("/notifications/read", "/profile/email", "/tasks/batch"):
            answer = web.post(path, data={})
            assert answer.status_code in (302, 400), path  # to the sign-in page, or no CSRF token
            assert answer.status_code == 400 or "/login" in answer.headers["Location"], path
        return
    assert login(web, f"w_{role}").status_code == 302
    entries = web.get("/audit/entries").status_code
    export = web.get("/audit/entries.csv")
    export.close()
    assert entries == export.status_code == (200 if role in AUDIT_READERS else 403), role
    assert web.get("/notifications").status_code == 200  # every officer has their notifications
    read = _post(web, "/notifications/read", {})
    assert read.status_code == 302 and "/notifications" in read.headers["Location"]
    email = _post(web, "/profile/email", {"email": f"{role}@dinsos.example.go.id"})
    assert email.status_code in (200, 302), (role, email.status_code)
    batch = _post(web, "/tasks/batch", {"action": "approve", "back": "approvals"})
    if role in BATCH:
        # Nothing chosen: the page says so (400), it is not refused (403).
        assert batch.status_code == 400 and "tugas" in batch.get_data(as_text=True), (role, batch.status_code)
    else:
        assert batch.status_code == 403, (role, batch.status_code)
