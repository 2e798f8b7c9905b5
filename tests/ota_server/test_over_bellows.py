"""hanrig's OTA server over a real radio library: bellows (EZSP/ASH) through the virtual stick on a pty.

The same server code path as on ``sim://``, but frames arrive through bellows' ``incomingMessageHandler``
and leave through EZSP ``sendUnicast``: proof that taking OTA frames at ``app.packet_received`` works for
a real radio, and that zigpy's own responder stays out of the way. Real time (a pty), so a small image.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from firmware_images import DIRECTORY as SAMPLES
from gateway.session import Gateway, RadioEndpoint
from hal.ezsp_stick.pty import VirtualStick
from hal.radio import interview_complete
from hal.roles import Role
from hal.sim.config import default_bench
from hal.sim.han import VirtualHan
from ota import build_image, load_private_key, read_image
from ota.campaign import Phase

KEY = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())
VERSION = 0x00010200


async def test_push_through_bellows_and_the_virtual_stick(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path))
    config = default_bench()
    ihd = next(d for d in config.devices if d.role is Role.IHD)
    ihd = dataclasses.replace(ihd, sim=dataclasses.replace(ihd.sim, query_jitter_s=0.2))
    config = config.replace(devices=(ihd,))
    han = VirtualHan(config)
    stick = VirtualStick(han, power_up_han=True)
    await stick.start()
    try:
        async with Gateway.open([RadioEndpoint("stick", f"ezsp:{stick.path}")]) as gw:
            for _ in range(200):  # bellows' interview of the IHD, in real time
                devices = gw.devices(role="IHD")
                if devices and interview_complete(devices[0].zigpy_device):
                    break
                await asyncio.sleep(0.1)
            data = build_image(bytes(range(256)) * 8, manufacturer_code=0x1234, image_type=0x0101,
                               file_version=VERSION, hw_min=1, hw_max=3, sign_key=KEY, integrity_code=True)
            gw.ota.configure(verify_timeout_s=30.0)
            report = await gw.ota.push(gw.devices(role="IHD"), image=read_image(data, name="small.ota"))
            (outcome,) = report.outcomes
            assert outcome.phase is Phase.ACTIVATED, outcome.reason
            assert outcome.version_after == VERSION and outcome.bytes_sent == len(data)
            assert han.devices[ihd.eui64].ota.current_file_version == VERSION
    finally:
        await han.stop()
        await stick.stop()
