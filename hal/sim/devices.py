"""Virtual GB HAN devices (IHD, PPMID, HCALCS, ESME, GSME) that answer with real ZDO/ZCL bytes.

Each device joins, announces itself, answers ZDO descriptor requests on the Smart Energy profile
(0x0109), serves its ZCL attributes (Basic, Metering, On/Off, Time, Alarms), and runs an OTA Upgrade
client (``ota_client.py``). Its behaviours are components: its own clock, set from the hub's Time
server (``clock.py``, ``device.clock``), and its ZCL alarms (``alarms.py``, ``device.alarms``). Role
subclasses add behaviour:

* ``VirtualGsme``: sleepy, battery-powered; hears only when it polls (requests to it wait in the
  parent's indirect queue); own clock (synchronised, drifting, unsynchronised, absent); pushes gas
  values to the hub every ``gas_push_interval_s``: see :meth:`VirtualGsme.push_gas` for the exact frames.
* ``VirtualHcalcs``: an On/Off load switch (cluster 0x0006 server) with a DRLC client whose load event
  engine is ``drlc.py`` (``[devices.sim] load_control``: drlc | on_off_only | ignore_events).
* ``VirtualEsme``: mains router with a Metering server; holds trust anchor cells and device certificates
  as opaque DER bytes and answers Read Device Security Credentials over Tunneling (``credentials.py``).
* meters (ESME, GSME): take Change of Tenancy and answer Get Profile history (``tenancy.py``).
* any device: emits ZCL Alarms (0x0009) "alarm" commands to the hub at ``alert_rate_hz`` (``alarms.py``).

A device talks to the PAN only through the :class:`Pan` protocol (``device_send``, ``device_poll``, ...),
which :class:`~hal.sim.han.VirtualHan` implements and which times every frame on the shared channel;
this module does not import ``han`` (the PAN builds devices, devices only see the port it gives them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters.general import Alarms, Basic, OnOff, Ota, Time
from zigpy.zcl.clusters.smartenergy import Messaging, Metering, MeteringUnitofMeasure, Price

from ..aps_fragmentation import aps_secured
from ..roles import Role
from ..se_clusters import aps_secured_after_cbke
from .alarms import DeviceAlarms
from .cbke import KE_CLUSTER_ID, CbkeClient
from .clock import DeviceClock
from .config import DeviceSpec, SimSettings
from .drlc import DRLC_CLUSTER_ID, DrlcEngine, LoadControlMode
from .exceptions import SimDeliveryError
from .gsme_tunnel import GsmeTunnelClient
from .ota_client import OTA_CLIENTS, GbcsOtaClient, OtaIdentity, ZclOtaClient
from .tenancy import PROFILE_INTERVAL_PERIOD, LoadProfile, TenancyStore
from .tunnel import TUNNELING_CLUSTER_ID, GbcsAlarms, GbHrgpServer
from .wire import (
    COORDINATOR_ENDPOINT,
    DEVICE_ENDPOINT,
    SE_PROFILE,
    ZDO_ENDPOINT,
    ZDO_PROFILE,
    ZclFrame,
    parse_zcl,
    parse_zdo,
    typed_value,
    zcl_cluster_command,
    zcl_general,
    zdo_frame,
)

LOGGER = logging.getLogger(__name__)
REBOOT_AFTER_ANSWER_S = 2.0  # an activating meter's time between its last message out and its restart
ANSWER_SEND_LIMIT_S = 60.0  # an activating meter restarts anyway if its answer cannot go out in this time

FAST_POLL_S = 0.25  # a sleepy device polls this fast while it waits for a response
REBOOT_S = 3.0  # time a device is away while it restarts into new firmware
DRLC_CLUSTER = 0x0701
DEVICE_MANAGEMENT_CLUSTER = 0x0708

SE_DEVICE_TYPES: dict[Role, int] = {  # Smart Energy profile device ids (SE 1.x device descriptions)
    Role.ESME: 0x0501,  # Metering Device
    Role.GSME: 0x0501,  # Metering Device (a sleepy end device)
    Role.IHD: 0x0502,  # In-Premise Display
    Role.PPMID: 0x0506,  # Prepayment Terminal
    Role.HCALCS: 0x0504,  # Load Control Device
}
POWER_SOURCE: dict[Role, Basic.PowerSource] = {
    Role.ESME: Basic.PowerSource.Mains_single_phase,
    Role.GSME: Basic.PowerSource.Battery,
    Role.IHD: Basic.PowerSource.Mains_single_phase,
    Role.PPMID: Basic.PowerSource.Mains_single_phase,
    Role.HCALCS: Basic.PowerSource.Mains_single_phase,
}
CLUSTERS: dict[int, type[Cluster]] = {c.cluster_id: c for c in (Basic, OnOff, Ota, Time, Alarms, Metering)}




class Pan(Protocol):
    """What a virtual device needs from the PAN it lives on (``hal.sim.han.VirtualHan`` provides it)."""

    settings: SimSettings

    def loop_time(self) -> float: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
    def device_joined(self, device: VirtualDevice) -> None: ...
    def device_left(self, device: VirtualDevice) -> None: ...
    def device_rebooting(self, device: VirtualDevice) -> None: ...
    async def device_send(self, device: VirtualDevice, packet: zigpy_t.ZigbeePacket) -> None: ...
    async def device_poll(self, device: VirtualDevice) -> None: ...


class VirtualDevice:
    """One simulated HAN device on endpoint 1 of the Smart Energy profile."""

    role: Role
    in_clusters: tuple[int, ...] = (Basic.cluster_id, Alarms.cluster_id)
    out_clusters: tuple[int, ...] = (Time.cluster_id, Ota.cluster_id)

    def __init__(self, spec: DeviceSpec, han: Pan, nwk: int) -> None:
        self.spec = spec
        self.han = han
        self.nwk = nwk
        self.ieee = spec.eui64
        self.joined = False
        self.powered = True
        self.rng = random.Random(f"{han.settings.seed}:{spec.eui64}")
        self._tsn = self.rng.randrange(256)
        self._pending: dict[tuple[int, int], asyncio.Future[ZclFrame]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._behaviours: list[asyncio.Task[Any]] = []
        self.received: list[ZclFrame] = []  # every ZCL command the device took (tests, debugging)
        self.refused_unsecured: list[ZclFrame] = []  # SE frames dropped for lacking APS security (keyed)
        self.cbke = CbkeClient(self)  # Type 1 devices: key establishment with the hub after joining
        # components: the device's own clock (clock.py) and its alarms (alarms.py)
        self.clock = DeviceClock(self, spec.sim.clock, han.settings.start_time,
                                 drift_s_per_hour=spec.sim.drift_s_per_hour,
                                 time_sync_delay_s=spec.sim.time_sync_delay_s)
        self.alarms = DeviceAlarms(self, spec.sim.alert_rate_hz)
        identity = OtaIdentity(
            manufacturer_code=spec.sim.manufacturer_code,
            image_type=spec.image_type,
            hardware_version=spec.sim.hardware_version,
            max_data_size=spec.sim.max_data_size,
            min_block_period_ms=spec.sim.min_block_period_ms,
            page_request=spec.sim.page_request,
            page_size=spec.sim.page_size,
            query_jitter_s=spec.sim.query_jitter_s,
            processing_s=spec.sim.processing_ms / 1000,
            accept_downgrade=spec.sim.accept_downgrade,
            fault=spec.sim.ota_fault,
        )
        client_cls = OTA_CLIENTS[spec.sim.ota_profile.value]
        self.ota: ZclOtaClient
        if issubclass(client_cls, GbcsOtaClient):
            self.ota = client_cls(self, identity, spec.sim.firmware_version, spec.sim.supplier_public_key)
        else:
            self.ota = client_cls(self, identity, spec.sim.firmware_version)
        self.attributes: dict[int, dict[int, Any]] = {}
        self._init_attributes()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.id} {self.ieee} nwk=0x{self.nwk:04x}>"

    # ------------------------------------------------------------------ identity and descriptors
    @property
    def sleepy(self) -> bool:
        return self.spec.sleepy

    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        flags = zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress
        if not self.sleepy:
            flags |= (
                zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
                | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
            )
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.EndDevice if self.sleepy else zdo_t.LogicalType.Router,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=flags,
            manufacturer_code=self.spec.sim.manufacturer_code,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0,
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )

    def simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=DEVICE_ENDPOINT,
            profile=SE_PROFILE,
            device_type=SE_DEVICE_TYPES[self.spec.role],
            device_version=0,
            input_clusters=list(self.in_clusters),
            output_clusters=list(self.out_clusters),
        )

    def _init_attributes(self) -> None:
        sim = self.spec.sim
        self.attributes[Basic.cluster_id] = {
            Basic.AttributeDefs.zcl_version.id: 3,
            Basic.AttributeDefs.app_version.id: (sim.firmware_version >> 16) & 0xFF,
            Basic.AttributeDefs.stack_version.id: 2,
            Basic.AttributeDefs.hw_version.id: sim.hardware_version & 0xFF,
            Basic.AttributeDefs.manufacturer.id: sim.manufacturer,
            Basic.AttributeDefs.model.id: self.spec.model,
            Basic.AttributeDefs.date_code.id: "20260101",
            Basic.AttributeDefs.power_source.id: POWER_SOURCE[self.spec.role],
            Basic.AttributeDefs.sw_build_id.id: f"{sim.firmware_version:08x}",
        }
        self.attributes[Alarms.cluster_id] = self.alarms.attributes

    def attribute_table(self, cluster_id: int) -> dict[int, Any] | None:
        if cluster_id == Ota.cluster_id:
            return self.ota.attributes()
        if cluster_id == Basic.cluster_id:
            self.attributes[cluster_id][Basic.AttributeDefs.sw_build_id.id] = (
                f"{self.ota.current_file_version:08x}"
            )
        return self.attributes.get(cluster_id)

    # ------------------------------------------------------------------ lifecycle
    def spawn(self, coro: Coroutine[Any, Any, Any], *, behaviour: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the device owns (cancelled when it powers off)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if behaviour:
            self._behaviours.append(task)
        return task

    def owned_tasks(self) -> set[asyncio.Task[Any]]:
        """The device's running tasks (its behaviours and frame handling)."""
        return set(self._tasks)

    async def boot(self, *, announce: bool = True) -> None:
        """Power on and (re)join: the coordinator is told, then the device broadcasts Device_annce. A device
        with an install code waits until the trust centre holds its key (``VirtualHan.admits``)."""
        self.powered = True
        if not self.han.admits(self):
            return
        self.joined = True
        self.han.device_joined(self)
        if announce:
            capability = int(self.node_descriptor().mac_capability_flags)
            data = zdo_frame(
                self.next_tsn(),
                zdo_t.ZDOCmd.Device_annce,
                zigpy_t.NWK(self.nwk),
                self.ieee,
                zigpy_t.uint8_t(capability),
            )
            await self._send_zdo(zdo_t.ZDOCmd.Device_annce, data, broadcast=True)
        self.start_behaviours()

    def start_behaviours(self) -> None:
        self.cbke.start(self.spawn)
        if self.sleepy:
            self.spawn(self._poll_loop(), behaviour=True)
        if self.clock.syncs:
            self.spawn(self.clock.sync_loop(), behaviour=True)
        self.spawn(self.alarms.loop(), behaviour=True)

    def power_off(self) -> None:
        """Lose power: every task and the RAM state of the OTA client go."""
        self.powered = False
        self.joined = False
        for task in list(self._tasks):
            task.cancel()
        self._behaviours.clear()
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()
        self.ota.stop()

    async def reboot(self, off_s: float = REBOOT_S) -> None:
        """Restart: drop off the network for ``off_s`` seconds, rejoin, announce, and (as firmware does
        after a restart) ask the OTA server for an image after its query jitter."""
        self.power_off()
        self.han.device_rebooting(self)
        await asyncio.sleep(off_s)
        await self.boot()
        self.ota.start(self.rng.random() * self.spec.sim.query_jitter_s)

    async def reboot_into(self, file_version: int) -> None:
        """OTA activation: the OTA client already set CurrentFileVersion; restart and rejoin."""
        LOGGER.info("%r: activating firmware 0x%08x", self, file_version)
        self.attributes[Basic.cluster_id][Basic.AttributeDefs.app_version.id] = (file_version >> 16) & 0xFF
        self.han.spawn(self.reboot())

    def leave(self) -> None:
        """Leave the network (NWK leave): the coordinator is told, the device goes silent."""
        self.power_off()
        self.powered = True
        self.han.device_left(self)

    # ------------------------------------------------------------------ clock (clock.py)
    def utc_now(self) -> int:
        """The device's own clock as ZCL UTCTime; 0xFFFFFFFF when it has no clock."""
        return self.clock.utc_now()

    def loop_time(self) -> float:
        """Seconds the PAN has run (the clock's time base)."""
        return self.han.loop_time()

    # ------------------------------------------------------------------ OtaHost protocol
    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def random(self) -> float:
        return self.rng.random()

    async def send_to_hub(self, cluster_id: int, data: bytes, *, aps_security: bool = True) -> bool:
        """Send a frame to the hub (APS-secured on SE clusters once keyed, unless ``aps_security`` is
        False); False when the MAC and APS layers gave up on it."""
        try:
            await self.han.device_send(self, self._zcl_packet(cluster_id, data, aps_security))
        except SimDeliveryError as exc:
            LOGGER.debug("%r: frame to the hub lost: %s", self, exc)
            return False
        return True

    async def request_from_hub(self, cluster_id: int, data: bytes, tsn: int, timeout: float) -> ZclFrame:
        """Send a ZCL request and wait for the response with the same TSN (listener registered first)."""
        key = (cluster_id, tsn)
        future: asyncio.Future[ZclFrame] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self.send_to_hub(cluster_id, data)
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]

    @property
    def awaiting_response(self) -> bool:
        return bool(self._pending)

    # ------------------------------------------------------------------ frames out
    def _zcl_packet(self, cluster_id: int, data: bytes, aps_security: bool = True) -> zigpy_t.ZigbeePacket:
        # with a CBKE link key the device APS-secures its SE traffic (the PAN charges the APS header and MIC)
        secured = aps_security and self.keyed_for(cluster_id)
        return zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=self.nwk),
            src_ep=DEVICE_ENDPOINT,
            dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
            dst_ep=COORDINATOR_ENDPOINT,
            profile_id=SE_PROFILE,
            cluster_id=cluster_id,
            data=zigpy_t.SerializableBytes(data),
            tsn=data[1] if len(data) > 1 else 0,
            tx_options=zigpy_t.TransmitOptions.APS_Encryption if secured else zigpy_t.TransmitOptions.NONE,
            lqi=255,
            rssi=-40,
        )

    async def _send_zdo(self, cluster_id: int, data: bytes, *, broadcast: bool = False) -> None:
        dst = (
            zigpy_t.AddrModeAddress(
                addr_mode=zigpy_t.AddrMode.Broadcast, address=zigpy_t.BroadcastAddress.RX_ON_WHEN_IDLE
            )
            if broadcast
            else zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000)
        )
        packet = zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=self.nwk),
            src_ep=ZDO_ENDPOINT,
            dst=dst,
            dst_ep=ZDO_ENDPOINT,
            profile_id=ZDO_PROFILE,
            cluster_id=cluster_id,
            data=zigpy_t.SerializableBytes(data),
            tsn=data[0],
            lqi=255,
            rssi=-40,
        )
        try:
            await self.han.device_send(self, packet)
        except SimDeliveryError as exc:
            LOGGER.debug("%r: ZDO frame lost: %s", self, exc)

    async def report_attributes(self, cluster: type[Cluster], values: dict[int, Any]) -> None:
        """Send a Report Attributes (server to client) for ``values`` to the hub."""
        reports = [
            foundation.Attribute(attrid=attr_id, value=typed_value(cluster.attributes[attr_id].type, v))
            for attr_id, v in values.items()
        ]
        data = zcl_general(
            self.next_tsn(),
            foundation.GeneralCommand.Report_Attributes,
            server_to_client=True,
            attribute_reports=reports,
        )
        await self.send_to_hub(cluster.cluster_id, data)

    def alarm_source_cluster(self) -> int:
        return Basic.cluster_id

    async def _poll_loop(self) -> None:
        while True:
            interval = FAST_POLL_S if self.awaiting_response else self.spec.sim.poll_interval_s
            await asyncio.sleep(interval)
            await self.han.device_poll(self)

    # ------------------------------------------------------------------ frames in
    def receive(self, packet: zigpy_t.ZigbeePacket) -> None:
        """A frame reached the device's radio; processing happens in a device task."""
        if not self.powered:
            return
        self.spawn(self._process(packet))

    async def _process(self, packet: zigpy_t.ZigbeePacket) -> None:
        if self.spec.sim.processing_ms:
            await asyncio.sleep(self.spec.sim.processing_ms / 1000)
        data = packet.data.serialize()
        try:
            if packet.dst_ep == ZDO_ENDPOINT:
                await self._handle_zdo(packet.cluster_id, data, packet)
            elif packet.dst_ep == DEVICE_ENDPOINT or packet.dst_ep == 0xFF:
                await self._handle_zcl(packet.cluster_id, data, packet)
        except (ValueError, KeyError) as exc:
            # a malformed frame (e.g. a corrupt fault): a real stack drops it silently
            LOGGER.debug("%r: dropped a malformed frame on cluster 0x%04x: %s", self, packet.cluster_id, exc)

    async def _handle_zdo(self, cluster_id: int, data: bytes, packet: zigpy_t.ZigbeePacket) -> None:
        if cluster_id not in zdo_t.CLUSTERS or cluster_id & 0x8000:
            return
        tsn, args = parse_zdo(cluster_id, data)
        cmd = zdo_t.ZDOCmd(cluster_id)
        ok = zdo_t.Status.SUCCESS
        nwk = zigpy_t.NWK(self.nwk)
        match cmd:
            case zdo_t.ZDOCmd.Node_Desc_req:
                reply = (zdo_t.ZDOCmd.Node_Desc_rsp, ok, nwk, self.node_descriptor())
            case zdo_t.ZDOCmd.Active_EP_req:
                reply = (zdo_t.ZDOCmd.Active_EP_rsp, ok, nwk, [DEVICE_ENDPOINT])
            case zdo_t.ZDOCmd.Simple_Desc_req:
                if args[1] != DEVICE_ENDPOINT:
                    reply = (zdo_t.ZDOCmd.Simple_Desc_rsp, zdo_t.Status.NOT_ACTIVE, nwk, None)
                else:
                    reply = (zdo_t.ZDOCmd.Simple_Desc_rsp, ok, nwk, self.simple_descriptor())
            case zdo_t.ZDOCmd.IEEE_addr_req | zdo_t.ZDOCmd.NWK_addr_req:
                rsp = zdo_t.ZDOCmd(cluster_id | 0x8000)
                reply = (rsp, ok, self.ieee, nwk, 0, 0, [])
            case zdo_t.ZDOCmd.Bind_req | zdo_t.ZDOCmd.Unbind_req:
                reply = (zdo_t.ZDOCmd(cluster_id | 0x8000), ok)
            case zdo_t.ZDOCmd.Mgmt_Leave_req:
                await self._send_zdo(
                    zdo_t.ZDOCmd.Mgmt_Leave_rsp, zdo_frame(tsn, zdo_t.ZDOCmd.Mgmt_Leave_rsp, ok)
                )
                self.leave()
                return
            case _:
                return  # broadcasts (permit joining, NWK update) and unsupported requests
        if packet.dst.addr_mode == zigpy_t.AddrMode.Broadcast:
            return
        await self._send_zdo(reply[0], zdo_frame(tsn, *reply))

    async def _handle_zcl(self, cluster_id: int, data: bytes, packet: zigpy_t.ZigbeePacket) -> None:
        frame = parse_zcl(CLUSTERS.get(cluster_id) or _registered_cluster(cluster_id), data)
        if self.keyed_for(cluster_id) and not aps_secured(packet):
            await self._refuse_unsecured(cluster_id, frame, packet)
            return
        key = (cluster_id, frame.tsn)
        future = self._pending.get(key)
        if future is not None and not future.done() and (frame.from_server or frame.name.endswith("_rsp")):
            future.set_result(frame)
            return
        self.received.append(frame)
        if frame.is_general:
            await self._handle_general(cluster_id, frame)
            return
        if cluster_id == KE_CLUSTER_ID and self.cbke.handle(frame):
            return
        handled = await self.handle_cluster_command(cluster_id, frame)
        if not handled:
            await self._default_response(cluster_id, frame, foundation.Status.UNSUP_CLUSTER_COMMAND)

    def keyed_for(self, cluster_id: int) -> bool:
        """Whether frames on ``cluster_id`` must be APS-secured: the device holds a CBKE link key and the
        cluster is a Smart Energy one (``hal.se_clusters.aps_secured_after_cbke``)."""
        return self.cbke.link_key is not None and aps_secured_after_cbke(cluster_id)

    async def _refuse_unsecured(self, cluster_id: int, frame: ZclFrame, packet: zigpy_t.ZigbeePacket) -> None:
        """A keyed Smart Energy device takes no SE command without APS security: it drops it (pending
        requests included) and answers a Default Response FAILURE, itself unsecured, as EmberZNet's
        application framework does for SE (util.c, "Drop clus ... due to no aps security"); never to a
        Default Response or a broadcast."""
        self.refused_unsecured.append(frame)
        LOGGER.debug("%r: dropped an unsecured frame on SE cluster 0x%04x", self, cluster_id)
        if packet.dst is not None and packet.dst.addr_mode == zigpy_t.AddrMode.Broadcast:
            return
        if frame.is_general and frame.name == "Default_Response":
            return
        data = zcl_general(frame.tsn, foundation.GeneralCommand.Default_Response,
                           server_to_client=not frame.from_server, command_id=frame.command_id,
                           status=foundation.Status.FAILURE)
        await self.send_to_hub(cluster_id, data, aps_security=False)

    async def handle_cluster_command(self, cluster_id: int, frame: ZclFrame) -> bool:
        """Role hook: act on a cluster-specific command; True when it was understood."""
        if cluster_id == Ota.cluster_id:
            return self.ota.handle(frame)
        return False

    async def _default_response(self, cluster_id: int, frame: ZclFrame, status: foundation.Status) -> None:
        if frame.header.frame_control.disable_default_response and status == foundation.Status.SUCCESS:
            return
        data = zcl_general(
            frame.tsn,
            foundation.GeneralCommand.Default_Response,
            server_to_client=not frame.from_server,
            command_id=frame.header.command_id,
            status=status,
        )
        await self.send_to_hub(cluster_id, data)

    async def _handle_general(self, cluster_id: int, frame: ZclFrame) -> None:
        command = foundation.GeneralCommand[frame.name] if frame.name != "unknown" else None
        reply_direction_server = not frame.from_server
        table = self.attribute_table(cluster_id)
        cluster = CLUSTERS.get(cluster_id) or _registered_cluster(cluster_id)
        if command is foundation.GeneralCommand.Read_Attributes:
            records = []
            for attr_id in frame.payload.attribute_ids:
                if (
                    table is None
                    or attr_id not in table
                    or cluster is None
                    or attr_id not in cluster.attributes
                ):
                    records.append(
                        foundation.ReadAttributeRecord(
                            attrid=attr_id, status=foundation.Status.UNSUPPORTED_ATTRIBUTE
                        )
                    )
                    continue
                value = typed_value(cluster.attributes[attr_id].type, table[attr_id])
                records.append(
                    foundation.ReadAttributeRecord(
                        attrid=attr_id, status=foundation.Status.SUCCESS, value=value
                    )
                )
            data = zcl_general(
                frame.tsn,
                foundation.GeneralCommand.Read_Attributes_rsp,
                server_to_client=reply_direction_server,
                status_records=records,
            )
            await self.send_to_hub(cluster_id, data)
        elif command in (
            foundation.GeneralCommand.Write_Attributes,
            foundation.GeneralCommand.Write_Attributes_Undivided,
        ):
            for attribute in frame.payload.attributes:
                if table is not None:
                    table[attribute.attrid] = attribute.value.value
            data = zcl_general(
                frame.tsn,
                foundation.GeneralCommand.Write_Attributes_rsp,
                server_to_client=reply_direction_server,
                status_records=[foundation.WriteAttributesStatusRecord(status=foundation.Status.SUCCESS)],
            )
            await self.send_to_hub(cluster_id, data)
        elif command is foundation.GeneralCommand.Configure_Reporting:
            data = zcl_general(
                frame.tsn,
                foundation.GeneralCommand.Configure_Reporting_rsp,
                server_to_client=reply_direction_server,
                status_records=[
                    foundation.ConfigureReportingResponseRecord(status=foundation.Status.SUCCESS)
                ],
            )
            await self.send_to_hub(cluster_id, data)
        elif command is foundation.GeneralCommand.Default_Response or command is None:
            return
        else:
            await self._default_response(cluster_id, frame, foundation.Status.UNSUP_GENERAL_COMMAND)


def _registered_cluster(cluster_id: int) -> type[Cluster] | None:
    return Cluster._registry.get(cluster_id)


class VirtualIhd(VirtualDevice):
    """In-home display: a Smart Energy client of the meters' data (Metering, Price, Messaging)."""

    role = Role.IHD
    out_clusters = (
        Time.cluster_id,
        Ota.cluster_id,
        Metering.cluster_id,
        Price.cluster_id,
        Messaging.cluster_id,
    )


class VirtualPpmid(VirtualIhd):
    """Prepayment interface device: an IHD-like client."""

    role = Role.PPMID


class VirtualHcalcs(VirtualDevice):
    """HAN-connected auxiliary load control switch: an On/Off server and a DRLC client (``drlc.py``)."""

    role = Role.HCALCS
    in_clusters = (Basic.cluster_id, Alarms.cluster_id, OnOff.cluster_id)
    out_clusters = (Time.cluster_id, Ota.cluster_id, DRLC_CLUSTER)

    def __init__(self, spec: DeviceSpec, han: Pan, nwk: int) -> None:
        super().__init__(spec, han, nwk)
        self.drlc = DrlcEngine(self, spec.sim.load_control)  # hal/sim/drlc.py: the load event engine
        self.attributes[DRLC_CLUSTER_ID] = self.drlc.attributes
        if spec.sim.load_control is LoadControlMode.ON_OFF_ONLY:
            self.out_clusters = tuple(c for c in self.out_clusters if c != DRLC_CLUSTER_ID)

    def _init_attributes(self) -> None:
        super()._init_attributes()
        self.attributes[OnOff.cluster_id] = {OnOff.AttributeDefs.on_off.id: False}
        self.switch_log: list[tuple[float, bool]] = []

    @property
    def is_on(self) -> bool:
        return bool(self.attributes[OnOff.cluster_id][OnOff.AttributeDefs.on_off.id])

    def set_switch(self, on: bool) -> None:
        self.attributes[OnOff.cluster_id][OnOff.AttributeDefs.on_off.id] = on
        self.switch_log.append((self.han.loop_time(), on))

    async def handle_cluster_command(self, cluster_id: int, frame: ZclFrame) -> bool:
        if cluster_id == DRLC_CLUSTER_ID and DRLC_CLUSTER_ID in self.out_clusters:
            return await self.drlc.handle(frame)
        if cluster_id == OnOff.cluster_id and not frame.from_server:
            state = {"on": True, "off": False, "toggle": not self.is_on}.get(frame.name)
            if state is None:
                return False
            changed = state != self.is_on
            self.attributes[OnOff.cluster_id][OnOff.AttributeDefs.on_off.id] = state
            self.switch_log.append((self.han.loop_time(), state))
            await self._default_response(cluster_id, frame, foundation.Status.SUCCESS)
            if changed:  # our rule for the simulated switch: it reports each change of its OnOff attribute
                self.spawn(self.report_attributes(OnOff, {OnOff.AttributeDefs.on_off.id: state}))
            return True
        return await super().handle_cluster_command(cluster_id, frame)


class _Meter(VirtualDevice):
    in_clusters = (Basic.cluster_id, Alarms.cluster_id, Metering.cluster_id)
    out_clusters = (Time.cluster_id, Ota.cluster_id, DEVICE_MANAGEMENT_CLUSTER)
    unit = MeteringUnitofMeasure.Kwh_and_Kwh_binary
    divisor = 1000

    def __init__(self, spec: DeviceSpec, han: Pan, nwk: int) -> None:
        super().__init__(spec, han, nwk)
        # hal/sim/tenancy.py: Change of Tenancy, and the Get Profile history it hides
        self.tenancy = TenancyStore()
        self.profile = LoadProfile(f"{han.settings.seed}:{spec.eui64}", int(self.clock.base))

    async def handle_cluster_command(self, cluster_id: int, frame: ZclFrame) -> bool:
        if cluster_id == DEVICE_MANAGEMENT_CLUSTER and frame.name == "publish_change_of_tenancy":
            taken = self.tenancy.publish(frame.payload, self.utc_now())
            status = foundation.Status.SUCCESS if taken is not None else foundation.Status.FAILURE
            await self._default_response(cluster_id, frame, status)
            return True
        if cluster_id == Metering.cluster_id and not frame.from_server and frame.name == "get_profile":
            args, now = frame.payload, self.utc_now()
            answer = self.profile.get_profile(int(args.interval_channel), int(args.end_time),
                                              int(args.number_of_periods), now,
                                              self.tenancy.history_floor(now))
            data = zcl_cluster_command(
                Metering, frame.tsn, "get_profile_response", server_to_client=True,
                disable_default_response=True, end_time=answer.end_time, status=answer.status,
                profile_interval_period=PROFILE_INTERVAL_PERIOD,
                number_of_periods_delivered=len(answer.intervals), intervals=list(answer.intervals))
            await self.send_to_hub(cluster_id, data)
            return True
        return await super().handle_cluster_command(cluster_id, frame)

    def _init_attributes(self) -> None:
        super()._init_attributes()
        self.attributes[Metering.cluster_id] = {
            Metering.AttributeDefs.current_summ_delivered.id: 0,
            Metering.AttributeDefs.instantaneous_demand.id: 0,
            Metering.AttributeDefs.unit_of_measure.id: self.unit,
            Metering.AttributeDefs.multiplier.id: 1,
            Metering.AttributeDefs.divisor.id: self.divisor,
            Metering.AttributeDefs.status.id: Metering.AttributeDefs.status.type(0),
            Metering.AttributeDefs.metering_device_type.id: self.metering_device_type,
        }

    metering_device_type = 0  # Electric Metering

    def alarm_source_cluster(self) -> int:
        return Metering.cluster_id

    # ------------------------------------------------------------------ SECMP0024: CS06 on the meter
    gbcs: Any = None  # the meter's GBCS side (gbcs.device.GbcsMeter, from the bench), when it has one

    def _plug_cs06(self, send_message: Callable[[bytes], Awaitable[bool]], sent: Callable[[], int]) -> None:
        """CS06 activates what this meter's OTA client holds, the hash checked here on the device; the
        8F66 / 8F67 of a future-dated one goes out through ``send_message`` (the meter's tunnel), and
        ``sent`` counts the messages the tunnel has put on the air (the meter restarts only after its
        answer has gone, however long a busy channel takes)."""
        self._send_gbcs = send_message
        self._gbcs_sent = sent
        if self.gbcs is None or not hasattr(self.gbcs, "held_image"):
            return
        self.gbcs.held_image = self._held_image
        # the version a CS06 response reports is the one its OTA client runs (one firmware, one version)
        self.gbcs.firmware_version = self.ota.current_file_version.to_bytes(4, "big")
        self.gbcs.on_activated = lambda: self.spawn(self._reboot_after_answering(self._gbcs_sent()))
        self.gbcs.on_future_dated = self._activation_due_at

    def _held_image(self) -> tuple[bytes, bytes] | None:
        held = self.ota.held
        return (bytes.fromhex(held.manufacturer_image_sha256), held.file_version.to_bytes(4, "big")) \
            if held else None

    async def _reboot_after_answering(self, sent_before: int) -> None:
        # a meter sends its CS06 response (or alert) before it restarts into the new image
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ANSWER_SEND_LIMIT_S
        while self._gbcs_sent() <= sent_before and loop.time() < give_up:
            await asyncio.sleep(FAST_POLL_S)
        await asyncio.sleep(self.spec.sim.processing_ms / 1000 + REBOOT_AFTER_ANSWER_S)
        await self.ota.activate()

    def _activation_due_at(self, when: dt.datetime) -> None:
        """Wake at a future-dated CS06's time (the device's clock) and send its 8F66 / 8F67 alert."""
        async def at_time() -> None:
            while (now := self._clock_now()) < when:  # whole seconds, and a clock that may drift
                await asyncio.sleep(max((when - now).total_seconds(), 1.0))
            for message in self.gbcs.due(self._clock_now()):
                await self._send_gbcs(message)
        self.spawn(at_time())

    def _clock_now(self) -> dt.datetime:
        return dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.utc_now())


class VirtualEsme(_Meter):
    """Electricity meter (mains, router). Holds trust anchor cells as opaque DER bytes from its config."""

    role = Role.ESME
    in_clusters = (*_Meter.in_clusters, TUNNELING_CLUSTER_ID)

    def __init__(self, spec: DeviceSpec, han: Pan, nwk: int) -> None:
        super().__init__(spec, han, nwk)
        self.trust_anchors: dict[str, bytes] = dict(spec.sim.trust_anchors)
        # hal/sim/tunnel.py: GBCS over GB-HRGP; the meter's GBCS side comes from the bench (gbcs.device)
        self.gbcs = spec.sim.gbcs_meter() if spec.sim.gbcs_meter is not None else None
        self.tunnel = GbHrgpServer(self, self._default_response, self.gbcs,
                                   processing_s=spec.sim.processing_ms / 1000)
        self.attributes[TUNNELING_CLUSTER_ID] = self.tunnel.attributes
        self.alarms = GbcsAlarms(self, self.tunnel, self.gbcs, spec.sim.alert_rate_hz)
        self.attributes[Alarms.cluster_id] = self.alarms.attributes
        self._plug_cs06(self.tunnel.send_message, lambda: self.tunnel.messages_out)

    def loop_time(self) -> float:
        return self.han.loop_time()

    async def handle_cluster_command(self, cluster_id: int, frame: ZclFrame) -> bool:
        if cluster_id == TUNNELING_CLUSTER_ID:
            return await self.tunnel.handle(frame, 0x0000)  # only the coordinator talks to devices
        return await super().handle_cluster_command(cluster_id, frame)

    def trust_anchor_digest(self, name: str) -> str | None:
        cell = self.trust_anchors.get(name)
        return hashlib.sha256(cell).hexdigest() if cell is not None else None


class VirtualGsme(_Meter):
    """Gas meter: sleepy, battery-powered, with its own clock; pushes gas values to the hub (GPF).

    Every ``gas_push_interval_s`` (first push after one interval, then periodically) it sends two
    frames to the coordinator, endpoint 1 -> 1, profile 0x0109, both ZCL Report Attributes (0x0A),
    server-to-client, default response disabled:

    1. Metering (0x0702): CurrentSummationDelivered 0x0000 (uint48, in litres: divisor 1000 -> m³),
       ReadingSnapshotTime 0x0007 (UTCTime from the GSME's own clock; 0xFFFFFFFF when it has none),
       Status 0x0200 (bitmap8, 0), UnitOfMeasure 0x0300 (enum8 0x01 m³ binary), Multiplier 0x0301
       (uint24 1), Divisor 0x0302 (uint24 1000), InstantaneousDemand 0x0400 (int24, litres/hour).
    2. Time (0x000A): Time 0x0000 (UTCTime, the GSME clock, 0xFFFFFFFF when absent) and TimeStatus
       0x0001 (bitmap8; bit1 Synchronized set only while the clock is synchronised with the hub).
    """

    role = Role.GSME
    in_clusters = (Basic.cluster_id, Alarms.cluster_id, Metering.cluster_id, Time.cluster_id)
    # the GSME is the Tunneling client: it opens its own GB-HRGP tunnel to the hub (hal/sim/gsme_tunnel.py)
    out_clusters = (*_Meter.out_clusters, TUNNELING_CLUSTER_ID)
    unit = MeteringUnitofMeasure.Cubic_Meter_and_Cubic_Meter_per_Hour_binary
    metering_device_type = 1  # Gas Metering

    def __init__(self, spec: DeviceSpec, han: Pan, nwk: int) -> None:
        super().__init__(spec, han, nwk)
        # The GSME keeps its own clock, set only by the time synchronisation it performs (SECMP0015: a
        # "reliable" GCS13a is then something a test observes, never something built in). It boots
        # from its own epoch, a year behind the hub, until it reads the hub's Time server; an
        # unsynchronised one never does.
        self.clock.base -= 365 * 86400
        self.pushes = 0
        # its GBCS side (gbcs.device, from the bench) over the tunnel it opens; it checks in after each push
        self.gbcs = spec.sim.gbcs_meter() if spec.sim.gbcs_meter is not None else None
        self.gbcs_tunnel = GsmeTunnelClient(self, self.gbcs, processing_s=spec.sim.processing_ms / 1000)
        self._plug_cs06(self.gbcs_tunnel.put, lambda: self.gbcs_tunnel.messages_out)

    @property
    def awaiting_response(self) -> bool:
        return super().awaiting_response or self.gbcs_tunnel.awaiting

    async def handle_cluster_command(self, cluster_id: int, frame: ZclFrame) -> bool:
        if cluster_id == TUNNELING_CLUSTER_ID:
            return self.gbcs_tunnel.handle(frame)
        return await super().handle_cluster_command(cluster_id, frame)

    def attribute_table(self, cluster_id: int) -> dict[int, Any] | None:
        if cluster_id == Time.cluster_id:
            return {
                Time.AttributeDefs.time.id: self.utc_now(),
                Time.AttributeDefs.time_status.id: self.clock.status(),
            }
        if cluster_id == Metering.cluster_id:
            self.attributes[cluster_id][Metering.AttributeDefs.reading_snapshot_time.id] = self.utc_now()
        return super().attribute_table(cluster_id)

    def start_behaviours(self) -> None:
        super().start_behaviours()
        self.spawn(self._gas_loop(), behaviour=True)

    async def _gas_loop(self) -> None:
        while True:
            await asyncio.sleep(self.spec.sim.gas_push_interval_s)
            await self.push_gas()
            self.spawn(self.gbcs_tunnel.check_in())  # awake anyway: ask the hub what it holds (GET)

    def _advance_consumption(self) -> None:
        table = self.attributes[Metering.cluster_id]
        demand = self.rng.choice((0, 0, 0, 120, 450, 900, 1800))  # litres/hour: boiler off..full
        interval_h = self.spec.sim.gas_push_interval_s / 3600
        used = int(table[Metering.AttributeDefs.instantaneous_demand.id] * interval_h)
        table[Metering.AttributeDefs.current_summ_delivered.id] += used
        table[Metering.AttributeDefs.instantaneous_demand.id] = demand

    async def push_gas(self) -> None:
        """Send the two reports documented on the class."""
        self._advance_consumption()
        self.pushes += 1
        table = self.attribute_table(Metering.cluster_id)
        assert table is not None
        ids = Metering.AttributeDefs
        await self.report_attributes(
            Metering,
            {
                ids.current_summ_delivered.id: table[ids.current_summ_delivered.id],
                ids.reading_snapshot_time.id: table[ids.reading_snapshot_time.id],
                ids.status.id: table[ids.status.id],
                ids.unit_of_measure.id: table[ids.unit_of_measure.id],
                ids.multiplier.id: table[ids.multiplier.id],
                ids.divisor.id: table[ids.divisor.id],
                ids.instantaneous_demand.id: table[ids.instantaneous_demand.id],
            },
        )
        await self.report_attributes(
            Time,
            {
                Time.AttributeDefs.time.id: self.utc_now(),
                Time.AttributeDefs.time_status.id: self.clock.status(),
            },
        )


DEVICE_CLASSES: dict[Role, type[VirtualDevice]] = {
    Role.IHD: VirtualIhd,
    Role.PPMID: VirtualPpmid,
    Role.HCALCS: VirtualHcalcs,
    Role.ESME: VirtualEsme,
    Role.GSME: VirtualGsme,
}
