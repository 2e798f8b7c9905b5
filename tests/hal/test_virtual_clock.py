"""hal.virtual_clock: the sim:// loop keeps looptime's clock (same frames at the same virtual times), jumps
straight to the next timer, and gives a worker thread's work no virtual time, so a run's trace does not
depend on how fast its threads are (one seed, one trace, on a loaded machine too)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

import looptime
import zigpy.types as zigpy_t

import hal
import hal.virtual_clock
import ota.catalogue
from gateway.session import Gateway, RadioEndpoint
from hal.roles import Role
from hal.sim.config import DeviceSimParams, DeviceSpec, SimConfig, SimSettings
from hal.virtual_clock import POLL_EVERY_PASSES, VirtualClockLoop, is_virtual_clock


def _contended_bench() -> SimConfig:
    """Three IHDs that download at once: CSMA-CA backoffs, collisions and retries on one channel."""
    devices = tuple(
        DeviceSpec(id=f"ihd{n}", role=Role.IHD, eui64=zigpy_t.EUI64.convert(f"00:0d:6f:00:0b:00:00:{n:02x}"),
                   sim=DeviceSimParams(query_jitter_s=0.5))
        for n in range(1, 4))
    return SimConfig(settings=SimSettings(host_link_baudrate=115200), devices=devices, source="<test>")


Frames = list[tuple[float, int, int, int, int, str]]


async def _push_and_trace() -> Frames:
    radio = RadioEndpoint("bench", "sim://", hal.RadioConfig(sim=_contended_bench()))
    async with Gateway.open([radio]) as gw:
        report = await gw.ota.push()
        assert report.ok, [o.reason for o in report.outcomes]
        return [(f.time, f.src, f.dst, f.cluster, f.length, f.outcome) for f in gw.sim("bench").frames()]


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each job at once in the loop's own thread: a worker thread that takes no time at all."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        done: concurrent.futures.Future = concurrent.futures.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:
            done.set_exception(error)
        return done


def _run(loop_factory: Callable[[], asyncio.AbstractEventLoop], *, inline: bool = False) -> Frames:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        if inline:
            runner.get_loop().set_default_executor(_InlineExecutor())
        return runner.run(_push_and_trace())


def test_a_simulated_ota_push_gives_the_same_frames_at_the_same_times_as_on_looptime():
    """Both loops run the hub's file reads inline: this compares the clocks, not how fast a thread is
    (looptime lets its clock follow real time while a thread works; that is the next test's subject)."""
    ours = _run(VirtualClockLoop, inline=True)
    reference = _run(lambda: looptime.new_event_loop(start=0.0, noop_cycles=0), inline=True)
    assert len(ours) > 1000
    assert ours == reference


def test_a_simulated_ota_push_gives_the_same_trace_however_slow_its_worker_threads_are(monkeypatch):
    """The hub reads its catalogue and images in worker threads; reads that take 50 ms more of real time
    (a loaded machine, a slow share) change no frame and no time, and neither does a real thread against
    one that takes no time at all."""
    inline = _run(VirtualClockLoop, inline=True)
    threaded = _run(VirtualClockLoop)
    read_image, load_catalogue = ota.catalogue.Entry.read, ota.catalogue.Catalogue.load.__func__

    def slow_read(entry: ota.catalogue.Entry) -> ota.catalogue.Image:
        time.sleep(0.05)
        return read_image(entry)

    def slow_load(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return load_catalogue(cls, *args, **kwargs)

    monkeypatch.setattr(ota.catalogue.Entry, "read", slow_read)
    monkeypatch.setattr(ota.catalogue.Catalogue, "load", classmethod(slow_load))
    slowed = _run(VirtualClockLoop)
    assert len(inline) > 1000
    assert threaded == inline
    assert slowed == inline


def test_sim_urls_get_the_virtual_clock_and_real_radios_a_normal_loop():
    loop = hal.new_event_loop("sim://")
    try:
        assert isinstance(loop, VirtualClockLoop) and is_virtual_clock(loop)
    finally:
        loop.close()
    loop = hal.new_event_loop("sim://?clock=real")
    try:
        assert not is_virtual_clock(loop)
    finally:
        loop.close()


async def _timeline() -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        seen.append((name, loop.time()))

    await asyncio.gather(sleeper("a", 3600.0), sleeper("b", 0.25), sleeper("c", 1e-7),
                         sleeper("d", 0.1 + 0.2))
    return seen


def test_the_clock_jumps_to_each_timer_exactly():
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        seen = runner.run(_timeline())
    assert seen == [("c", 1e-6), ("b", 0.25), ("d", 0.3), ("a", 3600.0)]
    assert time.perf_counter() - started < 5  # an hour of virtual time, not of real time


async def _thread_beside_a_timer(real_work_s: float) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    timer = asyncio.ensure_future(asyncio.sleep(30.0))
    short = asyncio.ensure_future(asyncio.sleep(0.001))
    await asyncio.to_thread(time.sleep, real_work_s)  # real work, while a 1 ms and a 30 s timer are pending
    thread_done = loop.time()
    await asyncio.gather(timer, short)
    return thread_done, loop.time()


def test_a_worker_threads_work_takes_no_virtual_time():
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        thread_done, timer_done = runner.run(_thread_beside_a_timer(0.05))
    assert thread_done == 0.0  # not 0.001: the thread's 50 ms of real time let no timer fire
    assert timer_done == 30.0


def test_a_thread_that_outlasts_the_loops_patience_is_left_behind_with_a_warning(monkeypatch, caplog):
    """The safety valve: past THREAD_PATIENCE_S of real time the loop goes on and the clock follows real
    time while the thread runs (it waits up to the next timer, then jumps), so a hung thread cannot freeze
    a run silently."""
    monkeypatch.setattr(hal.virtual_clock, "THREAD_PATIENCE_S", 0.02)
    with caplog.at_level(logging.WARNING, logger="hal.virtual_clock"), \
            asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        thread_done, timer_done = runner.run(_thread_beside_a_timer(0.3))
        runner.run(asyncio.to_thread(time.sleep, 0.1))  # a second late thread: no second warning
    assert thread_done == 0.001  # the 1 ms timer fired while the thread was late; the 30 s one did not
    assert timer_done == 30.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "worker thread sleep still busy" in warnings[0], warnings


class _Counted:
    """Counts a VirtualClockLoop's passes and its real selector calls (both instance attributes)."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        self.passes = self.polls = 0
        run_once, real_select = loop._run_once, loop._real_select

        def counted_run_once() -> None:
            self.passes += 1
            run_once()

        def counted_select(timeout: float | None = None) -> list:
            self.polls += 1
            return real_select(timeout)

        loop._run_once = counted_run_once  # type: ignore[method-assign]
        loop._real_select = counted_select  # type: ignore[method-assign]


async def _busy_and_sleepy(seen: list[str]) -> None:
    for n in range(2000):
        await (asyncio.sleep(0.001 * (n % 7)) if n % 3 else asyncio.sleep(0))
    seen.append("done")


def test_a_run_without_real_io_polls_the_selector_only_now_and_then_and_still_sees_a_signal():
    """Watching only its self-pipe (a signal handler, as the rig runner registers), the loop polls every
    POLL_EVERY_PASSES-th pass, not before every clock move; a signal still arrives within that many passes."""
    loop = VirtualClockLoop()
    counted = _Counted(loop)
    seen: list[str] = []
    sent: list[int] = []  # the pass count when the signal was sent
    loop.add_signal_handler(signal.SIGUSR1, lambda: seen.append(f"signal after {counted.passes - sent[0]}"))

    async def main() -> None:
        work = asyncio.ensure_future(_busy_and_sleepy(seen))
        await asyncio.sleep(0.5)
        sent.append(counted.passes)
        os.kill(os.getpid(), signal.SIGUSR1)
        await work

    try:
        loop.run_until_complete(main())
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.close()
    assert seen[-1] == "done" and seen[0].startswith("signal after ")
    assert int(seen[0].split()[-1]) <= POLL_EVERY_PASSES + 1
    assert counted.passes > 3000
    assert counted.polls <= counted.passes / POLL_EVERY_PASSES + 2  # asyncio's loop: one per pass


def test_pending_real_io_wins_over_the_clock_and_a_busy_run():
    """A socket that is readable is served before the clock jumps to a timer, and while work is ready
    within POLL_EVERY_PASSES passes."""
    loop = VirtualClockLoop()
    counted = _Counted(loop)
    ours, theirs = socket.socketpair()

    async def read_when_ready(spinning: bool) -> tuple[float, int]:
        got: asyncio.Future[tuple[float, int]] = loop.create_future()
        loop.add_reader(ours, lambda: got.done() or got.set_result((loop.time(), counted.passes)))
        spinner = asyncio.ensure_future(_spin()) if spinning else asyncio.ensure_future(asyncio.sleep(3600))
        await asyncio.sleep(0)
        started = counted.passes
        theirs.send(b"x")
        when, passes = await got
        loop.remove_reader(ours)
        ours.recv(1)
        spinner.cancel()
        return when, passes - started

    async def _spin() -> None:
        while True:
            await asyncio.sleep(0)

    try:
        when, _ = loop.run_until_complete(read_when_ready(spinning=False))
        assert when == 0.0  # not 3600.0: the readable socket came first
        _, passes = loop.run_until_complete(read_when_ready(spinning=True))
        assert passes <= POLL_EVERY_PASSES + 1
    finally:
        ours.close()
        theirs.close()
        loop.close()
