"""The TensorFlow classifier engine, against tiny real models built in PhotoPrism's layout.

Tests that need TensorFlow take the `photoprism_model` fixture (or call `_needs_tf()`) and
are skipped when it is not installed; the rest (rules, downloads, archives) run anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.download_server import DownloadServer, Route
from tests.engines.asking import labels_of
from tests.engines.tensorflow.model_builder import (
    build_photoprism_model,
    build_tf2_model,
    color_weights,
    zip_directory,
)
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.classifier.crops import square_crops
from xmpvision.engines.classifier.labels import labels_from_probabilities
from xmpvision.engines.tensorflow import engine as tfe
from xmpvision.engines.tensorflow import loader
from xmpvision.engines.tensorflow.engine import TensorFlowEngine
from xmpvision.engines.tensorflow.install import (
    ENV_MODEL_URL,
    ENV_MODELS,
    ENV_NO_DOWNLOAD,
    UnsafeArchive,
    download_model,
    model_dir,
    resolve_model_dir,
    safe_extract,
)
from xmpvision.errors import EngineUnavailable
from xmpvision.prepare.images import PhotoImage


def _classify(probabilities: Any, names: Any, **options: Any) -> list[Any]:
    settings: dict[str, Any] = {"model": "nasnet", "engine": "tensorflow", "source": "image",
                                "confidence_threshold": 10,
                                "topicality_threshold": 0, "max_labels": 5, "mode": "phrase",
                                **options}
    return labels_from_probabilities(probabilities, names, **settings)


CLASSES = [
    "background",
    "tabby, tabby cat",
    "sports car, sport car",
    "web site, website, internet site, site",
    "tiger cat",
    "volcano",
    "daisy",
]
# Red -> tabby (a cat), blue -> sports car, green -> web site (on the ignore list).
COLORS = {
    "tabby, tabby cat": "r",
    "sports car, sport car": "b",
    "web site, website, internet site, site": "g",
}

# "background" wins on anything that is not clearly red, green or blue, like a real
# classifier that is unsure; without it a grey image would be 1/7 of every class.
BIAS = np.array([5.0] + [0.0] * (len(CLASSES) - 1), np.float32)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)
GREY = (128, 128, 128)


def _needs_tf() -> None:
    pytest.importorskip("tensorflow")


def _config(path: Path | None = None, **kw: Any) -> ModelConfig:
    return ModelConfig(type="labels", engine="tensorflow", path=str(path) if path else None, **kw)


def _engine(path: Path, **kw: Any) -> TensorFlowEngine:
    return TensorFlowEngine(_config(path), Thresholds(), env={ENV_NO_DOWNLOAD: "1"}, **kw)


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (224, 224)) -> Image.Image:
    return Image.new("RGB", size, color)


def _names(labels: list[Any]) -> list[str]:
    return [label.name for label in labels]


@pytest.fixture(scope="module")
def photoprism_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _needs_tf()
    directory = tmp_path_factory.mktemp("models") / "nasnet"
    # labels.txt without "background": the 1001-outputs / 1000-lines layout of the real model.
    return build_photoprism_model(
        directory, CLASSES, color_weights(CLASSES, COLORS), BIAS, labels=CLASSES[1:]
    )


@pytest.fixture(scope="module")
def engine(photoprism_model: Path) -> Iterator[TensorFlowEngine]:
    engine = _engine(photoprism_model)
    engine.check_ready()
    yield engine
    engine.close()


# --- loading and classifying with real TensorFlow --------------------------------------------


def test_classifies_red_as_cat_and_blue_as_car(engine: TensorFlowEngine) -> None:
    red = engine.classify(_solid(RED))
    blue = engine.classify(_solid(BLUE))
    assert _names(red) == ["Cat"]
    assert _names(blue) == ["Car"]  # "sports car" is renamed by the rules table
    cat = red[0]
    assert (cat.source, cat.engine, cat.model) == ("image", "tensorflow", "nasnet")
    assert cat.confidence > 0.99 and cat.topicality == cat.confidence
    assert cat.priority == 5  # from the rules table, not from topicality
    assert engine.input_size == 224


def test_background_prepended_when_labels_has_one_line_less(engine: TensorFlowEngine) -> None:
    probabilities = engine.probabilities(_solid(RED))
    assert probabilities.shape == (len(CLASSES),)
    # Index 1 is tabby only if "background" was inserted in front of labels.txt's lines.
    assert int(np.argmax(probabilities)) == 1


def test_ignored_class_gives_no_label(engine: TensorFlowEngine) -> None:
    assert engine.classify(_solid(GREEN)) == []


def test_wide_image_is_classified_on_three_crops(engine: TensorFlowEngine) -> None:
    # Red on the left, grey in the middle, blue on the right: a centre crop alone sees grey.
    image = Image.new("RGB", (672, 224), GREY)
    image.paste(RED, (0, 0, 224, 224))
    image.paste(BLUE, (448, 0, 672, 224))
    assert engine.classify(image.crop((224, 0, 448, 224))) == []
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}


def test_tall_image_is_classified_on_three_crops(engine: TensorFlowEngine) -> None:
    image = Image.new("RGB", (200, 600), GREY)
    image.paste(BLUE, (0, 0, 200, 200))
    image.paste(RED, (0, 400, 200, 600))
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}


def test_labels_from_a_photo_on_disk(engine: TensorFlowEngine, tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    _solid(RED, (600, 400)).save(path)
    with PhotoImage(path) as photo:
        assert _names(labels_of(engine, photo)) == ["Cat"]


def test_the_kind_declares_labels_only(engine: TensorFlowEngine) -> None:
    # The composition refuses a caption entry of this engine before creating anything.
    assert engine.info.abilities.answers == ("labels",)
    assert engine.info.abilities.batches and not engine.info.abilities.server


def test_global_threshold_applies(photoprism_model: Path) -> None:
    # A purple-ish image splits between cat and car; a 60% threshold keeps neither.
    purple = _solid((255, 0, 255))
    loose = TensorFlowEngine(_config(photoprism_model), Thresholds(confidence=10), env={})
    strict = TensorFlowEngine(_config(photoprism_model), Thresholds(confidence=60), env={})
    assert set(_names(loose.classify(purple))) == {"Cat", "Car"}
    assert strict.classify(purple) == []


def test_fixed_batch_model_runs_each_crop(tmp_path: Path) -> None:
    _needs_tf()
    model = build_photoprism_model(
        tmp_path / "nasnet", CLASSES, color_weights(CLASSES, COLORS), BIAS, batch_size=1
    )
    engine = _engine(model)
    image = Image.new("RGB", (448, 224), RED)
    image.paste(BLUE, (224, 0, 448, 224))
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}


def test_tf2_saved_model_with_serving_signature(tmp_path: Path) -> None:
    _needs_tf()
    model = build_tf2_model(tmp_path / "nasnet", CLASSES, color_weights(CLASSES, COLORS), BIAS)
    engine = _engine(model)
    assert _names(engine.classify(_solid(RED))) == ["Cat"]


def test_model_loads_once_across_threads(
    photoprism_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = loader.load_classifier

    def counting(model_dir: Path, fallback_size: int) -> Any:
        calls.append(model_dir)
        return real(model_dir, fallback_size)

    monkeypatch.setattr(tfe, "load_classifier", counting)
    engine = _engine(photoprism_model)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work(color: tuple[int, int, int]) -> None:
        try:
            results.append(_names(engine.classify(_solid(color))))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in (RED, BLUE, RED, BLUE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1
    assert sorted(map(tuple, results)) == [("Car",), ("Car",), ("Cat",), ("Cat",)]


# --- failures -----------------------------------------------------------------------------------


def test_corrupt_model_is_unavailable_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_tf()
    model = tmp_path / "nasnet"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"\x08\x01this is not a protobuf" * 10)
    (model / "labels.txt").write_text("\n".join(CLASSES))
    engine = _engine(model)
    with pytest.raises(EngineUnavailable, match=r"error loading tensorflow model .*nasnet"):
        engine.check_ready()
    monkeypatch.setattr(tfe, "load_classifier", lambda *_: pytest.fail("loaded twice"))
    with pytest.raises(EngineUnavailable):
        engine.classify(_solid(RED))


def test_labels_file_mismatch_is_unavailable(tmp_path: Path) -> None:
    _needs_tf()
    model = build_photoprism_model(
        tmp_path / "nasnet", CLASSES, color_weights(CLASSES, COLORS), BIAS, labels=CLASSES[:3]
    )
    with pytest.raises(EngineUnavailable, match="3 classes for a model with 7 outputs"):
        _engine(model).check_ready()


def test_missing_model_with_download_disabled(tmp_path: Path) -> None:
    _needs_tf()
    env = {ENV_MODELS: str(tmp_path / "models"), ENV_NO_DOWNLOAD: "1"}
    engine = TensorFlowEngine(_config(), Thresholds(), env=env)
    with pytest.raises(EngineUnavailable) as info:
        engine.check_ready()
    message = info.value.with_hint()
    assert str(tmp_path / "models" / "nasnet") in message
    assert ENV_NO_DOWNLOAD in message and "nasnet.zip" in message
    assert not (tmp_path / "models").exists()


def test_without_tensorflow_the_engine_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` fail
    engine = TensorFlowEngine(_config(tmp_path), Thresholds(), env={})
    with pytest.raises(EngineUnavailable) as info:
        engine.check_ready()
    assert "pip install 'xmpvision[tensorflow]'" in info.value.with_hint()


def test_small_install_lists_and_refuses_the_classifier_without_importing_numpy() -> None:
    # As in the Ollama-only install: neither numpy nor TensorFlow can be imported.
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['tensorflow'] = None\n"
        "from xmpvision.config import load_config\n"
        "from xmpvision.listing import model_rows\n"
        "import xmpvision.cli\n"
        "rows = [r for r in model_rows(load_config().config) if r['engine'] == 'tensorflow']\n"
        "assert rows and not rows[0]['available'], rows\n"
        "assert \"pip install 'xmpvision[tensorflow]'\" in rows[0]['problem'], rows\n"
        "from xmpvision.engines import create_engine\n"
        "from xmpvision.config import Thresholds\n"
        "from xmpvision.errors import EngineUnavailable\n"
        "try:\n"
        "    create_engine(load_config().config.models[0], Thresholds())\n"
        "except EngineUnavailable as exc:\n"
        "    assert 'not installed' in str(exc) and exc.hint, exc\n"
        "else:\n"
        "    raise AssertionError('the classifier was created without numpy')\n"
        "loaded = [k for k, v in sys.modules.items() if v is not None]\n"
        "assert not [k for k in loaded if k.split('.')[0] in ('numpy', 'tensorflow')], loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XMPVISION_CONFIG"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env,
                   cwd=Path(__file__).parent)


# --- model location and download ------------------------------------------------------------


def test_model_dir_resolution(tmp_path: Path) -> None:
    assert resolve_model_dir(_config(tmp_path / "x"), {}) == tmp_path / "x"
    assert resolve_model_dir(_config(), {ENV_MODELS: str(tmp_path)}) == tmp_path / "nasnet"
    xdg = {"XDG_DATA_HOME": str(tmp_path)}
    assert resolve_model_dir(_config(), xdg) == tmp_path / "xmpvision" / "models" / "nasnet"
    assert model_dir(_config(tmp_path / "y")) == tmp_path / "y"
    # A model name is used as one path component only.
    assert resolve_model_dir(_config(model="../../etc"), xdg).parent == (
        tmp_path / "xmpvision" / "models"
    )


@pytest.fixture
def server() -> Iterator[DownloadServer]:
    srv = DownloadServer()
    yield srv
    srv.close()


def _zip(members: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_engine_downloads_missing_model(
    photoprism_model: Path, server: DownloadServer, tmp_path: Path
) -> None:
    server.routes["/nasnet.zip"] = Route(200, zip_directory(photoprism_model))
    root = tmp_path / "models"
    env = {ENV_MODELS: str(root), ENV_MODEL_URL: server.url("/nasnet.zip")}
    engine = TensorFlowEngine(_config(), Thresholds(), env=env)
    engine.check_ready()
    assert (root / "nasnet" / "saved_model.pb").is_file()
    assert (root / "nasnet" / "labels.txt").is_file()
    assert os.listdir(root) == ["nasnet"]  # the temporary download directory is gone
    assert _names(engine.classify(_solid(RED))) == ["Cat"]


def test_failed_download_is_unavailable_with_where_and_what(
    server: DownloadServer, tmp_path: Path
) -> None:
    _needs_tf()
    root = tmp_path / "models"
    url = server.url("/missing.zip")
    engine = TensorFlowEngine(
        _config(), Thresholds(), env={ENV_MODELS: str(root), ENV_MODEL_URL: url}
    )
    with pytest.raises(EngineUnavailable) as info:
        engine.check_ready()
    message = str(info.value)
    assert url in message and "HTTP 404" in message and str(root / "nasnet") in message
    assert "by hand" in (info.value.hint or "")
    assert os.listdir(root) == []


def test_download_rejects_non_zip(server: DownloadServer, tmp_path: Path) -> None:
    server.routes["/nasnet.zip"] = Route(200, b"<html>captive portal</html>")
    with pytest.raises(EngineUnavailable, match="did not send a zip"):
        download_model(server.url("/nasnet.zip"), tmp_path / "nasnet")
    assert not (tmp_path / "nasnet").exists()


def test_download_rejects_path_traversal(server: DownloadServer, tmp_path: Path) -> None:
    root = tmp_path / "models"
    server.routes["/nasnet.zip"] = Route(
        200,
        _zip({"nasnet/saved_model.pb": b"x", "nasnet/labels.txt": b"a", "../../evil.txt": b"!"}),
    )
    with pytest.raises(EngineUnavailable, match=r"unusable archive.*escapes"):
        download_model(server.url("/nasnet.zip"), root / "nasnet")
    assert not (root / "nasnet").exists()
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))


def test_download_size_cap(server: DownloadServer, tmp_path: Path) -> None:
    server.routes["/big.zip"] = Route(200, b"\0" * 5000)
    with pytest.raises(EngineUnavailable, match="larger than 1000 bytes"):
        download_model(server.url("/big.zip"), tmp_path / "nasnet", max_bytes=1000)


def test_download_unreachable_host(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) is closed here: a connect error, translated.
    with pytest.raises(EngineUnavailable, match="ConnectError"):
        download_model("http://127.0.0.1:9/nasnet.zip", tmp_path / "nasnet")


@pytest.mark.parametrize(
    "member",
    ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "C:/evil.txt", "a\\..\\..\\evil.txt"],
)
def test_safe_extract_rejects_escaping_names(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"ok.txt": b"ok", member: b"!"}))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []  # checked before anything is written


def test_safe_extract_rejects_symlinks(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("nasnet/link")
        info.external_attr = 0o120777 << 16  # S_IFLNK
        zf.writestr(info, "/etc/passwd")
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        safe_extract(archive, dest)


def test_safe_extract_extracts_nested_files(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"nasnet/variables/v.index": b"i", "nasnet/labels.txt": b"cat\n"}))
    dest = tmp_path / "out"
    dest.mkdir()
    safe_extract(archive, dest)
    assert (dest / "nasnet" / "variables" / "v.index").read_bytes() == b"i"
    assert (dest / "nasnet" / "labels.txt").read_text() == "cat\n"


# --- crops and the rules table, without TensorFlow ---------------------------------------------


def test_square_crops() -> None:
    square = square_crops(_solid(RED, (500, 500)), 224)
    assert [c.size for c in square] == [(224, 224)]
    wide = Image.new("RGB", (300, 100), GREY)
    wide.paste(RED, (0, 0, 100, 100))
    wide.paste(BLUE, (200, 0, 300, 100))
    centre, left, right = square_crops(wide, 50)
    assert [c.size for c in (centre, left, right)] == [(50, 50)] * 3
    assert centre.getpixel((25, 25)) == GREY
    assert left.getpixel((25, 25)) == RED
    assert right.getpixel((25, 25)) == BLUE


NAMES = [
    "background",
    "tabby, tabby cat",
    "tiger cat",
    "web site, website",
    "volcano",
    "sports car, sport car",
    "golden retriever",
    "seashore, coast, seacoast, sea-coast",
    "daisy",
    "Granny Smith",
    "n03888257 parachute, chute",
]


def _probs(**by_index: float) -> list[float]:
    out = [0.0] * len(NAMES)
    for key, value in by_index.items():
        out[int(key[1:])] = value
    return out


def test_rules_merge_classes_into_one_keyword() -> None:
    labels = _classify(_probs(i1=0.06, i2=0.07), NAMES)
    # Each cat class alone is below 10%, together they are 13% "cat".
    assert [(x.name, round(x.confidence, 2)) for x in labels] == [("Cat", 0.13)]
    # The rules' categories nest it in the hierarchical keyword fields (Animal|Pet|Cat).
    assert labels[0].categories == ("Animal", "Pet")


def test_rules_ignore_list_and_per_label_threshold() -> None:
    # Volcano needs 50% by its rule; web site is ignored whatever its score.
    assert _classify(_probs(i3=0.9, i4=0.45), NAMES) == []
    assert _names(_classify(_probs(i4=0.55), NAMES)) == ["Volcano"]


def test_global_threshold_and_unmapped_names() -> None:
    labels = _classify(_probs(i10=0.3, i8=0.09), NAMES)
    assert _names(labels) == ["Parachute"]  # first synonym, WordNet id dropped; daisy < 10%
    stricter = _classify(_probs(i10=0.3), NAMES, confidence_threshold=40)
    assert stricter == []


def test_top_five_by_probability_then_sorted_by_priority() -> None:
    probabilities = _probs(i1=0.11, i4=0.12, i5=0.13, i6=0.14, i7=0.15, i8=0.16, i9=0.17, i10=0.02)
    labels = _classify(probabilities, NAMES)
    # The five most probable survive (cat at 11% and volcano (rule 50%) do not) ...
    assert set(_names(labels)) == {"Car", "Dog", "Beach", "Flower", "Fruit"}
    # ... ranked by the rules' priority, then probability.
    assert _names(labels) == ["Dog", "Flower", "Car", "Fruit", "Beach"]
    assert [x.priority for x in labels] == [5, 3, 3, 2, 2]
    assert len(_classify(probabilities, NAMES, max_labels=2)) == 2


def test_engine_uses_max_labels_from_config(tmp_path: Path) -> None:
    engine = TensorFlowEngine(_config(tmp_path, max_labels=2), Thresholds(), env={})
    assert engine.max_labels == 2
    assert TensorFlowEngine(_config(tmp_path), Thresholds(), env={}).max_labels == 5
