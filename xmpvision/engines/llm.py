"""What every engine that asks a vision language model over HTTP shares: its set-up, its one
question (the entry's type, or for a generate entry several types at once), its remembered
failures and its lifetime. An engine adds its wire format: `_ask(kind, photo, types)` returning
the model's finished answer (its text, what the request cost: the tokens the server counted,
the characters of prompt text sent)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

import httpx

from xmpvision.config.models import ModelConfig, Thresholds
from xmpvision.engines.answers import Answering, Kind, Reply
from xmpvision.engines.base import EngineInfo, TimingObserver
from xmpvision.engines.http import HttpService, ServerDialect
from xmpvision.engines.pause import PauseGate
from xmpvision.engines.retry import RetryPolicy
from xmpvision.errors import InvalidPayload
from xmpvision.prepare.images import PhotoImage
from xmpvision.results import PhotoResult


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
        # Told the timings of every answer (the health monitor of a run); None: nobody asks.
        self.observer: TimingObserver | None = None

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

    def forget_failures(self) -> None:
        """Forget a remembered permanent failure and the readiness check (asked again)."""
        with self._ready_lock:
            self.http.forget()
            self._ready = False

    def watch(self, observer: TimingObserver, gate: PauseGate) -> None:
        self.observer = observer
        self.http.gate = gate

    # --- the question ------------------------------------------------------------------------

    @property
    def topicality(self) -> bool:
        """Whether labels are asked with a topicality: only a Topicality threshold needs it."""
        return self._answering.thresholds.topicality > 0

    def answer(self, photo: PhotoImage, types: tuple[str, ...]) -> PhotoResult:
        """The one type of `types` (the chain asks an entry for its own); a generate entry:
        every type of `types` from one request (the image is encoded once)."""
        if self.model.type == "generate":
            kind, asked = "generate", types
        else:
            (kind,), asked = types, ()
        reply = self._ask(kind, photo, asked)
        try:
            if kind == "generate":
                result = self._answering.generated(reply.text, types, photo.path)
            else:
                result = self._answering.single(kind, reply.text, photo.path)
        except InvalidPayload as exc:
            exc.spent = reply.usage
            raise
        result.tokens.append((kind, reply.usage))
        return result

    def _ask(self, kind: Kind, photo: PhotoImage, types: tuple[str, ...] = ()) -> Reply:
        raise NotImplementedError
