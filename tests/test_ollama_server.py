"""The Ollama emulator speaks the API the way Ollama does (shapes, streams, errors, faults)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.ollama_server import GpuCost, OllamaServer, Reply


def _image_b64(size: tuple[int, int] = (64, 32)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def _generate(server: OllamaServer, **body: Any) -> httpx.Response:
    payload = {"model": "gemma3", "prompt": "Describe.", "stream": False, **body}
    return httpx.post(f"{server.url}/api/generate", json=payload, timeout=5)


def test_version_tags_show(ollama_server: OllamaServer) -> None:
    assert httpx.get(f"{ollama_server.url}/api/version").json() == {"version": "0.12.6"}
    tags = httpx.get(f"{ollama_server.url}/api/tags").json()
    assert [m["name"] for m in tags["models"]] == ["gemma3:latest"]
    assert {"size", "digest", "details", "modified_at"} <= tags["models"][0].keys()
    show = httpx.post(f"{ollama_server.url}/api/show", json={"model": "gemma3"}).json()
    assert "vision" in show["capabilities"]
    missing = httpx.post(f"{ollama_server.url}/api/show", json={"model": "llava"})
    assert missing.status_code == 404
    assert missing.json() == {"error": "model 'llava' not found"}


def test_non_stream_generate_shape(ollama_server: OllamaServer) -> None:
    response = _generate(ollama_server, images=[_image_b64()])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["response"] == "A brown dog runs along a sandy beach at sunset."
    assert body["done"] is True and body["done_reason"] == "stop"
    assert {"total_duration", "eval_count", "prompt_eval_count", "load_duration"} <= body.keys()
    recorded = ollama_server.generate_requests()[0]
    assert recorded.images[0].width == 64 and recorded.images[0].format == "JPEG"
    assert recorded.kind == "caption"


def test_stream_is_ndjson_chunks_then_done(ollama_server: OllamaServer) -> None:
    ollama_server.add_model("gemma3", capabilities=("completion", "vision", "thinking"))
    ollama_server.respond(Reply("Hello world, this is long.", thinking="hmm"))
    with httpx.stream(
        "POST", f"{ollama_server.url}/api/generate", json={"model": "gemma3", "prompt": "x"}
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert all(line["done"] is False for line in lines[:-1])
    assert lines[-1]["done"] is True and "eval_count" in lines[-1]
    assert "".join(line.get("thinking", "") for line in lines) == "hmm"
    assert "".join(line["response"] for line in lines) == "Hello world, this is long."


def test_chat_endpoint(ollama_server: OllamaServer) -> None:
    response = httpx.post(
        f"{ollama_server.url}/api/chat",
        json={
            "model": "gemma3",
            "stream": False,
            "messages": [{"role": "user", "content": "hi", "images": [_image_b64((10, 20))]}],
        },
    )
    body = response.json()
    assert body["message"]["role"] == "assistant" and body["message"]["content"]
    assert ollama_server.generate_requests()[0].images[0].height == 20


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"prompt": "x", "stream": False}, 400, "model is required"),
        ({"model": "llava", "prompt": "x"}, 404, "model 'llava' not found"),
        ({"model": "gemma3", "images": ["***"], "stream": False}, 400, "illegal base64 data"),
    ],
)
def test_request_errors(
    ollama_server: OllamaServer, body: dict[str, Any], status: int, error: str
) -> None:
    response = httpx.post(f"{ollama_server.url}/api/generate", json=body)
    assert response.status_code == status
    assert error in response.json()["error"]


def test_labels_and_caption_responders(ollama_server: OllamaServer) -> None:
    ollama_server.respond('{"labels": []}', kind="labels")
    ollama_server.respond("A cat.", kind="caption")
    assert _generate(ollama_server, format="json").json()["response"] == '{"labels": []}'
    assert _generate(ollama_server).json()["response"] == "A cat."
    ollama_server.respond(lambda request: f"saw {request.body['prompt']}", model="gemma3")
    assert _generate(ollama_server, prompt="it").json()["response"] == "saw it"


def test_fail_n_times_then_ok(ollama_server: OllamaServer) -> None:
    ollama_server.fail(500, times=2, error="boom")
    statuses = [_generate(ollama_server).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_rate_limit_sends_retry_after(ollama_server: OllamaServer) -> None:
    ollama_server.rate_limit(retry_after=2)
    response = _generate(ollama_server)
    assert response.status_code == 429 and response.headers["retry-after"] == "2"


def test_garbage_body(ollama_server: OllamaServer) -> None:
    ollama_server.garbage()
    with pytest.raises(json.JSONDecodeError):
        _generate(ollama_server).json()


def test_hang_until_client_times_out(ollama_server: OllamaServer) -> None:
    ollama_server.hang()
    with pytest.raises(httpx.ReadTimeout):
        _generate_timeout(ollama_server, 0.2)
    assert _generate(ollama_server).status_code == 200  # the fault was used up


def _generate_timeout(server: OllamaServer, seconds: float) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/generate",
        json={"model": "gemma3", "prompt": "x", "stream": False},
        timeout=seconds,
    )


def test_reset_mid_stream(ollama_server: OllamaServer) -> None:
    ollama_server.reset(after_chunks=1)
    with pytest.raises(httpx.TransportError), httpx.stream(
        "POST", f"{ollama_server.url}/api/generate", json={"model": "gemma3", "prompt": "x"}
    ) as response:
        list(response.iter_lines())


def test_error_line_mid_stream(ollama_server: OllamaServer) -> None:
    ollama_server.stream_error(after_chunks=2, error="model crashed")
    with httpx.stream(
        "POST", f"{ollama_server.url}/api/generate", json={"model": "gemma3", "prompt": "x"}
    ) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert len(lines) == 3 and lines[-1] == {"error": "model crashed"}


def test_ps_and_gpu_loss(ollama_server: OllamaServer) -> None:
    assert httpx.get(f"{ollama_server.url}/api/ps").json() == {"models": []}
    _generate(ollama_server)
    running = httpx.get(f"{ollama_server.url}/api/ps").json()["models"]
    assert running[0]["size_vram"] == running[0]["size"] > 0
    ollama_server.lose_gpu()
    running = httpx.get(f"{ollama_server.url}/api/ps").json()["models"]
    assert running[0]["size_vram"] == 0 and running[0]["size"] > 0


def test_parallel_capacity_queues_requests() -> None:
    with OllamaServer(latency=0.05, parallel=2) as server:
        threads = [threading.Thread(target=_generate, args=(server,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(server.generate_requests()) == 6
        assert server.max_in_flight == 2
        assert server.ideal_throughput() == pytest.approx(40.0)


def test_require_key(ollama_server: OllamaServer) -> None:
    ollama_server.require_key = "s3cret"
    assert _generate(ollama_server).status_code == 401
    ok = httpx.post(
        f"{ollama_server.url}/api/generate",
        json={"model": "gemma3", "prompt": "x", "stream": False},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert ok.status_code == 200


# --- as Ollama answers (server/routes.go, api/types.go, llm/llama_server.go) -------------------


def _ask(server: OllamaServer, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/api/generate",
                      json={"model": "gemma3", "prompt": "x", "stream": False, **body})


def test_thinking_is_on_unless_the_request_says_false(ollama_server: OllamaServer) -> None:
    ollama_server.add_model("qwen3-vl", capabilities=("completion", "vision", "thinking"))
    ollama_server.respond(Reply("A dog.", thinking="The user wants"))
    assert _ask(ollama_server, model="qwen3-vl").json()["thinking"] == "The user wants"
    assert "thinking" not in _ask(ollama_server, model="qwen3-vl", think=False).json()
    assert "thinking" not in _ask(ollama_server).json()  # gemma3 cannot think


@pytest.mark.parametrize(("body", "error"), [
    ({"think": True}, '"gemma3" does not support thinking'),
    ({"think": "max"}, '"gemma3" does not support thinking'),
    ({"think": "extreme"}, 'invalid think value: "extreme"'),
    ({"keep_alive": "300"}, 'time: missing unit in duration "300"'),
])
def test_requests_ollama_refuses(ollama_server: OllamaServer, body: dict[str, Any],
                                 error: str) -> None:
    response = _ask(ollama_server, **body)
    assert response.status_code == 400 and response.json()["error"].startswith(error)


def test_keep_alive_forms_ollama_takes(ollama_server: OllamaServer) -> None:
    for value in (300, "5m", "300s", "0", "-1m", "1h30m"):
        assert _ask(ollama_server, keep_alive=value).status_code == 200


def test_cut_and_repeating_answers(ollama_server: OllamaServer) -> None:
    ollama_server.respond(Reply("A brown dog runs along a sandy", end="length"))
    assert _ask(ollama_server).json()["done_reason"] == "length"
    ollama_server.respond(Reply("dog dog dog", end="repeat"))
    whole = _ask(ollama_server).json()
    assert whole["done"] is False and "done_reason" not in whole
    with httpx.stream("POST", f"{ollama_server.url}/api/generate",
                      json={"model": "gemma3", "prompt": "x"}) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert response.status_code == 200 and lines and not any(line["done"] for line in lines)


def test_a_model_that_cannot_load_and_one_that_can(ollama_server: OllamaServer) -> None:
    from tests.ollama_server import NO_MEMORY
    ollama_server.add_model("qwen2.5vl:72b", load_error=NO_MEMORY)
    refused = _ask(ollama_server, model="qwen2.5vl:72b")
    assert refused.status_code == 500 and refused.json() == {"error": NO_MEMORY}
    assert _ask(ollama_server).status_code == 200


def test_model_names_match_case_insensitively(ollama_server: OllamaServer) -> None:
    assert _ask(ollama_server, model="Gemma3:LATEST").status_code == 200


Timed = list[tuple[float, dict[str, Any]]]


def _timed_stream(server: OllamaServer, start: float, **body: Any) -> Timed:
    """Each streamed line with the seconds since `start` when it arrived; the first line's
    time is also when the headers came (they come with it)."""
    payload = {"model": "gemma3", "prompt": "Describe.", **body}
    lines: Timed = []
    with httpx.stream("POST", f"{server.url}/api/generate", json=payload,
                      timeout=30) as response:
        headers_at = time.monotonic() - start
        for line in response.iter_lines():
            if line:
                lines.append((time.monotonic() - start, json.loads(line)))
    assert lines[0][0] - headers_at < 0.2, "the headers come with the first chunk"
    return lines


LONG = "A brown dog runs along a sandy beach at sunset, chasing gulls by the water."


def test_a_stream_starts_after_the_prefill_and_spreads_over_the_latency() -> None:
    latency = 1.0
    with OllamaServer(latency=latency) as server:
        server.respond(LONG)
        lines = _timed_stream(server, time.monotonic())
        start = time.monotonic()
        whole = _generate(server).json()  # not streamed: the whole answer at the end
        assert time.monotonic() - start >= latency and whole["response"] == LONG
    chunks, final = lines[:-1], lines[-1]
    assert len(chunks) >= 5
    # the first chunk after the prefill share (0.3 of the latency), well before the end
    assert 0.25 * latency <= chunks[0][0] < 0.7 * latency
    # then one chunk per decoding step until the latency is spent
    assert chunks[len(chunks) // 2][0] > chunks[0][0]
    assert chunks[-1][0] >= 0.9 * latency
    assert final[0] >= latency and final[1]["done"] is True
    # the durations it reports are the slot's split, as before
    assert final[1]["prompt_eval_duration"] == round(0.3 * latency * 1e9)
    assert final[1]["eval_duration"] == round(0.7 * latency * 1e9)
    assert "".join(chunk["response"] for _, chunk in chunks) == LONG


def test_a_stream_with_a_gpu_cost_starts_after_the_prompt_is_evaluated() -> None:
    # one image of 600 tokens: 0.3 s of prefill; 19 answer tokens: 1.9 s of decoding
    cost = GpuCost(image_tokens=600, prefill=0.0005, decode=0.1)
    with OllamaServer(cost=cost) as server:
        server.respond(LONG)
        lines = _timed_stream(server, time.monotonic(), images=[_image_b64()])
    prefill_ns, eval_ns = lines[-1][1]["prompt_eval_duration"], lines[-1][1]["eval_duration"]
    prefill, decode = prefill_ns / 1e9, eval_ns / 1e9
    assert prefill >= 0.3 and decode >= 1.8
    assert prefill <= lines[0][0] < prefill + 0.5 * decode
    assert lines[-2][0] >= prefill + 0.9 * decode and lines[-1][0] >= prefill + decode


def one_behind_another(stream: Callable[[float], Timed]) -> tuple[Timed, Timed]:
    """Two streams on a server with one slot, the second sent while the first holds it; each
    line timed from the first's start."""
    start = time.monotonic()
    first: list[Timed] = []
    thread = threading.Thread(target=lambda: first.append(stream(start)))
    thread.start()
    time.sleep(0.1)  # the first request holds the slot
    second = stream(start)
    thread.join()
    return first[0], second


def test_a_queued_stream_gets_nothing_until_a_slot_frees() -> None:
    latency = 1.0
    with OllamaServer(latency=latency, parallel=1) as server:
        server.respond(LONG)
        first, second = one_behind_another(lambda start: _timed_stream(server, start))
    done = first[-1][0]
    # the second request's headers and first chunk come once the first one's slot is free
    # (its final chunk written) and its own prefill is done, long before its own end
    assert done + 0.2 * latency <= second[0][0] < done + 0.7 * latency
    assert second[-1][0] >= 2 * latency
    assert server.max_in_flight == 1
