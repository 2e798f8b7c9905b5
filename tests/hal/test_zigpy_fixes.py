"""Each zigpy trap hanrig works around has a test that fails without the fix (``hal.zigpy_fixes``)."""

from __future__ import annotations

import asyncio

import pytest
import zigpy.device
from sim_testlib import image_bytes, zigpy_image
from zigpy.zcl.clusters.general import Basic

from hal import zigpy_fixes
from hal.sim.config import Direction, FaultKind, FaultSpec


def _without(monkeypatch, name: str) -> None:
    monkeypatch.delitem(zigpy_fixes.FIXES, name)
    monkeypatch.setattr(zigpy.device.Device, name, zigpy_fixes._ORIGINAL[name])


@pytest.mark.parametrize("fixed", [True, False])
async def test_se_profile_frames_reach_the_clusters(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_parse_packet_header")
    async with sim_han(wait_for_devices=False) as app:
        await asyncio.sleep(60)
        device = app.get_device(ieee=app.han.device("ihd").ieee)
        if fixed:
            assert device.model == "SIM-IHD"
        else:
            # zigpy hands 0x0109 frames to custom_profile_packet_received: the Basic read never completes
            assert device.model is None


@pytest.mark.parametrize("fixed", [True, False])
async def test_repeated_reads_beyond_the_8_bit_tsn_are_not_eaten(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_should_filter_packet")
    async with sim_han() as app:
        basic = app.get_device(ieee=app.han.device("ihd").ieee).endpoints[1].in_clusters[Basic.cluster_id]
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def many_reads() -> None:
            for _ in range(300):  # > 256: zigpy's TSN wraps and replies repeat byte for byte
                success, _ = await basic.read_attributes(["model"], allow_cache=False)
                assert success == {"model": "SIM-IHD"}

        await many_reads()
        elapsed = loop.time() - start
        if fixed:
            assert elapsed < 10  # ~10 ms of air per read, no stall
        else:
            # the 257th reply repeats the 1st byte for byte: zigpy drops it, waits out its 5 s reply
            # timeout and retries until the 10 s de-duplication window has passed
            assert elapsed > 10


@pytest.mark.parametrize("fixed", [True, False])
async def test_a_resent_block_request_is_answered_at_once(sim_han, monkeypatch, fixed):
    if not fixed:
        _without(monkeypatch, "_should_filter_packet")
    async with sim_han() as app:
        ihd = app.han.device("ihd")
        device = app.get_device(ieee=ihd.ieee)
        update = asyncio.get_running_loop().create_task(
            device.update_firmware(zigpy_image(image_bytes(3000)))
        )
        while ihd.ota.outcome.blocks < 5:
            await asyncio.sleep(0.01)
        # lose one block response (zigpy sends it 3 times: all lost), so the device re-sends its
        # identical request (same TSN, same offset) after its own block timeout
        app.han.inject(
            FaultSpec(
                kind=FaultKind.DROP, device="ihd", direction=Direction.TO_DEVICE, cluster=0x0019, count=3
            )
        )
        await update
        if fixed:
            assert ihd.ota.outcome.retries == 1
        else:
            # zigpy drops the re-sent request as a duplicate for 10 s: the device has to ask again
            assert ihd.ota.outcome.retries >= 2


MALFORMED = [
    ("truncated header", "ihd", 0x0009, b"\x09"),
    ("report value of type NoData", "gsme", 0x0702, bytes.fromhex("18010a000000")),
]


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize(
    ("what", "device_id", "cluster_id", "data"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
async def test_a_malformed_frame_does_not_raise_out_of_the_radio_callback(
    sim_han, monkeypatch, caplog, fixed, what, device_id, cluster_id, data
):
    import zigpy.types as zigpy_t

    if not fixed:
        _without(monkeypatch, "packet_received")
    async with sim_han() as app:
        device = app.han.device(device_id)
        packet = zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=device.nwk),
            src_ep=1,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
            dst_ep=1,
            profile_id=0x0109,
            cluster_id=cluster_id,
            data=zigpy_t.SerializableBytes(data),
        )
        if fixed:
            app.packet_received(packet)
            assert "dropped a malformed frame" in caplog.text
            assert (
                await app.get_device(ieee=device.ieee)
                .endpoints[1]
                .in_clusters[0x0000]
                .read_attributes(["model"], allow_cache=False)
            )  # the device still works afterwards
        else:
            with pytest.raises((ValueError, TypeError)):
                app.packet_received(packet)


def test_fix6_an_orphaned_task_killed_by_a_closed_connection_is_no_traceback(caplog):
    import asyncio
    import gc
    import logging

    import hal

    async def pending_frame(text: str) -> None:
        raise RuntimeError(text)

    loop = hal.new_event_loop("ezsp:///dev/ttyUSB0")  # a real radio's loop
    try:
        with caplog.at_level(logging.DEBUG):
            for text in ("Connection has been closed", "something else broke"):
                loop.run_until_complete(asyncio.sleep(0))
                task = loop.create_task(pending_frame(text))
                loop.run_until_complete(asyncio.sleep(0.01))
                del task
                gc.collect()
    finally:
        loop.close()
    errors = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert [str(r.exc_info[1]) for r in errors] == ["something else broke"]  # only the other one
    assert any("radio connection closed under a pending frame" in r.getMessage() for r in caplog.records)
