"""The catalog's entries and where installed models live."""

from __future__ import annotations

from pathlib import Path

from xmpvision.config.defaults import DEFAULT_CLASSIFIER_MODEL, DEFAULT_ONNX_MODEL
from xmpvision.engines.catalog import (
    CATALOG,
    entry_for_url,
    find_entry,
    model_location,
    models_root,
    source_url,
)
from xmpvision.engines.tensorflow.install import ENV_MODEL_URL, MODEL_URL


def test_every_entry_is_pinned_and_served_by_photoprism() -> None:
    assert list(CATALOG) == ["nasnet", "efficientformerv2_s2", "efficientformerv2_s1",
                             "repvit_m1_0", "efficientnet_b0"]
    for name, entry in CATALOG.items():
        assert entry.name == name
        assert entry.url.startswith("https://dl.photoprism.app/")
        assert entry.checksums, name
        assert all(c.algorithm == "sha256" and len(c.hexdigest) == 64 for c in entry.checksums)
        assert len({c.hexdigest for c in entry.checksums}) == len(entry.checksums)
    digests = [c.hexdigest for e in CATALOG.values() for c in e.checksums]
    assert len(digests) == len(set(digests))  # no entry pins another one's file


def test_engines_and_their_defaults() -> None:
    assert CATALOG[DEFAULT_CLASSIFIER_MODEL].engine == "tensorflow"
    assert CATALOG[DEFAULT_CLASSIFIER_MODEL].url == MODEL_URL
    assert CATALOG[DEFAULT_ONNX_MODEL].engine == "onnx"
    assert [e.name for e in CATALOG.values() if e.default] == [DEFAULT_CLASSIFIER_MODEL,
                                                               DEFAULT_ONNX_MODEL]
    assert CATALOG["nasnet"].file_name == "nasnet.zip"
    assert CATALOG["repvit_m1_0"].file_name == "repvit_m1_0.onnx"


def test_names_are_read_as_photoprism_reads_them() -> None:
    assert find_entry("RepViT-M1.0") is CATALOG["repvit_m1_0"]
    assert find_entry(" NASNET ") is CATALOG["nasnet"]
    assert find_entry("resnet50") is None


def test_entry_for_url_ignores_the_query_only() -> None:
    assert entry_for_url(MODEL_URL) is CATALOG["nasnet"]
    assert entry_for_url(MODEL_URL + "?20260101") is CATALOG["nasnet"]
    assert entry_for_url("HTTPS://DL.PHOTOPRISM.APP/tensorflow/nasnet.zip") is CATALOG["nasnet"]
    assert entry_for_url("https://dl.photoprism.app/tensorflow/nsfw.zip") is None
    assert entry_for_url("http://127.0.0.1:8000/tensorflow/nasnet.zip") is None


def test_locations_and_mirror_variables(tmp_path: Path) -> None:
    entry = CATALOG["efficientformerv2_s1"]
    assert model_location(entry, {"XMPVISION_MODELS": str(tmp_path)}) == tmp_path / entry.name
    xdg = {"XDG_DATA_HOME": str(tmp_path)}
    assert models_root(xdg) == tmp_path / "xmpvision" / "models"
    assert source_url(entry, {}) == entry.url
    assert source_url(entry, {"XMPVISION_EFFICIENTFORMERV2_S1_URL": "http://m/x"}) == "http://m/x"
    assert CATALOG["nasnet"].url_env == ENV_MODEL_URL == "XMPVISION_NASNET_URL"
