"""The OpenAI-compatible engine: labels and captions over `POST {Uri}/chat/completions`, the API
that vLLM, llama.cpp's server, LM Studio, a LiteLLM proxy, Ollama's /v1 and OpenAI itself speak.

`Uri` is the API base (`http://gpu-box:8000/v1`); one that already ends in `/chat/completions`
is accepted too. The photo goes as a `data:image/jpeg;base64,...` `image_url` part. Labels ask
for `response_format: {type: json_schema, ...}` with the schema also described in the prompt;
a server that rejects `response_format` (HTTP 400) is asked once more with the prompt alone,
and that endpoint is remembered as prompt-only. Streaming (server-sent events up to
`data: [DONE]`) is on by default, for the same reason as with Ollama: the read timeout then
bounds silence, not the whole answer. Retries and error mapping: http.py.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from xmpvision.config.defaults import DEFAULT_TEMPERATURE, ENGINE_DEFAULTS
from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, Thresholds
from xmpvision.engines import prompts
from xmpvision.engines.answers import MAX_ANSWER_CHARS, Kind
from xmpvision.engines.base import Abilities, EngineInfo, ModuleKind
from xmpvision.engines.http import Retry, ServerDialect
from xmpvision.engines.llm import LanguageModelEngine
from xmpvision.errors import (
    EngineError,
    EngineUnavailable,
    InvalidPayload,
    ModelNotFound,
    ServiceDown,
    redact,
)
from xmpvision.prepare.images import PhotoImage
from xmpvision.text.answers import answer_text

ENGINE = "openai"
SOURCE = ENGINE_DEFAULTS[ENGINE].source
# A server's models: every type, probed by a breaker, on one or several endpoints.
ABILITIES = Abilities(answers=(*SUPPORTED_TYPES, "generate"), server=True)
COMPLETIONS_PATH = "/chat/completions"
MODELS_PATH = "/models"
# OpenAI's names for the options vision.yml writes in CamelCase.
_OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


def base_url(model: ModelConfig) -> str:
    uri = (model.service.uri or "").strip().rstrip("/")
    if "://" not in uri:
        uri = "http://" + uri
    return uri.removesuffix(COMPLETIONS_PATH)


def endpoint(model: ModelConfig) -> str:
    return f"POST {base_url(model)}{COMPLETIONS_PATH}"


def effective_options(model: ModelConfig) -> dict[str, Any]:
    """The request's sampling fields, OpenAI's names (temperature, top_p, max_tokens, ...)."""
    given = model.options.snake_case()
    options: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE}
    options.update({_OPTION_NAMES[k]: v for k, v in given.items() if k in _OPTION_NAMES})
    tokens = model.options.max_output_tokens or given.get("num_predict")
    if tokens:
        options["max_tokens"] = tokens
    return options


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema in the form strict structured outputs accept: every object closed
    (`additionalProperties: false`) with all its properties required; number bounds, which
    strict mode refuses, left to the prompt."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = strict_schema(value)
        else:
            out[key] = value
    if out.get("type") == "object" and isinstance(out.get("properties"), dict):
        out["additionalProperties"] = False
        out["required"] = list(out["properties"])
    return out


def describe(model: ModelConfig) -> EngineInfo:
    json_mode = (model.format or "").strip().lower() == "json"
    fmt = "json" if json_mode else "json-schema" if model.type == "labels" else "text"
    return EngineInfo(
        engine=ENGINE, source=SOURCE, endpoint=redact(endpoint(model)), format=fmt,
        options=effective_options(model), capacity=f"{ENGINE} {redact(base_url(model))}",
        slots=model.service.parallel, resolution=model.image_size, fit="longest",
        abilities=ABILITIES,
    )


def error_text(body: bytes) -> str:
    """OpenAI's `{"error": {"message": ...}}` (or a bare string error, or the body itself)."""
    try:
        value = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)"
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    return json.dumps(value)[:500]


def _model_missing(response: httpx.Response, model: str) -> EngineError | None:
    text = error_text(response.content).lower()
    if "model" not in text:
        return None  # a 404 for the path: a wrong Uri, said as a rejected request
    return ModelNotFound(f'model "{model}" not found on {redact(str(response.request.url))}',
                         hint="check Model (ids are case-sensitive) against GET /models")


_RESET = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def rate_limit_wait(headers: httpx.Headers) -> float | None:
    """Seconds until a rate limit resets: `x-ratelimit-reset-requests`/`-tokens` ("1s",
    "6m0s", "20ms"), the later of the two; None when neither is given."""
    waits = []
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = headers.get(name, "").strip()
        parts = _RESET.findall(value)
        if parts and "".join(n + u for n, u in parts) == value:
            waits.append(sum(float(n) * _UNIT[u] for n, u in parts))
    return max(waits) if waits else None


DIALECT = ServerDialect(
    ENGINE, error_text, _model_missing, display="the OpenAI-compatible server",
    connect_hint="start the server (vLLM, llama.cpp, LM Studio, LiteLLM, ...), or set "
    "Service.Uri in vision.yml to its API base, e.g. http://gpu-box:8000/v1",
    retry_after=rate_limit_wait,
    probe_path=MODELS_PATH,  # the one GET every compatible server answers
)


def _rejects_response_format(error: EngineError) -> bool:
    text = str(error).lower()
    return "(400)" in text and ("response_format" in text or "json_schema" in text)


class OpenAIEngine(LanguageModelEngine):
    """One model of an OpenAI-compatible server, safe for Service.Parallel worker threads.

    Model ids are case-preserved: "Qwen/Qwen2.5-VL-7B-Instruct"."""

    ENGINE = ENGINE
    SOURCE = SOURCE
    DIALECT = DIALECT
    ACCEPT = "application/json, text/event-stream"
    describe = staticmethod(describe)
    base = staticmethod(base_url)

    def __init__(self, model: ModelConfig, thresholds: Thresholds | None = None,
                 **options: Any) -> None:
        super().__init__(model, thresholds, **options)
        self.options = effective_options(model)
        service = model.service
        for header, value in (("OpenAI-Organization", service.org),
                              ("OpenAI-Project", service.project)):
            if value:
                self.http.headers[header] = value
        self._prompt_only = False  # the server refused response_format once: prompt alone

    # --- readiness -------------------------------------------------------------------------

    def check_ready(self) -> None:
        """GET {Uri}/models once: the model must be among the ids it lists."""
        with self._ready_lock:
            self.http.raise_fatal()
            if self._ready:
                return
            raw = self.http.retried(lambda: self.http.send("GET", MODELS_PATH))
            try:
                listed = json.loads(raw).get("data")
                ids = [str(item["id"]) for item in listed]
            except (ValueError, AttributeError, TypeError, KeyError) as exc:
                raise EngineUnavailable(
                    f"unexpected answer from {self.http.shown}{MODELS_PATH}: {raw[:200]!r}"
                ) from exc
            # A proxy (LiteLLM) may list aliases only; an empty list says nothing either way.
            if ids and self.model_ref not in ids:
                shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
                self.http.remember(ModelNotFound(
                    f'model "{self.model_ref}" not found on {self.http.shown}',
                    hint=f"the server offers: {shown} (ids are case-sensitive)",
                ))
            self._ready = True

    # --- the questions ---------------------------------------------------------------------

    def request(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = (), *,
                schema: bool = True) -> dict[str, Any]:
        """The chat completion request for a photo (public so tests can check it)."""
        asked = prompts.question(self.model, kind, types=types,
                                 hints=photo.hints(self.model.context))
        image = base64.b64encode(photo.jpeg(self.model.image_size)).decode("ascii")
        part: dict[str, Any] = {"url": f"data:image/jpeg;base64,{image}"}
        if self.model.options.detail:
            part["detail"] = self.model.options.detail
        body: dict[str, Any] = {
            "model": self.model_ref,
            "messages": [
                *([{"role": "system", "content": asked.system}] if asked.system else []),
                {"role": "user", "content": [{"type": "text", "text": asked.prompt},
                                             {"type": "image_url", "image_url": part}]},
            ],
            "stream": self.stream,
            **self.options,
        }
        if self.model.service.tier:
            body["service_tier"] = self.model.service.tier
        if schema and not self._prompt_only and (asked.json_mode or asked.schema is not None):
            body["response_format"] = (
                {"type": "json_object"} if asked.json_mode else
                {"type": "json_schema", "json_schema": {
                    "name": kind, "schema": strict_schema(asked.schema or {}), "strict": True}}
            )
        return body

    def _ask(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = ()) -> str:
        self.http.raise_fatal()
        if not self._ready:
            self.check_ready()
        body = self.request(kind, photo, types)
        try:
            content, reasoning = self.http.retried(lambda: self._complete_once(body))
        except EngineError as exc:
            if "response_format" not in body or not _rejects_response_format(exc):
                raise
            self._prompt_only = True  # remembered for this endpoint
            plain = self.request(kind, photo, types, schema=False)
            content, reasoning = self.http.retried(lambda: self._complete_once(plain))
        return answer_text(content, reasoning)

    # --- HTTP --------------------------------------------------------------------------------

    def _complete_once(self, body: dict[str, Any]) -> tuple[str, str]:
        if not body.get("stream"):
            raw = self.http.send("POST", COMPLETIONS_PATH, body)
            return self._message(raw)
        with self.http.stream(COMPLETIONS_PATH, body) as response:
            return self._read_events(response)

    def _message(self, raw: bytes) -> tuple[str, str]:
        try:
            choice = json.loads(raw)["choices"][0]
            message = choice["message"]
            content = message.get("content") or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise InvalidPayload(
                f"invalid response body from {ENGINE} (model {self.model_ref}): {raw[:200]!r}"
            ) from exc
        if not isinstance(content, str) or not isinstance(reasoning, str):
            raise InvalidPayload(f"invalid message from {ENGINE} (model {self.model_ref})")
        return content, reasoning

    def _read_events(self, response: httpx.Response) -> tuple[str, str]:
        """Concatenate `data:` events' deltas until `[DONE]`."""
        texts: list[str] = []
        thoughts: list[str] = []
        size = 0
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # comments (": keep-alive"), event names, blank separators
            data = line[5:].strip()
            if data == "[DONE]":
                return "".join(texts), "".join(thoughts)
            content, reasoning = self._delta(data)
            texts.append(content)
            thoughts.append(reasoning)
            size += len(content) + len(reasoning)
            if size > MAX_ANSWER_CHARS:
                raise InvalidPayload(f"answer from {ENGINE} (model {self.model_ref}) exceeds "
                                     f"{MAX_ANSWER_CHARS} characters; set Options.MaxOutputTokens")
        raise Retry(ServiceDown(
            f"{self.http.shown} ended the answer stream early (model {self.model_ref})"
        ))

    def _delta(self, data: str) -> tuple[str, str]:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise InvalidPayload(f"invalid stream event from {ENGINE} "
                                 f"(model {self.model_ref}): {data[:200]!r}") from exc
        if isinstance(event, dict) and "error" in event:
            raise EngineError(f"{ENGINE} failed while answering (model {self.model_ref}): "
                              f"{error_text(data.encode())}")
        try:
            choices = event.get("choices") or []
            delta = choices[0].get("delta") or {} if choices else {}
            content = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise InvalidPayload(f"invalid stream event from {ENGINE} "
                                 f"(model {self.model_ref}): {data[:200]!r}") from exc
        if not isinstance(content, str) or not isinstance(reasoning, str):
            raise InvalidPayload(f"invalid stream event from {ENGINE} (model {self.model_ref})")
        return content, reasoning


KIND = ModuleKind(ENGINE, describe, __name__, "OpenAIEngine")
