"""Marshmallow schemas of the officer administration forms, with translated messages."""

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from cases.officers import DISTRICT_CODES, OFFICER_ROLES, USERNAME_PATTERN
from cases.roles import ALL_ROLES

_REQUIRED = {"required": _l("This field is required.")}


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE


def _name():
    return fields.String(
        required=True,
        error_messages=_REQUIRED,
        validate=validate.Length(min=1, max=200, error=_l("Enter a name of 1 to 200 characters.")),
    )


def _password():
    # Length and strength are checked by cases.accounts.check_password, which knows the username too.
    return fields.String(required=True, error_messages=_REQUIRED)


class _Assignment(_Form):
    """Roles and districts (all districts, or a chosen list)."""

    name = _name()
    # Where notifications are mailed (cases/notifications.py); empty: in the app only.
    email = fields.String(
        load_default=None,
        allow_none=True,
        validate=[
            validate.Length(max=254),
            validate.Email(error=_l("Enter one e-mail address, like name@example.go.id.")),
        ],
    )

    @pre_load
    def _empty_email(self, data, **kwargs):
        if isinstance(data, dict) and data.get("email") == "":
            data = {**data, "email": None}
        return data

    roles = fields.List(
        fields.String(validate=validate.OneOf(OFFICER_ROLES, error=_l("Unknown role."))),
        required=True,
        error_messages={"required": _l("Choose at least one role.")},
        validate=validate.Length(min=1, error=_l("Choose at least one role.")),
    )
    region_scope = fields.String(
        load_default="all",
        validate=validate.OneOf(["all", "some"], error=_l("Choose all districts or some districts.")),
    )
    regions = fields.List(
        fields.String(
            validate=validate.OneOf(DISTRICT_CODES, error=_l("Banyuwangi has no such district (codes 01 to 25)."))
        ),
        load_default=list,
    )

    @validates_schema
    def _some_districts(self, data, **kwargs):
        if data.get("region_scope") == "some" and not data.get("regions"):
            raise ValidationError(str(_l("Choose at least one district, or all districts.")), "regions")


class CreateOfficerForm(_Assignment):
    username = fields.String(
        required=True,
        error_messages=_REQUIRED,
        validate=validate.Regexp(
            USERNAME_PATTERN,
            error=_l(
                "3 to 40 characters: lower-case letters, digits, dot, dash or underscore, starting with a letter."
            ),
        ),
    )
    password = _password()
    password_confirm = fields.String(required=True, error_messages=_REQUIRED)

    @validates_schema
    def _passwords_match(self, data, **kwargs):
        if data.get("password") != data.get("password_confirm"):
            raise ValidationError(str(_l("The two passwords differ.")), "password_confirm")


class EditOfficerForm(_Assignment):
    pass


class ResetPasswordForm(_Form):
    password = _password()
    password_confirm = fields.String(required=True, error_messages=_REQUIRED)

    @validates_schema
    def _passwords_match(self, data, **kwargs):
        if data.get("password") != data.get("password_confirm"):
            raise ValidationError(str(_l("The two passwords differ.")), "password_confirm")


class ChangePasswordForm(ResetPasswordForm):
    current_password = fields.String(required=True, error_messages=_REQUIRED)


class OfficerQuery(_Form):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    role = fields.String(load_default=None, validate=validate.OneOf(OFFICER_ROLES))
    district = fields.String(load_default=None, validate=validate.OneOf(DISTRICT_CODES))
    active = fields.String(load_default="all", validate=validate.OneOf(["all", "active", "inactive"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


def form_input(form, multi=("roles", "regions")):
    """Turn a request's form into the dict the schemas load (lists for multi-valued fields, no CSRF token)."""
    data = {
        k: v.strip() if k not in ("password", "password_confirm", "current_password") else v
        for k, v in form.items()
        if k not in multi and k != "csrf_token"
    }
    for key in multi:
        if key in form:
            data[key] = form.getlist(key)
    return data


def flat_errors(messages):
    """Flatten marshmallow's messages ({field: [..] or {index: [..]}}) to {field: [text, ...]}."""
    flat = {}
    for key, value in messages.items():
        texts = []
        stack = [value]
        while stack:
            item = stack.pop(0)
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
            else:
                texts.append(str(item))
        flat[key] = list(dict.fromkeys(texts))
    return flat


PASSWORD_ERRORS = {
    "PASSWORD_TOO_SHORT": _l("A password needs at least 10 characters."),
    "PASSWORD_TOO_LONG": _l("A password has at most 200 characters."),
    "PASSWORD_TOO_SIMPLE": _l("A password needs at least 5 different characters."),
    "PASSWORD_TOO_COMMON": _l("This password is too common; choose another."),
    "PASSWORD_HAS_USERNAME": _l("A password may not contain the username."),
    "PASSWORD_UNCHANGED": _l("The new password must differ from the current one."),
}


def password_error(exc):
    """Return the translated text of a WeakPassword refusal."""
    return str(PASSWORD_ERRORS.get(getattr(exc, "code", ""), _l("This password is not allowed.")))


# One label per role of cases.roles.Role (the msgid is the role's code; a test checks none is missing).
ROLE_LABELS = {role: _l(role) for role in ALL_ROLES}
