"""The circuit breaker's states on a fake clock: it opens after consecutive service failures,
refuses without asking, probes once the period is over, and doubles the period while the
server stays down."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xmpvision.chain.breaker import Breaker, BreakerPolicy
from xmpvision.errors import CircuitOpen, EngineError, InvalidPayload, ServiceDown


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.up = True

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        if not self.up:
            raise ServiceDown("probe: connection refused")


def breaker(clock: Clock, probe: Probe, *, failures: int = 3, open_for: float = 60.0,
            open_max: float = 600.0) -> Breaker:
    settings = BreakerPolicy(failures=failures, open_for=open_for, open_max=open_max)
    return Breaker("ollama http://gpu:11434", probe, settings, clock=clock)


def state(b: Breaker) -> str:
    return b.report().state


def down() -> str:
    raise ServiceDown("no answer within 2s")


def ok() -> str:
    return "answer"


def fail_times(b: Breaker, n: int, ask: Callable[[], str] = down) -> None:
    for _ in range(n):
        with pytest.raises(ServiceDown):
            b.call(ask)


def test_it_opens_after_consecutive_failures_and_refuses_without_asking() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 2)
    assert state(b) == "closed"
    fail_times(b, 1)
    assert state(b) == "open"
    asked: list[int] = []

    def ask() -> str:
        asked.append(1)
        return "x"

    with pytest.raises(CircuitOpen, match="is down"):
        b.call(ask)
    assert not asked and probe.calls == 0
    report = b.report()
    assert (report.opened, report.skipped, report.state) == (1, 1, "open")


def test_an_answer_resets_the_count_even_a_bad_one() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 2)
    assert b.call(ok) == "answer"
    fail_times(b, 2)

    def bad() -> str:
        raise InvalidPayload("not JSON")

    with pytest.raises(InvalidPayload):
        b.call(bad)  # the server answered: it is up
    fail_times(b, 2)
    assert state(b) == "closed"


def test_after_the_period_one_probe_then_one_trial_closes_it() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 3)
    clock.now = 59.0
    with pytest.raises(CircuitOpen):
        b.call(ok)
    assert probe.calls == 0
    clock.now = 60.0
    assert b.call(ok) == "answer"
    assert probe.calls == 1 and state(b) == "closed"


def test_a_failed_probe_doubles_the_period_up_to_the_cap() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe, open_for=60.0, open_max=200.0)
    fail_times(b, 3)
    probe.up = False
    periods = []
    opened_at = 0.0
    for _ in range(4):
        # Find when it probes next: just before, it refuses without probing.
        start_calls = probe.calls
        step = 1.0
        clock.now = opened_at
        while probe.calls == start_calls:
            clock.now += step
            with pytest.raises(CircuitOpen):
                b.call(ok)
        periods.append(clock.now - opened_at)
        opened_at = clock.now
    assert periods == [60.0, 120.0, 200.0, 200.0]
    assert b.report().opened == 1  # one outage, however long


def test_a_failed_trial_reopens_it_for_longer() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 3)
    clock.now = 60.0
    fail_times(b, 1)  # the probe answered, the trial did not (a wedged GPU)
    assert state(b) == "open" and probe.calls == 1
    clock.now = 60.0 + 119.0
    with pytest.raises(CircuitOpen):
        b.call(ok)
    clock.now = 60.0 + 120.0
    assert b.call(ok) == "answer"
    assert b.report().lost == 0.0  # the fake clock did not move during the calls


def test_while_half_open_others_are_refused_and_a_photo_error_frees_the_trial() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 3)
    clock.now = 60.0
    seen: list[str] = []

    def trial() -> str:
        with pytest.raises(CircuitOpen, match="being probed"):
            b.call(ok)  # a second worker meanwhile
        seen.append("trial")
        raise OSError("the photo vanished")

    with pytest.raises(OSError):
        b.call(trial)
    assert seen == ["trial"] and state(b) == "half-open"
    assert b.call(ok) == "answer" and state(b) == "closed"
    assert probe.calls == 1  # the next request was the trial, without a second probe


def test_requests_queued_when_it_opened_are_not_sent() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe, failures=1)
    sent: list[int] = []

    class Hold:
        """The slot wait: meanwhile another worker's request fails and opens it."""

        def __enter__(self) -> None:
            with pytest.raises(ServiceDown):
                b.call(down)

        def __exit__(self, *exc: object) -> None:
            return None

    def send() -> str:
        sent.append(1)
        return "x"

    with pytest.raises(CircuitOpen):
        b.call(send, Hold)
    assert not sent


def test_other_engine_errors_do_not_open_it() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe, failures=1)

    def refused() -> str:
        raise EngineError("refused access (401)")

    for _ in range(5):
        with pytest.raises(EngineError):
            b.call(refused)
    assert state(b) == "closed"


def test_a_trial_stopped_while_it_waits_for_a_slot_frees_the_next_one() -> None:
    clock, probe = Clock(), Probe()
    b = breaker(clock, probe)
    fail_times(b, 3)
    clock.now = 60.0

    class Stopping:
        def __enter__(self) -> None:
            raise KeyboardInterrupt  # the run stops while the trial waits

        def __exit__(self, *exc: object) -> None:
            return None

    with pytest.raises(KeyboardInterrupt):
        b.call(ok, Stopping)
    assert state(b) == "half-open" and b.may_try()
    assert b.call(ok) == "answer" and state(b) == "closed"
    assert probe.calls == 1


def test_a_probe_that_breaks_oddly_leaves_it_open_not_stuck() -> None:
    clock, probe = Clock(), Probe()
    odd = {"raise": True}

    def probing(seconds: float) -> None:
        if odd["raise"]:
            odd["raise"] = False
            raise RuntimeError("a bug in a probe")

    b = Breaker("ollama http://gpu:11434", probing, BreakerPolicy(failures=1), clock=clock)
    fail_times(b, 1)
    clock.now = 60.0
    with pytest.raises(RuntimeError):
        b.call(ok)
    assert state(b) == "open" and b.may_try()
    assert b.call(ok) == "answer"
    assert probe.calls == 0
