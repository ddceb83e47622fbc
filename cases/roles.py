"""The officers' roles: the one list, used by accounts, pages, the API, the menus and the labels."""

from enum import StrEnum


class Role(StrEnum):
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    APPEALS_OFFICER = "appeals_officer"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"
    FACILITATOR = "facilitator"
    FINANCE_OFFICER = "finance_officer"


ALL_ROLES = tuple(role.value for role in Role)
