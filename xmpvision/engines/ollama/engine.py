"""The Ollama engine: labels and captions from a vision model over Ollama's HTTP API.

Endpoint: POST /api/generate, not /api/chat. Each photo is a single, stateless question, which
is what /api/generate is for; it takes `system` and `images` at the top level, and it is what
PhotoPrism sends, so prompts tuned there behave the same here.

Streaming is on by default. httpx's read timeout bounds the silence between two reads, so with
`stream: true` a model that stops producing tokens is detected after one read timeout; the
request's deadline (Service.Deadline) bounds the whole answer. Without streaming, the read
timeout must cover the whole generation. A non-streaming engine (`stream=False`) is simpler on
the wire and is supported for proxies that buffer NDJSON. Retries and error mapping: http.py.

Thinking: Ollama turns it on for every thinking-capable model that is not told otherwise, so
`think: false` is sent unless the entry sets Think (as PhotoPrism does); the model's thinking
text is never the answer. An answer Ollama ended early (`done_reason: "length"`, or a stream
that stops without its final chunk, which is how Ollama ends a model repeating itself) is a
bad answer for this photo, not a fault of the server.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any

import httpx
from pydantic import ValidationError

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines import prompts, served
from xmpvision.engines.answers import MAX_ANSWER_CHARS, Kind, Reply, finished_answer
from xmpvision.engines.http import ServerDialect, cannot_load
from xmpvision.engines.llm import LanguageModelEngine
from xmpvision.engines.ollama import (
    ENGINE,
    ENGINE_OPTIONS,
    GENERATE_PATH,
    SOURCE,
    base_url,
    describe,
    effective_options,
    think_value,
)
from xmpvision.engines.ollama.api import GenerateChunk, GenerateRequest, ShowResponse, error_text
from xmpvision.engines.ollama.timing import Timing
from xmpvision.engines.reading import Body
from xmpvision.errors import (
    EngineError,
    EngineUnavailable,
    InvalidPayload,
    ModelCannotRun,
    ModelNotFound,
    redact,
)
from xmpvision.prepare.images import PhotoImage

SHOW_PATH = "/api/show"


def _model_missing(response: httpx.Response, content: bytes, model: str) -> EngineError | None:
    # Ollama's own 404s are JSON ({"error": ...}); a plain-text 404 is some other server.
    try:
        is_json = isinstance(json.loads(content), dict)
    except ValueError:
        is_json = False
    if not is_json:
        return None
    base = redact(str(response.request.url).split("/api/", 1)[0])
    return ModelNotFound(f'model "{model}" not found on {base}', hint=f'run "ollama pull {model}"')


def _model_fault(status: int, detail: str, model: str) -> EngineError | None:
    """Ollama's words for a model that cannot run there: its scheduler cannot load it (500),
    or it cannot think (400, when Think is on); other models on the server still run."""
    if status >= 500 and cannot_load(detail):
        return ModelCannotRun(f'model "{model}" cannot be loaded by Ollama: {detail}',
                              hint="use a smaller model or quantization, or free memory")
    if status == 400 and "does not support thinking" in detail:
        return ModelCannotRun(f"Ollama: {detail}", hint="set Service.Think: false")
    return None


DIALECT = ServerDialect(
    ENGINE, error_text, _model_missing, display="Ollama", model_fault=_model_fault,
    connect_hint="start Ollama (`ollama serve`, or `systemctl start ollama`), or set "
    "OLLAMA_HOST or Service.Uri in vision.yml to where it runs",
    probe_path="/api/version",  # Ollama's cheapest answer
)


class OllamaEngine(LanguageModelEngine):
    """One Ollama model (from one vision.yml entry), safe for Service.Parallel worker threads."""

    ENGINE = ENGINE
    SOURCE = SOURCE
    DIALECT = DIALECT
    ACCEPT = "application/json, application/x-ndjson"
    describe = staticmethod(describe)
    base = staticmethod(base_url)

    def __init__(self, model: ModelConfig, thresholds: Thresholds | None = None,
                 **options: Any) -> None:
        super().__init__(model, thresholds, **options)
        self.resolution = model.image_size
        self.options = effective_options(model)

    # --- readiness -------------------------------------------------------------------------

    def check_ready(self) -> None:
        """Ask Ollama (POST /api/show) whether the model exists, reads images and, when the
        entry turns thinking on, can think.

        Cached: success and permanent failures (missing model, no vision, no thinking, refused
        credentials) are remembered; an unreachable service is not, so a later call may find
        it back.
        """
        with self._ready_lock:
            self.http.raise_fatal()
            if self._ready:
                return
            body = {"model": self.model_ref}
            response = self.http.retried(lambda: self.http.send("POST", SHOW_PATH, body))
            try:
                show = ShowResponse.model_validate_json(response)
            except ValidationError as exc:
                raise EngineUnavailable(
                    f"unexpected answer from {self.http.shown}{SHOW_PATH} "
                    f"(model {self.model_ref}): {exc.errors()[0]['msg']}"
                ) from exc
            if show.capabilities is not None and "vision" not in show.capabilities:
                self.http.remember(EngineError(
                    f'model "{self.model_ref}" on {self.http.shown} cannot read images '
                    f"(capabilities: {', '.join(show.capabilities) or 'none'})",
                    hint="configure a vision model",
                ))
            think = think_value(self.model)
            if show.capabilities is not None and think and "thinking" not in show.capabilities:
                self.http.remember(ModelCannotRun(
                    f'model "{self.model_ref}" on {self.http.shown} cannot think, but its '
                    f"Service.Think is {str(think).lower()} (capabilities: "
                    f"{', '.join(show.capabilities) or 'none'})",
                    hint="set Service.Think: false",
                ))
            self._ready = True

    def _ensure_ready(self) -> None:
        self.http.raise_fatal()
        if not self._ready:
            self.check_ready()

    # --- the questions ---------------------------------------------------------------------

    def request(self, kind: Kind, photo: PhotoImage,
                types: tuple[str, ...] = ()) -> GenerateRequest:
        """The /api/generate request for a photo (public so tests can check it)."""
        asked = prompts.question(self.model, kind, types=types,
                                 hints=photo.hints(self.model.context),
                                 topicality=self.topicality)
        fmt: str | dict[str, Any] | None = "json" if asked.json_mode else asked.schema
        own = self.model.type == kind
        options = self.options if own else dict(ENGINE_OPTIONS)
        image = base64.b64encode(photo.jpeg(self.resolution)).decode("ascii")
        return GenerateRequest(
            model=self.model_ref,
            prompt=asked.prompt,
            system=asked.system,
            images=[image],
            format=fmt,
            stream=self.stream,
            think=think_value(self.model),
            keep_alive=self.model.service.keep_alive,
            options=options,
        )

    def _ask(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = ()) -> Reply:
        self._ensure_ready()
        request = self.request(kind, photo, types)
        body = request.to_json()
        reply = replace(self.http.retried(lambda: self._timed(body)),
                        prompt_chars=len(request.prompt) + len(request.system or ""))
        budget = "Options.NumPredict" if self.options.get("num_predict") else (
            "Options.NumPredict (or NumCtx)")
        return finished_answer(reply, f"ollama (model {self.model_ref})", budget)

    # --- HTTP --------------------------------------------------------------------------------

    def _timed(self, body: dict[str, Any]) -> Reply:
        """One attempt, its timings handed to the observer once the answer is complete."""
        started = time.monotonic()
        final = self._generate_once(body)
        served.record(final.total_duration, final.load_duration, final.prompt_eval_duration,
                      final.eval_duration, final.eval_count)
        observer = self.observer
        if observer is not None:
            observer(Timing.of(self.base_url, self.model_ref, started,
                               time.monotonic() - started, final,
                               constrained=body.get("format") is not None))
        return Reply(final.response, final.thinking, cut=final.done_reason == "length",
                     tokens=final.eval_count, prompt_tokens=final.prompt_eval_count)

    def _generate_once(self, body: dict[str, Any]) -> GenerateChunk:
        """One /api/generate attempt: the final chunk, holding the whole answer."""
        if not self.stream:
            chunk = self._chunk(self.http.send("POST", GENERATE_PATH, body), "response body")
            if not chunk.done:
                raise self._stopped()
            return chunk
        with self.http.stream(GENERATE_PATH, body) as answer:
            return self._read_stream(answer)

    def _read_stream(self, answer: Body) -> GenerateChunk:
        """Concatenate NDJSON chunks until `done`; an `error` line fails the answer."""
        texts: list[str] = []
        thoughts: list[str] = []
        size = 0
        for line in answer.lines():
            if not line.strip():
                continue
            chunk = self._chunk(line, "stream line")
            if not texts:
                served.started()
            texts.append(chunk.response)
            thoughts.append(chunk.thinking)
            size += len(chunk.response) + len(chunk.thinking)
            if size > MAX_ANSWER_CHARS:
                raise InvalidPayload(
                    f"answer from ollama (model {self.model_ref}) exceeds "
                    f"{MAX_ANSWER_CHARS} characters; set Options.NumPredict"
                )
            if chunk.done:
                return chunk.model_copy(update={"response": "".join(texts),
                                                "thinking": "".join(thoughts)})
        raise self._stopped()

    def _stopped(self) -> InvalidPayload:
        # A complete HTTP answer without a final (`done`) chunk: Ollama ends a generation
        # this way when the model keeps repeating one token. The model's fault for this photo,
        # so neither a retry nor a mark against the server.
        return InvalidPayload(
            f"ollama stopped the answer of model {self.model_ref} before it was done (the "
            "model kept repeating itself)"
        )

    def _chunk(self, raw: str | bytes, what: str) -> GenerateChunk:
        """One answer object (the whole answer, or a line of a stream), checked."""
        try:
            chunk = GenerateChunk.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidPayload(
                f"invalid {what} from ollama (model {self.model_ref}): {raw[:200]!r}"
            ) from exc
        self._check_chunk(chunk)
        return chunk

    def _check_chunk(self, chunk: GenerateChunk) -> None:
        if chunk.error is None:
            return
        # Ollama reports failures after the 200 header as an `error` line. One that says the
        # model cannot be loaded is remembered like a 500 saying so; any other broke this
        # answer, so the chain falls back rather than asking again.
        fault = _model_fault(500, chunk.error, self.model_ref)
        if isinstance(fault, ModelCannotRun):
            self.http.remember(fault, say=True)
        raise EngineError(
            f"ollama failed while answering (model {self.model_ref}): {chunk.error}"
        )
