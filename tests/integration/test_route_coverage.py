"""Every route of the app is in some authorization matrix, or declared public.

A test module with an authorization matrix declares `COVERED_ENDPOINTS` (endpoints its matrix requests
as every role, anonymous included) and may declare `PUBLIC_ENDPOINTS` (open to anyone by design).
"""

import importlib
import pkgutil

import tests.e2e
import tests.integration


def _declared(name):
    found = set()
    for package in (tests.integration, tests.e2e):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("test_") and info.name != "test_route_coverage":
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                found |= set(getattr(module, name, ()))
    return found


def test_every_route_is_in_an_authorization_matrix_or_public(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    covered, public = _declared("COVERED_ENDPOINTS"), _declared("PUBLIC_ENDPOINTS")
    assert sorted(endpoints - covered - public) == []
    assert sorted((covered | public) - endpoints) == [], "declared endpoints that no longer exist"


# Path arguments naming a district-bound object: a case, task, incident, objection or officer account.
DISTRICT_BOUND_ARGUMENTS = {"case_number", "task_id", "incident_id", "number", "officer_id"}


def test_every_route_on_a_district_bound_object_is_in_the_district_scope_matrix(app):
    """Such routes are exercised by an officer of another district (test_district_scope.py) and must refuse.

    The applicant portal's routes are the applicant's own case (checked by owner, not district).
    """
    bound = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if set(rule.arguments) & DISTRICT_BOUND_ARGUMENTS and not rule.endpoint.startswith("portal.")
    }
    scoped = _declared("DISTRICT_SCOPED_ENDPOINTS")
    assert sorted(bound - scoped) == []
    assert sorted(scoped - bound) == [], "declared district-scoped endpoints that no longer exist"
