"""`Parallel: auto`: how many requests one service gets in flight, found by measuring it.

A gradient limiter, as concurrency-limit libraries have: it starts at one request. Until the
first answer is in, streamed first tokens lead: the first says the server is up and the model
loaded, and each time every request in flight got its first token without queueing, twice as
many go. Then, round by round (a round is as many answers as requests in flight), it
compares what each answer took with the least the same kind of request takes on that service
unloaded. While that ratio holds (no queue on the server, the model not slower per request)
and requests waited in the client for a slot, more are let in flight: until the server first
queues, as many times more as could queue there without
nearing the read timeout (the slots are found in a round or two), then one more at a time.
When requests queue on the server or each one gets slower, the limit drops to what the server
served at once in that round and one request more, waiting in its queue. A failure that says
the server is down or too slow halves it. A request is never let in flight when a request
queued behind the others could run into the read timeout.

The server's own timings are used where it gives them (Ollama: its queue and its model time,
engines/served.py); elsewhere the whole request as the client saw it stands for both.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from xmpvision.engines.served import Served

log = logging.getLogger(__name__)

# A round whose answers took at least this share of the least they take unloaded (queue and
# slowdown together) lets one more request in flight.
RAISE_AT = 0.95
# Below this share the server queued requests or slowed each one: the limit drops.
LOWER_AT = 0.9
# The slowest answer of a round plus one more whole service time (a request queued behind a
# full server) must stay under this share of the read timeout for the limit to rise; an
# answer slower than it lowers the limit at once.
TIMEOUT_SHARE = 0.75
# How many answers of each kind the unloaded time is the least of: a server that got slower
# for good (another client, a hotter GPU) is followed after this many.
BASELINE_SAMPLES = 50
# Where it starts: one request, so that a server that hangs, or a model that cannot load,
# is met by one request before the others are sent. Its first streamed token says neither is
# so: then a second goes (or what an earlier run found), without waiting for the whole answer.
START = 1
# Requests let in flight beyond what the server serves at once, once that is known: they wait
# in its queue while the client handles an answer, instead of a slot waiting for the client.
QUEUED = 1
# The fewest answers a round has: one answer says little about a queue. While it climbs
# from one request, as many as are in flight: those rounds are the ones the server is least
# used in, and nothing can queue behind a lone request.
ROUND_MIN = 4
CLIMB_ROUND_MIN = 1


@dataclass(frozen=True, slots=True)
class Sample:
    """One answer: what the client waited in all (seconds) and, if the server said, its own
    time and queue; `kind` groups requests that cost the same (the types asked)."""

    seconds: float
    kind: str = ""
    served: Served | None = None
    # The limiter's `epoch` when it was sent: an answer to a request sent under an earlier
    # limit says nothing about this one.
    epoch: int = 0


class Limiter:
    """The requests in flight allowed on one service; not thread-safe (ServiceSlots locks)."""

    def __init__(self, most: int, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.most = max(1, most)
        self._clock = clock
        self.timeout = timeout
        self.limit = min(START, self.most)
        self.found = 1  # the most requests the server was seen to serve at once (reported)
        self.epoch = 0  # counts the rounds: a new one starts with every change of the limit
        self._unloaded: dict[str, deque[float]] = {}
        self._ratios: list[float] = []
        # Every answer of the round, of any limit: (when, what it took unloaded).
        self._answers: list[tuple[float, float]] = []
        self._slowest = 0.0
        self._longest_service = 0.0
        self._saturated = False
        self._climbing = True  # the server has not queued a request yet
        self._measured = False  # `found` was measured, not where it starts
        self._known: int | None = None  # what an earlier run found, with one waiting
        self._meeting = True  # before the first answer, while first tokens come unqueued
        self._early = 0  # let in flight on first tokens, until the first answer
        self._first_token = math.inf  # the least time to a first token (seconds)
        self._unqueued = 0  # first tokens no slower than that, before the first answer

    @property
    def allowed(self) -> int:
        """The requests that may be in flight now."""
        return max(self.limit, self._early)

    def started(self, epoch: int, seconds: float) -> bool:
        """A request's answer began to arrive (its first streamed token), `seconds` after it
        was sent. Before the first answer, first tokens stand in for answers. The first one
        says what the lone first request was waiting to learn: the server is up and the
        model loaded; a second request goes. Each time as many requests as are let in flight
        have had their first token without waiting in the server's queue (none slower than
        the quickest), the server served that many at once, and twice as many go (or, at
        the first, what an earlier run found). A slower first token ends it: the answers
        tell. (How long an answer takes is not known yet: as where a climb has no timings,
        twice what the server was seen to serve is taken to fit within the read timeout.)
        True if more may go now."""
        if not self._meeting or epoch != self.epoch:
            return False
        first = self._unqueued == 0 and self._early == 0
        self._first_token = min(self._first_token, seconds)
        # The first may have waited for the model to load (a daemon's job after the server
        # unloaded it): it only says that the server answers.
        if not first and seconds * RAISE_AT > self._first_token:
            self._meeting = False  # it waited in the server's queue, or each got slower
            return False
        self._unqueued += 1
        allowed = self.allowed
        if self._unqueued < allowed:
            return False
        if self._known is not None:
            self._meeting = False  # what the service served before: there at once
            self._early = min(self.most, max(allowed, self._known))
        else:
            self._early = min(self.most, 2 * allowed)
        return self._early > allowed

    def wanted(self) -> None:
        """A request found every slot taken: one more slot would have been used."""
        self._saturated = True

    def answered(self, sample: Sample) -> None:
        self._meeting = False
        served = sample.served
        service = sample.seconds if served is None else served.service
        ratio = self._ratio(sample)
        took = sample.seconds if served is None else served.service + served.queued
        self._answers.append((self._clock(), took * ratio))
        if sample.seconds > TIMEOUT_SHARE * self.timeout and self.limit > 1:
            self._set(self.limit - 1)  # queued this long, the next one may time out
            return
        if sample.epoch != self.epoch:
            return  # sent under an earlier limit
        self._ratios.append(ratio)
        self._slowest = max(self._slowest, sample.seconds)
        self._longest_service = max(self._longest_service, service)
        if len(self._ratios) >= self.round_size:
            self._end_round()

    def _ratio(self, sample: Sample) -> float:
        """The least this kind of request took unloaded, over what this one took (1: no
        queue, no slowdown)."""
        served = sample.served
        if served is None:
            # The client's whole wait: queue and service together.
            return self._unloaded_share(sample.kind, sample.seconds)
        # The server's queue apart; the model's speed per answer token (the length of the
        # answer is not a slowdown), else its time.
        took = served.service + served.queued
        queue = served.service / took if took > 0 else 1.0
        if served.per_token is not None:
            return queue * self._unloaded_share("per token", served.per_token)
        return queue * self._unloaded_share(sample.kind, served.service)

    def _unloaded_share(self, kind: str, seconds: float) -> float:
        least = self._unloaded.setdefault(kind, deque(maxlen=BASELINE_SAMPLES))
        least.append(seconds)
        return min(least) / seconds if seconds > 0 else 1.0

    @property
    def round_size(self) -> int:
        """The answers a round takes."""
        return max(CLIMB_ROUND_MIN if self._climbing else ROUND_MIN, self.limit)

    def resume(self) -> None:
        """A new run on the same service (a daemon's next job): from one request again, so
        that a server that hangs or a model that cannot load now meets one request first; its
        first token (or, unstreamed, its answer) takes it to what this service was found to
        serve at once before (and one waiting), and on from there one at a time. Its unloaded
        times are kept."""
        if self._measured:
            self._known = min(self.most, self.found + QUEUED)
        self._climbing = True
        self._meeting = True
        self._set(min(START, self.most))

    def recall(self, found: int) -> None:
        """What an earlier run found this service to serve at once (the state database's
        record), for a limiter that has measured nothing yet: as `resume`."""
        if not self._measured:
            self._known = min(self.most, max(1, found) + QUEUED)

    def failed(self) -> None:
        """A request failed as a busy or dead server fails (timed out, refused, 503)."""
        self._climbing = False
        self._set(max(1, self.limit // 2))

    def _end_round(self) -> None:
        ratio = sum(self._ratios) / len(self._ratios)
        log.debug("%d in flight: answers took %.2f of their unloaded time%s", self.limit,
                  1 / ratio if ratio else float("inf"), "" if self._saturated else
                  " (the client did not fill them)")
        self._measured = True
        if ratio >= RAISE_AT:
            self.found = self.limit
            times = self._times_allowed()
            # Before the first answer, first tokens may have shown the server serving more
            # at once than the limit: the climb goes on from there.
            base = max(self.limit, min(self._early, self._unqueued))
            if self._saturated and times >= 2 and base < self.most:
                # Until the server first queues: as many times more as the read timeout
                # allows (its slots found in a round or two; too many only queue there,
                # the next round brings it back), then one at a time.
                if self._climbing and self._known is not None and self.limit >= self._known:
                    self._climbing = False  # as far as an earlier run found; on with care
                more = base * (times - 1) if self._climbing else 1
                rise = min(self.most, base + more)
                if self._climbing and self._known is not None:
                    # What the service served before it very likely serves now: there at
                    # once, and a wrong guess is lowered by the answers that wait too long.
                    rise = self._known
                self._set(rise)
                return
            if base > self.limit:
                self._set(base)
                return
        else:
            # What the server served at once in this round (Little's law), and one request
            # more waiting in its queue, so that a slot never idles while the client turns an
            # answer around; none when a queued request could near the read timeout.
            self.found = max(1, min(self.limit, math.floor(self._at_once(ratio) + 0.5)))
            queued = QUEUED if 2 * self._longest_service <= TIMEOUT_SHARE * self.timeout else 0
            wanted = self.found + queued
            if ratio < LOWER_AT or wanted < self.limit:
                self._climbing = False
                if wanted < self.limit:
                    self._set(max(1, wanted))
                    return
        self._new_round()

    def _at_once(self, ratio: float) -> float:
        """How many requests the server served at once in this round, at their unloaded
        speed: the limit times the round's ratio (Little's law), or, lower, the work it
        finished per second between the round's first and last answer. The first counts
        answers slowed per request; the second is right where the round began with the
        queue still building (after a rise, the first answers waited little)."""
        at_once = self.limit * ratio
        if len(self._answers) >= 2:
            span = self._answers[-1][0] - self._answers[0][0]
            work = sum(took for _, took in self._answers[1:])
            if span > 0:
                at_once = min(at_once, work / span)
        return at_once

    def _times_allowed(self) -> int:
        """How many times this round's limit may be in flight next: were the server to have
        no slot more than now, each request sent on top of those waits one service time
        more; the last of them must still end within TIMEOUT_SHARE of the read timeout."""
        if self._longest_service <= 0:
            return 2
        spare = TIMEOUT_SHARE * self.timeout - self._slowest
        return max(1, 1 + math.floor(spare / self._longest_service))

    def _set(self, limit: int) -> None:
        self.limit = limit
        self.epoch += 1
        self._new_round()

    def _new_round(self) -> None:
        self._early = 0
        self._unqueued = 0
        self._ratios = []
        self._answers = []
        self._slowest = 0.0
        self._longest_service = 0.0
        self._saturated = False
