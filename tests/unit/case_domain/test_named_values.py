"""Named values are defined once: case statuses (cases/statuses.py), reason codes and their texts
(forms/reason_codes.py), payment and notice channels (integrations/payments.py, integrations/notify.py).
The shipped diagrams use only these; a diagram with another status or reason code, or a reason text that
drifted from the catalogue's, is refused by the deploy check (engine/contracts.py)."""

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel, force_locale

from cases import figures, listeners, targeting
from cases.contracts import REASON_CATALOGUE, case_contracts
from cases.objections import GROUND_TEXTS
from cases.statuses import (
    APPROVED_STATUSES,
    BEING_REVIEWED,
    CLOSED_STATUSES,
    DECIDED_STATUSES,
    DECISION_STATUSES,
    EXCLUDED_STATUSES,
    REJECTED_STATUSES,
    REMOVED_STATUSES,
    STATUS_LABELS,
    CaseStatus,
    status_label,
)
from engine.contracts import ProcessContract, ReasonCatalogue, element_problems, reason_problems
from forms import OBJECTION_GROUNDS
from forms.reason_codes import (
    APPEAL_CODES,
    REASONS,
    REJECTION_CODES,
    RULE_REJECTION_CODES,
    ReasonCode,
    reason_text,
    short_label,
)
from forms.reason_codes import (
    OBJECTION_GROUNDS as GROUND_CODES,
)
from forms.tasks import OVERTURNABLE_GROUNDS
from integrations.notify import APPLICANT_CHANNELS, NOTIFY_CHANNELS, NoticeChannel
from integrations.payments import BANK_CHANNELS, CHANNEL_LABELS, CHANNELS, PaymentChannel
from web.portal.texts import STATUS_TEXTS

ROOT = Path(__file__).resolve().parents[3]
PROCESSES = ROOT / "processes"
PO = ROOT / "web" / "translations" / "id" / "LC_MESSAGES" / "messages.po"
STATUS_IN_DIAGRAM = re.compile(r'name="caseStatus"\s+value="([A-Z_]+)"')


@pytest.fixture(scope="module")
def catalog():
    with PO.open("rb") as handle:
        return read_po(handle)


@pytest.fixture
def babel_app():
    app = Flask("unit")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "web" / "translations")
    Babel(app)
    with app.test_request_context():
        yield app


# --- case statuses ----------------------------------------------------------------------------


def test_the_stored_values_are_the_names():
    assert all(status.value == status.name for status in CaseStatus)
    assert CaseStatus("ENROLLED") is CaseStatus.ENROLLED and CaseStatus.ENROLLED == "ENROLLED"


def test_every_status_has_one_label_translated_and_a_portal_text(catalog):
    assert set(STATUS_LABELS) == set(CaseStatus)
    assert len(set(STATUS_LABELS.values())) == len(STATUS_LABELS), "two statuses share a label"
    for status, label in STATUS_LABELS.items():
        assert label in catalog and catalog[label].string, f"{status}: {label!r} has no Indonesian text"
    assert set(STATUS_TEXTS) == set(CaseStatus), "every status is explained to the applicant"


def test_status_label_translates(babel_app):
    with force_locale("id"):
        assert status_label("ENROLLED") == "Terdaftar sebagai penerima"
        assert status_label(CaseStatus.GRADUATED) == "Graduasi (keluar mandiri)"
        assert status_label(None) == "—"
    with force_locale("en"):
        assert status_label("REJECTED") == "Rejected (appeal window open)"


def test_the_groupings_come_from_the_enum_and_the_old_names_are_the_same_objects():
    for group in (APPROVED_STATUSES, REJECTED_STATUSES, REMOVED_STATUSES, EXCLUDED_STATUSES, BEING_REVIEWED):
        assert all(isinstance(s, CaseStatus) for s in group)
    assert figures.APPROVED_STATUSES is APPROVED_STATUSES and figures.REJECTED_STATUSES is REJECTED_STATUSES
    assert CLOSED_STATUSES == (CaseStatus.CLOSED_REJECTED,)
    assert listeners.DECISION_STATUSES is DECISION_STATUSES and targeting.EXCLUDED_STATUSES is EXCLUDED_STATUSES
    # the published categories do not overlap; every decided status is in one of them
    assert not set(APPROVED_STATUSES) & set(REJECTED_STATUSES) and not set(REJECTED_STATUSES) & set(REMOVED_STATUSES)
    assert set(DECIDED_STATUSES) <= {*APPROVED_STATUSES, *REJECTED_STATUSES, *REMOVED_STATUSES}


def test_the_shipped_diagrams_set_only_listed_statuses_and_the_contracts_allow_only_them():
    case_statuses = {s.value for s in CaseStatus}
    for name in ("application.bpmn", "recheck.bpmn", "graduation.bpmn", "payment_review.bpmn"):
        used = set(STATUS_IN_DIAGRAM.findall((PROCESSES / name).read_text(encoding="utf-8")))
        assert used and used <= case_statuses, f"{name}: {sorted(used - case_statuses)}"
    for contract in case_contracts():
        if isinstance(contract, ProcessContract):
            assert contract.statuses is not None and contract.statuses <= case_statuses, contract.process_id


def _process(xml):
    from lxml import etree

    tree = etree.fromstring(xml.encode())
    return tree.find("{http://www.omg.org/spec/BPMN/20100524/MODEL}process")


NEW_PROCESS = """<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d">
  <bpmn:process id="home_visit" isExecutable="true">
    <bpmn:scriptTask id="mark"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="caseStatus" value="{status}"/></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:script>reasons = [{{'code': '{code}', 'effect': 'review', 'id': {id!r}, 'en': {en!r}}}]</bpmn:script>
    </bpmn:scriptTask>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_process_without_a_contract_may_set_only_a_listed_status():
    default = next(c for c in case_contracts() if isinstance(c, ProcessContract) and c.process_id is None)
    fine = _process(NEW_PROCESS.format(status="IN_REVIEW", code="OTHER", id="x", en="x"))
    assert element_problems("visit.bpmn", fine, default, "home_visit") == []
    bogus = _process(NEW_PROCESS.format(status="ON_HOLD", code="OTHER", id="x", en="x"))
    (found,) = element_problems("visit.bpmn", bogus, default, "home_visit")
    assert found["code"] == "CONTRACT_STATUS" and found["element"] == "mark" and found["params"]["status"] == "ON_HOLD"


# --- reason codes -----------------------------------------------------------------------------


def test_every_code_has_both_texts_and_both_labels_once():
    assert set(REASONS) == set(ReasonCode)
    for code, reason in REASONS.items():
        assert all(t and t.strip() == t for t in (reason.id, reason.en, reason.label_id, reason.label_en)), code
        assert reason.id != reason.en, f"{code}: the Indonesian text is not translated"
    for attribute in ("id", "en"):
        texts = [getattr(r, attribute) for r in REASONS.values()]
        assert len(texts) == len(set(texts)), f"two codes share an {attribute} text"
    assert all(code.value == code.name for code in ReasonCode)


def test_the_subsets_are_catalogue_codes():
    for subset in (REJECTION_CODES, APPEAL_CODES, RULE_REJECTION_CODES, tuple(GROUND_CODES.values())):
        assert all(isinstance(code, ReasonCode) for code in subset)
    assert OVERTURNABLE_GROUNDS == ("ALL", *(c.value for c in RULE_REJECTION_CODES))
    assert OBJECTION_GROUNDS == tuple(GROUND_CODES) and set(GROUND_TEXTS) == set(GROUND_CODES)
    # every ground of the targeting report names catalogue codes; every rules rejection has a ground
    grouped = {code for *_labels, codes in targeting.GROUNDS for code in codes}
    assert grouped <= set(ReasonCode) and set(RULE_REJECTION_CODES) <= grouped


def test_texts_by_locale_and_unknown_codes_get_the_generic_text(babel_app):
    assert reason_text("DECEASED", "id") == "Pemohon tercatat meninggal dunia di Dukcapil."
    assert reason_text("DECEASED", "en") == "The applicant is recorded as deceased in the civil registry."
    assert reason_text("NO_SUCH_CODE", "en").startswith("An officer decided after checking")
    assert reason_text(None, "id").startswith("Petugas memutuskan")
    with force_locale("en"):
        assert short_label("CIVIL_SERVANT_HOUSEHOLD") == "Civil servant, soldier or police household"
    assert short_label("CIVIL_SERVANT_HOUSEHOLD", "id") == "Keluarga ASN/TNI/Polri"


def _dmn_outputs():
    text = (PROCESSES / "eligibility.dmn").read_text(encoding="utf-8")
    outputs = re.findall(r"<outputEntry id=\"[^\"]+\"><text>(.*?)</text>", text)
    return [ast.literal_eval(o.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")) for o in outputs]


def test_the_dmn_emits_only_catalogue_codes_with_the_catalogue_texts():
    outputs = _dmn_outputs()
    assert len(outputs) >= 10
    for output in outputs:
        reason = REASONS[ReasonCode(output["code"])]
        assert (output["id"], output["en"]) == (reason.id, reason.en), output["code"]
    rejecting = {o["code"] for o in outputs if o["effect"] == "reject"}
    assert rejecting == {c.value for c in RULE_REJECTION_CODES}


class _Parser:
    """Just what reason_problems reads of a parsed bundle: one process, no decision table."""

    def __init__(self, process):
        self.dmn_parsers = {}
        self._process = process

    def get_process_parser(self, _pid):
        return type("P", (), {"filename": "visit.bpmn", "node": self._process})()


def test_the_deploy_check_refuses_an_unknown_code_and_a_drifted_text():
    deceased = REASONS[ReasonCode.DECEASED]
    good = _process(NEW_PROCESS.format(status="IN_REVIEW", code="DECEASED", id=deceased.id, en=deceased.en))
    assert reason_problems(_Parser(good), ["home_visit"], case_contracts()) == []

    unknown = _process(NEW_PROCESS.format(status="IN_REVIEW", code="HAS_A_BOAT", id="Punya perahu", en="A boat"))
    (found,) = reason_problems(_Parser(unknown), ["home_visit"], case_contracts())
    assert (found["code"], found["element"], found["params"]["reason"]) == (
        "CONTRACT_REASON_CODE",
        "mark",
        "HAS_A_BOAT",
    )

    drifted = _process(NEW_PROCESS.format(status="IN_REVIEW", code="DECEASED", id=deceased.id, en="Died."))
    (found,) = reason_problems(_Parser(drifted), ["home_visit"], case_contracts())
    assert found["code"] == "CONTRACT_REASON_TEXT" and found["params"]["lang"] == "en"
    assert found["params"]["expected"] == deceased.en

    # without a catalogue among the contracts nothing is checked (the engine imports no domain module)
    assert reason_problems(_Parser(unknown), ["home_visit"], ()) == []
    assert isinstance(REASON_CATALOGUE, ReasonCatalogue) and "DECEASED" in REASON_CATALOGUE.codes


# --- channels ---------------------------------------------------------------------------------


def test_payment_and_notice_channels_are_listed_once():
    assert CHANNELS == tuple(c.value for c in PaymentChannel) and set(CHANNEL_LABELS) == set(PaymentChannel)
    assert PaymentChannel.POS not in BANK_CHANNELS and set(BANK_CHANNELS) | {"POS"} == set(CHANNELS)
    assert NOTIFY_CHANNELS == tuple(c.value for c in NoticeChannel)
    assert set(APPLICANT_CHANNELS) == {NoticeChannel.SMS, NoticeChannel.PORTAL}
