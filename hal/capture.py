"""Packet captures Wireshark reads: HAN frames as IEEE 802.15.4 in pcapng (LINKTYPE_IEEE802_15_4_TAP).

Each frame is what the air carries: an 802.15.4 MAC data frame (with its FCS) holding the Zigbee NWK
header, the NWK auxiliary security header and the NWK payload (APS header and the ZCL/ZDO bytes)
encrypted and authenticated with the network key (AES-128 CCM*, security level 5 = ENC-MIC-32, the
level a Zigbee PRO network runs; on the air the level field reads 0 as the spec requires). Wireshark
(and tshark) decrypt it once given the network key: Preferences > Protocols > ZigBee > Pre-configured
Keys, the key in hex with byte order "Normal" (or ``tshark -o 'uat:zigbee_pc_keys:"<hex>","Normal",""'``).

Where frames come from:

* ``sim://`` and the virtual EZSP stick: every frame on the simulated air. The simulated HAN calls its
  frame sinks (``VirtualHan.add_frame_sink``) with each frame it puts on the air; :class:`AirCapture`
  is such a sink.
* a real EZSP (or other zigpy) radio: the host cannot hear the air, so :class:`HostCapture` records what
  the host sends and receives (zigpy's ``send_packet`` and ``packet_received``), framed the same way
  with the network key from the radio's state. MAC sequence numbers, frame counters and timing are then
  the host's view, not the radio's; a unicast longer than one APS payload is written as the APS
  fragments the radio carried it in.

A frame the simulated HAN sent in APS fragments is one 802.15.4 frame per fragment (and per
retransmission), each with the APS extended header (fragmentation field, block number) and the
transfer's one APS counter, so Wireshark reassembles the message (its ``zbee_aps`` reassembly).

A frame sent APS-secured to or from a device holding a CBKE link key (the SE clusters, issue 13) also
carries the APS auxiliary header and its payload sealed with that link key (data key, CCM* level 5):
Wireshark decodes it given the link key as a further pre-configured key.

On the simulated air, each APS ACK the HAN sends (``VirtualHan`` hands it to the air sinks with outcome
``hal.sim.wire.APS_ACK``; it is not in the trace's ring, nor in a per-step :class:`DeviceCapture`) is
written to an :class:`AirCapture` too: frame type ACK from the
acknowledging node, the acknowledged frame's cluster, profile and APS counter, endpoints swapped, and for
a window of fragments the extended header with the window's first block and ACK bitfield; the unicasts
carry the ACK-request bit.

Not modelled: MAC acknowledgements, beacons, MAC commands (polls), APS security on APS ACKs (written
NWK-secured only, as the air model times them), APS security on a PAN that only charges it
(``[sim] aps_security`` without CBKE keys), and on a real radio's host capture (which never sees ACKs).

``capture_to(path)`` (the CLI's ``--capture``) asks every radio opened while it is active to record into
``path``; ``hal.radio.open_radio`` attaches the right capture for the radio type.
"""

from __future__ import annotations

import binascii
import contextlib
import contextvars
import dataclasses
import functools
import io
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zigpy.types as zigpy_t
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from ota.link_model import fragment_block_size

from .aps_fragmentation import (
    ACK_REQUEST,
    EXTENDED_HEADER,
    FRAME_TYPE_ACK,
    ack_extended_header,
    aps_secured,
    data_extended_header,
    needs_fragmentation,
    split,
)
from .sim.wire import APS_ACK

LOGGER = logging.getLogger(__name__)

LINKTYPE_IEEE802_15_4_TAP = 283  # tcpdump.org link-layer header types
_TAP_FCS_TYPE, _TAP_CHANNEL = 0, 3  # IEEE 802.15.4 TAP TLV types
_FCS_16 = 1
NWK_SECURITY_LEVEL = 5  # ENC-MIC-32
_MIC_LEN = 4
_KEY_ID_NETWORK = 1
_KEY_ID_DATA = 0
APS_SECURITY = 0x20  # APS frame control: security
_BROADCASTS = (0xFFFF, 0xFFFD, 0xFFFC, 0xFFFB)
_NWK_RADIUS = 30


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 4x, and this is made per frame
class AirFrame:
    """A frame on the air, before encoding: NWK addresses, the sender's EUI-64 and the APS frame."""

    time: float  # seconds on the capture's clock (epoch seconds)
    src_nwk: int
    dst_nwk: int
    src_ieee: zigpy_t.EUI64
    src_ep: int
    dst_ep: int
    profile: int
    cluster: int
    payload: bytes
    comment: str = ""
    aps_key: bytes | None = None  # APS-secure the payload with this link key (a device's CBKE key)
    block: int = -1  # an APS fragment: block ``block`` of ``blocks`` of transfer ``transfer``
    blocks: int = 0
    transfer: int = 0
    # an APS ACK of the last unicast from ``dst_nwk`` to ``src_nwk`` (its APS counter; endpoints already
    # swapped); with ``block`` >= 0, of the window of fragments starting there, with this bitfield
    ack: bool = False
    ack_bitfield: int = 0xFF
    ack_request: bool = False  # a unicast its receiver acknowledges (APS ACK request bit)


_BIT_REVERSED = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def crc16_kermit(data: bytes) -> int:
    """The IEEE 802.15.4 FCS: CRC-16/ITU-T with reflected polynomial 0x8408, initial value 0.

    Computed by ``binascii.crc_hqx`` (the same polynomial, not reflected) over the bit-reversed octets,
    then bit-reversed back: C speed, where a Python bit loop cost a third of the main job's CPU."""
    crc = binascii.crc_hqx(bytes(data).translate(_BIT_REVERSED), 0)
    return (_BIT_REVERSED[crc & 0xFF] << 8) | _BIT_REVERSED[crc >> 8]


class FrameEncoder:
    """Builds 802.15.4 PSDUs (MAC header, NWK header and security, APS, payload, FCS) for one PAN."""

    def __init__(self, pan_id: int, network_key: bytes | None, key_seq: int = 0) -> None:
        self.pan_id = pan_id
        self.network_key = bytes(network_key) if network_key else None
        self.key_seq = key_seq
        self._mac_seq = 0
        self._nwk_seq = 0
        self._aps_counter: dict[int, int] = {}
        self._transfer_counter: dict[int, int] = {}  # fragmented transfer -> its APS counter
        self._unicast_counter: dict[tuple[int, int], int] = {}  # (src, dst) -> its last unicast's APS counter
        self._aps_frame_counter: dict[bytes, int] = {}  # per sender (EUI-64 octets), of APS-secured frames
        self._aps_ccm: dict[bytes, AESCCM] = {}  # by link key
        self._frame_counter: dict[bytes, int] = {}  # by the sender's EUI-64 as on the air
        self._ccm = AESCCM(self.network_key, tag_length=_MIC_LEN) if self.network_key else None

    def psdu(self, frame: AirFrame) -> bytes:
        broadcast = frame.dst_nwk in _BROADCASTS
        aps = self._aps(frame, broadcast)
        nwk = self._nwk(frame, aps, broadcast)
        # MAC data frame: PAN ID compression, short addresses; unicasts ask for a MAC ACK
        frame_control = 0x0001 | 0x0040 | (2 << 10) | (2 << 14) | (0 if broadcast else 0x0020)
        self._mac_seq = (self._mac_seq + 1) & 0xFF
        mac_dst = 0xFFFF if broadcast else frame.dst_nwk  # one hop: the coordinator is every device's parent
        mhr = struct.pack("<HBHHH", frame_control, self._mac_seq, self.pan_id, mac_dst, frame.src_nwk)
        body = mhr + nwk
        return body + struct.pack("<H", crc16_kermit(body))

    def _aps(self, frame: AirFrame, broadcast: bool) -> bytes:
        if frame.ack:
            return self._aps_ack(frame)
        if frame.blocks and frame.transfer in self._transfer_counter:
            counter = self._transfer_counter[frame.transfer]  # every block of a transfer: one APS counter
        else:
            counter = self._aps_counter.get(frame.src_nwk, 0)
            self._aps_counter[frame.src_nwk] = (counter + 1) & 0xFF
            if frame.blocks:
                self._transfer_counter[frame.transfer] = counter
        if not broadcast:  # its APS ACK carries this counter
            self._unicast_counter[(frame.src_nwk, frame.dst_nwk)] = counter
        delivery = 2 if broadcast else 0
        control = delivery << 2
        extended = b""
        if frame.blocks:  # an acknowledged unicast with the extended header (hal.aps_fragmentation)
            control |= ACK_REQUEST | EXTENDED_HEADER
            extended = data_extended_header(frame.block, frame.blocks)
        elif frame.ack_request and not broadcast:
            control |= ACK_REQUEST
        if frame.aps_key is not None:
            control |= APS_SECURITY
        header = struct.pack("<BBHHBB", control, frame.dst_ep, frame.cluster, frame.profile,
                             frame.src_ep, counter) + extended
        if frame.aps_key is None:
            return header + frame.payload
        return header + self._aps_secure(frame, header)

    def _aps_ack(self, frame: AirFrame) -> bytes:
        """An APS ACK frame (Zigbee PRO 2.2.5.2.3: ack format 0, so endpoints, cluster and profile follow
        the frame control) with the APS counter of the frame it acknowledges; a fragment window's ACK
        adds the extended header (first block, bitfield: ``hal.aps_fragmentation``)."""
        counter = self._unicast_counter.get((frame.dst_nwk, frame.src_nwk), 0)
        control = FRAME_TYPE_ACK
        extended = b""
        if frame.block >= 0:
            control |= EXTENDED_HEADER
            extended = ack_extended_header(frame.block, frame.ack_bitfield)
        return struct.pack("<BBHHBB", control, frame.dst_ep, frame.cluster, frame.profile, frame.src_ep,
                           counter) + extended

    def _aps_secure(self, frame: AirFrame, header: bytes) -> bytes:
        """The APS auxiliary header and the payload sealed with the link key (Zigbee 4.4.1.1): data key,
        no extended nonce (the nonce takes the sender's EUI-64 from the NWK auxiliary header, as the
        link model's 5 + 4 octets assume), level sent as 0 and computed as 5 like the NWK's."""
        assert frame.aps_key is not None
        source = bytes(frame.src_ieee)  # its octets in list order: what serialize() gives, at C speed
        counter = self._aps_frame_counter.get(source, 0)
        self._aps_frame_counter[source] = counter + 1
        control = _KEY_ID_DATA << 3
        real_control = control | NWK_SECURITY_LEVEL
        aux = struct.pack("<I", counter)
        nonce = source + aux + bytes([real_control])
        ccm = self._aps_ccm.get(frame.aps_key)
        if ccm is None:
            ccm = self._aps_ccm[frame.aps_key] = AESCCM(frame.aps_key, tag_length=_MIC_LEN)
        sealed = ccm.encrypt(nonce, frame.payload, header + bytes([real_control]) + aux)
        return bytes([control]) + aux + sealed

    def _nwk(self, frame: AirFrame, aps: bytes, broadcast: bool) -> bytes:
        secured = self.network_key is not None
        frame_control = (2 << 2) | (0 if broadcast else 0x0040) | (0x0200 if secured else 0)
        self._nwk_seq = (self._nwk_seq + 1) & 0xFF
        header = struct.pack("<HHHBB", frame_control, frame.dst_nwk, frame.src_nwk, _NWK_RADIUS,
                             self._nwk_seq)
        if not secured:
            return header + aps
        assert self._ccm is not None
        # little-endian, as on the air: zigpy's EUI64 holds its octets in that order, and bytes() reads
        # them at C speed (its serialize() builds a uint8_t per octet: 10 % of the capture's CPU)
        source = bytes(frame.src_ieee)
        counter = self._frame_counter.get(source, 0)
        self._frame_counter[source] = counter + 1
        # security control: network key, extended nonce; the level field is sent as 0 (Zigbee 4.3.1.1)
        control = (_KEY_ID_NETWORK << 3) | 0x20
        aux = bytes([control]) + struct.pack("<I", counter) + source + bytes([self.key_seq])
        # CCM* is computed with the real level in the security control byte (Zigbee 4.3.1.2)
        real_control = control | NWK_SECURITY_LEVEL
        nonce = source + struct.pack("<I", counter) + bytes([real_control])
        authenticated = header + bytes([real_control]) + aux[1:]
        sealed = self._ccm.encrypt(nonce, aps, authenticated)
        return header + aux + sealed


class PcapngWriter:
    """A pcapng file (one section; one interface per radio) written as frames come, flushed per frame;
    or, given a binary stream instead of a path (e.g. ``io.BytesIO``), into that stream."""

    def __init__(self, target: Path | IO[bytes]) -> None:
        self.path = target if isinstance(target, Path) else Path(getattr(target, "name", "<memory>"))
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = target.open("wb") if isinstance(target, Path) else target
        self._lock = threading.Lock()
        self._interfaces: dict[str, tuple[int, int]] = {}  # name -> (interface id, channel)
        self.frames = 0
        self._write_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                          + _options([(4, b"hanrig")]))  # shb_userappl

    def interface(self, name: str, channel: int) -> int:
        """The interface id for a radio (an Interface Description Block the first time)."""
        if name not in self._interfaces:
            self._interfaces[name] = (len(self._interfaces), channel)
            # if_name, if_tsresol = 6 (microseconds)
            self._write_block(1, struct.pack("<HHI", LINKTYPE_IEEE802_15_4_TAP, 0, 0)
                              + _options([(2, name.encode()), (9, bytes([6]))]))
        return self._interfaces[name][0]

    def write(self, interface_name: str, channel: int, time_s: float, psdu: bytes, comment: str = "") -> None:
        interface_id = self.interface(interface_name, channel)
        packet = _tap_header(channel) + psdu
        micros = round(time_s * 1_000_000)
        body = struct.pack("<IIIII", interface_id, micros >> 32, micros & 0xFFFFFFFF, len(packet),
                           len(packet))
        body += _pad(packet) + _options([(1, comment.encode())] if comment else [])
        self._write_block(6, body)
        self.frames += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _write_block(self, block_type: int, body: bytes) -> None:
        length = 12 + len(body)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(struct.pack("<II", block_type, length) + body + struct.pack("<I", length))
            self._file.flush()


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in options)
    return out + struct.pack("<HH", 0, 0)


@functools.cache  # one per channel: built once, not per frame
def _tap_header(channel: int) -> bytes:
    tlvs = (struct.pack("<HHB3x", _TAP_FCS_TYPE, 1, _FCS_16)
            + struct.pack("<HHHBx", _TAP_CHANNEL, 3, channel, 0))
    return struct.pack("<BBH", 0, 0, 4 + len(tlvs)) + tlvs


def read_pcapng_frames(path: Path) -> list[bytes]:
    """The 802.15.4 PSDUs of a capture this module wrote (TAP header stripped), for tests and tools."""
    data = path.read_bytes()
    frames, offset = [], 0
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        if block_type == 6:
            captured = struct.unpack_from("<I", data, offset + 20)[0]
            packet = data[offset + 28: offset + 28 + captured]
            tap_length = struct.unpack_from("<H", packet, 2)[0]
            frames.append(packet[tap_length:])
        offset += length
    return frames


# ---------------------------------------------------------------------------------------- sinks
class AirCapture:
    """A frame sink of the simulated HAN: every frame it puts on the air, into a pcapng writer.

    A frame is captured in two halves: :meth:`note` takes, when the frame goes on the air, what its
    encoding needs from the PAN as it is then (the network, the sender's EUI-64, the link key), and
    :meth:`write` encodes and writes it. Called as a sink it does both at once; a
    :class:`DeviceCapture` notes frames during its step and writes them when it stops, so the step's
    frames are encoded in one go (the same bytes, at less CPU than interleaved with the simulation)."""

    def __init__(self, han: Any, writer: PcapngWriter, name: str = "sim") -> None:
        self.han = han
        self.writer = writer
        self.name = name
        self.epoch = _sim_epoch(han)
        network = han.network
        self.encoder = FrameEncoder(int(network.pan_id), bytes(network.network_key))
        # the PAN's network parameters the encoder was last checked against, and their channel: the HAN
        # replaces its NetworkParams when it (re-)forms, so a frame on the same object needs no check
        self._network: Any = network
        self._channel = int(network.channel)
        self._by_nwk: dict[int, tuple[Any, zigpy_t.EUI64]] = {}
        # the simulated PAN acknowledges every unicast (its APS ACKs are written too): they ask for one
        model = getattr(han, "model", None)
        self._ack_request = bool(model is not None and model.aps_ack and model.enabled)

    def __call__(self, record: Any, packet: zigpy_t.ZigbeePacket) -> None:
        noted = self.note(record, packet)
        if noted is not None:
            self.write(noted)

    def note(self, record: Any, packet: zigpy_t.ZigbeePacket) -> _NotedFrame | None:
        """What encoding ``record`` needs from the PAN now (None: a frame never sent)."""
        if record.outcome == "queued-expired":  # never sent: the device did not poll in time
            return None
        if record.outcome == APS_ACK:  # from the acknowledging node: the data frame's endpoints swapped
            return (record, self.han.network, self._ieee(record.src), int(packet.dst_ep or 0),
                    int(packet.src_ep or 0), None)
        return (record, self.han.network, self._ieee(record.src), int(packet.src_ep or 0),
                int(packet.dst_ep or 0), self._link_key(record, packet))

    def write(self, noted: _NotedFrame) -> None:
        """Encode a noted frame and write it."""
        record, network, src_ieee, src_ep, dst_ep, aps_key = noted
        if network is not self._network:
            if self.encoder.pan_id != network.pan_id or \
                    self.encoder.network_key != bytes(network.network_key):
                self.encoder = FrameEncoder(int(network.pan_id), bytes(network.network_key))  # re-formed
            self._network, self._channel = network, int(network.channel)
        ack = record.outcome == APS_ACK  # from the acknowledging node, no payload (``note``)
        frame = AirFrame(
            time=self.epoch + record.time, src_nwk=record.src, dst_nwk=record.dst, src_ieee=src_ieee,
            src_ep=src_ep, dst_ep=dst_ep, profile=record.profile, cluster=record.cluster, payload=record.data,
            comment="" if ack or record.outcome == "delivered" else record.outcome, block=record.block,
            blocks=record.blocks, transfer=record.transfer, aps_key=aps_key, ack=ack,
            ack_bitfield=record.ack_bitfield, ack_request=self._ack_request and not ack)
        try:
            self.writer.write(self.name, self._channel, frame.time, self.encoder.psdu(frame), frame.comment)
        except (OSError, ValueError) as exc:  # a full disk must not break the bench
            LOGGER.warning("capture %s: %s", self.writer.path, exc)

    def _link_key(self, record: Any, packet: zigpy_t.ZigbeePacket) -> bytes | None:
        """The CBKE link key of the device a frame sent APS-secured goes to or comes from (None: not
        APS-secured, or a PAN that only charges APS security without keys)."""
        if not aps_secured(packet):
            return None
        if record.src != 0x0000 and record.dst != 0x0000:  # neither end is the coordinator
            for device in self.han.devices.values():
                if device.nwk in (record.src, record.dst):
                    return getattr(getattr(device, "cbke", None), "link_key", None)
            return None
        found = self._device(record.src or record.dst)
        return getattr(getattr(found[0], "cbke", None), "link_key", None) if found is not None else None

    def _ieee(self, nwk: int) -> zigpy_t.EUI64:
        if nwk == 0x0000:
            return zigpy_t.EUI64(self.han.network.coordinator_ieee)
        found = self._device(nwk)
        return found[1] if found is not None else zigpy_t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")

    def _device(self, nwk: int) -> tuple[Any, zigpy_t.EUI64] | None:
        """The PAN's device at ``nwk`` (not the coordinator) and its EUI-64, else None."""
        if nwk == 0x0000:
            return None
        known = self._by_nwk.get(nwk)  # (device, its EUI-64): checked, as a rejoin may move an address
        if known is not None and known[0].nwk == nwk:
            return known
        for device in self.han.devices.values():
            if device.nwk == nwk:
                known = self._by_nwk[nwk] = (device, zigpy_t.EUI64(device.ieee))
                return known
        return None


# (record, the PAN's NetworkParams, the sender's EUI-64, source and destination endpoints, APS link key)
_NotedFrame = tuple[Any, Any, zigpy_t.EUI64, int, int, "bytes | None"]


class DeviceCapture:
    """The frames to and from one device of a simulated HAN while it is attached, as pcapng bytes (the
    rig runner attaches one per step to the results store). Frames are noted as they go on the air and
    encoded when the capture stops."""

    MAX_FRAMES = 20_000

    def __init__(self, han: Any, eui64: zigpy_t.EUI64, name: str = "sim") -> None:
        self.han = han
        self.eui64 = eui64
        self._buffer = io.BytesIO()
        self._writer = PcapngWriter(self._buffer)
        self._sink = AirCapture(han, self._writer, name)
        self._noted: list[_NotedFrame] = []
        # the PAN's devices are made with it: one not there now never sends (the trace hands this sink
        # only the frames to and from the device's address, without a call per frame and capture)
        device = han.devices.get(eui64)
        if device is not None:
            han.add_frame_sink(self._note, device)

    def _note(self, record: Any, packet: zigpy_t.ZigbeePacket) -> None:
        if len(self._noted) < self.MAX_FRAMES:
            noted = self._sink.note(record, packet)
            if noted is not None:
                self._noted.append(noted)

    def stop(self) -> bytes | None:
        """Detach; the pcapng bytes, or None when no frame to or from the device went on the air."""
        self.han.remove_frame_sink(self._note)
        for noted in self._noted:
            self._sink.write(noted)
        self._noted = []
        return self._buffer.getvalue() if self._writer.frames else None


def _sim_epoch(han: Any) -> float:
    """Capture time 0 of a simulated PAN: its start time (the PAN's clock), else the Unix epoch."""
    import datetime as dt

    with contextlib.suppress(AttributeError, ValueError, TypeError):
        return dt.datetime.fromisoformat(han.settings.start_time).timestamp()
    return 0.0


class HostCapture:
    """What a host sends to and receives from a real radio, as 802.15.4 frames (the host's view)."""

    def __init__(self, app: Any, writer: PcapngWriter, name: str) -> None:
        self.app = app
        self.writer = writer
        self.name = name
        self._send = app.send_packet
        self._received = app.packet_received
        self._encoder: FrameEncoder | None = None
        self._transfers = 0  # fragmented frames written (each block carries its transfer's APS counter)

    def attach(self) -> None:
        # zigpy has no packet hook: wrap the two methods every radio library funnels frames through
        self.app.send_packet = self._on_send
        self.app.packet_received = self._on_receive

    def detach(self) -> None:
        with contextlib.suppress(AttributeError):
            del self.app.send_packet
            del self.app.packet_received

    async def _on_send(self, packet: zigpy_t.ZigbeePacket) -> None:
        await self._send(packet)
        self._write(packet, outgoing=True)

    def _on_receive(self, packet: zigpy_t.ZigbeePacket) -> None:
        self._write(packet, outgoing=False)
        self._received(packet)

    def _write(self, packet: zigpy_t.ZigbeePacket, *, outgoing: bool) -> None:
        import time

        try:
            network = self.app.state.network_info
            own = self.app.state.node_info
            key = bytes(network.network_key.key) if network.network_key is not None else None
            if self._encoder is None or self._encoder.pan_id != int(network.pan_id):
                self._encoder = FrameEncoder(int(network.pan_id), key, int(network.network_key.seq or 0))
            peer = packet.dst if outgoing else packet.src
            peer_nwk, peer_ieee = self._peer(peer)
            frame = AirFrame(
                time=time.time(), src_nwk=int(own.nwk) if outgoing else peer_nwk,
                dst_nwk=peer_nwk if outgoing else int(own.nwk),
                src_ieee=own.ieee if outgoing else peer_ieee,
                src_ep=int(packet.src_ep or 0), dst_ep=int(packet.dst_ep or 0),
                profile=int(packet.profile_id), cluster=int(packet.cluster_id),
                payload=packet.data.serialize(), comment="host sent" if outgoing else "host received",
            )
            secured = aps_secured(packet)
            frames = [frame]
            if frame.dst_nwk not in _BROADCASTS and needs_fragmentation(len(frame.payload),
                                                                        aps_security=secured):
                # the radio carried it in APS fragments: one frame per block, as on the air
                self._transfers += 1
                blocks = split(frame.payload, fragment_block_size(aps_security=secured))
                frames = [dataclasses.replace(frame, payload=block, block=index, blocks=len(blocks),
                                              transfer=self._transfers)
                          for index, block in enumerate(blocks)]
            for each in frames:
                self.writer.write(self.name, int(network.channel), each.time, self._encoder.psdu(each),
                                  each.comment)
        except Exception as exc:
            LOGGER.warning("capture %s: frame not recorded: %s", self.writer.path, exc)

    def _peer(self, address: Any) -> tuple[int, zigpy_t.EUI64]:
        unknown = zigpy_t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
        if address is None:
            return 0xFFFE, unknown
        if address.addr_mode == zigpy_t.AddrMode.IEEE:
            device = self.app.devices.get(address.address)
            return (int(device.nwk), device.ieee) if device is not None else (0xFFFE, address.address)
        nwk = int(address.address)
        for device in self.app.devices.values():
            if int(device.nwk) == nwk:
                return nwk, device.ieee
        return nwk, unknown


# ------------------------------------------------------------------------------ the --capture request
_REQUESTED: contextvars.ContextVar[PcapngWriter | None] = contextvars.ContextVar("hanrig_capture",
                                                                                  default=None)


@contextlib.contextmanager
def capture_to(path: Path) -> Iterator[PcapngWriter]:
    """Every radio opened (``hal.open_radio``) while this is active records into ``path``."""
    writer = PcapngWriter(path)
    token = _REQUESTED.set(writer)
    try:
        yield writer
    finally:
        _REQUESTED.reset(token)
        writer.close()


def requested_writer() -> PcapngWriter | None:
    return _REQUESTED.get()


def start_capture(path: Path) -> Callable[[], None]:
    """Request a capture until the returned function is called (the CLI's ``--capture`` option)."""
    writer = PcapngWriter(path)
    token = _REQUESTED.set(writer)

    def stop() -> None:
        _REQUESTED.reset(token)
        writer.close()

    return stop


def attach_to_han(han: Any, name: str, writer: PcapngWriter | None = None) -> Callable[[], None] | None:
    """Record every frame of a simulated HAN into ``writer`` (default: the requested capture, if any);
    returns how to stop."""
    writer = writer or requested_writer()
    if writer is None:
        return None
    sink = AirCapture(han, writer, name)
    han.add_frame_sink(sink)
    return lambda: han.remove_frame_sink(sink)


def attach_to_host(app: Any, name: str) -> Callable[[], None] | None:
    """Record what the host sends to and receives from a real radio into the requested capture, if any."""
    writer = requested_writer()
    if writer is None:
        return None
    host = HostCapture(app, writer, name)
    host.attach()
    return host.detach
