"""The built-in TensorFlow classifier: PhotoPrism's NASNet Mobile, used as the labels fallback.

Model layout (as PhotoPrism publishes it in nasnet.zip): a TF1 SavedModel directory with the tag
`photoprism`, input op `input_1` (N x 224 x 224 x 3 float RGB scaled to [-1, 1]), output op
`predictions/Softmax` (1000 or 1001 ImageNet classes) and `labels.txt` beside it (one class
per line; when it has one line fewer than the model has outputs, class 0 is "background").
A TF2 SavedModel (e.g. a Keras `model.export()`) with a one-input, one-output
`serving_default` signature of the same shape is accepted too.

Where the model is looked for, first match wins:
1. `Path` of the model in vision.yml;
2. `$XMPVISION_MODELS/<model>` (the model name defaults to `nasnet`);
3. `$XDG_DATA_HOME/xmpvision/models/<model>` (`~/.local/share/xmpvision/models/nasnet`).
When the directory is missing and the model is `nasnet`, nasnet.zip is downloaded from
PhotoPrism's download host (or `$XMPVISION_NASNET_URL`) and unpacked there. Set
`XMPVISION_NO_DOWNLOAD=1` to forbid the download (offline NAS, managed installs).

TensorFlow is an optional extra (`pip install 'xmpvision[tensorflow]'`): it is imported only
when a model is loaded, so the package imports without it.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import numpy.typing as npt
from PIL import Image

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.nasnet_rules import LabelRule, rule_for
from xmpvision.errors import EngineError, EngineUnavailable
from xmpvision.labels import (
    effective_confidence_threshold,
    effective_topicality_threshold,
    normalize_labels,
)
from xmpvision.results import Caption, Label

if TYPE_CHECKING:
    from xmpvision.images import PhotoImage

log = logging.getLogger(__name__)

ENGINE_NAME = "tensorflow"
SOURCE = "image"  # PhotoPrism's source name for classifier labels
DEFAULT_MODEL = "nasnet"
DEFAULT_MAX_LABELS = 5
MODEL_URL = "https://dl.photoprism.app/tensorflow/nasnet.zip"
TAGS = ("photoprism",)
INPUT_OP = "input_1"
OUTPUT_OP = "predictions/Softmax"
DEFAULT_INPUT_SIZE = 224
INSTALL_HINT = "pip install 'xmpvision[tensorflow]'"

ENV_MODELS = "XMPVISION_MODELS"
ENV_NO_DOWNLOAD = "XMPVISION_NO_DOWNLOAD"
ENV_MODEL_URL = "XMPVISION_NASNET_URL"

# nasnet.zip is about 20 MB; the caps only stop a misbehaving server or a zip bomb from filling
# the NAS's disk.
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=15.0)

FloatArray = npt.NDArray[np.float32]


class UnsafeArchive(ValueError):
    """A zip that would write outside its target directory or is implausibly large."""


# ---------------------------------------------------------------------------------------------
# Where the model lives, and fetching it.


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def model_name(config: ModelConfig) -> str:
    """The model's name as recorded in labels' provenance; "nasnet" unless configured."""
    return (config.model or config.name or DEFAULT_MODEL).strip() or DEFAULT_MODEL


def models_root(env: Mapping[str, str]) -> Path:
    """`$XMPVISION_MODELS`, else `$XDG_DATA_HOME/xmpvision/models` (XDG's default applies)."""
    if env.get(ENV_MODELS):
        return Path(env[ENV_MODELS]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data_home).expanduser() / "xmpvision" / "models"


def resolve_model_dir(config: ModelConfig, env: Mapping[str, str]) -> Path:
    """The directory the model is loaded from (it may not exist yet)."""
    if config.path:
        return Path(config.path).expanduser()
    # Only the last path component: a model name must not steer us outside the models root.
    return models_root(env) / (Path(model_name(config)).name or DEFAULT_MODEL)


def model_dir(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the engine looks for the model, resolved against the process environment by
    default (for `vision ls`)."""
    return resolve_model_dir(config, os.environ if env is None else env)


def _check_member(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or UnsafeArchive for absolute, parent-escaping or link
    members. Rejecting (rather than sanitising, as ZipFile.extract does) makes a tampered
    archive an error the user sees instead of a half-installed model."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchive(f"absolute path in archive: {info.filename!r}")
    if any(part == ".." for part in path.parts):
        raise UnsafeArchive(f"path escapes the target directory: {info.filename!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"symbolic link in archive: {info.filename!r}")
    return path


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip into `dest`, refusing path traversal, links and zip bombs."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise UnsafeArchive(f"too many members in archive: {len(members)}")
        # Check every member before writing any, so a bad archive leaves nothing behind.
        checked = [(info, _check_member(info)) for info in members]
        if sum(info.file_size for info in members) > MAX_EXTRACTED_BYTES:
            raise UnsafeArchive("archive expands to more than the size limit")
        root = dest.resolve()
        written = 0
        for info, rel in checked:
            target = (root / rel).resolve()
            if target != root and not target.is_relative_to(root):
                raise UnsafeArchive(f"path escapes the target directory: {info.filename!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                # The sizes in the directory can lie; count what is really decompressed.
                while chunk := src.read(1024 * 1024):
                    written += len(chunk)
                    if written > MAX_EXTRACTED_BYTES:
                        raise UnsafeArchive("archive expands to more than the size limit")
                    out.write(chunk)


def _find_model_root(extracted: Path) -> Path:
    """The directory holding saved_model.pb: the archive root or its single top folder."""
    if (extracted / "saved_model.pb").is_file():
        return extracted
    candidates = [p.parent for p in extracted.glob("*/saved_model.pb")]
    if len(candidates) != 1:
        raise UnsafeArchive("archive does not contain exactly one saved_model.pb")
    return candidates[0]


def download_model(
    url: str,
    target: Path,
    *,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download a zipped model from `url` and install it as directory `target`.

    The zip is streamed to a temporary directory next to `target` (same filesystem), checked,
    unpacked there and renamed into place, so an interrupted download never leaves a partial
    model where the engine looks. If another process installed the model meanwhile, its copy
    is kept. Raises EngineUnavailable with where it tried and what to do.
    """

    def fail(reason: str) -> EngineUnavailable:
        return EngineUnavailable(
            f"error downloading tensorflow model {url} to {target}: {reason}; download and "
            f"unpack it there by hand, or set Path in vision.yml to an existing model directory"
        )

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}-download-", dir=target.parent))
    except OSError as exc:
        raise fail(f"cannot create {target.parent}: {exc}") from exc
    try:
        archive = workdir / "model.zip"
        own_client = client is None
        http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
        try:
            with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise fail(f"HTTP {response.status_code}")
                size = 0
                with archive.open("wb") as out:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise fail(f"larger than {max_bytes} bytes")
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if own_client:
                http.close()
        if not zipfile.is_zipfile(archive):
            raise fail("the server did not send a zip file")
        extracted = workdir / "extracted"
        extracted.mkdir()
        try:
            safe_extract(archive, extracted)
            model_root = _find_model_root(extracted)
        # RuntimeError: encrypted members; NotImplementedError: unsupported compression.
        except (UnsafeArchive, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            raise fail(f"unusable archive: {exc}") from exc
        if not (model_root / "labels.txt").is_file():
            raise fail("archive has no labels.txt beside saved_model.pb")
        try:
            model_root.rename(target)
        except OSError as exc:
            if not (target / "saved_model.pb").is_file():
                raise fail(f"cannot move the model into place: {exc}") from exc
            log.info("model %s was installed by another process meanwhile", target)
        log.info("downloaded tensorflow model %s to %s", url, target)
        return target
    except OSError as exc:
        raise fail(str(exc)) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Class names, crops and turning probabilities into labels. Pure numpy/Pillow, testable
# without TensorFlow.


def read_class_names(path: Path, outputs: int) -> list[str]:
    """labels.txt as a list indexed like the model's output vector."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineUnavailable(f"error reading tensorflow labels {path}: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if len(names) == outputs - 1:
        names.insert(0, "background")  # NASNet's 1001-way output: class 0 is background
    if len(names) != outputs:
        raise EngineUnavailable(
            f"error loading tensorflow labels {path}: {len(names)} classes for a model "
            f"with {outputs} outputs"
        )
    return names


def square_crops(image: Image.Image, size: int) -> list[Image.Image]:
    """The centre square, plus for non-square images the left/top and right/bottom squares,
    each resized to size x size. A wide photo's subject is often off-centre; classifying the
    three squares and keeping each class's best score (PhotoPrism's approach) finds it."""
    width, height = image.size
    side = min(width, height)
    if width == height:
        boxes = [(0, 0, width, height)]
    elif width > height:
        left = (width - side) // 2
        boxes = [(left, 0, left + side, side), (0, 0, side, side), (width - side, 0, width, side)]
    else:
        top = (height - side) // 2
        boxes = [(0, top, side, top + side), (0, 0, side, side), (0, height - side, side, height)]
    out: list[Image.Image] = []
    for box in boxes:
        crop = image.crop(box)
        if crop.size != (size, size):
            crop = crop.resize((size, size), Image.Resampling.BILINEAR)
        out.append(crop)
    return out


def to_input(crops: Sequence[Image.Image]) -> FloatArray:
    """A float32 N x H x W x 3 batch scaled to [-1, 1], NASNet's (Keras "tf" mode) input."""
    batch = np.stack([np.asarray(c.convert("RGB"), dtype=np.float32) for c in crops])
    return batch / np.float32(127.5) - np.float32(1.0)


@dataclass(frozen=True)
class _Scored:
    rule: LabelRule
    probability: float


def labels_from_probabilities(
    probabilities: Sequence[float] | FloatArray,
    class_names: Sequence[str],
    *,
    model: str = DEFAULT_MODEL,
    source: str = SOURCE,
    confidence_threshold: float = 10,
    topicality_threshold: float = 0,
    max_labels: int = DEFAULT_MAX_LABELS,
) -> list[Label]:
    """Turn one probability per class into at most `max_labels` keywords.

    Classes are mapped through the rules table (nasnet_rules); several classes mapping to one
    keyword add up, because a softmax's classes are mutually exclusive: a photo the model
    thinks is 30% tabby and 30% tiger cat is 60% "cat". A keyword is kept when its probability
    reaches both the global threshold (percent) and its rule's. The most probable keywords
    are kept, then names are cleaned like every other engine's (labels.normalize_labels) so
    "cat" from here and "Cat" from Ollama are the same keyword in a sidecar.

    Priority comes from the rule, not from topicality as for Ollama: the classifier has no
    notion of topicality (it is set equal to the confidence), and deriving a priority from
    the confidence would rank a confidently seen background object ("seashore") above a cat
    the model is only moderately sure of.
    """
    if len(probabilities) != len(class_names):
        raise ValueError(f"{len(probabilities)} probabilities for {len(class_names)} classes")
    global_min = effective_confidence_threshold(confidence_threshold) / 100
    topicality_min = effective_topicality_threshold(topicality_threshold) / 100
    grouped: dict[str, _Scored] = {}
    for name, p in zip(class_names, probabilities, strict=True):
        probability = float(p)
        if not probability > 0 or not math.isfinite(probability):
            continue
        rule = rule_for(name)
        if rule is None:
            continue
        seen = grouped.get(rule.name)
        total = probability if seen is None else seen.probability + probability
        grouped[rule.name] = _Scored(rule, min(total, 1.0))
    kept = [
        s
        for s in grouped.values()
        if s.probability >= max(global_min, s.rule.threshold, topicality_min)
    ]
    kept.sort(key=lambda s: (-s.probability, -s.rule.priority, s.rule.name))
    labels: list[Label] = []
    seen_names: set[str] = set()
    for scored in kept:
        if len(labels) >= max_labels:
            break
        # One at a time: normalize_labels ranks by topicality-derived priority, and we need to
        # know which rule each cleaned name came from to give it the rule's priority.
        cleaned = normalize_labels(
            [{"name": scored.rule.name, "confidence": scored.probability}],
            source=source,
            model=model,
            engine=ENGINE_NAME,
            confidence_threshold=confidence_threshold,
            topicality_threshold=topicality_threshold,
            max_labels=1,
        )
        if not cleaned or cleaned[0].name in seen_names:
            continue
        seen_names.add(cleaned[0].name)
        labels.append(
            replace(
                cleaned[0],
                confidence=scored.probability,
                topicality=scored.probability,
                priority=scored.rule.priority,
            )
        )
    labels.sort(key=lambda label: (-label.priority, -label.confidence))
    return labels


# ---------------------------------------------------------------------------------------------
# The typed boundary around TensorFlow (which has no type stubs).


@dataclass(frozen=True)
class _Classifier:
    """A loaded model: a callable from an N x S x S x 3 batch to N x C probabilities."""

    run: Callable[[FloatArray], FloatArray]
    input_size: int
    fixed_batch: bool  # the graph accepts exactly one image per call
    keepalive: object  # the loaded SavedModel; its variables must outlive `run`


def _import_tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise EngineUnavailable(
            f"tensorflow engine: TensorFlow is not installed; {INSTALL_HINT}"
        ) from exc
    return tf


def _dims(shape: Any) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


def _input_geometry(dims: list[int | None]) -> tuple[int, bool]:
    if len(dims) != 4 or dims[3] not in (3, None):
        raise ValueError(f"expected an N x H x W x 3 input, the model has {dims}")
    height, width = dims[1], dims[2]
    if height is not None and width is not None and height != width:
        raise ValueError(f"expected a square input, the model has {height}x{width}")
    return (height or DEFAULT_INPUT_SIZE), dims[0] == 1


def _load_tf1(tf: Any, model_dir: Path) -> _Classifier:
    loaded = tf.saved_model.load(str(model_dir), tags=list(TAGS))
    # PhotoPrism's SavedModel has no signature; prune the graph to the named ops instead.
    pruned = loaded.prune(f"{INPUT_OP}:0", f"{OUTPUT_OP}:0")
    size, fixed = _input_geometry(_dims(pruned.inputs[0].shape))

    def run(batch: FloatArray) -> FloatArray:
        return np.asarray(pruned(tf.constant(batch)).numpy(), dtype=np.float32)

    return _Classifier(run=run, input_size=size, fixed_batch=fixed, keepalive=loaded)


def _load_tf2(tf: Any, model_dir: Path) -> _Classifier:
    loaded = tf.saved_model.load(str(model_dir))
    signature = loaded.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("serving_default must have exactly one input and one output")
    (input_name, spec), (output_name,) = next(iter(inputs.items())), list(outputs)
    size, fixed = _input_geometry(_dims(spec.shape))

    def run(batch: FloatArray) -> FloatArray:
        result = signature(**{input_name: tf.constant(batch)})[output_name]
        return np.asarray(result.numpy(), dtype=np.float32)

    return _Classifier(run=run, input_size=size, fixed_batch=fixed, keepalive=loaded)


def load_classifier(model_dir: Path) -> _Classifier:
    """Load a SavedModel in PhotoPrism's TF1 layout, else a TF2 serving_default signature."""
    tf = _import_tensorflow()
    if not (model_dir / "saved_model.pb").is_file():
        raise EngineUnavailable(
            f"error loading tensorflow model {model_dir}: no saved_model.pb in the directory"
        )
    try:
        return _load_tf1(tf, model_dir)
    # TensorFlow reports a missing tag, a corrupt protobuf or a bad graph with many exception
    # types (RuntimeError, ValueError, OSError, tf.errors.*, protobuf's DecodeError); at this
    # boundary they all mean "not a usable PhotoPrism model", so the TF2 layout is tried next.
    except Exception as tf1_error:
        try:
            return _load_tf2(tf, model_dir)
        except Exception as tf2_error:
            log.debug("TF2 load of %s failed too: %s", model_dir, tf2_error)
            raise EngineUnavailable(
                f"error loading tensorflow model {model_dir}: {_short(tf1_error)}"
            ) from tf1_error


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# The engine.


@dataclass(frozen=True)
class _Ready:
    classifier: _Classifier
    class_names: list[str]


class TensorFlowEngine:
    """Labels from a NASNet-style ImageNet classifier; cannot caption.

    Safe to share between worker threads: the model is loaded once under a lock, and a loaded
    TensorFlow function may be called concurrently. A load failure is remembered, so a missing
    model costs one attempt (and at most one download), not one per photo.
    """

    name = ENGINE_NAME

    def __init__(
        self,
        model: ModelConfig,
        thresholds: Thresholds | None = None,
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.config = model
        self.thresholds = thresholds or Thresholds()
        self.model = model_name(model)
        self._env: Mapping[str, str] = os.environ if env is None else env
        self.model_dir = resolve_model_dir(model, self._env)
        self.max_labels = model.max_labels or DEFAULT_MAX_LABELS
        self._client = client  # for tests and proxies; None = a client per download
        self._lock = threading.Lock()
        self._ready: _Ready | None = None
        self._error: EngineUnavailable | None = None

    @property
    def download_url(self) -> str | None:
        """Where a missing model is fetched from; None when it can't or mustn't be."""
        if _truthy(self._env.get(ENV_NO_DOWNLOAD)):
            return None
        override = self._env.get(ENV_MODEL_URL)
        if override:
            return override
        # The download host has NASNet only; another model name is the user's own model.
        return MODEL_URL if self.model == DEFAULT_MODEL else None

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
                raise self._error
            try:
                self._ready = self._load_locked()
            except EngineUnavailable as exc:
                self._error = exc
                raise
            return self._ready

    def _load_locked(self) -> _Ready:
        _import_tensorflow()  # fail with the install hint before downloading anything
        if not self.model_dir.exists():
            url = self.download_url
            if url is None:
                why = (
                    f"downloads are disabled ({ENV_NO_DOWNLOAD} is set)"
                    if _truthy(self._env.get(ENV_NO_DOWNLOAD))
                    else f"no download is known for model {self.model!r}"
                )
                raise EngineUnavailable(
                    f"error loading tensorflow model {self.model_dir}: directory not found "
                    f"and {why}; unpack {MODEL_URL.rsplit('/', 1)[-1]} there, set Path in "
                    f"vision.yml or {ENV_MODELS}"
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
                f"{_short(exc)}"
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
            raise EngineError(f"tensorflow inference failed: {_short(exc)}") from exc
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
        )

    def labels(self, photo: PhotoImage) -> list[Label]:
        size = self._load().classifier.input_size
        # Shortest side = input size: the crops are then taken at full model resolution
        # without decoding more pixels than needed (JPEG draft mode).
        return self.classify(photo.rgb(size, fit="shortest"))

    def caption(self, photo: PhotoImage) -> Caption:
        raise EngineError("tensorflow engine cannot caption")

    def close(self) -> None:
        # The client, if any, belongs to the caller. Dropping the model lets TF free it.
        with self._lock:
            self._ready = None
