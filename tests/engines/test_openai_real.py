"""The OpenAI-compatible engine against the emulator speaking as real servers do: cut and
reasoning-only answers, GPT-5's refused parameters, servers without json_schema, every stream
shape of the reference servers, and answers that never end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engines.asking import caption_of, labels_of
from tests.engines.ollama.test_real_answers import ends
from tests.engines.test_openai import Sleeps, engine
from tests.openai_server import Completion, OpenAIServer
from xmpvision.errors import EngineError, InvalidPayload, ModelCannotRun, ServiceDown, is_down
from xmpvision.prepare.images import PhotoImage

REASONING = "The user wants me to look at this photo."
STREAMS = pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])


def sent(server: OpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.completion_requests()]


# --- cut and reasoning-only answers ------------------------------------------------------------


@STREAMS
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_is_never_the_answer(server: OpenAIServer, photo: PhotoImage,
                                       stream: bool, field: str) -> None:
    server.reasoning_field = field
    server.respond(Completion("", reasoning=REASONING, finish="length"))
    with engine(server, stream=stream, Type="caption") as e, pytest.raises(InvalidPayload) as info:
        caption_of(e, photo)
    assert "cut off at " in str(info.value) and "while still reasoning" in str(info.value)
    server.respond(Completion("", reasoning=REASONING))
    with engine(server, stream=stream, Type="caption") as e, pytest.raises(
            InvalidPayload, match="answered with reasoning only"):
        caption_of(e, photo)


@STREAMS
def test_an_answer_cut_at_max_tokens_is_not_written(server: OpenAIServer,
                                                    photo: PhotoImage,
                                                    stream: bool) -> None:
    server.respond(Completion("A brown dog runs along a sandy.", finish="length"))
    with engine(server, stream=stream, Type="caption") as e, pytest.raises(InvalidPayload) as info:
        caption_of(e, photo)
    assert str(info.value).endswith("raise Options.MaxOutputTokens")
    assert len(server.completion_requests()) == 1


# --- parameters a server refuses ---------------------------------------------------------------


def test_gpt5_refusals_cost_one_request_once_per_endpoint(
    server: OpenAIServer, photo: PhotoImage
) -> None:
    server.gpt5_rules = True
    with engine(server, Options={"MaxOutputTokens": 300}) as labels:
        for _ in range(3):
            assert labels_of(labels, photo)
    # Another entry of the same model on the same endpoint knows it already.
    with engine(server, Type="caption", Options={"MaxOutputTokens": 300}) as caption:
        assert caption_of(caption, photo).text
    bodies = sent(server)
    assert len(bodies) == 1 + 4  # one refusal stands for both parameters
    assert {"temperature", "max_tokens"} & bodies[-1].keys() == set()
    assert bodies[-1]["max_completion_tokens"] == 300


def test_refusals_are_forgotten_with_a_jobs_failures(server: OpenAIServer,
                                                     photo: PhotoImage) -> None:
    server.gpt5_rules = True
    with engine(server) as e:
        assert labels_of(e, photo)
        e.forget_failures()  # the daemon's next job
        assert labels_of(e, photo)
    assert len(server.completion_requests()) == 4  # one refusal per job


@pytest.mark.parametrize(("refusal", "status"), [("llama.cpp", 500), ("lmstudio", 400)])
def test_a_format_refused_in_words_falls_back_to_the_prompt(
    server: OpenAIServer, photo: PhotoImage, refusal: str, status: int
) -> None:
    server.format_refusal = refusal  # type: ignore[assignment]
    sleeps = Sleeps()
    fmt = "json" if refusal == "lmstudio" else None
    with engine(server, sleep=sleeps, Format=fmt) as e:
        assert [x.name for x in labels_of(e, photo)] == ["Dog", "Beach"]
        assert [x.name for x in labels_of(e, photo)] == ["Dog", "Beach"]
    assert ["response_format" in b for b in sent(server)] == [True, False, False]
    assert sleeps == []  # a refusal is not a server error to retry


def test_prompt_only_is_remembered_per_server(server: OpenAIServer,
                                              photo: PhotoImage) -> None:
    server.format_refusal = "llama.cpp"
    with engine(server) as first:
        assert labels_of(first, photo)
    with engine(server, Model="other") as second:
        assert labels_of(second, photo)
    assert ["response_format" in b for b in sent(server)] == [True, False, False]


# --- stream shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["sse", "no_done", "plain_json", "multiline"])
def test_every_complete_stream_shape_is_an_answer(server: OpenAIServer,
                                                  photo: PhotoImage, shape: str) -> None:
    server.shape = shape  # type: ignore[assignment]
    sleeps = Sleeps()
    with engine(server, sleep=sleeps, Type="caption") as e:
        assert caption_of(e, photo).text == "A brown dog runs along a sandy beach at sunset."
    assert len(server.completion_requests()) == 1 and sleeps == []


@STREAMS
@pytest.mark.parametrize("shape", ["sse_error", "data_error", "error_body"])
def test_errors_in_a_200_carry_the_servers_message(server: OpenAIServer,
                                                   photo: PhotoImage, shape: str,
                                                   stream: bool) -> None:
    if stream is False and shape != "error_body":
        pytest.skip("an event exists only in a stream")
    server.shape = shape  # type: ignore[assignment]
    server.error_message = "the model crashed"
    with engine(server, stream=stream, Type="caption") as e, pytest.raises(EngineError) as info:
        caption_of(e, photo)
    assert str(info.value).endswith("the model crashed")
    assert not is_down(info.value) and len(server.completion_requests()) == 1


def test_out_of_memory_in_a_200_is_the_models_fault(server: OpenAIServer,
                                                    photo: PhotoImage) -> None:
    server.shape = "error_body"  # "CUDA error: out of memory"
    with engine(server, Type="caption") as e:
        with pytest.raises(ModelCannotRun, match="CUDA error: out of memory"):
            caption_of(e, photo)
        with pytest.raises(ModelCannotRun):
            caption_of(e, photo)
    assert len(server.completion_requests()) == 1


# --- bounds ------------------------------------------------------------------------------------


@STREAMS
@pytest.mark.parametrize("shape", ["pings", "trickle"])
def test_pings_and_trickles_end_at_the_deadline(server: OpenAIServer,
                                                photo: PhotoImage, shape: str,
                                                stream: bool) -> None:
    server.shape = shape  # type: ignore[assignment]
    server.trickle_delay = 0.1
    with engine(server, stream=stream, Type="caption",
                Service={"Timeout": "1s", "Deadline": "1s"}) as e:
        error = ends(lambda: caption_of(e, photo))
    assert isinstance(error, ServiceDown), error
    assert "within 1s" in str(error) and is_down(error)
