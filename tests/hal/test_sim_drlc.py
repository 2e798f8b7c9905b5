"""The simulated HCALCS's DRLC engine driven by real Load Control Event frames through zigpy: start/end
on simulated time, randomised offsets within bounds, overlap (supersede) rules, cancel, expiry,
duplicates, the ignore-events fault and the On/Off-only variant."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.se_clusters import DemandResponseLoadControl, EventControl, EventStatus
from hal.sim.config import default_bench
from hal.sim.drlc import DrlcEngine, LoadControlMode
from hal.sim.wire import parse_zcl

DRLC = DemandResponseLoadControl.cluster_id
HCALCS = "00:0d:6f:00:0a:bc:00:05"
RECEIVED = EventStatus.Load_Control_Event_Received


def bench(mode: LoadControlMode = LoadControlMode.DRLC):
    config = default_bench()
    devices = tuple(dataclasses.replace(s, sim=dataclasses.replace(s.sim, load_control=mode))
                    if s.id == "hcalcs" else s for s in config.devices)
    return config.replace(devices=devices)


def zigpy_hcalcs(app: Any) -> Any:
    return next(d for ieee, d in app.devices.items() if str(ieee) == HCALCS)


def device_utc(sim_device: Any) -> int:
    return sim_device.utc_now()


async def send_event(app: Any, event_id: int, start: int, minutes: int, level: int = 100,
                     randomise: bool = False) -> None:
    cluster = zigpy_hcalcs(app).endpoints[1].out_clusters[DRLC]
    await cluster.client_command(
        0x00, issuer_event_id=event_id, device_class=1 << 10, utility_enrollment_group=0, start_time=start,
        duration_in_minutes=minutes, criticality_level=1, cooling_temperature_offset=0xFF,
        heating_temperature_offset=0xFF, cooling_temperature_set_point=-0x8000,
        heating_temperature_set_point=-0x8000, average_load_adjustment_percentage=-0x80, duty_cycle=level,
        event_control=EventControl.randomize_start_time if randomise else EventControl(0))


def statuses(engine: Any, event_id: int) -> list[EventStatus]:
    return [r.status for r in engine.reports if r.issuer_event_id == event_id]


async def test_event_starts_and_ends_on_simulated_time(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        start = device_utc(hcalcs) + 300
        await send_event(app, 1, start, minutes=10)
        await asyncio.sleep(1)
        assert statuses(hcalcs.drlc, 1) == [EventStatus.Load_Control_Event_Received]
        assert not hcalcs.is_on
        await asyncio.sleep(300 + 600 + 5)
        assert statuses(hcalcs.drlc, 1) == [RECEIVED, EventStatus.Event_Started,
                                            EventStatus.Event_Completed]
        started, completed = [r.time_utc for r in hcalcs.drlc.reports[1:]]
        assert (started, completed) == (start, start + 600)
        # the switch went on at the start and back off (its state before) at the end
        assert [on for _, on in hcalcs.switch_log] == [True, False]
        on_at, off_at = (t for t, _ in hcalcs.switch_log)
        assert off_at - on_at == pytest.approx(600, abs=1)


async def test_level_other_than_100_switches_off(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        hcalcs.set_switch(True)
        await send_event(app, 7, 0, minutes=1, level=40)  # start time 0 = now
        await asyncio.sleep(5)
        assert not hcalcs.is_on
        await asyncio.sleep(70)
        assert hcalcs.is_on  # restored


class _FakeHost:
    """Just enough of a device for the engine's offset draw."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def random(self) -> float:
        return self.rng.random()


@pytest.mark.parametrize(("minutes", "limit"), [(30, 1799), (60, 1799), (1, 59), (0, 0)])
def test_offset_draws_stay_within_the_window(minutes: int, limit: int) -> None:
    engine = DrlcEngine(_FakeHost(minutes), LoadControlMode.DRLC)  # type: ignore[arg-type]
    engine.attributes[DemandResponseLoadControl.AttributeDefs.start_randomization_minutes.id] = minutes
    draws = [engine._offset(EventControl.randomize_start_time) for _ in range(2000)]
    assert min(draws) >= 0 and max(draws) <= limit
    if limit:
        assert max(draws) > limit * 0.95 and min(draws) < limit * 0.05  # the whole window is used
    assert engine._offset(EventControl(0)) == 0  # no randomisation asked for: no offset


async def test_randomised_offset_is_applied_and_reported_on_the_bench(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        engine = hcalcs.drlc
        start = device_utc(hcalcs) + 10
        for event_id in range(1, 5):  # four one-minute events, far enough apart never to overlap
            await send_event(app, event_id, start + (event_id - 1) * 1900, minutes=1, randomise=True)
        await asyncio.sleep(4 * 1900 + 60)
        offsets = []
        for event_id in range(1, 5):
            [started] = [r for r in engine.reports
                         if r.issuer_event_id == event_id and r.status is EventStatus.Event_Started]
            offsets.append(started.time_utc - (start + (event_id - 1) * 1900))
        assert all(0 <= o <= 1799 for o in offsets) and len(set(offsets)) == 4
        assert [e.offset_s for e in engine.events.values()] == offsets


async def test_newer_overlapping_event_supersedes_a_pending_one_at_once(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        now = device_utc(hcalcs)
        await send_event(app, 1, now + 3600, minutes=60)
        await send_event(app, 2, now + 3000, minutes=30)
        await asyncio.sleep(2)
        assert statuses(hcalcs.drlc, 1) == [RECEIVED, EventStatus.Event_Superseded]
        await asyncio.sleep(3000 + 1800 + 10)
        assert statuses(hcalcs.drlc, 1)[-1] is EventStatus.Event_Superseded  # never started
        assert statuses(hcalcs.drlc, 2) == [RECEIVED, EventStatus.Event_Started,
                                            EventStatus.Event_Completed]


async def test_running_event_is_superseded_when_the_newer_one_starts(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        now = device_utc(hcalcs)
        await send_event(app, 1, now + 10, minutes=60, level=100)
        await asyncio.sleep(60)
        assert hcalcs.is_on
        await send_event(app, 2, now + 600, minutes=10, level=0)
        await asyncio.sleep(60)
        assert statuses(hcalcs.drlc, 1) == [RECEIVED, EventStatus.Event_Started]
        await asyncio.sleep(600)
        superseded = [r for r in hcalcs.drlc.reports if r.status is EventStatus.Event_Superseded]
        assert [r.issuer_event_id for r in superseded] == [1]
        assert superseded[0].time_utc == now + 600
        assert not hcalcs.is_on  # event 2 (level 0) in control
        await asyncio.sleep(600)
        assert statuses(hcalcs.drlc, 2)[-1] is EventStatus.Event_Completed
        assert not hcalcs.is_on  # back to the state before event 1 took control (off)


async def test_cancel_expiry_duplicates_and_rejections(sim_han):
    async with sim_han(bench()) as app:
        hcalcs = app.han.device("hcalcs")
        cluster = zigpy_hcalcs(app).endpoints[1].out_clusters[DRLC]
        now = device_utc(hcalcs)
        await send_event(app, 1, now + 10, minutes=30)
        await send_event(app, 1, now + 10, minutes=30)  # duplicate: ignored
        await send_event(app, 2, now - 7200, minutes=60)  # ended an hour ago
        await send_event(app, 3, now + 10, minutes=1441)  # longer than a day
        await asyncio.sleep(60)
        for event_id in (1, 99):
            await cluster.client_command(0x01, issuer_event_id=event_id, device_class=1 << 10,
                                         utility_enrollment_group=0, cancel_control=0, effective_time=0)
        await asyncio.sleep(2)
        assert statuses(hcalcs.drlc, 1) == [RECEIVED, EventStatus.Event_Started,
                                            EventStatus.Event_Cancelled]
        assert statuses(hcalcs.drlc, 2) == [EventStatus.Rejected_Event_Expired]
        assert statuses(hcalcs.drlc, 3) == [EventStatus.Rejected]
        assert statuses(hcalcs.drlc, 99) == [EventStatus.Rejected_Invalid_Cancel_Undefined_Event]
        assert not hcalcs.is_on


async def test_ignore_events_fault_sends_nothing_and_switches_nothing(sim_han):
    async with sim_han(bench(LoadControlMode.IGNORE_EVENTS)) as app:
        hcalcs = app.han.device("hcalcs")
        await send_event(app, 1, 0, minutes=5)
        await asyncio.sleep(120)
        assert hcalcs.drlc.reports == [] and hcalcs.switch_log == []
        assert hcalcs.drlc.ignored == ["load_control_event"]


async def test_on_off_only_hcalcs_offers_no_drlc_client(sim_han):
    async with sim_han(bench(LoadControlMode.ON_OFF_ONLY)) as app:
        endpoint = zigpy_hcalcs(app).endpoints[1]
        assert DRLC not in endpoint.out_clusters
        assert 0x0006 in endpoint.in_clusters


class _RecordingHost:
    """A device stand-in for the engine: a clock, a switch, and the frames it would send."""

    def __init__(self) -> None:
        self.rng = random.Random(1)
        self.sent: list[bytes] = []
        self.on = False
        self.tasks: list[asyncio.Task[Any]] = []

    def utc_now(self) -> int:
        return 820540800 + int(asyncio.get_running_loop().time())

    def random(self) -> float:
        return self.rng.random()

    def next_tsn(self) -> int:
        return len(self.sent) & 0xFF

    def spawn(self, coro: Any, *, behaviour: bool = False) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task

    async def send_to_hub(self, cluster_id: int, data: bytes) -> None:
        self.sent.append(data)

    def set_switch(self, on: bool) -> None:
        self.on = on

    @property
    def is_on(self) -> bool:
        return self.on


_LCE_HEADER = bytes([0x19, 0x00])  # cluster command, server to client, no default response; TSN 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x00, 0x01, 0x02, 0x05]), st.binary(max_size=40)), max_size=6))
def test_random_drlc_commands_never_break_the_engine(commands: list[tuple[int, bytes]]) -> None:
    """Whatever the hub's frames hold, the engine parses through zigpy's schemas (a frame that does not
    parse is the device's ValueError drop), reports only defined statuses, and keeps offsets in bounds."""
    host = _RecordingHost()
    engine = DrlcEngine(host, LoadControlMode.DRLC)  # type: ignore[arg-type]

    async def drive() -> None:
        for command_id, payload in commands:
            try:
                frame = parse_zcl(DemandResponseLoadControl, _LCE_HEADER + bytes([command_id]) + payload)
            except ValueError:
                continue
            await engine.handle(frame)
        await asyncio.sleep(0)
        for task in host.tasks:
            task.cancel()
        await asyncio.gather(*host.tasks, return_exceptions=True)
        for task in host.tasks:
            assert task.cancelled() or task.exception() is None

    asyncio.run(drive())
    defined = {int(s) for s in EventStatus if not s.name.startswith("undefined")}
    for data in host.sent:
        frame = parse_zcl(DemandResponseLoadControl, data)
        assert frame.name == "report_event_status" and int(frame.payload.event_status) in defined
    assert all(0 <= e.offset_s <= 1799 for e in engine.events.values())
