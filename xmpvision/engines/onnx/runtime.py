"""Loading a model into ONNX Runtime: the typed boundary around it (it has no type stubs).

ONNX Runtime is an optional extra (`pip install 'xmpvision[onnx]'`), imported only when a
model is loaded, with its own logging turned down to errors so nothing of it reaches the
terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmpvision.engines.classifier.batcher import short
from xmpvision.engines.classifier.labels import FloatArray
from xmpvision.engines.onnx import INSTALL_HINT
from xmpvision.errors import EngineUnavailable

_ERROR_SEVERITY = 3  # ONNX Runtime's levels: 0 verbose .. 3 error, 4 fatal


@dataclass(frozen=True)
class Session:
    """A loaded model: a callable from an input batch to N x C scores."""

    run: Callable[[FloatArray], FloatArray]
    input_dims: list[int | None]  # None: a symbolic (free) dimension
    input_name: str
    keepalive: object  # the InferenceSession


def import_onnxruntime() -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EngineUnavailable(
            "onnx engine: ONNX Runtime is not installed", hint=INSTALL_HINT
        ) from exc
    ort.set_default_logger_severity(_ERROR_SEVERITY)
    return ort


def _dims(shape: Any) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def load_session(path: Path) -> Session:
    """The model at `path` on the CPU; EngineUnavailable naming the file when it is not a
    usable one-input float classifier."""
    ort = import_onnxruntime()
    if not path.is_file():
        raise EngineUnavailable(
            f"error loading onnx model {path}: file not found",
            hint="put the model there, or set ONNX.File or Path in vision.yml",
        )
    options = ort.SessionOptions()
    options.log_severity_level = _ERROR_SEVERITY
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    # ONNX Runtime raises its own exception types (Fail, InvalidGraph, InvalidProtobuf, ...)
    # and RuntimeError for a file that is not a model; at this boundary they all mean "not a
    # usable model".
    except Exception as exc:
        raise EngineUnavailable(
            f"error loading onnx model {path}: {short(exc)}",
            hint="check that the file is a complete ONNX model (re-export or download it)",
        ) from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise EngineUnavailable(
            f"error loading onnx model {path}: {len(inputs)} inputs, a classifier has one"
        )
    if inputs[0].type != "tensor(float)":
        raise EngineUnavailable(
            f"error loading onnx model {path}: input type {inputs[0].type}, expected "
            "tensor(float)"
        )
    name = str(inputs[0].name)
    output = str(session.get_outputs()[0].name)  # a classifier's first output holds its scores

    def run(batch: FloatArray) -> FloatArray:
        (scores,) = session.run([output], {name: batch})
        array = np.asarray(scores, dtype=np.float32)
        # (N, C, 1, 1) from a convolutional head is one score vector per image too.
        if array.ndim > 2 and all(d == 1 for d in array.shape[2:]):
            return array.reshape(array.shape[:2])
        return array

    return Session(run=run, input_dims=_dims(inputs[0].shape), input_name=name,
                   keepalive=session)
