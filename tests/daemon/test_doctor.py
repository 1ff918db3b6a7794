"""`xmpvision doctor`: one line per check, ok/warn/fail with the fix; exit 1 when one fails."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner, Result

from tests.daemon.helpers import MODEL, free_port, vision_yml
from tests.ollama_server import OllamaServer
from xmpvision.cli import app
from xmpvision.state import FoundParallel, StateDB

runner = CliRunner()


def doctor(tmp_path: Path, text: str, *library: Path) -> Result:
    config = tmp_path / "vision.yml"
    config.write_text(text)
    return runner.invoke(app, ["doctor", "--config", str(config), "--state",
                               str(tmp_path / "state" / "state.sqlite3"), "--schedules",
                               str(Path(__file__).resolve().parents[2] / "schedules"),
                               *map(str, library)])


def lines(result: Result) -> dict[str, str]:
    found = {}
    for line in result.stdout.splitlines():
        level, rest = line.split(" ", 1)
        found[rest.strip().split(": ", 1)[0]] = f"{level} {rest.strip()}"
    return found


def test_a_good_setup_passes(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        url = server.url
        result = doctor(tmp_path, vision_yml(url), tmp_path)
    assert result.exit_code == 0, result.stdout
    found = lines(result)
    assert found["config"].startswith("ok ")
    assert found[f"ollama {url}"] == f"ok ollama {url}: reachable, version 0.12.6"
    assert found[f"model {MODEL}"] == f"ok model {MODEL}: pulled"
    assert found[f"gpu {MODEL}"].startswith("warn ")  # not loaded yet: unknown
    assert found["state"].startswith("ok ")
    assert found["schedules"].startswith("ok ") and "3 job(s)" in found["schedules"]
    assert found[f"library {tmp_path}"].startswith("ok ")


def test_a_missing_model_fails_with_the_pull_command(tmp_path: Path) -> None:
    with OllamaServer(models=["llava:latest"]) as server:
        url = server.url
        result = doctor(tmp_path, vision_yml(url), tmp_path)
    assert result.exit_code == 1
    assert lines(result)[f"model {MODEL}"] == (
        f"fail model {MODEL}: not pulled on {url} -> ollama pull {MODEL}")


def test_an_unreachable_service_and_a_missing_library_fail(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = doctor(tmp_path, vision_yml(url), tmp_path / "nowhere")
    assert result.exit_code == 1
    found = lines(result)
    assert found[f"ollama {url}"].startswith(f"fail ollama {url}: not reachable")
    assert "start Ollama" in found[f"ollama {url}"]
    assert found[f"library {tmp_path / 'nowhere'}"].startswith("fail ")


def test_a_broken_config_fails_first(tmp_path: Path) -> None:
    result = doctor(tmp_path, "Models: 3\n")
    assert result.exit_code == 1
    assert result.stdout.startswith("fail config: ")


def test_gpu_residency_and_the_classifier_fallback(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        server.add_model(MODEL, loaded=True, size_vram=0)
        text = vision_yml(server.url) + "  - {Type: labels, Default: true}\n"
        result = doctor(tmp_path, text, tmp_path)
    found = lines(result)
    assert found[f"gpu {MODEL}"].startswith(f"warn gpu {MODEL}: runs on the CPU")
    assert "tensorflow" in found and "classifier" in found


def test_openai_endpoints_are_checked_like_a_run_starts(tmp_path: Path) -> None:
    from tests.openai_server import OpenAIServer

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with OpenAIServer(["Qwen/Qwen2.5-VL-7B-Instruct"]) as server:
        alive = server.base_url
        result = doctor(tmp_path, (
            "Models:\n"
            "  - Type: caption\n    Engine: openai\n    Model: Qwen/Qwen2.5-VL-7B-Instruct\n"
            f"    Service: {{Uri: [\"{alive}\", \"{dead}\"], ConnectTimeout: 1s}}\n"
            "  - Type: labels\n    Engine: openai\n    Model: not-served\n"
            f"    Service: {{Uri: \"{alive}\"}}\n"
        ), tmp_path)
    assert result.exit_code == 1
    checks = [" ".join(line.split()) for line in result.stdout.splitlines()
              if " model openai:" in line]
    assert checks[0] == (f"ok model openai:Qwen/Qwen2.5-VL-7B-Instruct: ready at POST "
                         f"{alive}/chat/completions")
    assert checks[1].startswith("fail model openai:Qwen/Qwen2.5-VL-7B-Instruct: not ready at ")
    assert "cannot connect" in checks[1] and dead in checks[1]
    assert checks[2].startswith("fail model openai:not-served: not ready")


def test_model_names_match_as_ollama_matches_them(tmp_path: Path) -> None:
    # vision.yml says `Gemma3:4B`, Ollama lists and runs `gemma3:4b`: one model to Ollama.
    with OllamaServer(models=["gemma3:4b"]) as server:
        url = server.url
        server.model("gemma3:4b").loaded = True  # type: ignore[union-attr]
        text = vision_yml(url).replace(f"Model: {MODEL}", "Model: Gemma3:4B")
        result = doctor(tmp_path, text, tmp_path)
    found = lines(result)
    assert found["model Gemma3:4B"] == "ok model Gemma3:4B: pulled", result.stdout
    assert found["gpu Gemma3:4B"].startswith("ok "), found["gpu Gemma3:4B"]


def test_a_family_ollama_runs_one_request_at_a_time_is_warned(tmp_path: Path) -> None:
    """Ollama's scheduler loads qwen3-vl (architecture qwen3vl) with one parallel slot
    whatever OLLAMA_NUM_PARALLEL says: a fixed Parallel above 1 only queues on the server."""
    with OllamaServer(models=[]) as server:
        server.add_model(MODEL, family="qwen3vl")
        url = server.url
        fixed = lines(doctor(tmp_path, vision_yml(url, parallel=4), tmp_path))
        auto = lines(doctor(tmp_path, vision_yml(url, parallel="auto"), tmp_path))
        one = lines(doctor(tmp_path, vision_yml(url, parallel=1), tmp_path))
    warning = fixed[f"parallel {MODEL}"]
    assert warning.startswith("warn ") and "(qwen3vl) one request at a time" in warning
    assert "Parallel: 4 only queues" in warning and warning.endswith(
        "-> set Parallel: auto (the default) or 1")
    assert fixed[f"parallel {url}"] == f"ok parallel {url}: Parallel: 4 requests at once (fixed)"
    assert auto[f"parallel {MODEL}"].startswith("warn ")
    assert "Parallel: auto will find 1" in auto[f"parallel {MODEL}"]
    assert auto[f"parallel {url}"].startswith(
        f"ok parallel {url}: Parallel: auto: not measured yet; each scan measures")
    assert one[f"parallel {MODEL}"].startswith("ok ")


def test_other_families_get_no_parallel_warning(tmp_path: Path) -> None:
    with OllamaServer(models=[MODEL]) as server:
        found = lines(doctor(tmp_path, vision_yml(server.url, parallel=4), tmp_path))
    assert f"parallel {MODEL}" not in found


def test_parallel_auto_says_what_the_last_run_found_and_when(tmp_path: Path) -> None:
    state = tmp_path / "state" / "state.sqlite3"
    at = datetime(2026, 12, 7, 14, 2).timestamp()
    with OllamaServer(models=[]) as server:
        # A one-at-a-time family keeps its warning; what was found is only reported.
        server.add_model(MODEL, family="qwen3vl")
        url = server.url
        with StateDB.open(state) as db:
            db.keep_parallel({f"ollama {url}": FoundParallel(4, 16, at),
                              "ollama http://elsewhere:11434": FoundParallel(2, 16, at)})
        found = lines(doctor(tmp_path, vision_yml(url, parallel="auto"), tmp_path))
    assert found[f"parallel {url}"] == (
        f"ok parallel {url}: Parallel: auto, 4 requests at once found by the run of "
        "2026-12-07 14:02 (at most 16 allowed); each scan measures it again")
    assert found[f"parallel {MODEL}"].startswith("warn ")
    assert "Parallel: auto will find 1" in found[f"parallel {MODEL}"]
