"""Untrusted text reaching the user: file names, model answers and secrets in the config must
never crash a run, forge output, drive the terminal or be printed."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from tests.library_builder import (
    cli_env,
    jpeg_bytes,
    parse_ndjson,
    run_xmpvision,
    write,
    write_config,
    xmpvision_cmd,
)
from tests.ollama_server import OllamaServer
from xmpvision.cli.output import ProgressOutput
from xmpvision.report import PhotoReport


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(xmpvision_cmd(*args), capture_output=True, timeout=timeout,
                          env=env or cli_env(), check=False)


def test_names_cannot_forge_lines_or_reach_the_terminal(tmp_path: Path,
                                                        ollama_server: OllamaServer) -> None:
    photos = tmp_path / "photos"
    forged = write(photos / "a\ndone forged.jpg", jpeg_bytes())
    ansi = write(photos / "b\x1b[2J\x1b]0;pwned\x07.jpg", jpeg_bytes())
    latin1 = os.fsdecode(os.fsencode(str(photos)) + b"/caf\xe9.jpg")
    write(Path(latin1), jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", ollama_server.url, types=("caption",))
    # A desktop's strict UTF-8 locale: the Latin-1 name must not stop the run.
    env = cli_env(PYTHONIOENCODING="utf-8:strict", LANG="en_US.UTF-8")
    result = run("scan", photos, "--config", config, "--state", tmp_path / "s.db", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode("utf-8")  # strict: the output is valid UTF-8
    lines = out.splitlines()
    assert [line.split(" ", 1)[0] for line in lines[:-1]] == ["done"] * 3, lines
    assert "\x1b" not in out and "\x07" not in out
    assert "a\\x0adone forged.jpg" in out and not any(x.startswith("done forged") for x in lines)
    assert "caf\\xe9.jpg" in out
    assert os.path.exists(f"{forged}.xmp") and os.path.exists(f"{ansi}.xmp")


def test_failure_text_is_never_markup() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with Progress(console=console) as progress:
        bar = ProgressOutput(progress, progress.add_task("photos", total=2, rate=""), False)
        bar.photo(PhotoReport(Path("/p/[/x].jpg"), "failed", error="model said [/INST] [bold]"))
        bar.notice("a [/red] notice")
    text = buffer.getvalue()
    assert "[/INST] [bold]" in text and "[/x].jpg" in text and "[/red]" in text


def test_vision_test_json_is_strict_utf8_json(tmp_path: Path, ollama_server: OllamaServer) -> None:
    ollama_server.respond('{"caption": "A dog \\ud800 runs.\\u202e"}', kind="caption")
    photo = write(tmp_path / "dog.jpg", jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", ollama_server.url, types=("caption",))
    result = run("vision", "test", photo, "--json", "--config", config)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # strict
    assert "\\ud800" not in text and "\\u202e" not in text.lower()
    assert json.loads(text)["caption"] == "A dog runs."


def test_labels_nested_too_deep_fail_that_type_only(tmp_path: Path,
                                                    ollama_server: OllamaServer) -> None:
    ollama_server.respond('{"labels": ' + "[" * 50_000 + "]" * 50_000 + "}", kind="labels")
    photos = tmp_path / "photos"
    write(photos / "dog.jpg", jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", ollama_server.url)
    result = run("scan", photos, "--json", "--config", config, "--state", tmp_path / "s.db")
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr
    (record,) = parse_ndjson(result.stdout.decode()).records
    assert record["caption"] and record["status"] == "failed"
    assert "nested too deeply" in record["error"] and "labels:" in record["error"]
    assert "caption:" not in record["error"]


def test_a_password_in_the_uri_is_never_printed_or_stored(tmp_path: Path,
                                                          ollama_server: OllamaServer) -> None:
    secret = "s3cr3t-pw"
    uri = ollama_server.url.replace("http://", f"http://user:{secret}@")
    photos = tmp_path / "photos"
    write(photos / "dog.jpg", jpeg_bytes())
    # A labels model that is not pulled: its error names the service.
    config = write_config(tmp_path / "vision.yml", uri, model="notpulled")
    state = tmp_path / "s.db"
    for extra in (["--json"], ["-vv"]):
        result = run("scan", photos, "--config", config, "--state", state, *extra)
        assert result.returncode == 1, result.stderr
        assert b"127.0.0.1" in result.stderr  # the service is named ...
        assert secret.encode() not in result.stdout + result.stderr  # ... its password not
        listing = run("vision", "ls", "--json", "--config", config)
        assert secret.encode() not in listing.stdout + listing.stderr
    with sqlite3.connect(state) as db:
        dump = "\n".join(db.iterdump())
    assert "notpulled" in dump and secret not in dump


def test_a_second_interrupt_aborts_at_once(tmp_path: Path, ollama_server: OllamaServer) -> None:
    ollama_server.hang(times=100)
    photos = tmp_path / "photos"
    for n in range(4):
        write(photos / f"{n}.jpg", jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", ollama_server.url, types=("caption",))
    text = config.read_text().replace("Timeout: 20s", "Timeout: 120s")
    config.write_text(text)
    child = subprocess.Popen(
        xmpvision_cmd("scan", photos, "--config", config, "--state", tmp_path / "s.db"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
    )
    deadline = time.monotonic() + 30
    while len(ollama_server.generate_requests()) == 0:
        assert time.monotonic() < deadline, "no request reached the server"
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=5)  # not the 120 s the hung request would take
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("a second Ctrl-C did not abort the run")
    assert child.returncode == 130, err
    assert b"aborted" in err and b"Traceback" not in err


def test_a_reader_that_goes_away_is_no_internal_error(tmp_path: Path) -> None:
    # `xmpvision vision ls --json | head -c 0`: the pipe closes before we write.
    child = subprocess.Popen(xmpvision_cmd("vision", "ls", "--json"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=cli_env(XDG_DATA_HOME=str(tmp_path)))
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    child.wait(timeout=60)
    assert b"internal error" not in err and b"Traceback" not in err, err


@pytest.mark.parametrize("command", [["scan", "."], ["health"], ["vision", "ls"]])
def test_a_port_typo_is_a_config_error_not_an_internal_error(
        tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "vision.yml"
    config.write_text('Models:\n  - Type: caption\n    Model: gemma3\n'
                      '    Service: {Uri: "http://nas:11434x/api/generate"}\n')
    state = ["--state", str(tmp_path / "s.db")] if command[0] != "vision" else []
    result = run_xmpvision(*command, "--config", config, *state)
    assert result.returncode == 2, result.stderr
    assert "Models[0].Service.Uri: invalid URL" in result.stderr
    assert "internal error" not in result.stderr
