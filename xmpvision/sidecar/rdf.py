"""Faithful, hardened access to one XMP packet as RDF/XML.

We edit the parsed tree in place instead of round-tripping through a metadata library, so every
node we do not touch (foreign namespaces, structs, comments, the xpacket wrapper, prefixes) is
serialised back as it was. A property may live in any rdf:Description, in attribute form
(`dc:format="..."`) or element form; both are read, and element form is what we write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

X_NS = "adobe:ns:meta/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# Prefixes we use when a namespace is not yet declared; URIs are what matters to readers.
PREFIXES: dict[str, str] = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "xmpvision": "https://xmpvision.org/ns/1.0/",
}

RDF_RDF = f"{{{RDF_NS}}}RDF"
RDF_DESCRIPTION = f"{{{RDF_NS}}}Description"
RDF_LI = f"{{{RDF_NS}}}li"
RDF_ABOUT = f"{{{RDF_NS}}}about"
RDF_PARSE_TYPE = f"{{{RDF_NS}}}parseType"
RDF_RESOURCE = f"{{{RDF_NS}}}resource"
RDF_VALUE = f"{{{RDF_NS}}}value"
XML_LANG = f"{{{XML_NS}}}lang"
CONTAINERS = {f"{{{RDF_NS}}}{kind}" for kind in ("Bag", "Seq", "Alt")}

# Sidecars with darktable histories reach a few MB; anything far beyond is not a sidecar.
MAX_PACKET_BYTES = 64 * 1024 * 1024

ContainerKind = Literal["Bag", "Seq", "Alt"]
Node = etree._Element | str  # a property or struct field: element form, or attribute value


class XmpFormatError(ValueError):
    """The bytes are not a well-formed, safe XMP packet."""


def qname(prefix: str, local: str) -> str:
    return f"{{{PREFIXES[prefix]}}}{local}"


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD, no network, default size limits: XML bombs fail to parse.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
    )


def parse_xml(data: bytes) -> etree._ElementTree:
    """Parse bytes as XML, refusing DTDs (XMP never has one) and oversized input."""
    if len(data) > MAX_PACKET_BYTES:
        raise XmpFormatError(f"larger than {MAX_PACKET_BYTES} bytes")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmpFormatError(f"not well-formed XML: {exc}") from None
    tree = root.getroottree()
    # Entities are never expanded (resolve_entities=False); rejecting the DTD outright also
    # keeps entity references from reaching our output.
    if tree.docinfo.internalDTD is not None or tree.docinfo.system_url or b"<!DOCTYPE" in data:
        raise XmpFormatError("a DOCTYPE is not allowed in XMP")
    return tree


def find_rdf(tree: etree._ElementTree) -> etree._Element:
    """The rdf:RDF element of an XMP packet: the root, or a child of x:xmpmeta/x:xapmeta."""
    root = tree.getroot()
    if root.tag == RDF_RDF:
        return root
    if root.tag in (f"{{{X_NS}}}xmpmeta", f"{{{X_NS}}}xapmeta"):
        for child in root:
            if child.tag == RDF_RDF:
                return child
    raise XmpFormatError(f"no x:xmpmeta/rdf:RDF (root element is {root.tag!r})")


def serialize(tree: etree._ElementTree, *, declaration: bool = False) -> bytes:
    """UTF-8 bytes of the packet, keeping top-level processing instructions (xpacket)."""
    root = tree.getroot()
    before = list(root.itersiblings(preceding=True))[::-1]
    after = list(root.itersiblings())
    parts = [etree.tostring(node, encoding="UTF-8", with_tail=False) for node in before]
    parts.append(etree.tostring(root, encoding="UTF-8", with_tail=False))
    parts.extend(etree.tostring(node, encoding="UTF-8", with_tail=False) for node in after)
    if declaration:
        parts.insert(0, b'<?xml version="1.0" encoding="UTF-8"?>')
    return b"\n".join(parts) + b"\n"


# ---- reading values -------------------------------------------------------------------------


def _str(value: str | bytes) -> str:
    # lxml returns str for attribute values and names under Python 3; the stubs say bytes too.
    return value.decode("utf-8") if isinstance(value, bytes) else value


def container_of(element: etree._Element) -> etree._Element | None:
    for child in element:
        if child.tag in CONTAINERS:
            return child
    return None


def li_text(li: etree._Element) -> str:
    """Text of an array item, including the rdf:value form used for qualified items."""
    resource = li.get(RDF_RESOURCE)
    if resource is not None:
        return resource
    value = li.get(RDF_VALUE)
    if value is not None:
        return value
    for child in li:
        if child.tag == RDF_VALUE:
            return child.text or ""
        if child.tag == RDF_DESCRIPTION:
            return li_text(child)
    return li.text or ""


def node_text(node: Node) -> str:
    if isinstance(node, str):
        return node
    return li_text(node)


def node_items(node: Node) -> list[str]:
    """Items of an array property; a simple value counts as a one-item array (as exiftool)."""
    if isinstance(node, str):
        return [node] if node.strip() else []
    container = container_of(node)
    if container is None:
        text = li_text(node)
        return [text] if text.strip() else []
    return [li_text(li) for li in container if li.tag == RDF_LI]


def node_lang_alt(node: Node) -> list[tuple[str, str]]:
    """(language, text) items of a Lang Alt; a simple value counts as x-default."""
    if isinstance(node, str):
        return [("x-default", node)] if node.strip() else []
    container = container_of(node)
    if container is None:
        text = li_text(node)
        return [("x-default", text)] if text.strip() else []
    return [
        (li.get(XML_LANG, "x-default"), li_text(li)) for li in container if li.tag == RDF_LI
    ]


def struct_fields(node: Node) -> dict[str, Node]:
    """Fields of a struct in any RDF form, keyed by Clark name; empty for a non-struct."""
    if isinstance(node, str):
        return {}
    holder = node
    for child in node:
        if child.tag == RDF_DESCRIPTION:
            holder = child
            break
    fields: dict[str, Node] = {}
    for key, value in holder.attrib.items():
        name = _str(key)
        if not name.startswith((f"{{{RDF_NS}}}", f"{{{XML_NS}}}")):
            fields[name] = _str(value)
    for child in holder:
        if isinstance(child.tag, str) and child.tag not in CONTAINERS | {RDF_DESCRIPTION}:
            fields[child.tag] = child
    return fields


@dataclass
class Prop:
    """Where one top-level property lives: its rdf:Description and its form."""

    description: etree._Element
    element: etree._Element | None  # None: attribute form
    tag: str

    @property
    def node(self) -> Node:
        if self.element is not None:
            return self.element
        return _str(self.description.attrib[self.tag])


# ---- the packet -----------------------------------------------------------------------------


class Packet:
    """A parsed XMP packet with property-level read and write helpers."""

    def __init__(self, tree: etree._ElementTree, *, declaration: bool = False) -> None:
        self.tree = tree
        self.rdf = find_rdf(tree)
        self.declaration = declaration  # the file began with <?xml ...?>: keep one

    @classmethod
    def parse(cls, data: bytes) -> Packet:
        head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        return cls(parse_xml(data), declaration=head.startswith(b"<?xml"))

    @classmethod
    def new(cls, toolkit: str) -> Packet:
        text = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            f'<x:xmpmeta xmlns:x="{X_NS}" x:xmptk="{toolkit}">\n'
            f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
            '  <rdf:Description rdf:about=""/>\n'
            " </rdf:RDF>\n"
            "</x:xmpmeta>\n"
            '<?xpacket end="w"?>'
        )
        return cls(parse_xml(text.encode("utf-8")))

    def to_bytes(self) -> bytes:
        return serialize(self.tree, declaration=self.declaration)

    def descriptions(self) -> list[etree._Element]:
        return [child for child in self.rdf if child.tag == RDF_DESCRIPTION]

    def find(self, tag: str) -> Prop | None:
        for description in self.descriptions():
            if tag in description.attrib:
                return Prop(description, None, tag)
            for child in description:
                if child.tag == tag:
                    return Prop(description, child, tag)
        return None

    def get(self, tag: str) -> Node | None:
        prop = self.find(tag)
        return None if prop is None else prop.node

    def host(self) -> etree._Element:
        """The rdf:Description new properties go into (the first one; created if none)."""
        descriptions = self.descriptions()
        if descriptions:
            return descriptions[0]
        description = new_child(self.rdf, RDF_DESCRIPTION)
        description.set(RDF_ABOUT, "")
        return description

    def remove(self, tag: str) -> bool:
        prop = self.find(tag)
        if prop is None:
            return False
        if prop.element is None:
            del prop.description.attrib[tag]
        else:
            remove_child(prop.element)
        return True

    def element_form(self, tag: str) -> etree._Element:
        """The property's element, converting attribute form or creating it as needed."""
        prop = self.find(tag)
        if prop is not None and prop.element is not None:
            return prop.element
        if prop is None:
            return new_child(self.host(), tag)
        value = _str(prop.description.attrib.pop(tag))
        element = new_child(prop.description, tag)
        element.text = value
        return element

    def set_text(self, tag: str, value: str) -> None:
        prop = self.find(tag)
        if prop is not None and prop.element is None:
            prop.description.set(tag, value)
            return
        element = self.element_form(tag)
        for child in list(element):
            remove_child(child)
        element.text = value

    def array(self, tag: str, kind: ContainerKind, *, convert: bool) -> etree._Element:
        """The container of an array property, created if needed.

        A simple value becomes the first item. With `convert`, a container of another kind is
        turned into `kind` (dc:subject must be a Bag for digiKam); its items are kept.
        """
        element = self.element_form(tag)
        container = container_of(element)
        if container is None:
            text = li_text(element)
            for attr in (RDF_RESOURCE, RDF_VALUE, RDF_PARSE_TYPE):
                if attr in element.attrib:
                    del element.attrib[attr]
            for child in list(element):
                remove_child(child)
            element.text = None
            container = new_child(element, f"{{{RDF_NS}}}{kind}")
            if text.strip():
                append_li(container, text)
        elif convert and container.tag != f"{{{RDF_NS}}}{kind}":
            container.tag = f"{{{RDF_NS}}}{kind}"
        return container


# ---- tree editing that keeps the document's indentation -------------------------------------


def _indent_before(element: etree._Element) -> str | None:
    previous = element.getprevious()
    parent = element.getparent()
    space = previous.tail if previous is not None else (parent.text if parent is not None else None)
    if space is None or "\n" not in space or space.strip():
        return None
    return space[space.rfind("\n") + 1 :]


def new_child(parent: etree._Element, tag: str, index: int | None = None) -> etree._Element:
    """Insert a new element into parent, declaring its namespace there only if needed."""
    uri = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
    nsmap: dict[str | None, str] | None = None
    if uri and uri not in parent.nsmap.values():
        wanted = next((p for p, u in PREFIXES.items() if u == uri), "ns")
        prefix, n = wanted, 1
        while prefix in parent.nsmap:
            prefix, n = f"{wanted}{n}", n + 1
        nsmap = {prefix: uri}
    kids = list(parent)
    child = etree.SubElement(parent, tag, nsmap=nsmap)  # type: ignore[arg-type]
    if index is not None and index < len(kids):
        parent.remove(child)
        child.tail = parent.text if index == 0 else kids[index - 1].tail
        parent.insert(index, child)
        return child
    if kids:
        last = kids[-1]
        child.tail = last.tail
        last.tail = kids[-2].tail if len(kids) > 1 else parent.text
        return child
    base = _indent_before(parent)
    if base is not None:
        parent.text = "\n" + base + " "
        child.tail = "\n" + base
    return child


def remove_child(child: etree._Element) -> None:
    """Remove an element; the whitespace that closed its parent stays in place."""
    parent = child.getparent()
    if parent is None:
        return
    if child.getnext() is None:
        previous = child.getprevious()
        if previous is not None:
            previous.tail = child.tail
        else:
            parent.text = child.tail
    parent.remove(child)


def append_li(container: etree._Element, text: str, lang: str | None = None) -> etree._Element:
    li = new_child(container, RDF_LI)
    if lang is not None:
        li.set(XML_LANG, lang)
    li.text = text
    return li
