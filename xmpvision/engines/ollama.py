"""The Ollama engine: labels and captions from a vision model over Ollama's HTTP API.

Endpoint: POST /api/generate, not /api/chat. Each photo is a single, stateless question, which
is what /api/generate is for; it takes `system` and `images` at the top level, and it is what
PhotoPrism sends, so prompts tuned there behave the same here.

Streaming is on by default. httpx's read timeout bounds the silence between two reads, so with
`stream: true` a model that stops producing tokens is detected after one read timeout, while a
slow but working CPU model may take as long as it needs in total. Without streaming, the read
timeout must cover the whole generation. A non-streaming engine (`stream=False`) is simpler on
the wire and is supported for proxies that buffer NDJSON.

Retries: connection failures, connections closed mid-answer, 429 (honouring Retry-After) and
5xx are retried with exponential backoff and full jitter; other 4xx are not. Read timeouts are
not retried by default (see RetryPolicy). Every httpx error is translated here into an
`xmpvision.errors` type, with the httpx exception kept as the cause.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn, Self, TypeVar

import httpx
import yaml
from pydantic import ValidationError

from xmpvision.captions import clean_caption
from xmpvision.config.models import MAX_TEMPERATURE, ModelConfig, Thresholds
from xmpvision.errors import (
    ConfigError,
    EngineError,
    EngineUnavailable,
    InvalidPayload,
    ModelNotFound,
)
from xmpvision.images import PhotoImage
from xmpvision.labels import normalize_labels
from xmpvision.results import Caption, Label

from . import prompts
from .ollama_api import (
    GenerateChunk,
    GenerateRequest,
    ShowResponse,
    answer_text,
    caption_from_json,
    error_text,
    parse_label_items,
)
from .retry import RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)

T = TypeVar("T")
Kind = Literal["labels", "caption"]

DEFAULT_URI = "http://127.0.0.1:11434"
GENERATE_PATH = "/api/generate"
SHOW_PATH = "/api/show"
DEFAULT_RESOLUTION = 720  # PhotoPrism's thumbnail size for Ollama
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0  # a vision model on CPU can take minutes to load and answer
DEFAULT_MAX_LENGTH = 4096
MAX_ANSWER_CHARS = 262_144  # a runaway generation is cut off rather than buffered forever
# Low temperatures: labels and captions should describe, not invent.
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    "labels": {"temperature": 0.1},
    "caption": {"temperature": 0.1},
}
_API_SUFFIXES = ("/api/generate", "/api/chat", "/api")


# --- module-level views of a model's settings (also used by `vision ls`) --------------------


def base_url(model: ModelConfig) -> str:
    """The Ollama server's base URL, e.g. "http://127.0.0.1:11434".

    Accepts PhotoPrism's full endpoint Uri (".../api/generate") and OLLAMA_HOST's bare
    "host:port"; a Uri still holding "${" after expansion counts as none.
    """
    uri = (model.service.uri or "").strip()
    if not uri or "${" in uri:
        uri = DEFAULT_URI
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
    options.update(model.options.to_ollama())
    if "temperature" in options:
        options["temperature"] = min(float(options["temperature"]), MAX_TEMPERATURE)
    return options


def load_schema(model: ModelConfig) -> dict[str, Any] | None:
    """The model's own JSON Schema (Schema, else SchemaFile), or None; ConfigError if invalid."""
    where = f"model {model.model_ref}"
    source: object = model.schema_
    if isinstance(source, str):
        where += " Schema"
        text = source
    elif source is None and model.schema_file is not None:
        where += f" SchemaFile {model.schema_file}"
        try:
            text = Path(model.schema_file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{where}: cannot read: {exc.strerror or exc}"]) from exc
    else:
        return source if isinstance(source, dict) else None
    try:
        value = yaml.safe_load(text)  # YAML is a superset of JSON: both are accepted
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: not valid JSON or YAML: {exc}"]) from exc
    if not isinstance(value, dict):
        raise ConfigError([f"{where}: expected a JSON Schema object"])
    return value


def response_format(model: ModelConfig) -> str | dict[str, Any] | None:
    """The request's `format`: "json", a JSON Schema, or None (plain text)."""
    if (model.format or "").strip().lower() == "json":
        return "json"
    schema = load_schema(model)
    if model.type == "labels":
        return schema if schema is not None else prompts.LABELS_SCHEMA
    return schema  # captions are plain text unless the user configured a schema


def response_format_name(model: ModelConfig) -> str:
    """`format` for `vision ls`: "json-schema", "json" or "text"."""
    fmt = response_format(model)
    return "text" if fmt is None else "json" if fmt == "json" else "json-schema"


def _timeouts(model: ModelConfig) -> httpx.Timeout:
    connect = model.service.connect_timeout or DEFAULT_CONNECT_TIMEOUT
    read = model.service.timeout or DEFAULT_READ_TIMEOUT
    # The pool wait is bounded by the read timeout: a worker waits at most one slow answer.
    return httpx.Timeout(connect=connect, read=read, write=read, pool=read)


class _Retry(Exception):
    """Internal: one attempt failed in a way worth retrying; carries the final error."""

    def __init__(self, error: EngineError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _with_cause(error: EngineError, cause: BaseException) -> EngineError:
    error.__cause__ = cause
    return error


class OllamaEngine:
    """One Ollama model (from one vision.yml entry), safe for Service.Parallel worker threads."""

    name = "ollama"

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
        self.model_ref = model.model_ref
        self.base_url = base_url(model)
        self.stream = stream
        self.resolution = model.resolution or DEFAULT_RESOLUTION
        self.options = effective_options(model)
        self.format = response_format(model)  # read once: a SchemaFile is not reread per photo
        self._thresholds = thresholds or Thresholds()
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self._timeout = _timeouts(model)
        self._headers = {"Accept": "application/json, application/x-ndjson"}
        self._auth: httpx.Auth | None = None
        service = model.service
        if service.key is not None and service.key.get_secret_value():
            self._headers["Authorization"] = f"Bearer {service.key.get_secret_value()}"
        elif service.username:
            password = service.password.get_secret_value() if service.password else ""
            self._auth = httpx.BasicAuth(service.username, password)
        self._owns_client = client is None
        self._client = client or httpx.Client(
            transport=transport,
            timeout=self._timeout,
            # One connection per worker: more would only queue inside Ollama (NUM_PARALLEL).
            limits=httpx.Limits(
                max_connections=service.parallel, max_keepalive_connections=service.parallel
            ),
        )
        self._ready = False
        self._fatal: EngineError | None = None  # permanent failure, raised without asking again
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
        if self._owns_client:
            self._client.close()

    # --- readiness -------------------------------------------------------------------------

    def check_ready(self) -> None:
        """Ask Ollama (POST /api/show) whether the model exists and reads images.

        Cached: success and permanent failures (missing model, no vision, refused credentials)
        are remembered; an unreachable service is not, so a later call may find it back.
        """
        with self._ready_lock:
            self._raise_fatal()
            if self._ready:
                return
            response = self._with_retries(
                lambda: self._post_json(SHOW_PATH, {"model": self.model_ref})
            )
            try:
                show = ShowResponse.model_validate_json(response)
            except ValidationError as exc:
                raise EngineUnavailable(
                    f"vision: unexpected answer from {self.base_url}{SHOW_PATH} "
                    f"(model {self.model_ref}): {exc.errors()[0]['msg']}"
                ) from exc
            if show.capabilities is not None and "vision" not in show.capabilities:
                self._remember(
                    EngineError(
                        f'vision: model "{self.model_ref}" on {self.base_url} cannot read images '
                        f"(capabilities: {', '.join(show.capabilities) or 'none'}); "
                        "configure a vision model"
                    )
                )
            self._ready = True

    def _raise_fatal(self) -> None:
        fatal = self._fatal
        if fatal is not None:
            # A fresh exception per raise: one instance shared by threads would share tracebacks.
            raise type(fatal)(str(fatal)) from fatal

    def _remember(self, error: EngineError) -> NoReturn:
        self._fatal = error
        raise error

    def _ensure_ready(self) -> None:
        if self._fatal is not None:
            self._raise_fatal()
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
            source="ollama",
            model=self.model_ref,
            engine="ollama",
            language=self.model.language,
            confidence_threshold=self._thresholds.confidence,
            topicality_threshold=self._thresholds.topicality,
            max_labels=self._max_labels,
        )

    def caption(self, photo: PhotoImage) -> Caption:
        text = caption_from_json(self._ask("caption", photo))
        try:
            cleaned = clean_caption(
                text,
                language=self.model.language,
                max_length=self.model.max_length or DEFAULT_MAX_LENGTH,
            )
        except InvalidPayload as exc:
            raise InvalidPayload(self._invalid("caption", photo, str(exc))) from exc
        return Caption(
            text=cleaned,
            source="ollama",
            model=self.model_ref,
            engine="ollama",
            language=self.model.language,
        )

    @property
    def _max_labels(self) -> int:
        return self.model.max_labels or prompts.DEFAULT_MAX_LABELS

    def _invalid(self, what: str, photo: PhotoImage, reason: str) -> str:
        return (
            f"vision: invalid {what} payload from ollama "
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
                max_labels=self._max_labels,
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
        response, thinking = self._with_retries(lambda: self._generate_once(body))
        return answer_text(response, thinking)

    # --- HTTP --------------------------------------------------------------------------------

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        policy = self._retry
        for number in range(1, policy.attempts + 1):
            try:
                return attempt()
            except _Retry as retry:
                error = retry.error
                if number >= policy.attempts:
                    break
                if retry.retry_after is not None:
                    if retry.retry_after > policy.max_retry_after:
                        raise error from error.__cause__
                    delay = retry.retry_after
                else:
                    delay = policy.backoff(number - 1, self._rand)
                logger.info(
                    "ollama %s: %s; retry %d/%d in %.2fs",
                    self.model_ref, error, number, policy.attempts - 1, delay,
                )
                self._sleep(delay)
        raise error from error.__cause__

    def _post_json(self, path: str, body: dict[str, Any]) -> bytes:
        """One non-streaming POST; the body of a 200 answer, or a translated error."""
        try:
            response = self._client.post(
                self.base_url + path,
                json=body,
                headers=self._headers,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            self._transport_error(exc, path)
        if response.status_code != httpx.codes.OK:
            self._status_error(response, path)
        return response.content

    def _generate_once(self, body: dict[str, Any]) -> tuple[str, str]:
        """One /api/generate attempt: (response, thinking) text."""
        if not self.stream:
            raw = self._post_json(GENERATE_PATH, body)
            try:
                chunk = GenerateChunk.model_validate_json(raw)
            except ValidationError as exc:
                raise InvalidPayload(
                    f"vision: invalid response body from ollama (model {self.model_ref}): "
                    f"{raw[:200]!r}"
                ) from exc
            self._check_chunk(chunk)
            return chunk.response, chunk.thinking
        try:
            with self._client.stream(
                "POST",
                self.base_url + GENERATE_PATH,
                json=body,
                headers=self._headers,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=self._timeout,
            ) as response:
                if response.status_code != httpx.codes.OK:
                    response.read()
                    self._status_error(response, GENERATE_PATH)
                return self._read_stream(response)
        except httpx.HTTPError as exc:
            self._transport_error(exc, GENERATE_PATH)

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
                    f"vision: invalid stream line from ollama (model {self.model_ref}): "
                    f"{line[:200]!r}"
                ) from exc
            self._check_chunk(chunk)
            texts.append(chunk.response)
            thoughts.append(chunk.thinking)
            size += len(chunk.response) + len(chunk.thinking)
            if size > MAX_ANSWER_CHARS:
                raise InvalidPayload(
                    f"vision: answer from ollama (model {self.model_ref}) exceeds "
                    f"{MAX_ANSWER_CHARS} characters; set Options.NumPredict"
                )
            if chunk.done:
                return "".join(texts), "".join(thoughts)
        raise _Retry(
            EngineUnavailable(
                f"vision: ollama at {self.base_url} ended the answer stream early "
                f"(model {self.model_ref})"
            )
        )

    def _check_chunk(self, chunk: GenerateChunk) -> None:
        if chunk.error is not None:
            # Ollama reports failures after the 200 header as an `error` line; the model broke
            # on this input, so the chain falls back rather than asking again.
            raise EngineError(
                f"vision: ollama failed while answering (model {self.model_ref}): {chunk.error}"
            )

    def _status_error(self, response: httpx.Response, path: str) -> NoReturn:
        status = response.status_code
        detail = error_text(response.content)
        where = f"{self.base_url}{path}"
        if status == httpx.codes.NOT_FOUND and _is_json_error(response.content):
            self._remember(
                ModelNotFound(
                    f'model "{self.model_ref}" not found on {self.base_url}: '
                    f'run "ollama pull {self.model_ref}"'
                )
            )
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            self._remember(
                EngineError(
                    f"vision: {where} refused access ({status}): {detail}; "
                    "check Service.Key or Service.Username/Password"
                )
            )
        if status == httpx.codes.TOO_MANY_REQUESTS:
            raise _Retry(
                EngineUnavailable(f"vision: {where} is rate limiting (429): {detail}"),
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise _Retry(EngineUnavailable(f"vision: {where} failed ({status}): {detail}"))
        raise EngineError(
            f"vision: {where} rejected the request for model {self.model_ref} "
            f"({status}): {detail}"
        )

    def _transport_error(self, exc: httpx.HTTPError, path: str) -> NoReturn:
        where = f"{self.base_url}{path}"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            raise _Retry(_with_cause(EngineUnavailable(f"vision: cannot connect to {where}: "
                                                       f"{exc or type(exc).__name__}"), exc))
        if isinstance(exc, httpx.ReadTimeout):
            error = _with_cause(
                EngineUnavailable(
                    f"vision: no answer from {where} within {self._timeout.read:g}s "
                    f"(model {self.model_ref}); raise Service.Timeout for slow hardware"
                ),
                exc,
            )
            if self._retry.retry_read_timeouts:
                raise _Retry(error)
            raise error
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            # Connection reset or closed mid-answer: Ollama restarted or a proxy dropped us.
            raise _Retry(_with_cause(
                EngineUnavailable(f"vision: connection to {where} lost: {exc}"), exc
            ))
        raise _with_cause(EngineUnavailable(f"vision: request to {where} failed: {exc!r}"), exc)


def _is_json_error(body: bytes) -> bool:
    """Ollama's own 404s are JSON ({"error": ...}); a plain-text 404 is some other server."""
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False
