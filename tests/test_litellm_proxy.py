"""End to end through a real OpenAI-compatible proxy: LiteLLM's, forwarding to the Ollama
emulator. 20 photos scanned with the openai engine (labels with a json_schema response_format,
captions, streamed), their sidecars read back by exiftool. The first caption model thinks and
runs out of tokens while thinking: what LiteLLM passes on of that is never written.

The proxy runs from its own virtual environment (tests/litellm_proxy.py), created on first use.
Where it cannot be installed (no package index) the test is skipped, unless
XMPVISION_REQUIRE_LITELLM=1 (CI) makes that a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.library_builder import (
    as_list,
    exiftool_json,
    parse_ndjson,
    sidecar_of,
    write_photos,
)
from tests.litellm_proxy import MASTER_KEY, LiteLLMProxy, ensure_venv
from tests.ollama_server import (
    DEFAULT_CAPTION,
    DEFAULT_LABELS,
    OllamaServer,
    RecordedRequest,
    Reply,
)
from xmpvision.cli import app

runner = CliRunner()
PHOTOS = 20
REASONING = "The user wants me to look at this photo."


def answer(request: RecordedRequest) -> Reply:
    if request.body["model"].startswith("qwen3-vl"):
        return Reply("", thinking=REASONING, end="length")
    return Reply(DEFAULT_CAPTION) if request.kind == "caption" else Reply(DEFAULT_LABELS)


@pytest.fixture(scope="module")
def litellm() -> Path:
    try:
        return ensure_venv()
    except (subprocess.CalledProcessError, OSError) as exc:
        if os.environ.get("XMPVISION_REQUIRE_LITELLM") == "1":
            raise
        pytest.skip(f"LiteLLM's proxy cannot be installed here: {exc}")


@pytest.mark.skipif(shutil.which("exiftool") is None and not os.environ.get(
    "XMPVISION_REQUIRE_READERS"), reason="exiftool is not installed")
def test_twenty_photos_through_a_litellm_proxy(tmp_path: Path, litellm: Path) -> None:
    photos = write_photos(tmp_path / "photos", PHOTOS, per_folder=10)
    with OllamaServer(models=["gemma3:latest"], parallel=4) as ollama, LiteLLMProxy(
            litellm, ollama.url, ["gemma3", "qwen3-vl"], tmp_path) as proxy:
        ollama.add_model("qwen3-vl", capabilities=("completion", "vision", "thinking"))
        ollama.respond(answer)
        service = f'{{Uri: "{proxy.base_url}", Key: "{MASTER_KEY}", Parallel: 4, Timeout: 30s}}'
        config = tmp_path / "vision.yml"
        # Captions: qwen3-vl is asked first (the bottom entry), gemma3 is its fallback.
        config.write_text("Models:\n" + "".join(
            f"  - Type: {kind}\n    Engine: openai\n    Model: {model}\n    Service: {service}\n"
            for kind, model in (("labels", "gemma3"), ("caption", "gemma3"),
                                ("caption", "qwen3-vl"))))
        result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--state",
                                     str(tmp_path / "state.db"), "--config", str(config)])
        forwarded = ollama.generate_requests()
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert out.summary["done"] == PHOTOS and out.summary["failed"] == 0, out.summary
    # LiteLLM turned each chat completion into an Ollama /api/chat with the photo; the labels
    # request's json_schema became Ollama's `format`.
    assert len(forwarded) == 3 * PHOTOS  # the thinker once per photo: a bad answer, no retry
    assert {r.path for r in forwarded} == {"/api/chat"}
    assert {r["models"]["caption"] for r in out.records} == {"openai:gemma3"}
    assert all(r.images and r.images[0].format == "JPEG" for r in forwarded)
    assert sum(1 for r in forwarded if r.body.get("format")) == PHOTOS
    for record in exiftool_json([sidecar_of(p) for p in photos]):
        assert record["Description"] == DEFAULT_CAPTION
        assert {"Dog", "Beach"} <= set(as_list(record["Subject"]))
