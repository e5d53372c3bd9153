"""The HTTP stack against a scripted loopback server: strict pacing, Retry-After, retries,
breaker, timeouts, malformed bodies, quotas and metrics."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import email.utils
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.upstream.conftest import ScriptedServer, json_reply
from tests.waiting import eventually
from theset_daemon.config import (
    BreakerSettings,
    RetrySettings,
    SpotifySettings,
    TicketmasterSettings,
)
from theset_daemon.upstream import gate as gate_module
from theset_daemon.upstream.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from theset_daemon.upstream.errors import (
    UpstreamMalformed,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTransportError,
    UpstreamUnavailable,
)
from theset_daemon.upstream.gate import (
    ARRIVAL_JITTER_MARGIN_S,
    SendGate,
    headroom_places,
    window_of,
)
from theset_daemon.upstream.http import Provider, retry_after_seconds
from theset_daemon.upstream.metrics import UpstreamMetrics
from theset_daemon.upstream.quota import rate_limit_reset_seconds
from theset_daemon.upstream.request_class import Priority, answering, first_in_line

Reply = Callable[[], web.StreamResponse]


def make_provider(
    session: aiohttp.ClientSession,
    *,
    rate: float = 100,
    attempts: int = 1,
    threshold: int = 5,
    reset_s: float = 30,
    probes: int = 1,
    timeout_s: float = 5,
    quota: int | None = None,
    max_delay_s: float = 30,
) -> tuple[Provider, CollectorRegistry]:
    retry = RetrySettings(max_attempts=attempts, base_delay_s=0.01, max_delay_s=max_delay_s)
    breaker = BreakerSettings(
        failure_threshold=threshold, reset_timeout_s=reset_s, half_open_max_calls=probes
    )
    settings: SpotifySettings | TicketmasterSettings
    if quota is None:
        settings = SpotifySettings(
            max_rate_per_s=rate, retry=retry, breaker=breaker, timeout_s=timeout_s
        )
    else:
        settings = TicketmasterSettings(
            max_rate_per_s=rate, retry=retry, breaker=breaker, timeout_s=timeout_s,
            daily_quota=quota,
        )  # fmt: skip
    registry = CollectorRegistry()
    provider = Provider("test", lambda: settings, session, UpstreamMetrics(registry))
    return provider, registry


def requests_counted(registry: CollectorRegistry, status: str) -> float | None:
    """``theset_upstream_requests_total`` for the test provider's ``/x`` answers of ``status``."""
    return registry.get_sample_value(
        "theset_upstream_requests_total", {"provider": "test", "endpoint": "/x", "status": status}
    )


def max_in_any_window(times: list[float], window_s: float = 1.0) -> int:
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_sends_are_strictly_paced_yet_near_the_limit(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    provider, _ = make_provider(session, rate=20)
    started = time.monotonic()
    await asyncio.gather(*(provider.request("GET", server.url, endpoint="/x") for _ in range(50)))
    elapsed = time.monotonic() - started
    assert max_in_any_window(server.arrivals) <= 20
    # 50 sends at 20/s need 49 gaps of 1/20 s: 2.45 s at the limit. How near the limit the
    # sustained rate is (>= 90%) is a speed target, measured by `make bench` (upstream: peak rate,
    # sustained / limit), not here, where a loaded machine made it fail; this only catches sends
    # that are no longer paced concurrently (one at a time would be 50 round trips and more).
    assert elapsed < 2 * 2.45, f"{49 / elapsed:.1f} req/s is under half of 20"


async def test_a_slow_answer_does_not_slow_the_sends(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    async def slow() -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({})

    server.default = slow
    provider, _ = make_provider(session, rate=20)
    await asyncio.gather(*(provider.request("GET", server.url, endpoint="/x") for _ in range(10)))
    # Paced at 20/s the 10 sends span about 0.47 s; waiting for each 0.5 s answer first would
    # stretch them over 4.5 s.
    span_s = max(server.arrivals) - min(server.arrivals)
    assert span_s < 1.5, span_s


async def test_retry_after_holds_every_sender_then_the_call_succeeds(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.script.append(json_reply(429, {"error": {"status": 429}}, {"Retry-After": "1"}))
    provider, _ = make_provider(session, rate=50, attempts=3)
    first = asyncio.create_task(provider.request("GET", server.url, endpoint="/x"))
    await eventually(lambda: provider.gate.paused_for_s() > 0, what="the 429's pause set")
    others = [provider.request("GET", server.url, endpoint="/x") for _ in range(5)]
    await asyncio.gather(first, *others)
    rate_limited_at = server.arrivals[0]
    later = server.arrivals[1:]
    assert len(later) == 6
    assert all(t >= rate_limited_at + 0.95 for t in later), [t - rate_limited_at for t in later]
    assert provider.rate_limited == 1


async def test_a_retry_after_longer_than_max_delay_fails_at_once(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.default = json_reply(429, {}, {"Retry-After": "120"})
    provider, _ = make_provider(session, attempts=4, max_delay_s=5)
    started = time.monotonic()
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.request("GET", server.url, endpoint="/x")
    assert info.value.retry_after_s == 120
    assert len(server.arrivals) == 1 and time.monotonic() - started < 1


async def test_a_pause_longer_than_max_delay_fails_the_next_calls_without_sending(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    """A provider that asks for two minutes must not hold every later call (and the run or the
    request waiting on it) for two minutes: they fail at once, nothing sent."""
    server.script.append(json_reply(429, {}, {"Retry-After": "120"}))
    provider, _ = make_provider(session, attempts=4, max_delay_s=5)
    with pytest.raises(UpstreamRateLimited):
        await provider.request("GET", server.url, endpoint="/x")
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match="provider asked for a pause") as info:
        await provider.request("GET", server.url, endpoint="/x")
    assert 119 < info.value.retry_after_s <= 120
    assert time.monotonic() - started < 1 and len(server.arrivals) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_with_retry_after_holds_every_sender_then_the_retry_succeeds(
    server: ScriptedServer, session: aiohttp.ClientSession, status: int
) -> None:
    server.script.append(json_reply(status, {}, {"Retry-After": "1"}))
    provider, _ = make_provider(session, rate=50, attempts=2)
    first = asyncio.create_task(provider.request("GET", server.url, endpoint="/x"))
    await eventually(lambda: provider.gate.paused_for_s() > 0, what="the 5xx's pause set")
    others = [provider.request("GET", server.url, endpoint="/x") for _ in range(3)]
    answers = await asyncio.gather(first, *others)
    assert all(a.body == {"ok": True} for a in answers)
    failed_at = server.arrivals[0]
    later = server.arrivals[1:]
    assert len(later) == 4  # the retry and the three others
    assert all(t >= failed_at + 0.95 for t in later), [t - failed_at for t in later]


async def test_a_server_error_asking_for_more_than_max_delay_is_not_retried(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.default = json_reply(503, {}, {"Retry-After": "60"})
    provider, _ = make_provider(session, attempts=4, max_delay_s=5)
    with pytest.raises(UpstreamServerError) as info:
        await provider.request("GET", server.url, endpoint="/x")
    assert info.value.retry_after_s == 60 and len(server.arrivals) == 1


def test_retry_after_parsing() -> None:
    now = time.time()
    in_3s = email.utils.formatdate(now + 3, usegmt=True)
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"Retry-After": "0.5"}) == 0.5
    parsed = retry_after_seconds({"Retry-After": in_3s}, now=lambda: now)
    assert parsed is not None and 2 <= parsed <= 3
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    reset_ms = str(int((now + 3600) * 1000))
    reset = rate_limit_reset_seconds({"Rate-Limit-Reset": reset_ms}, now=lambda: now)
    assert reset is not None and 3599 <= reset <= 3600


async def test_server_errors_are_retried_with_backoff(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.script.extend([json_reply(500), json_reply(503)])
    provider, registry = make_provider(session, attempts=3)
    response = await provider.request("GET", server.url, endpoint="/x")
    assert response.body == {"ok": True} and len(server.arrivals) == 3
    assert requests_counted(registry, "500") == 1


async def test_client_errors_are_not_retried_and_do_not_open_the_breaker(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.default = json_reply(404, {"error": {"status": 404, "message": "nope"}})
    provider, _ = make_provider(session, attempts=3, threshold=2)
    for _ in range(5):
        with pytest.raises(UpstreamNotFound):
            await provider.request("GET", server.url, endpoint="/x")
    assert len(server.arrivals) == 5
    assert provider.breaker.state is BreakerState.CLOSED


async def test_breaker_opens_refuses_without_sending_then_probes_and_closes(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.default = json_reply(500)
    provider, registry = make_provider(session, threshold=3, reset_s=0.3)
    for _ in range(3):
        with pytest.raises(UpstreamServerError):
            await provider.request("GET", server.url, endpoint="/x")
    assert provider.breaker.state is BreakerState.OPEN
    with pytest.raises(UpstreamUnavailable) as info:
        await provider.request("GET", server.url, endpoint="/x")
    assert 0 < info.value.retry_after_s <= 0.3
    assert len(server.arrivals) == 3
    assert registry.get_sample_value("theset_upstream_breaker_state", {"provider": "test"}) == 2

    await eventually(
        lambda: provider.breaker.state is BreakerState.HALF_OPEN, what="the reset timeout over"
    )
    server.default = json_reply(200, {"ok": True})
    await provider.request("GET", server.url, endpoint="/x")
    assert provider.breaker.state is BreakerState.CLOSED
    assert registry.get_sample_value("theset_upstream_breaker_state", {"provider": "test"}) == 0


async def test_timeouts_count_and_are_retried(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    async def hang() -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    server.default = hang
    provider, registry = make_provider(session, attempts=2, timeout_s=0.2)
    with pytest.raises(UpstreamTransportError, match=r"no answer in 0\.2 s"):
        await provider.request("GET", server.url, endpoint="/x")
    assert len(server.arrivals) == 2
    assert requests_counted(registry, "timeout") == 2


async def test_malformed_json_is_a_typed_error_naming_the_endpoint(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.default = lambda: web.Response(text='{"items": [', content_type="application/json")
    provider, _ = make_provider(session, attempts=2)
    with pytest.raises(UpstreamMalformed, match=r"test /artists/\{id\}: invalid JSON"):
        await provider.request("GET", server.url, endpoint="/artists/{id}")
    assert len(server.arrivals) == 2  # retried once: a garbled body is usually transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("probes", [1, 2])
def test_breaker_state_machine(probes: int) -> None:
    clock = FakeClock()
    settings = BreakerSettings(failure_threshold=3, reset_timeout_s=10, half_open_max_calls=probes)
    changes: list[BreakerState] = []
    breaker = CircuitBreaker("p", lambda: settings, clock=clock, on_change=changes.append)

    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    breaker.before_call()
    breaker.record_success()  # a success resets the consecutive count
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpenError):
        breaker.before_call()

    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    for _ in range(probes):
        breaker.before_call()  # the probes
    with pytest.raises(BreakerOpenError):
        breaker.before_call()  # one more than half_open_max_calls
    breaker.record_failure()  # a failed probe re-opens, for a full reset timeout again
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    with pytest.raises(BreakerOpenError):
        breaker.before_call()
    clock.now += 0.1
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_cancelled_probe_frees_its_slot() -> None:
    clock = FakeClock()
    settings = BreakerSettings(failure_threshold=1, reset_timeout_s=1, half_open_max_calls=1)
    breaker = CircuitBreaker("p", lambda: settings, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 1
    breaker.before_call()
    breaker.release()
    breaker.before_call()  # the slot is free again
    breaker.record_neutral()
    assert breaker.state is BreakerState.CLOSED


async def test_callers_go_in_priority_order_and_a_waiting_slot_steps_aside() -> None:
    gate = SendGate(lambda: 10.0)
    order: list[str] = []

    async def send(name: str, priority: Priority) -> None:
        await gate.wait_turn(priority=priority)
        order.append(name)

    jobs = [asyncio.create_task(send(f"job{i}", Priority.BACKGROUND)) for i in range(4)]
    await eventually(lambda: order == ["job0"], what="job0 sent, the others queued behind it")
    imports = [asyncio.create_task(send(f"import{i}", Priority.INTERACTIVE)) for i in range(2)]
    await asyncio.sleep(0)  # both imports queued at the turnstile
    await send("phase1", Priority.ANSWERING)
    await asyncio.gather(*jobs, *imports)
    # job0 took the first slot; import0, waiting inside the limiter for the next (it had taken
    # it from job1), stepped aside for phase 1; then the imports, then the jobs.
    assert order == ["job0", "phase1", "import0", "import1", "job1", "job2", "job3"], order


async def test_a_phase_1_call_that_came_during_a_reservation_goes_first() -> None:
    gate = SendGate(lambda: 10.0)
    order: list[str] = []
    await gate.wait_turn()  # the first slot is used: the next callers wait for slots

    async def slow_reservation() -> None:
        await asyncio.sleep(0.05)  # the ledger's round trip, while the job holds the turnstile

    async def send(name: str, priority: Priority, **kw: Any) -> None:
        await gate.wait_turn(priority=priority, **kw)
        order.append(name)

    job = asyncio.create_task(send("job", Priority.BACKGROUND, first_in_turn=slow_reservation))
    await asyncio.sleep(0.01)  # the job is reserving
    await send("phase1", Priority.ANSWERING)
    await job
    assert order == ["phase1", "job"]


async def test_answers_find_a_place_kept_free_while_the_jobs_saturate() -> None:
    """The jobs fill every window; the first answer waits at most for one send to leave it.
    From then on the jobs leave one place free, so the next answer goes at once, and no window,
    answers included, ever holds more than the limit."""
    rate_per_s = 10.0
    limit, span_s = window_of(rate_per_s)
    gate = SendGate(lambda: rate_per_s)
    sends: list[float] = []
    loop = asyncio.get_running_loop()

    async def background() -> None:
        while True:
            await gate.wait_turn()
            sends.append(loop.time())

    async def answer() -> float:
        asked = loop.time()
        with answering():
            await gate.wait_turn(priority=Priority.ANSWERING)
        sends.append(loop.time())
        return loop.time() - asked

    flood = asyncio.create_task(background())
    await eventually(lambda: len(sends) >= limit, what="the jobs fill the window")
    first_wait_s = await answer()
    await asyncio.sleep(span_s + 0.1)  # the jobs keep going, one place short
    second_wait_s = await answer()
    await asyncio.sleep(0.3)
    flood.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await flood
    slot_s = span_s / limit
    assert first_wait_s <= slot_s + 0.02, first_wait_s  # one send leaving, not a queue
    assert second_wait_s <= 0.01, second_wait_s  # the place kept free
    times = sorted(sends)
    busiest = max(bisect.bisect_left(times, t + span_s - 1e-6) - i for i, t in enumerate(times))
    assert busiest <= limit, times


def test_a_place_is_kept_only_where_the_window_has_ten() -> None:
    assert [headroom_places(limit) for limit in (2, 5, 9, 10, 20)] == [0, 0, 0, 1, 1]


@pytest.mark.parametrize(
    "before",
    [
        pytest.param("token refresh", id="first-in-line-but-no-person"),
        pytest.param("answer past the hold", id="answer-past-the-hold"),
    ],
)
async def test_without_people_waiting_the_jobs_use_the_whole_rate(
    before: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "ANSWER_HEADROOM_HOLD_S", 0.2)
    rate_per_s = 10.0
    limit, span_s = window_of(rate_per_s)
    gate = SendGate(lambda: rate_per_s)
    loop = asyncio.get_running_loop()
    # A token refresh a job started goes first but keeps nothing free; an answer keeps a place
    # for the (here shortened) hold only.
    with first_in_line() if before == "token refresh" else answering():
        await gate.wait_turn(priority=Priority.ANSWERING)
    await asyncio.sleep(span_s)  # out of the window, and past the hold
    started = loop.time()
    for _ in range(2 * limit + 1):
        await gate.wait_turn()
    elapsed_s = loop.time() - started
    # 2 * limit spacings: span / limit each at the whole rate (2.1 s), span / (limit - 1) with a
    # place kept (2.33 s). Judged at the midpoint, which leaves room for a loaded machine.
    whole_s, kept_s = 2 * span_s, 2 * limit * span_s / (limit - 1)
    assert whole_s - 0.02 <= elapsed_s < (whole_s + kept_s) / 2, elapsed_s


async def test_a_cancelled_waiter_does_not_block_the_gate() -> None:
    """A caller cancelled while it waits inside the limiter for the next slot leaves the
    turnstile free: the caller queued behind it takes that slot, and the gate goes on pacing."""
    rate_per_s = 20.0
    slot_s = (1 + ARRIVAL_JITTER_MARGIN_S) / rate_per_s
    gate = SendGate(lambda: rate_per_s)
    loop = asyncio.get_running_loop()
    await gate.wait_turn()
    first_s = loop.time()
    waiting = asyncio.create_task(gate.wait_turn())
    later = asyncio.create_task(gate.wait_turn())
    await asyncio.sleep(0)  # both run up to their wait: one in the limiter, one at the turnstile
    assert not waiting.done() and not later.done()
    waiting.cancel()
    await asyncio.wait_for(later, 1)
    later_s = loop.time()
    assert waiting.cancelled()
    await asyncio.wait_for(gate.wait_turn(), 1)  # the turnstile is free for the next caller
    next_s = loop.time()
    # And the rate stays strict: no two turns closer than one slot.
    assert later_s - first_s >= slot_s - 0.005, later_s - first_s
    assert next_s - later_s >= slot_s - 0.005, next_s - later_s
