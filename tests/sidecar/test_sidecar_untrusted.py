"""Keywords from a model pass the untrusted-text policy (text/untrusted.py) on their way into
the sidecar: bidi controls and zero-width characters would make a keyword display as another."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.sidecar.sidecar_helpers import DC, LR, NOW, RDF, result
from xmpvision.sidecar import read_sidecar, update_sidecar

INVISIBLE = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))} | {
    "\u200b", "\u2060", "\ufeff"}


@pytest.mark.parametrize(("name", "shown"), [
    ("gro\u202eup", "group"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u2066is\u2069olate", "isolate"),
    ("\u202aemb\u202ced", "embed"),
    ("zero\u200bwidth", "zerowidth"),
])
def test_bidi_and_zero_width_characters_do_not_reach_dc_subject(
    tmp_path: Path, name: str, shown: str
) -> None:
    photo = tmp_path / "IMG_1.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    change = update_sidecar(photo, result([name]), now=NOW)
    root = etree.fromstring(change.path.read_bytes())
    for tag in (f"{DC}subject", f"{LR}hierarchicalSubject"):
        items = [li.text or "" for li in root.iterfind(f".//{tag}//{{{RDF}}}li")]
        assert items == [shown], tag
        assert not INVISIBLE & set("".join(items))
    assert [k.name for k in read_sidecar(change.path).provenance.keywords] == [shown]
