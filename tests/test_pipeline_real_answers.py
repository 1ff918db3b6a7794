"""Scans against the Ollama emulator answering as Ollama does: models that cannot load, that
think, that are cut at their token budget or stop while repeating themselves, beside one that
works. Every photo gets the working model's caption (read back by exiftool), run after run;
the broken model is asked at most once per run and never counted as "a better model was down"."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.library_builder import Ndjson, exiftool_json, parse_ndjson, sidecar_of, write_photos
from tests.ollama_server import NO_MEMORY, OllamaServer, RecordedRequest, Reply
from xmpvision.cli import app

runner = CliRunner()
GOOD = "A brown dog runs along a sandy beach at sunset."
REASONING = "The user wants me to look at this photo."
CUT = "A brown dog runs along a sandy."
THINKING = ("completion", "vision", "thinking")


def vision_yml(tmp_path: Path, server: OllamaServer, *bad: str) -> Path:
    """Captions: the `bad` models first (the bottom entry is tried first), `small` last."""
    entries = "".join(
        f"  - Type: caption\n    Engine: ollama\n    Model: {name}\n"
        f"    Service: {{Uri: \"{server.url}\", Timeout: 10s}}\n"
        for name in ("small", *reversed(bad))
    )
    path = tmp_path / "vision.yml"
    path.write_text("Models:\n"
                    "  - Type: labels\n    Default: true\n    Disabled: true\n"
                    "  - Type: caption\n    Default: true\n    Disabled: true\n" + entries)
    return path


def scan(tmp_path: Path, cfg: Path, said: list[str] | None = None) -> Ndjson:
    result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--state",
                                 str(tmp_path / "state.db"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    if said is not None:
        said.extend(result.stderr.splitlines())
    return parse_ndjson(result.stdout)


def asked(server: OllamaServer, model: str) -> int:
    return sum(1 for r in server.generate_requests() if r.body["model"] == f"{model}:latest")


def captions(photos: list[Path]) -> set[str | None]:
    return {record.get("Description") for record in exiftool_json(
        [sidecar_of(p) for p in photos])}


def test_a_model_that_cannot_load_beside_one_that_works(tmp_path: Path) -> None:
    with OllamaServer(models=["small:latest"]) as server:
        server.add_model("big:latest", load_error=NO_MEMORY)
        server.respond(GOOD)
        cfg = vision_yml(tmp_path, server, "big")
        photos: list[Path] = []
        for run in range(3):
            photos = write_photos(tmp_path / "photos", 10 * (run + 1), per_folder=10)
            before = asked(server, "big")
            said: list[str] = []
            out = scan(tmp_path, cfg, said)
            assert asked(server, "big") - before <= 1, f"run {run + 1}"
            # Said once, when it was met: not once per photo.
            assert len([line for line in said if "cannot be loaded" in line]) == (
                asked(server, "big") - before), said
            assert out.summary["failed"] == 0 and out.summary["done"] == 10, out.summary
            assert {r["models"]["caption"] for r in out.records} == {"ollama:small:latest"}
            # Not "a better model was down": no later run asks it again for these photos.
            assert all(r["fallback"] == {} for r in out.records), out.records[0]
        assert captions(photos) == {GOOD}


def test_no_reasoning_cut_or_repeating_answer_is_written(tmp_path: Path) -> None:
    def answer(request: RecordedRequest) -> Reply:
        model = request.body["model"]
        if model == "thinker:latest":
            return Reply("", thinking=REASONING, end="length")
        if model == "cut:latest":
            return Reply(CUT, end="length")
        if model == "looper:latest":
            return Reply("dog " * 40, end="repeat")
        return Reply(GOOD)

    with OllamaServer(models=["small:latest", "cut:latest", "looper:latest"]) as server:
        server.add_model("thinker:latest", capabilities=THINKING)
        server.respond(answer)
        photos = write_photos(tmp_path / "photos", 8, per_folder=8)
        for run in range(2):
            out = scan(tmp_path, vision_yml(tmp_path, server, "thinker", "cut", "looper"))
            assert out.summary["failed"] == 0
            # Each bad model costs one request per photo of the first run, none after.
            for model in ("thinker", "cut", "looper"):
                assert asked(server, model) == 8, (run, model)
        assert asked(server, "small") == 8
        assert captions(photos) == {GOOD}
        assert all(r.body["think"] is False for r in server.generate_requests())
