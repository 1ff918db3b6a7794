"""Reading an answer within bounds, in time and in size.

Time: httpx's read timeout bounds the silence between two reads, so an answer that trickles one
byte a second, or a proxy that sends keep-alive comments forever, never trips it. A `Deadline`
bounds the whole exchange instead: every read waits at most what is left of it, and once the
response has started a watchdog cuts the connection when it passes (a blocked read is woken by
shutting the socket down).

Size: the body is decompressed here, a block at a time, and counted as it comes, so a small
gzip body that unpacks to gigabytes costs one block of memory before it is refused.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import httpx

# Bodies are JSON answers and model lists; a runaway stream of NDJSON chunks stays below this
# (MAX_ANSWER_CHARS of text, ~60 bytes of JSON around every few characters).
MAX_BODY_BYTES = 16 * 1024 * 1024
# Decompressed bytes produced per step: the most a compressed block can cost at once.
_BLOCK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"  # what `_decoder` can unpack (no br/zstd)


class BodyTooLarge(Exception):
    """The decompressed body passed MAX_BODY_BYTES."""


class UnknownEncoding(Exception):
    """A Content-Encoding this reader cannot unpack."""


class DeadlinePassed(Exception):
    """The whole exchange took longer than its deadline."""


class Deadline:
    """When one request must be over: connect, send and the whole answer."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    @property
    def passed(self) -> bool:
        return self._clock() >= self._at

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """`base` with no single wait longer than what is left of the deadline."""
        left = max(self.remaining(), 0.001)

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(connect=cap(base.connect), read=cap(base.read),
                             write=cap(base.write), pool=cap(base.pool))


class Watchdog:
    """Cuts a response's connection when its deadline passes, waking a read blocked on it."""

    def __init__(self, response: httpx.Response, deadline: Deadline) -> None:
        self.fired = False
        stream = response.extensions.get("network_stream")
        get = getattr(stream, "get_extra_info", None)
        self._socket: socket.socket | None = get("socket") if get is not None else None
        self._timer = threading.Timer(deadline.remaining(), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        self.fired = True
        if self._socket is not None:
            # Already closed: the read has ended anyway.
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)


class Body:
    """A response's body, decompressed and counted, read before its deadline."""

    def __init__(self, response: httpx.Response, deadline: Deadline, watchdog: Watchdog,
                 limit: int = MAX_BODY_BYTES) -> None:
        self.response = response
        self._deadline = deadline
        self._watchdog = watchdog
        self._limit = limit

    @property
    def content_type(self) -> str:
        value: str = self.response.headers.get("Content-Type", "")
        return value.split(";")[0].strip().lower()

    def _check(self) -> None:
        if self._watchdog.fired or self._deadline.passed:
            raise DeadlinePassed

    def chunks(self) -> Iterator[bytes]:
        """The decompressed body, a block at a time."""
        if self.response.is_stream_consumed:
            # Read by the transport already (a test's mock, say): httpx has unpacked it.
            if len(self.response.content) > self._limit:
                raise BodyTooLarge
            yield self.response.content
            return
        encoding = self.response.headers.get("Content-Encoding", "").strip().lower()
        unpack = _Unpacker(encoding)
        size = 0
        for raw in self.response.iter_raw():
            self._check()
            for block in unpack(raw):
                size += len(block)
                if size > self._limit:
                    raise BodyTooLarge
                yield block
        self._check()  # the watchdog may have ended the body by cutting the connection

    def read(self) -> bytes:
        buffer = bytearray()
        for block in self.chunks():
            buffer += block
        return bytes(buffer)

    def lines(self) -> Iterator[str]:
        """The body's lines (without their line ends), as text."""
        pending = bytearray()  # grown in place: a line without an end is not copied each time
        for block in self.chunks():
            searched = len(pending)
            pending += block
            while (end := pending.find(b"\n", searched)) >= 0:
                yield pending[:end].rstrip(b"\r").decode("utf-8", "replace")
                del pending[: end + 1]
                searched = 0
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")


class _Unpacker:
    """Content-Encoding gzip/deflate undone with a bounded output per step."""

    def __init__(self, encoding: str) -> None:
        self._wbits = zlib.MAX_WBITS
        self._decoder: Any = None  # zlib's decompress object; None: the body is as sent
        if encoding in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif encoding != "deflate" and encoding not in ("", "identity"):
            raise UnknownEncoding(encoding)
        if encoding not in ("", "identity"):
            self._decoder = zlib.decompressobj(self._wbits)
        self._started = False

    def __call__(self, data: bytes) -> Iterator[bytes]:
        if self._decoder is None:
            if data:
                yield data
            return
        while data:
            try:
                block = self._decoder.decompress(data, _BLOCK)
            except zlib.error as exc:
                if self._started or self._wbits != zlib.MAX_WBITS:
                    raise httpx.DecodingError(f"cannot unpack the body: {exc}") from exc
                # "deflate" sent raw, without its zlib header (as some servers do).
                self._wbits = -zlib.MAX_WBITS
                self._decoder = zlib.decompressobj(self._wbits)
                continue
            self._started = True
            if block:
                yield block
            if self._decoder.eof:
                # Several gzip members one after the other: each is unpacked in turn.
                data = self._decoder.unused_data
                self._decoder = zlib.decompressobj(self._wbits)
            else:
                data = self._decoder.unconsumed_tail
