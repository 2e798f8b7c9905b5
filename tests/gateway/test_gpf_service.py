"""The GPF on the live simulated HAN: each virtual GSME clock mode gives its SECMP0015 classification,
values and DLMS date-times match what the GSME pushed, tolerance boundaries, bounded history, CLI."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from zigpy.zcl.clusters.smartenergy import Metering

import hal
from gateway.cli import main
from gateway.gpf import ClockStatus, GpfPolicy, Source
from gateway.gpf_service import GasTimeout
from gateway.session import Gateway, RadioEndpoint
from gbcs import DlmsDateTime
from hal.sim.config import ClockMode, FaultKind, FaultSpec, default_bench

pytestmark = pytest.mark.looptime

PUSH_S = 300.0  # GSME push interval on these benches (after its first time sync at 60..120 s)
GSME_EUI64 = "00:0d:6f:00:0a:bc:00:02"
_M = Metering.AttributeDefs


def bench(clock: ClockMode = ClockMode.SYNCHRONISED, **gsme_sim: object) -> RadioEndpoint:
    config = default_bench()
    devices = tuple(
        dataclasses.replace(
            spec, sim=dataclasses.replace(spec.sim, clock=clock, gas_push_interval_s=PUSH_S, **gsme_sim)
        )
        if spec.id == "gsme"
        else spec
        for spec in config.devices
    )
    return RadioEndpoint("sim", "sim://", hal.RadioConfig(sim=config.replace(devices=devices)))


EXPECTED = {
    # clock mode: (source, clock status, DLMS clock-status octet, reason contains)
    ClockMode.SYNCHRONISED: (Source.GSME, ClockStatus.RELIABLE, 0x04, "within 10 s"),
    ClockMode.DRIFTING: (Source.GSME, ClockStatus.UNRELIABLE, 0x02, "unsynchronised"),
    ClockMode.UNSYNCHRONISED: (Source.GSME, ClockStatus.UNRELIABLE, 0x02, "unsynchronised"),
    ClockMode.ABSENT: (Source.GPF, ClockStatus.RELIABLE, 0x00, "GPF receipt time"),
}


@pytest.mark.parametrize("clock", list(EXPECTED), ids=str)
async def test_each_gsme_clock_mode_is_classified(clock: ClockMode) -> None:
    source, status, octet, reason = EXPECTED[clock]
    async with Gateway.open([bench(clock, drift_s_per_hour=30.0)]) as gw:
        gpf = gw.gpf
        record = await gpf.read(timeout_s=PUSH_S * 2)
        gsme = gw.apps["sim"].han.device("gsme")
        reading = record.reading
        assert record.eui64 == GSME_EUI64
        assert (reading.source, reading.clock_status) == (source, status)
        assert reason in reading.reason
        # the values are what the virtual GSME pushed (table holds them until its next push)
        table = gsme.attributes[Metering.cluster_id]
        assert reading.value == pytest.approx(table[_M.instantaneous_demand.id] / 1000)
        assert reading.summation == pytest.approx(table[_M.current_summ_delivered.id] / 1000)
        assert (reading.unit, reading.instantaneous_unit) == ("m3", "m3/h")
        # the DLMS date-time carries the timestamp and the clock-status octet
        decoded = DlmsDateTime.parse(reading.dlms_datetime)
        assert int(decoded.clock_status) == octet
        assert decoded.to_datetime() == reading.timestamp.replace(microsecond=reading.timestamp.microsecond
                                                                  // 10_000 * 10_000)
        if clock is ClockMode.ABSENT:
            assert reading.timestamp == reading.received_at
            assert record.push.timestamp is None
        else:
            sent = gsme.attributes[Metering.cluster_id][_M.reading_snapshot_time.id]
            assert record.push.timestamp == sent
        if clock is ClockMode.UNSYNCHRONISED:  # a clock never set: a year behind the hub
            assert reading.received_at - reading.timestamp > timedelta(days=364)
        if clock is ClockMode.SYNCHRONISED:
            assert abs((reading.timestamp - reading.received_at).total_seconds()) <= 10
        assert gpf.readings(GSME_EUI64) == (reading,)
        assert gpf._input.stats.malformed == 0


async def test_absent_clock_is_invalid_when_the_policy_requires_a_gsme_timestamp() -> None:
    async with Gateway.open([bench(ClockMode.ABSENT)]) as gw:
        gw.gpf.configure(policy=GpfPolicy(require_gsme_timestamp=True))
        record = await gw.gpf.read(timeout_s=PUSH_S * 2)
        assert (record.reading.source, record.reading.clock_status) == (Source.GSME, ClockStatus.INVALID)
        assert record.reading.dlms_datetime[-1] == 0x01


@pytest.mark.parametrize(
    ("drift", "status", "why"),
    [
        (3600.0, ClockStatus.INVALID, "ahead of GPF time"),
        (-3600.0, ClockStatus.UNRELIABLE, "behind GPF time"),
    ],
)
async def test_a_drifting_clock_that_still_claims_sync_leaves_the_tolerance(drift, status, why) -> None:
    async with Gateway.open([bench(ClockMode.SYNCHRONISED)]) as gw:
        gpf = gw.gpf
        gw.sim("sim").inject(FaultSpec(kind=FaultKind.CLOCK_DRIFT, device="gsme", after_s=150.0,
                                            drift_s_per_hour=drift))
        record = await gpf.read(timeout_s=PUSH_S * 2)
        assert record.push.time_synchronised is True
        assert record.reading.clock_status is status
        assert why in record.reading.reason


async def test_tolerance_boundary_on_the_live_bench() -> None:
    """A synchronised GSME's clock lags the hub by the time its time-sync reply waited for its poll:
    a tolerance one second above that lag says reliable, one below says unreliable."""
    async with Gateway.open([bench(ClockMode.SYNCHRONISED)]) as gw:
        gpf = gw.gpf
        first = await gpf.read(timeout_s=PUSH_S * 2)
        lag = (first.reading.received_at - first.reading.timestamp).total_seconds()
        assert 0 < lag <= 10
        gpf.configure(policy=GpfPolicy(tolerance_s=int(lag) + 1))
        second = await gpf.next_reading(timeout_s=PUSH_S * 2)
        assert second.reading.clock_status is ClockStatus.RELIABLE
        gpf.configure(policy=GpfPolicy(tolerance_s=int(lag) - 1))
        third = await gpf.next_reading(timeout_s=PUSH_S * 2)
        assert third.reading.clock_status is ClockStatus.UNRELIABLE
        assert "behind GPF time" in third.reading.reason


async def test_history_is_bounded_and_subscribers_see_every_push() -> None:
    async with Gateway.open([bench()]) as gw:
        gpf = gw.gpf
        gpf.configure(history_len=2)
        seen = []
        gpf.subscribe(seen.append)
        for _ in range(3):
            await gpf.next_reading(GSME_EUI64, timeout_s=PUSH_S * 2)
        assert len(seen) == 3
        assert gpf.readings(GSME_EUI64) == tuple(r.reading for r in seen[1:])
        assert gpf.latest(GSME_EUI64) == seen[-1]
        assert [r.reading.received_at for r in seen] == sorted(r.reading.received_at for r in seen)


async def test_no_push_in_time_is_unreachable() -> None:
    async with Gateway.open([bench()]) as gw:
        with pytest.raises(GasTimeout) as info:
            await gw.gpf.read(timeout_s=30)
        assert info.value.exit_code == 3
        assert GSME_EUI64 in str(info.value)


async def test_asking_a_non_gsme_is_bad_input() -> None:
    async with Gateway.open([bench()]) as gw:
        with pytest.raises(Exception) as info:
            await gw.gpf.read("00:0d:6f:00:0a:bc:00:03", timeout_s=30)
        assert info.value.exit_code == 2
        assert "IHD, not a GSME" in str(info.value)


# ---------------------------------------------------------------- the CLI


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_gas_read_json(capsys) -> None:
    code, out, err = run(capsys, "gas", "read", "--radio", "sim://", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["device"] == GSME_EUI64
    assert document["source"] == "GSME" and document["clock_status"] == "reliable"
    assert document["unit"] == "m3" and document["instantaneous_unit"] == "m3/h"
    dlms = bytes.fromhex(document["dlms_datetime"])
    assert len(dlms) == 12 and dlms[-1] == 0x04
    assert 0 <= document["age_s"] <= 10
    assert isinstance(document["value"], float)


def test_cli_gas_read_text_and_device_option(capsys) -> None:
    code, out, err = run(capsys, "gas", "read", "--radio", "sim://", "--device", "000d6f000abc0002")
    assert code == 0, err
    assert "clock_status   reliable" in out
    assert "dlms_datetime" in out and "age" in out


def test_cli_gas_read_timeout_exits_3_with_one_line(capsys) -> None:
    code, out, err = run(capsys, "gas", "read", "--radio", "sim://", "--timeout", "60")
    assert code == 3
    assert out == ""
    # the progress display said what it waited for and for how long; the error itself is one line
    [error] = [line for line in err.splitlines() if line.startswith("hanrig:")]
    assert "no gas push within 60 s" in error
    assert err.splitlines()[:2] == ["waiting for the GSME's next push (gas value)  up to 60 s simulated",
                                    "waiting for the GSME's next push (gas value)  done after 60 s simulated"]


def test_cli_gas_read_tolerance_comes_from_the_option(capsys) -> None:
    code, out, err = run(capsys, "gas", "read", "--radio", "sim://", "--tolerance", "0", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["clock_status"] == "unreliable"
    assert "tolerance 0 s" in document["reason"]
