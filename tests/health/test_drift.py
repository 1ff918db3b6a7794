"""The pure drift detector: medians over a window against a learned baseline."""

from __future__ import annotations

import math
import random

from xmpvision.health.drift import DriftDetector


def noisy(rng: random.Random, speed: float, sigma: float = 0.35, outliers: float = 0.01) -> float:
    """A healthy answer's speed: lognormal noise, and now and then a 4x slower outlier."""
    value = speed * math.exp(rng.gauss(0.0, sigma))
    return value / 4 if rng.random() < outliers else value


def test_noisy_healthy_latencies_never_drift_over_2000_requests() -> None:
    rng = random.Random(20261201)
    detector = DriftDetector(window=20, drift=2.0)
    drifted = [i for i in range(2000) if detector.add(noisy(rng, 40.0)).drifted]
    assert drifted == []
    assert detector.baseline is not None and 30 < detector.baseline < 50


def test_rare_bursts_of_outliers_do_not_drift() -> None:
    rng = random.Random(7)
    detector = DriftDetector(window=20, drift=2.0, baseline=40.0)
    # Up to 9 slow answers in a row (less than half a window) never move the median enough.
    samples = [noisy(rng, 40.0, 0.1, 0.0) for _ in range(100)]
    samples[50:59] = [4.0] * 9
    assert not any(detector.add(s).drifted for s in samples)


def test_a_sustained_8x_slowdown_drifts_within_half_a_window() -> None:
    rng = random.Random(3)
    detector = DriftDetector(window=20, drift=2.0)
    for _ in range(60):
        assert not detector.add(noisy(rng, 40.0)).drifted
    delay = next(i for i in range(1, 100) if detector.add(noisy(rng, 5.0)).drifted)
    assert delay <= 11


def test_a_slow_decline_does_not_drag_the_baseline_along() -> None:
    detector = DriftDetector(window=10, drift=2.0, baseline=40.0)
    speed = 40.0
    drifted_at = None
    for index in range(400):
        speed *= 0.995  # half the speed after ~140 requests
        if detector.add(speed).drifted:
            drifted_at = index
            break
    assert drifted_at is not None
    assert detector.baseline is not None and detector.baseline > 36


def test_baseline_is_learned_from_the_first_full_window_and_rises_with_faster_windows() -> None:
    detector = DriftDetector(window=5, drift=2.0)
    for _ in range(4):
        detector.add(10.0)
    assert detector.baseline is None
    assert detector.add(10.0).learned and detector.baseline == 10.0
    for _ in range(5):
        detector.add(20.0)
    assert detector.baseline is not None and detector.baseline > 10.0


def test_reset_forgets_the_window_and_more_than_half_a_window_decides() -> None:
    """After a reset (a restart, a new run) the verdict comes once more than half a window of
    samples is slow, as the full window's median would be, not only once it is full."""
    detector = DriftDetector(window=5, drift=2.0, baseline=40.0)
    for _ in range(5):
        detector.add(5.0)
    detector.reset()
    assert [detector.add(5.0).drifted for _ in range(5)] == [False] * 2 + [True] * 3
    detector.reset()
    assert not any(detector.add(s).drifted for s in (5.0, 5.0, 40.0, 40.0, 40.0))
    assert detector.slow(5.0) and not detector.slow(30.0)

