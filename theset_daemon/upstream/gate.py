"""The send gate of one provider: its strict rate, the pause every sender keeps after a 429 (or a
5xx with Retry-After), and the callers in priority order (``request_class.Priority``).

With other daemons on the same key, a :class:`ClusterSlots` (``cluster.py``) sets this daemon's
spacing and grants each send a slot of the key's shared window; the gate keeps the local order.

The rate is strict: no sliding second may hold more than ``max_rate_per_s`` sends. Two parts
keep it:

- an aiolimiter leaky bucket of capacity one send (plus :data:`LATENESS_CREDIT`) spaces the flow
  of work evenly (a bucket of the whole rate would allow a full burst on top of its refill);
- a log of this gate's sends over the last window (:func:`window_of`) is the bound itself: every
  send needs a free place in it.

What goes first in line (``Priority.ANSWERING``: import phase 1, and a token refresh) skips the
spacing and needs only the place. Waiting for the next evenly spaced slot would cost a person up
to one slot (52 ms at 20/s) while the jobs keep the provider saturated. So while people are being
answered (a send with ``request_class.person_waiting()`` within ``ANSWER_HEADROOM_HOLD_S``), the
other classes leave one place of each window free (:func:`headroom_places`: where the window has
ten or more), and the next answer finds it at once. Each answer also moves the others' schedule
on by the slot it used. That costs the other classes one send per window while people import,
and nothing otherwise (a token refresh a job started keeps nothing free). The first answer after
a quiet spell still waits for the next slot. ``bench/importer.py`` and ``bench/budget.py``
measure both sides.

The slot is taken just before the send and not held during the round-trip, so a slow answer
never lowers throughput. aiolimiter is used for the spacing; the log is ours, because no limiter
library gives one class of caller a place the others may not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiolimiter import AsyncLimiter

from theset_daemon.upstream import request_class
from theset_daemon.upstream.request_class import Priority

# The provider counts arrivals, not our sends, and arrivals jitter (a new connection, a busy loop
# on either side): one send delayed by J makes the next ones look J closer. Spacing sends so that
# any rate+1 of them span 1 s + this margin keeps every provider-side second within the limit
# for jitter up to the margin, at 1/(1 + margin) = 95% of the limit.
ARRIVAL_JITTER_MARGIN_S = 0.05
#: How late (in slots) a caller may wake for its slot without pushing the slots after it back.
#: A wake-up comes a few ms after its time (timers, the loop's other work); with a bucket of
#: exactly one send that lateness was lost at every slot, and one daemon sustained only 0.93 of
#: Spotify's 10/s. The credit lets the next send come that much sooner, on average on time; the
#: window's log (below) still bounds every span, so no window can hold more for it.
LATENESS_CREDIT = 0.1
#: The strict window: no span this long holds more than the rate's sends.
WINDOW_SPAN_S = 1.0 + ARRIVAL_JITTER_MARGIN_S
#: After an answer was sent, the other classes keep one place of each window free this long:
#: people import in bursts (a search, then the artists they follow, seconds apart), and past
#: a burst the place would only cost the jobs throughput.
ANSWER_HEADROOM_HOLD_S = 5.0
#: The place is kept only where it costs the others at most a tenth of the rate; below that
#: (Ticketmaster's 5/s, a daemon's split share) an answer waits for the next slot instead.
HEADROOM_MIN_PLACES = 10


def headroom_places(limit: int) -> int:
    """The places of a window of ``limit`` kept free for answers while people are answered."""
    return 1 if limit >= HEADROOM_MIN_PLACES else 0


def window_of(max_rate_per_s: float) -> tuple[int, float]:
    """(sends, span in seconds) of the strict window for a rate: ``floor(rate)`` sends per
    ``WINDOW_SPAN_S`` from 1/s up (no second then holds more than the rate), and one send per
    ``WINDOW_SPAN_S / rate`` below it."""
    limit = max(1, math.floor(max_rate_per_s))
    return limit, WINDOW_SPAN_S * limit / min(max_rate_per_s, limit)


class ProviderPaused(Exception):
    """The provider asked for a pause longer than the caller will wait."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"paused for {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class ClusterSlots(Protocol):
    """The key's rate as the other daemons share it (``cluster.SharedLimiter``)."""

    def local_rate(self) -> float:
        """This daemon's spacing now, in sends per second."""
        ...

    async def take(self, *, priority: Priority, answer: bool) -> bool:
        """Wait for the key's next slot; False when the spacing changed meanwhile. ``answer``:
        a person waits on this send, so the other classes keep a place free for a while."""
        ...


class SendGate:
    """Paces the sends of one provider: strict rate, a shared pause after a 429, and priority.

    Only one caller at a time waits inside the limiter; the others queue at a turnstile in front
    of it, in :class:`Priority` order: what an open HTTP request waits on (import phase 1), then
    the rest of the imports, then the jobs. A caller waiting inside the limiter (or for the
    cluster's slot) gives that slot up when a caller of a higher priority arrives, and goes back
    to the head of its own queue, so a phase-1 call waits at most for the slot in progress, never
    behind a send that merely reserved the next one. The slots themselves never move: the rate
    stays strict.

    After a pause, the callers of the higher priorities go first: a caller wakes one loop turn
    later for each level above its own.
    """

    def __init__(
        self, max_rate_per_s: Callable[[], float], cluster: ClusterSlots | None = None
    ) -> None:
        self._max_rate_per_s = cluster.local_rate if cluster is not None else max_rate_per_s
        self._cluster = cluster
        self._paused_until = 0.0
        self._limiter: AsyncLimiter | None = None
        self._spacing_s = 0.0
        # Scheduled slots an answer used while the others waited: they skip that many.
        self._slots_taken_out_of_turn = 0
        self._queues: dict[Priority, deque[asyncio.Future[None]]] = {p: deque() for p in Priority}
        self._busy = False
        # Set while a caller below the top priority waits for its slot: a caller of a higher
        # priority arriving resolves it, and the waiter steps aside.
        self._yield_slot: asyncio.Future[None] | None = None
        self._yield_priority = Priority.ANSWERING
        self._sent: deque[float] = deque()  # loop times of the sends in the current window
        self._answered_at = -math.inf

    def pause_for(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    def paused_for_s(self) -> float:
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    async def wait_turn(
        self,
        *,
        priority: Priority = Priority.BACKGROUND,
        max_pause_s: float = math.inf,
        first_in_turn: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Return when this caller may send; raise :class:`ProviderPaused` instead of sleeping
        through a pause longer than ``max_pause_s`` (a provider may ask for hours).

        ``first_in_turn`` runs once, the first time the caller owns the turnstile, before it
        waits for the slot: the quota's reservation, so that only the callers at the front
        (one, or one per priority that stepped aside) hold a unit not sent yet."""
        ahead = False  # a caller that gave its slot up re-queues at the head of its queue
        while True:
            if (pause := self.paused_for_s()) > 0:
                if pause > max_pause_s:
                    raise ProviderPaused(pause)
                await asyncio.sleep(pause)
                for _ in range(priority):
                    await asyncio.sleep(0)  # the higher priorities woken with us enter first
                continue
            await self._enter(priority, ahead=ahead)
            try:
                if first_in_turn is not None:
                    await first_in_turn()
                    first_in_turn = None
                acquired = await self._acquire(priority)
            finally:
                self._leave()
            if not acquired:
                ahead = True
                continue
            if self.paused_for_s() <= 0:  # no 429 arrived while we queued for the slot
                return

    async def _acquire(self, priority: Priority) -> bool:
        """Wait for the next slot (ours, then the cluster's); False when a caller of a higher
        priority took it over, or the cluster changed the spacing."""
        if priority is Priority.ANSWERING:
            return await self._slot(priority)
        if any(self._queues[higher] for higher in Priority if higher < priority):
            return False  # one came while this caller held the turnstile (its reservation)
        self._yield_slot = asyncio.get_running_loop().create_future()
        self._yield_priority = priority
        slot = asyncio.ensure_future(self._slot(priority))
        try:
            await asyncio.wait((slot, self._yield_slot), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._yield_slot = None
            if not slot.done():
                slot.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await slot
        return not slot.cancelled() and slot.result()

    async def _slot(self, priority: Priority) -> bool:
        if priority is not Priority.ANSWERING:
            await self._scheduled_slot()
        await self._place_in_window(priority)
        answer = priority is Priority.ANSWERING and request_class.person_waiting()
        if self._cluster is not None and not await self._cluster.take(
            priority=priority, answer=answer
        ):
            return False
        now = asyncio.get_running_loop().time()
        self._sent.append(now)
        if priority is Priority.ANSWERING and self._others_waiting():
            self._slots_taken_out_of_turn += 1
        if answer:
            self._answered_at = now
        return True

    async def _scheduled_slot(self) -> None:
        """The next evenly spaced slot, after those a send out of turn took meanwhile: without
        that, the others would send on schedule beside it, the sends would bunch into part of
        each window, and an answer arriving in the rest would wait for the window to empty."""
        limiter = self._current_limiter()
        if limiter.has_capacity(limiter.max_rate):  # drained: nobody waited for those slots
            self._slots_taken_out_of_turn = 0
        await limiter.acquire()
        while self._slots_taken_out_of_turn > 0:
            await limiter.acquire()
            self._slots_taken_out_of_turn -= 1

    def _others_waiting(self) -> bool:
        return self._yield_slot is not None or any(
            self._queues[p] for p in Priority if p is not Priority.ANSWERING
        )

    def _places(self, priority: Priority, limit: int) -> int:
        """The places of a window a send of ``priority`` may fill: all but the headroom for the
        other classes while people are being answered."""
        since_answer_s = asyncio.get_running_loop().time() - self._answered_at
        if priority is Priority.ANSWERING or since_answer_s >= ANSWER_HEADROOM_HOLD_S:
            return limit
        return limit - headroom_places(limit)

    async def _place_in_window(self, priority: Priority) -> None:
        """Wait until the window has a place for a send of ``priority``."""
        loop = asyncio.get_running_loop()
        while True:
            limit, span_s = window_of(self._max_rate_per_s())
            now = loop.time()
            while self._sent and self._sent[0] <= now - span_s:
                self._sent.popleft()
            places = self._places(priority, limit)
            if len(self._sent) < places:
                return
            # The send that must leave the window before this one fits.
            await asyncio.sleep(self._sent[len(self._sent) - places] + span_s - now)

    async def _enter(self, priority: Priority, *, ahead: bool = False) -> None:
        """Wait for the turnstile; returns owning it."""
        if not self._busy:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues[priority]
        if ahead:
            queue.appendleft(turn)
        else:
            queue.append(turn)
        waiting = self._yield_slot
        if waiting is not None and not waiting.done() and priority < self._yield_priority:
            waiting.set_result(None)  # the caller waiting for its slot steps aside
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # the turn was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # _leave may have skipped it already
                    queue.remove(turn)
            raise

    def _leave(self) -> None:
        for priority in Priority:
            queue = self._queues[priority]
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._busy = False

    def _current_limiter(self) -> AsyncLimiter:
        """The spacing of the other classes: their places spread evenly over the window."""
        limit, span_s = window_of(self._max_rate_per_s())
        spacing_s = span_s / self._places(Priority.BACKGROUND, limit)
        if self._limiter is None or spacing_s != self._spacing_s:  # new, reloaded, or headroom
            bucket = 1 + LATENESS_CREDIT  # the same rate, with room for a late wake-up
            self._limiter = AsyncLimiter(bucket, bucket * spacing_s)
            self._spacing_s = spacing_s
        return self._limiter
