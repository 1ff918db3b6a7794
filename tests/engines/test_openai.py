"""The OpenAI-compatible engine against a real loopback server that speaks the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.engines.asking import caption_began, caption_of, labels_of
from tests.engines.conftest import OPENAI_MODEL
from tests.openai_server import IMAGE_TOKENS, Completion, OpenAIServer
from xmpvision.config.builtin import resolve_model
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.openai import OpenAIEngine, rate_limit_wait, strict_schema
from xmpvision.errors import EngineError, EngineUnavailable, InvalidPayload, ModelNotFound
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import Usage

MODEL = OPENAI_MODEL  # ids are case-preserved


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def engine(server: OpenAIServer, *, stream: bool = True, sleep: Sleeps | None = None,
           **entry: Any) -> OpenAIEngine:
    service = {"Uri": server.base_url, "Timeout": "5s", **entry.pop("Service", {})}
    data = {"Type": "labels", "Engine": "openai", "Model": MODEL, "Service": service, **entry}
    model = resolve_model(ModelConfig.model_validate(data))
    return OpenAIEngine(model, Thresholds(), stream=stream,
                        sleep=sleep if sleep is not None else Sleeps(),
                        rand=lambda: 0.5)


def body(server: OpenAIServer, index: int = -1) -> dict[str, Any]:
    found = server.completion_requests()[index].body
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_labels_and_caption(server: OpenAIServer, photo: PhotoImage, stream: bool) -> None:
    with engine(server, stream=stream) as labels_engine:
        labels = labels_of(labels_engine, photo)
    assert [(x.name, x.source, x.model, x.engine) for x in labels] == [
        ("Dog", "openai", MODEL, "openai"), ("Beach", "openai", MODEL, "openai")]
    sent = body(server)
    assert sent["model"] == MODEL and sent["stream"] is stream
    assert sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    user = sent["messages"][-1]["content"]
    assert user[0]["type"] == "text" and '"labels"' in user[0]["text"]  # schema in the prompt
    assert user[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    with engine(server, stream=stream, Type="caption") as caption_engine:
        caption = caption_of(caption_engine, photo)
    assert caption.text == "A brown dog runs along a sandy beach at sunset."
    assert "response_format" not in body(server)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_compact_labels_and_answer_tokens(server: OpenAIServer, photo: PhotoImage,
                                          stream: bool) -> None:
    """Labels asked as short strings with one score; the answer's and prompt's tokens from
    `usage`, which a stream carries only when asked for (`stream_options`, sent only with a
    stream), and the prompt's characters."""
    answer = '{"labels": ["dog:96", "beach:85"]}'
    server.respond(answer, kind="labels")
    with engine(server, stream=stream) as e:
        result = e.answer(photo, ("labels",))
    assert [(x.name, x.confidence) for x in result.labels or []] == [
        ("Dog", 0.96), ("Beach", 0.85)]
    sent = body(server)
    text = sent["messages"][0]["content"] + sent["messages"][1]["content"][0]["text"]
    assert result.tokens == [("labels", Usage(len(answer) // 4, len(text) // 4 + IMAGE_TOKENS,
                                              len(text)))]  # the emulator's counts
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["labels"]["items"] == {"type": "string"}
    assert sent.get("stream_options") == ({"include_usage": True} if stream else None)


def test_uri_may_end_in_chat_completions(server: OpenAIServer, photo: PhotoImage) -> None:
    uri = server.base_url + "/chat/completions"
    with engine(server, Service={"Uri": uri}) as e:
        assert labels_of(e, photo)
    assert server.completion_requests()[0].path == "/v1/chat/completions"


def test_options_auth_and_headers(server: OpenAIServer, photo: PhotoImage) -> None:
    server.require_key = "sk-test"
    with engine(server, Options={"Temperature": 0.3, "TopP": 0.8, "Seed": 7,
                                 "MaxOutputTokens": 256, "Stop": ["\n\n"], "Detail": "low",
                                 "PresencePenalty": 0.1, "FrequencyPenalty": 0.2},
                Service={"Key": "sk-test", "Org": "org-1", "Project": "proj-1",
                         "Tier": "flex"}) as e:
        labels_of(e, photo)
    sent = body(server)
    assert {k: sent[k] for k in ("temperature", "top_p", "seed", "max_tokens", "stop",
                                 "presence_penalty", "frequency_penalty", "service_tier")} == {
        "temperature": 0.3, "top_p": 0.8, "seed": 7, "max_tokens": 256, "stop": ["\n\n"],
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "service_tier": "flex"}
    assert sent["messages"][-1]["content"][1]["image_url"]["detail"] == "low"
    headers = server.completion_requests()[0].headers
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj-1"


def test_response_format_rejected_falls_back_once_and_is_remembered(
    server: OpenAIServer, photo: PhotoImage
) -> None:
    server.reject_response_format = True
    with engine(server) as e:
        assert [x.name for x in labels_of(e, photo)] == ["Dog", "Beach"]
        assert [x.name for x in labels_of(e, photo)] == ["Dog", "Beach"]
    sent = [r.body for r in server.completion_requests()]
    assert ["response_format" in b for b in sent] == [True, False, False]


@pytest.mark.parametrize(("litellm", "said"), [(False, r"\(401\)"),
                                              (True, r"\(400\): No connected db")],
                         ids=["401", "litellm-without-db"])
def test_unauthorized_is_one_clear_error_never_retried(server: OpenAIServer, photo: PhotoImage,
                                                       litellm: bool, said: str) -> None:
    server.require_key, server.litellm_auth = "right", litellm
    sleeps = Sleeps()
    with engine(server, sleep=sleeps, Service={"Key": "wrong"}) as e:
        with pytest.raises(EngineError, match=f"refused access {said}") as info:
            e.check_ready()
        assert "Service.Key" in (info.value.hint or "")
        with pytest.raises(EngineError, match="refused access"):
            labels_of(e, photo)
    assert sleeps == [] and len(server.requests) == 1  # remembered: asked once


def test_missing_model_names_it_and_what_is_offered(server: OpenAIServer,
                                                   photo: PhotoImage) -> None:
    with engine(server, Model="qwen/qwen2.5-vl-7b-instruct") as e:
        with pytest.raises(ModelNotFound, match=r'"qwen/qwen2\.5-vl-7b-instruct" not found'):
            labels_of(e, photo)
        with pytest.raises(ModelNotFound) as info:
            labels_of(e, photo)
    assert MODEL in (info.value.hint or "")
    assert server.completion_requests() == []


def test_rate_limit_honours_retry_after_and_reset_headers(server: OpenAIServer,
                                                         photo: PhotoImage) -> None:
    server.rate_limit(retry_after=1.5)
    server.rate_limit(reset="2s")
    sleeps = Sleeps()
    with engine(server, sleep=sleeps) as e:
        assert labels_of(e, photo)
    assert sleeps == [1.5, 2.0]


def test_rate_limit_reset_parsing() -> None:
    import httpx

    assert rate_limit_wait(httpx.Headers({"x-ratelimit-reset-requests": "6m0s"})) == 360
    assert rate_limit_wait(httpx.Headers({"x-ratelimit-reset-tokens": "20ms",
                                          "x-ratelimit-reset-requests": "1s"})) == 1
    assert rate_limit_wait(httpx.Headers({"x-ratelimit-reset-requests": "soon"})) is None


def test_server_errors_are_retried(server: OpenAIServer, photo: PhotoImage) -> None:
    server.fail(503, times=2)
    sleeps = Sleeps()
    with engine(server, sleep=sleeps) as e:
        assert labels_of(e, photo)
    assert len(sleeps) == 2 and len(server.completion_requests()) == 3
    server.fail(500, times=5)
    with engine(server) as e, pytest.raises(EngineUnavailable, match=r"failed .500."):
        labels_of(e, photo)


@pytest.mark.parametrize(
    ("answer", "names"),
    [
        ('```json\n{"labels": [{"name": "cat", "confidence": 0.9}]}\n```', ["Cat"]),
        ('Sure! {"labels": ["owl"]} Anything else?', ["Owl"]),
        (Completion('{"labels": ["fox"]}', reasoning="The photo shows a fox..."), ["Fox"]),
        ('<think>a fox?</think>{"labels": ["fox"]}', ["Fox"]),
    ],
    ids=["fenced", "prose", "reasoning-field", "think-tags"],
)
def test_tolerant_parsing(server: OpenAIServer, photo: PhotoImage, answer: str | Completion,
                          names: list[str]) -> None:
    server.respond(answer, kind="labels")
    for stream in (True, False):
        with engine(server, stream=stream) as e:
            assert [x.name for x in labels_of(e, photo)] == names


def test_malformed_answers_are_invalid_payloads(server: OpenAIServer, photo: PhotoImage) -> None:
    server.garbage()
    with engine(server, stream=False) as e, pytest.raises(InvalidPayload, match="invalid"):
        labels_of(e, photo)
    server.respond("I cannot help with that.", kind="labels")
    with engine(server) as e, pytest.raises(InvalidPayload, match="invalid label payload"):
        labels_of(e, photo)


def test_strict_schema_closes_objects() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number", "minimum": 0},
                                               "b": {"type": "array", "items": {
                                                   "type": "object",
                                                   "properties": {"c": {"type": "string"}}}}}}
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False and strict["required"] == ["a", "b"]
    assert "minimum" not in strict["properties"]["a"]
    assert strict["properties"]["b"]["items"]["additionalProperties"] is False
    assert json.dumps(schema).count("minimum") == 1  # the original is left as it was


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_a_streamed_answer_says_when_it_began(server: OpenAIServer, photo: PhotoImage,
                                              stream: bool) -> None:
    """The first event of the stream (after the server's prefill and first token) tells the
    service's limiter that the server is up and the model loaded (served.started), while the
    rest of the answer is still coming; once per answer. A whole answer tells nothing early."""
    server.latency = 1.0  # 0.3 s of prefill, then the pieces spread over the other 0.7 s
    with engine(server, stream=stream, Type="caption") as caption_engine:
        caption_engine.check_ready()
        caption, began, ended = caption_began(caption_engine, photo)
    assert caption.text == "A brown dog runs along a sandy beach at sunset."
    if stream:
        assert len(began) == 1
        assert ended - began[0] >= 0.3  # pieces still came 0.23 s apart after it
    else:
        assert began == []
