"""Per-photo records and run summaries in the stable machine-readable shapes (README: Output)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xmpvision import modeltypes
from xmpvision.results import PhotoResult

Status = Literal["done", "unchanged", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("done", "unchanged", "skipped", "failed")


@dataclass
class PhotoReport:
    """What happened to one photo."""

    path: Path
    status: Status
    sidecar: Path | None = None
    result: PhotoResult | None = None
    error: str | None = None
    planned: dict[str, Any] | None = None  # --dry-run: the change that would be made
    upgraded: list[str] | None = None  # types a better model answered in place of a fallback

    def to_dict(self) -> dict[str, Any]:
        result = self.result or PhotoResult()
        record: dict[str, Any] = {
            "path": os.fsdecode(self.path),
            "sidecar": os.fsdecode(self.sidecar) if self.sidecar else None,
            "status": self.status,
            "labels": [
                {"name": x.name, "confidence": round(x.confidence, 4), "source": x.source,
                 "model": x.model}
                for x in result.labels or []
            ],
            **_texts(result),
            "models": dict(result.models),
            # type -> the better models that were down, so a fallback answered it
            "fallback": {t: list(m) for t, m in result.fallback.items()},
            "error": self.error,
        }
        if self.planned is not None:
            record["planned"] = self.planned
        if self.upgraded:
            record["upgraded"] = list(self.upgraded)
        return record


def _texts(result: PhotoResult) -> dict[str, Any]:
    """Each text type's keys (modeltypes): "caption", "caption_source", ..., None when none."""
    record: dict[str, Any] = {}
    for row in modeltypes.TEXT_TYPES:
        text = result.texts.get(row.name)
        record[row.key] = text.text if text else None
        for name in row.reported:
            record[f"{row.key}_{name}"] = getattr(text, name) if text else None
    return record


@dataclass(frozen=True)
class ServiceReport:
    """What one server endpoint's circuit breaker saw in a run."""

    endpoint: str
    state: Literal["closed", "open", "half-open"]
    opened: int  # times it opened
    skipped: int  # requests not sent because it was open
    lost: float  # seconds spent on requests and probes the server failed
    reason: str | None  # the failure that opened it last

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "state": self.state, "opened": self.opened,
                "skipped": self.skipped, "lost_seconds": round(self.lost, 3),
                "reason": self.reason}


@dataclass
class AnswerTokens:
    """The answer tokens the servers counted in a run (Ollama's `eval_count`, OpenAI's
    `usage.completion_tokens`), per request kind: an output type, or "generate". What a model
    writes is most of a photo's GPU time."""

    tokens: dict[str, int] = field(default_factory=dict)  # kind -> answer tokens
    requests: dict[str, int] = field(default_factory=dict)  # kind -> answers counted
    photos: int = 0  # photos with at least one answer counted

    def add(self, counted: Iterable[tuple[str, int]]) -> None:
        """One photo's counted answers (PhotoResult.tokens)."""
        seen = False
        for kind, tokens in counted:
            seen = True
            self.tokens[kind] = self.tokens.get(kind, 0) + tokens
            self.requests[kind] = self.requests.get(kind, 0) + 1
        self.photos += seen

    @property
    def total(self) -> int:
        return sum(self.tokens.values())

    @property
    def per_photo(self) -> float | None:
        return self.total / self.photos if self.photos else None

    def per_request(self, kind: str) -> float:
        return self.tokens[kind] / self.requests[kind]

    def to_dict(self) -> dict[str, Any]:
        per_photo = self.per_photo
        return {"photos": self.photos, "total": self.total,
                "per_photo": None if per_photo is None else round(per_photo, 1),
                "kinds": {kind: {"requests": self.requests[kind], "tokens": tokens,
                                 "per_request": round(self.per_request(kind), 1)}
                          for kind, tokens in sorted(self.tokens.items())}}


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    seconds: float = 0.0
    upgraded: int = 0  # photos redone by a better model after a fallback answered them
    services: list[ServiceReport] = field(default_factory=list)  # endpoints that went down
    tokens: AnswerTokens = field(default_factory=AnswerTokens)

    def add(self, status: Status, result: PhotoResult | None = None) -> None:
        self.counts[status] += 1
        if result is not None:
            self.tokens.add(result.tokens)

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {**self.counts, "seconds": round(self.seconds, 3),
                            "upgraded": self.upgraded,
                            "services": [s.to_dict() for s in self.services],
                            "answer_tokens": self.tokens.to_dict()}}


def json_line(record: dict[str, Any] | str) -> str:
    """One NDJSON line. File names that are not valid UTF-8 force ASCII escapes, so the
    output stays valid UTF-8 whatever the library holds."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record)
    return text
