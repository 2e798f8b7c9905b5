"""Pushes on the simulated bench: every role, block sizing, pacing, pages, activation modes, and
activate by hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from pathlib import Path

import pytest
from ota_server_testlib import NEW_VERSION, OLD_VERSION, bench, open_gateway, sample, virtual_device
from zigpy.zcl.clusters.general import Ota

from firmware_images import DIRECTORY as SAMPLES
from gateway.ota import ActivationResponse
from hal.sim.config import SimSettings
from ota import Catalogue, read_image
from ota.campaign import Phase, TransferAlert
from ota.link_model import max_ota_block
from ota.server import ActivationPlan

pytestmark = pytest.mark.looptime

CATALOGUE = Catalogue.load(SAMPLES)


def block_responses(gw, device_id: str) -> list[int]:
    """Data sizes of every Image Block Response the device received (from the PAN's frame trace)."""
    han = gw.apps["radio0"].han
    nwk = han.device(device_id).nwk
    sizes = []
    for record in han.trace:
        data = record.data
        if record.dst == nwk and record.cluster == Ota.cluster_id and len(data) > 17 and data[2] == 0x05 \
                and data[3] == 0x00 and record.outcome == "delivered":
            sizes.append(data[16])
    return sizes


@pytest.mark.parametrize("role", ["IHD", "PPMID", "HCALCS"])
async def test_full_push_activates_and_reports_the_new_version(role):
    async with open_gateway() as gw:
        device = gw.devices(role=role)[0]
        report = await gw.ota.push([device])
        (outcome,) = report.outcomes
        image_type = {"IHD": 0x0101, "PPMID": 0x0084, "HCALCS": 0x0103}[role]
        entry = CATALOGUE.select(0x1234, image_type, OLD_VERSION)
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        assert outcome.code is TransferAlert.SUCCESS
        assert (outcome.version_before, outcome.version_after) == (OLD_VERSION, NEW_VERSION)
        assert outcome.rejoined is True
        assert outcome.image_sha256 == entry.manufacturer_image_sha256
        assert outcome.image_size == entry.size and outcome.bytes_sent == entry.size
        assert outcome.retries == 0 and outcome.mean_bps > 0 and outcome.min_bps > 0
        assert outcome.activation == "now" and outcome.activation_time is not None
        sim = virtual_device(gw, role.lower())
        assert sim.ota.current_file_version == NEW_VERSION
        # the device's own request size (64) is what it got, every block but the last
        sizes = block_responses(gw, role.lower())
        assert sizes[:-1] == [64] * (len(sizes) - 1) and sum(sizes) == entry.size
        assert report.ok


@pytest.mark.parametrize(("aps_security", "expected"), [(False, 65), (True, 56)])
async def test_block_size_is_what_the_device_asks_up_to_one_frame(aps_security, expected):
    assert max_ota_block(aps_security=aps_security) == expected
    async with open_gateway(bench(ihd={"max_data_size": 100})) as gw:
        gw.ota.configure(aps_security=aps_security)
        report = await gw.ota.push(gw.devices(role="IHD"))
        assert report.ok, report.outcomes[0].reason
        sizes = block_responses(gw, "ihd")
        assert sizes[:-1] == [expected] * (len(sizes) - 1)
        assert len(sizes) == math.ceil(report.outcomes[0].image_size / expected)


async def test_a_device_asking_small_blocks_gets_small_blocks():
    async with open_gateway(bench(ppmid={"max_data_size": 32})) as gw:
        report = await gw.ota.push(gw.devices(role="PPMID"))
        assert report.ok
        assert set(block_responses(gw, "ppmid")[:-1]) == {32}


@pytest.mark.parametrize("period_ms", [150, 2500])
async def test_minimum_block_period_is_honoured(period_ms):
    async with open_gateway(bench(ihd={"min_block_period_ms": period_ms})) as gw:
        report = await gw.ota.push(gw.devices(role="IHD"))
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        client = virtual_device(gw, "ihd").ota
        assert client.outcome.pacing_violations == 0
        transfer = gw.ota.server("radio0").transfer(virtual_device(gw, "ihd").ieee)
        # short periods are met by holding the response; long ones by WAIT_FOR_DATA
        assert (transfer.waits > 0) is (period_ms > 1000)
        gaps = [b[0] - a[0] for a, b in zip(outcome.samples, outcome.samples[1:], strict=False)]
        assert min(gaps) >= period_ms / 1000 - 1e-6


async def test_page_requests_are_streamed_at_the_requested_spacing():
    params = {"page_request": True, "page_size": 512, "min_block_period_ms": 30}
    async with open_gateway(bench(ihd=params)) as gw:
        report = await gw.ota.push(gw.devices(role="IHD"))
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        transfer = gw.ota.server("radio0").transfer(virtual_device(gw, "ihd").ieee)
        assert transfer.pages == math.ceil(outcome.image_size / 512)
        # the device saw no two blocks closer than its spacing, within or across pages
        assert virtual_device(gw, "ihd").ota.outcome.pacing_violations == 0
        assert transfer.blocks == math.ceil(outcome.image_size / 64)


async def test_activation_at_a_utc_time_waits_until_then():
    async with open_gateway() as gw:
        server = gw.ota.server("radio0")
        at = server.clock().replace(microsecond=0) + __import__("datetime").timedelta(seconds=300)
        report = await gw.ota.push(gw.devices(role="HCALCS"), activation=ActivationPlan.parse(
            f"at:{at.isoformat()}"))
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.ACTIVATED, outcome.reason
        assert outcome.activation.startswith("at:")
        announced = server.announced[virtual_device(gw, "hcalcs").ieee]
        loop_at = asyncio.get_running_loop().time() - (server.clock() - at).total_seconds()
        assert announced >= loop_at - 1  # it rebooted into the image only at the scheduled time


async def test_hold_then_activate_by_hash():
    async with open_gateway() as gw:
        device = gw.devices(role="PPMID")[0]
        report = await gw.ota.push([device], activation="hold")
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.HELD and report.ok
        sim = virtual_device(gw, "ppmid")
        assert sim.ota.current_file_version == OLD_VERSION
        assert sim.ota.status == Ota.ImageUpgradeStatus.Waiting_to_upgrade
        wrong = hashlib.sha256(b"another image").hexdigest()
        refused = await gw.ota.activate(device, wrong)
        assert refused.response is ActivationResponse.HASH_MISMATCH
        assert refused.response.label == "hashMismatch"
        assert refused.held_version == NEW_VERSION and sim.ota.current_file_version == OLD_VERSION
        done = await gw.ota.activate(device, outcome.image_sha256)
        assert done.response is ActivationResponse.SUCCESS, done.reason
        assert done.running_version == NEW_VERSION and done.rejoined
        assert sim.ota.current_file_version == NEW_VERSION


async def test_activate_with_no_image_held_is_refused():
    async with open_gateway() as gw:
        device = gw.devices(role="HCALCS")[0]
        entry = CATALOGUE.select(0x1234, 0x0103, OLD_VERSION)
        report = await gw.ota.activate(device, entry.manufacturer_image_sha256)
        assert report.response is ActivationResponse.NO_IMAGE_HELD
        assert report.response.label == "noImageHeld" and report.running_version == OLD_VERSION


async def test_held_image_known_only_from_the_catalogue_is_matched_by_hash():
    """A host restarted after the download: the hash comes from the catalogue, not from the server."""
    async with open_gateway() as gw:
        device = gw.devices(role="IHD")[0]
        report = await gw.ota.push([device], activation="hold")
        await gw.ota.close()  # a new host process knows nothing of the transfer
        assert gw.ota.server("radio0").completed_hash(device.zigpy_device.ieee, NEW_VERSION) is None
        done = await gw.ota.activate(device, report.outcomes[0].image_sha256)
        assert done.response is ActivationResponse.SUCCESS, done.reason


async def test_a_sleepy_device_completes_and_does_not_starve_the_others():
    async with open_gateway(bench(ihd={"sleepy": True, "poll_interval_s": 7.5})) as gw:
        sleepy = gw.devices(role="IHD")[0]
        assert sleepy.is_sleepy
        report = await gw.ota.push([sleepy, *(gw.devices(role=r)[0] for r in ("PPMID", "HCALCS"))])
        by_role = {o.role: o for o in report.outcomes}
        assert report.ok, [o.reason for o in report.outcomes]
        assert by_role["IHD"].version_after == NEW_VERSION and virtual_device(gw, "ihd").sleepy
        # one block per poll: far slower than the air allows, but it finishes
        assert by_role["IHD"].mean_bps < 1000
        for role in ("PPMID", "HCALCS"):
            # the mains devices share the channel between them, not with the sleepy one's poll waits
            assert by_role[role].duration_s < by_role["IHD"].duration_s / 3


async def test_image_named_explicitly_is_sent():
    async with open_gateway() as gw:
        image = read_image(sample("ihd").read_bytes(), name=str(sample("ihd")))
        report = await gw.ota.push(gw.devices(role="IHD"), image=image)
        assert report.outcomes[0].phase is Phase.ACTIVATED
        assert report.outcomes[0].image_file.endswith(sample("ihd").name)


async def test_devices_with_nothing_newer_are_up_to_date_not_failures():
    async with open_gateway(bench(SimSettings(), ihd={"firmware_version": NEW_VERSION})) as gw:
        report = await gw.ota.push(gw.devices(role="IHD"))
        (outcome,) = report.outcomes
        assert outcome.phase is Phase.UP_TO_DATE and report.ok and outcome.bytes_sent == 0


async def test_requests_arriving_while_a_response_is_in_flight_are_all_answered_in_order():
    """Three block requests land at once (a device re-sending, a second one queued): none is dropped."""
    import zigpy.types as zigpy_t

    from ota.server import BLOCK_REQUEST, CMD_IMAGE_BLOCK, PLAIN_BLOCK_REQUEST_CONTROL, Offer

    async with open_gateway() as gw:
        device = gw.devices(role="IHD")[0]
        server = gw.ota.server("radio0")
        image = read_image(sample("ihd").read_bytes(), name="ihd.ota")
        server.offer(device.zigpy_device.ieee, Offer(image))
        app = gw.apps["radio0"]
        for tsn, offset in ((1, 0), (2, 64), (2, 64)):
            data = BLOCK_REQUEST.pack(PLAIN_BLOCK_REQUEST_CONTROL, tsn, CMD_IMAGE_BLOCK, 0, 0x1234, 0x0101,
                                      NEW_VERSION, offset, 64)
            app.packet_received(zigpy_t.ZigbeePacket(
                src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=device.nwk), src_ep=1,
                dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), dst_ep=1,
                profile_id=0x0109, cluster_id=Ota.cluster_id, data=zigpy_t.SerializableBytes(data)))
        await asyncio.sleep(1.0)
        han = app.han
        answered = [int.from_bytes(r.data[12:16], "little") for r in han.trace
                    if r.dst == device.nwk and r.cluster == Ota.cluster_id and r.data[2] == 0x05]
        assert answered == [0, 64, 64]
        transfer = server.transfer(device.zigpy_device.ieee)
        assert transfer.blocks == 3 and transfer.retries == 1 and transfer.offset == 128


async def test_a_source_routed_device_gets_blocks_that_fit_with_the_route():
    async with open_gateway(bench(hcalcs={"max_data_size": 100})) as gw:
        device = gw.devices(role="HCALCS")[0]
        device.zigpy_device.relays = [0x4A1C]  # one relay: the source route costs 4 octets of the frame
        assert max_ota_block(relays=1) == 61
        report = await gw.ota.push([device])
        assert report.ok, report.outcomes[0].reason
        sizes = block_responses(gw, "hcalcs")
        assert sizes[:-1] == [61] * (len(sizes) - 1)


async def test_activate_by_hash_at_a_utc_time():
    import datetime as dt

    async with open_gateway() as gw:
        device = gw.devices(role="HCALCS")[0]
        report = await gw.ota.push([device], activation="hold")
        server = gw.ota.server("radio0")
        at = server.clock() + dt.timedelta(seconds=90)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        done = await gw.ota.activate(device, report.outcomes[0].image_sha256, at=at)
        assert done.response is ActivationResponse.SUCCESS, done.reason
        assert done.running_version == NEW_VERSION
        assert server.announced[device.zigpy_device.ieee] >= asked + 89  # not before the time asked for
        assert done.activation_time == at.isoformat(timespec="seconds").replace("+00:00", "Z")


async def test_catalogue_supplier_key_and_image_are_read_off_the_event_loop(monkeypatch):
    """The catalogue (every image file read and hashed), the Supplier key and the image a push chose are
    read in worker threads, never on the event loop the radios run on: a slow disk or share must not stall
    them. Catalogue and key are read once per configuration, not once per push."""
    import threading

    import gateway.ota
    import ota.catalogue

    reads: list[tuple[str, bool]] = []   # (file name, read on the loop's thread)

    def spy(module):
        real = module.read_input

        def read_input(path, **kwargs):
            reads.append((Path(path).name, threading.current_thread() is threading.main_thread()))
            return real(path, **kwargs)

        monkeypatch.setattr(module, "read_input", read_input)

    spy(ota.catalogue)
    spy(gateway.ota)
    async with open_gateway() as gw:
        gw.ota.configure(supplier_key=SAMPLES / "TEST-ONLY-supplier-signing-cert.pem")
        for role in ("IHD", "PPMID"):
            report = await gw.ota.push(gw.devices(role=role))
            assert report.ok, report.outcomes[0].reason
    names = [name for name, _ in reads]
    assert names.count("TEST-ONLY-supplier-signing-cert.pem") == 1
    assert names.count(sample("ihd").name) == 2   # indexed, then read for the push
    assert not [name for name, on_loop in reads if on_loop]
