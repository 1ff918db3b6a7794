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

from xmpvision.engines.tensorflow import INSTALL_HINT
from xmpvision.engines.tensorflow.classify import FloatArray
from xmpvision.errors import EngineUnavailable

log = logging.getLogger(__name__)

TAGS = ("photoprism",)
INPUT_OP = "input_1"
OUTPUT_OP = "predictions/Softmax"
DEFAULT_INPUT_SIZE = 224  # a graph that leaves its input size open gets NASNet's


@dataclass(frozen=True)
class Classifier:
    """A loaded model: a callable from an N x S x S x 3 batch to N x C probabilities."""

    run: Callable[[FloatArray], FloatArray]
    input_size: int
    fixed_batch: bool  # the graph accepts exactly one image per call
    keepalive: object  # the loaded SavedModel; its variables must outlive `run`


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
    return [None if d is None else int(d) for d in shape]


def _input_geometry(dims: list[int | None]) -> tuple[int, bool]:
    if len(dims) != 4 or dims[3] not in (3, None):
        raise ValueError(f"expected an N x H x W x 3 input, the model has {dims}")
    height, width = dims[1], dims[2]
    if height is not None and width is not None and height != width:
        raise ValueError(f"expected a square input, the model has {height}x{width}")
    return (height or DEFAULT_INPUT_SIZE), dims[0] == 1


def _load_tf1(tf: Any, model_dir: Path) -> Classifier:
    loaded = tf.saved_model.load(str(model_dir), tags=list(TAGS))
    # PhotoPrism's SavedModel has no signature; prune the graph to the named ops instead.
    pruned = loaded.prune(f"{INPUT_OP}:0", f"{OUTPUT_OP}:0")
    size, fixed = _input_geometry(_dims(pruned.inputs[0].shape))

    def run(batch: FloatArray) -> FloatArray:
        return np.asarray(pruned(tf.constant(batch)).numpy(), dtype=np.float32)

    return Classifier(run=run, input_size=size, fixed_batch=fixed, keepalive=loaded)


def _load_tf2(tf: Any, model_dir: Path) -> Classifier:
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

    return Classifier(run=run, input_size=size, fixed_batch=fixed, keepalive=loaded)


def load_classifier(model_dir: Path) -> Classifier:
    """Load a SavedModel in PhotoPrism's TF1 layout, else a TF2 serving_default signature."""
    tf = import_tensorflow()
    if not (model_dir / "saved_model.pb").is_file():
        raise EngineUnavailable(
            f"error loading tensorflow model {model_dir}: no saved_model.pb in the directory"
        )
    try:
        with _quiet_stderr():
            return _load_tf1(tf, model_dir)
    # TensorFlow reports a missing tag, a corrupt protobuf or a bad graph with many exception
    # types (RuntimeError, ValueError, OSError, tf.errors.*, protobuf's DecodeError); at this
    # boundary they all mean "not a usable PhotoPrism model", so the TF2 layout is tried next.
    except Exception as tf1_error:  # noqa: BLE001 - see above
        try:
            with _quiet_stderr():
                return _load_tf2(tf, model_dir)
        except Exception as tf2_error:  # noqa: BLE001 - see above
            log.debug("TF2 load of %s failed too: %s", model_dir, tf2_error)
            raise EngineUnavailable(
                f"error loading tensorflow model {model_dir}: {short(tf1_error)}"
            ) from tf1_error


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
