"""Chain resolution (bottom-up) and fallback execution."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xmpvision.chain.pool import EnginePool
from xmpvision.chain.resolve import ModelChain, resolve_chain, runnable_models
from xmpvision.config import ModelConfig, parse_config
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import EngineUnavailable, InvalidPayload, ModelNotFound
from xmpvision.results import Label, PhotoResult, Usage
from xmpvision.runmodes import RunMode

CONFIG = textwrap.dedent(
    """\
    Models:
      - Type: labels
        Default: true
      - Type: labels
        Model: llava:13b
        Run: newly-indexed
      - Type: caption
        Model: llava:13b
      - Type: labels
        Model: gemma3:latest
        Run: newly-indexed
      - Type: caption
        Model: gemma3:latest
    """
)


def test_bottom_most_enabled_model_is_tried_first() -> None:
    chain = resolve_chain(parse_config(CONFIG), "labels")
    assert [(e.model.model_ref, e.order, e.active) for e in chain] == [
        ("gemma3:latest", 1, True),
        ("llava:13b", 2, False),
        ("nasnet", 3, False),
    ]
    assert [e.index for e in chain] == [3, 1, 0]


def test_disabling_the_active_model_promotes_the_next() -> None:
    text = CONFIG.replace("    Model: gemma3:latest\n    Run: newly-indexed\n",
                          "    Model: gemma3:latest\n    Run: newly-indexed\n    Disabled: true\n")
    chain = resolve_chain(parse_config(text), "labels")
    assert [(e.model.model_ref, e.order, e.active) for e in chain] == [
        ("llava:13b", 1, True),
        ("nasnet", 2, False),
        ("gemma3:latest", None, False),
    ]


def test_run_never_and_disabled_service_count_as_disabled() -> None:
    text = CONFIG.replace("  - Type: caption\n    Model: gemma3:latest\n",
                          "  - Type: caption\n    Model: gemma3:latest\n    Run: never\n")
    chain = resolve_chain(parse_config(text), "caption")
    assert [(e.model.model_ref, e.active) for e in chain] == [
        ("llava:13b", True), ("gemma3:latest", False)
    ]


def test_scan_contexts_form_one_chain() -> None:
    config = parse_config(CONFIG)
    scan = runnable_models(config, "labels", [RunMode.ON_INDEX, RunMode.NEWLY_INDEXED])
    assert [m.model_ref for m in scan] == ["gemma3:latest", "llava:13b", "nasnet"]
    inline = runnable_models(config, "labels", [RunMode.ON_INDEX])
    assert [m.model_ref for m in inline] == ["nasnet"]
    schedule = runnable_models(config, "labels", [RunMode.ON_SCHEDULE])
    assert [m.model_ref for m in schedule] == ["nasnet"]


class FakePhoto:
    def __init__(self, path: Path) -> None:
        self.path = path


class ScriptedEngine:
    """An engine whose answers are scripted per model, to exercise the chain's control flow."""

    info = EngineInfo(engine="scripted", source="ollama", endpoint="", format="")

    def __init__(self, model: ModelConfig, script: dict[str, object], calls: list[str]) -> None:
        self.model = model
        self.script = script
        self.calls = calls

    def check_ready(self) -> None:
        answer = self.script.get(f"ready:{self.model.model_ref}")
        if isinstance(answer, Exception):
            raise answer

    guarded = False

    def answer(self, photo: object, types: tuple[str, ...]) -> PhotoResult:
        assert types == ("labels",)
        self.calls.append(self.model.model_ref)
        answer = self.script[self.model.model_ref]
        if isinstance(answer, Exception):
            raise answer
        return PhotoResult(labels=[Label(name=str(answer), confidence=0.9, source="ollama",
                                         model=self.model.model_ref, engine="ollama")],
                           tokens=[("labels", Usage(7, 1300, 900))])


def _chain(script: dict[str, object], calls: list[str]) -> ModelChain:
    config = parse_config(CONFIG)
    models = runnable_models(config, "labels", [RunMode.ON_INDEX, RunMode.NEWLY_INDEXED])
    pool = EnginePool(lambda m: ScriptedEngine(m, script, calls))
    return ModelChain("labels", models, pool)


def test_fallback_to_next_model_on_failure(tmp_path: Path) -> None:
    calls: list[str] = []
    chain = _chain({"gemma3:latest": InvalidPayload("not json"), "llava:13b": "Cat",
                    "nasnet": "Tabby"}, calls)
    outcome = chain.ask(FakePhoto(tmp_path / "a.jpg"))  # type: ignore[arg-type]
    assert outcome.value is not None and outcome.value.labels is not None
    assert outcome.value.labels[0].name == "Cat"
    assert outcome.model is not None and outcome.model.model_ref == "llava:13b"
    assert calls == ["gemma3:latest", "llava:13b"]
    assert outcome.errors == ["ollama:gemma3:latest: not json"]


def test_answer_tokens_of_every_answer_are_kept(tmp_path: Path) -> None:
    """What an answer that could not be used cost counts like the one used."""
    calls: list[str] = []
    unusable = InvalidPayload("not json")
    unusable.spent = Usage(40, 1310, 910)
    chain = _chain({"gemma3:latest": unusable, "llava:13b": "Cat"}, calls)
    outcome = chain.ask(FakePhoto(tmp_path / "a.jpg"))  # type: ignore[arg-type]
    assert outcome.tokens == [("labels", Usage(40, 1310, 910)), ("labels", Usage(7, 1300, 900))]


def test_every_model_failing_gives_one_error_per_model(tmp_path: Path) -> None:
    calls: list[str] = []
    chain = _chain({"gemma3:latest": EngineUnavailable("connection refused"),
                    "llava:13b": InvalidPayload("bad"),
                    "nasnet": EngineUnavailable("tensorflow missing")}, calls)
    outcome = chain.ask(FakePhoto(tmp_path / "a.jpg"))  # type: ignore[arg-type]
    assert outcome.value is None
    assert outcome.error is not None
    assert "connection refused" in outcome.error and "tensorflow missing" in outcome.error


def test_model_not_ready_is_checked_once_and_skipped(tmp_path: Path) -> None:
    calls: list[str] = []
    script: dict[str, object] = {
        "ready:gemma3:latest": ModelNotFound('model "gemma3:latest" not found'),
        "llava:13b": "Dog", "nasnet": "x",
    }
    created: list[str] = []

    def factory(model: ModelConfig) -> ScriptedEngine:
        created.append(model.model_ref)
        return ScriptedEngine(model, script, calls)

    config = parse_config(CONFIG)
    models = runnable_models(config, "labels", [RunMode.MANUAL])
    chain = ModelChain("labels", models, EnginePool(factory))
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        outcome = chain.ask(FakePhoto(tmp_path / name))  # type: ignore[arg-type]
        assert outcome.value is not None and outcome.value.labels is not None
        assert outcome.value.labels[0].name == "Dog"
    assert created == ["gemma3:latest", "llava:13b"]  # the missing model is not retried
    assert calls == ["llava:13b"] * 3


def test_image_errors_are_not_swallowed(tmp_path: Path) -> None:
    from xmpvision.errors import ImageError

    calls: list[str] = []
    chain = _chain({"gemma3:latest": ImageError(tmp_path / "a.jpg", "truncated")}, calls)
    with pytest.raises(ImageError):
        chain.ask(FakePhoto(tmp_path / "a.jpg"))  # type: ignore[arg-type]
