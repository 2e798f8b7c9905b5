"""The one input path for device frames: malformed or out-of-range frames from devices are logged with the
device and the reason, counted and ignored; they never stop the host or corrupt what is recorded.

Frames are injected into the zigpy application exactly as a radio delivers them (``packet_received``),
from the simulated GSME and IHD, on a bench that keeps running between examples."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import zigpy.types as zigpy_t
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Alarms, Time
from zigpy.zcl.clusters.smartenergy import Metering

import hal
from gateway.gpf import GasReading
from gateway.han_input import HanInput
from gateway.session import Gateway
from gbcs import DlmsDateTime

GSME = "00:0d:6f:00:0a:bc:00:02"
IHD = "00:0d:6f:00:0a:bc:00:03"
_M = Metering.AttributeDefs
_T = Time.AttributeDefs


class Bench:
    """A default sim:// session on its own virtual-time loop, kept open across hypothesis examples."""

    def __init__(self) -> None:
        self.loop = hal.new_event_loop("sim://")
        self.stack = contextlib.AsyncExitStack()
        self.gw: Gateway = self.run(self.stack.enter_async_context(Gateway.open(["sim://"])))
        self.app = self.gw.apps["radio0"]

        async def features() -> tuple[Any, Any]:  # features are made on the session's loop
            return self.gw.gpf, self.gw.alerts

        self.gpf, self.alerts = self.run(features())
        self.tap = HanInput.of(self.gw)
        self.escaped: list[tuple[bytes, Exception]] = []  # raised by zigpy itself out of packet_received

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def nwk(self, eui64: str) -> int:
        return int(self.gw.device(eui64).nwk)

    def inject(self, eui64: str, cluster_id: int, data: bytes) -> None:
        packet = zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=self.nwk(eui64)),
            src_ep=1,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
            dst_ep=1,
            profile_id=0x0109,
            cluster_id=cluster_id,
            data=zigpy_t.SerializableBytes(data),
            lqi=255,
            rssi=-40,
        )

        async def deliver() -> None:
            try:
                self.app.packet_received(packet)
            except (ValueError, TypeError) as exc:
                # unpatched zigpy raises out of packet_received on some bad frames (a ZCL header that does
                # not decode, a report whose value does not fit the attribute); hal.zigpy_fixes guards
                # the receive path, and test_zigpy_does_not_raise_on_bad_frames checks nothing escapes
                self.escaped.append((data, exc))
            await asyncio.sleep(0.6)  # let zigpy react; past the duplicate window

        self.run(deliver())

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    bench = Bench()
    try:
        yield bench
    finally:
        bench.close()


_tsn = iter(range(10**9))


def zcl(cluster: type, command: foundation.GeneralCommand | str, *, general: bool, **kwargs: Any) -> bytes:
    """A ZCL frame server->client, default response disabled, built with zigpy's schemas."""
    tsn = next(_tsn) & 0xFF
    if general:
        definition = foundation.GENERAL_COMMANDS[command]
        command_id = int(command)
    else:
        definition = next(c for c in cluster.client_commands.values() if c.name == command)
        command_id = definition.id
    control = foundation.FrameControl(
        frame_type=foundation.FrameType.GLOBAL_COMMAND if general else foundation.FrameType.CLUSTER_COMMAND,
        is_manufacturer_specific=False,
        direction=foundation.Direction.Server_to_Client,
        disable_default_response=True,
        reserved=0,
    )
    header = foundation.ZCLHeader(frame_control=control, tsn=tsn, command_id=command_id)
    return header.serialize() + definition.schema(**kwargs).serialize()


def report(cluster: type, values: dict[int, tuple[int, Any]]) -> bytes:
    records = [
        foundation.Attribute(attrid=attrid, value=foundation.TypeValue(type=zcl_type, value=value))
        for attrid, (zcl_type, value) in values.items()
    ]
    return zcl(cluster, foundation.GeneralCommand.Report_Attributes, general=True, attribute_reports=records)


def metering(**overrides: Any) -> bytes:
    values: dict[int, tuple[int, Any]] = {
        _M.current_summ_delivered.id: (0x25, zigpy_t.uint48_t(12_345)),
        _M.reading_snapshot_time.id: (0xE2, zigpy_t.UTCTime(0xFFFFFFFF)),
        _M.unit_of_measure.id: (0x30, zigpy_t.enum8(0x01)),
        _M.multiplier.id: (0x22, zigpy_t.uint24_t(1)),
        _M.divisor.id: (0x22, zigpy_t.uint24_t(1000)),
        _M.instantaneous_demand.id: (0x2A, zigpy_t.int24s(450)),
    }
    for name, value in overrides.items():
        attrid = getattr(_M, name).id
        if value is None:
            values.pop(attrid)
        else:
            values[attrid] = value
    return report(Metering, values)


def time_report(synchronised: bool = True) -> bytes:
    return report(Time, {
        _T.time.id: (0xE2, zigpy_t.UTCTime(0xFFFFFFFF)),
        _T.time_status.id: (0x18, zigpy_t.bitmap8(0x02 if synchronised else 0x00)),
    })


def alarm(code: int, cluster_id: int = 0x0702) -> bytes:
    return zcl(Alarms, "alarm", general=False, alarm_code=code, cluster_id=cluster_id)


# ---------------------------------------------------------------- specific bad frames, each with its reason

BAD_FRAMES = [
    ("truncated header", IHD, Alarms.cluster_id, b"\x09", "ZCL header"),
    ("alarm cut short", IHD, Alarms.cluster_id, alarm(3)[:-1], "command payload: alarm does not decode"),
    ("alarm with trailing bytes", IHD, Alarms.cluster_id, alarm(3) + b"\x00", "command payload: alarm has 1"),
    ("report cut short", GSME, Metering.cluster_id, metering()[:-2], "report attributes: payload does not"),
    ("report with no records", GSME, Metering.cluster_id, b"\x18\x01\x0a", "report attributes: no attribute"),
    ("wrong attribute type", GSME, Metering.cluster_id,
     metering(divisor=(0x21, zigpy_t.uint16_t(1000))), "attribute type: 0x0302 divisor"),
    ("negative demand", GSME, Metering.cluster_id,
     metering(instantaneous_demand=(0x2A, zigpy_t.int24s(-5))), "gas value: instantaneous demand -5"),
    ("unknown unit", GSME, Metering.cluster_id,
     metering(unit_of_measure=(0x30, zigpy_t.enum8(0x7F))), "unit of measure 0x7f unknown"),
    ("divisor zero", GSME, Metering.cluster_id,
     metering(divisor=(0x22, zigpy_t.uint24_t(0))), "divisor 0"),
]


@pytest.mark.parametrize(
    ("what", "eui64", "cluster_id", "data", "reason"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES]
)
def test_a_bad_frame_is_logged_counted_and_ignored(
    bench, caplog, what, eui64, cluster_id, data, reason
) -> None:
    before = bench.tap.stats.malformed
    readings = bench.gpf.readings(GSME)
    alerts = bench.alerts.stats()["received"]
    with caplog.at_level(logging.WARNING, logger="gateway.han_input"):
        bench.inject(eui64, cluster_id, data)
        if cluster_id == Metering.cluster_id:
            bench.inject(eui64, Time.cluster_id, time_report())
    assert bench.tap.stats.malformed == before + 1
    assert reason in bench.tap.rejects[-1].reason
    assert bench.tap.rejects[-1].eui64 == eui64
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.han_input"]
    assert any(eui64 in m and reason in m for m in messages), messages
    assert bench.gpf.readings(GSME) == readings  # nothing recorded
    assert bench.alerts.stats()["received"] == alerts


ZIGPY_RAISES = [
    ("truncated header", IHD, Alarms.cluster_id, b"\x09"),
    ("report value of type NoData", GSME, Metering.cluster_id, bytes.fromhex("18010a000000")),
]


@pytest.mark.parametrize(
    ("what", "eui64", "cluster_id", "data"), ZIGPY_RAISES, ids=[z[0] for z in ZIGPY_RAISES]
)
def test_zigpy_does_not_raise_on_bad_frames(bench, what, eui64, cluster_id, data) -> None:
    escaped = len(bench.escaped)
    bench.inject(eui64, cluster_id, data)
    assert bench.tap.rejects[-1].data == data  # the gateway's own path refused it
    assert len(bench.escaped) == escaped


def test_good_frames_after_bad_ones_still_work(bench) -> None:
    pushes = len(bench.gpf.readings(GSME))
    received = bench.alerts.stats()["received"]
    bench.inject(GSME, Metering.cluster_id, metering())
    bench.inject(GSME, Time.cluster_id, time_report())
    bench.inject(IHD, Alarms.cluster_id, alarm(9))
    readings = bench.gpf.readings(GSME)
    assert len(readings) == pushes + 1
    latest = readings[-1]
    assert latest.value == pytest.approx(0.45) and latest.summation == pytest.approx(12.345)
    assert latest.source == "GPF"  # 0xFFFFFFFF: the GSME gave no time
    assert bench.alerts.stats()["received"] == received + 1


def test_a_failing_handler_is_counted_and_the_others_still_run(bench) -> None:
    def broken(source: Any, args: Any) -> None:
        raise ZeroDivisionError("feature bug")

    unsubscribe = bench.tap.on_command(Alarms.cluster_id, 0x00, broken, service=None)
    errors = bench.tap.stats.handler_errors
    received = bench.alerts.stats()["received"]
    try:
        bench.inject(IHD, Alarms.cluster_id, alarm(10))
    finally:
        unsubscribe()
    assert bench.tap.stats.handler_errors == errors + 1
    assert bench.alerts.stats()["received"] == received + 1  # subscribed before the broken one


def test_a_retransmitted_frame_is_a_duplicate(bench) -> None:
    frame = alarm(11)
    received = bench.alerts.stats()["received"]
    duplicates = bench.tap.stats.duplicates

    async def twice() -> None:
        src = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=bench.nwk(IHD))
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0)
        packet = zigpy_t.ZigbeePacket(src=src, src_ep=1, dst=dst, dst_ep=1, profile_id=0x0109,
                                      cluster_id=Alarms.cluster_id, data=zigpy_t.SerializableBytes(frame))
        for _ in range(2):
            bench.app.packet_received(packet)
        await asyncio.sleep(0.6)

    bench.run(twice())
    assert bench.alerts.stats()["received"] == received + 1
    assert bench.tap.stats.duplicates == duplicates + 1


# ---------------------------------------------------------------- random frames at every handler

CLUSTERS = st.sampled_from([Metering.cluster_id, Time.cluster_id, Alarms.cluster_id])
RANDOM_BYTES = st.binary(min_size=0, max_size=40)
MUTATED = st.builds(
    lambda frame, cut, flip, extra: (frame[:cut] if cut else frame) + extra if flip is None
    else bytes(b ^ 0xFF if i == flip % max(len(frame), 1) else b for i, b in enumerate(frame)),
    st.sampled_from([metering(), time_report(), alarm(1), time_report(False)]),
    st.integers(0, 30),
    st.none() | st.integers(0, 40),
    st.binary(max_size=3),
)
FRAMES = st.lists(
    st.tuples(st.sampled_from([GSME, IHD]), CLUSTERS, RANDOM_BYTES | MUTATED), min_size=1, max_size=8
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=FRAMES)
def test_random_frames_never_stop_the_host_or_corrupt_the_records(bench, frames) -> None:
    stats = bench.tap.stats
    before = (stats.frames, stats.malformed, stats.dispatched, stats.handler_errors)
    for eui64, cluster_id, data in frames:
        bench.inject(eui64, cluster_id, data)
    assert stats.frames >= before[0] + len(frames)  # plus what the bench itself sent meanwhile
    assert stats.handler_errors == before[3]  # every failure was classified as a malformed frame
    # everything recorded is a whole, classified reading with a decodable 12-octet DLMS date-time
    for reading in bench.gpf.readings(GSME):
        assert isinstance(reading, GasReading)
        DlmsDateTime.parse(reading.dlms_datetime)
        assert reading.unit == "m3" or reading.unit
    counts = bench.alerts.stats()
    assert counts["forwarded"] + counts["suppressed"] == counts["received"]
    # the host is alive: a good alarm still goes through
    received = counts["received"]
    bench.inject(IHD, Alarms.cluster_id, alarm(200))
    assert bench.alerts.stats()["received"] == received + 1
