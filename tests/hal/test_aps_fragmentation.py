"""APS fragmentation (hal.aps_fragmentation) against the bytes of the Zigbee PRO extended header as
Wireshark's packet-zbee-aps.c reads them; the capture's APS header of a fragment; and, on sim://, a GBCS
exchange whose fragments are lost once (sent again after the receiver's ACK) or for good (a clean
delivery failure naming the block)."""

from __future__ import annotations

import struct

import pytest
import zigpy.types as zigpy_t

from gateway.bench import bench_credentials
from gateway.certs_service import CS02C
from gateway.exceptions import DeviceNotFound
from gateway.session import Gateway
from gbcs.content import cs02c_command_content
from hal import aps_fragmentation as frag
from hal.capture import AirFrame, FrameEncoder
from hal.sim.config import Direction, FaultKind, FaultSpec, default_bench
from ota.link_model import APS_ACK_WAIT_S, LinkModel, fragment_block_size, max_aps_payload

ESME = "00:0d:6f:00:0a:bc:00:01"
TUNNELING = 0x0704


def test_data_extended_header_bytes() -> None:
    # first block: fragmentation 0b01, block number = the TOTAL number of blocks; others: 0b10, the index
    assert frag.data_extended_header(0, 5) == bytes.fromhex("0105")
    assert frag.data_extended_header(3, 5) == bytes.fromhex("0203")
    header, rest = frag.parse_extended_header(bytes.fromhex("0105") + b"zcl")
    assert (header.fragmentation, header.block_number, header.index, rest) == (
        frag.Fragmentation.FIRST, 5, 0, b"zcl")
    header, _ = frag.parse_extended_header(bytes.fromhex("0203"))
    assert (header.fragmentation, header.index) == (frag.Fragmentation.SUBSEQUENT, 3)
    with pytest.raises(frag.FragmentationError, match="reserved"):
        frag.parse_extended_header(b"\x03\x01")
    with pytest.raises(frag.FragmentationError, match="ends early"):
        frag.parse_extended_header(b"\x01")
    with pytest.raises(frag.FragmentationError):
        frag.data_extended_header(5, 5)


def test_ack_bitfield_marks_received_and_unused_blocks() -> None:
    # window of 4 starting at block 4 of 10: blocks 4 and 6 received, 5 and 7 missing -> 0b11110101
    assert frag.ack_bitfield(4, 4, 10, {4, 6}) == 0xF5
    assert frag.missing_blocks(4, 0xF5, 4, 10) == [5, 7]
    # last window of a 10-block transfer holds 8 and 9 only: bits 2..7 are unused and set
    assert frag.ack_bitfield(8, 4, 10, {8}) == 0xFD
    assert frag.ack_bitfield(8, 4, 10, {8, 9}) == 0xFF
    # EmberZNet's default window of one: a block's ACK is all ones
    assert frag.ack_bitfield(3, 1, 5, {3}) == 0xFF
    header, rest = frag.parse_extended_header(frag.ack_extended_header(4, 0xF5), ack=True)
    assert (header.fragmentation, header.block_number, header.ack_bitfield, rest) == (
        frag.Fragmentation.SUBSEQUENT, 4, 0xF5, b"")
    assert frag.ack_extended_header(0, 0xFF) == bytes.fromhex("0100ff")


def test_ezsp_group_id_conventions() -> None:
    # EmberZNet fragmentation.c: groupId = HIGH_LOW_TO_INT(totalBlocks, index); bellows reads it the same way
    assert frag.fragment_group_id(5, 2) == 0x0502
    assert frag.parse_fragment_group_id(0x0502) == (5, 2)
    # bellows acknowledges block 3 with groupId 0xFF00 | 3: window first block 3, bitfield 0xFF
    assert frag.reply_fragment_data(0xFF03) == (3, 0xFF)


def test_blocks_fill_one_frame_each() -> None:
    size = fragment_block_size()
    assert size == max_aps_payload() - 2 == 80
    blocks = frag.split(bytes(range(200)), size)
    assert [len(b) for b in blocks] == [80, 80, 40] and b"".join(blocks) == bytes(range(200))
    with pytest.raises(frag.FragmentationError, match="at most 255"):
        frag.split(bytes(256 * 2), 2)
    # per-window ACKs cost air time: a 1500-octet message in 19 fragments, one ACK each (window 1) or per 4
    model = LinkModel()
    assert model.fragmented_air_us(1500, window=1) > model.fragmented_air_us(1500, window=4)


def test_the_capture_writes_the_extended_header_and_one_counter_per_transfer() -> None:
    encoder = FrameEncoder(0x1A62, None)  # no NWK security: the APS header is readable
    ieee = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:01")

    def aps(block: int, transfer: int, payload: bytes) -> bytes:
        frame = AirFrame(time=0.0, src_nwk=0x1234, dst_nwk=0x0000, src_ieee=ieee, src_ep=1, dst_ep=1,
                         profile=0x0109, cluster=TUNNELING, payload=payload, block=block, blocks=3,
                         transfer=transfer)
        psdu = encoder.psdu(frame)
        return psdu[9 + 8:-2]  # MAC header 9, NWK header 8, FCS 2

    first, second = aps(0, 7, b"AB"), aps(1, 7, b"CD")
    other = aps(0, 8, b"EF")
    # frame control 0xC0: data, unicast, ACK request, extended header; dst ep, cluster, profile, src ep
    assert first[:7] == bytes([0xC0, 1]) + struct.pack("<HH", TUNNELING, 0x0109) + b"\x01"
    assert first[8:] == bytes.fromhex("0103") + b"AB"
    assert second[8:] == bytes.fromhex("0201") + b"CD"
    assert first[7] == second[7] != other[7]  # the APS counter: one per transfer


def _bench():
    config, _ = bench_credentials(default_bench())
    return config


def _cs02c(gw, esme):
    """The CS02c command (signed by the Supplier, then MACed): longer than one frame."""
    command = gw.gbcs.build_command(esme, CS02C, cs02c_command_content("DS"), originator=gw.gbcs.supplier,
                                    signed=True)
    assert len(command.to_bytes()) + 5 > max_aps_payload()  # ZCL header and tunnel id
    return command


async def test_a_lost_fragment_is_sent_again_and_the_read_completes(sim_han) -> None:
    async with sim_han(_bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        await gw.gbcs.open_tunnel(esme)
        han = app.han
        mark = han.trace.total
        # the next frame the hub sends on the tunnel: the first fragment of the CS02c command
        han.inject(FaultSpec(kind=FaultKind.DROP, device="esme", cluster=TUNNELING, count=1,
                             direction=Direction.TO_DEVICE))
        done = await gw.gbcs.exchange(esme, _cs02c(gw, esme))
        frames = [f for f in han.trace.since(mark) if f.fragment and f.src == 0x0000]
    assert done.security.signature.value == "valid"
    lost = [f for f in frames if f.outcome == "lost"]
    assert len(lost) == 1 and han.fragments_lost == 1
    again = [f for f in frames if f.transfer == lost[0].transfer and f.block == lost[0].block]
    assert [f.outcome for f in again] == ["lost", "delivered"] and again[0].data == again[1].data
    # no ACK came for the window (its only block was lost): the sender waited out the APS ACK timeout
    assert again[1].time - again[0].time >= APS_ACK_WAIT_S


async def test_a_transfer_whose_fragment_never_arrives_fails_cleanly(sim_han) -> None:
    async with sim_han(_bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        await gw.gbcs.open_tunnel(esme)
        app.han.inject(FaultSpec(kind=FaultKind.DROP, device="esme", cluster=TUNNELING,
                                 direction=Direction.TO_DEVICE))
        with pytest.raises(DeviceNotFound, match=r"GBCS message not delivered: .*APS fragment 0 of \d+ .*"
                                                 r"not acknowledged after 3 retries"):
            await gw.gbcs.exchange(esme, _cs02c(gw, esme), timeout=5)
        # three retries of the block per attempt (zigpy itself tries the Transfer Data more than once)
        assert app.han.fragments_lost >= 3 and app.han.fragments_lost % 3 == 0


async def test_radios_hanrig_cannot_fragment_on_refuse_long_unicasts_by_name() -> None:
    import zigpy.exceptions

    from hal.ezsp_fragmentation import refuse_fragmented_sends

    class Radio:  # stands for a zigpy-znp / zigpy-deconz application (not installed here)
        def __init__(self) -> None:
            self.sent: list[int] = []

        async def send_packet(self, packet: zigpy_t.ZigbeePacket) -> None:
            self.sent.append(len(packet.data.serialize()))

    def unicast(size: int) -> zigpy_t.ZigbeePacket:
        return zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), src_ep=1,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x1234), dst_ep=1,
            tsn=1, profile_id=0x0109, cluster_id=TUNNELING, data=zigpy_t.SerializableBytes(bytes(size)))

    radio = Radio()
    refuse_fragmented_sends(radio, "znp")
    await radio.send_packet(unicast(max_aps_payload()))
    refused = r"^znp radio: a 83-octet message needs APS fragmentation \(one frame carries 82\)"
    with pytest.raises(zigpy.exceptions.DeliveryError, match=refused):
        await radio.send_packet(unicast(83))
    assert radio.sent == [82]


async def test_a_host_that_reassembles_drives_the_air_ack(sim_han) -> None:
    """A coordinator whose host reassembles (the EZSP NCP: a listener with ``on_fragment``) answers each
    window when its host acknowledges it; a block the host leaves unacknowledged is sent again by the
    meter after its APS ACK timeout, and the host gets it twice."""
    async with sim_han(_bench()) as app:
        han = app.han
        seen: list[int] = []

        class ReassemblingHost:  # what hal/ezsp_stick does with bellows behind it
            def on_packet(self, packet): ...
            def on_join(self, nwk, ieee, parent): ...
            def on_leave(self, nwk, ieee): ...

            def on_fragment(self, packet, index, blocks, block) -> None:
                seen.append(index)
                if seen.count(index) == 1 and index == 1:
                    return  # the first copy of block 1 goes unacknowledged
                han.fragment_acknowledged(packet.src.address, packet.tsn, index, 0xFF)

        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        await gw.gbcs.open_tunnel(esme)
        han.attach(ReassemblingHost())
        mark = han.trace.total
        done = await gw.gbcs.exchange(esme, _cs02c(gw, esme))
        frames = [f for f in han.trace.since(mark) if f.fragment and f.src != 0x0000]
    assert done.security.signature.value == "valid"  # the hub (SimApplication) got the whole response
    response = frames[0].transfer
    sent = [f.block for f in frames if f.transfer == response]
    assert sent.count(1) == 2 and seen.count(1) == 2
    first, again = [f for f in frames if f.transfer == response and f.block == 1]
    assert again.time - first.time >= APS_ACK_WAIT_S


async def test_a_host_capture_writes_a_long_unicast_as_the_fragments_the_radio_sent(tmp_path) -> None:
    """``--capture`` on a real radio (the host's view): a frame longer than one APS payload is written as
    the APS fragments the radio put on the air, which tshark (when installed) reassembles."""
    import json
    import shutil
    import subprocess
    import types

    from hal.capture import HostCapture, PcapngWriter, read_pcapng_frames

    key = b"hanrig-sim-nwk-k"
    sent: list[int] = []

    async def send_packet(packet: zigpy_t.ZigbeePacket) -> None:
        sent.append(len(packet.data.serialize()))

    app = types.SimpleNamespace(
        send_packet=send_packet, packet_received=lambda packet: None, devices={},
        state=types.SimpleNamespace(
            network_info=types.SimpleNamespace(pan_id=0x1A62, channel=15,
                                               network_key=types.SimpleNamespace(key=key, seq=0)),
            node_info=types.SimpleNamespace(nwk=0x0000,
                                            ieee=zigpy_t.EUI64.convert("00:0d:6f:ff:fe:0a:bc:00"))))
    writer = PcapngWriter(tmp_path / "host.pcapng")
    host = HostCapture(app, writer, "ezsp")
    host.attach()
    message = bytes([0x01, 0x07, 0x01, 0x00, 0x00]) + bytes(range(195))  # Transfer Data, 200 octets
    await app.send_packet(zigpy_t.ZigbeePacket(
        src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), src_ep=1,
        dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x1234), dst_ep=1, tsn=7,
        profile_id=0x0109, cluster_id=TUNNELING, data=zigpy_t.SerializableBytes(message)))
    writer.close()
    assert sent == [200]
    frames = read_pcapng_frames(tmp_path / "host.pcapng")
    assert len(frames) == 3 and all(len(f) <= 127 for f in frames)
    tshark = shutil.which("tshark")
    if tshark is None:
        return
    done = subprocess.run([tshark, "-r", str(tmp_path / "host.pcapng"), "-o",
                           f'uat:zigbee_pc_keys:"{key.hex()}","Normal",""', "-T", "json",
                           "-e", "zbee_aps.block", "-e", "zbee_aps.reassembled.length",
                           "-e", "_ws.malformed"],
                          capture_output=True, text=True, timeout=60, check=True)
    layers = [p["_source"]["layers"] for p in json.loads(done.stdout)]
    assert [p.get("zbee_aps.block") for p in layers] == [["3"], ["1"], ["2"]]
    assert layers[-1]["zbee_aps.reassembled.length"] == ["200"]
    assert not any("_ws.malformed" in p for p in layers)


async def test_a_window_of_four_resends_only_what_its_ack_shows_missing(sim_han) -> None:
    import asyncio
    import dataclasses

    async with sim_han(_bench()) as app:
        han = app.han
        han.model = dataclasses.replace(han.model, fragment_window=4)
        device = han.device("esme")
        han.inject(FaultSpec(kind=FaultKind.DROP, device="esme", cluster=TUNNELING, count=1,
                             direction=Direction.FROM_DEVICE))
        await asyncio.sleep(0.01)  # armed
        mark = han.trace.total
        data = bytes([0x19, 0x01, 0x01]) + bytes(range(250)) + bytes(100)  # 353 octets: 5 blocks
        await han.device_send(device, zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=device.nwk), src_ep=1,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), dst_ep=1, tsn=9,
            profile_id=0x0109, cluster_id=TUNNELING, data=zigpy_t.SerializableBytes(data)))
        frames = han.trace.since(mark)
    # block 0 lost; blocks 1-3 arrive, so the receiver's ACK of window 0-3 (bitfield 0xFE) asks for block 0
    # alone; then block 4, the last window
    assert [(f.block, f.outcome) for f in frames] == [
        (0, "lost"), (1, "delivered"), (2, "delivered"), (3, "delivered"), (0, "delivered"), (4, "delivered")]
    assert frames[4].time - frames[3].time < APS_ACK_WAIT_S  # answered by the ACK, not by a timeout
    assert han.fragments_lost == 1
