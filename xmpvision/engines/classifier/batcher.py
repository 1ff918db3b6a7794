"""Micro-batching: the photos that several worker threads hand a classifier at about the same
time run as one batch through one call of the model.

A CPU classifier costs little more for a batch than for one image (one call's fixed overhead,
and matrix kernels that fill the cores better), so collecting the workers' photos is faster
than running them one after another. No thread of its own: the first caller that finds the
model idle becomes the leader and takes every queued request; alone in the queue, it first
waits a bounded time for more (only when callers were seen to overlap, so a lone worker never
waits). It runs the batch and hands each caller its rows; then the next waiting caller leads.
Exactly one batch runs at a time, so the model is never called from two threads at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xmpvision.config.defaults import CLASSIFIER_SLOTS
from xmpvision.engines.classifier.labels import FloatArray
from xmpvision.errors import EngineError


def short(exc: BaseException) -> str:
    """An exception as one line of at most ~300 characters, for a user's message."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Request:
    images: FloatArray
    result: FloatArray | None = None
    error: EngineError | None = None
    done: bool = False


@dataclass(frozen=True)
class BatchStats:
    calls: int  # model calls made
    images: int  # images run through them
    largest: int  # the largest batch run, in images


class MicroBatcher:
    """Runs `run` (an N x ... batch to N x C scores) on the requests of concurrent callers.

    `fixed_batch`: the model's batch dimension is fixed to that size (PhotoPrism's NASNet
    graphs take exactly 1): batches are cut into pieces of that size, the last one padded with
    zeros. `max_batch` caps the images of one call; `max_wait` is the longest a leader waits
    for more requests, which ends early once `max_callers` requests (the engine's slots: no
    more workers can call at once) are queued.
    """

    def __init__(
        self,
        run: Callable[[FloatArray], FloatArray],
        *,
        engine: str,
        max_batch: int,
        max_wait: float,
        max_callers: int = CLASSIFIER_SLOTS,
        fixed_batch: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be positive, got {max_batch}")
        self._run = run
        self._engine = engine
        self.max_batch = max_batch if fixed_batch is None else max(max_batch, fixed_batch)
        self.max_wait = max_wait
        self.max_callers = max_callers  # no more callers can come: the engine's slots
        self.fixed_batch = fixed_batch
        self._clock = clock
        self._changed = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._running = False
        self._overlap = False  # a request arrived while another was pending or running
        self._calls = 0
        self._images = 0
        self._largest = 0

    def __call__(self, images: FloatArray) -> FloatArray:
        """Scores for `images` (N x ...), computed in some batch; raises EngineError."""
        request = _Request(images)
        with self._changed:
            if self._running or self._pending:
                self._overlap = True
            self._pending.append(request)
            self._changed.notify_all()
        while True:
            with self._changed:
                while not request.done and self._running:
                    self._changed.wait()
                if request.done:
                    break
                self._running = True
                batch = self._collect_locked()
            try:
                self._run_batch(batch)
            finally:
                with self._changed:
                    self._running = False
                    self._changed.notify_all()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def stats(self) -> BatchStats:
        with self._changed:
            return BatchStats(self._calls, self._images, self._largest)

    def _queued_images(self) -> int:
        return sum(len(r.images) for r in self._pending)

    def _collect_locked(self) -> list[_Request]:
        # Wait only for a leader alone in the queue: requests that arrived while the previous
        # batch ran are taken at once, and a lone worker never waits.
        if self._overlap and self.max_wait > 0 and len(self._pending) == 1:
            deadline = self._clock() + self.max_wait
            arrived = len(self._pending)
            while (self._queued_images() < self.max_batch
                   and len(self._pending) < self.max_callers):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            # Nobody came while we waited: the workers have stopped overlapping.
            if len(self._pending) == arrived == 1:
                self._overlap = False
        batch: list[_Request] = []
        size = 0
        while self._pending and (
            not batch or size + len(self._pending[0].images) <= self.max_batch
        ):
            request = self._pending.popleft()
            batch.append(request)
            size += len(request.images)
        return batch

    def _run_batch(self, batch: list[_Request]) -> None:
        """Fill in every request's result or error; never raises."""
        images = np.concatenate([r.images for r in batch]) if len(batch) > 1 else batch[0].images
        try:
            scores = self._scores(images)
            if scores.ndim != 2 or scores.shape[0] != len(images):
                raise ValueError(
                    f"output of shape {scores.shape} for a batch of {len(images)} images"
                )
        # The runtimes raise many types for a failed call (their own errors, ValueError,
        # RuntimeError, MemoryError); each means this batch got no scores.
        except Exception as exc:  # noqa: BLE001 - see above
            message = f"{self._engine} inference failed: {short(exc)}"
            with self._changed:
                for request in batch:
                    # One error each: every caller raises it in its own thread.
                    request.error, request.done = EngineError(message), True
                    request.error.__cause__ = exc
            return
        with self._changed:
            self._calls += 1 if self.fixed_batch is None else -(-len(images) // self.fixed_batch)
            self._images += len(images)
            self._largest = max(self._largest, len(images))
            start = 0
            for request in batch:
                end = start + len(request.images)
                request.result, request.done = scores[start:end], True
                start = end

    def _scores(self, images: FloatArray) -> FloatArray:
        size = self.fixed_batch
        if size is None:
            return self._run(images)
        pieces = []
        for start in range(0, len(images), size):
            piece = images[start : start + size]
            if len(piece) < size:
                padding = np.zeros((size - len(piece), *piece.shape[1:]), piece.dtype)
                piece = np.concatenate([piece, padding])
            pieces.append(self._run(piece)[: min(size, len(images) - start)])
        return np.concatenate(pieces)
