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
class Counted:
    """One amount counted per request in a run, per request kind (an output type, or
    "generate"): the answer tokens the servers counted (Ollama's `eval_count`, OpenAI's
    `usage.completion_tokens`), the prompt tokens (`prompt_eval_count`, `usage.prompt_tokens`)
    or the characters of prompt text sent. What a model writes is most of a photo's GPU time;
    its prompt (with the owner's hints) the rest. A request whose server did not count it is
    only counted as `uncounted`, never as 0."""

    name: str  # as the -v line says it
    unit: str = "tokens"  # a kind's amount's key
    amounts: dict[str, int] = field(default_factory=dict)  # kind -> the amount
    requests: dict[str, int] = field(default_factory=dict)  # kind -> requests counted
    photos: int = 0  # photos with at least one request counted
    uncounted: int = 0  # requests whose server did not count it

    def add(self, counted: Iterable[tuple[str, int | None]]) -> None:
        """One photo's requests: (kind, amount or None when not counted)."""
        seen = False
        for kind, amount in counted:
            if amount is None:
                self.uncounted += 1
                continue
            seen = True
            self.amounts[kind] = self.amounts.get(kind, 0) + amount
            self.requests[kind] = self.requests.get(kind, 0) + 1
        self.photos += seen

    @property
    def total(self) -> int:
        return sum(self.amounts.values())

    @property
    def per_photo(self) -> float | None:
        return self.total / self.photos if self.photos else None

    def per_request(self, kind: str) -> float:
        return self.amounts[kind] / self.requests[kind]

    def to_dict(self) -> dict[str, Any]:
        per_photo = self.per_photo
        return {"photos": self.photos, "total": self.total,
                "per_photo": None if per_photo is None else round(per_photo, 1),
                "uncounted": self.uncounted,
                "kinds": {kind: {"requests": self.requests[kind], self.unit: amount,
                                 "per_request": round(self.per_request(kind), 1)}
                          for kind, amount in sorted(self.amounts.items())}}


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    seconds: float = 0.0
    upgraded: int = 0  # photos redone by a better model after a fallback answered them
    services: list[ServiceReport] = field(default_factory=list)  # endpoints that went down
    tokens: Counted = field(default_factory=lambda: Counted("answer tokens"))
    prompt_tokens: Counted = field(default_factory=lambda: Counted("prompt tokens"))
    prompt_chars: Counted = field(
        default_factory=lambda: Counted("prompt characters", "chars"))
    # Per service under `Parallel: auto`: the last limit its server served without queueing
    parallel: dict[str, int] = field(default_factory=dict)

    def add(self, status: Status, result: PhotoResult | None = None) -> None:
        self.counts[status] += 1
        if result is not None:
            self.tokens.add((kind, usage.tokens) for kind, usage in result.tokens)
            self.prompt_tokens.add((kind, usage.prompt_tokens) for kind, usage in result.tokens)
            self.prompt_chars.add((kind, usage.prompt_chars) for kind, usage in result.tokens)

    @property
    def requests(self) -> dict[str, Counted]:
        """What the requests of the run cost, by their summary key."""
        return {"answer_tokens": self.tokens, "prompt_tokens": self.prompt_tokens,
                "prompt_chars": self.prompt_chars}

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {**self.counts, "seconds": round(self.seconds, 3),
                            "upgraded": self.upgraded,
                            "services": [s.to_dict() for s in self.services],
                            **{key: counted.to_dict()
                               for key, counted in self.requests.items()},
                            "parallel": dict(self.parallel)}}


def json_line(record: dict[str, Any] | str) -> str:
    """One NDJSON line. File names that are not valid UTF-8 force ASCII escapes, so the
    output stays valid UTF-8 whatever the library holds."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record)
    return text
