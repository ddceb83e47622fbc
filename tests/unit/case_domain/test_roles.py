"""The role list is defined once (cases/roles.py); every role has its Indonesian label."""

from pathlib import Path

from cases.officers import OFFICER_ROLES
from cases.roles import ALL_ROLES, Role

PO = Path(__file__).resolve().parents[3] / "web" / "translations" / "id" / "LC_MESSAGES" / "messages.po"


def test_the_officer_roles_are_the_role_enum():
    assert OFFICER_ROLES == ALL_ROLES == tuple(r.value for r in Role)
    assert Role("supervisor") is Role.SUPERVISOR and Role.SUPERVISOR == "supervisor"


def test_every_role_has_an_indonesian_label():
    text = PO.read_text(encoding="utf-8")
    for role in ALL_ROLES:
        start = text.index(f'\nmsgid "{role}"\n')
        label = text[start:].split("\n")[2]
        assert label.startswith('msgstr "') and label != 'msgstr ""', role
