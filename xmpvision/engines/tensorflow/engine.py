"""The TensorFlow classifier: PhotoPrism's NASNet Mobile (the built-in labels fallback), a Keras
application by name, or a SavedModel, `.keras` or `.tflite` file by Path.

Model layout (as PhotoPrism publishes it in nasnet.zip): a TF1 SavedModel directory with the tag
`photoprism`, input op `input_1` (N x 224 x 224 x 3 float RGB scaled to [-1, 1]), output op
`predictions/Softmax` (1000 or 1001 ImageNet classes) and `labels.txt` beside it (one class
per line; when it has one line fewer than the model has outputs, class 0 is "background").
A TF2 SavedModel (e.g. a Keras `model.export()`) with a one-input, one-output
`serving_default` signature of the same shape is accepted too.

A Keras application (`Model: efficientnetv2-b0`, ...; the table is KERAS_APPS in __init__.py)
is built by keras.applications with ImageNet weights, which Keras downloads on first use into
`<models root>/keras` (KERAS_HOME). A model given by Path takes `Resolution` as its input side
when its graph leaves it open, and `Normalization` {Mean, StdDev} (on pixels scaled to 0..1)
as its scaling, NASNet's -1..1 by default. Class names: `LabelFile` (relative to the model's
directory, default labels.txt; a Keras application without one gets Keras' ImageNet index).

Photos from several workers are run as one batch through the one loaded function
(classifier/batcher.py); a graph fixed to batch 1 is called once per image.

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

from xmpvision.config.defaults import (
    CLASSIFIER_BATCH_WAIT,
    CLASSIFIER_MAX_BATCH,
    DEFAULT_CLASSIFIER_MODEL,
    DEFAULT_LABEL_FILE,
)
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.base import EngineInfo
from xmpvision.engines.classifier.batcher import MicroBatcher
from xmpvision.engines.classifier.files import resolve_in
from xmpvision.engines.classifier.labels import (
    FloatArray,
    labels_from_probabilities,
    read_class_names,
)
from xmpvision.engines.classifier.preprocess import Preprocess
from xmpvision.engines.tensorflow import (
    ENGINE,
    SOURCE,
    KerasApp,
    describe,
    keras_app,
    model_file,
)
from xmpvision.engines.tensorflow.classify import tf_preprocess
from xmpvision.engines.tensorflow.install import (
    ENV_MODEL_URL,
    ENV_MODELS,
    ENV_NO_DOWNLOAD,
    MODEL_URL,
    download_model,
    model_name,
    models_root,
    resolve_model_dir,
    truthy,
)
from xmpvision.engines.tensorflow.loader import (
    Classifier,
    import_tensorflow,
    load_classifier,
    load_keras_app,
    load_model_file,
)
from xmpvision.errors import EngineError, EngineUnavailable
from xmpvision.results import Caption, Label, PhotoResult, Title

if TYPE_CHECKING:
    from xmpvision.prepare.images import PhotoImage

log = logging.getLogger(__name__)


KERAS_DIR = "keras"  # KERAS_HOME under the models root: Keras' downloads
KERAS_WEIGHTS = "imagenet"


@dataclass(frozen=True)
class _Ready:
    classifier: Classifier
    class_names: list[str]
    preprocess: Preprocess
    batcher: MicroBatcher


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
        keras_weights: str | None = KERAS_WEIGHTS,
        max_batch: int = CLASSIFIER_MAX_BATCH,
        max_wait: float = CLASSIFIER_BATCH_WAIT,
    ) -> None:
        self.config = model
        self.info: EngineInfo = describe(model)
        self.thresholds = thresholds or Thresholds()
        self.model = model_name(model)
        self._env: Mapping[str, str] = os.environ if env is None else env
        self.app = keras_app(model)
        self.model_file = model_file(model)
        self.model_dir = (self.model_file.parent if self.model_file is not None
                          else resolve_model_dir(model, self._env))
        self.keras_home = models_root(self._env) / KERAS_DIR
        self.label_file = resolve_in(self.model_dir, model.label_file, DEFAULT_LABEL_FILE)
        self.max_labels = model.label_limit
        self._keras_weights = keras_weights  # None: untrained (tests build it without a download)
        self._max_batch = max_batch
        self._max_wait = max_wait
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
        if self.app is not None:
            classifier = self._load_keras_app(self.app)
            where = f"keras application {self.app.constructor}"
        elif self.model_file is not None:
            classifier = load_model_file(self.model_file, self.config.image_size)
            where = f"tensorflow model {self.model_file}"
        else:
            classifier = self._load_saved_model()
            where = f"tensorflow model {self.model_dir}"
        batcher = MicroBatcher(classifier.run, engine=ENGINE, max_batch=self._max_batch,
                               max_wait=self._max_wait, fixed_batch=classifier.batch)
        probe = np.zeros((1, classifier.input_size, classifier.input_size, 3), np.float32)
        try:
            output = batcher(probe)
        except EngineError as exc:
            raise EngineUnavailable(f"error loading {where}: test inference failed: {exc}"
                                    ) from exc
        if output.ndim != 2 or output.shape[0] != 1 or not np.all(np.isfinite(output)):
            raise EngineUnavailable(
                f"error loading {where}: output of shape {output.shape} is not one "
                "probability vector per image"
            )
        names = self._class_names(int(output.shape[1]))
        log.info("loaded %s (%d classes, %dpx input)", where, len(names), classifier.input_size)
        preprocess = tf_preprocess(classifier.input_size, self.config, self.app)
        return _Ready(classifier, names, preprocess, batcher)

    def _load_saved_model(self) -> Classifier:
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
        return load_classifier(self.model_dir, self.config.image_size)

    def _load_keras_app(self, app: KerasApp) -> Classifier:
        cached = self.keras_home / "models" / app.weights_file
        if (self._keras_weights is not None and not cached.is_file()
                and truthy(self._env.get(ENV_NO_DOWNLOAD))):
            raise EngineUnavailable(
                f"error loading keras application {app.constructor}: {cached} not found and "
                f"downloads are disabled ({ENV_NO_DOWNLOAD} is set)",
                hint=f"put {app.weights_file} there, or unset {ENV_NO_DOWNLOAD} once",
            )
        return load_keras_app(app, weights=self._keras_weights, cache=self.keras_home)

    def _class_names(self, outputs: int) -> list[str]:
        if self.app is not None and self.config.label_file is None:
            return self._imagenet_names(outputs)
        return read_class_names(self.label_file, outputs, engine=ENGINE)

    def _imagenet_names(self, outputs: int) -> list[str]:
        """Keras' ImageNet class index (downloaded with the weights), as "tabby", "tiger cat"."""
        try:
            import keras

            # Scores falling with the class index: the top 1000 come back in index order.
            ranked = np.arange(1000, 0, -1, dtype=np.float32)[None, :]
            index = keras.applications.imagenet_utils.decode_predictions(ranked, top=1000)[0]
        # Keras downloads the index on first use; any failure of that means no class names.
        except Exception as exc:
            raise EngineUnavailable(
                f"error loading the ImageNet class names of keras: {exc}",
                hint="check the network, or set LabelFile in vision.yml",
            ) from exc
        names = [str(name).replace("_", " ") for _, name, _ in index]
        if len(names) != outputs:
            raise EngineUnavailable(
                f"keras application has {outputs} outputs, ImageNet {len(names)} classes",
                hint="set LabelFile in vision.yml",
            )
        return names

    @property
    def input_size(self) -> int:
        """The model's square input side in pixels; loads the model."""
        return self._load().classifier.input_size

    def batch_stats(self) -> tuple[int, int]:
        """(model calls, images run) so far."""
        stats = self._load().batcher.stats()
        return stats.calls, stats.images

    def probabilities(self, image: Image.Image) -> FloatArray:
        """One probability per class: the best over the image's square crops."""
        ready = self._load()
        scores = ready.batcher(ready.preprocess.inputs(image))
        merged: FloatArray = scores.max(axis=0)
        return merged

    def classify(self, image: Image.Image) -> list[Label]:
        """Labels for an RGB image of any size (at least the model input size is best)."""
        ready = self._load()
        return labels_from_probabilities(
            self.probabilities(image),
            ready.class_names,
            model=self.model,
            engine=ENGINE,
            source=SOURCE,
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
