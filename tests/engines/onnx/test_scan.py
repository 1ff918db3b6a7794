"""`xmpvision scan` end to end with an ONNX labels model: the real CLI in a subprocess, a model
built here, and the sidecar read back by exiftool and exiv2."""

from __future__ import annotations

from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.engines.onnx.model_builder import build_onnx_model  # noqa: E402
from tests.engines.onnx.test_engine import BIAS, CLASSES, weights  # noqa: E402
from tests.library_builder import jpeg_bytes, parse_ndjson, run_xmpvision, write  # noqa: E402
from tests.sidecar.sidecar_helpers import FIXTURES, exiftool_json, exiv2_xmp  # noqa: E402


def test_scan_writes_onnx_labels_with_their_hierarchy(tmp_path: Path) -> None:
    model = tmp_path / "models" / "colours"
    build_onnx_model(model / "model.onnx", CLASSES, weights(), BIAS)
    red = write(tmp_path / "photos" / "red.jpg", jpeg_bytes((640, 480), (250, 10, 10)))
    blue = write(tmp_path / "photos" / "sub" / "blue.jpg", jpeg_bytes((480, 640), (10, 10, 250)))
    # digiKam's sidecar for the red photo: a TagsList is kept in step where one exists.
    red_xmp, blue_xmp = Path(f"{red}.xmp"), Path(f"{blue}.xmp")
    red_xmp.write_bytes((FIXTURES / "digikam.jpg.xmp").read_bytes())
    config = tmp_path / "vision.yml"
    config.write_text(
        "Models:\n"
        "  - Type: labels\n"
        "    Engine: onnx\n"
        "    Model: colours\n"
        f"    Path: {model}\n"
        "  - Type: caption\n"
        "    Default: true\n"
        "    Disabled: true\n"
    )
    done = run_xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                         "--state", tmp_path / "state.db")
    assert done.returncode == 0, done.stderr
    records = {Path(r["path"]).name: r for r in parse_ndjson(done.stdout).records}
    assert [(x["name"], x["source"], x["model"]) for x in records["red.jpg"]["labels"]] == [
        ("Cat", "onnx", "colours")]
    assert [x["name"] for x in records["blue.jpg"]["labels"]] == ["Car"]

    (red_tool, blue_tool) = exiftool_json([red_xmp, blue_xmp])
    assert red_tool["XMP-dc:Subject"] == ["Berlin", "Anna", "Cat"]
    assert red_tool["XMP-lr:HierarchicalSubject"] == [
        "Places|Berlin", "People|Anna", "Animal|Pet|Cat"]
    assert red_tool["XMP-digiKam:TagsList"] == ["Places/Berlin", "People/Anna", "Animal/Pet/Cat"]
    assert blue_tool["XMP-dc:Subject"] == ["Car"]
    assert blue_tool["XMP-lr:HierarchicalSubject"] == ["Vehicle|Car"]

    exiv2 = exiv2_xmp(red_xmp)
    assert exiv2["Xmp.dc.subject"] == ["Berlin", "Anna", "Cat"]
    assert exiv2["Xmp.lr.hierarchicalSubject"] == ["Places|Berlin", "People|Anna",
                                                  "Animal|Pet|Cat"]
    assert exiv2["Xmp.digiKam.TagsList"] == ["Places/Berlin", "People/Anna", "Animal/Pet/Cat"]
    assert exiv2_xmp(blue_xmp)["Xmp.lr.hierarchicalSubject"] == ["Vehicle|Car"]


def test_a_wedged_ollama_falls_back_to_the_classifier_and_a_rerun_upgrades(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.ollama_server import OllamaServer
    from xmpvision.cli import app

    model = tmp_path / "models" / "colours"
    build_onnx_model(model / "model.onnx", CLASSES, weights(), BIAS)
    photos = [write(tmp_path / "photos" / f"red{n:02d}.jpg", jpeg_bytes((320, 240), (250, 10, 10)))
              for n in range(24)]
    runner = CliRunner()
    with OllamaServer(models=["gemma3:latest"], latency=0.01) as ollama:
        config = tmp_path / "vision.yml"
        config.write_text(
            "Models:\n"
            f"  - Type: labels\n    Engine: onnx\n    Model: colours\n    Path: {model}\n"
            "  - Type: labels\n    Model: gemma3\n"
            f"    Service: {{Uri: \"{ollama.url}\", Timeout: 2s}}\n"
            "  - Type: caption\n    Default: true\n    Disabled: true\n")
        args = ["scan", str(tmp_path / "photos"), "--json", "--config", str(config),
                "--state", str(tmp_path / "state.db")]
        ollama.wedge(after=4)
        first = parse_ndjson(runner.invoke(app, args).stdout)
        ollama.unwedge()
        second = parse_ndjson(runner.invoke(app, args).stdout)
    by_source = [r["labels"][0]["source"] for r in first.records]
    assert by_source.count("ollama") == 4 and by_source.count("onnx") == 20
    assert first.summary["failed"] == 0 and first.summary["services"][0]["opened"] == 1
    assert second.summary["upgraded"] == 20
    assert all(r["labels"][0]["source"] == "ollama" for r in second.records if r.get("upgraded"))
    # Ours of the classifier (a lower source) are replaced; Ollama's labels nest like them.
    tools = exiftool_json([Path(f"{p}.xmp") for p in photos])
    assert all(t["XMP-dc:Subject"] == ["Dog", "Beach"] for t in tools), tools[0]
    assert all(t["XMP-lr:HierarchicalSubject"] == ["Animal|Pet|Dog", "Landscape|Water|Beach"]
               for t in tools)
