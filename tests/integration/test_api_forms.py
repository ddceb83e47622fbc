"""The OpenAPI description of task completion is exact: every body valid by the published schema is
accepted by the form, and every body the form refuses is invalid by the schema (web/api/formschemas.py)."""

import copy
import itertools

import pytest

from engine.errors import FormInvalid
from engine.humantasks import validate_form
from forms import FORMS
from tests.helpers import open_task, submit
from tests.integration.api_support import api  # noqa: F401  (fixture)

jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema (requirements-dev.txt) checks bodies against the spec"
)


def _spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def as_json_schema(spec, node):
    """An OpenAPI 3.0 schema as plain JSON Schema: references inlined, `nullable` as a null type."""
    if isinstance(node, list):
        return [as_json_schema(spec, n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return as_json_schema(spec, target)
    out = {k: as_json_schema(spec, v) for k, v in node.items() if k not in ("discriminator", "nullable")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _variants(schema):
    return schema["oneOf"] if "oneOf" in schema else [schema]


def _values(prop):
    """A few values valid for one property's schema: each choice, the shortest and longest text, null."""
    values = [v for v in prop.get("enum", [])]
    kind = prop["type"][0] if isinstance(prop["type"], list) else prop["type"]
    if not values and kind == "string" and prop.get("format") in ("date", "date-time"):
        values = ["2026-12-06" if prop["format"] == "date" else "2026-12-06T08:00:00+07:00"]
    elif not values and kind == "string":
        values = ["a" * max(prop.get("minLength", 0), 1), "b" * prop.get("maxLength", 50)]
    if "null" in (prop["type"] if isinstance(prop["type"], list) else []) and None not in values:
        values.append(None)
    return values


def valid_bodies(variant):
    """Bodies valid by one variant: the required fields alone, then with each optional one, over their values."""
    props, required = variant["properties"], variant.get("required", [])
    bodies = []
    for combo in itertools.product(*(_values(props[name]) for name in required)):
        base = dict(zip(required, combo, strict=True))
        bodies.append(base)
        for name in sorted(set(props) - set(required)):
            bodies.extend({**base, name: value} for value in _values(props[name]))
    return bodies


def refused_variants_of(body, variant):
    """Bodies a form should refuse: a required field missing or null, an unknown field, a bad choice, too long."""
    props = variant["properties"]
    for name in variant.get("required", []):
        yield {k: v for k, v in body.items() if k != name}
        yield {**body, name: None}
    yield {**body, "shoe_size": 42}
    for name, prop in props.items():
        if "enum" in prop:
            yield {**body, name: "NOT_A_CHOICE"}
        if "maxLength" in prop:
            yield {**body, name: "z" * (prop["maxLength"] + 1)}


def test_every_body_valid_by_the_published_schema_is_accepted_and_every_refused_body_is_invalid(api):
    spec = _spec(api.client)
    request_body = spec["paths"]["/api/v1/tasks/{task_id}/complete"]["post"]["requestBody"]["content"]
    whole = as_json_schema(spec, request_body["application/json"]["schema"])
    jsonschema.Draft7Validator.check_schema(whole)
    checked = refused = 0
    for form_name, schema_cls in FORMS.items():
        form = as_json_schema(spec, {"$ref": f"#/components/schemas/{schema_cls.__name__}"})
        form_validator = jsonschema.Draft7Validator(form)
        for variant in _variants(form):
            for body in valid_bodies(variant):
                assert jsonschema.Draft7Validator(whole).is_valid(body), (form_name, body)
                validate_form(FORMS, form_name, copy.deepcopy(body))  # raises FormInvalid if refused
                checked += 1
                for wrong in refused_variants_of(body, variant):
                    try:
                        validate_form(FORMS, form_name, copy.deepcopy(wrong))
                    except FormInvalid:
                        assert not form_validator.is_valid(wrong), (form_name, wrong)
                        refused += 1
                    else:
                        assert form_validator.is_valid(wrong), (form_name, wrong)
    assert checked > 50 and refused > 100


def test_a_rejection_needs_its_reason_in_the_schema_as_in_the_api(api, svc, personas):
    """The conditional field: the schema and the API agree on a rejection with and without a reason."""
    spec = _spec(api.client)
    review_form = jsonschema.Draft7Validator(as_json_schema(spec, {"$ref": "#/components/schemas/CaseReviewForm"}))
    number = submit(svc, personas["not_in_dtsen"]).case_number
    review = open_task(number, "review")
    shown = api.get(f"/api/v1/tasks/{review.id}", "a_caseworker").get_json()["form"]["schema"]
    assert len(shown["oneOf"]) == 2 and "$ref" not in str(shown)  # the task's form, references inlined
    api.post(f"/api/v1/tasks/{review.id}/claim", "a_caseworker")
    bare = {"review_decision": "reject"}
    assert not review_form.is_valid(bare)
    refused = api.post(f"/api/v1/tasks/{review.id}/complete", "a_caseworker", json=bare)
    assert refused.status_code == 422 and "review_reason_codes" in refused.get_json()["errors"]["json"]
    full = {"review_decision": "reject", "review_reason_codes": ["DECILE_ABOVE_CUTOFF"], "review_notes": ""}
    assert review_form.is_valid(full)
    assert api.post(f"/api/v1/tasks/{review.id}/complete", "a_caseworker", json=full).status_code == 200
