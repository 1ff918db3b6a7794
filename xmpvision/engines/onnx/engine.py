"""The ONNX classifier: an ImageNet-style model run by ONNX Runtime on the CPU (Engine onnx).

What it reads from vision.yml (PhotoPrism 2026's `ONNX` block; files: files.py):
- `ONNX.Input`: `Width`/`Height` (else the model's own input size, else `Resolution`),
  `Layout` NCHW|NHWC (else what the model's input shape shows, else NCHW), `ColorOrder`
  RGB|BGR, `Normalization` {`Mean`, `StdDev`} on pixels scaled to 0..1, `Resize` {`Mode`
  center-crop|stretch|pad, `ShortEdge`, `CropRatio`, `Interpolation`};
- `ONNX.Output.Logits`: true when the model's output is logits (softmax is applied here);
- `LabelFile`: one class name per output, mapped to keywords through the same rules table as
  the TensorFlow classifier.

In center-crop mode a photo whose aspect differs from the input's is classified on three crops
(centre and both ends) and each class keeps its best score, as the TensorFlow classifier does.
Photos from several workers are run as one batch (classifier/batcher.py) when the model's batch
dimension is free; a model fixed to batch 1 gets one image per call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from xmpvision.config.defaults import (
    CLASSIFIER_BATCH_WAIT,
    CLASSIFIER_MAX_BATCH,
    DEFAULT_COLOR_ORDER,
    DEFAULT_CROP_RATIO,
    DEFAULT_INTERPOLATION,
    DEFAULT_NORMALIZATION_MEAN,
    DEFAULT_NORMALIZATION_STD_DEV,
    DEFAULT_ONNX_LAYOUT,
    DEFAULT_RESIZE_MODE,
    ClassifierLayout,
)
from xmpvision.config.models import ModelConfig, OnnxInput, Thresholds
from xmpvision.engines.classifier.batcher import MicroBatcher
from xmpvision.engines.classifier.crops import RESAMPLING
from xmpvision.engines.classifier.engine import Loaded, LocalClassifier
from xmpvision.engines.classifier.labels import (
    FloatArray,
    read_class_names,
    softmax,
)
from xmpvision.engines.classifier.preprocess import Preprocess
from xmpvision.engines.onnx import ENGINE, SOURCE, describe
from xmpvision.engines.onnx.files import label_file, model_file, model_name
from xmpvision.engines.onnx.runtime import Session, load_session
from xmpvision.errors import EngineError, EngineUnavailable

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def _layout(given: ClassifierLayout | None, dims: list[int | None]) -> ClassifierLayout:
    if given is not None:
        return given
    if dims[3] == 3 and dims[1] != 3:
        return "NHWC"
    if dims[1] == 3:
        return "NCHW"
    return DEFAULT_ONNX_LAYOUT


def _side(name: str, given: int | None, model: int | None, fallback: int) -> int:
    if given is not None and model is not None and given != model:
        raise ValueError(f"ONNX.Input.{name} is {given} but the model takes {model}")
    return given or model or fallback


def preprocess_for(config: OnnxInput | None, dims: list[int | None], fallback: int) -> Preprocess:
    """The input the model wants: vision.yml's ONNX.Input checked against the model's own
    input shape (N, C, H, W or N, H, W, C). ValueError when they disagree."""
    if len(dims) != 4:
        raise ValueError(f"expected a 4-dimensional image input, the model has {dims}")
    given = config or OnnxInput()
    layout = _layout(given.layout, dims)
    channel, height, width = (dims[1], dims[2], dims[3]) if layout == "NCHW" else (
        dims[3], dims[1], dims[2])
    if channel not in (3, None):
        raise ValueError(f"expected 3 colour channels in {layout} layout, the model has {dims}")
    norm, resize = given.normalization, given.resize
    return Preprocess(
        width=_side("Width", given.width, width, fallback),
        height=_side("Height", given.height, height, fallback),
        layout=layout,
        color_order=given.color_order or DEFAULT_COLOR_ORDER,
        mean=tuple(norm.mean) if norm and norm.mean else DEFAULT_NORMALIZATION_MEAN,
        std_dev=tuple(norm.std_dev) if norm and norm.std_dev else DEFAULT_NORMALIZATION_STD_DEV,
        mode=(resize.mode if resize else None) or DEFAULT_RESIZE_MODE,
        short_edge=resize.short_edge if resize else None,
        crop_ratio=(resize.crop_ratio if resize else None) or DEFAULT_CROP_RATIO,
        resample=RESAMPLING[(resize.interpolation if resize else None) or DEFAULT_INTERPOLATION],
    )


@dataclass(frozen=True)
class _Ready(Loaded):
    session: Session


class OnnxEngine(LocalClassifier[_Ready]):
    """Labels from an ONNX image classifier; cannot caption (see LocalClassifier)."""

    ENGINE = ENGINE
    SOURCE = SOURCE

    def __init__(
        self,
        model: ModelConfig,
        thresholds: Thresholds | None = None,
        *,
        env: Mapping[str, str] | None = None,
        max_batch: int = CLASSIFIER_MAX_BATCH,
        max_wait: float = CLASSIFIER_BATCH_WAIT,
    ) -> None:
        super().__init__(model, thresholds, model_name(model), describe(model))
        env = os.environ if env is None else env
        self.model_file = model_file(model, env)
        self.label_file = label_file(model, env)
        self._max_batch = max_batch
        self._max_wait = max_wait

    def _fail(self, reason: str) -> EngineUnavailable:
        return EngineUnavailable(f"error loading onnx model {self.model_file}: {reason}",
                                 hint="check the ONNX block of this model in vision.yml")

    def _load_locked(self) -> _Ready:
        session = load_session(self.model_file)
        onnx = self.config.onnx
        try:
            preprocess = preprocess_for(onnx.input if onnx else None, session.input_dims,
                                        self.config.image_size)
        except ValueError as exc:
            raise self._fail(str(exc)) from exc
        logits = bool(onnx and onnx.output and onnx.output.logits)
        raw = session.run

        def run(batch: FloatArray) -> FloatArray:
            scores = raw(batch)
            return softmax(scores) if logits else scores

        fixed = session.input_dims[0]
        batcher = MicroBatcher(run, engine=ENGINE, max_batch=self._max_batch,
                               max_wait=self._max_wait, fixed_batch=fixed)
        probe = preprocess.inputs(Image.new("RGB", (preprocess.width, preprocess.height)))
        try:
            output = batcher(probe[:1])
        except EngineError as exc:
            raise self._fail(f"test inference failed: {exc}") from exc
        if not np.all(np.isfinite(output)):
            raise self._fail("test inference gave non-finite scores")
        names = read_class_names(self.label_file, int(output.shape[1]), engine=ENGINE)
        log.info("loaded onnx model %s (%d classes, %dx%d input, %s)", self.model_file,
                 len(names), preprocess.width, preprocess.height, preprocess.layout)
        return _Ready(preprocess, names, batcher, session)

    @property
    def preprocess(self) -> Preprocess:
        """How photos are turned into the model's input; loads the model."""
        return self._load().preprocess
