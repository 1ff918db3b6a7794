"""`vision ls`, `vision sources` and `vision test` through the real CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.config.test_loader import README_EXAMPLE
from tests.library_builder import parse_ndjson, write_config, write_photos
from tests.ollama_server import DEFAULT_CAPTION, OllamaServer, RecordedRequest, Reply
from xmpvision.cli import app
from xmpvision.engines.tensorflow import missing_packages
from xmpvision.state import FoundParallel, StateDB

runner = CliRunner()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vision.yml"
    path.write_text(text)
    return path


def _ls(config: Path, *flags: str) -> str:
    result = runner.invoke(app, ["vision", "ls", "--config", str(config), *flags])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ls_json_on_spec_example(tmp_path: Path) -> None:
    rows = json.loads(_ls(_write(tmp_path, README_EXAMPLE), "--json"))
    labels = [r for r in rows if r["type"] == "labels"]
    assert [(r["order"], r["active"], r["engine"], r["model"]) for r in labels] == [
        (1, True, "ollama", "gemma3:latest"),
        (2, False, "tensorflow", "nasnet"),
    ]
    first = labels[0]
    assert first["endpoint"] == "POST http://localhost:11434/api/generate"
    assert first["run"] == "newly-indexed" and first["status"] == "enabled"
    assert first["resolution"] == 720
    assert first["options"]["temperature"] == 0.1
    assert first["format"] == "json-schema"
    captions = [r for r in rows if r["type"] == "caption"]
    assert [(r["order"], r["active"], r["model"]) for r in captions] == [
        (1, True, "gemma3:latest")
    ]
    assert set(rows[0]) >= {"type", "order", "active", "model", "engine", "endpoint", "format",
                            "resolution", "options", "parallel", "run", "status"}
    assert first["parallel"] == "auto"  # no Parallel set: found by measuring during a run


def test_ls_shows_a_fixed_parallel(tmp_path: Path) -> None:
    text = README_EXAMPLE.replace("Timeout: 120s,", "Timeout: 120s, Parallel: 3,")
    assert text != README_EXAMPLE
    rows = json.loads(_ls(_write(tmp_path, text), "--json"))
    # The labels entry fixes it; the other Ollama entries find it.
    assert [r["parallel"] for r in rows if r["engine"] == "ollama"] == [3, "auto", "auto"]


def test_disabling_the_active_model_promotes_the_next(tmp_path: Path) -> None:
    text = README_EXAMPLE.replace("    Run: newly-indexed\n", "    Run: newly-indexed\n"
                                "    Disabled: true\n")
    rows = json.loads(_ls(_write(tmp_path, text), "--json"))
    labels = [(r["model"], r["order"], r["active"], r["status"])
              for r in rows if r["type"] == "labels"]
    # The small install has no TensorFlow: the classifier is shown as not installed there.
    nasnet = "not installed" if missing_packages() else "enabled"
    assert labels == [("nasnet", 1, True, nasnet), ("gemma3:latest", None, False, "disabled")]


def test_secrets_never_shown(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        Models:
          - Type: caption
            Model: llava
            Service:
              Uri: http://admin:pa55word@nas:11434
              Key: topsecretkey
              Password: hunter2
        """
    )
    config = _write(tmp_path, text)
    for flags in ((), ("--json",), ("--md",), ("--csv",), ("--tsv",)):
        output = _ls(config, *flags)
        for secret in ("pa55word", "admin", "topsecretkey", "hunter2"):
            assert secret not in output, (flags, output)
    rows = json.loads(_ls(config, "--json"))
    caption = next(r for r in rows if r["type"] == "caption")
    assert caption["endpoint"] == "POST http://***@nas:11434/api/generate"


def test_ls_table_formats(tmp_path: Path) -> None:
    config = _write(tmp_path, README_EXAMPLE)
    md = _ls(config, "--md").splitlines()
    assert md[0].startswith("| Type | Order | Active | Model |") and md[1].startswith("| ---")
    assert len(md) == 2 + 4  # labels x2, caption, and the built-in (manual) title model
    table = list(csv.reader(io.StringIO(_ls(config, "--csv"))))
    assert table[0][:4] == ["Type", "Order", "Active", "Model"] and len(table) == 5
    tsv = _ls(config, "--tsv").splitlines()
    assert tsv[1].split("\t")[:4] == ["labels", "1", "yes", "gemma3:latest"]
    plain = _ls(config)
    assert "gemma3:latest" in plain and "nasnet" in plain
    both = runner.invoke(app, ["vision", "ls", "--config", str(config), "--json", "--md"])
    assert both.exit_code == 2


PARALLEL_CONFIG = textwrap.dedent(
    """\
    Models:
      - {Type: caption, Model: gemma3, Service: {Uri: "http://gpu-a:11434"}}
      - {Type: labels, Model: gemma3, Service: {Uri: "http://gpu-b:11434", Parallel: 2}}
    """
)


def _rows(output: str) -> dict[str, dict[str, Any]]:
    return {row["type"]: row for row in json.loads(output)}


def test_ls_without_a_state_database_shows_auto_and_creates_none(tmp_path: Path) -> None:
    config = _write(tmp_path, PARALLEL_CONFIG)
    default = Path(os.environ["XDG_STATE_HOME"]) / "xmpvision" / "state.sqlite3"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    for state in ((), ("--state", str(tmp_path / "fresh" / "state.sqlite3")),
                  ("--state", str(junk))):
        caption = _rows(_ls(config, "--json", *state))["caption"]
        assert (caption["parallel"], caption["parallel_found"],
                caption["parallel_found_at"]) == ("auto", None, None)
        table = _ls(config, *state)
        assert " auto " in table and "found" not in table
    assert not default.exists() and not (tmp_path / "fresh").exists()
    assert junk.read_bytes() == b"this is not a database" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.sqlite3", "vision.yml"]


def test_ls_shows_what_the_last_run_found_under_auto(tmp_path: Path) -> None:
    config = _write(tmp_path, PARALLEL_CONFIG)
    state = tmp_path / "state.sqlite3"
    at = datetime(2026, 12, 7, 14, 2).timestamp()
    with StateDB.open(state) as db:
        db.keep_parallel({"ollama http://gpu-a:11434": FoundParallel(4, 16, at),
                          "ollama http://gpu-b:11434": FoundParallel(2, 16, at)})
    before = sorted(p.name for p in tmp_path.iterdir())
    rows = _rows(_ls(config, "--json", "--state", str(state)))
    assert rows["caption"]["parallel"] == "auto"  # the stable shape: what is configured
    assert rows["caption"]["parallel_found"] == 4
    assert rows["caption"]["parallel_found_at"] == datetime.fromtimestamp(at).astimezone(
    ).isoformat(timespec="seconds")
    # A fixed Parallel is what it is, whatever was measured there before.
    assert (rows["labels"]["parallel"], rows["labels"]["parallel_found"]) == (2, None)
    table = _ls(config, "--state", str(state))
    caption_line = next(line for line in table.splitlines() if line.startswith("caption"))
    assert "auto (4 found 2026-12-07)" in caption_line
    md = _ls(config, "--md", "--state", str(state))
    assert "| auto (4 found 2026-12-07) |" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # read, nothing written


def test_ls_sums_what_was_found_on_each_endpoint_once_each_is(tmp_path: Path) -> None:
    config = _write(tmp_path, textwrap.dedent("""\
        Models:
          - {Type: caption, Model: gemma3, Service: {Uri: ["http://a:11434", "http://b:11434"]}}
        """))
    state = tmp_path / "state.sqlite3"
    older, newer = datetime(2026, 12, 1, 9).timestamp(), datetime(2026, 12, 7, 9).timestamp()
    with StateDB.open(state) as db:
        db.keep_parallel({"ollama http://a:11434": FoundParallel(4, 16, newer)})
    caption = _rows(_ls(config, "--json", "--state", str(state)))["caption"]
    assert (caption["parallel_found"], caption["parallel_found_at"]) == (None, None)
    with StateDB.open(state) as db:
        db.keep_parallel({"ollama http://b:11434": FoundParallel(2, 16, older)})
    caption = _rows(_ls(config, "--json", "--state", str(state)))["caption"]
    assert caption["parallel_found"] == 6  # as their slots add up
    assert caption["parallel_found_at"].startswith("2026-12-01")  # as old as the older one


def test_ls_shows_what_a_run_found(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 6)
    state = tmp_path / "state.sqlite3"
    with OllamaServer(models=["gemma3:latest"], parallel=2) as server:
        key = f"ollama {server.url}"
        config = _write(tmp_path, textwrap.dedent(f"""\
            Models:
              - {{Type: caption, Model: gemma3, Service: {{Uri: "{server.url}"}}}}
            """))
        before = time.time()
        result = runner.invoke(app, ["vision", "run", "-m", "caption", str(tmp_path / "photos"),
                                     "--json", "--state", str(state), "--config", str(config)])
        assert result.exit_code == 0, result.output
    found = parse_ndjson(result.stdout).summary["parallel"][key]
    caption = _rows(_ls(config, "--json", "--state", str(state)))["caption"]
    assert caption["parallel"] == "auto" and caption["parallel_found"] == found
    at = datetime.fromisoformat(caption["parallel_found_at"]).timestamp()
    assert before - 1 < at <= time.time()  # to the second


def test_sources_lists_priorities() -> None:
    result = runner.invoke(app, ["vision", "sources", "--json"])
    assert result.exit_code == 0
    rows = {r["source"]: r["priority"] for r in json.loads(result.stdout)}
    assert rows["admin"] == 128 and rows["manual"] == 64 and rows["xmp"] == 32
    assert rows["ollama"] == 16 and rows["image"] == 8


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (1600, 1200), (30, 120, 200)).save(path, quality=90)
    return path


def test_vision_test_german_caption(tmp_path: Path, photo: Path,
                                   ollama_server: OllamaServer) -> None:
    ollama_server.respond("Ein brauner Hund rennt am Strand entlang.", kind="caption")
    config = _write(tmp_path, textwrap.dedent(
        f"""\
        Models:
          - Type: caption
            Model: gemma3:latest
            Language: de
            Service: {{Uri: "{ollama_server.url}"}}
        """
    ))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["vision", "test", str(photo), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["caption"] == "Ein brauner Hund rennt am Strand entlang."
    assert record["caption_language"] == "de" and record["caption_source"] == "ollama"
    assert record["models"] == {"caption": "ollama:gemma3:latest"}
    assert record["sidecar"] == str(photo) + ".xmp"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    sent = ollama_server.generate_requests()[-1]
    assert "German" in json.dumps(sent.body)
    assert max(sent.images[0].width, sent.images[0].height) == 720


def test_vision_test_falls_back_to_the_next_model(tmp_path: Path, photo: Path,
                                                  ollama_server: OllamaServer) -> None:
    ollama_server.add_model("llava:latest")
    ollama_server.respond("no json here, sorry", model="gemma3:latest", kind="labels")
    ollama_server.respond('{"labels": [{"name": "sky", "confidence": 0.9}]}',
                          model="llava:latest", kind="labels")
    config = _write(tmp_path, textwrap.dedent(
        f"""\
        Models:
          - Type: labels
            Model: llava
            Service: {{Uri: "{ollama_server.url}"}}
          - Type: labels
            Model: gemma3
            Service: {{Uri: "{ollama_server.url}"}}
        """
    ))
    result = runner.invoke(app, ["vision", "test", str(photo), "-m", "labels",
                                 "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["models"] == {"labels": "ollama:llava:latest"}
    assert [x["name"] for x in record["labels"]] == ["Sky"]


def test_vision_test_reports_failure_and_bad_file(tmp_path: Path, photo: Path) -> None:
    config = _write(tmp_path, "Models:\n  - Type: caption\n    Model: gemma3\n"
                    "    Service: {Uri: 'http://127.0.0.1:9', ConnectTimeout: 1s}\n")
    result = runner.invoke(app, ["vision", "test", str(photo), "--config", str(config),
                                 "--json"])
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["status"] == "failed" and "127.0.0.1:9" in record["error"]
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    result = runner.invoke(app, ["vision", "test", str(bad), "--config", str(config)])
    assert result.exit_code == 1
    assert "bad.jpg" in result.stdout and "Traceback" not in result.output


def test_vision_test_rejects_unknown_type(photo: Path) -> None:
    result = runner.invoke(app, ["vision", "test", str(photo), "-m", "faces"])
    assert result.exit_code == 2


# --- the fix said where a user looks (issue 19) ---------------------------------------------


def test_vision_test_gives_the_pull_fix_and_prints_the_title(tmp_path: Path) -> None:
    (photo,) = write_photos(tmp_path / "photos", 1, per_folder=1)
    with OllamaServer(models=["gemma3:latest"]) as server:
        missing = write_config(tmp_path / "missing.yml", server.url, model="notpulled",
                               types=("caption", "title"))
        failed = runner.invoke(app, ["vision", "test", str(photo), "-m", "caption,title",
                                     "--config", str(missing)])
        present = write_config(tmp_path / "present.yml", server.url,
                               types=("caption", "title"))
        done = runner.invoke(app, ["vision", "test", str(photo), "-m", "caption,title",
                                   "--config", str(present)])
    assert failed.exit_code == 1
    assert 'run "ollama pull notpulled:latest"' in failed.stdout, failed.stdout
    assert done.exit_code == 0, done.output
    assert "  title: " in done.stdout and "  caption: " in done.stdout


def test_a_model_removed_mid_run_says_ollama_pull_on_the_photo(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 3, per_folder=3)
    with OllamaServer(models=["gemma3:latest"]) as server:

        def remove_after_answering(request: RecordedRequest) -> Reply:
            server.remove_model("gemma3:latest")  # `ollama rm` while the scan runs
            return Reply(DEFAULT_CAPTION)

        server.respond(remove_after_answering)
        config = write_config(tmp_path / "vision.yml", server.url, types=("caption",))
        result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "-j", "1",
                                     "--config", str(config),
                                     "--state", str(tmp_path / "state.db")])
    out = parse_ndjson(result.stdout)
    assert len(out.by_status("done")) == 1, result.stdout
    failed = out.by_status("failed")
    assert failed and all('ollama pull gemma3:latest' in r["error"] for r in failed)
