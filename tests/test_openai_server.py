"""The OpenAI-compatible emulator times a streamed completion as the servers send it."""

from __future__ import annotations

import json
import time

import httpx

from tests.openai_server import OpenAIServer
from tests.test_ollama_server import LONG, Timed, one_behind_another


def _timed_stream(server: OpenAIServer, start: float) -> Timed:
    """Each `data:` event (but [DONE]) with the seconds since `start` when it arrived."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Describe."}]}
    events: Timed = []
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body,
                      timeout=30) as response:
        headers_at = time.monotonic() - start
        for line in response.iter_lines():
            if line.startswith("data: {"):
                events.append((time.monotonic() - start, json.loads(line[6:])))
    assert events[0][0] - headers_at < 0.2, "the headers come with the first event"
    return events


def test_a_stream_starts_after_the_prefill_and_spreads_over_the_latency() -> None:
    latency = 1.0
    with OpenAIServer(["m"], latency=latency) as server:
        server.respond(LONG)
        events = _timed_stream(server, time.monotonic())
        start = time.monotonic()
        whole = httpx.post(f"{server.base_url}/chat/completions", timeout=30, json={
            "model": "m", "messages": [{"role": "user", "content": "Describe."}]}).json()
        assert time.monotonic() - start >= latency  # not streamed: whole at the end
    assert whole["choices"][0]["message"]["content"] == LONG
    deltas = [event["choices"][0]["delta"] for _, event in events]
    assert deltas[0] == {"role": "assistant"}
    assert "".join(delta.get("content", "") for delta in deltas) == LONG
    # the role and first piece after the prefill share, well before the end
    assert 0.25 * latency <= events[0][0] < 0.7 * latency
    # then a piece per decoding step until the latency is spent
    assert events[-2][0] >= 0.9 * latency and events[-1][0] >= latency
    assert events[-1][1]["choices"][0]["finish_reason"] == "stop"


def test_a_queued_stream_gets_nothing_until_a_slot_frees() -> None:
    latency = 1.0
    with OpenAIServer(["m"], latency=latency, parallel=1) as server:
        server.respond(LONG)
        first, second = one_behind_another(lambda start: _timed_stream(server, start))
    done = first[-1][0]
    # the second's headers and first event come once the first's slot is free and its own
    # prefill is done, long before its own end
    assert done + 0.2 * latency <= second[0][0] < done + 0.7 * latency
    assert second[-1][0] >= 2 * latency and server.max_in_flight == 1
