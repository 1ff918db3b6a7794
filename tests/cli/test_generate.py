"""One request per photo (`Type: generate`), titles, and prompts that know the photo."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner

from tests.library_builder import as_list, exiftool_json, parse_ndjson, sidecar_of, write
from tests.ollama_server import DEFAULT_CAPTION, OllamaServer
from xmpvision.cli import app

runner = CliRunner()

COMBINED = json.dumps({
    "caption": "A brown dog runs along a sandy beach at sunset.",
    "title": "Dog on the Beach.",
    "labels": [{"name": "dog", "confidence": 0.95, "topicality": 0.9},
               {"name": "beach", "confidence": 0.8, "topicality": 0.6}],
})


def photo_with_gps(path: Path) -> Path:
    """A JPEG taken in Nice on Bastille Day, as a camera with GPS writes it."""
    exif = Image.Exif()
    exif[0x0132] = "2024:07:14 21:30:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (43.0, 41.0, 45.0), "E", (7.0, 15.0, 50.0)
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(buffer, "JPEG", exif=exif)
    return write(path, buffer.getvalue())


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "vision.yml"
    service = f'Service: {{Uri: "{url}", Timeout: 20s}}'
    path.write_text(
        "Models:\n"
        f"  - Type: labels\n    Model: gemma3\n    {service}\n"
        f"  - Type: caption\n    Model: gemma3\n    {service}\n"
        f"  - Type: title\n    Model: gemma3\n    Run: auto\n    {service}\n"
        + extra.replace("SERVICE", service)
    )
    return path


def scan(tmp_path: Path, root: Path, cfg: Path) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["scan", str(root), "--json", "--state",
                                 str(tmp_path / "state.db"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    return parse_ndjson(result.stdout).records


def test_generate_answers_every_type_in_one_request(tmp_path: Path,
                                                    ollama_server: OllamaServer) -> None:
    ollama_server.respond(COMBINED, kind="labels")  # a request with a schema
    photos = [write(tmp_path / "photos" / f"{n}.jpg", photo_with_gps(tmp_path / f"{n}.jpg")
                    .read_bytes()) for n in range(3)]
    cfg = config(tmp_path, ollama_server.url,
                 "  - Type: generate\n    Model: gemma3\n    SERVICE\n")
    records = scan(tmp_path, tmp_path / "photos", cfg)
    assert len(ollama_server.generate_requests()) == len(photos)  # one request per photo
    for record in records:
        assert record["caption"] == "A brown dog runs along a sandy beach at sunset."
        assert record["title"] == "Dog on the Beach"  # no final full stop
        assert [x["name"] for x in record["labels"]] == ["Dog", "Beach"]
        assert record["models"] == dict.fromkeys(("labels", "caption", "title"),
                                                 "ollama:gemma3:latest")
    body = ollama_server.generate_requests()[0].body
    assert isinstance(body, dict)
    assert set(body["format"]["properties"]) == {"caption", "title", "labels"}
    for sidecar in exiftool_json([sidecar_of(p) for p in photos]):
        assert sidecar["Title"] == "Dog on the Beach"
        assert as_list(sidecar["Subject"]) == ["Dog", "Beach"]


def test_a_failed_generate_falls_back_per_type(tmp_path: Path,
                                              ollama_server: OllamaServer) -> None:
    # The combined answer lacks the title: the title model answers it on its own.
    ollama_server.respond(json.dumps({"caption": DEFAULT_CAPTION, "labels": ["dog"]}),
                          kind="labels")
    photo = write(tmp_path / "photos" / "a.jpg", photo_with_gps(tmp_path / "a.jpg").read_bytes())
    cfg = config(tmp_path, ollama_server.url,
                 "  - Type: generate\n    Model: gemma3\n    SERVICE\n")
    (record,) = scan(tmp_path, photo.parent, cfg)
    assert record["caption"] == DEFAULT_CAPTION and record["status"] == "done"
    assert record["title"] == "A brown dog runs along a sandy beach at sunset"
    assert len(ollama_server.generate_requests()) == 2  # the combined one, then the title


def test_compact_answers_and_their_tokens_per_run(tmp_path: Path,
                                                 ollama_server: OllamaServer) -> None:
    """Labels asked as "name:confidence" strings keep their scores; the answer tokens Ollama
    counted (eval_count) are summed per request kind in the summary, and said with -v."""
    combined = json.dumps({"caption": DEFAULT_CAPTION, "labels": ["dog:95", "beach:80"]})
    ollama_server.respond(combined, kind="labels")  # no title: asked of its own model
    photo = write(tmp_path / "photos" / "a.jpg", photo_with_gps(tmp_path / "a.jpg").read_bytes())
    cfg = config(tmp_path, ollama_server.url,
                 "  - Type: generate\n    Model: gemma3\n    SERVICE\n")
    result = runner.invoke(app, ["scan", str(photo.parent), "--json", "--state",
                                 str(tmp_path / "state.db"), "--config", str(cfg)])
    ndjson = parse_ndjson(result.stdout)
    (record,) = ndjson.records
    assert [(x["name"], x["confidence"]) for x in record["labels"]] == [
        ("Dog", 0.95), ("Beach", 0.8)]
    generate, title = len(combined) // 4, len(DEFAULT_CAPTION) // 4  # the emulator's count
    assert ndjson.summary["answer_tokens"] == {
        "photos": 1, "total": generate + title, "per_photo": float(generate + title),
        "uncounted": 0,
        "kinds": {"generate": {"requests": 1, "tokens": generate, "per_request": generate},
                  "title": {"requests": 1, "tokens": title, "per_request": title}}}

    verbose = runner.invoke(app, ["scan", str(photo.parent), "-v", "--state",
                                  str(tmp_path / "again.db"), "--config", str(cfg)])
    assert verbose.exit_code == 0, verbose.output
    assert (f"answer tokens: {generate + title:.1f} per photo over 1 photo (per request: "
            f"generate {generate:.1f}, title {title:.1f})") in verbose.stdout
    quiet = runner.invoke(app, ["scan", str(photo.parent), "--state",
                                str(tmp_path / "quiet.db"), "--config", str(cfg)])
    assert quiet.exit_code == 0, quiet.output
    assert "answer tokens" not in quiet.stdout


def test_the_prompt_knows_where_and_when(tmp_path: Path, ollama_server: OllamaServer) -> None:
    photo = photo_with_gps(tmp_path / "photos" / "nice.jpg")
    cfg = config(tmp_path, ollama_server.url)
    scan(tmp_path, photo.parent, cfg)  # the network is unreachable: the place is offline
    prompts = [r.body["prompt"] for r in ollama_server.generate_requests()
               if isinstance(r.body, dict)]
    assert prompts and all("Nice, France" in p and "14 July 2024" in p for p in prompts)
    # The hint is model input, never written as if the model saw it.
    (sidecar,) = exiftool_json([sidecar_of(photo)])
    assert "Nice" not in json.dumps(sidecar)


def test_a_photo_without_gps_simply_has_no_place(tmp_path: Path,
                                                 ollama_server: OllamaServer) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(buffer, "JPEG")
    photo = write(tmp_path / "photos" / "plain.jpg", buffer.getvalue())
    scan(tmp_path, photo.parent, config(tmp_path, ollama_server.url))
    for request in ollama_server.generate_requests():
        assert isinstance(request.body, dict) and "metadata" not in request.body["prompt"]


def test_title_model_writes_dc_title_and_reset_removes_it(tmp_path: Path,
                                                         ollama_server: OllamaServer) -> None:
    ollama_server.respond("Title: \"Sunset Run\"", kind="caption")
    photo = photo_with_gps(tmp_path / "photos" / "a.jpg")
    cfg = config(tmp_path, ollama_server.url)
    run = runner.invoke(app, ["vision", "run", "-m", "title", str(photo.parent), "--json",
                              "--state", str(tmp_path / "state.db"), "--config", str(cfg)])
    assert run.exit_code == 0, run.output
    (sidecar,) = exiftool_json([sidecar_of(photo)])
    assert sidecar["Title"] == "Sunset Run"
    reset = runner.invoke(app, ["vision", "reset", "-m", "title", str(photo.parent), "--yes",
                                "--state", str(tmp_path / "state.db"), "--config", str(cfg)])
    assert reset.exit_code == 0, reset.output
    (after,) = exiftool_json([sidecar_of(photo)])
    assert "Title" not in after
