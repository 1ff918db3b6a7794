"""Class names, crops and turning probabilities into labels. Pure numpy/Pillow, testable
without TensorFlow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from xmpvision.engines.tensorflow import ENGINE, SOURCE
from xmpvision.engines.tensorflow.rules import LabelRule, rule_for
from xmpvision.errors import EngineUnavailable
from xmpvision.results import Label
from xmpvision.text.labels import NormalizeMode, normalize_labels

FloatArray = npt.NDArray[np.float32]


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
    model: str,
    confidence_threshold: float,
    topicality_threshold: float,
    max_labels: int,
    mode: NormalizeMode,
    source: str = SOURCE,
) -> list[Label]:
    """Turn one probability per class into at most `max_labels` keywords.

    Classes are mapped through the rules table (rules.py); several classes mapping to one
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
    global_min = confidence_threshold / 100
    topicality_min = topicality_threshold / 100
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
            engine=ENGINE,
            confidence_threshold=confidence_threshold,
            topicality_threshold=topicality_threshold,
            max_labels=1,
            mode=mode,
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
                # Broader keywords, broadest first: Animal|Pet|Cat in the hierarchical fields.
                categories=tuple(c.strip().title() for c in scored.rule.categories if c.strip()),
            )
        )
    labels.sort(key=lambda label: (-label.priority, -label.confidence))
    return labels
