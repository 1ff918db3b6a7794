"""The model-type table: every type list is read from it, and a schedule can run any type
xmpvision runs (titles too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from tests.library_builder import Collect, write_config, write_photos
from tests.ollama_server import OllamaServer
from xmpvision import modeltypes
from xmpvision.config import load_config
from xmpvision.config.builtin import builtin_model
from xmpvision.config.defaults import DEFAULT_SCHEDULE_MODELS
from xmpvision.config.models import GENERATED_TYPES, MODEL_TYPES, SUPPORTED_TYPES, ModelConfig
from xmpvision.config.schedules import ScheduleJob, parse_schedule_file
from xmpvision.engines.prompts import question
from xmpvision.jobs import run_models
from xmpvision.pipeline import RunOptions
from xmpvision.report import PhotoReport
from xmpvision.results import GeneratedText, Label, PhotoResult
from xmpvision.runmodes import RunMode
from xmpvision.sidecar import RESET_TYPES, read_sidecar


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OllamaServer]:
    monkeypatch.setenv("XMPVISION_NO_DOWNLOAD", "1")
    with OllamaServer(models=["gemma3:latest"]) as emulator:
        yield emulator


def test_every_type_list_is_the_tables() -> None:
    names = tuple(row.name for row in modeltypes.TYPES)
    assert SUPPORTED_TYPES == GENERATED_TYPES == RESET_TYPES == names
    assert (*names, "generate", "nsfw", "face") == MODEL_TYPES
    schedule_models = ScheduleJob.model_fields["models"].annotation
    assert get_args(get_args(schedule_models)[0]) == names
    runs_unasked = tuple(row.name for row in modeltypes.TYPES if row.run is RunMode.AUTO)
    assert runs_unasked == DEFAULT_SCHEDULE_MODELS
    for row in modeltypes.TYPES:
        assert builtin_model(row.name).run is row.run
        assert ModelConfig(type=row.name, engine="ollama", model="m").type == row.name


def test_a_text_types_question_and_report_keys_come_from_its_row() -> None:
    for row in modeltypes.TEXT_TYPES:
        model = ModelConfig(type=row.name, engine="ollama", model="m")
        asked = question(model, row.name)
        assert (asked.system, asked.prompt) == (row.system, row.prompt)
        text = GeneratedText(text="Pier", source="ollama", model="m", engine="ollama")
        record = PhotoReport(Path("p.jpg"), "done",
                             result=PhotoResult(texts={row.name: text})).to_dict()
        assert {key: record[key] for key in row.ndjson_keys()} == {
            key: "Pier" if key == row.key else "ollama" if key.endswith("_source") else None
            for key in row.ndjson_keys()}


def test_a_schedule_runs_titles(tmp_path: Path, server: OllamaServer) -> None:
    (job,) = parse_schedule_file("Name: titles\nPaths: [/p]\nEvery: 1h\nModels: [title]\n",
                                 "s.yml")
    assert job.models == ["title"]
    (photo,) = write_photos(tmp_path / "photos", 1)
    config = load_config(write_config(tmp_path / "vision.yml", server.url,
                                      types=("title",))).config
    collect = Collect()
    result = run_models(config, [tmp_path / "photos"], types=job.models,
                        contexts=(RunMode.ON_SCHEDULE,), options=RunOptions(),
                        reporter=collect, state_path=tmp_path / "state.db")
    assert result.ok, collect.reports
    state = read_sidecar(photo.with_name(photo.name + ".xmp"))
    assert state.title and state.provenance.title is not None
    assert state.caption is None and not state.subjects


def test_a_result_holds_each_types_value_by_name() -> None:
    result = PhotoResult()
    for row in modeltypes.TYPES:
        value: list[Label] | GeneratedText = [] if row.shape == "keywords" else GeneratedText(
            text=row.noun, source="ollama", model="m", engine="ollama")
        result.set_value(row.name, value)
        assert result.value(row.name) == value
    assert result.caption is result.texts["caption"] and result.title is result.texts["title"]
