"""After CBKE through unmodified bellows (the NCP doing the crypto), hanrig's SE frames to the keyed device
leave bellows as sendUnicast with EmberApsOption.APS_OPTION_ENCRYPTION, read off the stick's wire by the
virtual NCP's codec, and go on the simulated air APS-secured (the APS auxiliary header and MIC charged,
OTA blocks cut to the 56-octet APS-secured budget); the keyed PPMID, which drops unsecured SE frames,
takes the whole image. The IHD (Type 2, no CBKE) gets the same OTA frames without APS security and
64-octet blocks, and Key Establishment itself is never APS-secured."""

from __future__ import annotations

import asyncio
import dataclasses

import bellows.types as bt
import pytest
import zigpy.types as zigpy_t
from conftest import wait_for

from gateway.session import Gateway
from hal.ezsp_stick.pty import VirtualStick
from hal.roles import Role
from hal.sim.config import default_bench
from hal.sim.han import VirtualHan
from ota import build_image, read_image

OTA, KEY_ESTABLISHMENT = 0x0019, 0x0800
IMAGE_TYPES = {Role.IHD: 0x0101, Role.PPMID: 0x0084}


@pytest.fixture
async def bench(tmp_path, monkeypatch):
    monkeypatch.setenv("HANRIG_DATA_DIR", str(tmp_path))
    config = default_bench()
    devices = tuple(dataclasses.replace(d, sim=dataclasses.replace(d.sim, query_jitter_s=0.2))
                    for d in config.devices if d.role in IMAGE_TYPES)
    han = VirtualHan(config.replace(devices=devices))
    stick = VirtualStick(han, power_up_han=True)
    await stick.start()
    yield han, stick
    await han.stop()
    await stick.stop()


async def test_bellows_aps_encrypts_se_frames_to_a_keyed_device(bench) -> None:
    han, stick = bench
    # (time, destination, cluster, APS_OPTION_ENCRYPTION): the APS frame of every unicast bellows asked
    # for, as the NCP decoded it off the wire (plain sendUnicast, or the XNCP source-routed send in a
    # customFrame)
    unicasts: list[tuple[float, int, int, bool]] = []
    aps_to_packet = stick.ncp._aps_to_packet

    def note(dst, aps: bt.EmberApsFrame, message: bytes, radius: int = 0):
        unicasts.append((asyncio.get_running_loop().time(), int(dst.address), int(aps.clusterId),
                         bt.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options))
        return aps_to_packet(dst, aps, message, radius)

    stick.ncp._aps_to_packet = note
    blocks: dict[int, list[tuple[bool, int]]] = {}   # destination -> (APS-secured on air, block data size)

    def on_air(record, packet) -> None:
        # Image Block Response (0x05) with status SUCCESS: data size at octet 16
        block = record.cluster == OTA and record.data[2:4] == b"\x05\x00"
        if packet is not None and record.src == 0 and block:
            secured = bool(packet.tx_options & zigpy_t.TransmitOptions.APS_Encryption)
            blocks.setdefault(record.dst, []).append((secured, record.data[16]))

    han.trace.subscribe(on_air)
    by_role = {spec.role: spec.eui64 for spec in han.config.devices}
    ppmid, ihd = str(by_role[Role.PPMID]), str(by_role[Role.IHD])
    async with Gateway.open([f"ezsp:{stick.path}"]) as gw:
        gw.ota.configure(signatures_required=False)
        await wait_for(lambda: gw.cbke.secured(ppmid), timeout=60, what="the PPMID's CBKE through the stick")
        keyed = gw.cbke.latest(ppmid)
        assert keyed.crypto == "ncp"
        for role, eui64 in ((Role.PPMID, ppmid), (Role.IHD, ihd)):
            image = read_image(build_image(bytes(range(256)) * 4, manufacturer_code=0x1234,
                                           image_type=IMAGE_TYPES[role], file_version=0x00010100))
            report = await gw.ota.push([gw.device(eui64)], image=image)
            assert report.outcomes[0].ok, report.outcomes[0]
        nwk = {str(d.ieee): d.nwk for d in han.devices.values()}

    # once the key is established (and only then) every SE frame to the PPMID is APS-encrypted
    to_ppmid = {(at > keyed.finished_at, c, enc) for at, dst, c, enc in unicasts if dst == nwk[ppmid]}
    to_ihd = {(c, enc) for _, dst, c, enc in unicasts if dst == nwk[ihd]}
    assert (True, OTA, True) in to_ppmid and (True, OTA, False) not in to_ppmid, to_ppmid
    assert not any(enc for after, c, enc in to_ppmid if not after), to_ppmid
    assert {(c, enc) for _, c, enc in to_ppmid if c == KEY_ESTABLISHMENT} == {(KEY_ESTABLISHMENT, False)}
    assert (OTA, False) in to_ihd and not any(enc for _, enc in to_ihd)
    assert blocks[nwk[ppmid]] and all(secured for secured, _ in blocks[nwk[ppmid]])
    assert max(size for _, size in blocks[nwk[ppmid]]) == 56
    assert not any(secured for secured, _ in blocks[nwk[ihd]])
    assert max(size for _, size in blocks[nwk[ihd]]) == 64
    assert not han.devices[by_role[Role.PPMID]].refused_unsecured   # nothing reached it unsecured
