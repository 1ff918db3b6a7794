"""Shared fixtures: the Ollama emulator on loopback; nothing remembered between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ollama_server import OllamaServer
from xmpvision.engines.openai import REFUSALS


@pytest.fixture
def ollama_server() -> Iterator[OllamaServer]:
    """A started emulator with gemma3:latest, no latency, one slot; stopped after the test."""
    with OllamaServer(models=["gemma3:latest"]) as server:
        yield server


@pytest.fixture(autouse=True)
def _refusals_forgotten() -> Iterator[None]:
    """What OpenAI-compatible servers refused is remembered for the process; every test starts
    with nothing remembered (a later emulator may get an earlier one's port)."""
    REFUSALS.clear()
    yield
