"""What every local classifier engine (tensorflow, onnx) does once its model is loaded: photos
through the micro-batcher, the best score per class over a photo's crops, and the scores
through the keyword table. An engine adds how its model is loaded (`_load_locked`) and the
size a photo is decoded at (`_decode_size`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from PIL import Image

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.classifier.batcher import MicroBatcher
from xmpvision.engines.classifier.labels import FloatArray, labels_from_probabilities
from xmpvision.engines.classifier.preprocess import Preprocess
from xmpvision.errors import EngineUnavailable
from xmpvision.results import Label, PhotoResult

if TYPE_CHECKING:
    from xmpvision.engines.base import EngineInfo
    from xmpvision.prepare.images import PhotoImage


@dataclass(frozen=True)
class Loaded:
    """A loaded model: how photos become its input, its class names, its batcher."""

    preprocess: Preprocess
    class_names: list[str]
    batcher: MicroBatcher


R = TypeVar("R", bound=Loaded)


class LocalClassifier(Generic[R]):
    """Labels from a local image classifier.

    Safe to share between worker threads: the model is loaded once under a lock, and every
    call goes through one micro-batcher, which runs one batch at a time. A load failure is
    remembered, so a missing model costs one attempt, not one per photo.
    """

    ENGINE: ClassVar[str]
    SOURCE: ClassVar[str]

    def __init__(self, model: ModelConfig, thresholds: Thresholds | None, name: str,
                 info: EngineInfo) -> None:
        self.config = model
        self.info = info
        self.thresholds = thresholds or Thresholds()
        self.model = name  # as the labels' provenance records it
        self.max_labels = model.label_limit
        self._lock = threading.Lock()
        self._ready: R | None = None
        self._error: EngineUnavailable | None = None

    def _load_locked(self) -> R:
        raise NotImplementedError

    def _decode_size(self, ready: R) -> int:
        """The shortest side a photo is decoded at for this model."""
        return ready.preprocess.decode_size

    def check_ready(self) -> None:
        """Load the model or raise EngineUnavailable."""
        self._load()

    def _load(self) -> R:
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

    def batch_stats(self) -> tuple[int, int]:
        """(model calls, images run) so far."""
        stats = self._load().batcher.stats()
        return stats.calls, stats.images

    def probabilities(self, image: Image.Image) -> FloatArray:
        """One probability per class: the best over the photo's crops."""
        ready = self._load()
        scores = ready.batcher(ready.preprocess.inputs(image))
        merged: FloatArray = scores.max(axis=0)
        return merged

    def classify(self, image: Image.Image) -> list[Label]:
        """Labels for an RGB image of any size."""
        ready = self._load()
        return labels_from_probabilities(
            self.probabilities(image),
            ready.class_names,
            model=self.model,
            engine=self.ENGINE,
            source=self.SOURCE,
            confidence_threshold=self.thresholds.confidence,
            topicality_threshold=self.thresholds.topicality,
            max_labels=self.max_labels,
            mode=self.config.normalize_mode,
        )

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        """Labels (the only type a classifier answers, as its kind declares)."""
        # Decoded just large enough for the crops (JPEG draft mode does the rest).
        image = photo.rgb(self._decode_size(self._load()), fit="shortest")
        return PhotoResult(labels=self.classify(image))

    def forget_failures(self) -> None:
        """A model that failed to load is loaded again on the next request."""
        with self._lock:
            self._error = None

    def close(self) -> None:
        # Dropping the model lets its runtime free it.
        with self._lock:
            self._ready = None
