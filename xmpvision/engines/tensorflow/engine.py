"""The built-in TensorFlow classifier: PhotoPrism's NASNet Mobile, used as the labels fallback.

Model layout (as PhotoPrism publishes it in nasnet.zip): a TF1 SavedModel directory with the tag
`photoprism`, input op `input_1` (N x 224 x 224 x 3 float RGB scaled to [-1, 1]), output op
`predictions/Softmax` (1000 or 1001 ImageNet classes) and `labels.txt` beside it (one class
per line; when it has one line fewer than the model has outputs, class 0 is "background").
A TF2 SavedModel (e.g. a Keras `model.export()`) with a one-input, one-output
`serving_default` signature of the same shape is accepted too.

Where the model is looked for and how it is fetched: install.py. Loading it: loader.py.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import numpy as np
from PIL import Image

from xmpvision.config.defaults import DEFAULT_CLASSIFIER_MODEL
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.base import EngineInfo
from xmpvision.engines.tensorflow import describe
from xmpvision.engines.tensorflow.classify import (
    FloatArray,
    labels_from_probabilities,
    read_class_names,
    square_crops,
    to_input,
)
from xmpvision.engines.tensorflow.install import (
    ENV_MODEL_URL,
    ENV_MODELS,
    ENV_NO_DOWNLOAD,
    MODEL_URL,
    download_model,
    model_name,
    resolve_model_dir,
    truthy,
)
from xmpvision.engines.tensorflow.loader import (
    Classifier,
    import_tensorflow,
    load_classifier,
    short,
)
from xmpvision.errors import EngineError, EngineUnavailable
from xmpvision.results import Caption, Label, PhotoResult, Title

if TYPE_CHECKING:
    from xmpvision.prepare.images import PhotoImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ready:
    classifier: Classifier
    class_names: list[str]


class TensorFlowEngine:
    """Labels from a NASNet-style ImageNet classifier; cannot caption.

    Safe to share between worker threads: the model is loaded once under a lock, and a loaded
    TensorFlow function may be called concurrently. A load failure is remembered, so a missing
    model costs one attempt (and at most one download), not one per photo.
    """

    def __init__(
        self,
        model: ModelConfig,
        thresholds: Thresholds | None = None,
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.config = model
        self.info: EngineInfo = describe(model)
        self.thresholds = thresholds or Thresholds()
        self.model = model_name(model)
        self._env: Mapping[str, str] = os.environ if env is None else env
        self.model_dir = resolve_model_dir(model, self._env)
        self.max_labels = model.label_limit
        self._client = client  # for tests and proxies; None = a client per download
        self._lock = threading.Lock()
        self._ready: _Ready | None = None
        self._error: EngineUnavailable | None = None

    @property
    def download_url(self) -> str | None:
        """Where a missing model is fetched from; None when it can't or mustn't be."""
        if truthy(self._env.get(ENV_NO_DOWNLOAD)):
            return None
        override = self._env.get(ENV_MODEL_URL)
        if override:
            return override
        # The download host has NASNet only; another model name is the user's own model.
        return MODEL_URL if self.model == DEFAULT_CLASSIFIER_MODEL else None

    def check_ready(self) -> None:
        """Load the model (downloading it if allowed and missing) or raise EngineUnavailable."""
        self._load()

    def _load(self) -> _Ready:
        ready = self._ready
        if ready is not None:
            return ready
        with self._lock:
            if self._ready is not None:
                return self._ready
            if self._error is not None:
                raise self._error.again()
            try:
                self._ready = self._load_locked()
            except EngineUnavailable as exc:
                self._error = exc
                raise
            return self._ready

    def _load_locked(self) -> _Ready:
        import_tensorflow()  # fail with the install hint before downloading anything
        if not self.model_dir.exists():
            url = self.download_url
            if url is None:
                why = (
                    f"downloads are disabled ({ENV_NO_DOWNLOAD} is set)"
                    if truthy(self._env.get(ENV_NO_DOWNLOAD))
                    else f"no download is known for model {self.model!r}"
                )
                raise EngineUnavailable(
                    f"error loading tensorflow model {self.model_dir}: directory not found "
                    f"and {why}",
                    hint=f"unpack {MODEL_URL.rsplit('/', 1)[-1]} there, set Path in "
                    f"vision.yml or {ENV_MODELS}",
                )
            log.info("tensorflow model %s not found; downloading %s", self.model_dir, url)
            download_model(url, self.model_dir, client=self._client)
        classifier = load_classifier(self.model_dir)
        probe = np.zeros((1, classifier.input_size, classifier.input_size, 3), np.float32)
        try:
            output = classifier.run(probe)
        except Exception as exc:  # any TF failure here means the graph cannot classify
            raise EngineUnavailable(
                f"error loading tensorflow model {self.model_dir}: test inference failed: "
                f"{short(exc)}"
            ) from exc
        if output.ndim != 2 or output.shape[0] != 1 or not np.all(np.isfinite(output)):
            raise EngineUnavailable(
                f"error loading tensorflow model {self.model_dir}: output of shape "
                f"{output.shape} is not one probability vector per image"
            )
        names = read_class_names(self.model_dir / "labels.txt", int(output.shape[1]))
        log.info(
            "loaded tensorflow model %s (%d classes, %dpx input)",
            self.model_dir,
            len(names),
            classifier.input_size,
        )
        return _Ready(classifier, names)

    @property
    def input_size(self) -> int:
        """The model's square input side in pixels; loads the model."""
        return self._load().classifier.input_size

    def probabilities(self, image: Image.Image) -> FloatArray:
        """One probability per class: the best over the image's square crops."""
        ready = self._load()
        classifier = ready.classifier
        batch = to_input(square_crops(image, classifier.input_size))
        try:
            if classifier.fixed_batch:
                scores = np.concatenate(
                    [classifier.run(batch[i : i + 1]) for i in range(len(batch))]
                )
            else:
                scores = classifier.run(batch)
        except Exception as exc:  # a TF runtime failure on one image: let the chain fall back
            raise EngineError(f"tensorflow inference failed: {short(exc)}") from exc
        merged: FloatArray = scores.max(axis=0)
        return merged

    def classify(self, image: Image.Image) -> list[Label]:
        """Labels for an RGB image of any size (at least the model input size is best)."""
        ready = self._load()
        return labels_from_probabilities(
            self.probabilities(image),
            ready.class_names,
            model=self.model,
            confidence_threshold=self.thresholds.confidence,
            topicality_threshold=self.thresholds.topicality,
            max_labels=self.max_labels,
            mode=self.config.normalize_mode,
        )

    def labels(self, photo: PhotoImage) -> list[Label]:
        size = self._load().classifier.input_size
        # Shortest side = input size: the crops are then taken at full model resolution
        # without decoding more pixels than needed (JPEG draft mode).
        return self.classify(photo.rgb(size, fit="shortest"))

    def caption(self, photo: PhotoImage) -> Caption:
        raise EngineError("tensorflow engine cannot caption")

    def title(self, photo: PhotoImage) -> Title:
        raise EngineError("tensorflow engine cannot write titles")

    def generate(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        raise EngineError("tensorflow engine cannot answer a combined request")

    def close(self) -> None:
        # The client, if any, belongs to the caller. Dropping the model lets TF free it.
        with self._lock:
            self._ready = None
