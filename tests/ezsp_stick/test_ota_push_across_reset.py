"""An NCP reset in the middle of hanrig's own OTA push (``gw.ota.push`` through bellows on the virtual
stick): hanrig's radio layer reconnects by itself, the device resumes at its offset, and the push ends
activated with the new version reported."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import bellows.ezsp.protocol
import bellows.types as bt
from conftest import wait_for

import ota.campaign
from firmware_images import DIRECTORY as SAMPLES
from gateway.session import Gateway, RadioEndpoint
from hal.ezsp_stick.pty import VirtualStick
from hal.radio import interview_complete, reconnector
from hal.roles import Role
from hal.sim import ota_client
from hal.sim.config import default_bench
from hal.sim.han import VirtualHan
from ota import build_image, load_private_key, read_image
from ota.campaign import Phase

KEY = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())
VERSION = 0x00010200


async def test_ncp_reset_mid_push_resumes_and_completes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path))
    # as in test_virtual_han's zigpy-updater variant: the device re-sends a lost request after 2 s (not 5),
    # and the command bellows had in flight at the reset, never answered, stalls 2 s (not 10)
    monkeypatch.setattr(ota_client, "BLOCK_TIMEOUT_S", 2.0)
    monkeypatch.setattr(bellows.ezsp.protocol, "EZSP_CMD_TIMEOUT", 2.0)
    monkeypatch.setattr(ota.campaign, "VERIFY_POLL_S", 0.2)  # look for the new version sooner (real time)
    config = default_bench()
    ihd = next(d for d in config.devices if d.role is Role.IHD)
    ihd = dataclasses.replace(ihd, sim=dataclasses.replace(ihd.sim, query_jitter_s=0.2))
    han = VirtualHan(config.replace(devices=(ihd,)))
    stick = VirtualStick(han, baudrate=460800, power_up_han=True)
    await stick.start()
    try:
        async with Gateway.open([RadioEndpoint("stick", f"ezsp:{stick.path}?baudrate=460800")]) as gw:
            app = gw.apps["stick"]
            await wait_for(lambda: gw.devices(role="IHD")
                           and interview_complete(gw.devices(role="IHD")[0].zigpy_device),
                           timeout=20, what="the IHD to be interviewed")
            data = build_image(bytes(range(256)) * 12, manufacturer_code=0x1234, image_type=0x0101,
                               file_version=VERSION, hw_min=1, hw_max=3, sign_key=KEY, integrity_code=True)
            watcher = reconnector(app)  # open_radio's own reconnect-after-reset; the test adds nothing
            assert watcher is not None and watcher.reconnects == 0
            base = stick.ncp.stats.resets
            offsets: list[tuple[int, int]] = []  # (NCP resets since the push began, offset served)

            def on_progress(sample) -> None:
                resets = stick.ncp.stats.resets - base
                offsets.append((resets, sample.offset))
                previous = offsets[-2][1] if len(offsets) > 1 else 0
                first_past_a_third = sample.offset >= len(data) // 3 > previous
                if first_past_a_third and not resets:
                    asyncio.get_running_loop().call_soon(stick.reset, bt.NcpResetCode.RESET_WATCHDOG)

            gw.ota.configure(verify_timeout_s=30.0)
            report = await asyncio.wait_for(
                gw.ota.push(gw.devices(role="IHD"), image=read_image(data, name="small.ota"),
                            on_progress=on_progress), 90)
            assert watcher.reconnects == 1
            (outcome,) = report.outcomes
            assert outcome.phase is Phase.ACTIVATED, outcome.reason
            assert outcome.version_after == VERSION and outcome.bytes_sent == len(data)
            assert han.devices[ihd.eui64].ota.current_file_version == VERSION
            # the transfer went on from where it was, after the reset (bellows' startup RST counts too)
            before = [offset for resets, offset in offsets if not resets]
            after = [offset for resets, offset in offsets if resets]
            assert before and after and max(before) >= len(data) // 3
            assert min(after) >= max(before) and max(after) == len(data)
            assert stick.ncp.stats.resets - base >= 2  # the watchdog reset and the reconnect's RST
    finally:
        await han.stop()
        await stick.stop()
