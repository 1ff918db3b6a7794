"""Per-photo records and run summaries in the stable machine-readable shapes (README: Output)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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

    def to_dict(self) -> dict[str, Any]:
        result = self.result or PhotoResult()
        caption = result.caption
        record: dict[str, Any] = {
            "path": os.fsdecode(self.path),
            "sidecar": os.fsdecode(self.sidecar) if self.sidecar else None,
            "status": self.status,
            "labels": [
                {"name": x.name, "confidence": round(x.confidence, 4), "source": x.source,
                 "model": x.model}
                for x in result.labels or []
            ],
            "caption": caption.text if caption else None,
            "caption_source": caption.source if caption else None,
            "caption_language": caption.language if caption else None,
            "title": result.title.text if result.title else None,
            "title_source": result.title.source if result.title else None,
            "models": dict(result.models),
            "error": self.error,
        }
        if self.planned is not None:
            record["planned"] = self.planned
        return record


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    seconds: float = 0.0

    def add(self, status: Status) -> None:
        self.counts[status] += 1

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {**self.counts, "seconds": round(self.seconds, 3)}}


def json_line(record: dict[str, Any] | str) -> str:
    """One NDJSON line. File names that are not valid UTF-8 force ASCII escapes, so the
    output stays valid UTF-8 whatever the library holds."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record)
    return text
