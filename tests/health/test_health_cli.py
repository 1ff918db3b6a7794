"""`xmpvision health` and `xmpvision status` against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.daemon.helpers import MODEL, free_port, vision_yml
from tests.ollama_server import OllamaServer
from xmpvision.cli import app
from xmpvision.health.store import HealthStore

runner = CliRunner()


def health(tmp_path: Path, url: str, *args: str, extra: str = "") -> tuple[int, dict[str, Any]]:
    config = tmp_path / "vision.yml"
    config.write_text(vision_yml(url, health=extra))
    result = runner.invoke(app, ["health", "--json", "--config", str(config), "--state",
                                 str(tmp_path / "state.sqlite3"), *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_healthy_service(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        url = server.url
        code, out = health(tmp_path, url)
    assert code == 0
    [service] = out["services"]
    assert service["uri"] == url and service["status"] == "ok"
    assert service["version"] == "0.12.6"
    [model] = service["models"]
    assert model["name"] == MODEL and model["size"] == model["size_vram"] > 0
    assert service["speed"] > 0 and service["baseline"] is None


def test_gpu_lost_after_a_healthy_look(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        assert health(tmp_path, server.url)[0] == 0  # learns the GPU share
        server.lose_gpu(slowdown=8)
        code, out = health(tmp_path, server.url)
    assert code == 1
    [service] = out["services"]
    assert service["status"] == "gpu-lost"
    assert service["models"][0]["size_vram"] == 0


def test_slow_with_ps_claiming_the_gpu_is_degraded(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        with HealthStore.beside(tmp_path / "state.sqlite3") as store:
            # The healthy speed a run learned: the emulator's normal eval rate.
            store.save_baseline(server.url, MODEL, "decode/text", 11.0)
            store.flush()
        server.slowdown = 4
        code, out = health(tmp_path, server.url)
    assert code == 1
    [service] = out["services"]
    assert service["status"] == "degraded"
    assert service["baseline"] == 11.0 and service["speed"] < 11.0 / 2


def test_down_service(tmp_path: Path) -> None:
    code, out = health(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert out["services"][0]["status"] == "down"


def test_restart_runs_the_configured_command_when_not_ok(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    with OllamaServer(models=[MODEL]) as server:
        extra = f'Health: {{Restart: "touch {marker}", RestartTimeout: 5s}}\n'
        assert health(tmp_path, server.url, "--restart", extra=extra)[0] == 0
        assert not marker.exists()  # ok: nothing to restart
        server.lose_gpu(slowdown=8)
        code, out = health(tmp_path, server.url, "--restart", extra=extra)
    assert marker.exists()
    assert out["services"][0]["restarted"] is True
    assert code == 1  # the emulator kept its lost GPU: still not ok after the restart


def test_config_error_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "vision.yml"
    config.write_text("Health: {Drift: 0.5}\n")
    result = runner.invoke(app, ["health", "--config", str(config)])
    assert result.exit_code == 2
    assert "vision.yml:1:10: Health.Drift" in result.stderr


def test_status_reads_what_health_recorded(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        url = server.url
        health(tmp_path, url)
        result = runner.invoke(app, ["status", "--json", "--state",
                                     str(tmp_path / "state.sqlite3")])
        text = runner.invoke(app, ["status", "--state", str(tmp_path / "state.sqlite3")])
    assert result.exit_code == 0
    status = json.loads(result.stdout)
    assert [s["service"] for s in status["services"]] == [url]
    assert status["services"][0]["status"] == "ok" and status["services"][0]["restarts"] == 0
    assert status["jobs"] == [] and status["worker"]["backlog"] is None
    assert f"ollama {url}: ok" in text.stdout


def test_status_names_the_servers_that_went_down_during_a_job(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    with HealthStore.beside(state) as store:
        store.job_started("nightly")
        store.job_finished("nightly", "ok", {
            "done": 40, "failed": 0, "upgraded": 7, "services": [{
                "endpoint": "ollama http://gpu:11434", "state": "open", "opened": 1,
                "skipped": 33, "lost_seconds": 6.0,
                "reason": "no answer from http://gpu:11434/api/generate within 2s"}]})
    text = runner.invoke(app, ["status", "--state", str(state)])
    assert text.exit_code == 0, text.output
    assert "(40 done, 0 failed, 7 upgraded)" in text.stdout
    assert ("  ollama http://gpu:11434: open (down 1x, 33 requests not sent to it; "
            "no answer from http://gpu:11434/api/generate within 2s)") in text.stdout


def test_a_wedged_service_is_down_within_the_service_timeout(tmp_path: Path) -> None:
    """/api/version answers, a generation never does: `health` waits Service.Timeout (1 s
    here), not RestartTimeout, and says the service is down."""
    config = tmp_path / "vision.yml"
    with OllamaServer(models=[MODEL]) as server:
        server.wedge()
        config.write_text(vision_yml(server.url, health="Health: {RestartTimeout: 5s}\n")
                          .replace("Timeout: 20s", "Timeout: 1s"))
        result = runner.invoke(app, ["health", "--json", "--config", str(config), "--state",
                                     str(tmp_path / "state.sqlite3")])
        server.unwedge()
    assert result.exit_code == 1
    [service] = json.loads(result.stdout)["services"]
    assert service["status"] == "down"
    assert "within 1s" in service["detail"]
