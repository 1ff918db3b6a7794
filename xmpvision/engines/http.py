"""The HTTP side every network engine shares: client set-up, auth, timeouts, the retry loop and
the mapping of HTTP failures to `xmpvision.errors` types (the httpx exception kept as the cause).

Retries: connection failures, connections closed mid-answer, 429 (honouring Retry-After) and
5xx are retried with exponential backoff and full jitter; other 4xx are not. Read timeouts and a
passed deadline are not retried by default (see RetryPolicy). Refused credentials, a missing
model and a model that cannot run on the server (the dialect tells from the error's words) are
remembered as permanent: they are raised again without asking the service.

Every request is read through `reading.Body`: within an overall deadline (`Service.Deadline`)
and with its decompressed size capped.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx

from xmpvision.config.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE_FACTOR,
    DEFAULT_READ_TIMEOUT,
)
from xmpvision.config.models import ServiceConfig
from xmpvision.engines.pause import PauseGate
from xmpvision.engines.reading import (
    ACCEPT_ENCODING,
    MAX_BODY_BYTES,
    Body,
    BodyTooLarge,
    Deadline,
    DeadlinePassed,
    UnknownEncoding,
    Watchdog,
)
from xmpvision.engines.retry import RetryPolicy, parse_retry_after
from xmpvision.errors import (
    EngineError,
    EngineUnavailable,
    InvalidPayload,
    ModelCannotRun,
    ServiceDown,
    redact,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


# Attempts that fail because of restarts are free, but not forever: a service restarted again
# and again would otherwise hold a worker for good.
MAX_RESTART_RETRIES = 5


class Retry(Exception):
    """One attempt failed in a way worth retrying; carries the error to raise at the end."""

    def __init__(self, error: EngineError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class ServerDialect:
    """How one server family words its errors."""

    name: str  # for logs: "ollama", "openai"
    error_text: Callable[[bytes], str]  # the human part of an error body
    # The error for a 404 that means "no such model" (None: an ordinary rejected request).
    model_missing: Callable[[httpx.Response, bytes, str], EngineError | None]
    # What messages call the server ("Ollama", "the OpenAI-compatible server").
    display: str = "the server"
    # What to do when the server cannot be reached at all.
    connect_hint: str = "start the server, or point Service.Uri in vision.yml at it"
    # Seconds to wait on a 429 beyond Retry-After (e.g. OpenAI's x-ratelimit-reset-*).
    retry_after: Callable[[httpx.Headers], float | None] = lambda _headers: None
    # A cheap GET that tells the server is back (the circuit breaker's probe).
    probe_path: str = "/"
    # An error answer (status, the server's message) that is this model's fault, not the
    # server's: it cannot load, or refuses a setting. None: the status decides.
    model_fault: Callable[[int, str, str], EngineError | None] = lambda _s, _d, _m: None
    # An error answer besides 401/403 that means the credentials were refused.
    refuses_access: Callable[[int, str], bool] = lambda _status, _detail: False


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process (httpx's default: certifi, or
    SSL_CERT_FILE / SSL_CERT_DIR): building one loads the CA bundle, ~30 ms per client."""
    return httpx.create_ssl_context()


def timeouts(service: ServiceConfig) -> httpx.Timeout:
    connect = service.connect_timeout or DEFAULT_CONNECT_TIMEOUT
    read = service.timeout or DEFAULT_READ_TIMEOUT
    # The pool wait is bounded by the read timeout: a worker waits at most one slow answer.
    return httpx.Timeout(connect=connect, read=read, write=read, pool=read)


def deadline_seconds(service: ServiceConfig) -> float:
    """The longest one request may take, connect and whole answer (`Service.Deadline`)."""
    if service.deadline:
        return service.deadline
    return DEFAULT_DEADLINE_FACTOR * (service.timeout or DEFAULT_READ_TIMEOUT)


# Words of an error that say the model cannot be loaded on that server (Ollama's scheduler,
# llama.cpp, vLLM and CUDA say it these ways); the server itself is fine.
_CANNOT_LOAD = (
    "requires more system memory", "unable to load full model", "unable to load model",
    "failed to load model", "out of memory", "insufficient memory", "not enough memory",
)


def cannot_load(detail: str) -> bool:
    lowered = detail.lower()
    return any(words in lowered for words in _CANNOT_LOAD)


def _with_cause(error: EngineError, cause: BaseException) -> EngineError:
    error.__cause__ = cause
    return error


class HttpService:
    """One model's HTTP service, safe for `Service.Parallel` worker threads."""

    def __init__(
        self,
        base_url: str,
        model: str,
        service: ServiceConfig,
        dialect: ServerDialect,
        *,
        accept: str = "application/json",
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url
        self.shown = redact(base_url)  # what messages name: never a password
        self.model = model
        self.dialect = dialect
        self.timeout = timeouts(service)
        self.deadline = deadline_seconds(service)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self.headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
        self.auth: httpx.Auth | None = None
        if service.key is not None and service.key.get_secret_value():
            self.headers["Authorization"] = f"Bearer {service.key.get_secret_value()}"
        elif service.username:
            password = service.password.get_secret_value() if service.password else ""
            self.auth = httpx.BasicAuth(service.username, password)
        self._owns_client = client is None
        self._client = client or httpx.Client(
            transport=transport,
            timeout=self.timeout,
            verify=tls_context(),
            # One connection per worker: more would only queue inside the server.
            limits=httpx.Limits(
                max_connections=service.most_parallel,
                max_keepalive_connections=service.most_parallel
            ),
        )
        self._fatal: EngineError | None = None
        self._lock = threading.Lock()
        self.gate: PauseGate | None = None  # set by the health monitor of a run

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- permanent failures ----------------------------------------------------------------

    def raise_fatal(self) -> None:
        """Raise (a fresh copy of) the remembered permanent failure, if any."""
        fatal = self._fatal
        if fatal is not None:
            raise fatal.again()

    def remember(self, error: EngineError, *, say: bool = False) -> NoReturn:
        """Raise `error` now and (a copy of it) for every later request. `say`: it was met
        while answering, after the run's readiness checks were reported, so it is said here,
        once."""
        self._fatal = error
        if say:
            logger.warning("%s; model %s is not asked again in this run", error.with_hint(),
                           self.model)
        raise error

    def forget(self) -> None:
        self._fatal = None

    # --- requests ----------------------------------------------------------------------------

    def retried(self, attempt: Callable[[], T]) -> T:
        """Run `attempt` until it succeeds, raises a final error, or the retries run out.

        While the service restarts (the gate is closed) no attempt starts; an attempt that
        fails because of a restart is repeated without counting as a retry."""
        policy = self.retry
        number = 1
        free = 0
        while True:
            generation = self.gate.wait() if self.gate is not None else 0
            try:
                return attempt()
            except Retry as retry:
                error = retry.error
                if self.gate is not None and self.gate.disturbed(generation) and (
                    free < MAX_RESTART_RETRIES
                ):
                    free += 1
                    logger.info("%s %s: %s during a restart; trying again once it is back",
                                self.dialect.name, self.model, error)
                    continue
                if number >= policy.attempts:
                    break
                if retry.retry_after is not None:
                    if retry.retry_after > policy.max_retry_after:
                        raise error from error.__cause__
                    delay = retry.retry_after
                else:
                    delay = policy.backoff(number - 1, self._rand)
                logger.info("%s %s: %s; retry %d/%d in %.2fs", self.dialect.name, self.model,
                            error, number, policy.attempts - 1, delay)
                self._sleep(delay)
                number += 1
        raise error from error.__cause__

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        """One request; the body of a 2xx answer, or a translated error (not retried here)."""
        with self.exchange(method, path, body) as answer:
            return answer.read()

    def stream(self, path: str, body: dict[str, Any]) -> AbstractContextManager[Body]:
        """One streamed POST: its body once the status is known to be 2xx."""
        return self.exchange("POST", path, body)

    def probe(self, seconds: float) -> None:
        """One GET of the dialect's probe path, within `seconds`, not retried: any HTTP answer
        means the server is up (a 401 or 404 is the request's business, and nothing is
        remembered from it); raises ServiceDown when it does not answer at all."""
        timeout = httpx.Timeout(seconds)
        try:
            with self._client.stream(
                "GET", self.base_url + self.dialect.probe_path, headers=self.headers,
                auth=self.auth or httpx.USE_CLIENT_DEFAULT, timeout=timeout,
            ):
                return  # the status line came: up (the body is not needed)
        except httpx.HTTPError as exc:
            try:
                self.transport_error(exc, self.dialect.probe_path, seconds)
            except Retry as retry:
                raise retry.error from retry.error.__cause__

    @contextmanager
    def exchange(self, method: str, path: str,
                 body: dict[str, Any] | None = None) -> Iterator[Body]:
        """One request, its 2xx body read within the request's deadline and size cap; an
        error status, a transport failure or a passed deadline translated."""
        deadline = Deadline(self.deadline)
        timeout = deadline.timeout(self.timeout)
        try:
            with self._client.stream(
                method, self.base_url + path, json=body, headers=self.headers,
                auth=self.auth or httpx.USE_CLIENT_DEFAULT, timeout=timeout,
            ) as response, Watchdog(response, deadline) as watchdog:
                answer = Body(response, deadline, watchdog)
                if not response.is_success:
                    self.status_error(response, path, answer.read())
                yield answer
        except httpx.HTTPError as exc:
            if deadline.passed:
                self.deadline_error(path, exc)
            self.transport_error(exc, path, timeout.read)
        except DeadlinePassed:
            self.deadline_error(path)
        except BodyTooLarge:
            raise InvalidPayload(
                f"answer from {self.shown}{path} (model {self.model}) exceeds "
                f"{MAX_BODY_BYTES // (1024 * 1024)} MiB unpacked"
            ) from None
        except UnknownEncoding as exc:
            raise EngineUnavailable(
                f"answer from {self.shown}{path} uses Content-Encoding {str(exc)!r}, "
                f"which xmpvision does not unpack (it asks for {ACCEPT_ENCODING})"
            ) from None

    # --- error mapping ---------------------------------------------------------------------

    def status_error(self, response: httpx.Response, path: str, content: bytes) -> NoReturn:
        status = response.status_code
        detail = self.dialect.error_text(content)
        where = f"{self.shown}{path}"
        fault = self.dialect.model_fault(status, detail, self.model)
        if isinstance(fault, ModelCannotRun):
            self.remember(fault, say=True)
        if fault is not None:
            raise fault
        if status == httpx.codes.NOT_FOUND:
            missing = self.dialect.model_missing(response, content, self.model)
            if missing is not None:
                self.remember(missing)
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN) or (
                self.dialect.refuses_access(status, detail)):
            self.remember(EngineError(
                f"{where} refused access ({status}): {detail}",
                hint="check Service.Key or Service.Username/Password",
            ))
        if status == httpx.codes.TOO_MANY_REQUESTS:
            raise Retry(
                EngineUnavailable(f"{where} is rate limiting (429): {detail}"),
                _first(parse_retry_after(response.headers.get("Retry-After")),
                       self.dialect.retry_after(response.headers)),
            )
        if status >= 500:
            raise Retry(ServiceDown(f"{where} failed ({status}): {detail}"))
        raise EngineError(
            f"{where} rejected the request for model {self.model} ({status}): {detail}"
        )

    def deadline_error(self, path: str, cause: BaseException | None = None) -> NoReturn:
        """The request took its whole deadline: the server is too slow or stuck sending (a
        trickle, keep-alive comments forever); counted as a failure of the server."""
        error = ServiceDown(
            f"no complete answer from {self.shown}{path} within {self.deadline:g}s "
            f"(model {self.model})",
            hint=f"raise Service.Deadline (default: {DEFAULT_DEADLINE_FACTOR:g} times "
            "Service.Timeout) for slow hardware, or lower Options.NumPredict",
        )
        raise error from cause

    def transport_error(self, exc: httpx.HTTPError, path: str,
                        timeout: float | None = None) -> NoReturn:
        where = f"{self.shown}{path}"
        name = self.dialect.display
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            reason = _connect_reason(exc)
            raise Retry(_with_cause(ServiceDown(
                f"cannot connect to {name} at {self.shown} ({reason})",
                hint=self.dialect.connect_hint,
            ), exc))
        if isinstance(exc, httpx.ReadTimeout):
            error = _with_cause(ServiceDown(
                f"no answer from {where} within {timeout or self.timeout.read:g}s "
                f"(model {self.model})",
                hint="raise Service.Timeout for slow hardware",
            ), exc)
            if self.retry.retry_read_timeouts:
                raise Retry(error)
            raise error
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            # Connection reset or closed mid-answer: the server restarted or a proxy dropped us.
            raise Retry(_with_cause(
                ServiceDown(f"connection to {where} lost: {exc}"), exc
            ))
        if isinstance(exc, httpx.PoolTimeout | httpx.DecodingError):
            # Our own connection queue, or an answer we could not decode: the server is up.
            raise _with_cause(EngineUnavailable(f"request to {where} failed: {exc!r}"), exc)
        raise _with_cause(ServiceDown(f"request to {where} failed: {exc!r}"), exc)


def _connect_reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename" in lowered or "resolve" in lowered:
        return "unknown host"
    if isinstance(exc, httpx.ConnectTimeout) or "timed out" in lowered:
        return "connect timed out"
    return text


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)
