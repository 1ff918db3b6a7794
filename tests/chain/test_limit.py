"""`Parallel: auto`'s limiter, fed answers as a server with a number of slots gives them."""

from __future__ import annotations

from xmpvision.chain.limit import Limiter, Sample
from xmpvision.engines.served import Served

SERVICE = 1.0  # seconds a request takes on a free slot


def _round(limiter: Limiter, slots: int, *, service: float = SERVICE, timed: bool = True,
           waited: bool = True, kind: str = "caption") -> int:
    """One round at the limiter's limit against a server with `slots` slots (Little's law:
    each request waits limit/slots service times in all); the limit after it."""
    limit = limiter.limit
    took = service * max(1.0, limit / slots)
    for _ in range(limiter.round_size):
        if waited:
            limiter.wanted()
        served = Served(service, took - service) if timed else None
        limiter.answered(Sample(took, kind, served, limiter.epoch))
    return limiter.limit


def _rounds(limiter: Limiter, slots: int, count: int, **kwargs: object) -> list[int]:
    return [_round(limiter, slots, **kwargs) for _ in range(count)]  # type: ignore[arg-type]


def test_starts_at_one_and_finds_the_servers_slots() -> None:
    limiter = Limiter(16, timeout=300)
    assert limiter.limit == 1
    limits = _rounds(limiter, 4, 12)
    # The first answer came unqueued, and 16 queued on one slot would still end far within the
    # read timeout: 16 at once; on 4 slots they queued, so back to what the server served
    # and one request waiting in its queue, where it stays.
    assert limits[:2] == [16, 5]
    assert set(limits[1:]) == {5}
    assert limiter.found == 4


def test_doubles_while_the_read_timeout_leaves_room_for_one_queued_request_only() -> None:
    limiter = Limiter(16, timeout=3)
    assert _rounds(limiter, 4, 4) == [2, 4, 8, 5]
    assert limiter.found == 4


def test_the_first_rise_is_as_large_as_the_read_timeout_allows() -> None:
    """One answer in 1 s, read timeout 10 s: 7 requests queued on a single slot end after 7 s,
    8 would take 8 s, past 3/4 of the timeout. So 7, and on a one-slot server none of them
    times out; after that round: the one the server serves and one waiting."""
    limiter = Limiter(16, timeout=10)
    assert _round(limiter, 1) == 7
    slowest = SERVICE * limiter.limit  # the last of 7 queued on one slot
    assert slowest < 10
    assert _round(limiter, 1) == 2
    assert limiter.found == 1


def test_what_the_server_served_at_once_when_its_queue_was_still_building() -> None:
    """16 sent at once to a 2-slot server: they are answered two by two, each pair after a
    longer wait. Their mean share of the unloaded time says 5 were served at once; the work
    finished per second says 2, which is what the server has."""
    now = [0.0]
    limiter = Limiter(16, timeout=300, clock=lambda: now[0])
    _round(limiter, 16)
    assert limiter.limit == 16
    for index in range(16):
        pair = index // 2  # answered after `pair` service times in the queue
        now[0] = SERVICE * (pair + 1)
        limiter.answered(Sample(SERVICE * (pair + 1), "caption",
                                Served(SERVICE, SERVICE * pair), limiter.epoch))
    assert (limiter.found, limiter.limit) == (2, 3)


def test_the_clients_own_timings_find_the_slots_too() -> None:
    """A server that says nothing of its own time (OpenAI-compatible): the client's wait
    against the least it took unloaded."""
    limiter = Limiter(16, timeout=300)
    limits = _rounds(limiter, 2, 10, timed=False)
    assert limits[:2] == [16, 3] and set(limits[1:]) == {3}
    assert limiter.found == 2
    assert limiter.found == 2


def test_one_slot_server_stays_at_one_when_two_could_outlast_the_read_timeout() -> None:
    # A request takes 2 s; one queued behind another would wait 4 s: over 3/4 of 5 s.
    limiter = Limiter(16, timeout=5)
    assert _rounds(limiter, 1, 5, service=2.0) == [1] * 5


def test_never_more_than_the_most() -> None:
    limiter = Limiter(3, timeout=300)
    assert _rounds(limiter, 8, 6)[-1] == 3


def test_no_rise_while_the_client_never_fills_its_slots() -> None:
    """Photos decoded too slowly to use the slots: more slots would not be used either."""
    limiter = Limiter(16, timeout=300)
    assert _rounds(limiter, 8, 4, waited=False) == [1, 1, 1, 1]


def test_a_model_slower_per_request_is_not_given_more() -> None:
    """A GPU that batches: a second request in flight makes each take twice as long (no
    queue), so throughput does not rise and the limit goes back."""
    limiter = Limiter(16, timeout=3)
    assert _rounds(limiter, 8, 2) == [2, 4]
    for _ in range(limiter.round_size):
        limiter.wanted()
        limiter.answered(Sample(2 * SERVICE, "caption", Served(2 * SERVICE, 0.0),
                                limiter.epoch))
    assert limiter.limit == 2


def test_kinds_are_compared_with_their_own_unloaded_time() -> None:
    """Labels take longer than captions on the same server; neither is a queue."""
    limiter = Limiter(16, timeout=30)
    _round(limiter, 8, kind="caption")
    assert limiter.limit == 16
    # Labels' first answers queued on the server (16 on 8 slots): its own timings say so.
    assert _rounds(limiter, 8, 2, service=3 * SERVICE, kind="labels") == [9, 9]
    assert limiter.found == 8


def test_a_request_that_waited_near_the_read_timeout_lowers_it_at_once() -> None:
    limiter = Limiter(16, timeout=10)
    _rounds(limiter, 8, 3)
    assert limiter.found == 8
    before = limiter.limit
    limiter.answered(Sample(8.0, "caption", Served(SERVICE, 7.0), limiter.epoch))
    assert limiter.limit == before - 1


def test_a_failure_of_the_server_halves_it() -> None:
    limiter = Limiter(16, timeout=300)
    assert _rounds(limiter, 16, 1) == [16]
    limiter.failed()
    assert limiter.limit == 8
    limiter.failed()
    limiter.failed()
    limiter.failed()
    assert limiter.limit == 1


def test_answers_to_requests_sent_under_an_earlier_limit_do_not_count() -> None:
    """Just lowered from 8 to 5 on a 4-slot server, answers of requests sent earlier that did
    not queue must not say 5 is served without a queue."""
    limiter = Limiter(16, timeout=3)
    assert _rounds(limiter, 4, 4)[-1] == 5
    old = limiter.epoch - 1
    for _ in range(10):
        limiter.wanted()
        limiter.answered(Sample(SERVICE, "caption", Served(SERVICE, 0.0), old))
    assert (limiter.limit, limiter.found) == (5, 4)
    assert _round(limiter, 4) == 5
    assert limiter.found == 4


def test_a_longer_answer_is_not_a_slowdown() -> None:
    """The server's speed per answer token holds while answers' lengths vary."""
    limiter = Limiter(16, timeout=300)
    for _ in range(3):
        for index in range(limiter.round_size):
            tokens = 10 + 30 * (index % 2)
            service = 0.02 * tokens
            limiter.wanted()
            limiter.answered(Sample(service, "caption", Served(service, 0.0, 0.02),
                                    limiter.epoch))
    assert limiter.limit == limiter.found == 16


def test_a_new_run_starts_from_one_and_climbs_to_what_was_found_before() -> None:
    """A daemon's next job: one request first (the server may hang now), then straight to what
    the service served at once before with one waiting, not past it while climbing."""
    limiter = Limiter(16, timeout=300)
    _rounds(limiter, 4, 3)
    assert (limiter.found, limiter.limit) == (4, 5)
    limiter.resume()
    assert limiter.limit == 1
    assert _round(limiter, 4) == 5
    assert limiter.found == 1  # measured again in this run: one at once, unqueued


def test_a_new_run_finds_more_slots_one_at_a_time() -> None:
    limiter = Limiter(16, timeout=300)
    _rounds(limiter, 2, 2)
    assert limiter.limit == 3
    limiter.resume()
    assert _rounds(limiter, 8, 4) == [3, 4, 5, 6]


def test_a_new_run_before_anything_was_measured_climbs_as_the_first() -> None:
    limiter = Limiter(16, timeout=300)
    limiter.resume()
    assert _round(limiter, 8) == 16


def test_what_an_earlier_run_found_is_where_the_first_answer_takes_it() -> None:
    """The state database says the service served 4 at once: after one answer, 5 (one
    waiting), even where the read timeout would let the climb only double."""
    limiter = Limiter(16, timeout=3)
    limiter.recall(4)
    assert limiter.limit == 1
    assert _rounds(limiter, 4, 2) == [5, 5]
    assert limiter.found == 4


TOKEN = 0.3  # seconds from a request to its first streamed token, unqueued


def _answer(limiter: Limiter, seconds: float = SERVICE, epoch: int = 0) -> None:
    limiter.wanted()  # photos waited for a slot
    limiter.answered(Sample(seconds, "caption", Served(seconds, 0.0), epoch))


def test_the_first_token_of_the_first_answer_lets_a_second_request_go() -> None:
    """The first streamed token says the server is up and the model loaded: one more request
    goes at once. The first answer then ends the first round, as before."""
    limiter = Limiter(16, timeout=300)
    assert limiter.started(limiter.epoch, TOKEN)
    assert (limiter.limit, limiter.allowed) == (1, 2)
    _answer(limiter)
    assert limiter.limit == limiter.allowed == 16


def test_first_tokens_that_came_unqueued_double_it_before_any_answer() -> None:
    """Each time all the requests let in flight had their first token as quickly as the
    first (the server served them at once), twice as many go."""
    limiter = Limiter(16, timeout=300)
    allowed = []
    for _ in range(7):
        limiter.started(0, TOKEN)
        allowed.append(limiter.allowed)
    assert allowed == [2, 4, 4, 8, 8, 8, 8]
    assert limiter.limit == 1 and limiter.epoch == 0  # the answers' rounds are untouched


def test_a_first_token_that_waited_ends_the_doubling() -> None:
    limiter = Limiter(16, timeout=300)
    limiter.started(0, TOKEN)
    limiter.started(0, TOKEN)
    assert limiter.allowed == 4
    assert not limiter.started(0, TOKEN + SERVICE)  # queued behind a whole answer
    assert not limiter.started(0, TOKEN)
    assert limiter.allowed == 4


def test_a_cold_first_token_is_no_measure_of_the_others() -> None:
    """The first request may wait for the model to load: the quickest first token is the
    measure, so the later ones are not taken as queued."""
    limiter = Limiter(16, timeout=300)
    limiter.started(0, 20.0)
    assert limiter.started(0, TOKEN)
    assert limiter.allowed == 4


def test_the_first_answer_climbs_from_what_first_tokens_showed() -> None:
    """Two first tokens came unqueued, the next two waited: the server served two at once.
    With a read timeout that lets the climb only double, the first answer takes it to four
    (from the two shown), not to eight (from the four let in flight)."""
    limiter = Limiter(16, timeout=3)
    limiter.started(0, TOKEN)
    limiter.started(0, TOKEN)
    limiter.started(0, TOKEN + SERVICE)
    assert limiter.allowed == 4
    _answer(limiter)
    assert limiter.limit == 4


def test_first_tokens_and_a_short_read_timeout_reach_eight_slots_in_one_answer() -> None:
    limiter = Limiter(16, timeout=3)
    for _ in range(4):
        limiter.started(0, TOKEN)
    assert limiter.allowed == 8
    _answer(limiter)
    assert limiter.limit == 8  # four shown at once, doubled


def test_what_first_tokens_let_go_stays_when_the_read_timeout_allows_no_climb() -> None:
    """An answer that leaves no room for a queued request within the read timeout: no more,
    but what first tokens showed the server serving at once stays."""
    limiter = Limiter(16, timeout=3)
    limiter.started(0, TOKEN)
    limiter.started(0, TOKEN)
    assert limiter.allowed == 4
    _answer(limiter, seconds=2.0)
    assert limiter.limit == 2


def test_the_first_token_goes_to_what_an_earlier_run_found() -> None:
    limiter = Limiter(16, timeout=3)
    limiter.recall(4)
    assert limiter.started(limiter.epoch, TOKEN)
    assert limiter.allowed == 5
    assert not limiter.started(limiter.epoch, TOKEN)  # there, and no further before an answer
    assert _round(limiter, 4) == 5


def test_a_first_token_after_the_first_answer_changes_nothing() -> None:
    """Once answers came (a server that does not stream, or a later token), the answers'
    timings alone move the limit; a token of a request sent under an earlier limit neither."""
    limiter = Limiter(16, timeout=300)
    first_epoch = limiter.epoch
    limiter.answered(Sample(SERVICE, "caption", Served(SERVICE, 0.0), limiter.epoch))
    assert not limiter.started(limiter.epoch, TOKEN)
    assert limiter.allowed == limiter.limit == 1  # nothing waited: no rise
    limiter.resume()
    assert limiter.epoch != first_epoch
    assert not limiter.started(first_epoch, TOKEN)
    assert limiter.allowed == 1


def test_a_new_run_meets_the_server_again_and_its_first_token_lets_more_go() -> None:
    limiter = Limiter(16, timeout=300)
    _rounds(limiter, 4, 3)
    limiter.resume()
    assert limiter.allowed == 1
    assert limiter.started(limiter.epoch, TOKEN)
    assert limiter.allowed == 5


def test_a_first_token_never_lets_more_than_the_most() -> None:
    limiter = Limiter(1, timeout=300)
    assert not limiter.started(limiter.epoch, TOKEN)
    assert limiter.allowed == 1
    limiter = Limiter(3, timeout=300)
    for _ in range(3):
        limiter.started(0, TOKEN)
    assert limiter.allowed == 3


def test_a_new_runs_first_token_after_a_model_load_still_says_the_server_answers() -> None:
    """A daemon's next job, after the server unloaded the model: the first token waited for
    the load, far slower than any token before. It says the server answers all the same:
    what the service served before goes at once."""
    limiter = Limiter(16, timeout=300)
    limiter.started(limiter.epoch, TOKEN)
    _rounds(limiter, 4, 3)
    limiter.resume()
    assert limiter.started(limiter.epoch, 20.0)
    assert limiter.allowed == 5
