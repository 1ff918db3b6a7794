"""The small, Ollama-only install (`pip install xmpvision` without `[tensorflow]`): no numpy, no
TensorFlow. CI runs this file in a venv installed that way (XMPVISION_SMALL_INSTALL=1); in the
full install the same checks run with numpy and TensorFlow made unimportable in the child
process, which is what a small install looks like to the program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.library_builder import parse_ndjson, write_photos
from tests.ollama_server import OllamaServer

SMALL = os.environ.get("XMPVISION_SMALL_INSTALL") == "1"
# Outside the small venv: the child cannot import numpy, TensorFlow or the place names.
_BLOCK = ("import sys; sys.modules['numpy'] = None; sys.modules['tensorflow'] = None; "
          "sys.modules['reverse_geocode'] = None\n")
_RUN = _BLOCK + "import runpy; sys.argv[0] = 'xmpvision'; runpy.run_module('xmpvision', " \
    "run_name='__main__', alter_sys=True)\n"


def xmpvision(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XMPVISION_", "OLLAMA_"))}
    env["XMPVISION_NO_DOWNLOAD"] = "1"
    env["XDG_DATA_HOME"] = str(cwd / "data")
    env["XDG_STATE_HOME"] = str(cwd / "state")
    prefix = [sys.executable, "-m", "xmpvision"] if SMALL else [sys.executable, "-c", _RUN]
    return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120, check=False)


def fallback_config(path: Path, url: str, model: str = "gemma3") -> Path:
    """The classifier above the Ollama entries: tried only when Ollama cannot answer."""
    path.write_text(
        "Models:\n"
        "  - Type: labels\n    Default: true\n"
        f"  - Type: labels\n    Model: {model}\n    Service: {{Uri: \"{url}\"}}\n"
        f"  - Type: caption\n    Model: {model}\n    Service: {{Uri: \"{url}\"}}\n"
    )
    return path


def test_this_is_a_small_install_when_ci_says_so() -> None:
    if not SMALL:
        pytest.skip("the full install: the small install is checked by blocking imports")
    for name in ("numpy", "tensorflow"):
        with pytest.raises(ImportError):
            __import__(name)


def test_vision_ls_shows_the_classifier_as_not_installed(tmp_path: Path) -> None:
    result = xmpvision("vision", "ls", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "pip install 'xmpvision[tensorflow]'" in result.stderr
    rows = json.loads(xmpvision("vision", "ls", "--json", cwd=tmp_path).stdout)
    (classifier,) = [r for r in rows if r["engine"] == "tensorflow"]
    assert classifier["status"] == "not installed" and classifier["available"] is False


def test_scan_with_ollama_up(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 3, per_folder=3)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = fallback_config(tmp_path / "vision.yml", server.url)
        result = xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = parse_ndjson(result.stdout)
    assert sorted(out.paths("done")) == sorted(map(str, photos))
    assert all(r["models"]["labels"].startswith("ollama:") for r in out.records)
    # The classifier above is never needed, so nothing is said about it.
    assert "Traceback" not in result.stderr and "tensorflow" not in result.stderr


def test_scan_with_the_model_missing_says_so_once_and_goes_on(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 4, per_folder=4)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = fallback_config(tmp_path / "vision.yml", server.url, model="notpulled")
        result = xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                           cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("pip install 'xmpvision[tensorflow]'") == 1, result.stderr
    assert result.stderr.count('ollama pull notpulled:latest') == 1, result.stderr
    out = parse_ndjson(result.stdout)
    assert out.summary["failed"] == len(photos)
    assert all("no labels model can run" in r["error"] for r in out.records)


def only(model_type: str, url: str, extra: str = "") -> str:
    """A vision.yml configuring one type (gemma3 at `url`), `extra` entries after it."""
    return (f"Models:\n  - Type: {model_type}\n    Model: gemma3\n"
            f"    Service: {{Uri: \"{url}\"}}\n{extra}")


def test_captions_only_file_leaves_the_missing_classifier_out(tmp_path: Path) -> None:
    # The user asked for captions; the labels default appended for them cannot run here.
    photos = write_photos(tmp_path / "photos", 4, per_folder=4)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = tmp_path / "vision.yml"
        config.write_text(only("caption", server.url))
        result = xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = parse_ndjson(result.stdout)
    assert sorted(out.paths("done")) == sorted(map(str, photos))
    assert all(r["caption"] for r in out.records)
    left_out = [line for line in result.stderr.splitlines() if "left out" in line]
    assert len(left_out) == 1, result.stderr
    assert left_out[0].startswith("xmpvision: labels left out of this run")
    assert "pip install 'xmpvision[tensorflow]'" in left_out[0]
    # The left-out type is never done, so every photo still "needs" it: a deleted sidecar
    # is noticed all the same and written again.
    gone = Path(f"{photos[1]}.xmp")
    gone.unlink()
    with OllamaServer(models=["gemma3:latest"]) as server:
        config.write_text(only("caption", server.url))
        again = xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                          cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert parse_ndjson(again.stdout).paths("done") == [str(photos[1])]
    assert gone.exists()
    # A type the user configured keeps today's rules: its photos fail.
    with OllamaServer(models=["gemma3:latest"]) as server:
        config.write_text(only("caption", server.url, "  - {Type: labels, Default: true}\n"))
        configured = xmpvision("scan", tmp_path / "photos", "--json", "--config", config,
                               "--state", tmp_path / "other.db", cwd=tmp_path)
    assert configured.returncode == 1, configured.stderr
    assert "left out" not in configured.stderr
    assert parse_ndjson(configured.stdout).summary["failed"] == len(photos)


def test_labels_only_file_leaves_the_missing_caption_default_out(tmp_path: Path) -> None:
    # The built-in caption model asks the user's server, which does not have it.
    photos = write_photos(tmp_path / "photos", 3, per_folder=3)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = tmp_path / "vision.yml"
        config.write_text(only("labels", server.url))
        result = xmpvision("scan", tmp_path / "photos", "--config", config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("done ") == len(photos), result.stdout
    (line,) = [x for x in result.stderr.splitlines() if "left out" in x]
    assert "caption left out of this run" in line and "ollama pull gemma4:latest" in line


def test_context_place_without_the_place_names_warns_once(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 2, per_folder=2)
    with OllamaServer(models=["gemma3:latest"]) as server:
        config = tmp_path / "vision.yml"
        labels = only("labels", server.url).removeprefix("Models:\n")
        config.write_text(only("caption", server.url, "    Context: [date, place]\n" + labels))
        first = xmpvision("scan", tmp_path / "photos", "--config", config, cwd=tmp_path)
        second = xmpvision("scan", tmp_path / "photos", "--config", config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    warned = [line for line in first.stderr.splitlines() if "Context" in line]
    assert warned == [f"{config}:5:5: Models[0].Context: place needs the offline place names: "
                      "pip install 'xmpvision[places]'; until then photos get no place hint"]
    assert "Context" not in second.stderr
