"""The slots of a run's services: fixed by a number, or moved by `Parallel: auto`'s limiter."""

from __future__ import annotations

import pytest

from xmpvision.chain.limit import Limiter
from xmpvision.chain.pool import ServiceSlots
from xmpvision.engines import served
from xmpvision.engines.base import EngineInfo
from xmpvision.errors import InvalidPayload, ServiceDown


def _info(capacity: str, slots: int, *, auto: bool) -> EngineInfo:
    return EngineInfo(engine="ollama", source="ollama", endpoint="", format="",
                      capacity=capacity, slots=slots, auto=auto, timeout=300)


def _answer(slots: ServiceSlots, key: str, queued: float = 0.0) -> None:
    """One request on `key` that the server says it answered in a second after `queued`."""
    with slots.held(key, "caption"):
        served.record(total=round((1 + queued) * 1e9), load=0, prompt=0,
                      generated=round(1e9), tokens=40)


def test_a_number_fixes_the_slots_and_auto_starts_at_one() -> None:
    slots = ServiceSlots([_info("a", 4, auto=False), _info("b", 16, auto=True)])
    assert slots.free("a") == 4 and slots.free("b") == 1
    assert set(slots.limiters) == {"b"}
    assert slots.total() == 20  # the pool of workers is sized for the most auto may try


def test_a_model_that_fixes_it_fixes_it_for_the_service() -> None:
    slots = ServiceSlots([_info("a", 16, auto=True), _info("a", 3, auto=False)])
    assert slots.free("a") == 3 and not slots.limiters


def test_answers_move_the_limit_under_auto() -> None:
    slots = ServiceSlots([_info("b", 16, auto=True)])
    limiter = slots.limiters["b"]
    for _ in range(limiter.round_size):
        limiter.wanted()  # as if photos were waiting for the slot
        _answer(slots, "b")
    assert slots.free("b") == 16  # as many as could queue within the read timeout
    for _ in range(limiter.round_size):
        limiter.wanted()
        _answer(slots, "b", queued=1.0)  # the server queued each as long as it served it
    # It served half of them at once; one more waits in its queue.
    assert limiter.found == 8 and slots.free("b") == 9


def test_a_server_failure_halves_it_and_a_bad_answer_does_not() -> None:
    slots = ServiceSlots([_info("b", 16, auto=True)])
    slots.limiters["b"].limit = 8
    with pytest.raises(InvalidPayload), slots.held("b"):
        raise InvalidPayload("not JSON")
    assert slots.free("b") == 8
    with pytest.raises(ServiceDown), slots.held("b"):
        raise ServiceDown("no answer within 3s")
    assert slots.free("b") == 4


def test_limiters_kept_for_the_next_run_and_answers_counted_per_run() -> None:
    """A daemon's engines keep each service's limiter: the next job's slots resume it, and
    report only the services that answered in that job."""
    kept: dict[str, Limiter] = {}
    first = ServiceSlots([_info("b", 16, auto=True), _info("c", 16, auto=True)], kept)
    for _ in range(3):
        first.limiters["b"].wanted()
        _answer(first, "b")
    assert set(first.measured()) == {"b"}
    assert set(kept) == {"b", "c"}
    second = ServiceSlots([_info("b", 16, auto=True)], kept)
    assert second.limiters["b"] is kept["b"] and second.free("b") == 1
    assert second.measured() == {}
    _answer(second, "b")
    assert set(second.measured()) == {"b"}
    # Other settings for the service (a reloaded config): a limiter of its own.
    third = ServiceSlots([_info("b", 8, auto=True)], kept)
    assert third.limiters["b"] is not second.limiters["b"]


def test_the_first_token_of_a_request_in_flight_frees_a_second_slot() -> None:
    """A worker waiting for the lone first request's slot goes once that request's answer
    begins to arrive (the engine's served.started()), not when it ends."""
    import threading

    slots = ServiceSlots([_info("b", 16, auto=True)])
    second_went = threading.Event()
    limits: list[int] = []

    def second() -> None:
        with slots.held("b", "caption"):
            limits.append(slots.limiters["b"].limit)
            second_went.set()

    with slots.held("b", "caption"):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not second_went.wait(0.2)  # one request meets the server first
        served.started()
        assert second_went.wait(5)
    waiter.join()
    assert limits == [1]  # let in beside the first, before any answer moved the limit


def test_a_first_token_outside_a_request_changes_nothing() -> None:
    """A request that ended before its first token (a bad answer) leaves nothing behind for
    the thread's next use of the engine outside a slot."""
    slots = ServiceSlots([_info("b", 16, auto=True)])
    with pytest.raises(InvalidPayload), slots.held("b"):
        raise InvalidPayload("not JSON")
    served.started()
    assert slots.free("b") == 1
