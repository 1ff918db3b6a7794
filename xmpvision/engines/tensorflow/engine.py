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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import numpy as np

from xmpvision.config.defaults import (
    CLASSIFIER_BATCH_WAIT,
    CLASSIFIER_MAX_BATCH,
    DEFAULT_CLASSIFIER_MODEL,
    DEFAULT_LABEL_FILE,
)
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.classifier.batcher import MicroBatcher
from xmpvision.engines.classifier.engine import Loaded, LocalClassifier
from xmpvision.engines.classifier.files import resolve_in
from xmpvision.engines.classifier.labels import (
    read_class_names,
)
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

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


KERAS_DIR = "keras"  # KERAS_HOME under the models root: Keras' downloads
KERAS_WEIGHTS = "imagenet"


@dataclass(frozen=True)
class _Ready(Loaded):
    classifier: Classifier


class TensorFlowEngine(LocalClassifier[_Ready]):
    """Labels from a NASNet-style ImageNet classifier; cannot caption (see LocalClassifier;
    a missing model costs at most one download)."""

    ENGINE = ENGINE
    SOURCE = SOURCE

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
        super().__init__(model, thresholds, model_name(model), describe(model))
        self._env: Mapping[str, str] = os.environ if env is None else env
        self.app = keras_app(model)
        self.model_file = model_file(model)
        self.model_dir = (self.model_file.parent if self.model_file is not None
                          else resolve_model_dir(model, self._env))
        self.keras_home = models_root(self._env) / KERAS_DIR
        self.label_file = resolve_in(self.model_dir, model.label_file, DEFAULT_LABEL_FILE)
        self._keras_weights = keras_weights  # None: untrained (tests build it without a download)
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._client = client  # for tests and proxies; None = a client per download

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
        return _Ready(preprocess, names, batcher, classifier)

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

    def _decode_size(self, ready: _Ready) -> int:
        # Shortest side = input size: the crops are then taken at full model resolution
        # without decoding more pixels than needed (JPEG draft mode).
        return ready.classifier.input_size
