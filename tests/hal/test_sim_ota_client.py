"""The virtual devices' OTA Upgrade client, driven by zigpy's own OTA (``Device.update_firmware``) and by a
small scripted server for the cases zigpy will not produce (mismatched offers, activation times)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sim_testlib import IHD_TYPE, MFR, NEW, image_bytes, zigpy_image
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hal.sim.config import OtaProfile, default_bench
from hal.sim.ota_client import ActivationResult, EndStatus
from ota import read_image


def bench_with(**changes) -> object:
    """The default bench with the IHD's [devices.sim] changed."""
    config = default_bench()
    devices = tuple(
        dataclasses.replace(d, sim=dataclasses.replace(d.sim, **changes)) if d.id == "ihd" else d
        for d in config.devices
    )
    return config.replace(devices=devices)


async def test_zigpy_update_firmware_is_accepted_and_reported_after_reboot(sim_bench):
    data = image_bytes()
    ihd = sim_bench.han.device("ihd")
    device = sim_bench.get_device(ieee=ihd.ieee)
    status = await device.update_firmware(zigpy_image(data))
    assert status == foundation.Status.SUCCESS
    assert ihd.ota.outcome.status is EndStatus.SUCCESS
    # zigpy re-read CurrentFileVersion after the device rebooted into the new image
    ota = device.endpoints[1].out_clusters[Ota.cluster_id]
    assert ota.get("current_file_version") == NEW
    assert ihd.ota.current_file_version == NEW
    assert ihd.ota.held_image_sha256 == read_image(data).sha256
    assert ihd.ota.outcome.blocks == -(-len(data) // 50)  # zigpy caps blocks at 50 bytes


async def test_corrupt_integrity_code_is_refused_with_invalid_image(sim_bench):
    data = bytearray(image_bytes(integrity_code=True))
    data[100] ^= 0x01  # a payload byte; the integrity code no longer fits
    ihd = sim_bench.han.device("ihd")
    device = sim_bench.get_device(ieee=ihd.ieee)
    status = await device.update_firmware(zigpy_image(bytes(data)))
    assert status == foundation.Status.INVALID_IMAGE
    assert ihd.ota.outcome.status is EndStatus.INVALID_IMAGE
    assert "integrity" in ihd.ota.outcome.reason
    assert ihd.ota.current_file_version == 0x00010000 and ihd.ota.held_image_sha256 is None


class ScriptedServer:
    """Answers one device's OTA commands from bytes, offering whatever identity the test asks for."""

    def __init__(self, app, ieee, data: bytes, *, offer_type: int = IHD_TYPE, upgrade_time: int = 0) -> None:
        self.device = app.get_device(ieee=ieee)
        self.cluster = self.device.endpoints[1].out_clusters[Ota.cluster_id]
        self.data = data
        self.offer_type = offer_type
        self.upgrade_time = upgrade_time
        self.block_requests: list[int] = []
        self.end_status: list[int] = []
        self.cluster.handle_cluster_request = self.handle

    def handle(self, hdr, args, **_kwargs) -> None:
        asyncio.get_running_loop().create_task(self._answer(hdr, args))

    async def _answer(self, hdr, args) -> None:
        header = read_image(self.data).header
        if hdr.command_id == Ota.ServerCommandDefs.query_next_image.id:
            await self.cluster.query_next_image_response(
                status=foundation.Status.SUCCESS,
                manufacturer_code=MFR,
                image_type=self.offer_type,
                file_version=int(header.file_version),
                image_size=len(self.data),
                tsn=hdr.tsn,
            )
        elif hdr.command_id == Ota.ServerCommandDefs.image_block.id:
            self.block_requests.append(args.file_offset)
            chunk = self.data[args.file_offset : args.file_offset + args.maximum_data_size]
            await self.cluster.image_block_response(
                status=foundation.Status.SUCCESS,
                manufacturer_code=MFR,
                image_type=self.offer_type,
                file_version=int(header.file_version),
                file_offset=args.file_offset,
                image_data=chunk,
                tsn=hdr.tsn,
            )
        elif hdr.command_id == Ota.ServerCommandDefs.upgrade_end.id:
            self.end_status.append(int(args.status))
            if args.status == foundation.Status.SUCCESS:
                await self.cluster.upgrade_end_response(
                    manufacturer_code=MFR,
                    image_type=IHD_TYPE,
                    file_version=int(header.file_version),
                    current_time=1000,
                    upgrade_time=self.upgrade_time,
                    tsn=hdr.tsn,
                )

    async def notify(self) -> None:
        await self.cluster.image_notify(
            payload_type=Ota.ImageNotifyCommand.PayloadType.QueryJitter, query_jitter=100
        )


async def test_an_image_for_another_product_is_never_downloaded(sim_bench):
    ihd = sim_bench.han.device("ihd")
    server = ScriptedServer(sim_bench, ihd.ieee, image_bytes(image_type=0x0084), offer_type=0x0084)
    await server.notify()
    await asyncio.sleep(30)
    assert server.block_requests == []
    assert "image type 0x0084 is not this device" in ihd.ota.outcome.reason
    assert ihd.ota.current_file_version == 0x00010000


async def test_hardware_version_outside_the_image_range_is_refused(sim_bench):
    # zigpy will not offer it (it checks the header's range), so a scripted server does
    ihd = sim_bench.han.device("ihd")
    server = ScriptedServer(sim_bench, ihd.ieee, image_bytes(600, hw_min=2, hw_max=5))
    await server.notify()
    await asyncio.sleep(60)
    assert server.block_requests  # it downloaded, then checked the header
    assert server.end_status == [foundation.Status.INVALID_IMAGE]
    assert "hardware version 1 outside 2..5" in ihd.ota.outcome.reason
    assert ihd.ota.current_file_version == 0x00010000


async def test_own_maximum_data_size_and_wait_for_upgrade_command(sim_han):
    async with sim_han(bench_with(max_data_size=40, query_jitter_s=0.0)) as app:
        ihd = app.han.device("ihd")
        data = image_bytes(1000)
        server = ScriptedServer(app, ihd.ieee, data, upgrade_time=0xFFFFFFFF)
        await server.notify()
        await asyncio.sleep(60)
        offsets = server.block_requests
        assert offsets == list(range(0, len(data), 40))  # one request per 40-byte block, in order
        assert server.end_status == [foundation.Status.SUCCESS]
        assert ihd.ota.status == Ota.ImageUpgradeStatus.Waiting_to_upgrade
        assert ihd.ota.current_file_version == 0x00010000  # held, not running
        assert ihd.ota.activate_by_hash("00" * 32) is ActivationResult.HASH_MISMATCH
        # the later upgrade command: an unsolicited Upgrade End Response with upgrade time "now"
        await server.cluster.upgrade_end_response(
            manufacturer_code=MFR, image_type=IHD_TYPE, file_version=NEW, current_time=0, upgrade_time=0
        )
        await asyncio.sleep(10)
        assert ihd.ota.current_file_version == NEW
        assert ihd.joined


async def test_upgrade_at_a_utc_time_waits_until_then(sim_han):
    async with sim_han(bench_with(query_jitter_s=0.0)) as app:
        ihd = app.han.device("ihd")
        server = ScriptedServer(app, ihd.ieee, image_bytes(300), upgrade_time=1000 + 3600)
        await server.notify()
        await asyncio.sleep(600)
        assert ihd.ota.status == Ota.ImageUpgradeStatus.Count_down
        assert ihd.ota.current_file_version == 0x00010000
        await asyncio.sleep(3600)
        assert ihd.ota.current_file_version == NEW


async def test_activate_by_hash_needs_an_image_and_the_right_hash(sim_han):
    async with sim_han(bench_with(query_jitter_s=0.0)) as app:
        ihd = app.han.device("ihd")
        assert ihd.ota.activate_by_hash("ab" * 32) is ActivationResult.NO_IMAGE_HELD
        data = image_bytes(500)
        server = ScriptedServer(app, ihd.ieee, data, upgrade_time=0xFFFFFFFF)
        await server.notify()
        await asyncio.sleep(60)
        assert ihd.ota.activate_by_hash(read_image(data).sha256) is ActivationResult.SUCCESS
        await asyncio.sleep(10)
        assert ihd.ota.current_file_version == NEW


@pytest.mark.parametrize("signed_by_supplier", [True, False])
async def test_gbcs_client_checks_the_supplier_signature(sim_han, signed_by_supplier):
    supplier = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    pem = supplier.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    config = bench_with(ota_profile=OtaProfile.GBCS, supplier_public_key=pem)
    async with sim_han(config) as app:
        ihd = app.han.device("ihd")
        data = image_bytes(800, sign_key=supplier if signed_by_supplier else other)
        status = await app.get_device(ieee=ihd.ieee).update_firmware(zigpy_image(data))
        if signed_by_supplier:
            assert status == foundation.Status.SUCCESS
            assert ihd.ota.current_file_version == NEW
        else:
            assert status == foundation.Status.INVALID_IMAGE
            assert "supplier-signature" in ihd.ota.outcome.reason


async def test_page_request_with_zigpy(sim_han):
    async with sim_han(bench_with(page_request=True, page_size=256, max_data_size=50)) as app:
        ihd = app.han.device("ihd")
        data = image_bytes(1500)
        status = await app.get_device(ieee=ihd.ieee).update_firmware(zigpy_image(data))
        assert status == foundation.Status.SUCCESS
        assert ihd.ota.current_file_version == NEW
        # no Image Block Request went out: only page requests (0x04) on the OTA cluster
        sent = [r for r in app.han.trace if r.cluster == Ota.cluster_id and r.src == ihd.nwk]
        assert any(r.data[2] == 0x04 for r in sent) and not any(r.data[2] == 0x03 for r in sent)


async def test_minimum_block_period_is_announced_and_violations_counted(sim_han):
    async with sim_han(bench_with(min_block_period_ms=250, query_jitter_s=0.0)) as app:
        ihd = app.han.device("ihd")
        data = image_bytes(400)
        # zigpy ignores MinimumBlockPeriod (a known trap): the client notices every early block
        status = await app.get_device(ieee=ihd.ieee).update_firmware(zigpy_image(data))
        assert status == foundation.Status.SUCCESS
        requests = [
            r for r in app.han.trace if r.cluster == Ota.cluster_id and r.src == ihd.nwk and r.data[2] == 0x03
        ]
        assert requests and all(r.data[3] & 0x02 for r in requests)  # field control: MinimumBlockPeriod
        assert ihd.ota.outcome.pacing_violations > 0
