"""The daemon's engines are shared across jobs, but a failed readiness check expires."""

from __future__ import annotations

import pytest

from tests.ollama_server import OllamaServer
from xmpvision.config import parse_config
from xmpvision.config.models import Thresholds
from xmpvision.daemon.engines import SharedEngines
from xmpvision.engines import create_engine
from xmpvision.errors import ModelNotFound


def test_a_model_missing_at_one_job_is_asked_for_again_at_the_next() -> None:
    with OllamaServer(models=[]) as server:
        config = parse_config(
            f"Models:\n  - {{Type: caption, Model: llava, Service: {{Uri: '{server.url}'}}}}\n")
        model = config.models[0]
        made: list[object] = []

        def make(m: object) -> object:
            engine = create_engine(model, Thresholds())
            made.append(engine)
            return engine

        shared = SharedEngines(make)  # type: ignore[arg-type]
        with pytest.raises(ModelNotFound):
            shared.factory(model).check_ready()
        # Remembered within the job: asked once.
        with pytest.raises(ModelNotFound):
            shared.factory(model).check_ready()
        assert len(made) == 1
        server.add_model("llava")  # pulled before the next job
        shared.expire_failures()
        shared.factory(model).check_ready()
        assert len(made) == 2
        shared.expire_failures()  # a ready engine is kept
        shared.factory(model).close()  # a job closing it does not close it
        shared.factory(model).check_ready()
        assert len(made) == 2
        shared.close()
