"""The engine's hooks for the health monitor: every answer's timings go to an observer, and
requests wait at a pause gate while the service restarts; a request that fails because of the
restart is tried again without spending a retry."""

from __future__ import annotations

import threading

import pytest

from tests.engines.asking import caption_of
from tests.engines.ollama.test_engine import Recorder, make_engine
from tests.ollama_server import OllamaServer, RecordedRequest
from xmpvision.engines.ollama.timing import Timing
from xmpvision.engines.pause import PauseGate
from xmpvision.errors import EngineUnavailable
from xmpvision.prepare.images import PhotoImage


@pytest.mark.parametrize("stream", [True, False])
def test_observer_gets_ollamas_timing_fields(ollama_server: OllamaServer, photo: PhotoImage,
                                             stream: bool) -> None:
    engine = make_engine(ollama_server, Type="caption", stream=stream)
    seen: list[Timing] = []
    engine.observer = seen.append
    caption_of(engine, photo)
    ollama_server.slowdown = 4.0
    caption_of(engine, photo)
    first, second = seen
    assert first.service == ollama_server.url and first.model == "gemma3:latest"
    assert first.eval_duration == pytest.approx(1.0) and first.eval_count
    assert first.prompt_eval_count == 300 and first.prompt_eval_duration == pytest.approx(0.4)
    metric, speed = first.speed()
    assert metric == "eval" and speed == pytest.approx(first.eval_count)
    # The emulator's slowdown shows in the speed, whatever the wall time.
    assert second.speed()[1] == pytest.approx(first.speed()[1] / 4)
    engine.close()


def test_without_timings_the_wall_time_is_the_speed() -> None:
    timing = Timing("u", "m", 0.0, 0.5)
    assert timing.speed() == ("wall", 2.0)
    assert Timing("u", "m", 0.0, 0.5, prompt_eval_count=100,
                  prompt_eval_duration=0.5).speed() == ("prompt", 200.0)


def test_requests_wait_at_a_closed_gate(ollama_server: OllamaServer, photo: PhotoImage) -> None:
    engine = make_engine(ollama_server, Type="caption")
    engine.check_ready()
    gate = PauseGate()
    engine.http.gate = gate
    gate.close()
    done = threading.Event()
    def ask() -> None:
        caption_of(engine, photo)
        done.set()

    worker = threading.Thread(target=ask)
    worker.start()
    assert not done.wait(0.5)
    assert ollama_server.generate_requests() == []
    gate.open()
    assert done.wait(10)
    worker.join()
    engine.close()


def test_a_failure_during_a_restart_is_retried_without_counting(
        ollama_server: OllamaServer, photo: PhotoImage) -> None:
    sleeps = Recorder()
    engine = make_engine(ollama_server, sleeps, Type="caption")
    engine.check_ready()
    gate = PauseGate()
    engine.http.gate = gate
    # Three resets: more than the retry policy's 3 attempts allow, were they counted. Each
    # one happens while a restart runs (the server closes the gate as it fails).
    ollama_server.reset(after_chunks=0, times=3)
    def restarting(request: RecordedRequest) -> str:
        gate.close()
        threading.Timer(0.1, gate.open).start()
        return "A dog."

    ollama_server.respond(restarting)
    caption = caption_of(engine, photo)
    assert caption.text == "A dog."
    assert sleeps.delays == []  # no backoff: each was tried again once the gate opened
    assert gate.generation == 4
    engine.close()


def test_gate_generations() -> None:
    gate = PauseGate()
    generation = gate.wait()
    assert not gate.disturbed(generation)
    gate.close()
    assert gate.disturbed(generation) and not gate.is_open
    gate.open()
    assert gate.disturbed(generation) and not gate.disturbed(gate.wait())


def test_without_a_restart_failures_spend_the_retries(
        ollama_server: OllamaServer, photo: PhotoImage) -> None:
    engine = make_engine(ollama_server, Type="caption")
    engine.check_ready()
    engine.http.gate = PauseGate()
    ollama_server.reset(after_chunks=0, times=3)
    with pytest.raises(EngineUnavailable):
        caption_of(engine, photo)
    engine.close()
