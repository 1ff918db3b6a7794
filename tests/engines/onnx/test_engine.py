"""The ONNX classifier engine, against tiny real models built with the `onnx` helper API and
run by ONNX Runtime. Skipped when onnx or onnxruntime is not installed (the small install)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from PIL import Image  # noqa: E402

from tests.engines.asking import labels_of  # noqa: E402
from tests.engines.classifier_helpers import classify_concurrently  # noqa: E402
from tests.engines.onnx.model_builder import build_onnx_model  # noqa: E402
from xmpvision.config.models import ModelConfig, Thresholds  # noqa: E402
from xmpvision.engines import create_engine  # noqa: E402
from xmpvision.engines import describe as describe_model  # noqa: E402
from xmpvision.engines.classifier.batcher import MicroBatcher  # noqa: E402
from xmpvision.engines.onnx import engine as onnx_engine  # noqa: E402
from xmpvision.engines.onnx.engine import OnnxEngine  # noqa: E402
from xmpvision.engines.onnx.files import label_file, model_file  # noqa: E402
from xmpvision.errors import EngineError, EngineUnavailable  # noqa: E402
from xmpvision.prepare.images import PhotoImage  # noqa: E402

CLASSES = [
    "background",
    "tabby, tabby cat",
    "sports car, sport car",
    "web site, website, internet site, site",
]
RED, GREEN, BLUE, GREY = (255, 0, 0), (0, 255, 0), (0, 0, 255), (60, 60, 60)
# Red -> tabby (a cat), blue -> sports car, green -> web site (on the ignore list); the
# background bias wins on anything not clearly one colour.
BIAS = np.array([5.0, 0.0, 0.0, 0.0], np.float32)


def weights(gain: float = 12.0) -> Any:
    w = np.zeros((3, len(CLASSES)), np.float32)
    w[0, 1] = w[2, 2] = w[1, 3] = gain
    return w


def _config(path: Path | str | None, **kw: Any) -> ModelConfig:
    return ModelConfig(type="labels", engine="onnx", model="colours",
                       path=str(path) if path else None, **kw)


def _names(labels: list[Any]) -> list[str]:
    return [label.name for label in labels]


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> Image.Image:
    return Image.new("RGB", size, color)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("onnx") / "colours"
    build_onnx_model(directory / "model.onnx", CLASSES, weights(), BIAS)
    return directory


def test_red_is_a_cat_with_its_categories_and_onnx_provenance(model_dir: Path) -> None:
    engine = OnnxEngine(_config(model_dir), Thresholds())
    (cat,) = engine.classify(_solid(RED))
    assert (cat.name, cat.source, cat.engine, cat.model) == ("Cat", "onnx", "onnx", "colours")
    assert cat.categories == ("Animal", "Pet")  # from the rules table: Animal|Pet|Cat
    assert cat.priority == 5 and cat.confidence > 0.99
    assert _names(engine.classify(_solid(BLUE))) == ["Car"]
    assert engine.classify(_solid(GREEN)) == []  # web site is ignored
    assert engine.classify(_solid(GREY)) == []  # background wins
    assert engine.preprocess.layout == "NCHW"


def test_wide_photo_is_classified_on_three_crops(model_dir: Path) -> None:
    image = Image.new("RGB", (672, 224), GREY)
    image.paste(RED, (0, 0, 224, 224))
    image.paste(BLUE, (448, 0, 672, 224))
    engine = OnnxEngine(_config(model_dir), Thresholds())
    assert engine.classify(image.crop((224, 0, 448, 224))) == []
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}


def test_nhwc_layout_is_read_from_the_model(tmp_path: Path) -> None:
    build_onnx_model(tmp_path / "model.onnx", CLASSES, weights(), BIAS, layout="NHWC")
    engine = OnnxEngine(_config(tmp_path), Thresholds())
    assert _names(engine.classify(_solid(RED))) == ["Cat"]
    assert engine.preprocess.layout == "NHWC"


def test_color_order_bgr_swaps_channels(model_dir: Path) -> None:
    engine = OnnxEngine(_config(model_dir, ONNX={"Input": {"ColorOrder": "bgr"}}), Thresholds())
    assert _names(engine.classify(_solid(RED))) == ["Car"]  # red seen as blue


def test_normalization_mean_and_std_dev(model_dir: Path) -> None:
    # Mean 1 makes every channel <= 0: nothing beats the background any more.
    engine = OnnxEngine(_config(model_dir, ONNX={"Input": {"Normalization": {
        "Mean": [1.0], "StdDev": [1.0, 1.0, 1.0]}}}), Thresholds())
    assert engine.classify(_solid(RED)) == []


def test_logits_output_gets_a_softmax(tmp_path: Path) -> None:
    build_onnx_model(tmp_path / "model.onnx", CLASSES, weights(), BIAS, logits=True)
    raw = OnnxEngine(_config(tmp_path), Thresholds()).probabilities(_solid(RED))
    assert float(raw.max()) == pytest.approx(12.0)  # logits taken as probabilities
    engine = OnnxEngine(_config(tmp_path, ONNX={"Output": {"Logits": True}}), Thresholds())
    probabilities = engine.probabilities(_solid(RED))
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    assert _names(engine.classify(_solid(RED))) == ["Cat"]


@pytest.mark.parametrize("mode", ["stretch", "pad"])
def test_stretch_and_pad_give_one_input(model_dir: Path, mode: str) -> None:
    engine = OnnxEngine(_config(model_dir, ONNX={"Input": {"Resize": {"Mode": mode}}}),
                        Thresholds())
    assert engine.preprocess.inputs(_solid(RED)).shape == (1, 3, 224, 224)
    assert _names(engine.classify(_solid(RED))) == ["Cat"]


def test_crop_ratio_and_short_edge_set_the_decode_size(model_dir: Path) -> None:
    resize = {"CropRatio": 0.875, "Interpolation": "bicubic"}
    engine = OnnxEngine(_config(model_dir, ONNX={"Input": {"Resize": resize}}), Thresholds())
    assert engine.preprocess.decode_size == 256
    assert engine.preprocess.inputs(_solid(RED, (512, 256))).shape == (3, 3, 224, 224)
    engine = OnnxEngine(_config(model_dir, ONNX={"Input": {"Resize": {"ShortEdge": 300}}}),
                        Thresholds())
    assert engine.preprocess.decode_size == 300
    assert describe_model(_config(model_dir, ONNX={"Input": {"Resize": resize}})).resolution \
        == 256


def test_fixed_batch_model_runs_one_image_per_call(tmp_path: Path) -> None:
    build_onnx_model(tmp_path / "model.onnx", CLASSES, weights(), BIAS, batch=1)
    engine = OnnxEngine(_config(tmp_path), Thresholds())
    image = Image.new("RGB", (448, 224), RED)
    image.paste(BLUE, (224, 0, 448, 224))
    assert set(_names(engine.classify(image))) == {"Cat", "Car"}
    calls, images = engine.batch_stats()
    assert calls == images == 4  # the probe and three crops


def test_concurrent_workers_are_run_as_batches(model_dir: Path) -> None:
    engine = OnnxEngine(_config(model_dir), Thresholds(), max_wait=0.2)
    colours = [RED, BLUE] * 4
    photos = [_solid(colour, (224, 224)) for colour in colours]
    found = classify_concurrently(engine, photos, _names)
    assert found == [["Cat"], ["Car"]] * 4
    calls, images = engine.batch_stats()
    assert images == 1 + len(colours)
    assert calls < images - 2, (calls, images)  # photos shared calls


def test_labels_from_a_photo_on_disk(model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "red.jpg"
    _solid(RED, (1200, 800)).save(path)
    with PhotoImage(path) as photo:
        assert _names(labels_of(OnnxEngine(_config(model_dir), Thresholds()), photo)) == ["Cat"]


# --- files --------------------------------------------------------------------------------


def test_file_and_label_file_resolution(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    assert model_file(_config(directory), {}) == directory / "model.onnx"
    assert label_file(_config(directory), {}) == directory / "labels.txt"
    given = _config(directory, ONNX={"File": "net/x.onnx"}, LabelFile="names.txt")
    assert model_file(given, {}) == directory / "net" / "x.onnx"
    assert label_file(given, {}) == directory / "names.txt"
    # Path naming the .onnx file itself: its folder is the model's directory.
    assert model_file(_config(directory / "y.onnx"), {}) == directory / "y.onnx"
    assert label_file(_config(directory / "y.onnx"), {}) == directory / "labels.txt"
    # No Path: <models root>/<Model>; an absolute File stays as given.
    env = {"XMPVISION_MODELS": str(tmp_path / "root")}
    assert model_file(_config(None), env) == tmp_path / "root" / "colours" / "model.onnx"
    absolute = _config(None, ONNX={"File": str(tmp_path / "abs.onnx")})
    assert model_file(absolute, env) == tmp_path / "abs.onnx"


def test_label_file_elsewhere_is_used(tmp_path: Path) -> None:
    build_onnx_model(tmp_path / "model.onnx", CLASSES, weights(), BIAS,
                     labels=["background", "tiger cat", "convertible", "volcano"])
    (tmp_path / "other.txt").write_text("\n".join(CLASSES[1:]) + "\n")
    engine = OnnxEngine(_config(tmp_path, LabelFile="other.txt"), Thresholds())
    assert _names(engine.classify(_solid(RED))) == ["Cat"]  # background prepended, 3 lines


# --- failures -----------------------------------------------------------------------------


def test_missing_model_is_unavailable_with_where_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = OnnxEngine(_config(tmp_path / "nowhere"), Thresholds())
    with pytest.raises(EngineUnavailable) as info:
        engine.check_ready()
    assert str(tmp_path / "nowhere" / "model.onnx") in str(info.value)
    assert "ONNX.File" in info.value.with_hint()
    monkeypatch.setattr(onnx_engine, "load_session", lambda _: pytest.fail("loaded twice"))
    with pytest.raises(EngineUnavailable):
        engine.classify(_solid(RED))


def test_corrupt_model_and_wrong_width_and_label_mismatch(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.onnx").write_bytes(b"not a protobuf" * 10)
    with pytest.raises(EngineUnavailable, match=r"error loading onnx model .*bad"):
        OnnxEngine(_config(tmp_path / "bad"), Thresholds()).check_ready()
    build_onnx_model(tmp_path / "ok" / "model.onnx", CLASSES, weights(), BIAS)
    wide = _config(tmp_path / "ok", ONNX={"Input": {"Width": 256}})
    with pytest.raises(EngineUnavailable, match="Width is 256 but the model takes 224"):
        OnnxEngine(wide, Thresholds()).check_ready()
    (tmp_path / "ok" / "labels.txt").write_text("a\nb\n")
    with pytest.raises(EngineUnavailable, match="2 classes for a model with 4 outputs"):
        OnnxEngine(_config(tmp_path / "ok"), Thresholds()).check_ready()


def test_the_kind_declares_labels_only(model_dir: Path) -> None:
    # The composition refuses a caption entry of this engine before creating anything.
    info = OnnxEngine(_config(model_dir), Thresholds()).info
    assert info.abilities.answers == ("labels",)
    assert info.abilities.batches and not info.abilities.server


def test_without_onnxruntime_the_engine_says_how_to_install(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    info = describe_model(_config(model_dir))
    assert info.unavailable == "onnx engine: onnxruntime not installed"
    assert info.fix == "pip install 'xmpvision[onnx]'"
    with pytest.raises(EngineUnavailable) as raised:
        create_engine(_config(model_dir), Thresholds())
    assert "pip install 'xmpvision[onnx]'" in raised.value.with_hint()
    with pytest.raises(EngineUnavailable, match="ONNX Runtime is not installed"):
        OnnxEngine(_config(model_dir), Thresholds()).check_ready()


def test_describing_imports_neither_numpy_nor_onnxruntime() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['onnxruntime'] = None\n"
        "from xmpvision.config.models import ModelConfig\n"
        "from xmpvision.engines import describe\n"
        "info = describe(ModelConfig(type='labels', engine='onnx', Path='/m'))\n"
        "assert info.unavailable and 'numpy and onnxruntime' in info.unavailable, info\n"
        "assert info.endpoint == 'local /m/model.onnx', info\n"
        "assert info.source == 'onnx' and info.slots > 1, info\n"
        "loaded = [k for k, v in sys.modules.items() if v is not None]\n"
        "assert not [k for k in loaded if k.split('.')[0] in ('numpy', 'onnxruntime')], loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XMPVISION_CONFIG"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env,
                   cwd=Path(__file__).parent)


# --- the micro-batcher on its own -----------------------------------------------------------


def test_batcher_pads_a_fixed_batch_and_cuts_the_padding() -> None:
    seen: list[int] = []

    def run(batch: Any) -> Any:
        seen.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :2]

    batcher = MicroBatcher(run, engine="test", max_batch=8, max_wait=0, fixed_batch=4)
    images = np.arange(6 * 2, dtype=np.float32).reshape(6, 2)
    assert np.array_equal(batcher(images), images)
    assert seen == [4, 4]


def test_batcher_gives_every_caller_of_a_failed_batch_an_engine_error() -> None:
    def run(batch: Any) -> Any:
        raise RuntimeError("out of memory")

    batcher = MicroBatcher(run, engine="test", max_batch=8, max_wait=0)
    with pytest.raises(EngineError, match="test inference failed: RuntimeError: out of memory"):
        batcher(np.zeros((1, 2), np.float32))


def test_a_lone_caller_does_not_wait_for_company() -> None:
    batcher = MicroBatcher(lambda b: b, engine="test", max_batch=8, max_wait=2.0)
    started = time.monotonic()
    for _ in range(3):
        batcher(np.zeros((1, 2), np.float32))
    assert time.monotonic() - started < 1.0


def test_a_pulled_model_without_class_names_uses_nasnets(tmp_path: Path) -> None:
    # PhotoPrism publishes its ONNX models as a bare .onnx: the ImageNet names come from the
    # NASNet download beside it, as PhotoPrism's own `LabelFile: ../nasnet/labels.txt` does.
    env = {"XMPVISION_MODELS": str(tmp_path)}
    config = ModelConfig(type="labels", engine="onnx", model="efficientformerv2_s2")
    own = tmp_path / "efficientformerv2_s2" / "labels.txt"
    assert label_file(config, env) == own  # neither exists: the error names its own
    (tmp_path / "nasnet").mkdir()
    (tmp_path / "nasnet" / "labels.txt").write_text("tench\n")
    assert label_file(config, env) == tmp_path / "nasnet" / "labels.txt"
    own.parent.mkdir()
    own.write_text("cat\n")
    assert label_file(config, env) == own
    given = ModelConfig(type="labels", engine="onnx", model="efficientformerv2_s2",
                        label_file="mine.txt")
    assert label_file(given, env) == tmp_path / "efficientformerv2_s2" / "mine.txt"


def test_an_endless_or_huge_label_file_is_refused_not_read(model_dir: Path,
                                                           tmp_path: Path) -> None:
    config = _config(model_dir, label_file="/dev/zero")
    with pytest.raises(EngineUnavailable, match=r"labels /dev/zero: not a regular file"):
        OnnxEngine(config, Thresholds()).check_ready()
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as file:
        file.truncate(17 * 1024 * 1024)  # sparse: costs no disk
    with pytest.raises(EngineUnavailable, match=r"huge\.txt: larger than 16 MiB"):
        OnnxEngine(_config(model_dir, label_file=str(huge)), Thresholds()).check_ready()


def test_a_label_file_that_is_a_pipe_is_refused_not_waited_on(model_dir: Path,
                                                             tmp_path: Path) -> None:
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    config = _config(model_dir, label_file=str(fifo))
    with pytest.raises(EngineUnavailable, match=r"labels\.fifo: not a regular file"):
        OnnxEngine(config, Thresholds()).check_ready()
