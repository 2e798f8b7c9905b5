"""The simulated HAN's virtual clock: an asyncio loop whose time jumps to the next timer when idle.

``sim://`` runs zigpy, the simulator and the hub on virtual time (``hal.radio.new_event_loop``). This
loop keeps time the way ``looptime`` (the tests' pytest plugin) does, so a run gives the same virtual
timestamps on either: an integer count of microseconds, a jump of ``round(timeout * 1e6)`` (one tick for
a timeout below a microsecond) straight to the loop's next timer whenever nothing is ready and no I/O
is pending. What it leaves out is what costs a simulated run its CPU: looptime's no-op pass before
every jump (an empty ``_run_once`` per timer, i.e. per ``asyncio.sleep``), its weak-set scan of executor
futures on every pass, and its end-of-time and idle-timeout bookkeeping, none of which ``sim://`` uses.
bench/ota_throughput.py measures the difference; tests/hal/test_virtual_clock.py checks that a run
on it and on looptime record the same frames at the same times.

Real I/O still wins over virtual time: when the selector watches a file descriptor besides the loop's
self-pipe (a socket, a serial port), it is polled without waiting before the clock moves. Otherwise a
poll could bring only a wake-up through the self-pipe: a signal handler's (``add_signal_handler``: the rig
runner's SIGINT) is read on every ``POLL_EVERY_PASSES``-th pass, as is real I/O while work is ready.
asyncio's loop polls on every pass: in the main job that was 92 thousand system calls for 38 thousand
clock moves, the biggest single cost of the loop. With no timer and nothing pending, the loop waits for
I/O like any loop.

A worker thread (``run_in_executor``/``asyncio.to_thread``: the hub reads its OTA catalogue, Supplier key
and images in them) takes no virtual time, and its result comes at a fixed point of the run, so that one
seed gives one trace however loaded the machine is. The loop hands the thread's result over on the pass
after the one that started it, in the ready queue's order, exactly where asyncio's loop would put a result
that was there at once (an executor that runs its work inline): when that turn comes and the thread is not
done, the loop waits for it in real time, running nothing else and leaving the clock alone. Following real
time instead (waiting up to the next timer, then jumping, as looptime does) made a thread that ran long on
a loaded machine let timers fire before its result, and frames moved. Waiting without running anything
else keeps the order of everything at that virtual instant too: a result taken whenever the thread
finished would land among other ready work at a point set by the thread's speed. What this costs: the loop
serves no I/O or signal while it waits, for as long as a file read takes. The safety valve: a thread still
busy after ``THREAD_PATIENCE_S`` seconds of real time (one that waits for something that will not come, or
for the loop itself) is given up on, with one warning per loop that the run may not repeat: the loop goes
on, its result comes whenever the thread ends, and while it runs the clock follows real time as above
(the loop waits for it up to the next timer before jumping), so a hung thread slows a run but cannot
freeze it silently. zigpy's database (aiosqlite: its own thread and ``call_soon_threadsafe``, which no
loop can see) is not covered; ``sim://`` opens one only when ``RadioConfig.data_dir`` asks for it, which
the CLI and the rig runner never do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import heapq
import logging
import selectors
from asyncio import events
from asyncio.base_events import (
    _MIN_CANCELLED_TIMER_HANDLES_FRACTION,
    _MIN_SCHEDULED_TIMER_HANDLES,
    MAXIMUM_SELECT_TIMEOUT,
)
from typing import Any

TICKS_PER_SECOND = 1_000_000  # the clock's resolution (looptime's default): integer math, no float drift
POLL_EVERY_PASSES = 16  # how often a pass polls that has no other reason to (see the module docstring)
THREAD_PATIENCE_S = 10.0  # real seconds the loop waits for a worker thread before it goes on without it

_LOGGER = logging.getLogger(__name__)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time, starting at 0.0 s."""

    virtual_clock = True  # what gateway.progress and others ask (``is_virtual_clock``)

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        super().__init__(selector)
        self._ticks = 0
        self._late_threads: set[asyncio.Future[Any]] = set()  # past THREAD_PATIENCE_S (module docstring)
        self._warned_of_a_late_thread = False
        self._real_select = self._selector.select
        self._selector_map = self._selector.get_map()
        self._unpolled_passes = 0  # passes since the selector was last asked
        self._selector.select = self._select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._ticks / TICKS_PER_SECOND

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        """asyncio's ``run_in_executor``, with the result handed over on the next pass (module docstring)."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            self._check_default_executor()
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        work = executor.submit(func, *args)
        future = self.create_future()
        future.add_done_callback(lambda done: work.cancel() if done.cancelled() else None)
        self.call_soon(self._hand_over, work, future, func)
        return future

    def _hand_over(self, work: concurrent.futures.Future[Any], future: asyncio.Future[Any],
                   func: Any) -> None:
        if future.done():  # cancelled meanwhile: the result has nobody to go to (as with asyncio's loop)
            return
        concurrent.futures.wait([work], timeout=THREAD_PATIENCE_S)
        if work.done():
            _copy_state(work, future)
            return
        if not self._warned_of_a_late_thread:
            self._warned_of_a_late_thread = True
            _LOGGER.warning("worker thread %s still busy after %g s of real time: the simulated run goes "
                            "on without it, and its virtual times may not repeat", _job_name(func),
                            THREAD_PATIENCE_S)
        self._late_threads.add(future)
        future.add_done_callback(self._late_threads.discard)
        work.add_done_callback(lambda _: self._hand_over_late(work, future))

    def _hand_over_late(self, work: concurrent.futures.Future[Any], future: asyncio.Future[Any]) -> None:
        try:  # in the worker thread, as asyncio's own hand-over
            self.call_soon_threadsafe(lambda: None if future.done() else _copy_state(work, future))
        except RuntimeError:  # the loop closed meanwhile
            pass

    # Timers: asyncio keeps TimerHandle objects in its heap, and every heap step calls TimerHandle.__lt__,
    # a Python method (about five per timer pushed or popped: 420 thousand calls in the main job). This
    # loop keeps (when, handle) pairs instead, which the heap compares in C. The order is the same as
    # asyncio's: pairs with different times compare by time, and pairs with equal times fall back to the
    # handles' own comparison, exactly as asyncio's heap would; so a run schedules what it did before.
    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = events.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, (timer._when, timer))
        timer._scheduled = True
        return timer

    def _run_once(self) -> None:
        """asyncio's ``BaseEventLoop._run_once`` (3.11) on the heap of (when, handle) pairs, asking the
        selector only when its answer can change what runs next (module docstring, ``_select``)."""
        scheduled = self._scheduled
        sched_count = len(scheduled)
        if (sched_count > _MIN_SCHEDULED_TIMER_HANDLES
                and self._timer_cancelled_count / sched_count > _MIN_CANCELLED_TIMER_HANDLES_FRACTION):
            kept = []
            for entry in scheduled:
                if entry[1]._cancelled:
                    entry[1]._scheduled = False
                else:
                    kept.append(entry)
            heapq.heapify(kept)
            self._scheduled = scheduled = kept
            self._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0][1]._cancelled:
                self._timer_cancelled_count -= 1
                heapq.heappop(scheduled)[1]._scheduled = False

        ready = self._ready
        if ready or self._stopping:  # work to run now: the clock stays, and the selector waits its turn
            if self._unpolled_passes < POLL_EVERY_PASSES:
                self._unpolled_passes += 1
                events = None
            else:
                events = self._select(0)
        else:
            timeout = None
            if scheduled:
                now = self._ticks / TICKS_PER_SECOND  # self.time(), without a call per pass
                timeout = min(max(0, scheduled[0][0] - now), MAXIMUM_SELECT_TIMEOUT)
            events = self._select(timeout)
        if events:
            self._process_events(events)

        end_time = self._ticks / TICKS_PER_SECOND + self._clock_resolution
        while scheduled and scheduled[0][0] < end_time:
            handle = heapq.heappop(scheduled)[1]
            handle._scheduled = False
            ready.append(handle)

        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            if self._debug:
                try:
                    self._current_handle = handle
                    handle._run()
                finally:
                    self._current_handle = None
            else:
                handle._run()
        handle = None  # breaks the cycle an exception's traceback would hold

    def _select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # The real selector is asked only when its answer can change what runs next (module docstring).
        if timeout is None:  # no timer: only I/O (a socket, a thread's wake-up) can bring work
            return self._poll(None)
        watches_io = len(self._selector_map) > 1  # a file descriptor besides the loop's self-pipe
        if timeout and self._late_threads:  # a thread past its patience: its result may come first
            ready = self._poll(timeout)
        elif timeout and watches_io:  # real I/O wins over the timer
            ready = self._poll(0)
        elif self._unpolled_passes >= POLL_EVERY_PASSES and (watches_io or self._signal_handlers):
            ready = self._poll(0)  # now and then, so that a busy run never starves a socket or a signal
        else:
            self._unpolled_passes += 1
            ready = []
        if ready or not timeout or self._ready:  # work to run now (a thread's call_soon_threadsafe too)
            return ready
        step = round(timeout * TICKS_PER_SECOND)
        if timeout < 1 / TICKS_PER_SECOND:
            step += 1  # a sub-tick timeout still moves the clock, or the loop would spin on it
        self._ticks += step
        return ready

    def _poll(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        self._unpolled_passes = 0
        return self._real_select(timeout)


def _job_name(func: Any) -> str:
    if isinstance(func, functools.partial):  # asyncio.to_thread's partial(context.run, func, *args)
        func = func.args[0] if func.args and callable(func.args[0]) else func.func
    return str(getattr(func, "__qualname__", func))


def _copy_state(work: concurrent.futures.Future[Any], future: asyncio.Future[Any]) -> None:
    if work.cancelled():
        future.cancel()
    elif (error := work.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(work.result())


def is_virtual_clock(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` runs on virtual time: this module's loop, or a ``looptime`` loop (the tests')."""
    return bool(getattr(loop, "virtual_clock", False) or getattr(loop, "looptime_on", False))
