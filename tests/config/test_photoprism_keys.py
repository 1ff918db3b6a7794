"""Every key PhotoPrism's loader reads or writes loads here: used, or accepted with a warning.

tests/config/photoprism/keys.json records PhotoPrism's vision.yml keys with their nesting (from
its config structs and its own testdata); the .yml files beside it have the key sets and shapes
of PhotoPrism's testdata files and documented examples, written for these tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import load_config
from xmpvision.config.models import VisionConfig, key_use, nested_section

HERE = Path(__file__).resolve().parent / "photoprism"
KEYS = json.loads((HERE / "keys.json").read_text(encoding="utf-8"))
FILES = sorted(HERE.glob("*.yml"))


def _recorded(keys: dict[str, object], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, below in keys.items():
        if key.startswith("_"):
            continue
        here = (*path, key.removesuffix("[]"))
        yield here
        if isinstance(below, dict):
            yield from _recorded(below, here)


def _field(section: type[BaseModel], key: str) -> tuple[str | None, type[BaseModel] | None]:
    """How xmpvision treats `key` of `section` ("used", "unused", "openai"), and its section."""
    for name, info in section.model_fields.items():
        if (info.alias or name) == key:
            return key_use(info) or "used", nested_section(info.annotation)
    return None, None


def _treatment(path: tuple[str, ...]) -> str | None:
    section: type[BaseModel] | None = VisionConfig
    use: str | None = None
    for key in path:
        if section is None:
            return use  # below a key accepted as a whole
        use, section = _field(section, key)
        if use is None:
            return None
        if use != "used":
            return use  # the key is warned about as a whole, with what it holds
    return use


@pytest.mark.parametrize("path", list(_recorded(KEYS)), ids=".".join)
def test_every_photoprism_key_is_used_or_warned(path: tuple[str, ...]) -> None:
    assert _treatment(path) in ("used", "unused", "openai"), (
        f"PhotoPrism key {'.'.join(path)} is neither implemented nor warned about")


def test_the_key_walk_tells_known_from_unknown_keys() -> None:
    assert _treatment(("Models", "TensorFlow", "Input", "Width")) == "used"
    assert _treatment(("Models", "TensorFlow", "Tags")) == "unused"
    assert _treatment(("Models", "NoSuchKey")) is None
    assert _treatment(("Models", "ONNX", "Input", "Widht")) is None


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    monkeypatch.delenv("XMPVISION_CONFIG", raising=False)
    return tmp_path


@pytest.mark.parametrize("name", [f.name for f in FILES])
def test_photoprism_files_load_and_warn_once(name: str, state_home: Path) -> None:
    config = state_home / name
    shutil.copy(HERE / name, config)
    runner = CliRunner()
    first = runner.invoke(app, ["vision", "ls", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert f"config: {config}" in first.stdout
    warned = [line for line in first.stderr.splitlines() if "is not used by xmpvision" in line]
    again = runner.invoke(app, ["vision", "ls", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "is not used by xmpvision" not in again.stderr
    if warned:
        # An edit is a new file to warn about.
        config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        edited = runner.invoke(app, ["vision", "ls", "--config", str(config)])
        assert edited.stderr.count("is not used by xmpvision") == len(warned)


def test_quiet_never_warns(state_home: Path) -> None:
    config = state_home / "vision.yml"
    shutil.copy(HERE / "vision-save.yml", config)
    quiet = CliRunner().invoke(app, ["vision", "ls", "-q", "--config", str(config)])
    assert quiet.exit_code == 0 and "is not used" not in quiet.stderr
    # -q said nothing, so the first run without it still does.
    loud = CliRunner().invoke(app, ["vision", "ls", "--config", str(config)])
    assert "Models[0].TensorFlow: PhotoPrism key TensorFlow is not used" in loud.stderr


def test_ls_shows_what_photoprism_runs_that_xmpvision_does_not(state_home: Path) -> None:
    out = CliRunner().invoke(app, ["vision", "ls", "--config", str(HERE / "tensorflow-2025.yml")])
    assert ("PhotoPrism also runs, xmpvision does not: nsfw nsfw (Models[1]), "
            "face facenet (Models[2])") in out.stdout


def test_tensorflow_block_gives_input_size_and_scaling(state_home: Path) -> None:
    inception = load_config(HERE / "custom-tensorflow.yml").config.models[0]
    assert (inception.engine, inception.model, inception.resolution) == (
        "tensorflow", "inception", 299)
    saved = load_config(HERE / "tensorflow-2025.yml").config.models[0]
    assert saved.engine == "tensorflow" and saved.default


def test_tensorflow_intervals_become_normalization(state_home: Path, tmp_path: Path) -> None:
    config = tmp_path / "v.yml"
    config.write_text(
        "Models:\n- Type: labels\n  Name: mine\n  Path: /models/mine\n  TensorFlow:\n"
        "    Input: {Width: 256, Intervals: [{Start: -1, End: 1}]}\n", encoding="utf-8")
    mine = load_config(config).config.models[0]
    assert mine.engine == "tensorflow" and mine.resolution == 256
    assert mine.normalization is not None
    assert (mine.normalization.mean, mine.normalization.std_dev) == ([0.5], [0.5])


def test_photoprism_normalization_on_the_255_scale(state_home: Path) -> None:
    onnx_default = load_config(HERE / "default-2026.yml").config.models[1]
    assert onnx_default.onnx is not None and onnx_default.onnx.input is not None
    normalization = onnx_default.onnx.input.normalization
    assert normalization is not None and normalization.mean is not None
    assert normalization.mean == pytest.approx([100 / 255, 110 / 255, 120 / 255])
    onnx = load_config(HERE / "onnx.yml").config.models[0]
    assert onnx.onnx is not None and onnx.onnx.input is not None
    assert onnx.onnx.input.normalization is not None
    assert onnx.onnx.input.normalization.mean == [0.485, 0.456, 0.406]  # 0..1 as written


def test_service_model_is_the_name_sent(state_home: Path) -> None:
    caption = load_config(HERE / "ollama.yml").config.models[1]
    assert caption.model == "gemma3:4b"  # Service.Model, not Name gemma3 / Version 12b


def test_built_in_models_ask_the_users_ollama(state_home: Path) -> None:
    models = load_config(HERE / "ollama.yml").config.models
    (title,) = [m for m in models if m.type == "title"]
    assert title.service.uri == "http://gpu.lan:11434/api/generate"
    saved = load_config(HERE / "vision-save.yml").config.models
    (caption,) = [m for m in saved if m.type == "caption"]
    assert caption.default and caption.service.uri == "http://ollama:11434/api/generate"
