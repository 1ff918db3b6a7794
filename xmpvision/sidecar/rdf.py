"""Faithful, hardened access to one XMP packet as RDF/XML.

We edit the parsed tree in place instead of round-tripping through a metadata library, so every
node we do not touch (foreign namespaces, structs, comments, the xpacket wrapper, prefixes) is
serialised back as it was. A property may live in any rdf:Description, in attribute form
(`dc:format="..."`) or element form, with its value in any RDF/XML form XMP allows; all are read.
Before a property is edited, Packet.normalize inlines its rdf:nodeID references (only exiftool
resolves them) and refuses, with UnsupportedRdf, a form we could not merge without loss.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from xmpvision.modeltypes import field_namespaces

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
    **field_namespaces(),  # those of the model types' fields
}

RDF_RDF = f"{{{RDF_NS}}}RDF"
RDF_DESCRIPTION = f"{{{RDF_NS}}}Description"
RDF_LI = f"{{{RDF_NS}}}li"
RDF_ABOUT = f"{{{RDF_NS}}}about"
RDF_PARSE_TYPE = f"{{{RDF_NS}}}parseType"
RDF_RESOURCE = f"{{{RDF_NS}}}resource"
RDF_VALUE = f"{{{RDF_NS}}}value"
RDF_NODE_ID = f"{{{RDF_NS}}}nodeID"
RDF_ID = f"{{{RDF_NS}}}ID"
XML_LANG = f"{{{XML_NS}}}lang"
CONTAINERS = {f"{{{RDF_NS}}}{kind}" for kind in ("Bag", "Seq", "Alt")}

# Sidecars with darktable histories reach a few MB; anything far beyond is not a sidecar.
MAX_PACKET_BYTES = 64 * 1024 * 1024

ContainerKind = Literal["Bag", "Seq", "Alt"]
Node = etree._Element | str  # a property or struct field: element form, or attribute value


class XmpFormatError(ValueError):
    """The bytes are not a well-formed, safe XMP packet."""


class UnsupportedRdf(XmpFormatError):
    """A value is written in an RDF form we cannot merge without loss (`form` says which)."""

    def __init__(self, form: str) -> None:
        super().__init__(f"unsupported RDF form {form}")
        self.form = form


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
#
# RDF/XML spells one XMP value in several ways; all of these mean the same to exiftool, exempi
# and exiv2, so all are read:
#   <P>text</P>  <D P="text"/>  <P rdf:resource="uri"/>  <P><rdf:Bag>...</rdf:Bag></P>
#   qualified: <P rdf:parseType="Resource"><rdf:value>v</rdf:value><q:x>..</q:x></P>,
#              <P><rdf:Description><rdf:value>v</rdf:value>...</rdf:Description></P>,
#              <P rdf:value="v" q:x=".."/>  (v may itself be an array: a qualified array)
# Array items (rdf:li) take the same forms. rdf:nodeID references are inlined first
# (Packet.normalize); forms that cannot be merged without loss are refused there.


def _str(value: str | bytes) -> str:
    # lxml returns str for attribute values and names under Python 3; the stubs say bytes too.
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _elements(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _is_property_attr(name: str) -> bool:
    return not name.startswith((f"{{{RDF_NS}}}", f"{{{XML_NS}}}"))


def pretty(element_or_tag: etree._Element | str) -> str:
    """prefix:local of an element or a Clark name, for messages."""
    if isinstance(element_or_tag, str):
        tag, prefix = element_or_tag, None
    else:
        tag, prefix = _str(element_or_tag.tag), element_or_tag.prefix
    uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if prefix is None:
        known = {RDF_NS: "rdf", XML_NS: "xml", **{u: p for p, u in PREFIXES.items()}}
        prefix = known.get(uri)
    return f"{prefix}:{local}" if prefix else local


def container_of(element: etree._Element) -> etree._Element | None:
    """The rdf:Bag/Seq/Alt directly inside element, if any."""
    for child in element:
        if child.tag in CONTAINERS:
            return child
    return None


def resource_node(element: etree._Element) -> etree._Element | None:
    """The element holding the properties of element's value when that value is a resource
    (a struct, or a value with qualifiers); None for a plain value."""
    if element.get(RDF_PARSE_TYPE) == "Resource":
        return element
    kids = _elements(element)
    if len(kids) == 1 and kids[0].tag == RDF_DESCRIPTION:
        return kids[0]
    if not kids and any(
        _is_property_attr(_str(name)) or name == RDF_VALUE for name in element.attrib
    ):
        return element  # <P rdf:value="v" q:x="..."/>: properties given as attributes
    return None


def value_of(element: etree._Element) -> etree._Element | str | None:
    """What holds element's value: an element (its text, rdf:resource or container), the text of
    an rdf:value attribute, or None for a struct (a resource without rdf:value)."""
    node = resource_node(element)
    if node is None:
        return element
    if RDF_VALUE in node.attrib:
        return _str(node.attrib[RDF_VALUE])
    for child in node:
        if child.tag == RDF_VALUE:
            return child
    return None


def value_container(element: etree._Element) -> etree._Element | None:
    """The array of a property or item: its own container or the one in its rdf:value."""
    holder = value_of(element)
    return None if holder is None or isinstance(holder, str) else container_of(holder)


def li_text(li: etree._Element) -> str:
    """Text of a property element or array item in any of the forms above ("" for arrays)."""
    holder = value_of(li)
    if holder is None:
        return ""
    if isinstance(holder, str):
        return holder
    resource = holder.get(RDF_RESOURCE)
    if resource is not None:
        return resource
    if container_of(holder) is not None:
        return ""
    return holder.text or ""


def item_lang(element: etree._Element) -> str | None:
    """xml:lang of a value: on the element, or on its rdf:Description or rdf:value."""
    lang = element.get(XML_LANG)
    node = resource_node(element)
    if lang is None and node is not None and node is not element:
        lang = node.get(XML_LANG)
    holder = value_of(element)
    if lang is None and isinstance(holder, etree._Element) and holder is not element:
        lang = holder.get(XML_LANG)
    return lang


def is_plain_item(li: etree._Element) -> bool:
    """True for a text item without qualifiers: replacing it loses nothing but its text."""
    return not _elements(li) and all(name == XML_LANG for name in li.attrib)


def node_text(node: Node) -> str:
    if isinstance(node, str):
        return node
    return li_text(node)


def node_items(node: Node) -> list[str]:
    """Items of an array property; a simple value counts as a one-item array (as exiftool)."""
    if isinstance(node, str):
        return [node] if node.strip() else []
    container = value_container(node)
    if container is None:
        text = li_text(node)
        return [text] if text.strip() else []
    return [li_text(li) for li in container if li.tag == RDF_LI]


def node_lang_alt(node: Node) -> list[tuple[str, str]]:
    """(language, text) items of a Lang Alt; a simple value counts as x-default."""
    if isinstance(node, str):
        return [("x-default", node)] if node.strip() else []
    container = value_container(node)
    if container is None:
        text = li_text(node)
        return [(item_lang(node) or "x-default", text)] if text.strip() else []
    return [
        (item_lang(li) or "x-default", li_text(li)) for li in container if li.tag == RDF_LI
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
        if _is_property_attr(name):
            fields[name] = _str(value)
    for child in holder:
        if isinstance(child.tag, str) and child.tag not in CONTAINERS | {RDF_DESCRIPTION}:
            fields[child.tag] = child
    return fields


# ---- forms we refuse to merge ---------------------------------------------------------------

Form = Literal["array", "alt", "text", "any"]  # what a property's value must be to be merged
_MEMBERSHIP = re.compile(re.escape(f"{{{RDF_NS}}}") + "(_[0-9]+|type)$")  # rdf:_1, rdf:type
_MAX_REFERENCES = 1000


def _property_elements(element: etree._Element) -> Iterator[etree._Element]:
    """element and every property element (fields, items, rdf:value) below it."""
    yield element
    if element.get(RDF_PARSE_TYPE) not in (None, "Resource"):
        return  # a literal's children are XML content, not RDF
    if element.get(RDF_PARSE_TYPE) == "Resource":
        for child in _elements(element):
            yield from _property_elements(child)
        return
    for node in _elements(element):  # node elements: rdf:Description, containers, typed nodes
        for child in _elements(node):
            yield from _property_elements(child)


def _check_plain(element: etree._Element, name: str) -> None:
    """element holds a value directly: text, rdf:resource or one container of rdf:li."""
    kids = _elements(element)
    parse_type = element.get(RDF_PARSE_TYPE)
    if parse_type is not None:
        raise UnsupportedRdf(f'rdf:parseType="{parse_type}" in {name}')
    if len(kids) > 1:
        raise UnsupportedRdf(f"more than one value node in {name}")
    if kids and kids[0].tag not in CONTAINERS:
        raise UnsupportedRdf(f"typed node {pretty(kids[0])} in {name}")
    if kids and ((element.text or "").strip() or RDF_RESOURCE in element.attrib):
        raise UnsupportedRdf(f"text beside an array in {name}")
    if kids:
        for item in _elements(kids[0]):
            if item.tag != RDF_LI:
                raise UnsupportedRdf(f"{pretty(item)} in the array of {name}")


def check_form(element: etree._Element, form: Form) -> None:
    """Raise UnsupportedRdf unless element's value has a form we can merge as `form`."""
    name = pretty(element)
    parse_type = element.get(RDF_PARSE_TYPE)
    if parse_type not in (None, "Resource"):
        raise UnsupportedRdf(f'rdf:parseType="{parse_type}" in {name}')
    node = resource_node(element)
    if node is None:
        if any(_is_property_attr(_str(attr)) or attr == RDF_VALUE for attr in element.attrib):
            raise UnsupportedRdf(f"property attributes on {name} with content")
        _check_plain(element, name)
    else:
        fields = _elements(node)
        if any(_MEMBERSHIP.match(_str(child.tag)) for child in fields):
            raise UnsupportedRdf(f"rdf:_N container membership in {name}")
        if sum(child.tag == RDF_VALUE for child in fields) + (RDF_VALUE in node.attrib) > 1:
            raise UnsupportedRdf(f"more than one rdf:value in {name}")
        holder = value_of(element)
        if holder is None:
            raise UnsupportedRdf(f"a struct as the value of {name}")
        if isinstance(holder, etree._Element):
            _check_plain(holder, name)
    if form == "text" and value_container(element) is not None:
        raise UnsupportedRdf(f"an array as the value of {name}")


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
        """Top-level rdf:Descriptions about the document: not the ones another property refers
        to by rdf:nodeID (their properties belong to that property's value)."""
        tops = [child for child in self.rdf if child.tag == RDF_DESCRIPTION]
        ids = {child.get(RDF_NODE_ID) for child in tops} - {None}
        if not ids:
            return tops
        referenced = {
            element.get(RDF_NODE_ID)
            for top in self.rdf
            for element in top.iterdescendants()
            if isinstance(element.tag, str) and element.get(RDF_NODE_ID) in ids
        }
        return [child for child in tops if child.get(RDF_NODE_ID) not in referenced]

    def find_all(self, tag: str) -> list[Prop]:
        found = []
        for description in self.descriptions():
            if tag in description.attrib:
                found.append(Prop(description, None, tag))
            found.extend(Prop(description, child, tag) for child in description if child.tag == tag)
        return found

    def find(self, tag: str) -> Prop | None:
        found = self.find_all(tag)
        return found[0] if found else None

    def get(self, tag: str) -> Node | None:
        prop = self.find(tag)
        return None if prop is None else prop.node

    def host(self) -> etree._Element:
        """The rdf:Description new properties go into (the first one about the document)."""
        descriptions = self.descriptions()
        for description in descriptions:
            if RDF_NODE_ID not in description.attrib:
                return description
        if descriptions:
            return descriptions[0]
        description = new_child(self.rdf, RDF_DESCRIPTION)
        description.set(RDF_ABOUT, "")
        return description

    def normalize(self, tag: str, form: Form) -> None:
        """Make a property mergeable: inline its rdf:nodeID references, and raise UnsupportedRdf
        for a form we cannot merge without loss (then the packet must not be written)."""
        props = self.find_all(tag)
        if len(props) > 1 and form != "any":
            raise UnsupportedRdf(f"{pretty(tag)} given more than once")
        for prop in props:
            if prop.element is None:
                continue  # attribute form: a simple value
            for _ in range(_MAX_REFERENCES):
                ref = next(
                    (e for e in _property_elements(prop.element) if RDF_NODE_ID in e.attrib), None
                )
                if ref is None:
                    break
                self._inline(ref, pretty(tag))
            else:
                raise UnsupportedRdf(f"more than {_MAX_REFERENCES} rdf:nodeID in {pretty(tag)}")
            if form != "any":
                check_form(prop.element, form)

    def _inline(self, ref: etree._Element, name: str) -> None:
        """Move the node `ref` names by rdf:nodeID into ref, where XMP readers expect it."""
        node_id = _str(ref.attrib[RDF_NODE_ID])
        if _elements(ref) or (ref.text or "").strip() or set(ref.attrib) != {RDF_NODE_ID}:
            raise UnsupportedRdf(f"rdf:nodeID with other content in {name}")
        uses = [e for e in self.rdf.iter(etree.Element) if e.get(RDF_NODE_ID) == node_id]
        nodes = [e for e in uses if e.getparent() is self.rdf]
        if not nodes:
            raise UnsupportedRdf(f'rdf:nodeID "{node_id}" naming no node in {name}')
        if len(nodes) > 1 or len(uses) > 2:
            # A shared node is not a tree; XMP has no way to say it, so we do not choose.
            raise UnsupportedRdf(f'rdf:nodeID "{node_id}" used more than once in {name}')
        node = nodes[0]
        if RDF_ABOUT in node.attrib or RDF_ID in node.attrib:
            raise UnsupportedRdf(f'rdf:nodeID "{node_id}" on a named node in {name}')
        kids = _elements(node)
        if node.tag == RDF_DESCRIPTION:
            if any(_MEMBERSHIP.match(_str(child.tag)) for child in kids):
                raise UnsupportedRdf(f"rdf:_N container membership in {name}")
            # Older tools put the array itself in the referenced description.
            bare = set(node.attrib) == {RDF_NODE_ID} and not (node.text or "").strip()
            value = kids[0] if bare and len(kids) == 1 and kids[0].tag in CONTAINERS else node
        elif node.tag in CONTAINERS:
            value = node
        else:
            raise UnsupportedRdf(f"typed node {pretty(node)} referenced from {name}")
        remove_child(node)
        if value is node:
            del node.attrib[RDF_NODE_ID]
        del ref.attrib[RDF_NODE_ID]
        ref.append(value)
        reindent(ref)

    def remove(self, tag: str) -> bool:
        prop = self.find(tag)
        if prop is None:
            return False
        if prop.element is None:
            del prop.description.attrib[tag]
        else:
            remove_child(prop.element)
        return True

    def remove_if_empty(self, tag: str) -> None:
        """Remove an array property with no items left, unless it carries anything else."""
        prop = self.find(tag)
        if prop is None or prop.element is None or prop.element.attrib:
            return
        container = container_of(prop.element)
        if (
            container is not None
            and len(_elements(prop.element)) == 1
            and not container.attrib
            and len(container) == 0
        ):
            remove_child(prop.element)

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
        """Set a simple value, in the form it has (qualifiers stay with the value)."""
        prop = self.find(tag)
        if prop is not None and prop.element is None:
            prop.description.set(tag, value)
            return
        element = self.element_form(tag)
        check_form(element, "text")
        holder = value_of(element)
        if isinstance(holder, str):
            node = resource_node(element)
            assert node is not None  # an rdf:value attribute is on the resource node
            node.set(RDF_VALUE, value)
            return
        assert holder is not None  # check_form refuses structs
        if RDF_RESOURCE in holder.attrib:
            del holder.attrib[RDF_RESOURCE]
        holder.text = value

    def array(self, tag: str, kind: ContainerKind, *, convert: bool) -> etree._Element:
        """The container of an array property, created if needed.

        A simple value becomes the first item, in its form (URI, qualifiers and language go
        with it). With `convert`, a container of another kind is turned into `kind` (dc:subject
        must be a Bag for digiKam); its items are kept.
        """
        element = self.element_form(tag)
        container = value_container(element)
        if container is None:
            check_form(element, "any")
            container = _into_first_item(element, kind)
        elif convert and container.tag != f"{{{RDF_NS}}}{kind}":
            container.tag = f"{{{RDF_NS}}}{kind}"
        return container


def _into_first_item(element: etree._Element, kind: ContainerKind) -> etree._Element:
    """Turn element's simple (maybe qualified) value into the first item of a new container."""
    attrs = {_str(k): _str(v) for k, v in element.attrib.items() if k != RDF_ID}
    text = element.text
    kids = list(element)
    for name in attrs:
        del element.attrib[name]
    for child in kids:
        element.remove(child)
    element.text = None
    container = new_child(element, f"{{{RDF_NS}}}{kind}")
    if set(attrs) <= {XML_LANG} and not _has_elements(kids) and not (text or "").strip():
        return container  # an empty value is no item, whatever its language
    li = new_child(container, RDF_LI)
    for name, value in attrs.items():
        li.set(name, value)
    li.text = text if (text or "").strip() else None
    for child in kids:
        li.append(child)
    if kind == "Alt" and item_lang(li) is None:
        li.set(XML_LANG, "x-default")
    reindent(li)
    return container


def _has_elements(nodes: list[etree._Element]) -> bool:
    return any(isinstance(node.tag, str) for node in nodes)


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
    child = etree.SubElement(parent, tag, nsmap=nsmap)  # type: ignore[arg-type]
    # Siblings are reached from the new child, never by listing the parent: appending n
    # items (10,000 keywords) stays linear.
    if index is not None and index < len(parent) - 1:
        parent.remove(child)
        child.tail = parent.text if index == 0 else parent[index - 1].tail
        parent.insert(index, child)
        return child
    last = child.getprevious()
    if last is not None:
        child.tail = last.tail
        before = last.getprevious()
        last.tail = before.tail if before is not None else parent.text
        return child
    base = _indent_before(parent)
    if base is not None:
        parent.text = "\n" + base + " "
        child.tail = "\n" + base
    return child


def reindent(element: etree._Element) -> None:
    """Indent a moved subtree one space a level below element's line; only whitespace between
    elements changes (text values, and literals' content, stay as they are)."""
    base = _indent_before(element)
    if base is None:
        return

    def walk(node: etree._Element, indent: str) -> None:
        kids = list(node)
        if not kids or node.get(RDF_PARSE_TYPE) == "Literal":
            return
        if not (node.text or "").strip():
            node.text = "\n" + indent + " "
        for child in kids:
            walk(child, indent + " ")
            if not (child.tail or "").strip():
                child.tail = "\n" + indent + " "
        if not (kids[-1].tail or "").strip():
            kids[-1].tail = "\n" + indent

    walk(element, base)


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
