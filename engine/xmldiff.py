"""What changed between two versions of a BPMN or DMN file, element by element (for the visual diff)."""

from lxml import etree

from .spec import parse_untrusted_xml

DI_NAMESPACES = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/",
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DMN/20180521/DI/",
    "http://www.omg.org/spec/DMN/20180521/DC/",
)


def _local(tag):
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _is_di(element):
    return isinstance(element.tag, str) and etree.QName(element).namespace in DI_NAMESPACES


def _own_content(element):
    """The element's tag, attributes and everything inside it that has no id of its own.

    Neither attribute order nor the order of children without ids (extension properties, incoming and
    outgoing references) counts as a change: modelers write them in their own order.
    """
    parts = [_local(element.tag), repr(sorted((k, v) for k, v in element.attrib.items()))]
    if element.text and element.text.strip():
        parts.append(element.text.strip())
    children = [
        _own_content(child)
        for child in element
        if isinstance(child.tag, str) and not _is_di(child) and child.get("id") is None
    ]
    return "|".join(parts + sorted(children))


def _semantic(root):
    found = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or _is_di(element):
            continue
        ident = element.get("id")
        if ident:
            found[ident] = element
    return found


def _layout(root):
    """bpmnElement/dmnElementRef -> bounds and waypoints, to tell a moved element from a changed one."""
    found = {}
    for element in root.iter():
        if not _is_di(element):
            continue
        ref = element.get("bpmnElement") or element.get("dmnElementRef")
        if ref and _local(element.tag) not in ("BPMNPlane", "BPMNDiagram", "DMNDiagram"):
            # Only the element's own bounds or waypoints, not what a container holds.
            found[ref] = b"".join(
                etree.tostring(c, method="c14n") for c in element if _local(c.tag) in ("Bounds", "waypoint")
            )
    return found


def _describe(element):
    return {"id": element.get("id"), "type": _local(element.tag), "name": element.get("name") or element.get("label")}


def diff_files(name, old_xml, new_xml):
    """Return {"added", "removed", "changed", "moved"} between two versions of one file.

    Elements are matched by id. "changed" lists what differs (attributes, properties, scripts,
    conditions, rule entries); "moved" lists elements whose only change is their place on the diagram.
    """
    old_root = parse_untrusted_xml(name, old_xml)
    new_root = parse_untrusted_xml(name, new_xml)
    old, new = _semantic(old_root), _semantic(new_root)
    old_layout, new_layout = _layout(old_root), _layout(new_root)
    added = [_describe(new[i]) for i in new if i not in old]
    removed = [_describe(old[i]) for i in old if i not in new]
    changed, moved = [], []
    for ident in (i for i in new if i in old):
        before, after = old[ident], new[ident]
        if _own_content(before) != _own_content(after):
            entry = _describe(after)
            entry["what"] = _what_changed(before, after)
            changed.append(entry)
        elif old_layout.get(ident) != new_layout.get(ident):
            moved.append(_describe(after))
    return {"added": added, "removed": removed, "changed": changed, "moved": moved}


def _what_changed(before, after):
    what = []
    for key in sorted(set(before.attrib) | set(after.attrib)):
        if before.get(key) != after.get(key):
            what.append({"field": etree.QName(key).localname, "old": before.get(key), "new": after.get(key)})
    old_inner = [_own_content(c) for c in before if isinstance(c.tag, str) and c.get("id") is None]
    new_inner = [_own_content(c) for c in after if isinstance(c.tag, str) and c.get("id") is None]
    if old_inner != new_inner or (before.text or "").strip() != (after.text or "").strip():
        what.append({"field": "content", "old": _text(before), "new": _text(after)})
    return what


def _text(element):
    """A short readable form of what is inside an element (properties, script, condition, entry text)."""
    bits = []
    for child in element.iter():
        if child is element or not isinstance(child.tag, str) or child.get("id") is not None and child is not element:
            continue
        if _local(child.tag) == "property":
            bits.append(f"{child.get('name')}={child.get('value')}")
        elif child.text and child.text.strip():
            bits.append(child.text.strip())
    if element.text and element.text.strip():
        bits.insert(0, element.text.strip())
    return "; ".join(bits)[:500]
