"""Every string the web shows has an Indonesian translation (Indonesian first, English second)."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def test_every_web_string_is_translated_to_indonesian():
    with (ROOT / "web" / "translations" / "id" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "web"), METHODS, keywords={"_": None, "_l": None, "gettext": None, "lazy_gettext": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    assert found, "no strings extracted: the extraction itself is broken"
    missing = sorted(m for m in found if m not in catalog or not catalog[m].string)
    assert missing == [], f"untranslated: {missing}"


def test_every_case_label_marked_in_the_domain_is_translated_to_indonesian():
    """Labels the domain marks with N_ (case statuses, reasons, ...) are shown by the web through gettext."""
    with (ROOT / "web" / "translations" / "id" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "cases"), [("**.py", "python")], keywords={"N_": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    assert "Appeal under review" in found, "the status labels were not extracted: the extraction itself is broken"
    missing = sorted(m for m in found if m not in catalog or not catalog[m].string)
    assert missing == [], f"untranslated: {missing}"


def test_status_codes_are_not_translation_keys():
    """A case status is shown by its label (cases/statuses.py), never by its code: no code is a msgid."""
    from cases.statuses import CaseStatus

    for lang in ("id", "en"):
        with (ROOT / "web" / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        assert [c.value for c in CaseStatus if c.value in catalog] == []
