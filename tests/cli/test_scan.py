"""`xmpvision scan` end to end: a real library on disk, the Ollama emulator on loopback, the
real CLI (in a subprocess where exit codes, stderr and permissions matter, else CliRunner),
and the sidecars read back with exiftool."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.library_builder import (
    Library,
    add_bad_files,
    add_every_format,
    add_non_utf8_name,
    add_permission_cases,
    add_symlink_loop,
    as_list,
    exiftool_json,
    heif_unavailable,
    image_bytes,
    jpeg_bytes,
    parse_ndjson,
    permissions_enforced,
    restore_permissions,
    run_xmpvision,
    sidecar_of,
    state_results,
    write,
    write_config,
    write_photos,
)
from tests.ollama_server import DEFAULT_CAPTION, DEFAULT_KEYWORD_PATHS, Fault, OllamaServer
from xmpvision.cli import app
from xmpvision.runlock import run_lock

runner = CliRunner()

KEYWORDS = ["Dog", "Beach"]  # what the emulator's default labels become


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer(models=["gemma3:latest"], parallel=4) as emulator:
        yield emulator


def scan(tmp_path: Path, root: Path, config: Path, *extra: str) -> Result:
    return runner.invoke(app, ["scan", str(root), "--json", "--state", str(tmp_path / "state.db"),
                               "--config", str(config), *extra])


def assert_sidecars_complete(photos: list[str | bytes]) -> None:
    """Every photo has its sidecar, with our keywords and caption, read back by exiftool."""
    sidecars = [sidecar_of(p) for p in photos]
    for sidecar in sidecars:
        assert os.path.exists(sidecar), f"no sidecar {sidecar!r}"
    for sidecar, record in zip(sidecars, exiftool_json(sidecars), strict=True):
        assert as_list(record.get("Subject")) == KEYWORDS, (sidecar, record)
        assert as_list(record.get("HierarchicalSubject")) == DEFAULT_KEYWORD_PATHS, (
            sidecar, record)
        assert record.get("Description") == DEFAULT_CAPTION, (sidecar, record)
        assert [k["Name"] for k in as_list(record.get("Keywords"))] == KEYWORDS


# --- 1. every format, every bad file, through a real process --------------------------------


def test_scan_every_format_and_every_bad_file(tmp_path: Path, server: OllamaServer) -> None:
    library = Library(tmp_path / "photos")
    heic_missing = heif_unavailable()
    add_every_format(library, heic=heic_missing is None)
    add_bad_files(library)
    raw_name = add_non_utf8_name(library)
    loop = add_symlink_loop(library)
    config = write_config(tmp_path / "vision.yml", server.url, parallel=4)
    state = tmp_path / "state.db"
    result = run_xmpvision("scan", library.root, "--json", "--follow-symlinks",
                           "--state", state, "--config", config)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    out = parse_ndjson(result.stdout)  # every line is JSON, the summary is the last one
    good = library.all_good()
    assert out.summary["done"] == len(good)
    assert out.summary["failed"] == len(library.bad)
    # The symlink loop is said, and is not a failed photo.
    assert out.summary["unchanged"] == 0 and out.summary["skipped"] == 1
    assert len(out.records) == len(good) + len(library.bad) + 1
    (skipped,) = out.by_status("skipped")
    assert skipped["path"] == str(loop) and "symlink loop" in skipped["error"]

    records = {os.fsencode(r["path"]): r for r in out.records}
    for photo in good:
        record = records[os.fsencode(photo)]
        assert record["status"] == "done", record
        assert os.fsencode(record["sidecar"]) == os.fsencode(sidecar_of(photo))
        assert [x["name"] for x in record["labels"]] == KEYWORDS
        assert record["caption"] == DEFAULT_CAPTION
    assert records[raw_name]["status"] == "done"  # a Latin-1 name is a good photo
    assert_sidecars_complete(good)
    for path, reason in library.bad.items():
        record = records[os.fsencode(path)]
        assert record["status"] == "failed", record
        assert str(path) in record["error"], record  # names the file ...
        assert reason in record["error"].lower(), record  # ... and the reason
        if path.suffix:
            assert not os.path.lexists(sidecar_of(path)), f"sidecar written for bad {path}"

    # Again: the files that are bad in themselves and unchanged are skipped, not decoded and
    # failed again, so a nightly run comes out clean (the loop is not followed this time).
    bad_files = dict(library.bad)
    again = run_xmpvision("scan", library.root, "--json", "--state", state, "--config", config)
    assert again.returncode == 0, again.stderr
    out = parse_ndjson(again.stdout)
    assert out.summary["skipped"] == len(bad_files) and out.summary["failed"] == 0
    assert out.summary["unchanged"] == len(good)
    for record in out.by_status("skipped"):
        reason = bad_files[Path(record["path"])]
        assert reason in record["error"].lower() and "--retry-failed" in record["error"]

    retried = run_xmpvision("scan", library.root, "--json", "--retry-failed", "--state", state,
                            "--config", config)
    assert retried.returncode == 1, retried.stderr
    out = parse_ndjson(retried.stdout)
    assert sorted(out.paths("failed")) == sorted(map(str, bad_files))
    assert out.summary["skipped"] == 0


def require_permissions() -> None:
    """Skip when file permissions cannot be enforced here; CI (XMPVISION_REQUIRE_READERS=1)
    must be able to, so there it is a failure."""
    reason = permissions_enforced()
    if reason is None:
        return
    if os.environ.get("XMPVISION_REQUIRE_READERS") == "1":
        pytest.fail(f"XMPVISION_REQUIRE_READERS=1 but {reason}")
    pytest.skip(reason)


def test_unreadable_photo_and_read_only_folder_fail_and_are_retried(
    tmp_path: Path, server: OllamaServer
) -> None:
    require_permissions()
    library = Library(tmp_path / "photos")
    good = write(library.root / "good.jpg", jpeg_bytes())
    locked, read_only = add_permission_cases(library)
    config = write_config(tmp_path / "vision.yml", server.url)
    try:
        runs = [run_xmpvision("scan", library.root, "--json", "--state", tmp_path / "state.db",
                              "--config", config, enforce_permissions=True) for _ in range(2)]
    finally:
        restore_permissions(library.root)
    first, second = runs
    assert "Traceback" not in first.stderr + second.stderr, first.stderr + second.stderr
    assert first.returncode == 1, first.stderr
    records = {r["path"]: r for r in parse_ndjson(first.stdout).records}
    assert records[str(good)]["status"] == "done"
    for path in (locked, read_only):
        assert records[str(path)]["status"] == "failed", records[str(path)]
        assert "permission denied" in records[str(path)]["error"].lower()
    assert not os.path.lexists(sidecar_of(read_only))
    # Not the files' own failures: a chmod fixes them without changing the files, so they
    # are tried again on the next run, not skipped.
    assert second.returncode == 1, second.stderr
    assert sorted(parse_ndjson(second.stdout).paths("failed")) == sorted(
        map(str, (locked, read_only)))


def test_heic_photo_is_scanned(tmp_path: Path, server: OllamaServer) -> None:
    reason = heif_unavailable()
    if reason is not None:
        pytest.skip(reason)
    photo = write(tmp_path / "photos" / "IMG_0001.HEIC", image_bytes("HEIF"))
    result = scan(tmp_path, photo.parent, write_config(tmp_path / "vision.yml", server.url))
    assert result.exit_code == 0, result.output
    assert parse_ndjson(result.stdout).paths("done") == [str(photo)]
    assert_sidecars_complete([str(photo)])


def test_symlink_loop_is_not_walked_without_follow(tmp_path: Path, server: OllamaServer) -> None:
    library = Library(tmp_path / "photos")
    add_symlink_loop(library)
    result = scan(tmp_path, library.root, write_config(tmp_path / "vision.yml", server.url))
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert out.paths() == [str(p) for p in library.good]  # links are skipped, the photo is done


def test_stale_temp_file_in_read_only_folder_is_reported_not_a_crash(
    tmp_path: Path, server: OllamaServer
) -> None:
    """A sidecar temp file left by a killed run, then the folder made read-only."""
    require_permissions()
    folder = tmp_path / "photos" / "ro"
    photo = write(folder / "a.jpg", jpeg_bytes())
    write(folder / ".a.jpg.xmp.xmpvision.tmp", b"<x:xmpmeta")
    good = write(tmp_path / "photos" / "b.jpg", jpeg_bytes())
    folder.chmod(0o555)
    config = write_config(tmp_path / "vision.yml", server.url)
    try:
        result = run_xmpvision("scan", tmp_path / "photos", "--json", "--state",
                               tmp_path / "state.db", "--config", config,
                               enforce_permissions=True)
    finally:
        restore_permissions(tmp_path / "photos")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    records = {r["path"]: r for r in parse_ndjson(result.stdout).records}
    assert records[str(good)]["status"] == "done"
    assert records[str(photo)]["status"] == "failed"
    assert "permission denied" in records[str(photo)]["error"].lower()


# --- 2. rescans ----------------------------------------------------------------------------


def _rescan_library(tmp_path: Path) -> Library:
    library = Library(tmp_path / "photos")
    add_every_format(library, heic=heif_unavailable() is None)
    add_bad_files(library)
    add_non_utf8_name(library)
    add_symlink_loop(library)
    return library


def test_rescan_is_a_no_op_and_skips_known_bad_files(tmp_path: Path,
                                                     server: OllamaServer) -> None:
    library = _rescan_library(tmp_path)
    config = write_config(tmp_path / "vision.yml", server.url, parallel=2)
    first = scan(tmp_path, library.root, config, "--follow-symlinks")
    assert first.exit_code == 1, first.output
    good = library.all_good()
    sidecars = {p: Path(os.fsdecode(sidecar_of(p))).read_bytes() for p in good}
    server.clear()

    second = scan(tmp_path, library.root, config, "--follow-symlinks")
    assert second.exit_code == 0, second.output  # the symlink loop is not a failure
    out = parse_ndjson(second.stdout)
    assert out.summary["unchanged"] == len(good) and out.summary["done"] == 0
    bad_files = sorted(str(p) for p in library.bad)
    assert out.summary["failed"] == 0
    assert out.summary["skipped"] == len(bad_files) + len(library.loops)
    assert sorted(os.fsencode(p) for p in out.paths("unchanged")) == sorted(
        os.fsencode(p) for p in good)
    assert sorted(out.paths("skipped")) == sorted([*bad_files, *map(str, library.loops)])
    assert server.generate_requests() == []
    for photo, data in sidecars.items():
        assert Path(os.fsdecode(sidecar_of(photo))).read_bytes() == data
    # Their failures are still recorded.
    state = state_results(tmp_path / "state.db")
    for path in bad_files:
        assert state[path] == {"labels": "failed", "caption": "failed"}


def test_rescan_redoes_only_the_modified_photo(tmp_path: Path, server: OllamaServer) -> None:
    photos = write_photos(tmp_path / "photos", 6, per_folder=3)
    config = write_config(tmp_path / "vision.yml", server.url)
    assert scan(tmp_path, tmp_path / "photos", config).exit_code == 0
    server.clear()
    server.respond('{"labels": [{"name": "harbour", "confidence": 0.9}]}', kind="labels")
    server.respond("A boat lies in a quiet harbour.", kind="caption")
    edited, touched, user_edited = photos[1], photos[4], photos[5]
    # The user rewrote one photo's caption (exiftool, as a photo manager would), then all
    # three photos changed on disk.
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    "-XMP-dc:Description=My own words", sidecar_of(user_edited)], check=True)
    edited.write_bytes(jpeg_bytes((32, 24), (1, 2, 3)))
    for photo in (touched, user_edited):
        stat = photo.stat()
        os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    result = scan(tmp_path, tmp_path / "photos", config)
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert sorted(out.paths("done")) == sorted(map(str, (edited, touched, user_edited)))
    assert out.summary["unchanged"] == 3
    assert len(server.generate_requests()) == 6  # labels + caption for each of the three
    redone = exiftool_json([sidecar_of(edited), sidecar_of(touched), sidecar_of(user_edited)])
    # A changed photo gets fresh values in place of ours; the caption the user wrote stays.
    assert [as_list(r["Subject"]) for r in redone] == [["Harbour"]] * 3
    assert [r["Description"] for r in redone] == [
        "A boat lies in a quiet harbour.", "A boat lies in a quiet harbour.", "My own words",
    ]
    assert_sidecars_complete([str(p) for p in photos if p not in (edited, touched, user_edited)])


def test_renamed_photo_is_recognised_as_moved(tmp_path: Path, server: OllamaServer) -> None:
    photos = write_photos(tmp_path / "photos", 4, per_folder=4)
    config = write_config(tmp_path / "vision.yml", server.url)
    assert scan(tmp_path, tmp_path / "photos", config).exit_code == 0
    server.clear()
    # One renamed with `mv` (its sidecar stays behind), one renamed with its sidecar, as a
    # photo manager does.
    alone, together = photos[0], photos[2]
    alone_new = alone.with_name("renamed_alone.jpg")
    together_new = together.with_name("renamed_together.jpg")
    sidecar_bytes = Path(sidecar_of(alone)).read_bytes()
    alone.rename(alone_new)
    together.rename(together_new)
    Path(sidecar_of(together)).rename(sidecar_of(together_new))

    result = scan(tmp_path, tmp_path / "photos", config)
    assert result.exit_code == 0, result.output
    out = parse_ndjson(result.stdout)
    assert out.summary["done"] == 0 and out.summary["failed"] == 0
    assert sorted(out.paths("unchanged")) == sorted(
        str(p) for p in (alone_new, together_new, photos[1], photos[3]))
    assert server.generate_requests() == []  # not redone
    state = state_results(tmp_path / "state.db")
    assert state[str(alone_new)] == {"labels": "done", "caption": "done"}
    assert str(alone) not in state
    # The sidecar follows the photo: one sidecar, under the new name, with what it held.
    assert not os.path.lexists(sidecar_of(alone))
    assert Path(sidecar_of(alone_new)).read_bytes() == sidecar_bytes
    assert_sidecars_complete([str(alone_new), str(together_new)])


# --- 3. fallback and failures ---------------------------------------------------------------


def test_server_errors_are_retried_then_the_next_model_answers(
    tmp_path: Path, server: OllamaServer
) -> None:
    server.add_model("llava:latest")
    server.add_fault(Fault("status", times=10_000, status=500, model="gemma3:latest"))
    service = f'Service: {{Uri: "{server.url}"}}'
    # Models are tried bottom-up: gemma3 (always 500) first, then llava above it.
    config = tmp_path / "vision.yml"
    config.write_text("Models:\n" + "".join(
        f"  - Type: {kind}\n    Model: {model}\n    {service}\n"
        for model in ("llava", "gemma3") for kind in ("labels", "caption")))
    photo = write(tmp_path / "photos" / "a.jpg", jpeg_bytes())
    result = scan(tmp_path, photo.parent, config)
    assert result.exit_code == 0, result.output
    record = parse_ndjson(result.stdout).records[0]
    assert record["status"] == "done"
    assert record["models"] == {"labels": "ollama:llava:latest", "caption": "ollama:llava:latest"}
    gemma = [r for r in server.generate_requests() if r.body["model"] == "gemma3:latest"]
    assert sorted(r.kind for r in gemma) == ["caption"] * 3 + ["labels"] * 3  # 3 attempts each
    assert_sidecars_complete([str(photo)])


def test_a_few_server_errors_are_retried_on_the_same_model(
    tmp_path: Path, server: OllamaServer
) -> None:
    server.fail(500, times=2)
    photo = write(tmp_path / "photos" / "a.jpg", jpeg_bytes())
    result = scan(tmp_path, photo.parent, write_config(tmp_path / "vision.yml", server.url))
    assert result.exit_code == 0, result.output
    record = parse_ndjson(result.stdout).records[0]
    assert record["models"] == {"labels": "ollama:gemma3:latest",
                                "caption": "ollama:gemma3:latest"}
    assert len(server.generate_requests()) == 4


def test_ollama_down_falls_back_to_the_classifier(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from tests.engines.tensorflow.model_builder import build_photoprism_model, color_weights

    classes = ["background", "tabby, tabby cat", "sports car, sport car"]
    weights = color_weights(classes, {"tabby, tabby cat": "r", "sports car, sport car": "b"})
    model = build_photoprism_model(tmp_path / "nasnet", classes, weights)
    down = "http://127.0.0.1:9"  # discard port: connection refused
    config = tmp_path / "vision.yml"
    config.write_text(textwrap.dedent(f"""\
        Models:
          - Type: labels
            Engine: tensorflow
            Path: {model}
          - Type: labels
            Model: gemma3
            Service: {{Uri: "{down}", ConnectTimeout: 1s}}
          - Type: caption
            Model: gemma3
            Service: {{Uri: "{down}", ConnectTimeout: 1s}}
        """))
    photo = write(tmp_path / "photos" / "red.jpg", jpeg_bytes((64, 48), (255, 0, 0)))
    result = scan(tmp_path, photo.parent, config)
    assert result.exit_code == 1, result.output  # the caption has no fallback
    record = parse_ndjson(result.stdout).records[0]
    assert [(x["name"], x["source"]) for x in record["labels"]] == [("Cat", "image")]
    assert record["models"]["labels"].startswith("tensorflow:")
    # The cause and the fix were said once at the top; the photo's own line is short.
    assert "no caption model can run" in record["error"]
    assert result.stderr.count("cannot connect to Ollama") == 1, result.stderr
    (sidecar,) = exiftool_json([sidecar_of(photo)])
    assert as_list(sidecar["Subject"]) == ["Cat"] and "Description" not in sidecar
    assert [k["Source"] for k in as_list(sidecar["Keywords"])] == ["image"]
    assert state_results(tmp_path / "state.db")[str(photo)] == {"labels": "done",
                                                                "caption": "failed"}


def test_ollama_down_fails_each_photo_and_the_next_run_does_them(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 4, per_folder=2)
    config = write_config(tmp_path / "vision.yml", "http://127.0.0.1:9")
    result = scan(tmp_path, tmp_path / "photos", config)
    assert result.exit_code == 1, result.output
    out = parse_ndjson(result.stdout)
    assert out.summary["failed"] == 4 and out.summary["done"] == 0
    # A newcomer whose Ollama is not started: one line at the top names the service, the
    # cause and the fix; each photo's own line is short.
    top = "cannot connect to Ollama at http://127.0.0.1:9 (connection refused)"
    assert result.stderr.count(top) == 1, result.stderr
    assert "Service.Uri" in result.stderr.split(top, 1)[1].splitlines()[0]
    for record in out.records:
        assert record["status"] == "failed"
        assert "labels:" in record["error"] and "caption:" in record["error"]
        assert len(record["error"]) < 160 and "unavailable" in record["error"], record
    assert "Traceback" not in result.stderr
    assert not any(os.path.lexists(sidecar_of(p)) for p in photos)
    state = state_results(tmp_path / "state.db")
    assert all(state[str(p)] == {"labels": "failed", "caption": "failed"} for p in photos)

    with OllamaServer(models=["gemma3:latest"]) as back:
        write_config(config, back.url)
        again = scan(tmp_path, tmp_path / "photos", config)
    assert again.exit_code == 0, again.output
    assert sorted(parse_ndjson(again.stdout).paths("done")) == sorted(str(p) for p in photos)
    assert_sidecars_complete([str(p) for p in photos])


def test_missing_model_is_one_clear_error_not_a_storm(tmp_path: Path,
                                                      server: OllamaServer) -> None:
    photos = write_photos(tmp_path / "photos", 6, per_folder=6)
    config = write_config(tmp_path / "vision.yml", server.url, types=("labels",),
                          model="x", parallel=3)
    result = scan(tmp_path, tmp_path / "photos", config)
    assert result.exit_code == 1, result.output
    message = 'model "x:latest" not found'
    assert re.search(r'model "x:latest" not found.*ollama pull x:latest', result.stderr)
    assert result.stderr.count(message) == 1, result.stderr
    out = parse_ndjson(result.stdout)
    assert out.summary["failed"] == len(photos)
    assert all("ollama:x:latest unavailable" in r["error"] for r in out.records)
    shows = [r for r in server.requests if r.path == "/api/show"]
    assert len(shows) == 1
    assert server.generate_requests() == []


# --- 4. concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [3, 8])
def test_labels_and_caption_share_the_service_slots(tmp_path: Path, capacity: int) -> None:
    """Service.Parallel: 3 means 3 requests in flight on that Ollama, for both models together;
    with a server that would take more (capacity 8) the client is what holds it to 3."""
    photos = write_photos(tmp_path / "photos", 8, per_folder=4)
    # Latency long enough that the workers' requests overlap even on a loaded machine.
    with OllamaServer(models=["gemma3:latest"], parallel=capacity, latency=0.15) as emulator:
        config = write_config(tmp_path / "vision.yml", emulator.url, parallel=3)
        result = scan(tmp_path, tmp_path / "photos", config)
        assert result.exit_code == 0, result.output
        assert emulator.max_in_flight == 3
        assert len(emulator.generate_requests()) == 2 * len(photos)


# --- 6. the run lock ------------------------------------------------------------------------


def test_second_run_on_the_same_state_is_refused(tmp_path: Path, server: OllamaServer) -> None:
    photo = write(tmp_path / "photos" / "a.jpg", jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", server.url)
    state = tmp_path / "state.db"
    with run_lock(state):
        result = scan(tmp_path, photo.parent, config)
        assert result.exit_code == 2
        assert "another xmpvision run is using" in result.stderr
        assert "--state" in result.stderr
        assert result.stdout == ""
    assert server.generate_requests() == []
    assert not os.path.lexists(sidecar_of(photo))
    assert scan(tmp_path, photo.parent, config).exit_code == 0  # released: runs again


def test_keyword_parent_nests_our_keywords(tmp_path: Path, server: OllamaServer) -> None:
    photo = write(tmp_path / "photos" / "dog.jpg", jpeg_bytes())
    config = write_config(tmp_path / "vision.yml", server.url)
    config.write_text(config.read_text() + "Sidecar: {KeywordParent: AI}\n")
    result = scan(tmp_path, photo.parent, config)
    assert result.exit_code == 0, result.output
    (record,) = exiftool_json([sidecar_of(photo)])
    assert as_list(record["Subject"]) == KEYWORDS
    assert as_list(record["HierarchicalSubject"]) == [f"AI|{k}" for k in DEFAULT_KEYWORD_PATHS]


def test_a_missing_folder_or_a_non_photo_is_a_usage_error(tmp_path: Path,
                                                           server: OllamaServer) -> None:
    config = write_config(tmp_path / "vision.yml", server.url)
    notes = write(tmp_path / "notes.txt", b"not a photo")
    for root, why in ((tmp_path / "missing", "no such folder or photo"),
                      (notes, "not a folder or a supported photo type")):
        result = scan(tmp_path, root, config)
        assert result.exit_code == 2, result.output
        assert f"{root}: {why}" in result.stderr and "Traceback" not in result.stderr
    assert server.requests == []  # nothing was started


def test_a_fallback_that_cannot_run_is_said_at_the_start(tmp_path: Path, server: OllamaServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The owner believes an ONNX classifier backs Ollama up; this install lacks onnxruntime.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    photo = write(tmp_path / "photos" / "dog.jpg", jpeg_bytes())
    config = tmp_path / "vision.yml"
    config.write_text(textwrap.dedent(f"""\
        Models:
          - Type: labels
            Engine: onnx
          - Type: labels
            Model: gemma3
            Service: {{Uri: "{server.url}"}}
          - Type: caption
            Default: true
            Disabled: true
        """))
    result = scan(tmp_path, photo.parent, config)
    assert result.exit_code == 0, result.output
    assert ("labels fallback onnx:efficientformerv2_s2 cannot run if the models before it "
            "fail: onnx engine: onnxruntime not installed; pip install 'xmpvision[onnx]'"
            ) in result.stderr
    assert result.stderr.count("cannot run") == 1


def test_a_deleted_sidecar_is_written_again(tmp_path: Path, server: OllamaServer) -> None:
    made = write_photos(tmp_path / "photos", 3, per_folder=3)
    photos: list[str | bytes] = [str(p) for p in made]
    config = write_config(tmp_path / "vision.yml", server.url)
    assert scan(tmp_path, tmp_path / "photos", config).exit_code == 0
    os.unlink(sidecar_of(photos[1]))
    # Sidecars under the other names a photo's sidecar has still count: IMG.xmp, upper case.
    first, third = (Path(sidecar_of(str(p))) for p in (made[0], made[2]))
    first.rename(first.with_name(made[0].stem + ".xmp"))
    third.rename(third.with_name(third.name.upper()))
    again = scan(tmp_path, tmp_path / "photos", config)
    assert again.exit_code == 0, again.output
    out = parse_ndjson(again.stdout)
    assert out.paths("done") == [photos[1]]
    assert sorted(out.paths("unchanged")) == sorted([str(photos[0]), str(photos[2])])
    (record,) = exiftool_json([sidecar_of(photos[1])])
    assert record.get("Description") == DEFAULT_CAPTION
    assert as_list(record.get("Subject")) == KEYWORDS


def test_scan_force_redoes_photos_already_done(tmp_path: Path, server: OllamaServer) -> None:
    photos = write_photos(tmp_path / "photos", 2, per_folder=2)
    config = write_config(tmp_path / "vision.yml", server.url)
    assert scan(tmp_path, tmp_path / "photos", config).exit_code == 0
    server.clear()
    assert parse_ndjson(scan(tmp_path, tmp_path / "photos", config).stdout).summary[
        "unchanged"] == len(photos)
    forced = scan(tmp_path, tmp_path / "photos", config, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(parse_ndjson(forced.stdout).records) == len(photos)
    assert len(server.generate_requests()) == 2 * len(photos)  # labels and caption again


def test_a_type_added_to_the_config_runs_on_photos_already_done(
    tmp_path: Path, server: OllamaServer
) -> None:
    photos = write_photos(tmp_path / "photos", 4, per_folder=2)
    labels_only = write_config(tmp_path / "labels.yml", server.url, types=("labels",))
    assert scan(tmp_path, tmp_path / "photos", labels_only).exit_code == 0
    server.clear()
    # The rescan's unchanged photos share one plan per set of done types: a plan made for the
    # old types must not answer for the new ones.
    result = scan(tmp_path, tmp_path / "photos", write_config(tmp_path / "both.yml", server.url))
    assert result.exit_code == 0, result.output
    assert sorted(parse_ndjson(result.stdout).paths("done")) == sorted(map(str, photos))
    assert sorted(r.kind for r in server.generate_requests()) == ["caption"] * len(photos)
    assert_sidecars_complete([str(p) for p in photos])
