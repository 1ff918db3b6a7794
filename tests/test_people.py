"""The people the owner named: digiKam's and Lightroom's face regions, PersonInImage, People
tags; a scan's prompt names them, and they never become keywords of ours."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.library_builder import Collect, write_config, write_photos
from tests.ollama_server import OllamaServer, RecordedRequest, Reply
from tests.sidecar.sidecar_helpers import require
from xmpvision.chain.analyzer import SCAN_CONTEXTS
from xmpvision.config import load_config
from xmpvision.jobs import run_models
from xmpvision.pipeline import RunOptions
from xmpvision.prepare.metadata import read_metadata
from xmpvision.sidecar import read_sidecar
from xmpvision.sidecar.model import people_in_sidecar

# As digiKam 8 writes a sidecar for a photo with two named faces and one unnamed.
DIGIKAM = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">
   <digiKam:TagsList><rdf:Seq><rdf:li>People/Anna</rdf:li><rdf:li>People/Tom</rdf:li>
    <rdf:li>People/Unknown</rdf:li></rdf:Seq></digiKam:TagsList>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>People|Anna</rdf:li><rdf:li>People|Tom</rdf:li>
    <rdf:li>People|Unknown</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <dc:subject><rdf:Bag><rdf:li>Anna</rdf:li><rdf:li>Tom</rdf:li><rdf:li>Unknown</rdf:li>
    </rdf:Bag></dc:subject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="32" stDim:h="24" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Anna" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.3" stArea:y="0.4" stArea:w="0.1" stArea:h="0.2"
          stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Tom" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.6" stArea:y="0.4" stArea:w="0.1" stArea:h="0.2"
          stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Frisbee" mwg-rs:Type="Focus"/>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def test_digikam_faces_are_read_and_unnamed_ones_left_out(tmp_path: Path) -> None:
    sidecar = tmp_path / "a.jpg.xmp"
    sidecar.write_text(DIGIKAM, encoding="utf-8")
    assert people_in_sidecar(sidecar) == ("Anna", "Tom")
    sidecar.write_text(DIGIKAM.replace("People/", "Places/").replace("People|", "Places|")
                       .replace('mwg-rs:Name="Anna"', 'mwg-rs:Name="Lea"'), encoding="utf-8")
    assert people_in_sidecar(sidecar) == ("Lea", "Tom")
    etree.fromstring(DIGIKAM.split("\n", 1)[1].rsplit("<?xpacket", 1)[0].encode())  # valid


def test_embedded_regions_and_person_in_image(tmp_path: Path) -> None:
    photo = write_photos(tmp_path, 1)[0]
    require("exiftool")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-iptcExt:PersonInImage=Tom",
                    "-RegionInfo={AppliedToDimensions={W=32,H=24,Unit=pixel},RegionList=["
                    "{Area={X=0.5,Y=0.5,W=0.1,H=0.1,Unit=normalized},Name=Anna,Type=Face},"
                    "{Area={X=0.2,Y=0.2,W=0.1,H=0.1,Unit=normalized},Name=Ball,Type=Focus}]}",
                    str(photo)], check=True)
    assert read_metadata(photo).people == ("Anna", "Tom")


def _answer(request: RecordedRequest) -> Reply:
    if request.kind != "labels":
        return Reply("Anna and Tom throw a frisbee on a lawn.")
    return Reply(json.dumps({"labels": [
        {"name": name, "confidence": 0.9, "topicality": 0.9}
        for name in ("anna", "Tom", "dog", "Lawn")]}))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OllamaServer]:
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    with OllamaServer(models=["gemma3:latest"]) as emulator:
        emulator.respond(_answer)
        yield emulator


def _regions_only() -> str:
    """The sidecar as Lightroom or Picasa leave it: named faces, no People keywords."""
    return re.sub(r"<(digiKam:TagsList|lr:hierarchicalSubject|dc:subject)>.*?</\1>", "",
                  DIGIKAM, flags=re.DOTALL)


@pytest.mark.parametrize("tagged", [True, False])
def test_a_scan_names_the_people_and_never_writes_them(tmp_path: Path, server: OllamaServer,
                                                       tagged: bool) -> None:
    photo = write_photos(tmp_path / "photos", 1)[0]
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_text(DIGIKAM if tagged else _regions_only(), encoding="utf-8")
    config_path = write_config(tmp_path / "vision.yml", server.url)
    config_path.write_text(config_path.read_text().replace(
        "    Model: gemma3\n", "    Model: gemma3\n    Context: [people]\n"))
    config = load_config(config_path).config
    quiet = Collect()
    result = run_models(config, [tmp_path / "photos"], types=("labels", "caption"),
                        contexts=SCAN_CONTEXTS, options=RunOptions(), reporter=quiet,
                        state_path=tmp_path / "state.db")
    assert result.ok, [r.error for r in quiet.reports]
    prompts = [json.dumps(r.body) for r in server.generate_requests()]
    assert len(prompts) == 2
    assert all("people in this photo: Anna, Tom" in p for p in prompts)
    state = read_sidecar(sidecar)
    assert [r.name for r in state.provenance.keywords] == ["Dog", "Lawn"]
    assert state.caption == "Anna and Tom throw a frisbee on a lawn."
    assert state.subjects == (("Anna", "Tom", "Unknown") if tagged else ()) + ("Dog", "Lawn")
