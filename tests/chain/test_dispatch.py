"""Several endpoints for one model: work goes where capacity is free, a dead endpoint gets none,
and every photo is done."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner

from tests.library_builder import parse_ndjson, write_photos
from tests.ollama_server import OllamaServer
from tests.openai_server import OpenAIServer
from xmpvision.cli import app
from xmpvision.config import parse_config
from xmpvision.engines import describe

runner = CliRunner()


def config(tmp_path: Path, uris: list[str], *, parallel: int = 2, engine: str = "ollama",
           model: str = "gemma3") -> Path:
    path = tmp_path / "vision.yml"
    listed = ", ".join(f'"{u}"' for u in uris)
    path.write_text(
        "Models:\n"
        f"  - Type: caption\n    Engine: {engine}\n    Model: {model}\n"
        f"    Service: {{Uri: [{listed}], Parallel: {parallel}, ConnectTimeout: 1s,"
        " Timeout: 10s}\n"
        "  - Type: labels\n    Default: true\n    Disabled: true\n"
    )
    return path


def scan(tmp_path: Path, cfg: Path) -> dict[str, object]:
    result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--state",
                                 str(tmp_path / "state.db"), "--config", str(cfg)])
    out = parse_ndjson(result.stdout)
    assert result.exit_code == 0, result.output
    return out.summary


def test_uri_list_and_endpoints_forms_load() -> None:
    config_text = (
        "Models:\n  - Type: caption\n    Model: m\n"
        "    Service: {Uri: [\"http://a:11434\", \"http://b:11434/\"], Parallel: 3}\n"
        "  - Type: labels\n    Model: m\n"
        "    Service: {Endpoints: [{Uri: \"http://c:11434\", Parallel: 1, Key: k1},"
        " {Uri: \"http://d:11434\"}], Key: k0, Parallel: 4}\n"
    )
    loaded = parse_config(config_text)
    caption = next(m for m in loaded.models if m.type == "caption")
    labels = next(m for m in loaded.models if m.type == "labels")
    assert [(m.service.uri, m.service.parallel) for m in caption.endpoint_models()] == [
        ("http://a:11434", 3), ("http://b:11434", 3)]
    parts = labels.endpoint_models()
    assert [(m.service.uri, m.service.parallel) for m in parts] == [
        ("http://c:11434", 1), ("http://d:11434", 4)]
    keys = [m.service.key.get_secret_value() if m.service.key else None for m in parts]
    assert keys == ["k1", "k0"]
    info = describe(caption)
    assert info.slots == 6 and "http://a:11434" in info.endpoint and "http://b" in info.endpoint


def test_work_is_spread_over_every_endpoint(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 16, per_folder=16)
    with OllamaServer(models=["gemma3:latest"], latency=0.1, parallel=2) as a, \
            OllamaServer(models=["gemma3:latest"], latency=0.1, parallel=2) as b:
        summary = scan(tmp_path, config(tmp_path, [a.url, b.url]))
        served = [len(s.generate_requests()) for s in (a, b)]
        in_flight = [s.max_in_flight for s in (a, b)]
    assert summary["done"] == 16
    assert sum(served) == 16 and min(served) >= 4, served
    assert max(in_flight) <= 2  # each endpoint's own Parallel holds


def test_a_dead_endpoint_costs_no_photo(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 12, per_folder=12)
    with OllamaServer(models=["gemma3:latest"], latency=0.05, parallel=2) as alive:
        dead = OllamaServer(models=["gemma3:latest"], latency=0.05, parallel=2).start()
        url = dead.url
        # Killed after its first few answers, while the scan runs.
        def kill() -> None:
            while len(dead.generate_requests()) < 2:
                threading.Event().wait(0.01)
            dead.stop()
        killer = threading.Thread(target=kill)
        killer.start()
        summary = scan(tmp_path, config(tmp_path, [url, alive.url]))
        killer.join(timeout=30)
        assert summary["done"] == 12 and summary["failed"] == 0
        assert len(alive.generate_requests()) >= 8


def test_a_model_missing_on_one_endpoint_uses_the_others(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 6, per_folder=6)
    with OllamaServer(models=["gemma3:latest"]) as has, OllamaServer(models=["other"]) as lacks:
        summary = scan(tmp_path, config(tmp_path, [lacks.url, has.url]))
        assert summary["done"] == 6
        assert len(has.generate_requests()) == 6 and lacks.generate_requests() == []


def test_openai_endpoints_too(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 8, per_folder=8)
    with OpenAIServer(models=["m"], latency=0.05, parallel=2) as a, \
            OpenAIServer(models=["m"], latency=0.05, parallel=2) as b:
        summary = scan(tmp_path, config(tmp_path, [a.base_url, b.base_url], engine="openai",
                                        model="m"))
        served = [len(s.completion_requests()) for s in (a, b)]
    assert summary["done"] == 8 and sum(served) == 8 and min(served) >= 1
