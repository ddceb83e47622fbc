"""The version diff reports what changed, not how a modeler happened to order attributes and properties."""

import re
from pathlib import Path

from engine.xmldiff import diff_files

APPLICATION = (Path(__file__).resolve().parents[3] / "processes" / "application.bpmn").read_text()
TAG = re.compile(r'<([\w:]+)((?:\s+[\w:.-]+="[^"]*")*)\s*(/?)>')


def _reversed_attributes(xml):
    def flip(match):
        attributes = re.findall(r'[\w:.-]+="[^"]*"', match.group(2))
        inside = " ".join(reversed(attributes))
        return f"<{match.group(1)}{' ' + inside if inside else ''}{match.group(3)}>"

    return TAG.sub(flip, xml)


def _counts(diff):
    return {k: len(diff[k]) for k in ("added", "removed", "changed", "moved")}


def test_attribute_order_is_no_change():
    other = _reversed_attributes(APPLICATION)
    assert other != APPLICATION
    assert _counts(diff_files("application.bpmn", APPLICATION, other)) == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "moved": 0,
    }


def test_property_order_is_no_change_but_a_new_value_is():
    block = re.search(
        r'(<spiffworkflow:property name="formName" value="approval" />)\s*'
        r'(<spiffworkflow:property name="[^"]+" value="[^"]*" />)',
        APPLICATION,
    )
    assert block, "the approval task's properties"
    swapped = APPLICATION.replace(block.group(0), f"{block.group(2)}\n{block.group(1)}")
    assert _counts(diff_files("application.bpmn", APPLICATION, swapped))["changed"] == 0
    changed = APPLICATION.replace('value="review,review_escalated,appeal_review"', 'value="review"')
    diff = diff_files("application.bpmn", APPLICATION, changed)
    assert [c["id"] for c in diff["changed"]] == ["approve"]
