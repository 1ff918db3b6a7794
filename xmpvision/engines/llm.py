"""What every engine that asks a vision language model over HTTP shares: its set-up, its four
questions (labels, caption, title, all of them at once) and its lifetime. An engine adds its
wire format: `_ask(kind, photo, types)` returning the model's answer text."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

import httpx

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.answers import Answering, Kind
from xmpvision.engines.base import EngineInfo
from xmpvision.engines.http import HttpService, ServerDialect
from xmpvision.engines.retry import RetryPolicy
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import Caption, Label, PhotoResult, Title


class LanguageModelEngine:
    """One vision.yml entry on one HTTP server, safe for Service.Parallel worker threads."""

    ENGINE: ClassVar[str]
    SOURCE: ClassVar[str]
    DIALECT: ClassVar[ServerDialect]
    ACCEPT: ClassVar[str] = "application/json"

    def __init__(
        self,
        model: ModelConfig,
        thresholds: Thresholds | None = None,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        stream: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.model = model
        self.info = self.describe(model)
        self.model_ref = model.model_ref
        self.base_url = self.base(model)
        self.stream = stream
        self._answering = Answering(model, thresholds or Thresholds(), self.SOURCE, self.ENGINE)
        self.http = HttpService(self.base_url, self.model_ref, model.service, self.DIALECT,
                                accept=self.ACCEPT, client=client, transport=transport,
                                retry=retry, sleep=sleep, rand=rand)
        self._ready = False
        self._ready_lock = threading.Lock()

    @staticmethod
    def describe(model: ModelConfig) -> EngineInfo:
        raise NotImplementedError

    @staticmethod
    def base(model: ModelConfig) -> str:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def probe(self, seconds: float) -> None:
        """Whether the server answers at all (its cheapest GET), for the circuit breaker."""
        self.http.probe(seconds)

    # --- the questions -----------------------------------------------------------------------

    def labels(self, photo: PhotoImage) -> list[Label]:
        return self._answering.labels(self._ask("labels", photo), photo.path)

    def caption(self, photo: PhotoImage) -> Caption:
        return self._answering.caption(self._ask("caption", photo), photo.path)

    def title(self, photo: PhotoImage) -> Title:
        return self._answering.title(self._ask("title", photo), photo.path)

    def generate(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        """Every type of `types` from one request (the image is encoded once)."""
        return self._answering.generated(self._ask("generate", photo, types), types, photo.path)

    def _ask(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = ()) -> str:
        raise NotImplementedError
