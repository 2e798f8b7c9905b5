"""Campaigns under faults: a reboot mid-transfer, frame loss, the stick unplugged, a device that vanishes,
a host restart, and zigpy's own updater beside hanrig's server."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import zigpy.types as zigpy_t
from ota_server_testlib import NEW_VERSION, bench, open_gateway, sample, virtual_device
from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import parse_ota_image
from zigpy.ota.providers import BaseOtaImageMetadata
from zigpy.zcl import foundation

from gateway.ota import OtaService
from hal.roles import Role
from hal.sim.config import DeviceSpec, FaultKind, FaultSpec
from ota.campaign import Phase, TransferAlert

pytestmark = pytest.mark.looptime

MAINS_ROLES = ("IHD", "PPMID", "HCALCS")


def mains_devices(gw):
    return [gw.devices(role=role)[0] for role in MAINS_ROLES]


async def wait_for_offset(gw, device_id: str, offset: int) -> None:
    client = virtual_device(gw, device_id).ota
    while client.file_offset < offset:
        await asyncio.sleep(0.1)


async def test_a_device_rebooting_mid_transfer_resumes_from_its_offset():
    async with open_gateway() as gw:
        han = gw.apps["radio0"].han
        han.inject(FaultSpec(kind=FaultKind.REBOOT, device="ihd", at_offset=12000, duration_s=4.0))
        report = await gw.ota.push(gw.devices(role="IHD"))
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        offsets = [offset for _, offset in outcome.samples]
        assert offsets == sorted(offsets)  # never back to zero: it resumed where it was
        assert offsets[0] == 64 and offsets[-1] == outcome.image_size
        # the resume cost no more than the block that was in flight when the device went down
        assert outcome.bytes_sent <= outcome.image_size + 64
        gap = max(b[0] - a[0] for a, b in zip(outcome.samples, outcome.samples[1:], strict=False))
        assert gap >= 4.0  # the device was away


async def test_ten_percent_frame_loss_and_the_campaign_completes():
    async with open_gateway() as gw:
        han = gw.apps["radio0"].han
        # one frame in ten is lost outright (every MAC retry of it), both directions, every device
        han.inject(FaultSpec(kind=FaultKind.DROP, probability=0.10))
        report = await gw.ota.push([gw.devices(role=role)[0] for role in ("IHD", "PPMID")])
        assert report.ok, [o.reason for o in report.outcomes]
        assert all(o.version_after == NEW_VERSION for o in report.outcomes)
        lost = sum(1 for r in han.trace if r.outcome == "lost")
        assert lost > 50
        assert all(o.retries > 0 for o in report.outcomes)


async def test_the_stick_unplugged_mid_campaign_and_the_campaign_resumes():
    async with open_gateway() as gw:
        push = asyncio.get_running_loop().create_task(gw.ota.push(mains_devices(gw)))
        await wait_for_offset(gw, "ihd", 3000)
        han = gw.apps["radio0"].han
        han.inject(FaultSpec(kind=FaultKind.UNPLUG, duration_s=30.0))
        await asyncio.sleep(1.0)
        assert not han.stick_present
        report = await push
        assert report.ok, [o.reason for o in report.outcomes]
        assert all(o.version_after == NEW_VERSION for o in report.outcomes)
        assert any(o.retries > 0 for o in report.outcomes)


async def test_a_device_that_vanishes_is_retried_then_reported_never_left_in_progress():
    async with open_gateway() as gw:
        gw.ota.configure(stall_s=20.0, retries=2)
        push = asyncio.get_running_loop().create_task(gw.ota.push(mains_devices(gw)))
        await wait_for_offset(gw, "ppmid", 2000)
        gw.apps["radio0"].han.inject(FaultSpec(kind=FaultKind.LEAVE, device="ppmid"))
        report = await push
        by_role = {o.role: o for o in report.outcomes}
        gone = by_role["PPMID"]
        assert gone.phase is Phase.FAILED and gone.code is TransferAlert.FILE_TRANSFER_FAILURE
        assert gone.unreachable and "no progress for 20 s" in gone.reason and gone.retries >= 2
        assert by_role["IHD"].phase is Phase.ACTIVATED and by_role["HCALCS"].phase is Phase.ACTIVATED
        assert gw.ota.status() and all(row["state"] != "downloading" or row["eui64"] != gone.eui64
                                       for row in gw.ota.status() if row["eui64"] == gone.eui64)


async def test_a_host_restart_mid_transfer_resumes_from_the_device_offset():
    async with open_gateway() as gw:
        device = gw.devices(role="HCALCS")[0]
        first = asyncio.get_running_loop().create_task(gw.ota.push([device]))
        await wait_for_offset(gw, "hcalcs", 15000)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await gw.ota.close()  # the old host is gone; a new one knows nothing of the transfer
        fresh = OtaService(gw)
        report = await fresh.push([device])
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        assert outcome.samples[0][1] > 15000  # the new host served from where the device was
        assert outcome.bytes_sent < outcome.image_size - 15000 + 128
        await fresh.close()


async def test_zigpy_update_firmware_and_hanrig_update_the_same_device_type():
    config = bench()
    twin = DeviceSpec(id="ihd2", role=Role.IHD, eui64=zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:06"),
                      sim=dataclasses.replace(config.device("ihd").sim))
    async with open_gateway(config.replace(devices=(*config.devices, twin))) as gw:
        ours, theirs = (gw.device(eui) for eui in ("00:0d:6f:00:0a:bc:00:03", "00:0d:6f:00:0a:bc:00:06"))
        gw.ota.server("radio0")  # hanrig's server is installed: it must step aside for zigpy's updater
        data = sample("ihd").read_bytes()
        firmware, _ = parse_ota_image(data)
        image = OtaImageWithMetadata(metadata=BaseOtaImageMetadata(file_version=NEW_VERSION,
                                                                   manufacturer_id=0x1234, image_type=0x0101),
                                     firmware=firmware)
        zigpy_result, report = await asyncio.gather(theirs.zigpy_device.update_firmware(image),
                                                    gw.ota.push([ours]))
        assert zigpy_result == foundation.Status.SUCCESS
        assert report.outcomes[0].phase is Phase.ACTIVATED, report.outcomes[0].reason
        assert virtual_device(gw, "ihd2").ota.current_file_version == NEW_VERSION
        assert virtual_device(gw, "ihd").ota.current_file_version == NEW_VERSION
