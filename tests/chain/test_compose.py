"""One way to build an engine: a scan and a daemon job compose every engine kind the same way
(chain/compose.py), and what an engine can do is read from its kind's declaration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import MODEL, Collect, photos
from tests.ollama_server import OllamaServer
from tests.openai_server import OpenAIServer
from xmpvision import jobs
from xmpvision.chain import analyzer as analyzer_module
from xmpvision.chain.breaker import Breaker, Breakers
from xmpvision.chain.compose import Engines, compose
from xmpvision.chain.dispatch import Dispatch
from xmpvision.chain.pool import Runner, ServiceSlots, Throttled
from xmpvision.config import parse_config
from xmpvision.config.models import ModelConfig
from xmpvision.daemon.service import Daemon, Setup
from xmpvision.engines import describe
from xmpvision.errors import EngineError, EngineUnavailable
from xmpvision.pipeline import RunOptions

Shape = tuple[object, ...]


def shape(runner: Runner) -> Shape:
    """The layers of a composed engine, bottom up, as far as they can be told apart."""
    if isinstance(runner, Dispatch):
        return ("dispatch", len(runner._endpoints),
                tuple(type(e.engine).__name__ for e in runner._endpoints))
    assert isinstance(runner, Throttled)
    engine = runner._engine
    watched = getattr(engine, "observer", None) is not None
    return ("throttled", runner.breaker is not None, type(engine).__name__, watched)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Shape | str]]:
    shapes: dict[str, Shape | str] = {}
    real: Callable[..., tuple[Runner, list[Breaker]]] = compose

    def spy(model: ModelConfig, *args: object) -> tuple[Runner, list[Breaker]]:
        name = f"{model.type}:{model.engine}:{model.model_ref}"
        try:
            runner, breakers = real(model, *args)
        except EngineError as exc:
            shapes[name] = f"unavailable: {type(exc).__name__}"
            raise
        shapes[name] = shape(runner)
        return runner, breakers

    monkeypatch.setattr(analyzer_module, "compose", spy)
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    monkeypatch.setenv("XMPVISION_MODELS", "/nonexistent")
    yield shapes


def vision(ollama: list[str], openai: str) -> str:
    uris = ", ".join(f"'{u}'" for u in ollama)
    return (
        "Models:\n"
        "  - {Type: labels, Engine: tensorflow}\n"
        "  - {Type: labels, Engine: onnx}\n"
        f"  - {{Type: labels, Engine: openai, Model: vision-1, Service: {{Uri: '{openai}',"
        " Key: k}}\n"
        f"  - {{Type: caption, Engine: ollama, Model: {MODEL}, Service: {{Uri: '{ollama[0]}'}}}}\n"
        f"  - {{Type: title, Engine: ollama, Model: {MODEL}, Run: auto,"
        f" Service: {{Uri: [{uris}]}}}}\n"
        "Health: {Restart: none}\n"
    )


def test_a_scan_and_a_daemon_job_compose_every_engine_kind_alike(
        tmp_path: Path, recorded: dict[str, Shape | str]) -> None:
    with OllamaServer(models=[MODEL]) as one, OllamaServer(models=[MODEL]) as two, \
            OpenAIServer(models=["vision-1"]) as openai:
        text = vision([one.url, two.url], openai.base_url)
        library = tmp_path / "library"
        photos(library, 2)
        config = parse_config(text)
        jobs.run_scan(config, [library], options=RunOptions(force=True), reporter=Collect(),
                      state_path=tmp_path / "scan.sqlite3")
        scanned = dict(recorded)
        recorded.clear()
        (tmp_path / "vision.yml").write_text(
            text + f"Daemon: {{Paths: [{library}], Worker: {{Watch: false}}}}\n")
        (tmp_path / "schedules").mkdir()
        daemon = Daemon(Setup(tmp_path / "vision.yml", tmp_path / "schedules",
                              tmp_path / "daemon.sqlite3"))
        try:
            daemon._run("job", [library], ("labels", "caption", "title"),
                        jobs.SCAN_CONTEXTS, RunOptions(force=True))
        finally:
            daemon._runtime.close()
            daemon._store.close()
    assert recorded == scanned
    assert scanned[f"caption:ollama:{MODEL}"] == ("throttled", True, "OllamaEngine", True)
    assert scanned[f"title:ollama:{MODEL}"] == ("dispatch", 2, ("OllamaEngine",) * 2)
    assert scanned["labels:openai:vision-1"] == ("throttled", True, "OpenAIEngine", False)
    # The classifiers are behind the vision model that answered: not built at all, or built
    # without a breaker (they have no server).
    for name, found in scanned.items():
        if name.startswith(("labels:tensorflow", "labels:onnx")):
            assert isinstance(found, str) or found[:2] == ("throttled", False)


def test_an_engine_that_cannot_answer_the_type_is_refused_before_it_is_built() -> None:
    config = parse_config("Models:\n  - {Type: caption, Engine: tensorflow}\n")
    model = next(m for m in config.models if m.type == "caption")
    made: list[ModelConfig] = []

    def make(m: ModelConfig) -> object:
        made.append(m)
        raise AssertionError("not built")

    engines = Engines(config.thresholds, make=make)  # type: ignore[arg-type]
    with pytest.raises(EngineUnavailable, match="cannot answer caption; it answers labels"):
        compose(model, engines, ServiceSlots([describe(model)]), Breakers())
    assert made == []
