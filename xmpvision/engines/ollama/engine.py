"""The Ollama engine: labels and captions from a vision model over Ollama's HTTP API.

Endpoint: POST /api/generate, not /api/chat. Each photo is a single, stateless question, which
is what /api/generate is for; it takes `system` and `images` at the top level, and it is what
PhotoPrism sends, so prompts tuned there behave the same here.

Streaming is on by default. httpx's read timeout bounds the silence between two reads, so with
`stream: true` a model that stops producing tokens is detected after one read timeout, while a
slow but working CPU model may take as long as it needs in total. Without streaming, the read
timeout must cover the whole generation. A non-streaming engine (`stream=False`) is simpler on
the wire and is supported for proxies that buffer NDJSON. Retries and error mapping: http.py.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from pydantic import ValidationError

from xmpvision.config.defaults import DEFAULT_TEMPERATURE
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.config.schema import response_schema
from xmpvision.engines import prompts
from xmpvision.engines.base import EngineInfo
from xmpvision.engines.http import HttpService, Retry, ServerDialect
from xmpvision.engines.ollama.api import GenerateChunk, GenerateRequest, ShowResponse, error_text
from xmpvision.engines.retry import RetryPolicy
from xmpvision.errors import EngineError, EngineUnavailable, InvalidPayload, ModelNotFound
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import Caption, Label
from xmpvision.text.answers import answer_text, parse_label_items
from xmpvision.text.captions import clean_caption
from xmpvision.text.labels import normalize_labels
from xmpvision.text.redact import redact_uri

Kind = Literal["labels", "caption"]

ENGINE = "ollama"
SOURCE = "ollama"
GENERATE_PATH = "/api/generate"
SHOW_PATH = "/api/show"
MAX_ANSWER_CHARS = 262_144  # a runaway generation is cut off rather than buffered forever
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    "labels": {"temperature": DEFAULT_TEMPERATURE},
    "caption": {"temperature": DEFAULT_TEMPERATURE},
}
# PhotoPrism's Uri is the full endpoint; OLLAMA_HOST is a bare host:port.
_API_SUFFIXES = ("/api/generate", "/api/chat", "/api")


# --- module-level views of a model's settings (also used by `vision ls`) --------------------


def base_url(model: ModelConfig) -> str:
    """The Ollama server's base URL, e.g. "http://127.0.0.1:11434" (the config resolved the
    Uri; "${" left after expansion counts as none there)."""
    uri = (model.service.uri or "").strip()
    if "://" not in uri:
        uri = "http://" + uri
    uri = uri.rstrip("/")
    for suffix in _API_SUFFIXES:
        if uri.endswith(suffix):
            uri = uri[: -len(suffix)]
            break
    return uri


def endpoint(model: ModelConfig) -> str:
    """What the engine calls, e.g. "POST http://127.0.0.1:11434/api/generate"."""
    return f"POST {base_url(model)}{GENERATE_PATH}"


def effective_options(model: ModelConfig) -> dict[str, Any]:
    """Ollama `options`: the engine's defaults for the type, overridden by the model's Options."""
    options = dict(ENGINE_OPTIONS.get(model.type, {}))
    options.update(model.options.snake_case())
    return options


def response_format(model: ModelConfig) -> str | dict[str, Any] | None:
    """The request's `format`: "json", a JSON Schema, or None (plain text)."""
    if (model.format or "").strip().lower() == "json":
        return "json"
    schema = response_schema(model)
    if model.type == "labels":
        return schema if schema is not None else prompts.LABELS_SCHEMA
    return schema  # captions are plain text unless the user configured a schema


def response_format_name(model: ModelConfig) -> str:
    """`format` for `vision ls`: "json-schema", "json" or "text"."""
    fmt = response_format(model)
    return "text" if fmt is None else "json" if fmt == "json" else "json-schema"


def describe(model: ModelConfig) -> EngineInfo:
    return EngineInfo(
        engine=ENGINE, source=SOURCE, endpoint=redact_uri(endpoint(model)),
        format=response_format_name(model), options=effective_options(model),
        capacity=f"{ENGINE} {redact_uri(base_url(model))}", slots=model.service.parallel,
        resolution=model.image_size, fit="longest",
    )


def _model_missing(response: httpx.Response, model: str) -> EngineError | None:
    # Ollama's own 404s are JSON ({"error": ...}); a plain-text 404 is some other server.
    try:
        is_json = isinstance(json.loads(response.content), dict)
    except ValueError:
        is_json = False
    if not is_json:
        return None
    base = redact_uri(str(response.request.url).split("/api/", 1)[0])
    return ModelNotFound(f'model "{model}" not found on {base}', hint=f'run "ollama pull {model}"')


DIALECT = ServerDialect(
    ENGINE, error_text, _model_missing,
    connect_hint="start Ollama (`ollama serve`, or `systemctl start ollama`), or set "
    "OLLAMA_HOST or Service.Uri in vision.yml to where it runs",
)


class OllamaEngine:
    """One Ollama model (from one vision.yml entry), safe for Service.Parallel worker threads."""

    def __init__(
        self,
        model: ModelConfig,
        thresholds: Thresholds | None = None,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        stream: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.model = model
        self.info = describe(model)
        self.model_ref = model.model_ref
        self.base_url = base_url(model)
        self.stream = stream
        self.resolution = model.image_size
        self.options = effective_options(model)
        self.format = response_format(model)
        self._thresholds = thresholds or Thresholds()
        self.http = HttpService(
            self.base_url, self.model_ref, model.service, DIALECT,
            accept="application/json, application/x-ndjson", client=client,
            transport=transport, retry=retry, sleep=sleep, rand=rand,
        )
        self._ready = False
        self._ready_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- readiness -------------------------------------------------------------------------

    def check_ready(self) -> None:
        """Ask Ollama (POST /api/show) whether the model exists and reads images.

        Cached: success and permanent failures (missing model, no vision, refused credentials)
        are remembered; an unreachable service is not, so a later call may find it back.
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
            self._ready = True

    def _ensure_ready(self) -> None:
        self.http.raise_fatal()
        if not self._ready:
            self.check_ready()

    # --- the two questions -----------------------------------------------------------------

    def labels(self, photo: PhotoImage) -> list[Label]:
        text = self._ask("labels", photo)
        try:
            items = parse_label_items(text)
        except ValueError as exc:
            raise InvalidPayload(self._invalid("label", photo, str(exc))) from exc
        return normalize_labels(
            items,
            source=SOURCE,
            model=self.model_ref,
            engine=ENGINE,
            language=self.model.language,
            confidence_threshold=self._thresholds.confidence,
            topicality_threshold=self._thresholds.topicality,
            max_labels=self.model.label_limit,
        )

    def caption(self, photo: PhotoImage) -> Caption:
        text = self._ask("caption", photo)
        try:
            cleaned = clean_caption(
                text, language=self.model.language, max_length=self.model.caption_limit
            )
        except InvalidPayload as exc:
            raise InvalidPayload(self._invalid("caption", photo, str(exc))) from exc
        return Caption(
            text=cleaned, source=SOURCE, model=self.model_ref, engine=ENGINE,
            language=self.model.language,
        )

    def _invalid(self, what: str, photo: PhotoImage, reason: str) -> str:
        return (
            f"invalid {what} payload from ollama "
            f"(model {self.model_ref}, file {photo.path}): {reason}"
        )

    def request(self, kind: Kind, photo: PhotoImage) -> GenerateRequest:
        """The /api/generate request for a photo (public so `vision test` can show it)."""
        own = self.model.type == kind  # System/Prompt/Format belong to the configured type
        language = self.model.language
        if kind == "labels":
            schema = self.format if own and isinstance(self.format, dict) else None
            prompt = prompts.labels_prompt(
                base=self.model.prompt if own else None,
                schema=schema or prompts.LABELS_SCHEMA,
                max_labels=self.model.label_limit,
                language=language,
            )
            system = prompts.LABELS_SYSTEM
            fmt: str | dict[str, Any] | None = self.format if own else prompts.LABELS_SCHEMA
            options = self.options if own else dict(ENGINE_OPTIONS["labels"])
        else:
            prompt = prompts.caption_prompt(
                base=self.model.prompt if own else None, language=language
            )
            system = prompts.CAPTION_SYSTEM
            fmt = self.format if own else None
            options = self.options if own else dict(ENGINE_OPTIONS["caption"])
        if own and self.model.system is not None:
            system = self.model.system
        image = base64.b64encode(photo.jpeg(self.resolution)).decode("ascii")
        return GenerateRequest(
            model=self.model_ref,
            prompt=prompt,
            system=system or None,
            images=[image],
            format=fmt,
            stream=self.stream,
            think=self.model.service.think,
            keep_alive=self.model.service.keep_alive,
            options=options,
        )

    def _ask(self, kind: Kind, photo: PhotoImage) -> str:
        self._ensure_ready()
        body = self.request(kind, photo).to_json()
        response, thinking = self.http.retried(lambda: self._generate_once(body))
        return answer_text(response, thinking)

    # --- HTTP --------------------------------------------------------------------------------

    def _generate_once(self, body: dict[str, Any]) -> tuple[str, str]:
        """One /api/generate attempt: (response, thinking) text."""
        if not self.stream:
            raw = self.http.send("POST", GENERATE_PATH, body)
            try:
                chunk = GenerateChunk.model_validate_json(raw)
            except ValidationError as exc:
                raise InvalidPayload(
                    f"invalid response body from ollama (model {self.model_ref}): {raw[:200]!r}"
                ) from exc
            self._check_chunk(chunk)
            return chunk.response, chunk.thinking
        with self.http.stream(GENERATE_PATH, body) as response:
            return self._read_stream(response)

    def _read_stream(self, response: httpx.Response) -> tuple[str, str]:
        """Concatenate NDJSON chunks until `done`; an `error` line fails the answer."""
        texts: list[str] = []
        thoughts: list[str] = []
        size = 0
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                chunk = GenerateChunk.model_validate_json(line)
            except ValidationError as exc:
                raise InvalidPayload(
                    f"invalid stream line from ollama (model {self.model_ref}): {line[:200]!r}"
                ) from exc
            self._check_chunk(chunk)
            texts.append(chunk.response)
            thoughts.append(chunk.thinking)
            size += len(chunk.response) + len(chunk.thinking)
            if size > MAX_ANSWER_CHARS:
                raise InvalidPayload(
                    f"answer from ollama (model {self.model_ref}) exceeds "
                    f"{MAX_ANSWER_CHARS} characters; set Options.NumPredict"
                )
            if chunk.done:
                return "".join(texts), "".join(thoughts)
        raise Retry(EngineUnavailable(
            f"ollama at {self.http.shown} ended the answer stream early (model {self.model_ref})"
        ))

    def _check_chunk(self, chunk: GenerateChunk) -> None:
        if chunk.error is not None:
            # Ollama reports failures after the 200 header as an `error` line; the model broke
            # on this input, so the chain falls back rather than asking again.
            raise EngineError(
                f"ollama failed while answering (model {self.model_ref}): {chunk.error}"
            )
