"""Build tiny but real ONNX classifiers with the `onnx` package's helper API, for tests.

The same colour classifier as tests/engines/tensorflow/model_builder.py: the mean of each
channel of the (normalised) input, times a 3 x C weight matrix plus a bias, through a softmax
(or left as logits). Red lands on one class, blue on another, which is enough to check
loading, preprocessing, crops, layouts and label mapping on ONNX Runtime's real code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18


def build_onnx_model(
    path: Path,
    classes: Sequence[str],
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None = None,
    *,
    labels: Sequence[str] | None = None,
    layout: str = "NCHW",
    size: tuple[int, int] = (224, 224),
    batch: int | str = "N",
    logits: bool = False,
) -> Path:
    """Save a one-input classifier at `path` (input "pixel_values", float32, `layout`) and
    labels.txt beside it (`labels`, default `classes`). `batch` "N" leaves the batch dimension
    free; an int fixes it. `logits` leaves out the softmax."""
    n = len(classes)
    height, width = size
    shape: list[int | str] = [batch, 3, height, width] if layout == "NCHW" else [
        batch, height, width, 3]
    spatial = [2, 3] if layout == "NCHW" else [1, 2]
    channel_axis = 1 if layout == "NCHW" else 3
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values", "axes"], ["means4"], keepdims=1),
        helper.make_node("Reshape", ["means4", "shape2"], ["means"]),
        helper.make_node("MatMul", ["means", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["logits" if logits else "scores"]),
    ]
    if not logits:
        nodes.append(helper.make_node("Softmax", ["scores"], ["logits"], axis=1))
    initializers = [
        numpy_helper.from_array(np.array(spatial, np.int64), "axes"),
        numpy_helper.from_array(np.array([-1, 3], np.int64), "shape2"),
        numpy_helper.from_array(weights.astype(np.float32), "weights"),
        numpy_helper.from_array(
            (bias if bias is not None else np.zeros(n, np.float32)).astype(np.float32), "bias"
        ),
    ]
    assert channel_axis in (1, 3)
    graph = helper.make_graph(
        nodes,
        "colour-classifier",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    text = "\n".join(classes if labels is None else labels) + "\n"
    (path.parent / "labels.txt").write_text(text, encoding="utf-8")
    return path
