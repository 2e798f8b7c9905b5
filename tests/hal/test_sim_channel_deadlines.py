"""The simulated channel schedules a frame's MAC steps (backoff, frame, ACK) against deadlines: in real
time (the virtual EZSP stick) a timer that fires late shortens the next step, so lateness does not add up
over a frame; in virtual time each step sleeps exactly what it asks for, so seeded traces are unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hal.sim import channel


class ScriptedLoop:
    """A loop whose clock reads the scripted wake-up times, one per step; a timer (a step on time is one
    timer at its deadline) fires at once, noting how far ahead of the clock it was set."""

    def __init__(self, wake_ups: list[float], asked: list[float]) -> None:
        self.wake_ups = wake_ups
        self.asked = asked
        self.now = 0.0

    def time(self) -> float:
        self.now = self.wake_ups.pop(0)
        return self.now

    def create_future(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()

    def call_at(self, when: float, callback: Any, *args: Any) -> asyncio.Handle:
        self.asked.append(when - self.now)
        callback(*args)
        return asyncio.get_running_loop().call_soon(lambda: None)


def _requested(monkeypatch: pytest.MonkeyPatch, wake_ups: list[float], steps: list[float]) -> list[float]:
    asked: list[float] = []

    async def sleep(seconds: float) -> None:  # a late step's shortened sleep
        asked.append(seconds)

    monkeypatch.setattr(channel.asyncio, "sleep", sleep)
    deadlines = channel._Deadlines(ScriptedLoop(wake_ups, asked))  # type: ignore[arg-type]

    async def frame() -> None:
        for seconds in steps:
            await deadlines.sleep(seconds)

    asyncio.run(frame())
    return asked


def test_a_late_timer_shortens_the_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # steps of 1.0, 2.0, 0.5 and 0.25 ms from t=0; the timers fire 0.5 ms, 0.1 ms and 1 ms late
    asked = _requested(monkeypatch, [0.0, 0.0015, 0.0031, 0.0045], [0.001, 0.002, 0.0005, 0.00025])
    assert asked == pytest.approx([0.001, 0.0015, 0.0004, 0.0])  # deadlines 1, 3, 3.5, 3.75 ms
    assert asked[-1] == 0.0  # a step already overdue does not sleep, and never a negative time


def test_virtual_time_sleeps_exactly_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # the virtual clock counts whole microseconds: it reads the deadlines up to half of one off
    steps = [0.000352, 0.004256, 0.000864]
    wake_ups = [0.0, 0.0003524, 0.0046081, 0.005472]
    # each timer is set for now + step: exactly the step, up to the float sum's last bit
    assert _requested(monkeypatch, wake_ups, steps) == pytest.approx(steps, rel=1e-12, abs=0)
