"""The EZSP NCP of the virtual stick: the command set bellows drives, answered from the simulated HAN.

Owns: EZSP frame headers (legacy v4-v7 and extended v8+), version negotiation, the runtime state an
NCP loses on reset (configuration, values, policies, endpoints, network up/down, address table)
and the state it keeps in NVM (network left or not, key table, multicast table), the command
handlers, and the callbacks (stackStatus, messageSent, incomingMessage, trustCenterJoin, energy scan).

Every command is decoded with bellows' own schema for the negotiated protocol version and every
response and callback is encoded with it, so field order, widths and status types are the ones the
unmodified host expects. Handlers return fields by name; where versions renamed a field, the handler
returns both spellings and the encoder takes what the version's schema names. Status values are
``sl_Status`` and are converted to the version's ``EzspStatus``/``EmberStatus`` on the way out.

The HAN is reached only through the coordinator port of ``hal.sim.han.VirtualHan`` (attach, form,
send, permit_join, energy_scan, network); frames cross it as ``zigpy.types.ZigbeePacket``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import bellows.types as t
import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
from bellows.ezsp import EZSP
from bellows.types.named import SL_STATUS_MAP
from bellows.zigbee.util import map_energy_to_rssi

from . import xncp
from .exceptions import StickConfigError

LOGGER = logging.getLogger(__name__)

SUPPORTED_VERSIONS = tuple(v for v in sorted(EZSP._BY_VERSION) if v >= 8)
DEFAULT_VERSION = 13
STACK_TYPE = 2  # "mesh stack" in the version response
STACK_VERSION = 0x7440  # EmberZNet 7.4.4.0, nibbles major.minor.patch.special
VERSION_INFO = (0, 7, 4, 4, 0)  # build, major, minor, patch, special (getValue VERSION_INFO)
MFG_STRING = b"hanrig"
MFG_BOARD_NAME = b"virtual-ezsp-stick"
COORDINATOR_NWK = 0x0000
DEFAULT_LQI = 255
DEFAULT_RSSI = -40
FREE_BUFFERS = 200
MANUFACTURER_CODE = 0x1049  # Silicon Labs, as in a stock NCP's node descriptor

FC_RESPONSE = 0x80  # frame control, low byte: this is a response
FC_ASYNC_CALLBACK = 0x10  # callbackType = 2 (asynchronous), bits 3-4
FC_HIGH_FORMAT_1 = 0x01  # frame control, high byte: frame format version 1 (v8+)


class HanPort(Protocol):
    """What the NCP needs from the simulated HAN: the coordinator port of ``VirtualHan``."""

    network: Any

    def attach(self, listener: Any) -> None: ...
    async def form(self, params: Any) -> None: ...
    async def send(self, packet: zigpy_t.ZigbeePacket) -> None: ...
    async def permit_join(self, seconds: int) -> None: ...
    def add_transient_key(self, ieee: zigpy_t.EUI64, key: bytes) -> None: ...
    async def energy_scan(self, channels: Iterable[int], duration_exp: int) -> dict[int, int]: ...
    async def network_scan(self, channels: Iterable[int], duration_exp: int) -> list[Any]: ...


# configuration defaults of a freshly reset EmberZNet 7.4 NCP (UG100 EzspConfigId)
CONFIG_DEFAULTS: dict[t.EzspConfigId, int] = {
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 75,
    t.EzspConfigId.CONFIG_NEIGHBOR_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_APS_UNICAST_MESSAGE_COUNT: 10,
    t.EzspConfigId.CONFIG_BINDING_TABLE_SIZE: 2,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_ROUTE_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_DISCOVERY_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_MAX_HOPS: 30,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 6,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 3000,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT: 8,
    t.EzspConfigId.CONFIG_TX_POWER_MODE: 0,
    t.EzspConfigId.CONFIG_DISABLE_RELAY: 0,
    t.EzspConfigId.CONFIG_TRUST_CENTER_ADDRESS_CACHE_SIZE: 0,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 7,
    t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE: 1,
    t.EzspConfigId.CONFIG_FRAGMENT_DELAY_MS: 0,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_APS_ACK_TIMEOUT: 1600,
    t.EzspConfigId.CONFIG_BROADCAST_TABLE_SIZE: 15,
    t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS: 0,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_PAN_ID_CONFLICT_REPORT_THRESHOLD: 1,
    t.EzspConfigId.CONFIG_TC_REJOINS_USING_WELL_KNOWN_KEY_TIMEOUT_S: 300,
}


def _network_found(beacon: zigpy_t.NetworkBeacon) -> dict[str, Any]:
    """A ``networkFoundHandler`` callback's fields for one beacon heard in an active scan."""
    return {
        "networkFound": t.EmberZigbeeNetwork(
            channel=beacon.channel, panId=beacon.pan_id, extendedPanId=beacon.extended_pan_id,
            allowingJoin=t.Bool(beacon.permit_joining), stackProfile=beacon.stack_profile,
            nwkUpdateId=beacon.nwk_update_id,
        ),
        "lastHopLqi": beacon.lqi,
        "lastHopRssi": beacon.rssi if beacon.rssi is not None else -80,
    }


def to_status_type(status: t.sl_Status, target: type) -> Any:
    """Express an ``sl_Status`` in the status type a version's schema uses (inverse of bellows' map)."""
    if target is t.sl_Status:
        return status
    for (kind, value), mapped in SL_STATUS_MAP.items():
        if kind is target and mapped == status:
            return value
    return t.EzspStatus.ERROR_INVALID_CALL if target is t.EzspStatus else t.EmberStatus.ERR_FATAL


def _zeroed(kind: type) -> Any:
    """The all-zero value of a type, as an NCP fills the unused fields of a failed response."""
    value, _ = kind.deserialize(b"\x00" * 256)
    return value


class _Network(enum.Enum):
    DOWN = "down"
    UP = "up"


@dataclasses.dataclass
class NvmState:
    """What survives an NCP reset: it lives in the stick's flash."""

    left_network: bool = False
    security_bitmask: int = 0
    key_table: dict[int, tuple[zigpy_t.EUI64, zigpy_t.KeyData]] = dataclasses.field(default_factory=dict)
    multicast: dict[int, t.EmberMulticastTableEntry] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class NcpStats:
    """Counters the tests and the CLI read."""

    commands: int = 0
    unknown_commands: int = 0
    callbacks: int = 0
    unicasts: int = 0
    broadcasts: int = 0
    delivery_failures: int = 0
    incoming: int = 0
    dropped_incoming: int = 0
    resets: int = 0
    extended_timeout_changes: int = 0  # setExtendedTimeout, or an XNCP combined send carrying the flag


class EzspNcp:
    """One EZSP NCP speaking ``version`` (v8 or later), backed by ``han``.

    ``send`` hands a finished EZSP frame to the serial layer. Feed received frames to
    :meth:`frame_received`; call :meth:`reset` when the NCP resets (host RST or a fault).
    """

    def __init__(self, han: HanPort, *, send: Callable[[bytes], None], version: int = DEFAULT_VERSION,
                 ieee: zigpy_t.EUI64 | None = None, power_up_han: bool = False, xncp: bool = True) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise StickConfigError(
                f"ezsp stick: protocol version {version} not supported"
                f" (choose from {', '.join(map(str, SUPPORTED_VERSIONS))})")
        self.han = han
        self.version = version
        self.xncp = xncp  # answer XNCP custom frames as community firmware does (hal/ezsp_stick/xncp.py)
        self._send = send
        self.ieee = zigpy_t.EUI64(ieee if ieee is not None else han.network.coordinator_ieee)
        self._commands = EZSP._BY_VERSION[version].COMMANDS
        self._by_id = {cmd_id: name for name, (cmd_id, _, _) in self._commands.items()}
        self._legacy = EZSP._BY_VERSION[4].COMMANDS
        self.nvm = NvmState()
        self.stats = NcpStats()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generation = 0
        # NWK/IEEE pairs the stack has heard of: child and neighbour tables, kept across a reset
        self._known: dict[zigpy_t.EUI64, int] = {}
        # our rule: the virtual bench powers up once the host is listening (see _host_ready)
        self._power_up_han = power_up_han
        self._han_start: asyncio.Task[None] | None = None
        self.on_power: Callable[[bool], None] | None = None  # set by the serial layer
        self._reset_runtime()
        han.attach(self)

    # ---- lifecycle

    def _reset_runtime(self) -> None:
        self._negotiated = False
        self._last_seq = 0
        self._network = _Network.DOWN
        self._config: dict[t.EzspConfigId, int] = dict(CONFIG_DEFAULTS)
        self._values: dict[t.EzspValueId, bytes] = {}
        self._policies: dict[t.EzspPolicyId, int] = {}
        self._endpoints: dict[int, dict[str, Any]] = {}
        self._initial_security: t.EmberInitialSecurityState | None = None
        self._extended_timeout: set[zigpy_t.EUI64] = set()
        self._address_table: dict[int, tuple[zigpy_t.EUI64, int]] = {}
        self._aps_seq = 0
        self._nwk_frame_counter = 0
        self._tx_power = 8

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="ezsp-ncp")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        self._tasks.clear()

    def reset(self, code: t.NcpResetCode = t.NcpResetCode.RESET_SOFTWARE) -> None:
        """The NCP restarts: runtime state and queued work are lost, NVM stays."""
        LOGGER.info("ezsp ncp: reset (%s), network %s before", code.name, self._network.value)
        self.stats.resets += 1
        self._generation += 1
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._reset_runtime()

    @property
    def network_up(self) -> bool:
        return self._network is _Network.UP

    def _host_ready(self) -> None:
        """The host sent a frame or opened the network with the network up: its callback handler is
        attached (bellows attaches it at the end of start-up), so the bench may power up and its
        devices announce to a listener instead of into the void."""
        if self._power_up_han and self.network_up and not getattr(self.han, "started", True):
            self._power_up_han = False
            LOGGER.info("ezsp ncp: host is up, powering the virtual bench")
            task = asyncio.get_running_loop().create_task(self.han.start(), name="ezsp-ncp-han-start")
            self._han_start = task  # not in _tasks: an NCP reset must not cancel the bench

    # ---- frames

    def frame_name(self, data: bytes) -> str:
        """The EZSP frame name of a command, response or callback (for byte accounting), else "DATA"."""
        if len(data) >= 5 and data[2] == FC_HIGH_FORMAT_1:
            return self._by_id.get(int.from_bytes(data[3:5], "little"), "DATA")
        if len(data) >= 3 and data[2] == 0x00:
            return "version"
        return "DATA"

    def frame_received(self, data: bytes) -> None:
        """An EZSP frame from the host; frames are handled one at a time, in order."""
        self._queue.put_nowait(bytes(data))

    async def _work(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._handle(data)
            except asyncio.CancelledError:
                raise
            except Exception:  # a handler bug must not stop the NCP: log it, answer nothing more
                LOGGER.exception("ezsp ncp: failed to handle frame %s", data.hex())

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, data: bytes) -> None:
        if len(data) < 3:
            LOGGER.warning("ezsp ncp: frame of %d bytes is too short, ignored", len(data))
            return
        seq = data[0]
        self.stats.commands += 1
        # The legacy header [seq, fc, id] is always accepted for `version` (id 0x00), as a real
        # NCP does, so that a host can negotiate from v4; everything else needs format 1.
        legacy = data[2] == 0x00 and len(data) == 4
        if legacy:
            frame_id, params = data[2], data[3:]
            name, table = "version", self._legacy
        else:
            if data[2] != FC_HIGH_FORMAT_1 or len(data) < 5:
                LOGGER.warning("ezsp ncp: frame %s has no v8+ header, answered invalidCommand", data.hex())
                self._send_invalid(seq, t.EzspStatus.ERROR_UNSUPPORTED_CONTROL, legacy=False)
                return
            frame_id = int.from_bytes(data[3:5], "little")
            params = data[5:]
            table = self._commands
            name = self._by_id.get(frame_id)
            if name is None:
                self.stats.unknown_commands += 1
                LOGGER.warning("ezsp ncp: unknown command 0x%04x (EZSPv%d), answered invalidCommand",
                               frame_id, self.version)
                self._send_invalid(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID, legacy=False)
                return
        _, tx_schema, _ = table[name]
        try:
            args, rest = t.deserialize_dict(params, tx_schema)
        except (ValueError, KeyError) as exc:
            LOGGER.warning("ezsp ncp: %s parameters %s do not decode: %s", name, params.hex(), exc)
            self._send_invalid(seq, t.EzspStatus.ERROR_TRUNCATED, legacy=legacy)
            return
        if rest:
            LOGGER.debug("ezsp ncp: %s has %d trailing bytes", name, len(rest))
        if name != "version" and not self._negotiated:
            # UG100: until the host has set the protocol version, only `version` is understood
            LOGGER.warning("ezsp ncp: %s before version negotiation, answered invalidCommand", name)
            self._send_invalid(seq, t.EzspStatus.ERROR_VERSION_NOT_SET, legacy=legacy)
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            self.stats.unknown_commands += 1
            LOGGER.warning("ezsp ncp: command %s is not implemented by the virtual stick,"
                           " answered invalidCommand", name)
            self._send_invalid(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID, legacy=legacy)
            return
        LOGGER.debug("ezsp ncp: <- %s %s", name, args)
        after: list[tuple[str, dict[str, Any]]] = []
        generation = self._generation
        result = await handler(after, **args)
        if generation != self._generation:
            return  # the NCP reset while the command ran: a real one never answers
        self._last_seq = seq
        self._send(self._encode(seq, name, result, table=table, legacy=legacy, callback=False))
        for cb_name, fields in after:
            self.callback(cb_name, fields)

    def _header(self, seq: int, frame_id: int, *, legacy: bool, callback: bool) -> bytes:
        low = FC_RESPONSE | (FC_ASYNC_CALLBACK if callback else 0)
        if legacy or self.version < 8:
            return bytes([seq, low, frame_id])
        return bytes([seq, low, FC_HIGH_FORMAT_1]) + frame_id.to_bytes(2, "little")

    def _encode(self, seq: int, name: str, fields: dict[str, Any], *, table: dict[str, Any],
                legacy: bool, callback: bool) -> bytes:
        frame_id, _, rx_schema = table[name]
        header = self._header(seq, frame_id, legacy=legacy, callback=callback)
        if not isinstance(rx_schema, dict):  # a Struct response (e.g. getTokenData)
            values = {f.name: self._field(fields, f.name, f.type) for f in rx_schema.fields
                      if f.name in fields or not f.optional}
            return header + rx_schema(**values).serialize()
        return header + b"".join(
            kind(self._field(fields, key, kind)).serialize() for key, kind in rx_schema.items())

    @staticmethod
    def _field(fields: dict[str, Any], key: str, kind: type) -> Any:
        if key not in fields:
            status = fields.get("status", t.sl_Status.OK)
            if status == t.sl_Status.OK:
                raise KeyError(f"response field {key!r} missing")
            return _zeroed(kind)
        value = fields[key]
        if isinstance(value, t.sl_Status) and kind in (t.EmberStatus, t.EzspStatus, t.sl_Status):
            return to_status_type(value, kind)
        return value

    def _send_invalid(self, seq: int, status: t.EzspStatus, *, legacy: bool) -> None:
        table = self._legacy if legacy else self._commands
        kind = table["invalidCommand"][2]["status"]
        value = status if kind is t.EzspStatus else t.sl_Status.INVALID_PARAMETER
        self._send(self._encode(seq, "invalidCommand", {"status": value}, table=table,
                                legacy=legacy, callback=False))

    def callback(self, name: str, fields: dict[str, Any]) -> None:
        """Send an asynchronous callback frame (sequence number of the last answered command)."""
        LOGGER.debug("ezsp ncp: -> callback %s", name)
        self.stats.callbacks += 1
        self._send(self._encode(self._last_seq, name, fields, table=self._commands, legacy=False,
                                callback=True))

    def _stack_status(self, after: list[tuple[str, dict[str, Any]]] | None, status: t.sl_Status) -> None:
        if after is None:
            self.callback("stackStatusHandler", {"status": status})
        else:
            after.append(("stackStatusHandler", {"status": status}))

    # ---- the coordinator listener (called by the HAN)

    def on_packet(self, packet: zigpy_t.ZigbeePacket) -> None:
        if not self.network_up:
            self.stats.dropped_incoming += 1
            LOGGER.debug("ezsp ncp: network down, dropped %r", packet)
            return
        self.stats.incoming += 1
        mode = packet.dst.addr_mode if packet.dst is not None else zigpy_t.AddrMode.NWK
        if mode == zigpy_t.AddrMode.Broadcast:
            msg_type = t.EmberIncomingMessageType.INCOMING_BROADCAST
        elif mode == zigpy_t.AddrMode.Group:
            msg_type = t.EmberIncomingMessageType.INCOMING_MULTICAST
        else:
            msg_type = t.EmberIncomingMessageType.INCOMING_UNICAST
        options = t.EmberApsOption.APS_OPTION_NONE
        if zigpy_t.TransmitOptions.APS_Encryption in (packet.tx_options or zigpy_t.TransmitOptions.NONE):
            options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
        aps = t.EmberApsFrame(
            profileId=packet.profile_id, clusterId=packet.cluster_id, sourceEndpoint=packet.src_ep or 0,
            destinationEndpoint=packet.dst_ep or 0, options=options,
            groupId=packet.dst.address if mode == zigpy_t.AddrMode.Group else 0, sequence=packet.tsn or 0)
        nwk = packet.src.address
        lqi = DEFAULT_LQI if packet.lqi is None else packet.lqi
        rssi = DEFAULT_RSSI if packet.rssi is None else packet.rssi
        eui64 = self._ieee_of(nwk) or zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")
        message = packet.data.serialize()
        self.callback("incomingMessageHandler", {
            "type": msg_type, "message_type": msg_type, "apsFrame": aps, "aps_frame": aps,
            "lastHopLqi": lqi, "lqi": lqi, "lastHopRssi": rssi, "rssi": rssi, "sender": nwk, "nwk": nwk,
            "eui64": eui64, "bindingIndex": 0xFF, "binding_index": 0xFF,
            "addressIndex": 0xFF, "address_index": 0xFF, "timestamp": 0,
            "messageContents": message, "message": message})

    def on_join(self, nwk: int, ieee: zigpy_t.EUI64, parent_nwk: int) -> None:
        self._known[zigpy_t.EUI64(ieee)] = nwk
        if not self.network_up:
            LOGGER.debug("ezsp ncp: network down, join of %s not reported", ieee)
            return
        self.callback("trustCenterJoinHandler", {
            "newNodeId": nwk, "newNodeEui64": ieee,
            "status": t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
            "policyDecision": t.EmberJoinDecision.USE_PRECONFIGURED_KEY, "parentOfNewNodeId": parent_nwk})

    def on_leave(self, nwk: int, ieee: zigpy_t.EUI64) -> None:
        self._known.pop(zigpy_t.EUI64(ieee), None)
        if not self.network_up:
            return
        self.callback("trustCenterJoinHandler", {
            "newNodeId": nwk, "newNodeEui64": ieee, "status": t.EmberDeviceUpdate.DEVICE_LEFT,
            "policyDecision": t.EmberJoinDecision.NO_ACTION, "parentOfNewNodeId": 0xFFFF})

    def on_stick_lost(self) -> None:
        """The PAN's ``unplug`` fault: the stick loses power (the serial layer goes silent)."""
        if self.on_power is not None:
            self.on_power(False)

    def on_stick_back(self) -> None:
        """Power returns: the NCP boots afresh and says so with a power-on RSTACK."""
        if self.on_power is not None:
            self.on_power(True)

    def _ieee_of(self, nwk: int) -> zigpy_t.EUI64 | None:
        return next((ieee for ieee, n in self._known.items() if n == nwk), None)

    # ---- sending into the HAN

    def _next_aps_seq(self) -> int:
        self._aps_seq = (self._aps_seq + 1) % 256
        return self._aps_seq

    def _transmit(self, packet: zigpy_t.ZigbeePacket, sent: dict[str, Any]) -> None:
        generation = self._generation

        async def deliver() -> None:
            status = t.sl_Status.OK
            try:
                await self.han.send(packet)
            except Exception as exc:  # the HAN raises SimDeliveryError; anything else is a failure too
                self.stats.delivery_failures += 1
                LOGGER.debug("ezsp ncp: delivery to %s failed: %s", packet.dst, exc)
                status = t.sl_Status.ZIGBEE_DELIVERY_FAILED
            self._nwk_frame_counter += 1
            if generation == self._generation:
                self.callback("messageSentHandler", {**sent, "status": status})

        self._spawn(deliver(), "ezsp-ncp-send")

    def _loopback(self, packet: zigpy_t.ZigbeePacket, sent: dict[str, Any]) -> None:
        """A unicast to the NCP itself never goes on air: the stack answers the ZDO requests it
        supports and, with APP_RECEIVES_SUPPORTED_ZDO_REQUESTS, passes the request up as well."""
        generation = self._generation

        async def deliver() -> None:
            await asyncio.sleep(0)
            if generation != self._generation:
                return
            self.callback("messageSentHandler", {**sent, "status": t.sl_Status.OK})
            self.on_packet(packet.replace(src=packet.dst, src_ep=packet.src_ep, dst_ep=packet.dst_ep))
            response = self._own_zdo_response(packet)
            if response is not None:
                self.on_packet(response)

        self._spawn(deliver(), "ezsp-ncp-loopback")

    def _own_zdo_response(self, packet: zigpy_t.ZigbeePacket) -> zigpy_t.ZigbeePacket | None:
        if packet.profile_id != 0x0000:
            return None
        data = packet.data.serialize()
        if not data:
            return None
        tsn, nwk, ok = data[:1], zigpy_t.NWK(COORDINATOR_NWK).serialize(), zdo_t.Status.SUCCESS.serialize()
        if packet.cluster_id == zdo_t.ZDOCmd.Node_Desc_req:
            desc = zdo_t.NodeDescriptor(
                logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0,
                user_descriptor_available=0, reserved=0, aps_flags=0,
                frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz, mac_capability_flags=0x8F,
                manufacturer_code=MANUFACTURER_CODE, maximum_buffer_size=82,
                maximum_incoming_transfer_size=128, server_mask=0x2C41, maximum_outgoing_transfer_size=128,
                descriptor_capability_field=0)
            cluster, body = zdo_t.ZDOCmd.Node_Desc_rsp, ok + nwk + desc.serialize()
        elif packet.cluster_id == zdo_t.ZDOCmd.Active_EP_req:
            eps = sorted(self._endpoints)
            cluster, body = zdo_t.ZDOCmd.Active_EP_rsp, ok + nwk + bytes([len(eps), *eps])
        elif (packet.cluster_id == zdo_t.ZDOCmd.Simple_Desc_req and len(data) >= 4
              and data[3] in self._endpoints):
            ep = self._endpoints[data[3]]
            desc = zdo_t.SizePrefixedSimpleDescriptor(endpoint=data[3], **ep)
            cluster, body = zdo_t.ZDOCmd.Simple_Desc_rsp, ok + nwk + desc.serialize()
        else:
            return None
        return packet.replace(cluster_id=cluster, data=zigpy_t.SerializableBytes(tsn + body),
                              src_ep=0, dst_ep=0)

    def _aps_to_packet(self, dst: zigpy_t.AddrModeAddress, aps: t.EmberApsFrame, message: bytes,
                       radius: int = 0) -> zigpy_t.ZigbeePacket:
        options = zigpy_t.TransmitOptions.NONE
        if t.EmberApsOption.APS_OPTION_RETRY in aps.options:
            options |= zigpy_t.TransmitOptions.ACK
        if t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options:
            options |= zigpy_t.TransmitOptions.APS_Encryption
        return zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=COORDINATOR_NWK),
            src_ep=aps.sourceEndpoint, dst=dst, dst_ep=aps.destinationEndpoint, tsn=aps.sequence,
            profile_id=aps.profileId, cluster_id=aps.clusterId, data=zigpy_t.SerializableBytes(message),
            tx_options=options, radius=radius)

    def _sent_fields(self, msg_type: t.EmberOutgoingMessageType, dest: int, aps: t.EmberApsFrame,
                     tag: int, message: bytes) -> dict[str, Any]:
        # messageSentHandler echoes the message only when the host asked for it (UG100: the default
        # decision of MESSAGE_CONTENTS_IN_CALLBACK_POLICY is MESSAGE_TAG_ONLY_IN_CALLBACK)
        policy = self._policies.get(t.EzspPolicyId.MESSAGE_CONTENTS_IN_CALLBACK_POLICY)
        if policy != t.EzspDecisionId.MESSAGE_TAG_AND_CONTENTS_IN_CALLBACK:
            message = b""
        return {"type": msg_type, "message_type": msg_type, "indexOrDestination": dest, "nwk": dest,
                "apsFrame": aps, "aps_frame": aps, "messageTag": tag, "message_tag": tag,
                "messageContents": message, "message": message}

    # ---- command handlers: each takes the post-response callback list and the decoded fields

    async def _cmd_version(self, after: list, desiredProtocolVersion: int) -> dict[str, Any]:
        # A real NCP answers with its own version; the host re-sends `version` in that format.
        self._negotiated = desiredProtocolVersion == self.version
        if desiredProtocolVersion != self.version:
            LOGGER.info("ezsp ncp: host asked for EZSPv%d, this stick speaks v%d",
                        desiredProtocolVersion, self.version)
        return {"protocolVersion": self.version, "stackType": STACK_TYPE, "stackVersion": STACK_VERSION}

    async def _cmd_nop(self, after: list) -> dict[str, Any]:
        return {}

    async def _cmd_customFrame(self, after: list, payload: bytes) -> dict[str, Any]:
        if not self.xncp:  # stock EmberZNet answers custom frames with INVALID_CALL
            return {"status": t.sl_Status.INVALID_STATE, "reply": b""}
        reply = await xncp.handle(bytes(payload), send_unicast=self._xncp_send_unicast,
                                  set_extended_timeout=self._set_extended_timeout)
        return {"status": t.sl_Status.OK, "reply": reply}

    async def _xncp_send_unicast(self, nwk: int, aps: t.EmberApsFrame, tag: int,
                                 message: bytes) -> tuple[t.sl_Status, int]:
        response = await self._cmd_sendUnicast(
            [], type=t.EmberOutgoingMessageType.OUTGOING_DIRECT, indexOrDestination=nwk, apsFrame=aps,
            messageTag=tag, messageContents=message)
        return response["status"], response["sequence"]

    async def _cmd_getConfigurationValue(self, after: list, configId: t.EzspConfigId) -> dict[str, Any]:
        if configId not in self._config:
            return {"status": t.sl_Status.INVALID_PARAMETER, "value": 0}
        return {"status": t.sl_Status.OK, "value": self._config[configId]}

    async def _cmd_setConfigurationValue(self, after: list, configId: t.EzspConfigId,
                                         value: int) -> dict[str, Any]:
        if self.network_up:  # configuration is fixed once the stack is up (UG100)
            return {"status": t.sl_Status.INVALID_PARAMETER}
        self._config[configId] = value
        return {"status": t.sl_Status.OK}

    async def _cmd_getValue(self, after: list, valueId: t.EzspValueId) -> dict[str, Any]:
        if valueId == t.EzspValueId.VALUE_VERSION_INFO:
            build, major, minor, patch, special = VERSION_INFO
            value = build.to_bytes(2, "little") + bytes([major, minor, patch, special])
        elif valueId == t.EzspValueId.VALUE_FREE_BUFFERS:
            value = bytes([FREE_BUFFERS])
        elif valueId in self._values:
            value = self._values[valueId]
        else:
            return {"status": t.sl_Status.INVALID_PARAMETER, "value": b""}
        return {"status": t.sl_Status.OK, "value": value}

    async def _cmd_setValue(self, after: list, valueId: t.EzspValueId, value: bytes) -> dict[str, Any]:
        self._values[valueId] = bytes(value)
        return {"status": t.sl_Status.OK}

    async def _cmd_setPolicy(self, after: list, policyId: t.EzspPolicyId, decisionId: int) -> dict[str, Any]:
        self._policies[policyId] = int(decisionId)
        return {"status": t.sl_Status.OK}

    async def _cmd_getPolicy(self, after: list, policyId: t.EzspPolicyId) -> dict[str, Any]:
        return {"status": t.sl_Status.OK, "decisionId": self._policies.get(policyId, 0)}

    async def _cmd_addEndpoint(self, after: list, endpoint: int, profileId: int, deviceId: int,
                               deviceVersion: int, inputClusterCount: int, outputClusterCount: int,
                               inputClusterList: list[int], outputClusterList: list[int]) -> dict[str, Any]:
        if endpoint in self._endpoints or self.network_up:
            return {"status": t.sl_Status.INVALID_PARAMETER}
        # the schema's lists are count-less, so the first one swallows both: split by the counts
        clusters = [*inputClusterList, *outputClusterList]
        if len(clusters) != inputClusterCount + outputClusterCount:
            return {"status": t.sl_Status.INVALID_PARAMETER}
        self._endpoints[endpoint] = {
            "profile": profileId, "device_type": deviceId, "device_version": deviceVersion,
            "input_clusters": clusters[:inputClusterCount], "output_clusters": clusters[inputClusterCount:]}
        return {"status": t.sl_Status.OK}

    async def _cmd_getMfgToken(self, after: list, tokenId: t.EzspMfgTokenId) -> dict[str, Any]:
        tokens = {
            t.EzspMfgTokenId.MFG_STRING: MFG_STRING.ljust(16, b"\xff"),
            t.EzspMfgTokenId.MFG_BOARD_NAME: MFG_BOARD_NAME.ljust(32, b"\xff")[:32],
            t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,  # never written: custom EUI64 burnable
        }
        return {"tokenData": tokens.get(tokenId, b"\xff" * 2)}

    async def _cmd_getTokenData(self, after: list, token: int, index: int) -> dict[str, Any]:
        return {"status": t.sl_Status.NOT_FOUND}  # no NV3 token interface on this firmware

    async def _cmd_setTokenData(self, after: list, token: int, index: int,
                                token_data: bytes) -> dict[str, Any]:
        return {"status": t.sl_Status.NOT_FOUND}

    async def _cmd_getEui64(self, after: list) -> dict[str, Any]:
        return {"eui64": self.ieee}

    async def _cmd_getNodeId(self, after: list) -> dict[str, Any]:
        return {"nodeId": COORDINATOR_NWK if self.network_up else 0xFFFE}

    async def _cmd_setManufacturerCode(self, after: list, code: int) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_setRadioPower(self, after: list, power: int) -> dict[str, Any]:
        self._tx_power = power
        return {"status": t.sl_Status.OK}

    async def _cmd_setConcentrator(self, after: list, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_setSourceRouteDiscoveryMode(self, after: list, mode: int) -> dict[str, Any]:
        return {"remainingTime": 0}

    async def _cmd_setSourceRoute(self, after: list, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_readCounters(self, after: list) -> dict[str, Any]:
        return {"values": [0] * len(t.EmberCounterType)}

    async def _cmd_readAndClearCounters(self, after: list) -> dict[str, Any]:
        return {"values": [0] * len(t.EmberCounterType)}

    # network state

    def _formed(self) -> bool:
        return bool(self.han.network.formed) and not self.nvm.left_network

    async def _cmd_networkState(self, after: list) -> dict[str, Any]:
        status = (t.EmberNetworkStatus.JOINED_NETWORK if self.network_up
                  else t.EmberNetworkStatus.NO_NETWORK)
        return {"status": status}

    async def _cmd_networkInit(self, after: list, networkInitBitmask: int = 0) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        if not self._formed():
            return {"status": t.sl_Status.NOT_JOINED}
        self._network = _Network.UP
        self._stack_status(after, t.sl_Status.NETWORK_UP)
        return {"status": t.sl_Status.OK}

    async def _cmd_getNetworkParameters(self, after: list) -> dict[str, Any]:
        net = self.han.network
        if not self._formed():
            return {"status": t.sl_Status.OK, "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
                    "parameters": _zeroed(t.EmberNetworkParameters)}
        params = t.EmberNetworkParameters(
            extendedPanId=t.ExtendedPanId(net.extended_pan_id), panId=int(net.pan_id),
            radioTxPower=self._tx_power & 0xFF, radioChannel=int(net.channel),
            joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
            nwkManagerId=COORDINATOR_NWK, nwkUpdateId=int(net.nwk_update_id),
            channels=t.Channels.from_channel_list([int(net.channel)]))
        return {"status": t.sl_Status.OK, "nodeType": t.EmberNodeType.COORDINATOR, "parameters": params}

    async def _cmd_setInitialSecurityState(self, after: list,
                                           state: t.EmberInitialSecurityState) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self._initial_security = state
        self.nvm.security_bitmask = int(state.bitmask)
        return {"status": t.sl_Status.OK}

    async def _cmd_getCurrentSecurityState(self, after: list) -> dict[str, Any]:
        bitmask = t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
        if self.nvm.security_bitmask & t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY:
            bitmask |= t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
        state = t.EmberCurrentSecurityState(bitmask=bitmask, trustCenterLongAddress=self.ieee)
        return {"status": t.sl_Status.OK, "state": state}

    async def _cmd_formNetwork(self, after: list, parameters: t.EmberNetworkParameters) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        security = self._initial_security
        if security is None:
            return {"status": t.sl_Status.INVALID_CONFIGURATION}
        new = dataclasses.replace(
            self.han.network, channel=int(parameters.radioChannel), pan_id=zigpy_t.PanId(parameters.panId),
            extended_pan_id=zigpy_t.ExtendedPanId(parameters.extendedPanId),
            network_key=zigpy_t.KeyData(security.networkKey),
            tc_link_key=zigpy_t.KeyData(security.preconfiguredKey),
            nwk_update_id=int(parameters.nwkUpdateId), coordinator_ieee=self.ieee, formed=True)
        await self.han.form(new)
        self.nvm.left_network = False
        self._network = _Network.UP
        self._stack_status(after, t.sl_Status.NETWORK_UP)
        return {"status": t.sl_Status.OK}

    async def _cmd_leaveNetwork(self, after: list, options: int = 0) -> dict[str, Any]:
        if not self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self._network = _Network.DOWN
        self.nvm.left_network = True
        self._stack_status(after, t.sl_Status.NETWORK_DOWN)
        return {"status": t.sl_Status.OK}

    async def _cmd_permitJoining(self, after: list, duration: int) -> dict[str, Any]:
        if not self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        await self.han.permit_join(duration)
        self._host_ready()
        return {"status": t.sl_Status.OK}

    async def _cmd_startScan(self, after: list, scanType: t.EzspNetworkScanType, channelMask: t.Channels,
                             duration: int) -> dict[str, Any]:
        channels = [c for c in range(11, 27) if channelMask & (1 << c)]
        if not channels:
            return {"status": t.sl_Status.INVALID_CHANNEL_MASK}
        generation = self._generation

        async def scan() -> None:
            if scanType == t.EzspNetworkScanType.ENERGY_SCAN:
                energies = await self.han.energy_scan(channels, duration)
                for channel in channels:
                    energy = min(254, max(1, int(energies.get(channel, 1))))
                    rssi = max(-128, min(127, round(map_energy_to_rssi(energy))))
                    if generation == self._generation:
                        self.callback("energyScanResultHandler", {"channel": channel, "maxRssiValue": rssi})
            elif scanType == t.EzspNetworkScanType.ACTIVE_SCAN:
                for beacon in await self.han.network_scan(channels, duration):
                    if generation == self._generation:
                        self.callback("networkFoundHandler", _network_found(beacon))
            if generation == self._generation:
                self.callback("scanCompleteHandler", {"channel": 0, "status": t.sl_Status.OK})

        self._spawn(scan(), "ezsp-ncp-scan")
        return {"status": t.sl_Status.OK}

    async def _cmd_getChildData(self, after: list, index: int) -> dict[str, Any]:
        return {"status": t.sl_Status.NOT_JOINED}

    # keys

    def _network_key(self) -> zigpy_t.KeyData:
        return zigpy_t.KeyData(self.han.network.network_key)

    def _tc_link_key(self) -> zigpy_t.KeyData:
        return zigpy_t.KeyData(self.han.network.tc_link_key)

    async def _cmd_getKey(self, after: list, keyType: t.EmberKeyType) -> dict[str, Any]:
        if not self._formed():
            return {"status": t.sl_Status.NOT_FOUND}
        if keyType == t.EmberKeyType.CURRENT_NETWORK_KEY:
            key, partner = self._network_key(), zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")
            counter = self._nwk_frame_counter
        elif keyType == t.EmberKeyType.TRUST_CENTER_LINK_KEY:
            key, partner, counter = self._tc_link_key(), self.ieee, 0
        else:
            return {"status": t.sl_Status.NOT_FOUND}
        bitmask = (t.EmberKeyStructBitmask.KEY_HAS_SEQUENCE_NUMBER
                   | t.EmberKeyStructBitmask.KEY_HAS_OUTGOING_FRAME_COUNTER)
        return {"status": t.sl_Status.OK, "keyStruct": t.EmberKeyStruct(
            bitmask=bitmask, type=keyType, key=key, outgoingFrameCounter=counter, incomingFrameCounter=0,
            sequenceNumber=0, partnerEUI64=partner)}

    async def _cmd_exportKey(self, after: list, context: t.SecurityManagerContextV13) -> dict[str, Any]:
        if context.core_key_type == t.SecurityManagerKeyType.NETWORK:
            key = self._network_key()
        elif context.core_key_type == t.SecurityManagerKeyType.TC_LINK:
            key = self._tc_link_key()
        else:
            return {"status": t.sl_Status.NOT_FOUND, "context": context}
        return {"status": t.sl_Status.OK, "key": key, "context": context}

    async def _cmd_getNetworkKeyInfo(self, after: list) -> dict[str, Any]:
        info = t.SecurityManagerNetworkKeyInfo(
            network_key_set=self._formed(), alternate_network_key_set=False, network_key_sequence_number=0,
            alt_network_key_sequence_number=0, network_key_frame_counter=self._nwk_frame_counter)
        return {"status": t.sl_Status.OK, "network_key_info": info}

    async def _cmd_clearKeyTable(self, after: list) -> dict[str, Any]:
        self.nvm.key_table.clear()
        return {"status": t.sl_Status.OK}

    async def _cmd_tokenFactoryReset(self, after: list, excludeOutgoingFC: bool,
                                     excludeBootCounter: bool) -> dict[str, Any]:
        self.nvm.key_table.clear()
        self.nvm.multicast.clear()
        return {}

    async def _cmd_findKeyTableEntry(self, after: list, address: zigpy_t.EUI64,
                                     linkKey: bool) -> dict[str, Any]:
        index = next((i for i, (ieee, _) in self.nvm.key_table.items() if ieee == address), 0xFF)
        return {"index": index}

    async def _cmd_eraseKeyTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if self.nvm.key_table.pop(index, None) is None:
            return {"status": t.sl_Status.NOT_FOUND}
        return {"status": t.sl_Status.OK}

    def _key_table_size(self) -> int:
        return self._config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]

    async def _cmd_importLinkKey(self, after: list, index: int, address: zigpy_t.EUI64,
                                 key: zigpy_t.KeyData) -> dict[str, Any]:
        if index >= self._key_table_size():
            return {"status": t.sl_Status.INVALID_INDEX}
        self.nvm.key_table[index] = (address, key)
        return {"status": t.sl_Status.OK}

    async def _cmd_addOrUpdateKeyTableEntry(self, after: list, address: zigpy_t.EUI64, linkKey: bool,
                                            keyData: zigpy_t.KeyData) -> dict[str, Any]:
        index = next((i for i, (ieee, _) in self.nvm.key_table.items() if ieee == address), None)
        if index is None:
            index = next((i for i in range(self._key_table_size()) if i not in self.nvm.key_table), None)
        if index is None:
            return {"status": t.sl_Status.FULL}
        self.nvm.key_table[index] = (address, keyData)
        return {"status": t.sl_Status.OK}

    async def _cmd_exportLinkKeyByIndex(self, after: list, index: int) -> dict[str, Any]:
        if index not in self.nvm.key_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, key = self.nvm.key_table[index]
        context = _zeroed(t.SecurityManagerContextV13).replace(
            core_key_type=t.SecurityManagerKeyType.APP_LINK, key_index=index, eui64=ieee)
        meta = t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=0, incoming_frame_counter=0,
                                               ttl_in_seconds=0)
        return {"status": t.sl_Status.OK, "eui64": ieee, "context": context, "plaintext_key": key,
                "key_data": meta}

    async def _cmd_getKeyTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if index >= self._key_table_size():
            return {"status": t.sl_Status.INVALID_INDEX}
        if index not in self.nvm.key_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, key = self.nvm.key_table[index]
        return {"status": t.sl_Status.OK, "keyStruct": t.EmberKeyStruct(
            bitmask=t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64, type=t.EmberKeyType.APPLICATION_LINK_KEY,
            key=key, outgoingFrameCounter=0, incomingFrameCounter=0, sequenceNumber=0, partnerEUI64=ieee)}

    async def _cmd_importTransientKey(self, after: list, eui64: zigpy_t.EUI64, plaintext_key: zigpy_t.KeyData,
                                      flags: int = 0) -> dict[str, Any]:
        self.han.add_transient_key(eui64, bytes(plaintext_key))
        return {"status": t.sl_Status.OK}

    async def _cmd_addTransientLinkKey(self, after: list, partner: zigpy_t.EUI64,
                                       transientKey: zigpy_t.KeyData) -> dict[str, Any]:
        self.han.add_transient_key(partner, bytes(transientKey))
        return {"status": t.sl_Status.OK}

    async def _cmd_gpSinkTableClearAll(self, after: list) -> dict[str, Any]:
        return {}

    async def _cmd_gpClearProxyTable(self, after: list) -> dict[str, Any]:
        return {}

    # addresses

    async def _cmd_lookupNodeIdByEui64(self, after: list, eui64: zigpy_t.EUI64) -> dict[str, Any]:
        nwk = self._known.get(zigpy_t.EUI64(eui64))
        if nwk is None:
            return {"status": t.sl_Status.NOT_FOUND, "nodeId": 0xFFFF}
        return {"status": t.sl_Status.OK, "nodeId": nwk}

    async def _cmd_lookupEui64ByNodeId(self, after: list, nodeId: int) -> dict[str, Any]:
        ieee = self._ieee_of(nodeId)
        if ieee is None:
            return {"status": t.sl_Status.NOT_FOUND}
        return {"status": t.sl_Status.OK, "eui64": ieee}

    async def _cmd_getExtendedTimeout(self, after: list, remoteEui64: zigpy_t.EUI64) -> dict[str, Any]:
        extended = zigpy_t.EUI64(remoteEui64) in self._extended_timeout
        return {"extendedTimeout": extended, "status": t.sl_Status.OK if extended else t.sl_Status.FAIL}

    async def _cmd_setExtendedTimeout(self, after: list, remoteEui64: zigpy_t.EUI64,
                                      extendedTimeout: bool) -> dict[str, Any]:
        self._set_extended_timeout(zigpy_t.EUI64(remoteEui64), extendedTimeout)
        return {"status": t.sl_Status.OK}

    def _set_extended_timeout(self, ieee: zigpy_t.EUI64, extended: bool) -> None:
        self.stats.extended_timeout_changes += 1
        if extended:
            self._extended_timeout.add(ieee)
        else:
            self._extended_timeout.discard(ieee)

    async def _cmd_replaceAddressTableEntry(self, after: list, addressTableIndex: int,
                                            newEui64: zigpy_t.EUI64, newId: int,
                                            newExtendedTimeout: bool) -> dict[str, Any]:
        if addressTableIndex >= self._config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_RANGE}
        old = self._address_table.get(addressTableIndex)
        self._address_table[addressTableIndex] = (zigpy_t.EUI64(newEui64), newId)
        await self._cmd_setExtendedTimeout(after, newEui64, newExtendedTimeout)
        old_ieee, old_nwk = old if old else (zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00"), 0xFFFF)
        return {"status": t.sl_Status.OK, "oldEui64": old_ieee, "oldId": old_nwk,
                "oldExtendedTimeout": old_ieee in self._extended_timeout}

    async def _cmd_getAddressTableInfo(self, after: list, index: int) -> dict[str, Any]:
        if index not in self._address_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, nwk = self._address_table[index]
        return {"status": t.sl_Status.OK, "nwk": nwk, "eui64": ieee}

    async def _cmd_getAddressTableRemoteNodeId(self, after: list, addressTableIndex: int) -> dict[str, Any]:
        entry = self._address_table.get(addressTableIndex)
        return {"nodeId": entry[1] if entry else 0xFFFF}

    async def _cmd_getAddressTableRemoteEui64(self, after: list, addressTableIndex: int) -> dict[str, Any]:
        entry = self._address_table.get(addressTableIndex)
        return {"eui64": entry[0] if entry else zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")}

    async def _cmd_setChildData(self, after: list, index: int, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_getMulticastTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if index >= self._config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        entry = self.nvm.multicast.get(index, t.EmberMulticastTableEntry(
            multicastId=0, endpoint=0, networkIndex=0))
        return {"status": t.sl_Status.OK, "value": entry}

    async def _cmd_setMulticastTableEntry(self, after: list, index: int,
                                          value: t.EmberMulticastTableEntry) -> dict[str, Any]:
        if index >= self._config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        self.nvm.multicast[index] = value
        return {"status": t.sl_Status.OK}

    async def _cmd_removeDevice(self, after: list, destShort: int, destLong: zigpy_t.EUI64,
                                targetLong: zigpy_t.EUI64) -> dict[str, Any]:
        known = zigpy_t.EUI64(targetLong) in self._known
        return {"status": t.sl_Status.OK if known else t.sl_Status.NOT_FOUND}

    # messaging

    async def _cmd_sendUnicast(self, after: list, **fields: Any) -> dict[str, Any]:
        self._host_ready()
        msg_type = fields.get("type", fields.get("message_type"))
        nwk = fields.get("indexOrDestination", fields.get("nwk"))
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        tag = fields.get("messageTag", fields.get("message_tag"))
        message = fields.get("messageContents", fields.get("message"))
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN, "sequence": 0}
        if msg_type != t.EmberOutgoingMessageType.OUTGOING_DIRECT:
            via_table = msg_type == t.EmberOutgoingMessageType.OUTGOING_VIA_ADDRESS_TABLE
            if not via_table or nwk not in self._address_table:
                return {"status": t.sl_Status.INVALID_PARAMETER, "sequence": 0}
            nwk = self._address_table[nwk][1]
        self.stats.unicasts += 1
        aps = aps.replace(sequence=self._next_aps_seq())
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=nwk)
        if nwk == COORDINATOR_NWK:
            self._loopback(self._aps_to_packet(dst, aps, message),
                           self._sent_fields(msg_type, nwk, aps, tag, message))
            return {"status": t.sl_Status.OK, "sequence": aps.sequence}
        self._transmit(self._aps_to_packet(dst, aps, message),
                       self._sent_fields(msg_type, nwk, aps, tag, message))
        return {"status": t.sl_Status.OK, "sequence": aps.sequence}

    async def _cmd_sendBroadcast(self, after: list, **fields: Any) -> dict[str, Any]:
        self._host_ready()
        destination = fields["destination"]
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        tag = fields.get("messageTag", fields.get("message_tag"))
        message = fields.get("messageContents", fields.get("message"))
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN, "sequence": 0}
        self.stats.broadcasts += 1
        aps = aps.replace(sequence=self._next_aps_seq())
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.Broadcast, address=destination)
        msg_type = t.EmberOutgoingMessageType.OUTGOING_BROADCAST
        self._transmit(self._aps_to_packet(dst, aps, message, fields.get("radius", 0)),
                       self._sent_fields(msg_type, destination, aps, tag, message))
        return {"status": t.sl_Status.OK, "sequence": aps.sequence}

    async def _cmd_sendMulticast(self, after: list, **fields: Any) -> dict[str, Any]:
        self._host_ready()
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        tag = fields.get("messageTag", fields.get("message_tag"))
        message = fields.get("messageContents", fields.get("message"))
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN, "sequence": 0}
        self.stats.broadcasts += 1
        aps = aps.replace(sequence=self._next_aps_seq())
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.Group, address=aps.groupId)
        msg_type = t.EmberOutgoingMessageType.OUTGOING_MULTICAST
        self._transmit(self._aps_to_packet(dst, aps, message, fields.get("hops", 0)),
                       self._sent_fields(msg_type, aps.groupId, aps, tag, message))
        return {"status": t.sl_Status.OK, "sequence": aps.sequence}
