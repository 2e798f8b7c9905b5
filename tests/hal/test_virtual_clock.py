"""hal.virtual_clock: the sim:// loop keeps looptime's clock (same frames at the same virtual times), jumps
straight to the next timer, and lets a worker thread's real work finish before the clock moves past it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import looptime
import zigpy.types as zigpy_t

import hal
from gateway.session import Gateway, RadioEndpoint
from hal.roles import Role
from hal.sim.config import DeviceSimParams, DeviceSpec, SimConfig, SimSettings
from hal.virtual_clock import VirtualClockLoop, is_virtual_clock


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


def _run(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> Frames:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_push_and_trace())


def test_a_simulated_ota_push_gives_the_same_frames_at_the_same_times_as_on_looptime():
    ours = _run(VirtualClockLoop)
    reference = _run(lambda: looptime.new_event_loop(start=0.0, noop_cycles=0))
    assert len(ours) > 1000
    assert ours == reference


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


async def _thread_beside_a_timer() -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    release = threading.Event()
    timer = asyncio.ensure_future(asyncio.sleep(30.0))
    loop.call_soon(lambda: threading.Timer(0.05, release.set).start())
    await asyncio.to_thread(release.wait, 5)  # real work of 50 ms, while a 30 s timer is pending
    thread_done = loop.time()
    await timer
    return thread_done, loop.time()


def test_a_worker_threads_result_comes_before_the_clock_jumps_past_it():
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        thread_done, timer_done = runner.run(_thread_beside_a_timer())
    assert thread_done < 1.0       # the thread's 50 ms of real time, not the 30 s timer's jump
    assert timer_done == 30.0
