"""A real loopback HTTP server that speaks Ollama's API, for tests and benchmarks.

Never imported by the package. Usable without pytest: the benchmarks, run from the repository
root as `python -m bench.NAME`, import it as `tests.ollama_server`.

    with OllamaServer(models=["gemma3:latest"], latency=0.5, parallel=2) as server:
        uri = server.url                       # http://127.0.0.1:<port>
        server.ideal_throughput()              # 4.0 requests/second

Latency and parallel semantics (like OLLAMA_NUM_PARALLEL): every /api/generate or /api/chat
request holds one of `parallel` slots for `latency` seconds (plus `chunk_delay` per streamed
chunk); requests beyond the capacity queue for a slot. The ideal throughput of a saturated
server is therefore parallel / latency requests per second. Other endpoints answer at once.
The final chunk's durations say so as Ollama's do: prompt_eval_duration (PREFILL_SHARE of the
latency) and eval_duration add up to the slot's latency, and total_duration runs from the
request's arrival, its wait for a slot included (after load_duration, as Ollama queues for a
runner's slot once the model is loaded).
A streamed answer is timed as Ollama sends it: nothing (not even the headers) while the
request waits for a slot or its prompt is evaluated; the headers come with the first chunk
once the prefill and the first decoding step are done, then one chunk per step until the
eval time is spent, then the slot is freed and the final chunk sent. Ollama writes each piece
its runner generates as it comes (llm/llama_server.go Completion's callback feeds the channel
that server/routes.go streamResponse writes; gin sends the headers with the first write). A
non-streamed answer comes whole at the end, as GenerateHandler collects the channel first.

Endpoints: GET /api/version, GET /api/tags, POST /api/show, GET /api/ps, POST /api/generate,
POST /api/chat; stream (application/x-ndjson chunks, then a final `done: true` object with
durations and counts) and non-stream; errors as Ollama sends them ({"error": "..."} with 400,
404, 429, 500). Every request is recorded (path, headers, JSON body, decoded image sizes).

Health scenarios (the knobs the health monitor's tests and bench/bench_health.py turn):
`slowdown` multiplies every generate's latency and the timings it reports (eval_duration,
prompt_eval_duration); `lose_gpu_after=K` loses the GPU at generate request K (size_vram 0,
`gpu_slowdown` times slower); `drift_after=K` makes every later request `drift_per_request` slower
while /api/ps still claims the GPU; `noise` (lognormal sigma) and `outlier_rate` (4 times slower)
make healthy latencies noisy, from a seeded RNG. `constrained_slowdown` makes the decoding of
schema-constrained answers (a request with `format`) that many times slower per token than free
text, as Ollama's grammar sampling often is; `--prefill S --decode S` (seconds per prompt and per
answer token, a `GpuCost`) make every answer's time and reported timings per token (a
stream's first chunk after the prefill);
`prompt_cached` leaves `prompt_eval_count` out, as Ollama did for a prompt it had cached.
`python -m tests.ollama_server serve --port P` runs it as a process, and
`python -m tests.ollama_server restart --pidfile F -- serve ...` kills that process and starts
a fresh one on the same port (a real restart: the GPU is back).

Answers come from responders: a function of the request returning text or a `Reply`, set per
model and kind ("labels" when the request carries a `format` or mentions labels, else
"caption"). Faults are queued and consumed by the generate/chat requests they match.

As Ollama (server/routes.go, api/types.go, llm/llama_server.go at its Aug 2026 head):
- a model with the "thinking" capability thinks unless the request says `think: false` (its
  `Reply.thinking` is sent only then); `think` true or a level on a model without it is a 400
  `"<model>" does not support thinking`; a `think` string other than high/medium/low/max and a
  `keep_alive` string that is not a Go duration ("300") are 400s;
- `Reply(end="length")` ends with `done_reason: "length"` (a cut answer); `end="repeat"` is the
  repetition cut-off: the stream ends without a final chunk and without an error, a
  non-streamed answer comes with `done: false`;
- `ModelEntry.load_error` answers every generate for it with a 500 and that message (a model
  that cannot load: `NO_MEMORY`), other models unaffected; `fail(503, error=BUSY)` is the
  full queue; `fail(400, error=TOO_LONG)` a prompt over the context; `stream_error()` the
  error line after a 200;
- model names match case-insensitively (`Gemma3:4B` is `gemma3:4b`).
Faults no real Ollama needs but a proxy in front of it may add: `trickle` (one byte per
`delay` seconds, for ever) and `gzip_bomb` (a gzip body that unpacks to 1 GiB).
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import math
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from PIL import Image

VERSION = "0.12.6"
GIB = 1024**3
LOAD_SECONDS = 0.05  # load_duration of a model already loaded
PREFILL_SHARE = 0.3  # of a request's latency, spent on its prompt before the first token

Kind = Literal["labels", "caption"]
FaultKind = Literal["status", "hang", "reset", "stream_error", "garbage", "slow", "trickle",
                    "gzip_bomb"]
# Ollama's own words (server/sched.go, llm/server.go).
BUSY = "server busy, please try again.  maximum pending requests exceeded"
NO_MEMORY = "model requires more system memory (12.4 GiB) than is available (7.6 GiB)"
TOO_LONG = "the prompt is longer than the context length"  # fail(400, error=TOO_LONG)
THINK_LEVELS = ("high", "medium", "low", "max")
# Go's time.ParseDuration, as api.Duration applies it to a `keep_alive` string.
_GO_DURATION = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+")


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str | None  # "JPEG", ... or None when the bytes are not an image


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None
    images: list[ImageInfo] = field(default_factory=list)

    @property
    def kind(self) -> Kind:
        return request_kind(self.body)


@dataclass(frozen=True)
class Reply:
    """A model answer: `response` text and, for reasoning models, `thinking` text (sent only
    when the model thinks). `end`: "stop", "length" (cut at num_predict or the context) or
    "repeat" (Ollama's repetition cut-off: no final chunk)."""

    response: str
    thinking: str = ""
    end: Literal["stop", "length", "repeat"] = "stop"


@dataclass
class Fault:
    """A planned misbehaviour, consumed by the next `times` generate/chat requests.

    status: answer `status` with {"error": error} (429 adds Retry-After: retry_after).
    hang: never answer until the client gives up (or the server stops); holds no slot.
    reset: stream `after_chunks` chunks (0 for a non-stream request), then drop the
        connection with a TCP reset (after 0 chunks of a stream: before its headers, as a
        crash during the prefill would).
    stream_error: stream `after_chunks` chunks, then an {"error": ...} line (status stays 200).
    garbage: answer 200 with a body that is not JSON.
    slow: stream with `delay` seconds between chunks (on top of the decoding steps).
    trickle: answer 200 and send the answer one byte per `delay` seconds, for ever.
    gzip_bomb: answer 200 with a gzip body (~1 MB) that unpacks to 1 GiB of zeros.
    """

    kind: FaultKind
    times: int = 1
    status: int = 500
    error: str = "an error was encountered while running the model"
    retry_after: float | None = None
    after_chunks: int = 1
    delay: float = 0.0
    model: str | None = None  # only requests for this model; None for any


@dataclass(frozen=True)
class GpuCost:
    """What a request costs a GPU: every prompt token (each image is `image_tokens` of them,
    ~1,150 for qwen2.5-vl at 720 px, ~208 for gemma) is prefilled, every answer token decoded.
    Text tokens are counted as characters / 4. A `format` schema is no prompt token: Ollama
    turns it into the sampler's grammar (llm/server.go), the prompt is the template's."""

    image_tokens: int = 1150
    prefill: float = 0.0009  # seconds per prompt token
    decode: float = 0.025  # seconds per answer token

    def tokens(self, body: dict[str, Any], reply: Reply) -> tuple[int, int]:
        text = json.dumps([body.get("prompt"), body.get("system")])
        prompt = len(text) // 4 + self.image_tokens * len(body.get("images") or [])
        return prompt, max(1, len(reply.response + reply.thinking) // 4)

    def seconds(self, body: dict[str, Any], reply: Reply,
                constrained: float = 1.0) -> tuple[float, float]:
        """(prefill, decode) seconds; `constrained` multiplies the decode of a `format`
        request (grammar sampling slows decoding, not the prompt)."""
        prompt, answer = self.tokens(body, reply)
        slower = constrained if body.get("format") else 1.0
        return prompt * self.prefill, answer * self.decode * slower


@dataclass
class ModelEntry:
    name: str
    size: int = 3 * GIB
    capabilities: tuple[str, ...] = ("completion", "vision")
    loaded: bool = False  # listed by /api/ps; set by the first generate, as Ollama loads
    size_vram: int | None = None  # None: all of `size` (fully on the GPU)
    load_error: str | None = None  # every generate answers 500 with it (cannot load)
    # details.family: the GGUF architecture (qwen3-vl's is "qwen3vl"); else from the name
    family: str | None = None


Responder = Callable[[RecordedRequest], "str | Reply"]

DEFAULT_LABELS = json.dumps(
    {
        "labels": [
            {"name": "dog", "confidence": 0.95, "topicality": 0.9},
            {"name": "beach", "confidence": 0.8, "topicality": 0.6},
        ]
    }
)
DEFAULT_CAPTION = "A brown dog runs along a sandy beach at sunset."
# Where those labels nest in lr:hierarchicalSubject: the classifiers' keyword table gives "dog"
# and "beach" their categories, whichever model names them.
DEFAULT_KEYWORD_PATHS = ["Animal|Pet|Dog", "Landscape|Water|Beach"]


def request_kind(body: Any) -> Kind:
    """Whether a generate/chat body asks for labels (a `format`, or "label" in the prompt)."""
    if not isinstance(body, dict):
        return "caption"
    if body.get("format"):
        return "labels"
    text = json.dumps([body.get("prompt"), body.get("system"), body.get("messages")]).lower()
    return "labels" if "label" in text else "caption"


def default_responder(request: RecordedRequest) -> Reply:
    return Reply(DEFAULT_LABELS if request.kind == "labels" else DEFAULT_CAPTION)


def normalize_model(name: str) -> str:
    """Ollama's model reference: a missing tag means latest."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _key(name: str) -> str:
    """How Ollama finds a model: its name's parts compared case-insensitively (EqualFold)."""
    return normalize_model(name).casefold()


@functools.cache
def gzip_bomb(gib: int = 1) -> bytes:
    """A gzip member of `gib` GiB of zeros, ~1 MB packed. Every 1 MiB block is compressed
    after a full flush, so its bytes are the same each time and are repeated, not recomputed."""
    block = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    repeated = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    count = gib * 1024
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (count << 20) & 0xFFFFFFFF)
    return first + repeated * (count - 1) + final_empty_block + trailer


def think_error(body: dict[str, Any], entry: ModelEntry) -> str | None:
    """Ollama's 400 for the request's `think` and `keep_alive`, or None."""
    think = body.get("think")
    if isinstance(think, str) and think not in THINK_LEVELS:
        return (f'invalid think value: "{think}" (must be "high", "medium", "low", "max", '
                "true, or false)")
    keep_alive = body.get("keep_alive")
    if isinstance(keep_alive, str) and keep_alive != "0" and not _GO_DURATION.fullmatch(
            keep_alive):
        if re.fullmatch(r"[+-]?[\d.]+", keep_alive):
            return f'time: missing unit in duration "{keep_alive}"'
        return f'time: invalid duration "{keep_alive}"'
    if think not in (None, False) and "thinking" not in entry.capabilities:
        return f'"{body.get("model")}" does not support thinking'
    return None


def thinks(body: dict[str, Any], entry: ModelEntry) -> bool:
    """Whether the model thinks for this request: Ollama turns thinking on for a model that
    can, unless the request says `think: false`."""
    return "thinking" in entry.capabilities and body.get("think", True) is not False


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def sleep_until(due: float) -> None:
    """Sleep to a time.monotonic() instant: a stream's decoding steps keep the model's pace
    instead of adding up every sleep's overshoot (with ~25 chunks, ~1.5% of the latency)."""
    left = due - time.monotonic()
    if left > 0:
        time.sleep(left)


def _chunks(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


class OllamaServer:
    """The emulator. Knobs are plain attributes and methods, safe to change from any thread."""

    def __init__(
        self,
        *,
        models: list[str] | None = None,
        latency: float = 0.0,
        parallel: int = 1,
        chunk_delay: float = 0.0,
        require_key: str | None = None,
        port: int = 0,
        lose_gpu_after: int | None = None,
        gpu_slowdown: float = 8.0,
        drift_after: int | None = None,
        drift_per_request: float = 0.0,
        noise: float = 0.0,
        outlier_rate: float = 0.0,
        seed: int = 0,
        cost: GpuCost | None = None,
        constrained_slowdown: float = 1.0,
    ) -> None:
        self._lock = threading.Lock()
        # With a cost model, each request takes (and reports) what a GPU would spend on it
        # instead of `latency`; `gpu_seconds` adds them up.
        self.cost = cost
        self.constrained_slowdown = constrained_slowdown
        self.gpu_seconds = 0.0
        # The prompt was in the cache: its count and duration left out, as Ollama before 0.2
        # sent them (`omitempty` dropped the 0 it counted then).
        self.prompt_cached = False
        self.port = port
        self.slowdown = 1.0  # multiplies latency and the reported timings
        self.lose_gpu_after = lose_gpu_after
        self.gpu_slowdown = gpu_slowdown
        self.drift_after = drift_after
        self.drift_per_request = drift_per_request
        self.noise = noise
        self.outlier_rate = outlier_rate
        self._rng = random.Random(seed)
        self.generate_count = 0  # generate/chat requests that reached a model
        self._models: dict[str, ModelEntry] = {}
        for name in models if models is not None else ["gemma3:latest"]:
            self.add_model(name)
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.require_key = require_key  # when set, requests without this bearer token get 401
        self._parallel = parallel
        self._slots = threading.Semaphore(parallel)
        self._responders: dict[tuple[str, str], Responder] = {}
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0  # the most generate requests holding a slot at once
        self._arrived = 0
        self.max_arrived = 0  # the most generate requests at once, in a slot or queued for one
        # Wedged: generate/chat requests are accepted and never answered (a hung GPU); with
        # `wedge_version`, /api/version hangs too (the whole server is stuck).
        self._wedge_after: int | None = None
        self._wedge_seen = 0
        self.wedge_version = False
        self.wedged_requests = 0  # requests that hung because it was wedged
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"emulator": self})
        httpd = _Server(("127.0.0.1", self.port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="ollama-emulator"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def ideal_throughput(self) -> float:
        """Requests per second a saturated server completes: parallel / latency."""
        return float("inf") if self.latency <= 0 else self.parallel / self.latency

    # --- knobs -------------------------------------------------------------------------------

    @property
    def parallel(self) -> int:
        return self._parallel

    @parallel.setter
    def parallel(self, value: int) -> None:
        with self._lock:  # requests in flight release the semaphore they acquired
            self._parallel = value
            self._slots = threading.Semaphore(value)

    def add_model(self, name: str, **details: Any) -> ModelEntry:
        entry = ModelEntry(normalize_model(name), **details)
        with self._lock:
            self._models[_key(entry.name)] = entry
        return entry

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(_key(name), None)

    def model(self, name: str) -> ModelEntry | None:
        with self._lock:
            return self._models.get(_key(name))

    def lose_gpu(self, slowdown: float | None = None) -> None:
        """The documented failure: models stay loaded but fall back to CPU (size_vram 0),
        and answer `slowdown` times slower when given."""
        with self._lock:
            for entry in self._models.values():
                entry.size_vram = 0
            if slowdown is not None:
                self.slowdown = slowdown

    def _request_factor(self) -> float:
        """The slowdown of the next generate request (counts it; applies the scenarios)."""
        with self._lock:
            self.generate_count += 1
            count = self.generate_count
            lose = self.lose_gpu_after
            drift = self.drift_after
        if lose is not None and count > lose and any(
            m.size_vram != 0 for m in self._models.values()
        ):
            self.lose_gpu(self.gpu_slowdown)
        with self._lock:
            if drift is not None and count > drift:
                self.slowdown += self.drift_per_request
            factor = self.slowdown
            if self.noise:
                factor *= math.exp(self._rng.gauss(0.0, self.noise))
            if self.outlier_rate and self._rng.random() < self.outlier_rate:
                factor *= 4.0
        return factor

    def respond(self, responder: Responder | str | Reply, *, model: str = "*",
                kind: str = "*") -> None:
        """Answer generate/chat requests for `model` and `kind` ("labels", "caption" or "*")."""
        if isinstance(responder, str | Reply):
            fixed = responder
            responder = lambda _request: fixed  # noqa: E731
        key = (_key(model) if model != "*" else "*", kind)
        with self._lock:
            self._responders[key] = responder

    def wedge(self, *, after: int = 0, version: bool = False) -> None:
        """Let `after` more generate/chat requests through, then hang every later one (and,
        with `version`, /api/version) until `unwedge()`."""
        with self._lock:
            self._wedge_after = after
            self._wedge_seen = 0
            self.wedge_version = version

    def unwedge(self) -> None:
        with self._lock:
            self._wedge_after = None
            self.wedge_version = False

    def _wedged(self) -> bool:
        """Whether this generate/chat request hangs (counts it toward `after`)."""
        with self._lock:
            if self._wedge_after is None:
                return False
            self._wedge_seen += 1
            if self._wedge_seen <= self._wedge_after:
                return False
            self.wedged_requests += 1
            return True

    @property
    def is_wedged(self) -> bool:
        with self._lock:
            return self._wedge_after is not None and self._wedge_seen >= self._wedge_after

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def fail(self, status: int = 500, *, times: int = 1, error: str | None = None,
             retry_after: float | None = None) -> None:
        self.add_fault(Fault("status", times=times, status=status,
                             error=error or f"{status} error", retry_after=retry_after))

    def rate_limit(self, retry_after: float = 0.0, *, times: int = 1) -> None:
        self.fail(429, times=times, error="too many requests", retry_after=retry_after)

    def hang(self, *, times: int = 1) -> None:
        self.add_fault(Fault("hang", times=times))

    def reset(self, *, after_chunks: int = 1, times: int = 1) -> None:
        self.add_fault(Fault("reset", times=times, after_chunks=after_chunks))

    def stream_error(self, *, after_chunks: int = 1, error: str | None = None) -> None:
        self.add_fault(Fault("stream_error", after_chunks=after_chunks,
                             error=error or Fault.error))

    def garbage(self, *, times: int = 1) -> None:
        self.add_fault(Fault("garbage", times=times))

    def slow_stream(self, delay: float, *, times: int = 1) -> None:
        self.add_fault(Fault("slow", times=times, delay=delay))

    def trickle(self, delay: float = 1.0, *, times: int = 1) -> None:
        self.add_fault(Fault("trickle", times=times, delay=delay))

    def gzip_bomb(self, *, times: int = 1) -> None:
        self.add_fault(Fault("gzip_bomb", times=times))

    # --- what was sent -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in ("/api/generate", "/api/chat")]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = 0
            self.max_arrived = 0

    # --- used by the handler -----------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_fault(self, model: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.model is None or _key(fault.model) == _key(model):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _answer(self, request: RecordedRequest, model: str) -> Reply:
        kind = request.kind
        with self._lock:
            responder = (
                self._responders.get((_key(model), kind))
                or self._responders.get((_key(model), "*"))
                or self._responders.get(("*", kind))
                or self._responders.get(("*", "*"))
                or default_responder
            )
        reply = responder(request)
        return Reply(reply) if isinstance(reply, str) else reply

    def _acquire_slot(self) -> threading.Semaphore:
        with self._lock:
            slots = self._slots
            self._arrived += 1
            self.max_arrived = max(self.max_arrived, self._arrived)
        slots.acquire()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return slots

    def _release_slot(self, slots: threading.Semaphore) -> None:
        with self._lock:
            self._in_flight -= 1
            self._arrived -= 1
        slots.release()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or was reset on purpose is part of the test, not a bug.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    emulator: OllamaServer
    _stream_open = False  # this request's stream has sent its headers
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as Ollama (Go) does
    # Go's net/http sets TCP_NODELAY; with Nagle on, small NDJSON chunks would stall ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read recordings
        pass

    # --- plumbing ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_bytes(status, data, "application/json; charset=utf-8", headers)

    def _send_bytes(self, status: int, data: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": message}, headers)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream_open = True

    def _write_chunk(self, payload: Any) -> None:
        # The headers go with the first chunk, as gin writes them on a stream's first write.
        if not self._stream_open:
            self._start_stream()
        data = (json.dumps(payload) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        if not self._stream_open:
            self._start_stream()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP RST, as a crashed server or proxy does."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _hang(self) -> None:
        """Answer nothing until the client disconnects or the server stops."""
        while not self.emulator._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break  # client closed (timed out)
                except OSError:
                    break
                time.sleep(0.02)  # pipelined data: keep waiting
        self.close_connection = True

    def _trickle(self, delay: float) -> None:
        """A 200 whose body comes one byte per `delay` seconds until the client leaves."""
        self._start_stream()
        text = json.dumps({"response": DEFAULT_CAPTION * 1000, "done": False})
        try:
            for char in text:
                if self.emulator._stopping.wait(delay):
                    break
                data = char.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
        except OSError:
            pass  # the client gave up: what this fault is for
        self.close_connection = True

    def _authorized(self) -> bool:
        key = self.emulator.require_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "unauthorized")
        return False

    def _record(self, body: Any, images: list[ImageInfo] | None = None) -> RecordedRequest:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            images=images or [],
        )
        self.emulator._record(request)
        return request

    # --- routes ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        emulator = self.emulator
        if self.path == "/api/version":
            if emulator.wedge_version and emulator.is_wedged:
                self._hang()
                return
            self._send_json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            with emulator._lock:
                models = list(emulator._models.values())
            self._send_json(200, {"models": [self._tag(m) for m in models]})
        elif self.path == "/api/ps":
            with emulator._lock:
                loaded = [m for m in emulator._models.values() if m.loaded]
            self._send_json(200, {"models": [self._running(m) for m in loaded]})
        else:
            self._send_bytes(404, b"404 page not found", "text/plain")

    def do_POST(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._record(None)
            self._error(400, "invalid character in request body")
            return
        if self.path in ("/api/generate", "/api/chat"):
            self._generate(body)
            return
        self._record(body)
        if not self._authorized():
            return
        if self.path == "/api/show":
            self._show(body)
        else:
            self._send_bytes(404, b"404 page not found", "text/plain")

    def _show(self, body: Any) -> None:
        name = body.get("model") or body.get("name") if isinstance(body, dict) else None
        if not name:
            self._error(400, "model is required")
            return
        entry = self.emulator.model(name)
        if entry is None:
            self._error(404, f"model '{name}' not found")
            return
        self._send_json(200, {
            "modelfile": f"FROM {entry.name}",
            "parameters": "temperature 1",
            "template": "{{ .Prompt }}",
            "details": self._details(entry),
            "model_info": {"general.architecture": entry.name.split(":")[0]},
            "capabilities": list(entry.capabilities),
            "modified_at": _now(),
        })

    def _generate_entry(self, body: Any, bad_image: str | None) -> ModelEntry | None:
        """The model a generate/chat request names, or None once its error is answered."""
        if not self._authorized():
            return None
        if not isinstance(body, dict) or not body.get("model"):
            self._error(400, "model is required")
            return None
        if bad_image is not None:
            self._error(400, bad_image)
            return None
        entry = self.emulator.model(normalize_model(str(body["model"])))
        if entry is None:
            self._error(404, f"model '{body['model']}' not found")
            return None
        refused = think_error(body, entry)
        if refused is not None:
            self._error(400, refused)
            return None
        if entry.load_error is not None:
            self._error(500, entry.load_error)
            return None
        return entry

    def _early_fault(self, fault: Fault | None) -> bool:
        """Answer a status or hang fault; True when the request is answered by it."""
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._error(fault.status, fault.error, headers)
            return True
        if fault is not None and fault.kind == "hang":
            self._hang()
            return True
        if fault is not None and fault.kind == "trickle":
            self._trickle(fault.delay)
            return True
        if fault is not None and fault.kind == "gzip_bomb":
            self._send_bytes(200, gzip_bomb(), "application/json; charset=utf-8",
                             {"Content-Encoding": "gzip"})
            return True
        return False

    def _generate(self, body: Any) -> None:
        chat = self.path == "/api/chat"
        images, bad_image = self._images(body)
        request = self._record(body, images)
        entry = self._generate_entry(body, bad_image)
        if entry is None:
            return
        model = entry.name
        stream = body.get("stream", True) is not False  # Ollama streams unless told not to
        if self.emulator._wedged():
            self._hang()
            return
        fault = self.emulator._take_fault(model)
        if self._early_fault(fault):
            return
        # Ollama's total_duration runs from the request's arrival through the wait for one
        # of the model's parallel slots to the final chunk (the emulator's own parsing of the
        # body, which no model spends, is left out).
        self._arrived = time.monotonic()
        slots = self.emulator._acquire_slot()
        released = False
        factor = self.emulator._request_factor()

        def release() -> None:
            # The model has finished once its last chunk is written: the slot is free before
            # the client can read `done` and send its next request, as in Ollama's scheduler.
            nonlocal released
            if not released:
                released = True
                self.emulator._release_slot(slots)

        try:
            reply = self.emulator._answer(request, model)
            if not thinks(body, entry):
                reply = Reply(reply.response, "", reply.end)
            prefill, decode = self._slot_time(body, reply, factor)
            if stream and (fault is None or fault.kind != "garbage"):
                # Nothing is written until the prompt is evaluated: the first chunk (headers
                # with it) follows the prefill and the first token, then one per decoding step.
                time.sleep(prefill)
                self._loaded(entry)
                self._stream(body, reply, chat, fault, release, factor, decode)
                return
            time.sleep(prefill + decode)
            self._loaded(entry)
            if fault is not None and fault.kind == "garbage":
                release()
                self._send_bytes(200, b'{"model": "broken', "application/json")
            elif fault is not None and fault.kind == "reset":
                self._reset_connection()
            else:
                release()
                self._send_json(200, self._whole(body, reply, chat, factor))
        finally:
            release()

    def _loaded(self, entry: ModelEntry) -> None:
        with self.emulator._lock:
            entry.loaded = True

    def _model_seconds(self, body: dict[str, Any], reply: Reply) -> tuple[float, float] | None:
        """The model's (prefill, decoding) seconds for this answer before the request's
        slowdown factor; None when the emulator answers at once (no latency, no cost)."""
        cost = self.emulator.cost
        if cost is not None:
            return cost.seconds(body, reply, self.emulator.constrained_slowdown)
        latency = self.emulator.latency
        if latency <= 0:
            return None
        # The slot's latency is the model's: a share of prefill, then decoding (the
        # constrained slowdown lengthens decoding only, as grammar sampling does).
        prompt_s = PREFILL_SHARE * latency
        return prompt_s, latency * self._constrained(body) - prompt_s

    def _slot_time(self, body: dict[str, Any], reply: Reply,
                   factor: float) -> tuple[float, float]:
        """The (prefill, decoding) seconds this request holds its slot for."""
        seconds = self._model_seconds(body, reply)
        if seconds is None:
            return 0.0, 0.0
        prefill, decode = seconds[0] * factor, seconds[1] * factor
        if self.emulator.cost is not None:
            with self.emulator._lock:
                self.emulator.gpu_seconds += prefill + decode
        return prefill, decode

    def _stream(self, body: dict[str, Any], reply: Reply, chat: bool, fault: Fault | None,
                release: Callable[[], None], factor: float, decode: float) -> None:
        """The chunks, one per decoding step of `decode / chunks` seconds (as Ollama relays
        each piece its runner generates: llm/llama_server.go Completion's callback, written
        by server/routes.go streamResponse as it comes), then the final chunk."""
        self._stream_open = False
        delay = fault.delay if fault is not None and fault.kind == "slow" else 0.0
        delay = delay or self.emulator.chunk_delay
        parts = [("thinking", c) for c in _chunks(reply.thinking)]
        parts += [("response", c) for c in _chunks(reply.response)]
        step = decode / len(parts) if parts else 0.0
        due = time.monotonic()
        for index, (field_name, text) in enumerate(parts):
            due += step
            sleep_until(due)
            if fault is not None and index == fault.after_chunks:
                if fault.kind == "reset":
                    self._reset_connection()
                    return
                if fault.kind == "stream_error":
                    self._write_chunk({"error": fault.error})
                    self._end_stream()
                    return
            if delay:
                time.sleep(delay)
                due += delay
            self._write_chunk(self._chunk(body, field_name, text, chat))
        if not parts:
            time.sleep(decode)
        if fault is not None and fault.kind in ("reset", "stream_error") and (
            fault.after_chunks >= len(parts)
        ):
            if fault.kind == "reset":
                self._reset_connection()
                return
            self._write_chunk({"error": fault.error})
            self._end_stream()
            return
        release()
        if reply.end != "repeat":  # the repetition cut-off ends the stream without a word
            self._write_chunk(self._final(body, reply, chat, full=False, factor=factor))
        self._end_stream()

    # --- payloads ----------------------------------------------------------------------------

    def _images(self, body: Any) -> tuple[list[ImageInfo], str | None]:
        """Decoded sizes of the request's images, and a 400 message for invalid base64."""
        if not isinstance(body, dict):
            return [], None
        encoded: list[Any] = list(body.get("images") or [])
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                encoded += message.get("images") or []
        infos: list[ImageInfo] = []
        for item in encoded:
            try:
                data = base64.b64decode(str(item), validate=True)
            except ValueError:
                return infos, "illegal base64 data at input byte 0"
            try:
                with Image.open(io.BytesIO(data)) as image:
                    infos.append(ImageInfo(image.width, image.height, image.format))
            except OSError:
                infos.append(ImageInfo(0, 0, None))
        return infos, None

    def _whole(self, body: dict[str, Any], reply: Reply, chat: bool,
               factor: float) -> dict[str, Any]:
        """A non-streamed answer; after the repetition cut-off, the partial one, not done."""
        final = self._final(body, reply, chat, full=True, factor=factor)
        if reply.end == "repeat":
            for name in ("done_reason", "total_duration", "load_duration", "prompt_eval_count",
                         "prompt_eval_duration", "eval_count", "eval_duration"):
                final.pop(name)
            final["done"] = False
        return final

    @staticmethod
    def _chunk(body: dict[str, Any], field_name: str, text: str, chat: bool) -> dict[str, Any]:
        base: dict[str, Any] = {"model": body["model"], "created_at": _now()}
        if chat:
            base["message"] = {"role": "assistant", "content": "" if field_name == "thinking"
                               else text}
            if field_name == "thinking":
                base["message"]["thinking"] = text
        else:
            base["response"] = "" if field_name == "thinking" else text
            if field_name == "thinking":
                base["thinking"] = text
        base["done"] = False
        return base

    def _final(self, body: dict[str, Any], reply: Reply, chat: bool, *, full: bool,
               factor: float = 1.0) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": body["model"], "created_at": _now()}
        response = reply.response if full else ""
        thinking = reply.thinking if full else ""
        if chat:
            payload["message"] = {"role": "assistant", "content": response}
            if thinking:
                payload["message"]["thinking"] = thinking
        else:
            payload["response"] = response
            if thinking:
                payload["thinking"] = thinking
        tokens = max(1, len(reply.response + reply.thinking) // 4)
        prompt_tokens, prompt_s, eval_s = 300, 0.4, 1.0 * self._constrained(body)
        cost = self.emulator.cost
        if cost is not None:
            prompt_tokens, tokens = cost.tokens(body, reply)
        # The slot's time, as _slot_time sleeps it: prefill, then decoding.
        seconds = self._model_seconds(body, reply)
        if seconds is not None:
            prompt_s, eval_s = seconds
        model_s = (prompt_s + eval_s) * factor
        # As Ollama measures it (load_duration ends once the model is loaded: a request
        # queued for a slot waits after that); with no latency, a fixed tenth of a second.
        total_s = (time.monotonic() - self._arrived + LOAD_SECONDS if seconds is not None
                   else model_s + 0.1 * factor)
        payload.update({
            "done": True,
            "done_reason": "length" if reply.end == "length" else "stop",
            "total_duration": round(max(total_s, model_s + LOAD_SECONDS) * 1e9),
            "load_duration": round(LOAD_SECONDS * 1e9),
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": round(prompt_s * 1e9 * factor),
            "eval_count": tokens,
            "eval_duration": round(eval_s * 1e9 * factor),
        })
        if self.emulator.prompt_cached:
            del payload["prompt_eval_count"], payload["prompt_eval_duration"]
        return payload

    def _constrained(self, body: dict[str, Any]) -> float:
        return self.emulator.constrained_slowdown if body.get("format") else 1.0

    @staticmethod
    def _details(entry: ModelEntry) -> dict[str, Any]:
        family = entry.family or entry.name.split(":")[0].split("/")[-1]
        return {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "4.3B",
            "quantization_level": "Q4_K_M",
        }

    def _tag(self, entry: ModelEntry) -> dict[str, Any]:
        return {
            "name": entry.name,
            "model": entry.name,
            "modified_at": _now(),
            "size": entry.size,
            "digest": f"{abs(hash(entry.name)):064x}"[:64],
            "details": self._details(entry),
        }

    def _running(self, entry: ModelEntry) -> dict[str, Any]:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        return {
            **self._tag(entry),
            "expires_at": expires.isoformat(),
            "size_vram": entry.size if entry.size_vram is None else entry.size_vram,
            "context_length": 4096,
        }


# --- as a process ---------------------------------------------------------------------------------


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.ollama_server serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models", default="gemma3:latest", help="comma-separated")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--lose-gpu-after", type=int, default=None)
    parser.add_argument("--gpu-slowdown", type=float, default=8.0)
    parser.add_argument("--drift-after", type=int, default=None)
    parser.add_argument("--drift-per-request", type=float, default=0.0)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--outlier-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--constrained-slowdown", type=float, default=1.0)
    parser.add_argument("--prefill", type=float, default=None, help="s per prompt token")
    parser.add_argument("--decode", type=float, default=None, help="s per answer token")
    parser.add_argument("--pidfile", default=None)
    return parser


def serve(argv: list[str]) -> int:
    """Run the emulator until SIGTERM/SIGINT; the address is fixed so a restart keeps it."""
    args = _serve_parser().parse_args(argv)
    server = OllamaServer(
        models=[m for m in args.models.split(",") if m], latency=args.latency,
        parallel=args.parallel, port=args.port, lose_gpu_after=args.lose_gpu_after,
        gpu_slowdown=args.gpu_slowdown, drift_after=args.drift_after,
        drift_per_request=args.drift_per_request, noise=args.noise,
        outlier_rate=args.outlier_rate, seed=args.seed,
        constrained_slowdown=args.constrained_slowdown,
        cost=None if args.prefill is None and args.decode is None else GpuCost(
            prefill=GpuCost.prefill if args.prefill is None else args.prefill,
            decode=GpuCost.decode if args.decode is None else args.decode),
    )
    deadline = time.monotonic() + 10
    while True:  # the killed predecessor's socket may take a moment to go
        try:
            server.start()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if args.pidfile:
        with open(args.pidfile + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.replace(args.pidfile + ".tmp", args.pidfile)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


def answers(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return conn.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def restart(argv: list[str]) -> int:
    """Kill the server named by --pidfile (SIGKILL: as abrupt as a crash) and start the
    `serve` command after `--` in its place, detached; exit once it answers."""
    parser = argparse.ArgumentParser(prog="python -m tests.ollama_server restart")
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("serve", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    serve_args = [a for a in args.serve if a != "--"]
    if serve_args[:1] == ["serve"]:
        serve_args = serve_args[1:]
    port = _serve_parser().parse_args(serve_args).port
    try:
        with open(args.pidfile) as handle:
            os.kill(int(handle.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass  # not running: just start it
    os.unlink(args.pidfile) if os.path.exists(args.pidfile) else None
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_server", "serve", *serve_args,
         "--pidfile", args.pidfile],
        cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(args.pidfile) and answers(port):
            return 0
        time.sleep(0.05)
    return 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    if argv[:1] == ["restart"]:
        return restart(argv[1:])
    print("usage: python -m tests.ollama_server serve|restart ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
