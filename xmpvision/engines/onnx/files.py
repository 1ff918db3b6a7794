"""Where an ONNX model's files are, and the photo size it needs, from vision.yml alone.

- The model's directory: `Path` (a directory, or the `.onnx` file itself, whose folder it then
  is), else `<models root>/<Model>` as for the TensorFlow classifier (`$XMPVISION_MODELS`, else
  `$XDG_DATA_HOME/xmpvision/models`).
- The model: `ONNX.File`, else `Path` when it names a `.onnx` file, else `model.onnx`;
  a relative File is inside the model's directory.
- The class names: `LabelFile`, else `labels.txt`; relative ones inside the model's directory.
  PhotoPrism publishes its ONNX models without class names and points them at NASNet's
  ImageNet list (`LabelFile: ../nasnet/labels.txt`): without a LabelFile and a labels.txt of
  its own, a model in the models root uses `<models root>/nasnet/labels.txt` likewise.

Needs neither numpy nor ONNX Runtime.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from xmpvision.config.defaults import (
    DEFAULT_CLASSIFIER_MODEL,
    DEFAULT_CROP_RATIO,
    DEFAULT_LABEL_FILE,
    DEFAULT_ONNX_FILE,
    DEFAULT_ONNX_MODEL,
    DEFAULT_RESIZE_MODE,
)
from xmpvision.config.models import ModelConfig
from xmpvision.engines.classifier.files import resolve_in

# One models root for every local classifier; install.py defines it.
from xmpvision.engines.tensorflow.install import models_root


def _given_file(config: ModelConfig) -> Path | None:
    if config.path and Path(config.path).suffix.lower() == ".onnx":
        return Path(config.path).expanduser()
    return None


def model_name(config: ModelConfig) -> str:
    return (config.model or config.name or "").strip() or DEFAULT_ONNX_MODEL


def model_home(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    """The directory relative File and LabelFile values are resolved in."""
    given = _given_file(config)
    if given is not None:
        return given.parent
    if config.path:
        return Path(config.path).expanduser()
    # Only the last path component: a model name must not steer us outside the models root.
    name = Path(model_name(config)).name or DEFAULT_ONNX_MODEL
    return models_root(os.environ if env is None else env) / name


def model_file(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    given = _given_file(config)
    file = config.onnx.file if config.onnx else None
    if given is not None and not (file and file.strip()):
        return given
    return resolve_in(model_home(config, env), file, DEFAULT_ONNX_FILE)


def label_file(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    own = resolve_in(model_home(config, env), config.label_file, DEFAULT_LABEL_FILE)
    if config.label_file or config.path or own.exists():
        return own
    imagenet = models_root(os.environ if env is None else env) / DEFAULT_CLASSIFIER_MODEL
    shared = imagenet / DEFAULT_LABEL_FILE
    return shared if shared.exists() else own


def decode_size(config: ModelConfig) -> int:
    """The shortest side the photo is prepared at, from the configured input size (the
    engine asks for the size the loaded model needs; this is what `vision ls` shows)."""
    given = config.onnx.input if config.onnx and config.onnx.input else None
    side = max((given.width or 0, given.height or 0)) if given else 0
    side = side or config.image_size
    resize = given.resize if given else None
    if ((resize and resize.mode) or DEFAULT_RESIZE_MODE) != "center-crop":
        return side
    if resize and resize.short_edge:
        return max(resize.short_edge, side)
    ratio = (resize.crop_ratio if resize else None) or DEFAULT_CROP_RATIO
    return int(-(-side // ratio))
