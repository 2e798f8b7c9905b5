"""gw.loadcontrol on the simulated bench: DRLC events followed to start and end on simulated time,
offsets in bounds, overlap (supersede), a device that ignores events failing the check, the On/Off-only
fallback, the commander policy, bad DRLC status frames through the real input path, and the CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
import zigpy.types as zigpy_t
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hal
from gateway.cli import main
from gateway.han_input import HanInput
from gateway.loadcontrol import (
    Commander,
    CommandRefused,
    LoadCommand,
    LoadControlError,
    LoadControlPolicy,
    Transport,
    zcl_utc,
)
from gateway.session import Gateway, RadioEndpoint
from hal.se_clusters import DemandResponseLoadControl, EventStatus
from hal.sim.config import default_bench
from hal.sim.drlc import LoadControlMode
from hal.sim.wire import zcl_cluster_command

pytestmark = pytest.mark.looptime

HCALCS = "00:0d:6f:00:0a:bc:00:05"
DRLC = DemandResponseLoadControl.cluster_id


def bench(mode: LoadControlMode = LoadControlMode.DRLC) -> RadioEndpoint:
    config = default_bench()
    devices = tuple(dataclasses.replace(s, sim=dataclasses.replace(s.sim, load_control=mode))
                    if s.id == "hcalcs" else s for s in config.devices)
    return RadioEndpoint("sim", "sim://", hal.RadioConfig(sim=config.replace(devices=devices)))


async def test_on_event_runs_start_to_end_on_simulated_time() -> None:
    async with Gateway.open([bench()]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        sim = gw.apps["sim"].han.device("hcalcs")
        start = gw.apps["sim"].han.loop_time()
        result = await gw.loadcontrol.run(hcalcs, LoadCommand(level=100, duration_s=600, randomise_s=900),
                                          until="end")
        assert result.passed, result.problems
        assert result.transport is Transport.DRLC and result.offset_applied_by == "device"
        assert [s.status for s in result.statuses] == [
            "Load_Control_Event_Received", "Event_Started", "Event_Completed"]
        assert 0 <= result.offset_s <= result.window_s == 899
        started, completed = result.statuses[1].device_time, result.statuses[2].device_time
        assert started - result.scheduled_start == timedelta(seconds=result.offset_s)
        assert completed - started == timedelta(seconds=600)
        assert (result.state_after_start, result.state_after_end) == (True, False)
        # the switch log agrees, in PAN time: on after the offset, off 600 s later
        (on_at, on), (off_at, off) = sim.switch_log
        assert (on, off) == (True, False)
        assert off_at - on_at == pytest.approx(600, abs=1)
        assert on_at - start == pytest.approx(result.offset_s, abs=2)


async def test_level_below_100_and_a_scheduled_start() -> None:
    async with Gateway.open([bench()]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        gw.apps["sim"].han.device("hcalcs").set_switch(True)
        lc = gw.loadcontrol
        at = lc._now(hcalcs) + timedelta(minutes=20)
        result = await lc.run(hcalcs, LoadCommand(level=60, start=at, duration_s=120), until="end")
        assert result.passed, result.problems
        assert result.scheduled_start == at.replace(microsecond=0)
        assert result.statuses[1].device_time == result.scheduled_start  # no randomisation: offset 0
        assert (result.state_after_start, result.state_after_end) == (False, True)


async def test_overlapping_event_supersedes_the_running_one() -> None:
    async with Gateway.open([bench()]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        lc = gw.loadcontrol
        first = await lc.schedule(hcalcs, LoadCommand(level=100, duration_s=3600))
        assert (await lc.follow(first)).passed
        second_at = lc._now(hcalcs) + timedelta(minutes=10)
        second = await lc.schedule(hcalcs, LoadCommand(level=0, start=second_at, duration_s=600))
        result = await lc.follow(second, until="end")
        assert result.passed, result.problems
        superseded = first.find(EventStatus.Event_Superseded)
        assert superseded is not None and superseded.device_time == second.scheduled_start
        assert first.find(EventStatus.Event_Completed) is None
        assert result.state_after_start is False


async def test_a_device_that_ignores_events_fails_the_check() -> None:
    async with Gateway.open([bench(LoadControlMode.IGNORE_EVENTS)]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        result = await gw.loadcontrol.run(hcalcs, LoadCommand(level=100))
        assert not result.passed
        assert "did not acknowledge" in result.problems[0]
        assert result.statuses == () and result.offset_s is None


async def test_on_off_only_device_is_driven_by_the_hub() -> None:
    async with Gateway.open([bench(LoadControlMode.ON_OFF_ONLY)]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        result = await gw.loadcontrol.run(hcalcs, LoadCommand(level=100, duration_s=300, randomise_s=120),
                                          until="end")
        assert result.passed, result.problems
        assert result.transport is Transport.ON_OFF and result.offset_applied_by == "host"
        assert 0 <= result.offset_s <= 119
        assert [on for _, on in gw.apps["sim"].han.device("hcalcs").switch_log] == [True, False]
        # judged from the switch's own OnOff reports: started when it reported "on", ended on "off"
        assert [r.status for r in result.statuses] == ["Event_Started", "Event_Completed"]
        assert "OnOff attribute report (On/Off-only device)" in result.to_dict()["start_measured_from"]


async def test_an_on_off_only_switch_that_does_not_report_has_not_shown_it_switched() -> None:
    from hal.sim.config import Direction, FaultKind, FaultSpec

    async with Gateway.open([bench(LoadControlMode.ON_OFF_ONLY)]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        sim = gw.sim()
        # nothing it says on the On/Off cluster reaches the hub: its reports (and its acknowledgements)
        sim.inject(FaultSpec(kind=FaultKind.DROP, device="hcalcs", direction=Direction.FROM_DEVICE,
                             cluster=0x0006))
        result = await gw.loadcontrol.run(hcalcs, LoadCommand(level=100, duration_s=300))
        assert not result.passed
        assert "no OnOff attribute report of the switch" in result.problems[0]


async def test_policy_refuses_a_role_and_says_why() -> None:
    async with Gateway.open([bench()]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        lc = gw.loadcontrol
        lc.policy = LoadControlPolicy.of(["supplier"])
        with pytest.raises(CommandRefused) as info:
            await lc.run(hcalcs, LoadCommand(level=100, commander=Commander.NETWORK_OPERATOR))
        assert "network-operator may not command" in str(info.value)
        assert "allows: supplier" in str(info.value) and HCALCS in str(info.value)
        assert gw.apps["sim"].han.device("hcalcs").drlc.reports == []  # nothing was sent


@pytest.mark.parametrize(("command", "problem"), [
    (LoadCommand(level=101), "level 101 outside 0..100"),
    (LoadCommand(level=0, duration_s=90), "not whole minutes"),
    (LoadCommand(level=0, duration_s=86460), "not whole minutes"),
    (LoadCommand(level=0, randomise_s=1800), "randomise 1800 s outside 0..1799"),
])
def test_bad_commands_are_one_line_errors(command: LoadCommand, problem: str) -> None:
    with pytest.raises(LoadControlError, match=problem) as info:
        command.check()
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


async def test_random_drlc_frames_through_the_input_path_are_counted_and_ignored() -> None:
    async with Gateway.open([bench()]) as gw:
        [hcalcs] = gw.devices(role="HCALCS")
        lc = gw.loadcontrol
        app = gw.apps["sim"]
        event = await lc.schedule(hcalcs, LoadCommand(level=100, duration_s=120))
        tap = HanInput.of(gw)

        def inject(data: bytes) -> None:
            # zigpy.application.packet_received is where every radio library hands a frame in; the tap
            # sees it first (handle_message), then zigpy's own parser may raise on bytes it cannot parse
            # (a radio library's callback logs that), which is zigpy's business, not the feature's
            with contextlib.suppress(ValueError, KeyError):
                app.packet_received(zigpy_t.ZigbeePacket(
                    src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=hcalcs.nwk),
                    src_ep=1,
                    dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), dst_ep=1,
                    profile_id=0x0109, cluster_id=DRLC, data=zigpy_t.SerializableBytes(data), tsn=0,
                    lqi=255, rssi=-40))

        header = bytes([0x09, 0x00, 0x00])  # cluster command, client to server, no default response, 0x00
        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=80), st.binary(max_size=70).map(lambda b: header + b)))
        def throw(data: bytes) -> None:
            inject(data)

        frames_before = tap.stats.frames
        throw()
        assert tap.stats.frames - frames_before >= 300
        # a well-formed status with an undefined code and one for an unknown event: refused / counted
        fields = dict(event_status_time=0, criticality_level_applied=1, duty_cycle_applied=100,
                      cooling_temperature_set_point_applied=0, heating_temperature_set_point_applied=0,
                      average_load_adjustment_percentage_applied=0, event_control=0, signature_type=0,
                      signature=[0xFF] * 42)

        def status_frame(tsn: int, event_id: int, status: int) -> bytes:
            return zcl_cluster_command(DemandResponseLoadControl, tsn, "report_event_status",
                                       server_to_client=False, issuer_event_id=event_id, event_status=status,
                                       **fields)

        inject(status_frame(1, event.issuer_event_id, 0x50))
        before = lc.unsolicited
        inject(status_frame(2, 0x1234, EventStatus.Event_Started))
        assert lc.unsolicited == before + 1
        assert tap.stats.malformed > 0 and tap.stats.handler_errors == 0
        assert any("not a defined DRLC event status" in r.reason for r in tap.rejects)
        # the host kept going: the real event still runs to its end and passes
        result = await lc.follow(event, until="end")
        assert result.passed, result.problems
        assert all(r.status_int in (1, 2, 3) for r in result.statuses)


def test_cli_set_on_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["hcalcs", "set", "--radio", "sim://", "--device", HCALCS, "--on", "--randomise", "600",
              "--duration", "600", "--until", "end", "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["device"] == HCALCS and document["transport"] == "drlc" and document["passed"]
    assert document["issuer_event_id"] == f"0x{document['issuer_event_id_int']:08x}"
    assert 0 <= document["offset_s"] <= 599
    assert (document["state_after_start"], document["state_after_end"]) == ("on", "off")
    assert [s["status"] for s in document["statuses"]][-1] == "Event_Completed"


def test_cli_ignoring_device_exits_1_and_policy_refusal_exits_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text('[rig]\nname = "t"\n\n[[radios]]\nid = "sim"\nurl = "sim://"\n\n'
                   '[[devices]]\nid = "hcalcs"\nrole = "HCALCS"\neui64 = "00:0d:6f:00:0a:bc:00:05"\n\n'
                   '[devices.sim]\nload_control = "ignore_events"\n\n'
                   '[policies]\nhcalcs_commanders = ["supplier"]\n')
    radio = f"sim://?rig={rig}"
    with pytest.raises(SystemExit) as exit_info:
        main(["hcalcs", "set", "--radio", radio, "--device", HCALCS, "--off"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "did not acknowledge" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["hcalcs", "set", "--radio", radio, "--device", HCALCS, "--off", "--as", "network-operator"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "policy hcalcs_commanders allows: supplier" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["hcalcs", "set", "--radio", "sim://", "--device", HCALCS, "--on", "--level", "5"])
    assert exit_info.value.code == 2


def test_issuer_event_ids_follow_hub_utc_and_never_repeat() -> None:
    from datetime import UTC, datetime

    from gateway.loadcontrol import LoadControl

    lc = LoadControl(None)  # type: ignore[arg-type]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [lc._next_event_id(now) for _ in range(3)]
    assert ids == [zcl_utc(now), zcl_utc(now) + 1, zcl_utc(now) + 2]
    assert lc._next_event_id(now + timedelta(seconds=60)) == zcl_utc(now) + 60
