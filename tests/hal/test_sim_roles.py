"""Role behaviour of the virtual devices (GSME pushes and clocks, HCALCS switch, ESME cells, alerts) and
seed-reproducible frame traces."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from zigpy.zcl.clusters.general import Alarms, OnOff, Time
from zigpy.zcl.clusters.smartenergy import Metering

from hal.sim.config import ClockMode, SimSettings, default_bench


def bench(seed: int = 1, **gsme_changes):
    config = default_bench(SimSettings(seed=seed))
    return config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, **gsme_changes)) if d.id == "gsme" else d
            for d in config.devices
        )
    )


class Reports:
    """Collects attribute reports zigpy hands to a cluster."""

    def __init__(self, cluster) -> None:
        self.values: list[tuple[int, object]] = []
        cluster.on_event(
            "attribute_report", lambda event: self.values.append((event.attribute_id, event.value))
        )


async def test_gsme_pushes_gas_values_with_its_own_clock(sim_han):
    async with sim_han(bench(gas_push_interval_s=300.0)) as app:
        gsme = app.han.device("gsme")
        endpoint = app.get_device(ieee=gsme.ieee).endpoints[1]
        metering, time = (
            Reports(endpoint.in_clusters[Metering.cluster_id]),
            Reports(endpoint.in_clusters[Time.cluster_id]),
        )
        await asyncio.sleep(3 * 300 + 1)
        ids = Metering.AttributeDefs
        got = dict(metering.values)
        assert {
            ids.current_summ_delivered.id,
            ids.instantaneous_demand.id,
            ids.unit_of_measure.id,
            ids.multiplier.id,
            ids.divisor.id,
            ids.reading_snapshot_time.id,
            ids.status.id,
        } <= set(got)
        assert got[ids.unit_of_measure.id] == 0x01 and got[ids.divisor.id] == 1000
        assert gsme.pushes >= 3
        snapshots = [v for a, v in metering.values if a == ids.reading_snapshot_time.id]
        assert snapshots == sorted(snapshots) and len(set(snapshots)) == len(snapshots)
        # the Time report carries the GSME's clock and whether it is synchronised with the hub
        status = [v for a, v in time.values if a == Time.AttributeDefs.time_status.id]
        assert status and status[-1] & Time.TimeStatus.Synchronized


@pytest.mark.parametrize("mode", [ClockMode.ABSENT, ClockMode.UNSYNCHRONISED])
async def test_gsme_clock_modes(sim_han, mode):
    async with sim_han(bench(clock=mode, gas_push_interval_s=120.0)) as app:
        gsme = app.han.device("gsme")
        metering = Reports(app.get_device(ieee=gsme.ieee).endpoints[1].in_clusters[Metering.cluster_id])
        await asyncio.sleep(400)
        snapshots = [v for a, v in metering.values if a == Metering.AttributeDefs.reading_snapshot_time.id]
        assert snapshots
        if mode is ClockMode.ABSENT:
            assert all(int(s) == 0xFFFFFFFF for s in snapshots)  # no clock: invalid timestamps
        else:
            assert not gsme.clock.synchronised
            assert app.han.device("esme").utc_now() - gsme.utc_now() > 300 * 86400


async def test_hcalcs_switches_on_and_off(sim_bench):
    hcalcs = sim_bench.han.device("hcalcs")
    on_off = sim_bench.get_device(ieee=hcalcs.ieee).endpoints[1].in_clusters[OnOff.cluster_id]
    await on_off.on()
    assert hcalcs.is_on
    success, _ = await on_off.read_attributes(["on_off"], allow_cache=False)
    assert success["on_off"]
    await on_off.off()
    assert not hcalcs.is_on
    assert [state for _, state in hcalcs.switch_log] == [True, False]


async def test_alerts_at_a_configured_rate(sim_han):
    config = default_bench()
    config = config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, alert_rate_hz=0.5))
            if d.id == "ppmid"
            else d
            for d in config.devices
        )
    )
    async with sim_han(config) as app:
        ppmid = app.han.device("ppmid")
        start = ppmid.alarms.sent
        await asyncio.sleep(60)
        assert ppmid.alarms.sent - start == pytest.approx(30, abs=1)
        alarms = [r for r in app.han.trace if r.src == ppmid.nwk and r.cluster == Alarms.cluster_id]
        assert alarms and all(r.data[2] == 0x00 for r in alarms)  # the ZCL "alarm" command


async def test_esme_holds_trust_anchor_cells_from_its_config(sim_han):
    cells = {"supplier-DS-management": b"\x30\x82\x01\x00" + bytes(256)}
    config = default_bench()
    config = config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, trust_anchors=cells))
            if d.id == "esme"
            else d
            for d in config.devices
        )
    )
    async with sim_han(config, wait_for_devices=False) as app:
        esme = app.han.device("esme")
        assert esme.trust_anchors == cells
        assert esme.trust_anchor_digest("supplier-DS-management") is not None


async def _trace(sim_han, seed: int) -> list[tuple]:
    config = bench(seed=seed, gas_push_interval_s=60.0)
    config = config.replace(
        devices=tuple(
            dataclasses.replace(d, sim=dataclasses.replace(d.sim, alert_rate_hz=0.2)) if d.id == "ihd" else d
            for d in config.devices
        ),
        settings=dataclasses.replace(config.settings, frame_loss=0.05),
    )
    async with sim_han(config) as app:
        await asyncio.sleep(300)
        return [r.as_tuple() for r in app.han.trace]


async def test_one_seed_gives_the_same_trace_every_time(sim_han):
    first = await _trace(sim_han, 7)
    second = await _trace(sim_han, 7)
    assert len(first) > 100
    assert first == second
    assert await _trace(sim_han, 8) != first
