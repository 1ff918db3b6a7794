"""The OpenAI-compatible engine: labels and captions over `POST {Uri}/chat/completions`, the API
that vLLM, llama.cpp's server, LM Studio, a LiteLLM proxy, Ollama's /v1 and OpenAI itself speak.

`Uri` is the API base (`http://gpu-box:8000/v1`); one that already ends in `/chat/completions`
is accepted too. The photo goes as a `data:image/jpeg;base64,...` `image_url` part. Labels ask
for `response_format: {type: json_schema, ...}` with the schema also described in the prompt.

Parameters a server refuses are done without: one whose error names `response_format` (a 400,
or llama.cpp's 500) makes that server prompt-only; GPT-5's refused `temperature` is dropped and
its refused `max_tokens` sent as `max_completion_tokens`. Each costs one more request, then is
remembered (per server for the format, per server and model for the rest) by every engine
until a job's failures are forgotten.

Streaming (server-sent events) is on by default, for the same reason as with Ollama: the read
timeout then bounds silence, the request's deadline the whole answer. A stream is complete once
a choice has finished, `data: [DONE]` or not; a plain JSON body to a streamed request is a
whole answer; an `error:` event, a `data: {"error": ...}` event or a 200 `{"error": ...}` body
fails the answer with the server's own message. Retries and error mapping: http.py.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from dataclasses import replace
from functools import partial
from typing import Any

import httpx

from xmpvision.config.defaults import DEFAULT_READ_TIMEOUT, DEFAULT_TEMPERATURE, ENGINE_DEFAULTS
from xmpvision.config.models import SUPPORTED_TYPES, ModelConfig, Thresholds
from xmpvision.engines import prompts, served
from xmpvision.engines.answers import MAX_ANSWER_CHARS, Kind, Reply, finished_answer
from xmpvision.engines.base import Abilities, EngineInfo, ModuleKind
from xmpvision.engines.http import Retry, ServerDialect, cannot_load
from xmpvision.engines.llm import LanguageModelEngine
from xmpvision.engines.reading import Body
from xmpvision.errors import (
    EngineError,
    EngineUnavailable,
    InvalidPayload,
    ModelCannotRun,
    ModelNotFound,
    ParameterRefused,
    ServiceDown,
    redact,
)
from xmpvision.prepare.images import PhotoImage

logger = logging.getLogger(__name__)

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
        slots=model.service.most_parallel, auto=model.service.auto_parallel,
        timeout=model.service.timeout or DEFAULT_READ_TIMEOUT, resolution=model.image_size,
        fit="longest", abilities=ABILITIES,
    )


def error_text(body: bytes | str) -> str:
    """OpenAI's `{"error": {"message": ...}}` (or a bare string error, old vLLM's top-level
    `{"object": "error", "message": ...}`, or the body itself)."""
    try:
        value = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text.strip()[:500] or "(empty body)"
    message = _error_message(value)
    return message if message is not None else json.dumps(value)[:500]


def _error_message(value: Any) -> str | None:
    """The server's message when `value` (a parsed body or event) is an error, else None."""
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    if error is not None:
        return json.dumps(error)[:500]
    if value.get("object") == "error" and isinstance(value.get("message"), str):
        return str(value["message"])[:500]
    return None


def _event_error(data: str) -> str:
    """The message of llama.cpp's `error:` event: the error object itself, or a body."""
    try:
        value = json.loads(data)
    except ValueError:
        return data[:500] or "(empty error event)"
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])[:500]
    return error_text(data)


# What servers say when they refuse a parameter: OpenAI's "Unsupported value: 'temperature'
# does not support 0.1 with this model" and "Unsupported parameter: 'max_tokens' is not
# supported with this model. Use 'max_completion_tokens' instead."
_UNSUPPORTED = re.compile(r"unsupported (?:value|parameter): '(\w+)'", re.IGNORECASE)
# A server without structured output says so in words naming the format, with any status
# (llama.cpp: 500 'response_format type must be one of "text" or "json_object"').
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output")


def _model_fault(status: int, detail: str, model: str) -> EngineError | None:
    lowered = detail.lower()
    if status >= 400 and any(words in lowered for words in _FORMAT_WORDS):
        return ParameterRefused(detail, "response_format")
    unsupported = _UNSUPPORTED.search(detail)
    if status == 400 and unsupported is not None:
        return ParameterRefused(detail, unsupported.group(1))
    if status >= 500 and cannot_load(detail):
        return ModelCannotRun(f'model "{model}" cannot run on the server: {detail}',
                              hint="use a smaller model, or free the server's memory")
    return None


def _model_missing(response: httpx.Response, content: bytes, model: str) -> EngineError | None:
    text = error_text(content).lower()
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
    model_fault=_model_fault,
    # LiteLLM without a database answers a key it does not know with 400 "No connected db.".
    refuses_access=lambda status, detail: status == 400 and "no connected db" in detail.lower(),
)


class Refusals:
    """Parameters servers refused, shared by every engine of the process (an engine forgets
    its own with its other failures): `response_format` per server, any other parameter per
    server and model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prompt_only: set[str] = set()
        self._refused: dict[tuple[str, str], set[str]] = {}

    def prompt_only(self, server: str) -> bool:
        with self._lock:
            return server in self._prompt_only

    def refused(self, server: str, model: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._refused.get((server, model), ()))

    def clear(self) -> None:
        with self._lock:
            self._prompt_only.clear()
            self._refused.clear()

    def forget(self, server: str, model: str) -> None:
        with self._lock:
            self._prompt_only.discard(server)
            self._refused.pop((server, model), None)

    def refuse(self, server: str, model: str, parameter: str) -> None:
        with self._lock:
            if parameter == "response_format":
                self._prompt_only.add(server)
            else:
                self._refused.setdefault((server, model), set()).add(parameter)


REFUSALS = Refusals()
# Sent under another name when refused (OpenAI's reasoning models).
_RENAMED = {"max_tokens": "max_completion_tokens"}
# OpenAI's reasoning models (GPT-5 family, o-series) refuse both, one per answer: either
# refusal, in OpenAI's words, is taken for both, so the pair costs one extra request.
_REASONING_RULES = frozenset({"temperature", "max_tokens"})


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
        self.refusals = REFUSALS

    def forget_failures(self) -> None:
        """Also what the server refused: a daemon's next job finds out again (the server may
        have been upgraded meanwhile), at one extra request."""
        super().forget_failures()
        self.refusals.forget(self.base_url, self.model_ref)

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
                                 hints=photo.hints(self.model.context),
                                 topicality=self.topicality)
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
        }
        refused = self.refusals.refused(self.base_url, self.model_ref)
        if self.stream and "stream_options" not in refused:
            # A stream counts its answer tokens (`usage`, in a last chunk) only when asked to.
            body["stream_options"] = {"include_usage": True}
        for name, value in self.options.items():
            if name not in refused:
                body[name] = value
            elif name in _RENAMED and _RENAMED[name] not in refused:
                body[_RENAMED[name]] = value
        if self.model.service.tier:
            body["service_tier"] = self.model.service.tier
        prompt_only = self.refusals.prompt_only(self.base_url)
        if schema and not prompt_only and (asked.json_mode or asked.schema is not None):
            body["response_format"] = (
                {"type": "json_object"} if asked.json_mode else
                {"type": "json_schema", "json_schema": {
                    "name": kind, "schema": strict_schema(asked.schema or {}), "strict": True}}
            )
        return body

    def _ask(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = ()) -> Reply:
        self.http.raise_fatal()
        if not self._ready:
            self.check_ready()
        # Each refused parameter is done without once; the bound only ends a server that
        # would refuse what was just left out.
        for _ in range(len(self.options) + 2):
            body = self.request(kind, photo, types)
            try:
                reply = self.http.retried(partial(self._complete_once, body))
            except ParameterRefused as exc:
                self._do_without(exc, body)
                continue
            reply = replace(reply, prompt_chars=_prompt_chars(body))
            return finished_answer(reply, f"{ENGINE} (model {self.model_ref})",
                                   "Options.MaxOutputTokens")
        raise EngineError(f"{self.http.shown} keeps refusing the request for model "
                          f"{self.model_ref}")

    def _do_without(self, refusal: ParameterRefused, body: dict[str, Any]) -> None:
        """Remember that the server refuses `refusal.parameter`, or, when the request cannot
        do without it, that the model cannot run there."""
        name = refusal.parameter
        if name not in body or name in ("model", "messages"):
            self.http.remember(ModelCannotRun(
                f"{self.http.shown} refuses the request for model {self.model_ref}: {refusal}",
                hint="check the entry's Options against what the server supports",
            ), say=True)
        names = {name}
        if name in _REASONING_RULES and _UNSUPPORTED.search(str(refusal)):
            names |= _REASONING_RULES
        logger.warning("%s refuses %s for model %s (%s); asking without it from now on",
                       self.http.shown, name, self.model_ref, refusal)
        for each in names:
            self.refusals.refuse(self.base_url, self.model_ref, each)

    # --- HTTP --------------------------------------------------------------------------------

    def _complete_once(self, body: dict[str, Any]) -> Reply:
        if not body.get("stream"):
            return self._message(self.http.send("POST", COMPLETIONS_PATH, body))
        with self.http.stream(COMPLETIONS_PATH, body) as answer:
            if answer.content_type == "application/json":
                return self._message(answer.read())  # the whole answer at once
            return self._read_events(answer)

    def _failed(self, message: str) -> EngineError:
        """The error for a server's message that came with a 200 (a body or an event)."""
        fault = _model_fault(500, message, self.model_ref)
        if isinstance(fault, ModelCannotRun):
            self.http.remember(fault, say=True)
        return EngineError(f"{ENGINE} failed while answering (model {self.model_ref}): "
                           f"{message}")

    def _message(self, raw: bytes) -> Reply:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise InvalidPayload(
                f"invalid response body from {ENGINE} (model {self.model_ref}): {raw[:200]!r}"
            ) from exc
        message = _error_message(value)
        if message is not None:
            raise self._failed(message)
        try:
            choice = value["choices"][0]
            said = choice["message"]
            content = said.get("content") or ""
            reasoning = said.get("reasoning_content") or said.get("reasoning") or ""
            finish = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise InvalidPayload(
                f"invalid response body from {ENGINE} (model {self.model_ref}): {raw[:200]!r}"
            ) from exc
        if not isinstance(content, str) or not isinstance(reasoning, str):
            raise InvalidPayload(f"invalid message from {ENGINE} (model {self.model_ref})")
        return Reply(content, reasoning, cut=finish == "length", tokens=_tokens(value),
                     prompt_tokens=_tokens(value, "prompt_tokens"))

    def _read_events(self, answer: Body) -> Reply:
        """Concatenate the deltas of the stream's `data:` events until `[DONE]`, or until the
        stream ends after a choice finished."""
        stream = _Events(self)
        data: list[str] = []
        for line in answer.lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("error:"):
                # llama.cpp's way to fail a stream: `error: {"code": 500, "message": ...}`.
                raise self._failed(_event_error(line[6:].strip()))
            elif not line and data:
                if stream.event(data):
                    return stream.reply()
                served.started()
                data = []
            # Anything else: comments (": keep-alive"), `event:`/`id:` fields.
        if data and stream.event(data):
            return stream.reply()
        if stream.finish is not None:
            return stream.reply()  # finished without `data: [DONE]`, as some servers end
        raise Retry(ServiceDown(
            f"{self.http.shown} ended the answer stream early (model {self.model_ref})"
        ))


class _Events:
    """The answer a stream of chat-completion chunks adds up to."""

    def __init__(self, engine: OpenAIEngine) -> None:
        self._engine = engine
        self.texts: list[str] = []
        self.thoughts: list[str] = []
        self.size = 0
        self.finish: str | None = None
        self.tokens: int | None = None
        self.prompt_tokens: int | None = None

    def reply(self) -> Reply:
        return Reply("".join(self.texts), "".join(self.thoughts),
                     cut=self.finish == "length", tokens=self.tokens,
                     prompt_tokens=self.prompt_tokens)

    def event(self, lines: list[str]) -> bool:
        """Take in one event (its `data:` lines); True at `[DONE]`."""
        data = "\n".join(lines)  # an event's data may span several lines
        if data.strip() == "[DONE]":
            return True
        try:
            values = [json.loads(data)]
        except ValueError:
            # Servers that leave out the blank line between events: one per line.
            values = [self._json(line) for line in lines if line.strip()]
        for value in values:
            self._chunk(value, data)
        return False

    def _json(self, data: str) -> Any:
        if data.strip() == "[DONE]":
            return {}
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InvalidPayload(f"invalid stream event from {ENGINE} (model "
                                 f"{self._engine.model_ref}): {data[:200]!r}") from exc

    def _chunk(self, event: Any, data: str) -> None:
        engine = self._engine
        message = _error_message(event)
        if message is not None:
            raise engine._failed(message)  # vLLM's `data: {"error": {...}}`
        try:
            choices = event.get("choices") or []
            choice = choices[0] if choices else {}
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            finish = choice.get("finish_reason")
        except (AttributeError, IndexError, TypeError) as exc:
            raise InvalidPayload(f"invalid stream event from {ENGINE} "
                                 f"(model {engine.model_ref}): {data[:200]!r}") from exc
        if not isinstance(content, str) or not isinstance(reasoning, str):
            raise InvalidPayload(f"invalid stream event from {ENGINE} (model {engine.model_ref})")
        self.texts.append(content)
        self.thoughts.append(reasoning)
        if isinstance(finish, str):
            self.finish = finish
        self.tokens = _tokens(event) or self.tokens
        self.prompt_tokens = _tokens(event, "prompt_tokens") or self.prompt_tokens
        self.size += len(content) + len(reasoning)
        if self.size > MAX_ANSWER_CHARS:
            raise InvalidPayload(f"answer from {ENGINE} (model {engine.model_ref}) exceeds "
                                 f"{MAX_ANSWER_CHARS} characters; set Options.MaxOutputTokens")


def _tokens(value: Any, name: str = "completion_tokens") -> int | None:
    """`usage.completion_tokens` (or `name`) of a body or chunk, when the server counted them."""
    usage = value.get("usage") if isinstance(value, dict) else None
    tokens = usage.get(name) if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else None


def _prompt_chars(body: dict[str, Any]) -> int:
    """The characters of prompt text in a request's messages (the image is not text)."""
    return sum(len(content) if isinstance(content, str) else
               sum(len(part.get("text") or "") for part in content)
               for content in (message["content"] for message in body["messages"]))


KIND = ModuleKind(ENGINE, describe, __name__, "OpenAIEngine")
