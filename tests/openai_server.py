"""A real loopback HTTP server that speaks the OpenAI chat-completions API as vLLM, llama.cpp's
server, LiteLLM and OpenAI do, for tests and benchmarks. Never imported by the package.

    with OpenAIServer(models=["Qwen/Qwen2.5-VL-7B-Instruct"], latency=0.5, parallel=2) as s:
        s.base_url                      # http://127.0.0.1:<port>/v1

Endpoints: GET /v1/models, POST /v1/chat/completions (non-streaming JSON, or server-sent
events `data: {...}` chunks with `choices[0].delta`, then `data: [DONE]`). Errors are OpenAI's
error object `{"error": {"message", "type", "param", "code"}}`. Each completion holds one of
`parallel` slots for `latency` seconds, as a server with that many concurrent sequences would.
A streamed completion is timed as the servers send it: nothing while it waits for a slot or
its prompt is evaluated (PREFILL_SHARE of the latency), then the headers, the role chunk and
the first piece once the first token is out, then a piece per decoding step until the latency
is spent; the slot is free before the finishing chunk. llama.cpp's server (tools/server,
handle_completions_impl) waits for the first token's result before it writes the headers and
sends the role with that first result; vLLM (entrypoints/openai/serving_chat.py,
chat_completion_stream_generator) sends the role chunk on its first engine output, which comes
after the prefill and the first token. A non-streamed completion comes whole at the end.
Switches: `reject_response_format` (400 for a request carrying response_format, as older
servers answer), `require_key`, and queued faults: `fail(status)`, `rate_limit(...)` with
Retry-After and x-ratelimit-reset-* headers, `garbage()`.

As the real servers behave (llama.cpp's server, vLLM, LiteLLM, LM Studio, OpenAI):
- `Completion(finish="length")`: a cut answer; with `content=""` the message's content is
  null and only the reasoning came (`reasoning_field`: "reasoning_content", or newer vLLM's
  "reasoning");
- `gpt5_rules`: as OpenAI's GPT-5 family and o-series, a `temperature` other than 1 is a 400
  `unsupported_value` and `max_tokens` a 400 `unsupported_parameter` (use
  `max_completion_tokens`);
- `usage` (prompt_tokens: the messages' text characters / 4 and 1,150 per image;
  completion_tokens: the answer's characters / 4) in every JSON body; a stream has it
  only when the request asks (`stream_options.include_usage`), in a last chunk with empty
  `choices`;
- `litellm_auth`: a wrong key is answered as LiteLLM without a database does (400 "No
  connected db.");
- `format_refusal`: "llama.cpp" answers a json_schema response_format with older llama.cpp's
  500 server_error, "lmstudio" answers json_object with LM Studio's 400;
- `shape` of every answer: "sse" (the standard), "no_done" (no `data: [DONE]` after the finished
  chunk), "plain_json" (one JSON body to a streamed request), "multiline" (each event's data
  over several `data:` lines), "sse_error" (llama.cpp's `error: {...}` event after the first
  chunk), "data_error" (vLLM's `data: {"error": {...}}`), "error_body" (HTTP 200 with an
  `{"error": {...}}` body), "pings" (`: ping` comments for ever, or whitespace before a JSON
  body that never comes), "trickle" (one byte per
  `trickle_delay` seconds for ever), "gzip_bomb" (a gzip body that unpacks to 1 GiB).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from tests.ollama_server import (
    DEFAULT_CAPTION,
    DEFAULT_LABELS,
    PREFILL_SHARE,
    gzip_bomb,
    request_kind,
    sleep_until,
)

# The shapes that stream events token by token (the others answer once the latency is over).
_TOKEN_SHAPES = ("sse", "no_done", "multiline", "sse_error", "data_error")

Shape = Literal["sse", "no_done", "plain_json", "multiline", "sse_error", "data_error",
                "error_body", "pings", "trickle", "gzip_bomb"]
# Older llama.cpp's and LM Studio's words for a response_format they cannot do.
LLAMA_CPP_FORMAT = ('response_format type must be one of "text" or "json_object", but got: '
                    "json_schema")
LM_STUDIO_FORMAT = "'response_format.type' must be 'json_schema' or 'text'"


@dataclass
class Completion:
    """An answer: `content` and, for reasoning models, `reasoning_content`; `finish` is the
    choice's finish_reason ("length": cut at the token budget)."""

    content: str
    reasoning: str = ""
    finish: str = "stop"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def kind(self) -> str:
        return request_kind({"format": (self.body or {}).get("response_format"),
                             "messages": (self.body or {}).get("messages")})


@dataclass
class _Fault:
    status: int
    message: str
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    garbage: bool = False


Responder = Callable[[Recorded], "str | Completion"]


def default_responder(request: Recorded) -> Completion:
    return Completion(DEFAULT_LABELS if request.kind == "labels" else DEFAULT_CAPTION)


class OpenAIServer:
    def __init__(self, models: list[str], *, latency: float = 0.0, parallel: int = 4,
                 require_key: str | None = None) -> None:
        self.models = list(models)
        self.latency = latency
        self.require_key = require_key
        self.reject_response_format = False
        self.format_refusal: Literal["llama.cpp", "lmstudio"] | None = None
        self.gpt5_rules = False
        self.litellm_auth = False  # a wrong key gets LiteLLM's 400 "No connected db."
        self.reasoning_field = "reasoning_content"
        self.shape: Shape = "sse"
        self.error_message = "CUDA error: out of memory"  # of sse_error, data_error, error_body
        self.trickle_delay = 1.0
        self._stopping = threading.Event()
        self.max_in_flight = 0
        self._slots = threading.Semaphore(parallel)
        self._parallel = parallel
        self._in_flight = 0
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._requests: list[Recorded] = []
        self._responders: dict[str, Responder] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def ideal_throughput(self) -> float:
        return self._parallel / self.latency if self.latency else float("inf")

    # --- behaviour -----------------------------------------------------------------------------

    def respond(self, responder: Responder | str | Completion, *, kind: str = "*") -> None:
        if isinstance(responder, str | Completion):
            fixed = responder
            responder = lambda _request: fixed  # noqa: E731
        with self._lock:
            self._responders[kind] = responder

    def fail(self, status: int = 500, *, times: int = 1, message: str = "server error") -> None:
        with self._lock:
            self._faults.append(_Fault(status, message, times))

    def rate_limit(self, *, retry_after: float | None = None, reset: str | None = None,
                   times: int = 1) -> None:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if reset is not None:
            headers["x-ratelimit-reset-requests"] = reset
        with self._lock:
            self._faults.append(_Fault(429, "Rate limit reached", times, headers))

    def garbage(self, *, times: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(200, "", times, garbage=True))

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def completion_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- used by the handler -------------------------------------------------------------------

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    def _answer(self, request: Recorded) -> Completion:
        with self._lock:
            responder = (self._responders.get(request.kind) or self._responders.get("*")
                         or default_responder)
        reply = responder(request)
        return Completion(reply) if isinstance(reply, str) else reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up or was refused on purpose is part of the test, not a bug.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _refusal(emulator: OpenAIServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The status and error object a server answers a parameter it does not take with."""
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if emulator.reject_response_format and fmt is not None:
        return 400, _error_body("response_format is not supported by this server", 400)["error"]
    if emulator.format_refusal == "llama.cpp" and kind == "json_schema":
        return 500, {"code": 500, "message": LLAMA_CPP_FORMAT, "type": "server_error"}
    if emulator.format_refusal == "lmstudio" and kind == "json_object":
        return 400, {"error": LM_STUDIO_FORMAT}
    if emulator.gpt5_rules and body.get("temperature", 1) != 1:
        return 400, {"message": f"Unsupported value: 'temperature' does not support "
                     f"{body['temperature']} with this model. Only the default (1) value is "
                     "supported.", "type": "invalid_request_error", "param": "temperature",
                     "code": "unsupported_value"}
    if emulator.gpt5_rules and "max_tokens" in body:
        return 400, {"message": "Unsupported parameter: 'max_tokens' is not supported with "
                     "this model. Use 'max_completion_tokens' instead.",
                     "type": "invalid_request_error", "param": "max_tokens",
                     "code": "unsupported_parameter"}
    return None


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
            429: "rate_limit_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Handler(BaseHTTPRequestHandler):
    emulator: OpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # servers built on Go, Rust or uvicorn set TCP_NODELAY

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any) -> Recorded:
        request = Recorded(self.command, self.path,
                           {k.lower(): v for k, v in self.headers.items()}, body)
        with self.emulator._lock:
            self.emulator._requests.append(request)
        return request

    def _authorized(self) -> bool:
        key = self.emulator.require_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        if self.emulator.litellm_auth:  # a LiteLLM proxy without a database
            self._json(400, {"error": {"message": "No connected db.", "type": "no_db_connection",
                                       "param": None, "code": "400"}})
            return False
        self._json(401, _error_body("Incorrect API key provided", 401))
        return False

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        if self.path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "emulator"}
                    for m in self.emulator.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, _error_body(f"Unknown path {self.path}", 404))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        request = self._record(body)
        if not self._authorized():
            return
        if self.path != "/v1/chat/completions":
            self._json(404, _error_body(f"Unknown path {self.path}", 404))
            return
        if not isinstance(body, dict) or not body.get("messages"):
            self._json(400, _error_body("messages is required", 400))
            return
        if body.get("model") not in self.emulator.models:
            self._json(404, _error_body(f"The model `{body.get('model')}` does not exist", 404))
            return
        refusal = _refusal(self.emulator, body)
        if refusal is not None:
            status, error = refusal
            self._json(status, {"error": error})
            return
        fault = self.emulator._take_fault()
        if fault is not None and not fault.garbage:
            self._json(fault.status, _error_body(fault.message, fault.status), fault.headers)
            return
        self._complete(request, body, garbage=fault is not None)

    def _complete(self, request: Recorded, body: dict[str, Any], *, garbage: bool) -> None:
        emulator = self.emulator
        emulator._slots.acquire()
        with emulator._lock:
            emulator._in_flight += 1
            emulator.max_in_flight = max(emulator.max_in_flight, emulator._in_flight)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with emulator._lock:
                    emulator._in_flight -= 1
                emulator._slots.release()

        try:
            answer = emulator._answer(request)
            if body.get("stream") and not garbage and emulator.shape in _TOKEN_SHAPES:
                time.sleep(PREFILL_SHARE * emulator.latency)
                self._stream(body, answer, release, (1 - PREFILL_SHARE) * emulator.latency)
                return
            time.sleep(emulator.latency)
        finally:
            release()
        if garbage:
            data = b"<html>502 Bad Gateway</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        shape = emulator.shape
        if shape == "gzip_bomb":
            self._bytes(200, gzip_bomb(), "application/json", {"Content-Encoding": "gzip"})
        elif shape == "error_body":
            self._json(200, {"error": {"message": emulator.error_message,
                                       "type": "server_error", "param": None, "code": 500}})
        elif shape == "trickle":
            self._trickle(json.dumps(self._whole(body, answer)).encode())
        elif shape == "pings" and not body.get("stream"):
            self._trickle(b"\n" * 100_000, 0.2)  # whitespace before a JSON body, as proxies do
        elif not body.get("stream") or shape == "plain_json":
            self._json(200, self._whole(body, answer))
        else:
            self._pings()

    def _whole(self, body: dict[str, Any], answer: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
        if answer.reasoning:
            message[self.emulator.reasoning_field] = answer.reasoning
        return {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                "usage": _usage(body, answer),
                "choices": [{"index": 0, "message": message, "finish_reason": answer.finish}]}

    def _start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _pings(self) -> None:
        """`: ping` comments for ever (until the client leaves or the server stops)."""
        self._start()
        while not self.emulator._stopping.wait(0.2):
            if not self._event(": ping"):
                return

    def _stream(self, body: dict[str, Any], answer: Completion, release: Callable[[], None],
                decode: float) -> None:
        """The events, one per decoding step of `decode / pieces` seconds: the headers, the
        role and the first piece once the first token is out, then a piece a step; the slot
        is free before the finishing chunk."""
        emulator = self.emulator
        shape = emulator.shape
        field_name = emulator.reasoning_field
        pieces = [{field_name: answer.reasoning}] if answer.reasoning else []
        text = answer.content
        pieces += [{"content": text[i : i + 16]} for i in range(0, len(text), 16)]
        step = decode / len(pieces) if pieces else decode
        due = time.monotonic() + step
        sleep_until(due)
        self._start()
        self._event(": keep-alive")
        for index, delta in enumerate([{"role": "assistant"}, *pieces]):
            if index == 1 and shape == "sse_error":
                error = {"code": 500, "message": emulator.error_message, "type": "server_error"}
                self._event("error: " + json.dumps(error))
                self._end()
                return
            if index == 1 and shape == "data_error":
                error = {"object": "error", "message": emulator.error_message,
                         "type": "InternalServerError", "param": None, "code": 500}
                self._data({"error": error})
                self._end()
                return
            if index >= 2:
                due += step
                sleep_until(due)
            self._data({"object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        release()
        self._data({"choices": [{"index": 0, "delta": {}, "finish_reason": answer.finish}]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            # OpenAI, vLLM and llama.cpp count a stream's tokens only when asked, in one more
            # chunk whose `choices` is empty.
            self._data({"object": "chat.completion.chunk", "choices": [],
                        "usage": _usage(body, answer)})
        if shape != "no_done":
            self._event("data: [DONE]")
        self._end()

    def _data(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, indent=1 if self.emulator.shape == "multiline" else None)
        self._event("\n".join("data: " + line for line in text.split("\n")))

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _event(self, line: str) -> bool:
        """Write one event; False when the client has gone."""
        data = (line + "\n\n").encode()
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except OSError:
            return False
        return True

    def _bytes(self, status: int, data: bytes, content_type: str,
               headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _trickle(self, data: bytes, delay: float | None = None) -> None:
        """A 200 whose body comes one byte per `delay` (`trickle_delay`) seconds."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for index in range(len(data)):
                if self.emulator._stopping.wait(delay or self.emulator.trickle_delay):
                    break
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
        except OSError:
            pass  # the client gave up: what this shape is for
        self.close_connection = True


IMAGE_TOKENS = 1150  # what a server counts for one image (qwen2.5-vl at 720 px)


def _usage(body: dict[str, Any], answer: Completion) -> dict[str, int]:
    """`prompt_tokens` as the servers count them, the chat template's text and each image's
    tokens (text: characters / 4); `completion_tokens` the answer's."""
    text = images = 0
    for message in body["messages"]:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for part in parts or ():
            images += part.get("type") == "image_url"
            text += len(part.get("text") or "")
    return {"prompt_tokens": text // 4 + IMAGE_TOKENS * images,
            "completion_tokens": max(1, len(answer.content + answer.reasoning) // 4)}
