"""Answers bounded in size (a gzip bomb, measured in a separate process) and waits bounded in
length (Retry-After values that are not finite numbers)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.engines.asking import caption_of
from tests.ollama_server import OllamaServer, gzip_bomb
from tests.openai_server import OpenAIServer
from xmpvision.engines.reading import Body, Deadline, Watchdog
from xmpvision.engines.retry import parse_retry_after

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

# The client side alone, in its own process: one caption asked of a server whose answer is a
# gzip bomb; prints the error and the process's peak RSS in bytes. Its address space is capped
# so that a client without the bound fails instead of taking the machine's memory.
CLIENT = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
    from pathlib import Path
    from PIL import Image
    from xmpvision.config.builtin import resolve_model
    from xmpvision.config.models import ModelConfig, Thresholds
    from xmpvision.engines.ollama.engine import OllamaEngine
    from xmpvision.engines.openai import OpenAIEngine
    from xmpvision.errors import EngineError
    from xmpvision.prepare.images import PhotoImage

    engine_name, uri, model_name, stream, folder = sys.argv[1:6]
    path = Path(folder) / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path)
    data = {"Type": "caption", "Engine": engine_name, "Model": model_name,
            "Service": {"Uri": uri, "Timeout": "60s"}}
    model = resolve_model(ModelConfig.model_validate(data))
    kind = OllamaEngine if engine_name == "ollama" else OpenAIEngine
    error = None
    with kind(model, Thresholds(), stream=stream == "1") as engine, PhotoImage(path) as photo:
        try:
            engine.answer(photo, ("caption",))
        except EngineError as exc:
            error = str(exc)
    # The peak RSS of this program: VmHWM starts afresh at exec (getrusage's ru_maxrss would
    # carry the parent's peak over).
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"error": error, "rss": rss}))
""")


def client(engine: str, uri: str, model: str, stream: bool, folder: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, engine, uri, model, "1" if stream else "0", str(folder)],
        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_bomb_is_what_it_claims() -> None:
    import zlib

    bomb = gzip_bomb()
    assert len(bomb) < 2 * MB
    unpack = zlib.decompressobj(31)
    size, data = 0, bomb
    while data and not unpack.eof:  # a MiB at a time: the test must not hold a GiB itself
        size += len(unpack.decompress(data, MB))
        data = unpack.unconsumed_tail
    assert unpack.eof and size == 1024 * MB


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_an_ollama_gzip_bomb_costs_little_memory(tmp_path: Path, stream: bool) -> None:
    with OllamaServer(models=["gemma3:latest"]) as server:
        server.gzip_bomb()
        result = client("ollama", server.url, "gemma3", stream, tmp_path)
    assert "exceeds 16 MiB unpacked" in str(result["error"])
    assert isinstance(result["rss"], int) and result["rss"] < 100 * MB


def test_an_openai_gzip_bomb_costs_little_memory(tmp_path: Path) -> None:
    with OpenAIServer(models=["m"]) as server:
        server.shape = "gzip_bomb"
        result = client("openai", server.base_url, "m", False, tmp_path)
    assert "exceeds 16 MiB unpacked" in str(result["error"])
    assert isinstance(result["rss"], int) and result["rss"] < 100 * MB


def _body(content: bytes, encoding: str) -> Iterator[bytes]:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([content]),
                              headers={"Content-Encoding": encoding})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http, http.stream(
        "GET", "http://server/"
    ) as response:
        deadline = Deadline(30)
        with Watchdog(response, deadline) as watchdog:
            yield from Body(response, deadline, watchdog).chunks()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_bodies_are_unpacked_as_sent(encoding: str) -> None:
    import zlib

    text = b'{"response": "A dog."}' * 1000
    packed = {"gzip": gzip.compress(text), "deflate": zlib.compress(text),
              "identity": text}[encoding]
    assert b"".join(_body(packed, encoding)) == text
    # Two gzip members one after the other are one body.
    assert b"".join(_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip")) == b"abcd"


@pytest.mark.parametrize("value", ["inf", "1e309", "nan", "-inf", "Infinity"])
def test_retry_after_that_is_not_a_finite_number_is_garbage(value: str) -> None:
    assert parse_retry_after(value) is None


def test_an_infinite_retry_after_is_retried_with_backoff(tmp_path: Path) -> None:
    from tests.engines.ollama.test_engine import Recorder, make_engine
    from xmpvision.prepare.images import PhotoImage

    path = tmp_path / "p.jpg"
    from PIL import Image

    Image.new("RGB", (64, 48)).save(path)
    with OllamaServer(models=["gemma3:latest"]) as server, PhotoImage(path) as photo:
        server.fail(429, retry_after=float("inf"))
        sleep = Recorder()
        with make_engine(server, sleep, Type="caption") as engine:
            assert caption_of(engine, photo).text
    assert sleep.delays == [0.25]  # the backoff (jitter 0.5 of 0.5s), not "fail now"


def test_lines_split_across_and_within_blocks() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"one\r\ntw", b"o\n\nthr", b"ee"]))

    with httpx.Client(transport=httpx.MockTransport(answer)) as http, http.stream(
        "GET", "http://server/"
    ) as response:
        deadline = Deadline(30)
        with Watchdog(response, deadline) as watchdog:
            assert list(Body(response, deadline, watchdog).lines()) == ["one", "two", "",
                                                                         "three"]
