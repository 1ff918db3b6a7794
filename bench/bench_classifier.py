"""Local classifiers: images per second with micro-batching against one image per call, for
the TensorFlow and the ONNX engine, on models built here (nothing is downloaded).

- TensorFlow: Keras' MobileNetV3Small, untrained (weights=None: the same compute as the
  ImageNet one), loaded through the engine's Keras-application path;
- ONNX: a small convolutional classifier built with the `onnx` helper API (three 3x3
  convolutions, stride 2, 16/32/64 channels, global pooling, a 1000-way dense layer, softmax).

`--workers` threads each classify square photos through one engine, as the scan's workers do;
"one by one" is the same engine with batches of one image and no waiting. Preprocessing is
included in both. Needs `pip install -e '.[tensorflow,onnx]'`.

    .venv/bin/python -m bench.bench_classifier [--workers 4] [--photos 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import load_average, spread
from xmpvision.config.defaults import CLASSIFIER_BATCH_WAIT, CLASSIFIER_MAX_BATCH
from xmpvision.config.models import ModelConfig, Thresholds

CLASSES = 1000


def _labels(directory: Path) -> Path:
    path = directory / "labels.txt"
    path.write_text("\n".join(f"class {i}" for i in range(CLASSES)) + "\n")
    return path


def _onnx_model(directory: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    nodes, inits, previous, channels = [], [], "pixel_values", 3
    for index, out in enumerate((16, 32, 64)):
        weight = rng.normal(0, 0.1, (out, channels, 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"w{index}"))
        nodes += [helper.make_node("Conv", [previous, f"w{index}"], [f"c{index}"],
                                   strides=[2, 2], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{index}"], [f"r{index}"])]
        previous, channels = f"r{index}", out
    inits += [numpy_helper.from_array(rng.normal(0, 0.1, (channels, CLASSES)).astype(
        np.float32), "dense"), numpy_helper.from_array(np.zeros(CLASSES, np.float32), "bias")]
    nodes += [helper.make_node("GlobalAveragePool", [previous], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["flat"]),
              helper.make_node("Gemm", ["flat", "dense", "bias"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                                       ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = directory / "model.onnx"
    onnx.save(model, str(path))
    _labels(directory)
    return path


def _onnx_engine(directory: Path, max_batch: int, max_wait: float) -> Any:
    from xmpvision.engines.onnx.engine import OnnxEngine

    config = ModelConfig(type="labels", engine="onnx", model="bench", path=str(directory))
    return OnnxEngine(config, Thresholds(), max_batch=max_batch, max_wait=max_wait)


def _tf_engine(directory: Path, max_batch: int, max_wait: float) -> Any:
    from xmpvision.engines.tensorflow.engine import TensorFlowEngine

    config = ModelConfig(type="labels", engine="tensorflow", model="mobilenetv3-small",
                         label_file=str(_labels(directory)))
    env = {"XMPVISION_MODELS": str(directory), "XMPVISION_NO_DOWNLOAD": "1"}
    return TensorFlowEngine(config, Thresholds(), env=env, keras_weights=None,
                            max_batch=max_batch, max_wait=max_wait)


def images_per_second(engine: Any, photos: list[Image.Image], workers: int) -> float:
    engine.check_ready()
    engine.classify(photos[0])  # warm up (first call traces or allocates)
    chunks = [photos[i::workers] for i in range(workers)]
    start = threading.Barrier(workers + 1)

    def work(chunk: list[Image.Image]) -> None:
        start.wait()
        for photo in chunk:
            engine.classify(photo)

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return len(photos) / (time.perf_counter() - started)


def compare(name: str, make: Callable[[int, float], Any], photos: list[Image.Image],
            workers: int, repeat: int) -> float:
    batched_engine = make(CLASSIFIER_MAX_BATCH, CLASSIFIER_BATCH_WAIT)
    single_engine = make(1, 0.0)
    batched = [images_per_second(batched_engine, photos, workers) for _ in range(repeat)]
    single = [images_per_second(single_engine, photos, workers) for _ in range(repeat)]
    calls, images = batched_engine.batch_stats()
    ratio = max(batched) / max(single)
    print(f"{name:11} batched: {max(batched):7.1f} images/s ({images / max(calls, 1):.1f} "
          f"images per call)  one by one: {max(single):7.1f} images/s  ratio {ratio:.2f}")
    print(f"{'':11} batched s/run {spread([len(photos) / v for v in batched])}; "
          f"one by one {spread([len(photos) / v for v in single])}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8))
              for _ in range(args.photos)]
    print(f"{args.photos} photos of 224x224, {args.workers} workers; max batch "
          f"{CLASSIFIER_MAX_BATCH} images, wait {CLASSIFIER_BATCH_WAIT * 1000:.0f} ms; "
          f"{load_average()}")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "onnx").mkdir()
        _onnx_model(root / "onnx")
        compare("onnx", lambda b, w: _onnx_engine(root / "onnx", b, w), photos, args.workers,
                args.repeat)
        compare("tensorflow", lambda b, w: _tf_engine(root, b, w), photos, args.workers,
                args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
