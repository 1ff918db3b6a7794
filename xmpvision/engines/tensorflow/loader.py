"""Loading a classifier into TensorFlow: the typed boundary around it (it has no type stubs).

TensorFlow is an optional extra (`pip install 'xmpvision[tensorflow]'`): it is imported only
when a model is loaded, with its C++ and absl logging silenced, so nothing of it reaches the
terminal.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmpvision.engines.classifier.batcher import short
from xmpvision.engines.classifier.labels import FloatArray
from xmpvision.engines.tensorflow import INSTALL_HINT, KerasApp
from xmpvision.errors import EngineUnavailable

log = logging.getLogger(__name__)

TAGS = ("photoprism",)
INPUT_OP = "input_1"
OUTPUT_OP = "predictions/Softmax"


@dataclass(frozen=True)
class Classifier:
    """A loaded model: a callable from an N x S x S x 3 batch to N x C probabilities."""

    run: Callable[[FloatArray], FloatArray]
    input_size: int
    batch: int | None  # the graph's fixed batch size (PhotoPrism's NASNet: 1), None if free
    keepalive: object  # the loaded model; its variables must outlive `run`


def import_tensorflow() -> Any:
    """TensorFlow, imported with its C++ and absl logging silenced (it reports device and
    optimisation facts at start-up that mean nothing to a photo library's owner)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_stderr():
            import tensorflow as tf
    except ImportError as exc:
        raise EngineUnavailable(
            "tensorflow engine: TensorFlow is not installed", hint=INSTALL_HINT
        ) from exc
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


# What TensorFlow's native code prints at import and load, below Python's logging and whatever
# TF_CPP_MIN_LOG_LEVEL says: absl's preamble, glog-style lines ("I0000 00:00:...") and the
# continuation of its CPU-instructions notice.
_NOISE = re.compile(
    r"^(?:WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d|To enable the following)"
)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Keep TensorFlow's native start-up lines off the terminal (they go to the debug log).

    Anything else written to fd 2 meanwhile (another thread's message) is written out again
    afterwards, so nothing is lost.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            _sort_out(sink.read().decode("utf-8", "replace"))


def _sort_out(captured: str) -> None:
    kept = []
    for line in captured.splitlines():
        if _NOISE.match(line):
            log.debug("tensorflow: %s", line)
        elif line.strip():
            kept.append(line)
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
        sys.stderr.flush()


def _dims(shape: Any) -> list[int | None]:
    return [None if d is None or int(d) < 0 else int(d) for d in shape]


def _input_geometry(dims: list[int | None], fallback: int) -> tuple[int, int | None]:
    """The square input side (`fallback` when the graph leaves it open) and fixed batch."""
    if len(dims) != 4 or dims[3] not in (3, None):
        raise ValueError(f"expected an N x H x W x 3 input, the model has {dims}")
    height, width = dims[1], dims[2]
    if height is not None and width is not None and height != width:
        raise ValueError(f"expected a square input, the model has {height}x{width}")
    return (height or width or fallback), dims[0]


def _load_tf1(tf: Any, model_dir: Path, fallback: int) -> Classifier:
    loaded = tf.saved_model.load(str(model_dir), tags=list(TAGS))
    # PhotoPrism's SavedModel has no signature; prune the graph to the named ops instead.
    pruned = loaded.prune(f"{INPUT_OP}:0", f"{OUTPUT_OP}:0")
    size, batch = _input_geometry(_dims(pruned.inputs[0].shape), fallback)

    def run(images: FloatArray) -> FloatArray:
        return np.asarray(pruned(tf.constant(images)).numpy(), dtype=np.float32)

    return Classifier(run=run, input_size=size, batch=batch, keepalive=loaded)


def _load_tf2(tf: Any, model_dir: Path, fallback: int) -> Classifier:
    loaded = tf.saved_model.load(str(model_dir))
    signature = loaded.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("serving_default must have exactly one input and one output")
    (input_name, spec), (output_name,) = next(iter(inputs.items())), list(outputs)
    size, batch = _input_geometry(_dims(spec.shape), fallback)

    def run(images: FloatArray) -> FloatArray:
        result = signature(**{input_name: tf.constant(images)})[output_name]
        return np.asarray(result.numpy(), dtype=np.float32)

    return Classifier(run=run, input_size=size, batch=batch, keepalive=loaded)


def load_classifier(model_dir: Path, fallback_size: int) -> Classifier:
    """Load a SavedModel in PhotoPrism's TF1 layout, else a TF2 serving_default signature.
    `fallback_size`: the input side of a graph that leaves it open (vision.yml's Resolution)."""
    tf = import_tensorflow()
    if not (model_dir / "saved_model.pb").is_file():
        raise EngineUnavailable(
            f"error loading tensorflow model {model_dir}: no saved_model.pb in the directory"
        )
    try:
        with _quiet_stderr():
            return _load_tf1(tf, model_dir, fallback_size)
    # TensorFlow reports a missing tag, a corrupt protobuf or a bad graph with many exception
    # types (RuntimeError, ValueError, OSError, tf.errors.*, protobuf's DecodeError); at this
    # boundary they all mean "not a usable PhotoPrism model", so the TF2 layout is tried next.
    except Exception as tf1_error:  # noqa: BLE001 - see above
        try:
            with _quiet_stderr():
                return _load_tf2(tf, model_dir, fallback_size)
        except Exception as tf2_error:  # noqa: BLE001 - see above
            log.debug("TF2 load of %s failed too: %s", model_dir, tf2_error)
            raise EngineUnavailable(
                f"error loading tensorflow model {model_dir}: {short(tf1_error)}"
            ) from tf1_error


def _compiled(tf: Any, model: Any, size: int | None) -> Callable[[FloatArray], FloatArray]:
    """One traced function for every batch size: the Keras model called in inference mode."""
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    function = tf.function(lambda images: model(images, training=False), input_signature=[spec])

    def run(images: FloatArray) -> FloatArray:
        return np.asarray(function(tf.constant(images)).numpy(), dtype=np.float32)

    return run


def _keras_classifier(tf: Any, model: Any, fallback: int) -> Classifier:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("a classifier must have exactly one input and one output")
    size, _ = _input_geometry(_dims(model.inputs[0].shape), fallback)
    return Classifier(run=_compiled(tf, model, size), input_size=size, batch=None,
                      keepalive=model)


def load_keras_app(app: KerasApp, *, weights: str | None, cache: Path) -> Classifier:
    """A Keras application; `weights` "imagenet" downloads them on first use into `cache`
    (KERAS_HOME), None builds it untrained (tests)."""
    # Keras reads KERAS_HOME once, when it is first imported.
    os.environ.setdefault("KERAS_HOME", str(cache))
    tf = import_tensorflow()
    try:
        with _quiet_stderr():
            import keras

            constructor = getattr(keras.applications, app.constructor)
            model = constructor(weights=weights, input_shape=(app.size, app.size, 3))
            return _keras_classifier(tf, model, app.size)
    # Keras raises ValueError, OSError (a broken cached file), and urllib/HTTP errors of its
    # download as Exception; each means this application cannot be used now.
    except Exception as exc:
        raise EngineUnavailable(
            f"error loading keras application {app.constructor}: {short(exc)}",
            hint=f"check the network, or put {app.weights_file} into {cache / 'models'}",
        ) from exc


def _tflite(tf: Any, path: Path, fallback: int) -> Classifier:
    interpreter = tf.lite.Interpreter(model_path=str(path))
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("a classifier must have exactly one input and one output")
    if inputs[0]["dtype"] != np.float32:
        raise ValueError(f"input type {inputs[0]['dtype'].__name__}, expected float32")
    signature = _dims(inputs[0].get("shape_signature", inputs[0]["shape"]))
    size, batch = _input_geometry(signature, fallback)
    index, out_index = inputs[0]["index"], outputs[0]["index"]
    allocated = [0]

    def run(images: FloatArray) -> FloatArray:
        # The interpreter is not thread-safe; the engine's batcher calls it from one thread at
        # a time. A free batch dimension is resized to each batch.
        if allocated[0] != len(images):
            if batch is None:
                interpreter.resize_tensor_input(index, list(images.shape), strict=False)
            interpreter.allocate_tensors()
            allocated[0] = len(images)
        interpreter.set_tensor(index, images)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out_index), dtype=np.float32)

    return Classifier(run=run, input_size=size, batch=batch, keepalive=interpreter)


def load_model_file(path: Path, fallback_size: int) -> Classifier:
    """A `.keras` file (Keras' own format) or a `.tflite` file."""
    tf = import_tensorflow()
    if not path.is_file():
        raise EngineUnavailable(f"error loading tensorflow model {path}: file not found",
                                hint="set Path in vision.yml to an existing model file")
    try:
        with _quiet_stderr():
            if path.suffix.lower() == ".tflite":
                return _tflite(tf, path, fallback_size)
            import keras

            model = keras.saving.load_model(str(path), compile=False)
            return _keras_classifier(tf, model, fallback_size)
    # As for SavedModels: every failure to read the file means "not a usable model".
    except Exception as exc:
        raise EngineUnavailable(
            f"error loading tensorflow model {path}: {short(exc)}",
            hint="check that the file is a complete classifier (re-export it)",
        ) from exc


__all__ = ["Classifier", "import_tensorflow", "load_classifier", "load_keras_app",
           "load_model_file", "short"]
