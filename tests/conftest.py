"""Shared fixtures: the Ollama emulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ollama_server import OllamaServer


@pytest.fixture
def ollama_server() -> Iterator[OllamaServer]:
    """A started emulator with gemma3:latest, no latency, one slot; stopped after the test."""
    with OllamaServer(models=["gemma3:latest"]) as server:
        yield server
