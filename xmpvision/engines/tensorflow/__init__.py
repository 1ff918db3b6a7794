"""The TensorFlow classifier as the registry knows it.

Describing a model needs neither numpy nor TensorFlow (the small install has neither): whether
they are installed is looked up, not imported, and the engine module loads on first use.

What it runs, first match wins: a `Path` to a SavedModel directory, a `.keras` file or a
`.tflite` file; else a `Model` named in `KERAS_APPS` (a Keras application whose ImageNet
weights Keras downloads on first use into `<models root>/keras`); else the SavedModel at
`<models root>/<Model>` (PhotoPrism's NASNet by default; install.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xmpvision.config.defaults import ENGINE_DEFAULTS, ColorOrder
from xmpvision.engines.base import ModuleKind
from xmpvision.engines.classifier.kind import local_info, missing

if TYPE_CHECKING:
    from xmpvision.config.models import ModelConfig
    from xmpvision.engines.base import EngineInfo

ENGINE = "tensorflow"
SOURCE = ENGINE_DEFAULTS[ENGINE].source
INSTALL_HINT = "pip install 'xmpvision[tensorflow]'"
PACKAGES = ("numpy", "tensorflow")
MODEL_FILES = (".keras", ".tflite")  # a Path ending so is a model file, not a directory


@dataclass(frozen=True)
class KerasApp:
    """A Keras application with ImageNet weights: its constructor in keras.applications, input
    side, and the scaling it expects (Mean/StdDev on pixels scaled to 0..1)."""

    constructor: str
    size: int
    weights_file: str  # the file Keras caches it as, under <models root>/keras/models
    mean: tuple[float, ...] = (0.0,)
    std_dev: tuple[float, ...] = (1 / 255,)  # 0..255: the model has its own preprocessing
    color_order: ColorOrder = "RGB"


_CAFFE_MEAN = (103.939 / 255, 116.779 / 255, 123.68 / 255)  # ResNet's BGR ImageNet means

KERAS_APPS: dict[str, KerasApp] = {
    "efficientnetv2-b0": KerasApp("EfficientNetV2B0", 224, "efficientnetv2-b0.h5"),
    "efficientnetv2-s": KerasApp("EfficientNetV2S", 384, "efficientnetv2-s.h5"),
    "mobilenetv3-large": KerasApp("MobileNetV3Large", 224,
                                  "weights_mobilenet_v3_large_224_1.0_float.h5"),
    "mobilenetv3-small": KerasApp("MobileNetV3Small", 224,
                                  "weights_mobilenet_v3_small_224_1.0_float.h5"),
    "mobilenetv2": KerasApp("MobileNetV2", 224,
                            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                            mean=(0.5,), std_dev=(0.5,)),
    "resnet50": KerasApp("ResNet50", 224, "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                         mean=_CAFFE_MEAN, std_dev=(1 / 255,), color_order="BGR"),
}


def keras_app(model: ModelConfig) -> KerasApp | None:
    """The Keras application the entry names, unless a Path says what to load."""
    if model.path:
        return None
    return KERAS_APPS.get((model.model or model.name or "").strip().lower())


def missing_packages() -> list[str]:
    """The packages the classifier needs that this install lacks."""
    return missing(PACKAGES)


def _endpoint(model: ModelConfig) -> str:
    from xmpvision.engines.tensorflow.install import model_dir

    app = keras_app(model)
    if app is not None:
        return f"local keras.applications.{app.constructor}"
    return f"local {model_dir(model)}"


def describe(model: ModelConfig) -> EngineInfo:
    app = keras_app(model)
    resolution = app.size if app is not None and not model.resolution else model.image_size
    return local_info(ENGINE, SOURCE, _endpoint(model), resolution, PACKAGES, INSTALL_HINT)


def model_file(model: ModelConfig) -> Path | None:
    """The `.keras` or `.tflite` file `Path` names, if it names one."""
    if model.path and Path(model.path).suffix.lower() in MODEL_FILES:
        return Path(model.path).expanduser()
    return None


KIND = ModuleKind(ENGINE, describe, "xmpvision.engines.tensorflow.engine", "TensorFlowEngine")
