"""Backoff with full jitter, Retry-After parsing, and httpx errors translated at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from xmpvision.config.models import ModelConfig
from xmpvision.engines.ollama.engine import OllamaEngine
from xmpvision.engines.retry import RetryPolicy, parse_retry_after
from xmpvision.errors import EngineUnavailable


def test_full_jitter_is_bounded_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(3, lambda: 0.0) == 0.0


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None
    when = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert parse_retry_after(format_datetime(when, usegmt=True), now=now) == 30.0


def _engine(handler: httpx.MockTransport, **retry: bool) -> OllamaEngine:
    config = ModelConfig.model_validate({"Type": "labels", "Model": "gemma3"})
    return OllamaEngine(
        config, transport=handler, retry=RetryPolicy(**retry), sleep=lambda _s: None
    )


@pytest.mark.parametrize(
    ("exc", "attempts", "message"),
    [
        (httpx.ConnectTimeout("timed out"), 3, "cannot connect to"),
        (httpx.ReadTimeout("timed out"), 1, "no answer from"),
        (httpx.RemoteProtocolError("peer closed"), 3, "connection to .* lost"),
        (httpx.UnsupportedProtocol("nope"), 1, "request to .* failed"),
    ],
)
def test_transport_errors_are_translated(
    exc: httpx.TransportError, attempts: int, message: str
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise exc

    with _engine(httpx.MockTransport(handler)) as engine, pytest.raises(
        EngineUnavailable, match=message
    ) as info:
        engine.check_ready()
    assert info.value.__cause__ is exc
    assert len(calls) == attempts
