"""The speed-drift detector of one (service, model, metric): pure, no clock, no I/O.

Drifted means: the rolling window's median is below baseline / Drift, known as soon as more
than half a window of samples is below it (whatever the rest of the window will hold), so a
fresh window (a new run, after a restart) is judged as quickly as a full one. A median ignores
one slow request and rare outliers; a GPU lost for good moves it within half a window.
The baseline is learned from healthy windows, quickly upwards and only slightly downwards, so a
slow decline cannot drag it along and hide itself.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from xmpvision.config.defaults import BASELINE_WEIGHT

# A healthy window may lower the baseline only when it is this close to it (noise); anything
# slower is not learned from.
LEARN_BELOW = 0.9


@dataclass(frozen=True)
class Reading:
    median: float | None  # None until the window is full
    baseline: float | None
    drifted: bool
    learned: bool  # the baseline moved (to be stored)


class DriftDetector:
    def __init__(self, window: int, drift: float, baseline: float | None = None, *,
                 weight: float = BASELINE_WEIGHT, learn: bool = True) -> None:
        if window < 1 or drift <= 1.0:
            raise ValueError("window must be >= 1 and drift > 1")
        self.window = window
        self.drift = drift
        self.baseline = baseline
        self.weight = weight
        self.learn = learn  # False: a fixed baseline (speeds already relative to one)
        self._samples: deque[float] = deque(maxlen=window)
        self._since_learned = 0

    @property
    def median(self) -> float | None:
        if len(self._samples) < self.window:
            return None
        return statistics.median(self._samples)

    def slow(self, speed: float) -> bool:
        """One sample below the drift threshold: not a verdict, a reason to probe early."""
        return self.baseline is not None and speed < self.baseline / self.drift

    def add(self, speed: float) -> Reading:
        self._samples.append(speed)
        self._since_learned += 1
        if self.baseline is not None:
            below = sum(1 for s in self._samples if s < self.baseline / self.drift)
            if below * 2 > self.window:
                return Reading(statistics.median(self._samples), self.baseline, True, False)
        median = self.median
        if median is None:
            return Reading(None, self.baseline, False, False)
        if self.baseline is not None and median < self.baseline / self.drift:
            return Reading(median, self.baseline, True, False)
        learned = False
        # Learnt once per fresh window, not per sample.
        if self.learn and self._since_learned >= self.window:
            learned = self._learn(median)
            self._since_learned = 0
        return Reading(median, self.baseline, False, learned)

    def _learn(self, median: float) -> bool:
        if self.baseline is None:
            self.baseline = median
            return True
        if median < self.baseline * LEARN_BELOW:
            return False
        self.baseline += self.weight * (median - self.baseline)
        return True

    def reset(self) -> None:
        """Forget the window (after a restart: the old samples say nothing about the new
        process); the baseline stays."""
        self._samples.clear()
        self._since_learned = 0
