"""Every fault the virtual PAN can inject, each shown by its effect on zigpy (or on the device)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import zigpy.exceptions
from sim_testlib import image_bytes, zigpy_image
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Alarms, Basic

from hal.sim.config import Direction, FaultKind, FaultSpec, default_bench


def basic_of(app, device_id: str):
    return app.get_device(ieee=app.han.device(device_id).ieee).endpoints[1].in_clusters[Basic.cluster_id]


async def read_model(app, device_id: str = "ihd"):
    success, _ = await basic_of(app, device_id).read_attributes(["model"], allow_cache=False)
    return success.get("model")


def with_faults(*faults: FaultSpec):
    return default_bench().replace(faults=faults)


async def test_drop_makes_frames_undeliverable_for_its_window(sim_han):
    # armed at 60 s (after the interview) for 30 s: every frame to the IHD is lost, then it recovers
    fault = FaultSpec(
        kind=FaultKind.DROP, device="ihd", direction=Direction.TO_DEVICE, after_s=60.0, duration_s=30.0
    )
    async with sim_han(with_faults(fault)) as app:
        await asyncio.sleep(60.0 - app.han.loop_time() + 1)
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await read_model(app)
        assert any(r.outcome == "lost" and r.dst == app.han.device("ihd").nwk for r in app.han.trace)
        await asyncio.sleep(40)
        assert await read_model(app) == "SIM-IHD"


async def test_corrupt_changes_what_arrives(sim_han):
    async with sim_han() as app:
        app.han.inject(
            FaultSpec(kind=FaultKind.CORRUPT, device="ihd", direction=Direction.FROM_DEVICE, count=1)
        )
        await asyncio.sleep(0)
        assert await read_model(app) != "SIM-IHD"  # the reply's last octet was flipped
        assert [r.outcome for r in app.han.trace if r.outcome == "corrupted"] == ["corrupted"]
        assert await read_model(app) == "SIM-IHD"  # count=1: the next one is clean


async def test_delay_holds_frames_back(sim_han):
    async with sim_han() as app:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await read_model(app)
        quick = loop.time() - start
        app.han.inject(
            FaultSpec(
                kind=FaultKind.DELAY, device="ihd", direction=Direction.FROM_DEVICE, delay_s=2.0, count=1
            )
        )
        await asyncio.sleep(0)
        start = loop.time()
        assert await read_model(app) == "SIM-IHD"
        assert loop.time() - start >= quick + 2.0


async def test_reboot_mid_transfer_rejoins_and_resumes_from_the_stored_offset(sim_han):
    fault = FaultSpec(kind=FaultKind.REBOOT, device="ihd", at_offset=1000, duration_s=2.0)
    config = with_faults(fault)
    config = config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, query_jitter_s=1.0)) for d in config.devices
        )
    )
    async with sim_han(config) as app:
        ihd = app.han.device("ihd")
        data = image_bytes(3000)
        status = await app.get_device(ieee=ihd.ieee).update_firmware(zigpy_image(data))
        assert status == foundation.Status.SUCCESS
        frames = [r for r in app.han.trace if r.src == ihd.nwk and r.cluster in (0x0013, 0x0019)]
        kinds = [
            "annce" if r.cluster == 0x0013 else {0x01: "query", 0x03: "block"}.get(r.data[2], "other")
            for r in frames
        ]
        reboot_at = kinds.index("annce", 1)  # the second Device_annce: back from the reboot
        assert "block" in kinds[:reboot_at] and kinds[reboot_at + 1] == "query"
        offsets = [int.from_bytes(r.data[12:16], "little") for r, k in zip(frames, kinds) if k == "block"]
        assert offsets == sorted(set(offsets))  # blocks in flash survive: it resumed, no repeats
        assert 1000 in offsets
        assert ihd.ota.current_file_version == 0x00020000


async def test_leave_is_reported_and_the_device_is_gone(sim_han):
    async with sim_han() as app:
        left = []
        app.add_listener(type("L", (), {"device_left": lambda self, dev: left.append(dev.ieee)})())
        ihd = app.han.device("ihd")
        app.han.inject(FaultSpec(kind=FaultKind.LEAVE, device="ihd"))
        await asyncio.sleep(1)
        assert left == [ihd.ieee]
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await read_model(app)


async def test_rejoin_comes_back_after_the_leave(sim_han):
    async with sim_han() as app:
        events = []
        app.add_listener(type("L", (), {"device_left": lambda self, dev: events.append("left")})())
        app.han.inject(FaultSpec(kind=FaultKind.REJOIN, device="ihd", duration_s=5.0))
        await asyncio.sleep(1)
        assert events == ["left"]
        await asyncio.sleep(10)
        assert app.han.device("ihd").joined
        assert await read_model(app) == "SIM-IHD"


async def test_unplugged_stick_loses_the_connection_and_comes_back(sim_han):
    async with sim_han() as app:
        events = []
        app.add_listener(
            type(
                "L",
                (),
                {
                    "connection_lost": lambda self, exc: events.append("lost"),
                    "connection_restored": lambda self: events.append("restored"),
                },
            )()
        )
        app.han.inject(FaultSpec(kind=FaultKind.UNPLUG, duration_s=10.0))
        await asyncio.sleep(1)
        assert events == ["lost"]
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await read_model(app)
        await asyncio.sleep(15)
        assert events == ["lost", "restored"]
        assert await read_model(app) == "SIM-IHD"


async def test_alert_storm_floods_the_hub_with_alarms(sim_han):
    async with sim_han() as app:
        received = []
        alarms = app.get_device(ieee=app.han.device("esme").ieee).endpoints[1].in_clusters[Alarms.cluster_id]
        alarms.add_listener(
            type("L", (), {"cluster_command": lambda self, tsn, command_id, args: received.append(args)})()
        )
        app.han.inject(FaultSpec(kind=FaultKind.ALERT_STORM, device="esme", rate_hz=10.0, duration_s=5.0))
        await asyncio.sleep(20)
        assert 45 <= len(received) <= 51
        assert received[0].cluster_id == 0x0702
        assert app.han.device("esme").alarms.rate_hz == 0.0  # back to quiet after the storm


async def test_clock_drift_runs_the_device_clock_fast(sim_han):
    async with sim_han() as app:
        gsme, esme = app.han.device("gsme"), app.han.device("esme")
        while not gsme.clock.synchronised:  # its first read of the hub's time (60..120 s in)
            await asyncio.sleep(10)
        app.han.inject(FaultSpec(kind=FaultKind.CLOCK_DRIFT, device="gsme", drift_s_per_hour=60.0))
        await asyncio.sleep(1)
        before = gsme.utc_now() - esme.utc_now()
        await asyncio.sleep(3600)
        after = gsme.utc_now() - esme.utc_now()
        assert after - before == pytest.approx(60, abs=2)
