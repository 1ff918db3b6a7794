"""OllamaEngine against the loopback emulator: requests sent, answers parsed, faults handled."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.engines.asking import caption_began, caption_of, labels_of
from tests.ollama_server import OllamaServer, Reply
from xmpvision.config.builtin import resolve_model
from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.config.schema import read_schema
from xmpvision.engines import prompts
from xmpvision.engines.ollama.engine import OllamaEngine
from xmpvision.engines.retry import RetryPolicy
from xmpvision.errors import (
    EngineError,
    EngineUnavailable,
    ImageError,
    InvalidPayload,
    ModelNotFound,
)
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import Usage

LABELS = {"labels": [{"name": "dog", "confidence": 0.95, "topicality": 0.9}]}


@pytest.fixture
def photo(tmp_path: Path) -> Iterator[PhotoImage]:
    path = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (1600, 1200), (200, 120, 40)).save(path, quality=90)
    with PhotoImage(path) as image:
        yield image


class Recorder:
    """Injected sleep: records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def model_config(server_url: str | None, **entry: Any) -> ModelConfig:
    service = {"Uri": server_url, "ConnectTimeout": "1s", "Timeout": "2s"}
    service.update(entry.pop("Service", {}))
    data = {"Type": "labels", "Engine": "ollama", "Model": "gemma3", "Service": service, **entry}
    # As the loader hands it over: resolved, with its schema read.
    model = resolve_model(ModelConfig.model_validate(data))
    return model.model_copy(update={"schema_": read_schema(model, None)})


def make_engine(
    server: OllamaServer, sleep: Recorder | None = None, *, stream: bool = True, **entry: Any
) -> OllamaEngine:
    return OllamaEngine(
        model_config(server.url, **entry),
        Thresholds(),
        stream=stream,
        sleep=sleep or Recorder(),
        rand=lambda: 0.5,
    )


def sent(server: OllamaServer) -> dict[str, Any]:
    """The JSON body of the one generate request the server saw."""
    requests = server.generate_requests()
    assert len(requests) == 1
    body = requests[0].body
    assert isinstance(body, dict)
    return body


# --- the request ---------------------------------------------------------------------------


def test_is_an_engine(ollama_server: OllamaServer) -> None:
    with make_engine(ollama_server) as engine:
        assert engine.info.engine == "ollama" and engine.info.source == "ollama"
        abilities = engine.info.abilities
        assert abilities.server and abilities.timings and "generate" in abilities.answers


def test_labels_request_and_result(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.respond(json.dumps(LABELS))
    with make_engine(ollama_server) as engine:
        labels = labels_of(engine, photo)
    assert [(label.name, label.source, label.model, label.engine) for label in labels] == [
        ("Dog", "ollama", "gemma3:latest", "ollama")
    ]
    request = ollama_server.generate_requests()[0]
    assert request.path == "/api/generate"
    body = sent(ollama_server)
    assert body["model"] == "gemma3:latest"
    assert body["stream"] is True
    assert body["format"] == prompts.LABELS_SCHEMA
    assert body["options"] == {"temperature": 0.1}
    assert body["system"] == prompts.LABELS_SYSTEM
    # Schema and example are in the prompt too, for models that ignore `format`.
    assert json.dumps(prompts.LABELS_SCHEMA, separators=(",", ":")) in body["prompt"]
    assert '"dog:96"' in body["prompt"]
    assert "at most 10 labels" in body["prompt"]
    assert "keep_alive" not in body
    assert body["think"] is False  # Ollama would turn thinking on for a model that can think
    assert [(i.format, i.width, i.height) for i in request.images] == [("JPEG", 720, 540)]
    assert "authorization" not in request.headers
    # The readiness check asked for this model once.
    shows = [r for r in ollama_server.requests if r.path == "/api/show"]
    assert [r.body for r in shows] == [{"model": "gemma3:latest"}]


def test_labels_are_asked_compact(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    """Each label a short string with one whole-percent score, no keys repeated per label; a
    topicality only when a Topicality threshold needs it."""
    ollama_server.respond('{"labels": ["dog:96", "beach:85", "sky:40"]}')
    with make_engine(ollama_server) as engine:
        result = engine.answer(photo, ("labels",))
    body = sent(ollama_server)
    assert body["format"]["properties"]["labels"]["items"] == {"type": "string"}
    assert '"name:confidence"' in body["prompt"] and "topicality" not in body["prompt"]
    assert [(x.name, x.confidence, x.topicality, x.priority) for x in result.labels or []] == [
        ("Dog", 0.96, 0.96, 5), ("Beach", 0.85, 0.85, 3), ("Sky", 0.4, 0.4, 1)]

    ollama_server.clear()
    ollama_server.respond('{"labels": ["dog:96:90", "beach:85:30", "sky:60:10"]}')
    thresholds = Thresholds.model_validate({"Confidence": 50, "Topicality": 20})
    with OllamaEngine(model_config(ollama_server.url), thresholds) as engine:
        result = engine.answer(photo, ("labels",))
    prompt = sent(ollama_server)["prompt"]
    assert '"name:confidence:topicality"' in prompt and '"dog:96:90"' in prompt
    assert [(x.name, x.confidence, x.topicality, x.priority) for x in result.labels or []] == [
        ("Dog", 0.96, 0.9, 4), ("Beach", 0.85, 0.3, -1)]


def test_own_prompt_gets_the_label_objects_it_was_written_for(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    """An entry's own Prompt (PhotoPrism's, say) asks for objects: the schema and example
    sent with it say the same."""
    ollama_server.respond(json.dumps(LABELS))
    with make_engine(ollama_server, Prompt="Give labels with name, confidence and "
                     "topicality.") as engine:
        labels_of(engine, photo)
    body = sent(ollama_server)
    assert body["format"] == prompts.LABEL_OBJECTS_SCHEMA
    assert '"name":"dog"' in body["prompt"] and '"dog:96"' not in body["prompt"]


def test_generate_with_an_own_schema_spells_that_schema(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    """A generate entry's own Schema is what its prompt spells too, not the built-in one."""
    schema = {"type": "object", "properties": {"caption": {"type": "string"},
                                               "labels": {"type": "array"}}}
    answer = json.dumps({"caption": "A dog.", "labels": ["dog"]})
    ollama_server.respond(answer)
    with make_engine(ollama_server, Type="generate", Types=["caption", "labels"],
                     Schema=schema) as engine:
        result = engine.answer(photo, ("caption", "labels"))
    assert result.errors == {} and [(kind, u.tokens) for kind, u in result.tokens] == [
        ("generate", len(answer) // 4)]
    body = sent(ollama_server)
    assert body["format"] == schema
    assert json.dumps(schema, separators=(",", ":")) in body["prompt"]
    assert '"items":{"type":"string"}' not in body["prompt"]


@pytest.mark.parametrize("stream", [True, False])
def test_answer_and_prompt_tokens_are_counted(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    """Ollama's eval_count and prompt_eval_count of the final chunk: the answer's tokens and
    the prompt's; and the characters of prompt text sent."""
    ollama_server.respond('{"labels": ["dog:96"]}')
    with make_engine(ollama_server, stream=stream) as engine:
        result = engine.answer(photo, ("labels",))
    body = sent(ollama_server)
    assert result.tokens == [("labels", Usage(
        len('{"labels": ["dog:96"]}') // 4, prompt_tokens=300,  # the emulator's count
        prompt_chars=len(body["prompt"]) + len(body["system"])))]


def test_a_prompt_not_counted_is_no_count_not_zero(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    """A prompt Ollama had cached comes without prompt_eval_count: unknown, not 0 tokens."""
    ollama_server.prompt_cached = True
    with make_engine(ollama_server) as engine:
        ((_, usage),) = engine.answer(photo, ("labels",)).tokens
    assert usage.prompt_tokens is None and usage.tokens and usage.prompt_chars


@pytest.mark.parametrize("reply", [Reply('{"labels": ["dog:9', end="length"),
                                   Reply("I see a dog and a beach.")], ids=["cut", "no-json"])
def test_tokens_of_an_unusable_answer_are_counted_too(
    ollama_server: OllamaServer, photo: PhotoImage, reply: Reply
) -> None:
    ollama_server.respond(reply)
    with make_engine(ollama_server) as engine, pytest.raises(InvalidPayload) as info:
        engine.answer(photo, ("labels",))
    body = sent(ollama_server)
    assert info.value.spent == Usage(len(reply.response) // 4, prompt_tokens=300,
                                     prompt_chars=len(body["prompt"]) + len(body["system"]))


def test_image_is_plain_base64_at_configured_resolution(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    with make_engine(ollama_server, Resolution=512) as engine:
        labels_of(engine, photo)
    image = sent(ollama_server)["images"][0]
    assert not image.startswith("data:")
    decoded = Image.open(io.BytesIO(base64.b64decode(image)))
    assert decoded.size == (512, 384)


def test_options_service_settings_and_auth(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.require_key = "s3cret"
    ollama_server.add_model("gemma3", capabilities=("completion", "vision", "thinking"))
    with make_engine(
        ollama_server,
        Options={"Temperature": 5, "TopK": 20, "NumCtx": 8192},
        Service={"KeepAlive": "10m", "Think": "high", "Key": "s3cret"},
        MaxLabels=4,
    ) as engine:
        labels_of(engine, photo)
    body = sent(ollama_server)
    assert body["options"] == {"temperature": 2.0, "top_k": 20, "num_ctx": 8192}
    assert body["keep_alive"] == "10m"
    assert body["think"] == "high"
    assert "at most 4 labels" in body["prompt"]
    headers = ollama_server.generate_requests()[0].headers
    assert headers["authorization"] == "Bearer s3cret"


def test_basic_auth(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    with make_engine(
        ollama_server, Service={"Username": "ann", "Password": "pw", "Think": False}
    ) as engine:
        labels_of(engine, photo)
    expected = "Basic " + base64.b64encode(b"ann:pw").decode()
    assert ollama_server.generate_requests()[0].headers["authorization"] == expected
    assert sent(ollama_server)["think"] is False


def test_format_json_and_own_schema(
    ollama_server: OllamaServer, photo: PhotoImage, tmp_path: Path
) -> None:
    with make_engine(ollama_server, Format="json") as engine:
        labels_of(engine, photo)
    assert sent(ollama_server)["format"] == "json"

    schema = {"type": "object", "properties": {"labels": {"type": "array"}}}
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(schema))
    for entry in ({"Schema": schema}, {"Schema": json.dumps(schema)}, {"SchemaFile": schema_file}):
        ollama_server.clear()
        with make_engine(ollama_server, **entry) as engine:
            labels_of(engine, photo)
        body = sent(ollama_server)
        assert body["format"] == schema
        assert json.dumps(schema, separators=(",", ":")) in body["prompt"]


def test_custom_system_and_prompt(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    with make_engine(
        ollama_server, System="Be terse.", Prompt='Tag it, max {max_labels}: {"labels": []}'
    ) as engine:
        labels_of(engine, photo)
    body = sent(ollama_server)
    assert body["system"] == "Be terse."
    assert body["prompt"].startswith('Tag it, max 10: {"labels": []}')


def test_german_caption(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.respond("Ein brauner Hund läuft über den Strand.", kind="caption")
    with make_engine(ollama_server, Type="caption", Language="de") as engine:
        caption = caption_of(engine, photo)
    body = sent(ollama_server)
    assert body["prompt"] == prompts.CAPTION_PROMPT + " Respond in German."
    assert "format" not in body
    assert caption.text == "Ein brauner Hund läuft über den Strand."
    assert (caption.language, caption.source, caption.model, caption.engine) == (
        "de", "ollama", "gemma3:latest", "ollama"
    )


def test_language_for_labels_and_unknown_tags(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    ollama_server.respond('{"labels": [{"name": "Hund", "confidence": 0.9}]}')
    with make_engine(ollama_server, Language="pt-BR") as engine:
        labels = labels_of(engine, photo)
    assert "Write the label names in Brazilian Portuguese" in sent(ollama_server)["prompt"]
    assert [label.name for label in labels] == ["Hund"]
    ollama_server.clear()
    with make_engine(ollama_server, Type="caption", Language="tlh") as engine:
        caption_of(engine, photo)
    assert sent(ollama_server)["prompt"].endswith("Respond in tlh.")


def test_non_stream_mode(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.respond(json.dumps(LABELS))
    with make_engine(ollama_server, stream=False) as engine:
        assert [label.name for label in labels_of(engine, photo)] == ["Dog"]
    assert sent(ollama_server)["stream"] is False


# --- answers -------------------------------------------------------------------------------

PAYLOADS = {
    "plain": Reply('{"labels": [{"name": "dog", "confidence": 0.9, "topicality": 0.8}]}'),
    "fenced": Reply('```json\n{"labels": [{"name": "dog", "confidence": 0.9}]}\n```'),
    "reasoning before": Reply(
        'Let me look. I see a dog {maybe}.\n{"labels": [{"name": "dog"}]}\nHope this helps!'
    ),
    "think block": Reply('<think>It is a dog, {"labels": []}?</think>{"labels": ["dog"]}'),
    "bare list of strings": Reply('["dog"]'),
    "bare list of objects": Reply('[{"name": "dog", "confidence": 0.7}]'),
    "capitalised key": Reply('{"Labels": [{"name": "dog"}]}'),
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("shape", list(PAYLOADS))
def test_label_payload_shapes(
    ollama_server: OllamaServer, photo: PhotoImage, shape: str, stream: bool
) -> None:
    ollama_server.respond(PAYLOADS[shape])
    with make_engine(ollama_server, stream=stream) as engine:
        assert [label.name for label in labels_of(engine, photo)] == ["Dog"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I cannot tell what this photo shows.", "no JSON object found in the answer"),
        ('{"labels": [{"name": "dog"', "no JSON object found in the answer"),
        ('{"tags": ["dog"]}', "expected a \"labels\" list, got keys ['tags']"),
        ('{"labels": "dog"}', "expected a list of labels, got str"),
        ('{"labels": [1, null, {"confidence": 0.9}]}', "none of the 3 label items has a name"),
    ],
)
def test_invalid_label_payload(
    ollama_server: OllamaServer, photo: PhotoImage, answer: str, reason: str
) -> None:
    ollama_server.respond(answer)
    with make_engine(ollama_server) as engine, pytest.raises(InvalidPayload) as info:
        labels_of(engine, photo)
    assert str(info.value) == (
        f"invalid label payload from ollama (model gemma3:latest, file {photo.path}): "
        f"{reason}"
    )
    assert len(ollama_server.generate_requests()) == 1  # a bad answer is not asked again


def test_empty_label_list_is_a_valid_answer(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    ollama_server.respond('{"labels": []}')
    with make_engine(ollama_server) as engine:
        assert labels_of(engine, photo) == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply("<think>A dog, clearly.</think>\nA dog runs on the beach."),
        Reply('{"caption": "A dog runs on the beach."}'),
    ],
)
def test_caption_shapes(ollama_server: OllamaServer, photo: PhotoImage, reply: Reply) -> None:
    ollama_server.respond(reply)
    with make_engine(ollama_server, Type="caption") as engine:
        caption = caption_of(engine, photo)
    assert caption.text == "A dog runs on the beach."
    assert caption.language is None


def test_empty_caption_is_invalid(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.respond("   ")
    with make_engine(ollama_server, Type="caption") as engine, pytest.raises(
        InvalidPayload,
        match=r"^invalid caption payload from ollama \(model gemma3:latest, file .*\): ",
    ):
        caption_of(engine, photo)


def test_reasoning_alone_is_no_caption(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.respond("<think>nothing to say</think>   ")
    with make_engine(ollama_server, Type="caption") as engine, pytest.raises(
        InvalidPayload, match=r"^ollama \(model gemma3:latest\) answered with reasoning only",
    ):
        caption_of(engine, photo)


def test_labels_engine_can_caption_with_defaults(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    with make_engine(ollama_server, Prompt="only for labels", Format="json") as engine:
        caption_of(engine, photo)
    body = sent(ollama_server)
    assert body["prompt"] == prompts.CAPTION_PROMPT
    assert "format" not in body


# --- readiness -----------------------------------------------------------------------------


def test_missing_model_is_one_clear_error(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    with make_engine(ollama_server, Model="llava:13b") as engine:
        expected = (
            f'model "llava:13b" not found on {ollama_server.url}; run "ollama pull llava:13b"'
        )
        with pytest.raises(ModelNotFound) as info:
            engine.check_ready()
        assert info.value.with_hint() == expected
        for _ in range(3):
            with pytest.raises(ModelNotFound, match="not found") as again:
                labels_of(engine, photo)
            assert again.value.hint == 'run "ollama pull llava:13b"'
            assert again.value is not info.value  # a fresh error per raise, for threads
        engine_requests = [r.path for r in ollama_server.requests]
    assert engine_requests == ["/api/show"]  # remembered: no per-file storm


def test_model_removed_during_run(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    with make_engine(ollama_server) as engine:
        labels_of(engine, photo)
        ollama_server.remove_model("gemma3")
        with pytest.raises(ModelNotFound):
            labels_of(engine, photo)
        with pytest.raises(ModelNotFound):
            labels_of(engine, photo)
    assert len(ollama_server.generate_requests()) == 2


def test_model_without_vision(ollama_server: OllamaServer) -> None:
    ollama_server.add_model("llama3", capabilities=("completion",))
    with make_engine(ollama_server, Model="llama3") as engine, pytest.raises(
        EngineError, match="cannot read images"
    ):
        engine.check_ready()


def test_ready_is_checked_once(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    with make_engine(ollama_server) as engine:
        engine.check_ready()
        labels_of(engine, photo)
        caption_of(engine, photo)
    assert [r.path for r in ollama_server.requests].count("/api/show") == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_service() -> None:
    sleep = Recorder()
    url = f"http://127.0.0.1:{_closed_port()}"
    with OllamaEngine(model_config(url), sleep=sleep, rand=lambda: 0.5) as engine:
        with pytest.raises(EngineUnavailable,
                           match=f"cannot connect to Ollama at {url} .connection refused.") as info:
            engine.check_ready()
        assert info.value.hint is not None and "Service.Uri" in info.value.hint
        assert isinstance(info.value.__cause__, httpx.ConnectError)
        # Full jitter with rand 0.5: half of 0.5 s, then half of 1 s.
        assert sleep.delays == [0.25, 0.5]
        # Not remembered: the service may come back.
        with pytest.raises(EngineUnavailable):
            engine.check_ready()


def test_unauthorized_is_remembered(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.require_key = "right"
    with make_engine(ollama_server, Service={"Key": "wrong"}) as engine:
        for _ in range(2):
            with pytest.raises(EngineError, match=r"refused access \(401\): unauthorized"):
                labels_of(engine, photo)
    assert len(ollama_server.requests) == 1


# --- faults --------------------------------------------------------------------------------


def test_5xx_retried_then_ok(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    sleep = Recorder()
    ollama_server.fail(500, times=2, error="CUDA error")
    with make_engine(ollama_server, sleep) as engine:
        assert [label.name for label in labels_of(engine, photo)] == ["Dog", "Beach"]
    assert len(ollama_server.generate_requests()) == 3
    assert sleep.delays == [0.25, 0.5]


def test_5xx_exhausted(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.fail(503, times=10, error="server busy")
    with make_engine(ollama_server) as engine, pytest.raises(
        EngineUnavailable, match=r"/api/generate failed \(503\): server busy"
    ):
        labels_of(engine, photo)
    assert len(ollama_server.generate_requests()) == 3


def test_attempts_are_configurable(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.fail(500, times=10)
    engine = OllamaEngine(
        model_config(ollama_server.url), retry=RetryPolicy(attempts=5), sleep=Recorder()
    )
    with engine, pytest.raises(EngineUnavailable):
        labels_of(engine, photo)
    assert len(ollama_server.generate_requests()) == 5


def test_429_honours_retry_after(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    sleep = Recorder()
    ollama_server.rate_limit(retry_after=1.5)
    with make_engine(ollama_server, sleep) as engine:
        labels_of(engine, photo)
    assert sleep.delays == [1.5]
    assert len(ollama_server.generate_requests()) == 2


def test_429_with_long_retry_after_fails_now(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    sleep = Recorder()
    ollama_server.rate_limit(retry_after=3600)
    with make_engine(ollama_server, sleep) as engine, pytest.raises(
        EngineUnavailable, match=r"rate limiting \(429\)"
    ):
        labels_of(engine, photo)
    assert sleep.delays == []
    assert len(ollama_server.generate_requests()) == 1


def test_400_is_not_retried(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.fail(400, error="invalid option num_ctx")
    with make_engine(ollama_server) as engine, pytest.raises(EngineError) as info:
        labels_of(engine, photo)
    assert not isinstance(info.value, EngineUnavailable | ModelNotFound)
    assert "(400): invalid option num_ctx" in str(info.value)
    assert len(ollama_server.generate_requests()) == 1


def test_hang_times_out_without_retry(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.hang()
    with make_engine(ollama_server, Service={"Timeout": "0.2s"}) as engine:
        with pytest.raises(EngineUnavailable, match=r"no answer from .* within 0.2s") as info:
            labels_of(engine, photo)
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(ollama_server.generate_requests()) == 1


def test_read_timeouts_retried_when_asked(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.hang()
    engine = OllamaEngine(
        model_config(ollama_server.url, Service={"Timeout": "0.2s"}),
        retry=RetryPolicy(retry_read_timeouts=True),
        sleep=Recorder(),
    )
    with engine:
        assert [label.name for label in labels_of(engine, photo)] == ["Dog", "Beach"]
    assert len(ollama_server.generate_requests()) == 2


@pytest.mark.parametrize("stream", [True, False])
def test_connection_reset_is_retried(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    ollama_server.reset(after_chunks=0 if not stream else 2)
    with make_engine(ollama_server, stream=stream) as engine:
        assert labels_of(engine, photo)
    assert len(ollama_server.generate_requests()) == 2


def test_error_line_mid_stream(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.stream_error(after_chunks=2, error="model runner crashed")
    with make_engine(ollama_server) as engine, pytest.raises(EngineError) as info:
        labels_of(engine, photo)
    assert "model runner crashed" in str(info.value)
    assert not isinstance(info.value, EngineUnavailable)
    assert len(ollama_server.generate_requests()) == 1


def test_garbage_body(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    ollama_server.garbage()
    with make_engine(ollama_server, stream=False) as engine, pytest.raises(
        InvalidPayload, match="invalid response body"
    ):
        labels_of(engine, photo)


def test_slow_stream_within_read_timeout(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    # Each gap (0.05 s) is well under the read timeout (1 s): streaming bounds silence, not
    # the whole answer, so a slow but working model is not cut off.
    ollama_server.slow_stream(0.05)
    with make_engine(ollama_server, Service={"Timeout": "1s"}) as engine:
        assert [label.name for label in labels_of(engine, photo)] == ["Dog", "Beach"]


def test_bad_photo_is_an_image_error(ollama_server: OllamaServer, tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not a jpeg")
    with make_engine(ollama_server) as engine, pytest.raises(ImageError):
        labels_of(engine, PhotoImage(path))
    assert ollama_server.generate_requests() == []


def test_parallel_workers_share_one_engine(tmp_path: Path) -> None:
    with OllamaServer(latency=0.02, parallel=8) as server:
        engine = OllamaEngine(model_config(server.url, Service={"Parallel": 3}))
        results: list[list[str]] = []
        errors: list[BaseException] = []

        def work(index: int) -> None:
            path = tmp_path / f"{index}.jpg"
            Image.new("RGB", (100, 80), "red").save(path)
            try:
                results.append([label.name for label in labels_of(engine, PhotoImage(path))])
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

        with engine:
            threads = [threading.Thread(target=work, args=(i,)) for i in range(9)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert results == [["Dog", "Beach"]] * 9
        # The connection pool is sized to Parallel: never more requests than that at once.
        assert 1 <= server.max_in_flight <= 3
        assert [r.path for r in server.requests].count("/api/show") == 1


@pytest.mark.parametrize("stream", [True, False])
def test_a_streamed_answer_says_when_it_began(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    """The first chunk tells the service's limiter that the server is up and the model loaded
    (served.started), while the rest of the answer is still being written; once per answer.
    A whole answer at once tells nothing before it is complete."""
    ollama_server.chunk_delay = 0.25  # the server sleeps before each of the chunks
    ollama_server.respond(Reply("A dog runs along a sandy beach at sunset."))  # 4 chunks
    with make_engine(ollama_server, stream=stream, Type="caption") as engine:
        engine.check_ready()
        caption, began, ended = caption_began(engine, photo)
    assert caption.text.startswith("A dog runs")
    if stream:
        assert len(began) == 1
        assert ended - began[0] >= 0.5  # three more chunks, 0.25 s apart, came after it
    else:
        assert began == []
