"""XMP packets: the IPTC DigitalSourceType and the CreatorTool, parsed with DTDs and entities
refused (no expansion attacks)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
import xml.parsers.expat

from .. import MODERATE, NEUTRAL, NONE, TOWARDS_AI, TOWARDS_HUMAN, WEAK, Finding
from .containers import Container
from .findings import (
    MAX_DETAIL_STRING,
    could_not_read,
    make_finding,
    one_line,
    too_large_line,
    too_large_params,
    unreadable_finding,
)
from .vocabulary import AI_COMPOSITE, AI_GENERATED, HUMAN_SOURCE_TYPES, generator_named, source_type_term

# Codes of the sentences this module writes (findings.py says how they are used).
CODE_XMP_UNSAFE = "provenance.xmp.unsafe_xml"
CODE_XMP_AI_GENERATED = "provenance.xmp.ai_generated"  # term
CODE_XMP_AI_COMPOSITE = "provenance.xmp.ai_composite"  # term
CODE_XMP_HUMAN = "provenance.xmp.human_source"  # term
CODE_XMP_SOURCE_TYPE = "provenance.xmp.source_type"  # term
CODE_XMP_CREATOR_TOOL_GENERATOR = "provenance.xmp.creator_tool_generator"  # tool, generator
CODE_XMP_CREATOR_TOOL = "provenance.xmp.creator_tool"  # tool

_MAX_XMP_PACKETS = 4  # a real file has one; more are parsed no further


class _UnsafeXml(Exception):
    pass


def _parse_xml_safely(packet: bytes) -> ElementTree.Element:
    """Parse XML that declares no DTD or entity (refused outright: no expansion attacks)."""
    packet = packet.strip(b"\x00 \t\r\n")
    if re.search(rb"<!(doctype|entity)", packet, re.I):
        raise _UnsafeXml()

    def refuse(*_args):
        raise _UnsafeXml()

    # The byte check misses UTF-16; expat sees every encoding, so let it refuse too.
    scanner = xml.parsers.expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse
    scanner.EntityDeclHandler = refuse
    scanner.Parse(packet, True)
    return ElementTree.fromstring(packet)


def xmp_findings(container: Container, limit: int) -> list[Finding]:
    """Findings of the digital source types and creator tools the XMP packets declare."""
    findings: list[Finding] = []
    source_types: list[str] = []
    creator_tools: list[str] = []
    for packet in container.xmp_packets[:_MAX_XMP_PACKETS]:
        if len(packet) > limit:
            line = too_large_line("The XMP metadata", len(packet), limit)
            findings.append(
                unreadable_finding("xmp_digital_source_type", line, *too_large_params("The XMP metadata", len(packet), limit))
            )
            continue
        try:
            root = _parse_xml_safely(packet)
        except _UnsafeXml:
            findings.append(
                unreadable_finding(
                    "xmp_digital_source_type",
                    "The XMP metadata could not be read: it declares a DOCTYPE or entity, "
                    "which is refused (possible entity-expansion attack).",
                    CODE_XMP_UNSAFE,
                )
            )
            continue
        except (ElementTree.ParseError, xml.parsers.expat.ExpatError, ValueError) as exc:
            reason = f"malformed XML ({one_line(str(exc), 200)})"
            findings.append(could_not_read("xmp_digital_source_type", "The XMP metadata", reason))
            continue
        for name, value in _xmp_properties(root, ("digitalsourcetype", "creatortool")):
            target = source_types if name == "digitalsourcetype" else creator_tools
            if value not in target:
                target.append(value)

    findings += [_xmp_source_type_finding(value) for value in source_types[:5]]
    findings += [_creator_tool_finding(value) for value in creator_tools[:5]]
    return findings


def _xmp_properties(root: ElementTree.Element, wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    """(lower-case local name, value) for wanted properties written as elements or attributes."""
    rdf_resource = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
    found = []
    for element in root.iter():
        local = str(element.tag).rsplit("}", 1)[-1].lower()
        if local in wanted:
            value = (element.text or "").strip() or element.get(rdf_resource, "").strip()
            if not value:  # rdf:Alt / rdf:Seq wrapper
                value = next(((li.text or "").strip() for li in element.iter() if (li.text or "").strip()), "")
            if value:
                found.append((local, one_line(value, MAX_DETAIL_STRING)))
        for key, value in element.attrib.items():
            attribute = key.rsplit("}", 1)[-1].lower()
            if attribute in wanted and value.strip():
                found.append((attribute, one_line(value, MAX_DETAIL_STRING)))
    return found


def _xmp_source_type_finding(value: str) -> Finding:
    term = source_type_term(value)
    details = {"digital_source_type": value, "term": term}
    unsigned = "unsigned metadata that anyone can add, copy or remove"
    if term == AI_GENERATED:
        return make_finding(
            "xmp_digital_source_type", TOWARDS_AI, MODERATE,
            f"XMP metadata declares the image AI-generated (IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_AI_GENERATED, {"term": term}, **details,
        )
    if term == AI_COMPOSITE:
        return make_finding(
            "xmp_digital_source_type", TOWARDS_AI, WEAK,
            "XMP metadata declares the image a composite with AI-generated parts "
            f"(IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_AI_COMPOSITE, {"term": term}, **details,
        )
    if term in HUMAN_SOURCE_TYPES:
        return make_finding(
            "xmp_digital_source_type", TOWARDS_HUMAN, WEAK,
            f"XMP metadata declares a human source (IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_HUMAN, {"term": term}, **details,
        )
    line = f"XMP metadata declares IPTC DigitalSourceType {term}."
    return make_finding("xmp_digital_source_type", NEUTRAL, NONE, line, CODE_XMP_SOURCE_TYPE, {"term": term}, **details)


def _creator_tool_finding(tool: str) -> Finding:
    generator = generator_named(tool)
    if generator:
        return make_finding(
            "xmp_creator_tool", TOWARDS_AI, WEAK,
            f"XMP CreatorTool names an AI image generator: '{tool}' ({generator}); unsigned, easily added or copied.",
            CODE_XMP_CREATOR_TOOL_GENERATOR, {"tool": tool, "generator": generator},
            creator_tool=tool, generator=generator,
        )
    return make_finding(
        "xmp_creator_tool", NEUTRAL, NONE, f"XMP CreatorTool: {tool}.", CODE_XMP_CREATOR_TOOL, {"tool": tool},
        creator_tool=tool,
    )

