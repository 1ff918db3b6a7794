"""Build tiny but real TensorFlow classifiers in PhotoPrism's NASNet layout, for tests.

The graph is what a colour classifier needs and nothing more: the mean of each RGB channel
(input scaled to [-1, 1]) times a 3 x C weight matrix plus a bias, through a softmax. With
weights chosen per class, a red image lands on one class and a blue one on another, which is
enough to check loading, preprocessing, crops and label mapping on the real TF code path.
The weights are TF variables restored from the SavedModel's variables/, as in NASNet.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def _tf() -> Any:
    import tensorflow as tf

    return tf


def color_weights(
    classes: Sequence[str], colors: dict[str, str], gain: float = 12.0
) -> npt.NDArray[np.float32]:
    """A 3 x C weight matrix: class `name` fires for channel `colors[name]` ("r", "g", "b")."""
    weights = np.zeros((3, len(classes)), np.float32)
    for name, channel in colors.items():
        weights["rgb".index(channel), list(classes).index(name)] = gain
    return weights


def build_photoprism_model(
    directory: Path,
    classes: Sequence[str],
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None = None,
    *,
    labels: Sequence[str] | None = None,
    batch_size: int | None = None,
    input_size: int = 224,
) -> Path:
    """Save a TF1 SavedModel (tag "photoprism", ops input_1 -> predictions/Softmax, no
    signature, like PhotoPrism's nasnet) plus labels.txt into `directory`.

    `labels` is what labels.txt holds (default: `classes`); pass classes[1:] to get the
    1001-outputs/1000-lines layout where "background" is implied.
    """
    tf = _tf()
    v1 = tf.compat.v1
    n = len(classes)
    if weights.shape != (3, n):
        raise ValueError(f"weights must be 3 x {n}")
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [batch_size, input_size, input_size, 3], name="input_1")
        means = tf.reduce_mean(x, axis=[1, 2])
        w = v1.get_variable("dense/kernel", initializer=tf.constant(weights))
        b = v1.get_variable(
            "dense/bias",
            initializer=tf.constant(bias if bias is not None else np.zeros(n, np.float32)),
        )
        with tf.name_scope("predictions"):
            tf.nn.softmax(tf.matmul(means, w) + b, name="Softmax")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(directory))
            builder.add_meta_graph_and_variables(session, ["photoprism"])
            builder.save()
    text = "\n".join(classes if labels is None else labels) + "\n"
    (directory / "labels.txt").write_text(text, encoding="utf-8")
    return directory


def build_tf2_model(
    directory: Path,
    classes: Sequence[str],
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None = None,
) -> Path:
    """Save the same colour classifier as a TF2 SavedModel with a serving_default signature
    (the shape a Keras `model.export()` produces), plus labels.txt."""
    tf = _tf()

    module = tf.Module()
    module.w = tf.Variable(weights)
    module.b = tf.Variable(bias if bias is not None else np.zeros(len(classes), np.float32))

    def serve(images: Any) -> Any:
        logits = tf.reduce_mean(images, axis=[1, 2]) @ module.w + module.b
        return {"probabilities": tf.nn.softmax(logits)}

    spec = [tf.TensorSpec([None, 224, 224, 3], tf.float32)]
    module.serve = tf.function(serve, input_signature=spec)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    (directory / "labels.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")
    return directory


def zip_directory(directory: Path, prefix: str = "nasnet") -> bytes:
    """The directory as zip bytes, its files under `prefix/` (as nasnet.zip is laid out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}/{path.relative_to(directory).as_posix()}")
    return buffer.getvalue()
