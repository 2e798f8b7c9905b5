"""hanrig's own radio layer (``open_radio("ezsp:/dev/pts/N")``, i.e. bellows) on the real simulated HAN
through the virtual stick: the bench powers up, devices are interviewed, a meter reading comes back,
and an NCP reset mid-run is survived."""

from __future__ import annotations

import asyncio
import dataclasses

import bellows.types as bt
import pytest
from conftest import wait_for

from hal.ezsp_stick.pty import VirtualStick
from hal.radio import interview_complete, open_radio
from hal.sim.config import Role, default_bench
from hal.sim.han import VirtualHan

METERING = 0x0702


@pytest.fixture
async def bench(tmp_path, monkeypatch):
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path))
    config = default_bench()
    # the mains-powered pair: a sleepy GSME takes its poll period per request in real time
    config = config.replace(devices=tuple(d for d in config.devices if d.role in (Role.ESME, Role.IHD)))
    han = VirtualHan(config)
    stick = VirtualStick(han, power_up_han=True)
    await stick.start()
    yield han, stick
    await han.stop()
    await stick.stop()


def _metering_endpoint(device):
    return next(ep for epid, ep in device.endpoints.items() if epid and METERING in ep.in_clusters)


async def _read_summation(device) -> int:
    cluster = _metering_endpoint(device).in_clusters[METERING]
    result, failures = await cluster.read_attributes(["current_summ_delivered"], allow_cache=False)
    assert not failures
    return result["current_summ_delivered"]


async def test_hanrig_radio_through_the_stick_interviews_and_reads_a_meter(bench) -> None:
    han, stick = bench
    async with open_radio(f"ezsp:{stick.path}") as app:
        assert app.state.node_info.ieee == han.network.coordinator_ieee
        assert app.state.network_info.channel == han.network.channel
        assert app.state.network_info.network_key.key == han.network.network_key
        await wait_for(lambda: han.started, what="the bench to power up")
        devices = {spec.eui64: spec for spec in han.config.devices}
        await wait_for(lambda: all(i in app.devices and interview_complete(app.devices[i]) for i in devices),
                       timeout=20, what="ESME and IHD to be interviewed through the stick")
        esme = next(app.devices[i] for i, spec in devices.items() if spec.role is Role.ESME)
        assert esme.model == han.devices[esme.ieee].spec.model
        reading = await _read_summation(esme)
        assert isinstance(reading, int)
        assert stick.ncp.stats.incoming > 0 and stick.ncp.stats.unicasts > 0
        assert stick.ncp.stats.unknown_commands == 0


async def test_ncp_reset_mid_run_with_the_real_bench(bench) -> None:
    han, stick = bench
    async with open_radio(f"ezsp:{stick.path}") as app:
        esme_ieee = next(s.eui64 for s in han.config.devices if s.role is Role.ESME)
        await wait_for(lambda: esme_ieee in app.devices and interview_complete(app.devices[esme_ieee]),
                       timeout=20, what="the ESME to be interviewed")
        esme = app.devices[esme_ieee]
        lost: list[Exception] = []

        @dataclasses.dataclass
        class Listener:
            def connection_lost(self, exc: Exception) -> None:
                lost.append(exc)

        app.add_listener(Listener())
        stick.reset(bt.NcpResetCode.RESET_ASSERT)
        await wait_for(lambda: lost, what="bellows to see the NCP reset")
        # the PAN carries on while the coordinator is down: frames to it are lost, as on air
        await asyncio.sleep(0.2)
        await app.disconnect()
        await app.startup(auto_form=False)
        assert await _read_summation(esme) >= 0
        assert han.started and han.devices[esme_ieee].joined
