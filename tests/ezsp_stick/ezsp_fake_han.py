"""A small stand-in for ``hal.sim.han.VirtualHan``'s coordinator port, for the stick's own tests.

It implements exactly the shared surface (``network``, ``attach``, ``start``, ``stop``, ``form``,
``send``, ``permit_join``, ``energy_scan``) with one virtual HA light on endpoint 1 that joins when
joining is permitted, announces itself, and answers the ZDO requests of zigpy's interview and ZCL
Basic attribute reads, all in the real wire formats (zigpy's ZDO schemas and ZCL foundation types).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

import zigpy.types as zigpy_t
import zigpy.zcl.foundation as foundation
import zigpy.zdo.types as zdo_t

from hal.sim.exceptions import SimDeliveryError

COORDINATOR_IEEE = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:00")
DEVICE_IEEE = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:03")
DEVICE_NWK = 0x4A21
AIR_DELAY = 0.005  # seconds per hop: small, the stick runs in real time
MAC_NO_ACK = 0xE9


@dataclasses.dataclass(frozen=True)
class FakeNetworkParams:
    channel: int = 15
    pan_id: zigpy_t.PanId = dataclasses.field(default_factory=lambda: zigpy_t.PanId(0x1A62))
    extended_pan_id: zigpy_t.ExtendedPanId = dataclasses.field(
        default_factory=lambda: zigpy_t.ExtendedPanId.convert("00:0d:6f:ff:fe:0a:bc:00"))
    network_key: zigpy_t.KeyData = dataclasses.field(
        default_factory=lambda: zigpy_t.KeyData(bytes(range(16))))
    tc_link_key: zigpy_t.KeyData = dataclasses.field(
        default_factory=lambda: zigpy_t.KeyData(b"ZigBeeAlliance09"))
    nwk_update_id: int = 0
    coordinator_ieee: zigpy_t.EUI64 = dataclasses.field(default_factory=lambda: COORDINATOR_IEEE)
    formed: bool = False


class FakeLight:
    """One router on endpoint 1 (HA profile, Basic + On/Off), answering in wire format."""

    manufacturer = "hanrig-fake"
    model = "fake-light"

    def __init__(self, han: FakeHan) -> None:
        self.han = han
        self.requests: list[zigpy_t.ZigbeePacket] = []

    def _reply(self, cluster: int, data: bytes, *, src_ep: int, dst_ep: int, profile: int) -> None:
        self.han.to_coordinator(zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=DEVICE_NWK), src_ep=src_ep,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), dst_ep=dst_ep,
            profile_id=profile, cluster_id=cluster, data=zigpy_t.SerializableBytes(data), lqi=200, rssi=-50))

    def handle(self, packet: zigpy_t.ZigbeePacket) -> None:
        self.requests.append(packet)
        data = packet.data.serialize()
        if packet.profile_id == 0x0000:
            self._zdo(packet.cluster_id, data)
        elif packet.cluster_id == 0x0000:
            self._basic(packet, data)

    def _zdo(self, cluster: int, data: bytes) -> None:
        tsn = data[0]
        success = zdo_t.Status.SUCCESS
        nwk = zigpy_t.NWK(DEVICE_NWK)
        if cluster == zdo_t.ZDOCmd.Node_Desc_req:
            desc = zdo_t.NodeDescriptor(
                logical_type=zdo_t.LogicalType.Router, complex_descriptor_available=0,
                user_descriptor_available=0, reserved=0, aps_flags=0,
                frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
                mac_capability_flags=0x8E, manufacturer_code=0x1234, maximum_buffer_size=82,
                maximum_incoming_transfer_size=82, server_mask=0, maximum_outgoing_transfer_size=82,
                descriptor_capability_field=0)
            rsp, body = zdo_t.ZDOCmd.Node_Desc_rsp, success.serialize() + nwk.serialize() + desc.serialize()
        elif cluster == zdo_t.ZDOCmd.Active_EP_req:
            rsp, body = zdo_t.ZDOCmd.Active_EP_rsp, success.serialize() + nwk.serialize() + bytes([1, 1])
        elif cluster == zdo_t.ZDOCmd.Simple_Desc_req:
            desc = zdo_t.SizePrefixedSimpleDescriptor(
                endpoint=1, profile=0x0104, device_type=0x0100, device_version=1,
                input_clusters=[0x0000, 0x0006], output_clusters=[0x0019])
            rsp, body = zdo_t.ZDOCmd.Simple_Desc_rsp, success.serialize() + nwk.serialize() + desc.serialize()
        else:
            return
        self._reply(rsp, bytes([tsn]) + body, src_ep=0, dst_ep=0, profile=0x0000)

    def _basic(self, packet: zigpy_t.ZigbeePacket, data: bytes) -> None:
        hdr, payload = foundation.ZCLHeader.deserialize(data)
        if hdr.frame_control.frame_type != foundation.FrameType.GLOBAL_COMMAND or hdr.command_id != 0x00:
            return
        attr_ids, _ = zigpy_t.List[zigpy_t.uint16_t].deserialize(payload)
        values = {0x0004: self.manufacturer, 0x0005: self.model}
        records = []
        for attr in attr_ids:
            if attr in values:
                value = foundation.TypeValue(type=0x42, value=zigpy_t.CharacterString(values[attr]))
                records.append(foundation.ReadAttributeRecord(
                    attrid=attr, status=foundation.Status.SUCCESS, value=value))
            else:
                records.append(foundation.ReadAttributeRecord(
                    attrid=attr, status=foundation.Status.UNSUPPORTED_ATTRIBUTE))
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, 0x01, direction=foundation.Direction.Server_to_Client)
        rsp_hdr.frame_control = rsp_hdr.frame_control.replace(disable_default_response=True)
        body = b"".join(r.serialize() for r in records)
        self._reply(0x0000, rsp_hdr.serialize() + body, src_ep=1, dst_ep=packet.src_ep, profile=0x0104)


class FakeHan:
    """The coordinator port of a one-device PAN."""

    def __init__(self, network: FakeNetworkParams | None = None) -> None:
        self.network = network or FakeNetworkParams()
        self.listeners: list = []
        self.light = FakeLight(self)
        self.joined = False
        self.sent: list[zigpy_t.ZigbeePacket] = []
        self.permits: list[int] = []
        self.scans: list[tuple[list[int], int]] = []
        self._tasks: set[asyncio.Task] = set()

    def attach(self, listener) -> None:
        self.listeners.append(listener)

    async def start(self) -> None:
        if self.joined:
            for listener in self.listeners:
                listener.on_join(DEVICE_NWK, DEVICE_IEEE, 0x0000)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def form(self, params: FakeNetworkParams) -> None:
        await asyncio.sleep(AIR_DELAY)
        self.network = params

    def _later(self, delay: float, func, *args) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            func(*args)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def to_coordinator(self, packet: zigpy_t.ZigbeePacket) -> None:
        self._later(AIR_DELAY, lambda: [listener.on_packet(packet) for listener in self.listeners])

    async def send(self, packet: zigpy_t.ZigbeePacket) -> None:
        self.sent.append(packet)
        await asyncio.sleep(AIR_DELAY)
        if packet.dst.addr_mode == zigpy_t.AddrMode.NWK:
            if packet.dst.address != DEVICE_NWK or not self.joined:
                raise SimDeliveryError(MAC_NO_ACK, f"no device at 0x{packet.dst.address:04x}")
            self.light.handle(packet)
        elif self.joined:
            self.light.handle(packet)

    async def permit_join(self, seconds: int) -> None:
        self.permits.append(seconds)
        if seconds and not self.joined:
            self.joined = True
            self._later(AIR_DELAY, self._join)

    def _join(self) -> None:
        for listener in self.listeners:
            listener.on_join(DEVICE_NWK, DEVICE_IEEE, 0x0000)
        annce = bytes([0x81]) + zigpy_t.NWK(DEVICE_NWK).serialize() + DEVICE_IEEE.serialize() + bytes([0x8E])
        self.to_coordinator(zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=DEVICE_NWK), src_ep=0,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.Broadcast, address=0xFFFD), dst_ep=0,
            profile_id=0x0000, cluster_id=zdo_t.ZDOCmd.Device_annce, data=zigpy_t.SerializableBytes(annce)))

    async def energy_scan(self, channels: Iterable[int], duration_exp: int) -> dict[int, int]:
        channels = list(channels)
        self.scans.append((channels, duration_exp))
        await asyncio.sleep(AIR_DELAY)
        return {c: 20 + 10 * (c - 11) for c in channels}
