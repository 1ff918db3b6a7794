"""OllamaEngine against the emulator speaking as Ollama does: thinking turned on unless told
otherwise, answers cut at the token budget, the repetition cut-off, models that cannot load,
a full queue, and answers that never end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.engines.asking import caption_of, labels_of
from tests.engines.ollama.test_engine import Recorder, make_engine
from tests.ollama_server import NO_MEMORY, OllamaServer, Reply
from xmpvision.errors import (
    InvalidPayload,
    ModelCannotRun,
    ServiceDown,
    is_down,
)
from xmpvision.prepare.images import PhotoImage

T = TypeVar("T")
REASONING = "The user wants me to look at this photo."
THINKING = ("completion", "vision", "thinking")


def thinker(server: OllamaServer, name: str = "qwen3-vl:8b") -> str:
    server.add_model(name, capabilities=THINKING)
    return name


def ends(call: Callable[[], T], within: float = 30.0) -> T | BaseException:
    """What `call` returned or raised; fails the test if it is still running after `within`
    seconds (an answer that never ends must not hang the suite)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(within)
    assert outcome, f"still waiting after {within:g}s"
    result: T | BaseException = outcome[0]
    return result


# --- thinking ----------------------------------------------------------------------------------


def test_thinking_is_turned_off_unless_the_entry_sets_think(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    # A thinking model whose answer ran out while thinking: its reasoning is no caption.
    model = thinker(ollama_server)
    ollama_server.respond(Reply("", thinking=REASONING))
    with make_engine(ollama_server, Type="caption", Model=model) as engine, pytest.raises(
        InvalidPayload
    ) as info:
        caption_of(engine, photo)
    assert REASONING not in str(info.value)
    assert [r.body["think"] for r in ollama_server.generate_requests()] == [False]


@pytest.mark.parametrize("stream", [True, False])
def test_reasoning_cut_by_the_budget_is_never_the_answer(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    model = thinker(ollama_server)
    ollama_server.respond(Reply("", thinking=REASONING, end="length"))
    with make_engine(ollama_server, stream=stream, Type="caption", Model=model,
                     Service={"Think": True}) as engine, pytest.raises(InvalidPayload) as info:
        caption_of(engine, photo)
    assert str(info.value).startswith(
        "the answer from ollama (model qwen3-vl:8b) was cut off at ")
    assert "while still reasoning; raise Options.NumPredict" in str(info.value)
    assert ollama_server.generate_requests()[0].body["think"] is True


def test_think_max_is_sent_as_ollama_takes_it(ollama_server: OllamaServer,
                                              photo: PhotoImage) -> None:
    model = thinker(ollama_server)
    with make_engine(ollama_server, Type="caption", Model=model,
                     Service={"Think": "max"}) as engine:
        assert caption_of(engine, photo).text
    assert ollama_server.generate_requests()[0].body["think"] == "max"


def test_think_on_a_model_that_cannot_think_is_known_at_readiness(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    with make_engine(ollama_server, Type="caption", Service={"Think": True}) as engine:
        with pytest.raises(ModelCannotRun, match="cannot think") as info:
            engine.check_ready()
        assert info.value.hint == "set Service.Think: false"
        with pytest.raises(ModelCannotRun):
            caption_of(engine, photo)
    assert ollama_server.generate_requests() == []
    assert len([r for r in ollama_server.requests if r.path == "/api/show"]) == 1


# --- cut and degenerate answers ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("kind", ["caption", "labels"])
def test_an_answer_cut_at_num_predict_is_not_written(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool, kind: str
) -> None:
    cut = "A brown dog runs along a sandy." if kind == "caption" else '{"labels": ["dog"]}'
    ollama_server.respond(Reply(cut, end="length"))
    with make_engine(ollama_server, stream=stream, Type=kind,
                     Options={"NumPredict": 8}) as engine, pytest.raises(InvalidPayload) as info:
        caption_of(engine, photo) if kind == "caption" else labels_of(engine, photo)
    assert "was cut off at " in str(info.value)
    assert str(info.value).endswith("raise Options.NumPredict")
    assert len(ollama_server.generate_requests()) == 1  # a bad answer: not asked again


@pytest.mark.parametrize("stream", [True, False])
def test_the_repetition_cut_off_is_one_bad_answer(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    sleep = Recorder()
    ollama_server.respond(Reply("dog " * 40, end="repeat"))
    with make_engine(ollama_server, sleep, stream=stream, Type="caption") as engine:
        with pytest.raises(InvalidPayload, match="repeating itself") as info:
            caption_of(engine, photo)
        assert not is_down(info.value)
        ollama_server.respond(Reply("A dog on a beach."))
        assert caption_of(engine, photo).text == "A dog on a beach."  # the next photo is asked
    assert len(ollama_server.generate_requests()) == 2 and sleep.delays == []


# --- what is whose fault -----------------------------------------------------------------------


def test_a_model_that_cannot_load_is_remembered_and_spares_the_others(
    ollama_server: OllamaServer, photo: PhotoImage
) -> None:
    ollama_server.add_model("qwen2.5vl:72b", load_error=NO_MEMORY)
    sleep = Recorder()
    with make_engine(ollama_server, sleep, Type="caption", Model="qwen2.5vl:72b") as big:
        with pytest.raises(ModelCannotRun, match="requires more system memory") as info:
            caption_of(big, photo)
        assert not is_down(info.value)
        with pytest.raises(ModelCannotRun):
            caption_of(big, photo)  # remembered: not asked again
    assert len(ollama_server.generate_requests()) == 1 and sleep.delays == []
    with make_engine(ollama_server, Type="caption") as small:
        assert caption_of(small, photo).text


# --- bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_that_trickles_ends_at_the_deadline(
    ollama_server: OllamaServer, photo: PhotoImage, stream: bool
) -> None:
    # Every byte comes well within the read timeout; only the deadline ends the answer.
    ollama_server.trickle(delay=0.1)
    with make_engine(ollama_server, stream=stream, Type="caption",
                     Service={"Timeout": "1s", "Deadline": "1s"}) as engine:
        error = ends(lambda: caption_of(engine, photo))
    assert isinstance(error, ServiceDown), error
    assert "no complete answer from" in str(error) and "within 1s" in str(error)
    assert is_down(error) and len(ollama_server.generate_requests()) == 1


def test_the_deadline_defaults_to_a_few_read_timeouts(ollama_server: OllamaServer,
                                                      photo: PhotoImage) -> None:
    ollama_server.trickle(delay=0.05)
    with make_engine(ollama_server, Type="caption", Service={"Timeout": "0.4s"}) as engine:
        assert engine.http.deadline == pytest.approx(1.2)
        error = ends(lambda: caption_of(engine, photo))
    assert isinstance(error, ServiceDown) and "within 1.2s" in str(error)


def test_the_health_probe_asks_with_thinking_off(ollama_server: OllamaServer) -> None:
    from xmpvision.config.models import ServiceConfig
    from xmpvision.health.probe import Probe, Service

    model = thinker(ollama_server)
    ollama_server.respond(Reply("ok", thinking=REASONING * 20))
    service = Service(ollama_server.url, ollama_server.url, ServiceConfig(), (model,))
    probe = Probe(service)
    try:
        probe.generate(model)
    finally:
        probe.close()
    (request,) = ollama_server.generate_requests()
    assert request.body["think"] is False
