"""The OpenAPI bodies of task completion, generated from the forms' marshmallow schemas (forms/).

A form may ask for more depending on a choice: a review that rejects needs a reason code. JSON Schema
of OpenAPI 3.0 has no "if/then", so such a form is published as one schema per form *variant*: a
`oneOf` over the values of its decision field (discriminator), each variant saying exactly which
fields it requires and which it forbids. Nothing is written by hand: the fields come from apispec's
marshmallow converter, and each variant's extra rules are found by loading sample bodies through the
form itself (the same `load` the API runs), so a change in forms/ changes the published schema too.
Startup fails (DescriptionError) if a form's rules cannot be described this way.
"""

import copy

from marshmallow import validate

MAX_ROUNDS = 10


class DescriptionError(RuntimeError):
    """A form has a rule this generator cannot express as a JSON schema."""


def _sample(prop):
    """A value valid for one property's JSON schema."""
    if "enum" in prop:
        return next(v for v in prop["enum"] if v is not None)
    kind = prop.get("type")
    if kind == "string":
        return "x" * max(prop.get("minLength", 1), 1)
    if kind == "integer":
        return prop.get("minimum", 0)
    if kind == "number":
        return prop.get("minimum", 0)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_sample(prop.get("items", {"type": "string"})) for _ in range(max(prop.get("minItems", 0), 1))]
    if kind == "object":
        return {}
    raise DescriptionError(f"no sample for a property of type {kind!r}")


def _decision_fields(schema_cls):
    """Required fields with a fixed set of choices: the candidates on which other fields depend."""
    found = []
    for name, field in schema_cls().load_fields.items():
        validators = field.validators if hasattr(field, "validators") else []
        choices = next((v.choices for v in validators if isinstance(v, validate.OneOf)), None)
        if field.required and choices:
            found.append((field.data_key or name, list(choices)))
    return found


def _errors(schema_cls, body):
    return schema_cls().validate(body)


def _variant(schema_cls, base, field, choice):
    """The JSON schema of the form when `field` is `choice`: which fields it then needs and forbids."""
    props = base["properties"]
    body = {name: _sample(props[name]) for name in base.get("required", [])}
    body[field] = choice
    required = set(body)
    for _round in range(MAX_ROUNDS):  # add what the form asks for until it accepts the body
        errors = _errors(schema_cls, body)
        if not errors:
            break
        missing = set(errors) - required
        if "_schema" in errors or not missing or not missing <= set(props):
            raise DescriptionError(f"{schema_cls.__name__} with {field}={choice!r}: {errors}")
        for name in missing:
            body[name] = _sample(props[name])
        required |= missing
    else:
        raise DescriptionError(f"{schema_cls.__name__} with {field}={choice!r} never loads")
    # An optional field the form refuses next to this choice is left out of the variant (forbidden).
    forbidden = {
        name for name in props if name not in required and _errors(schema_cls, {**body, name: _sample(props[name])})
    }
    variant = copy.deepcopy(base)
    variant["properties"][field] = {**props[field], "enum": [choice]}
    for name in forbidden:
        del variant["properties"][name]
    base_required = set(base.get("required", []))
    for name in required - base_required:  # asked for by this choice: a value, not null
        prop = variant["properties"][name]
        prop.pop("nullable", None)
        prop.pop("default", None)
        if "enum" in prop:
            prop["enum"] = [v for v in prop["enum"] if v is not None]
    variant["required"] = sorted(required)
    return variant, required != base_required or bool(forbidden)


def form_components(converter, schema_cls):
    """Return {component name: JSON schema} describing `schema_cls` exactly; its own name comes first.

    A form without conditional rules is one schema. A form whose rules depend on a decision field is a
    `oneOf` of one schema per choice (named e.g. CaseReviewForm_reject), with a discriminator.
    """
    name = schema_cls.__name__
    base = converter.schema2jsonschema(schema_cls)
    for field, choices in _decision_fields(schema_cls):
        variants = {choice: _variant(schema_cls, base, field, choice) for choice in choices}
        if not any(conditional for _schema, conditional in variants.values()):
            continue
        parts = {f"{name}_{choice}": schema for choice, (schema, _c) in variants.items()}
        top = {
            "oneOf": [{"$ref": f"#/components/schemas/{part}"} for part in parts],
            "discriminator": {
                "propertyName": field,
                "mapping": {choice: f"#/components/schemas/{name}_{choice}" for choice in choices},
            },
            "description": (schema_cls.__doc__ or "").strip(),
        }
        return {name: top, **parts}
    return {name: base}


def register_form_schemas(api, forms):
    """Publish every form's components in the OpenAPI document; return {form name: component name}."""
    converter = api.ma_plugin.converter
    names = {}
    for form_name, schema_cls in forms.items():
        for component, schema in form_components(converter, schema_cls).items():
            api.spec.components.schema(component, component=schema)
        names[form_name] = schema_cls.__name__
    return names


def form_json_schema(api, schema_cls):
    """One form's JSON schema with its variants inlined (for GET /tasks/{id}: no references to resolve)."""
    components = form_components(api.ma_plugin.converter, schema_cls)
    top = components[schema_cls.__name__]
    if "oneOf" not in top:
        return top
    return {
        "oneOf": [components[ref["$ref"].rsplit("/", 1)[1]] for ref in top["oneOf"]],
        "discriminator": {"propertyName": top["discriminator"]["propertyName"]},
    }
