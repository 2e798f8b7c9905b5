"""Unmodified bellows drives the virtual stick over a real pty: start-up, formation, joins, ZCL, scans,
unknown commands, and the serial-layer faults (corruption, NCP reset, baud-rate mismatch)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import bellows.exception
import bellows.types as bt
import bellows.uart
import bellows.zigbee.application as bellows_app
import pytest
import zigpy.exceptions
from conftest import bellows_config, join_device, wait_for
from ezsp_fake_han import DEVICE_IEEE, DEVICE_NWK, FakeNetworkParams

from hal.ezsp_stick.ncp import SUPPORTED_VERSIONS


# v8 (EmberStatus/EzspStatus, old field names) and v14 (sl_Status, new names); v13 is the default
# version every other test in this directory runs
@pytest.mark.parametrize("stick", [8, 14], indirect=True)
async def test_bellows_session_over_the_stick(stick, han, app, caplog) -> None:
    """One bellows session per protocol version: formation, join and interview, a ZCL read, an energy
    scan, an unknown command, and a failed delivery (one app, to keep the real-time suite short)."""
    # formation went through formNetwork with the key bellows generated, and the HAN got it
    assert han.network.formed and han.network.channel == 15
    assert app.state.network_info.network_key.key == han.network.network_key
    assert app.state.node_info.ieee == han.network.coordinator_ieee
    assert app.state.node_info.model == "virtual-ezsp-stick"
    assert app._ezsp.ezsp_version == stick.ncp.version

    device = await join_device(app)
    assert device.nwk == DEVICE_NWK
    assert (device.manufacturer, device.model) == ("hanrig-fake", "fake-light")

    result, failures = await device.endpoints[1].basic.read_attributes(["manufacturer"], allow_cache=False)
    assert result == {"manufacturer": "hanrig-fake"} and failures == {}
    reads = [p for p in han.light.requests if p.cluster_id == 0x0000]
    assert reads, "the read never reached the virtual device"

    # energy scan: the HAN's energies come back through the NCP's RSSI reports (whole dBm)
    energies = await app.energy_scan(channels=bt.Channels.from_channel_list([11, 15, 20]), duration_exp=2,
                                     count=1)
    assert han.scans[-1] == ([11, 15, 20], 2)
    for channel, expected in {11: 20, 15: 60, 20: 110}.items():
        assert energies[channel] == pytest.approx(expected, abs=8)

    # a command the stick does not implement: invalidCommand and a warning, and the NCP carries on
    caplog.set_level(logging.WARNING, logger="hal.ezsp_stick.ncp")
    # EzspStatus up to v13; from v14 statuses are sl_Status, mapped as bellows maps ERROR_INVALID_ID
    reason = "ERROR_INVALID_FRAME_ID" if stick.ncp.version < 14 else "INVALID_PARAMETER"
    with pytest.raises(bellows.exception.InvalidCommandError, match=f": {reason}$"):
        await app._ezsp.getNeighbor(index=0)
    assert "command getNeighbor is not implemented" in caplog.text
    (state,) = await app._ezsp.networkState()
    assert state == bt.EmberNetworkStatus.JOINED_NETWORK
    assert stick.ncp.stats.unknown_commands == 1
    assert stick.ash.stats.bad_frames == 0

    # the device leaves the air: messageSentHandler reports the failure and zigpy raises
    han.joined = False
    with pytest.raises(zigpy.exceptions.DeliveryError, match=r"ZIGBEE_DELIVERY_FAILED"):
        await device.endpoints[1].basic.read_attributes(["model"], allow_cache=False)
    assert stick.ncp.stats.delivery_failures >= 1


async def test_serial_faults_corruption_then_ncp_reset(stick, han, app) -> None:
    """Corrupted bytes both ways are NAKed and resent; then the NCP resets mid-run, bellows reports the
    lost connection, the application reconnects and carries on with the same device objects."""
    device = await join_device(app)
    stick.ash.faults.corrupt_rx = 2
    stick.ash.faults.corrupt_tx = 2
    result, _ = await device.endpoints[1].basic.read_attributes(["model"], allow_cache=False)
    assert result == {"model": "fake-light"}
    await wait_for(lambda: stick.ash.faults.corrupt_tx == 0, what="the corrupted NCP frames to go out")
    (state,) = await app._ezsp.networkState()
    assert state == bt.EmberNetworkStatus.JOINED_NETWORK
    assert stick.ash.stats.bad_frames == 2 and stick.ash.stats.naks_sent >= 1
    assert stick.ash.stats.naks_received >= 1 and stick.ash.stats.retransmissions >= 2

    lost: list[Exception] = []

    class Listener:
        def connection_lost(self, exc: Exception) -> None:
            lost.append(exc)

    app.add_listener(Listener())
    stick.reset(bt.NcpResetCode.RESET_WATCHDOG)
    await wait_for(lambda: lost, what="bellows to notice the NCP reset")
    assert "RESET_WATCHDOG" in repr(lost[0])
    assert not stick.ncp.network_up  # the NCP lost its running network with the reset
    # what a host application does on connection_lost: reconnect, then carry on with its devices
    await app.disconnect()
    await app.startup(auto_form=False)
    assert stick.ncp.network_up
    assert app.devices[DEVICE_IEEE] is device
    result, _ = await device.endpoints[1].basic.read_attributes(["manufacturer"], allow_cache=False)
    assert result == {"manufacturer": "hanrig-fake"}
    assert stick.ncp.stats.resets >= 2  # the watchdog reset and bellows' own RST on reconnect


async def test_baud_rate_mismatch_is_a_clear_error(stick, caplog, monkeypatch) -> None:
    monkeypatch.setattr(bellows.uart, "RESET_TIMEOUT", 0.3)
    caplog.set_level(logging.WARNING, logger="hal.ezsp_stick.pty")
    app = bellows_app.ControllerApplication(bellows_config(stick.path, baudrate=57600))
    with pytest.raises(TimeoutError):
        await app.connect()
    assert stick.port.host_baudrate == 57600 and stick.port.garbled_reads > 0
    assert f"host opened {stick.path} at 57600 baud but the stick runs at 115200 baud" in caplog.text
    assert stick.ncp.stats.commands == 0  # nothing garbled ever passed for an EZSP frame


async def test_bellows_cli_config_works_against_the_stick(stick, han) -> None:
    async def bellows_cli(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("bellows")), "-d", stick.path, "-b", "115200", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        return out.decode()

    han.network = FakeNetworkParams(formed=True)  # bellows' CLI needs a network to initialise
    # (`bellows info` runs against `hanrig sim stick` in test_sim_cli.py)
    # (bellows' own `scan` is deprecated in favour of zigpy-cli and exits 1 before touching the port)
    config = await bellows_cli("config", "--all")
    assert "CONFIG_SECURITY_LEVEL=5" in config and "CONFIG_KEY_TABLE_SIZE=4" in config


def test_supported_versions_include_v8_and_v13_plus() -> None:
    assert 8 in SUPPORTED_VERSIONS and 13 in SUPPORTED_VERSIONS and max(SUPPORTED_VERSIONS) >= 14
