"""The TensorFlow engine beyond PhotoPrism's NASNet: Keras applications by name (built untrained,
so nothing is downloaded), `.keras` and `.tflite` files by Path with a LabelFile, and photos of
concurrent workers run as batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
tf = pytest.importorskip("tensorflow")

from PIL import Image  # noqa: E402

from tests.engines.classifier_helpers import classify_concurrently  # noqa: E402
from tests.engines.tensorflow.model_builder import (  # noqa: E402
    build_photoprism_model,
    build_tf2_model,
    color_weights,
)
from tests.engines.tensorflow.test_engine import BIAS, BLUE, CLASSES, COLORS, RED  # noqa: E402
from xmpvision.config.models import ModelConfig, Thresholds  # noqa: E402
from xmpvision.engines import describe  # noqa: E402
from xmpvision.engines.tensorflow.engine import TensorFlowEngine  # noqa: E402
from xmpvision.errors import EngineUnavailable  # noqa: E402

TABBY = 281  # ImageNet's index of "tabby, tabby cat"


def _names(labels: list[Any]) -> list[str]:
    return [label.name for label in labels]


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (224, 224)) -> Image.Image:
    return Image.new("RGB", size, color)


def _config(**kw: Any) -> ModelConfig:
    return ModelConfig(type="labels", engine="tensorflow", **kw)


def _engine(config: ModelConfig, tmp_path: Path, **kw: Any) -> TensorFlowEngine:
    env = {"XMPVISION_MODELS": str(tmp_path / "models"), "XMPVISION_NO_DOWNLOAD": "1"}
    return TensorFlowEngine(config, Thresholds(), env=env, **kw)


def test_keras_application_by_name_end_to_end(tmp_path: Path) -> None:
    names = [f"n{i:08d} thing {i}" for i in range(1000)]
    names[TABBY] = "n02123045 tabby, tabby cat"
    (tmp_path / "imagenet.txt").write_text("\n".join(names) + "\n")
    config = _config(Model="mobilenetv3-small", LabelFile=str(tmp_path / "imagenet.txt"))
    info = describe(config)
    assert info.endpoint == "local keras.applications.MobileNetV3Small"
    assert info.resolution == 224
    engine = _engine(config, tmp_path, keras_weights=None)
    engine.check_ready()
    assert engine.input_size == 224
    # The application has its own preprocessing: it is fed 0..255.
    batch = engine._load().preprocess.inputs(_solid((255, 128, 0)))
    assert batch.shape == (1, 224, 224, 3) and float(batch.max()) == pytest.approx(255.0)
    # Untrained weights know nothing; make the head's bias pick "tabby" whatever the photo,
    # which checks the loaded function, the class names and the rules end to end.
    model: Any = engine._load().classifier.keepalive
    head = model.get_layer("logits")
    kernel, bias = head.get_weights()
    bias = np.zeros_like(bias)
    bias[TABBY] = 30.0
    head.set_weights([np.zeros_like(kernel), bias])
    (cat,) = engine.classify(_solid(BLUE))
    assert (cat.name, cat.source, cat.engine, cat.model) == ("Cat", "image", "tensorflow",
                                                             "mobilenetv3-small")
    assert cat.categories == ("Animal", "Pet")


def test_keras_application_weights_need_a_download_when_downloads_are_off(
    tmp_path: Path,
) -> None:
    engine = _engine(_config(Model="efficientnetv2-b0"), tmp_path)
    with pytest.raises(EngineUnavailable) as info:
        engine.check_ready()
    assert "efficientnetv2-b0.h5" in info.value.with_hint()
    assert str(tmp_path / "models" / "keras" / "models") in str(info.value)


def _keras_colour_model(path: Path) -> Path:
    import keras

    inputs = keras.Input((224, 224, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(len(CLASSES), activation="softmax")
    model = keras.Model(inputs, dense(pooled))
    dense.set_weights([color_weights(CLASSES, COLORS), BIAS])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    return path


def test_keras_file_with_label_file_and_normalization(tmp_path: Path) -> None:
    model = _keras_colour_model(tmp_path / "m" / "colours.keras")
    (tmp_path / "m" / "names.txt").write_text("\n".join(CLASSES) + "\n")
    config = _config(Model="colours", Path=str(model), LabelFile="names.txt")
    engine = _engine(config, tmp_path)
    assert _names(engine.classify(_solid(RED))) == ["Cat"]
    assert _names(engine.classify(_solid(BLUE))) == ["Car"]
    # Normalization: Mean 1 leaves every channel <= 0, so the background wins.
    dark = _engine(_config(Path=str(model), LabelFile="names.txt",
                           Normalization={"Mean": [1.0], "StdDev": [1.0]}), tmp_path)
    assert dark.classify(_solid(RED)) == []


def test_tflite_file_converted_here(tmp_path: Path) -> None:
    saved = build_tf2_model(tmp_path / "saved", CLASSES, color_weights(CLASSES, COLORS), BIAS)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    lite = tmp_path / "lite" / "colours.tflite"
    lite.parent.mkdir()
    lite.write_bytes(converter.convert())
    (lite.parent / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    engine = _engine(_config(Path=str(lite)), tmp_path)
    image = Image.new("RGB", (448, 224), RED)
    image.paste(BLUE, (224, 0, 448, 224))
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}
    assert _names(engine.classify(_solid(RED))) == ["Cat"]


def test_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    engine = _engine(_config(Path=str(tmp_path / "none.tflite")), tmp_path)
    with pytest.raises(EngineUnavailable, match=r"none\.tflite: file not found"):
        engine.check_ready()


def test_concurrent_workers_share_batches(tmp_path: Path) -> None:
    model = build_photoprism_model(tmp_path / "nasnet", CLASSES,
                                   color_weights(CLASSES, COLORS), BIAS)
    engine = _engine(_config(Path=str(model)), tmp_path, max_wait=0.2)
    colours = [RED, BLUE] * 4
    found = classify_concurrently(engine, [_solid(colour) for colour in colours], _names)
    assert found == [["Cat"], ["Car"]] * 4
    calls, images = engine.batch_stats()
    assert images == 1 + len(colours) and calls < images - 2, (calls, images)


def test_fixed_batch_graph_gets_one_image_per_call(tmp_path: Path) -> None:
    model = build_photoprism_model(tmp_path / "nasnet", CLASSES,
                                   color_weights(CLASSES, COLORS), BIAS, batch_size=1)
    engine = _engine(_config(Path=str(model)), tmp_path, max_wait=0.2)
    image = Image.new("RGB", (448, 224), RED)
    image.paste(BLUE, (224, 0, 448, 224))
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}
    assert engine.batch_stats() == (4, 4)  # the probe and three crops, one call each


@pytest.mark.parametrize("form", ["tflite", "keras", "nasnet"])
def test_scan_with_a_model_file_writes_categories_that_exiftool_and_exiv2_read(
        tmp_path: Path, form: str) -> None:
    from typer.testing import CliRunner

    from tests.library_builder import as_list, jpeg_bytes, parse_ndjson, write
    from tests.sidecar.sidecar_helpers import exiftool_json, exiv2_xmp
    from xmpvision.cli import app

    if form == "tflite":
        saved = build_tf2_model(tmp_path / "saved", CLASSES, color_weights(CLASSES, COLORS),
                                BIAS)
        model = tmp_path / "m" / "colours.tflite"
        model.parent.mkdir()
        model.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert())
        (model.parent / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    elif form == "keras":
        model = _keras_colour_model(tmp_path / "m" / "colours.keras")
        (model.parent / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    else:
        model = build_photoprism_model(tmp_path / "nasnet", CLASSES,
                                       color_weights(CLASSES, COLORS), BIAS)
    red = write(tmp_path / "photos" / "red.jpg", jpeg_bytes((640, 480), (250, 10, 10)))
    blue = write(tmp_path / "photos" / "blue.jpg", jpeg_bytes((480, 640), (10, 10, 250)))
    config = tmp_path / "vision.yml"
    config.write_text("Models:\n"
                      f"  - Type: labels\n    Engine: tensorflow\n    Path: {model}\n"
                      "  - Type: caption\n    Default: true\n    Disabled: true\n")
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--config",
                                      str(config), "--state", str(tmp_path / "state.db")])
    assert result.exit_code == 0, result.output
    assert parse_ndjson(result.stdout).summary["done"] == 2
    red_xmp, blue_xmp = Path(f"{red}.xmp"), Path(f"{blue}.xmp")
    red_tool, blue_tool = exiftool_json([red_xmp, blue_xmp])
    assert as_list(red_tool["XMP-dc:Subject"]) == ["Cat"]
    assert as_list(red_tool["XMP-lr:HierarchicalSubject"]) == ["Animal|Pet|Cat"]
    assert as_list(blue_tool["XMP-lr:HierarchicalSubject"]) == ["Vehicle|Car"]
    assert exiv2_xmp(red_xmp)["Xmp.lr.hierarchicalSubject"] == ["Animal|Pet|Cat"]
    assert exiv2_xmp(blue_xmp)["Xmp.dc.subject"] == ["Car"]
