"""Class names and turning one probability per class into keywords. Pure numpy, testable
without TensorFlow or ONNX Runtime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from xmpvision.engines.classifier.rules import LabelRule, rule_for
from xmpvision.errors import EngineUnavailable
from xmpvision.results import Label
from xmpvision.text.labels import NormalizeMode, normalize_labels

FloatArray = npt.NDArray[np.float32]


# ImageNet-21k's names are ~0.5 MB; a LabelFile beyond this (a device, a wrong path) is refused
# before it is read into memory.
MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024


def read_class_names(path: Path, outputs: int, *, engine: str) -> list[str]:
    """A labels file (one class per line) as a list indexed like the model's output vector."""
    try:
        if path.exists() and not path.is_file():
            # A pipe or a device would block the read, or never end.
            raise EngineUnavailable(
                f"error reading {engine} labels {path}: not a regular file",
                hint="set LabelFile in vision.yml to the model's class names (one per line)",
            )
        with path.open("rb") as file:
            data = file.read(MAX_LABEL_FILE_BYTES + 1)
        if len(data) > MAX_LABEL_FILE_BYTES:
            raise EngineUnavailable(
                f"error reading {engine} labels {path}: larger than "
                f"{MAX_LABEL_FILE_BYTES // (1024 * 1024)} MiB, not a list of class names",
                hint="set LabelFile in vision.yml to the model's class names (one per line)",
            )
        lines = data.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineUnavailable(
            f"error reading {engine} labels {path}: {exc}",
            hint="put the class names there (one per line), or set LabelFile in vision.yml; "
            "PhotoPrism's ONNX models use ImageNet's, which `xmpvision models pull nasnet` "
            "installs",
        ) from exc
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if len(names) == outputs - 1:
        names.insert(0, "background")  # NASNet's 1001-way output: class 0 is background
    if len(names) != outputs:
        raise EngineUnavailable(
            f"error loading {engine} labels {path}: {len(names)} classes for a model "
            f"with {outputs} outputs",
            hint="LabelFile must list one class per output, in the model's order",
        )
    return names


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax of an N x C array, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return result


@dataclass(frozen=True)
class _Scored:
    rule: LabelRule
    probability: float


def labels_from_probabilities(
    probabilities: Sequence[float] | FloatArray,
    class_names: Sequence[str],
    *,
    model: str,
    engine: str,
    source: str,
    confidence_threshold: float,
    topicality_threshold: float,
    max_labels: int,
    mode: NormalizeMode,
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
            engine=engine,
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
