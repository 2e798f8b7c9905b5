"""The virtual PAN: one shared channel, the virtual devices on it, faults, and the coordinator port.

``VirtualHan`` is independent of zigpy's ControllerApplication. Front-ends (``SimApplication``, the
``sim://`` zigpy radio, and the virtual EZSP stick) attach a :class:`CoordinatorListener` and exchange
``zigpy.types.ZigbeePacket`` frames with it. Every frame, in either direction, is timed by the
:class:`~ota.link_model.LinkModel` from its real length and sent on the PAN's one :class:`Channel`
(unslotted CSMA-CA: random backoff, CCA, collisions and MAC retries when several nodes transmit),
over the device's route of 1 to 3 hops (``[devices.sim] hops``; every relay transmits again), followed
by the receiver's APS ACK; with optional EZSP/UART host-link cost and indirect (poll-driven) delivery
to sleepy devices. A unicast longer than one frame goes in APS fragments (``hal.aps_fragmentation``):
each fragment is its own air frame, each window of ``model.fragment_window`` fragments gets the
receiver's APS ACK (with block number and bitfield, 3 octets longer than a plain ACK), missing blocks are
sent again after that ACK or the APS ACK timeout, and a block still missing after apsMaxFrameRetries
fails the send (to a sleepy device, every fragment follows the one poll that releases the frame: the
device is taken to keep polling while a transfer runs). The coordinator's APS ACK of an incoming frame
goes out while the host works on the frame (as the NCP sends it), so a reply queues behind it. Each
frame is appended to :attr:`trace` (a bounded ring with sinks, see ``hal/sim/trace.py``); with one seed
the trace is the same on every run
(all randomness comes from seeded ``random.Random``).

Faults (rig-file ``[[faults]]`` or :meth:`VirtualHan.inject`): drop/corrupt/delay frames, a device
reboots (optionally at an OTA offset), leaves, rejoins; the stick is unplugged and comes back; a device
storms alerts; a device's clock drifts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import zigpy.types as zigpy_t

from ota.link_model import (
    APS_ACK_WAIT_S,
    APS_MAX_FRAME_RETRIES,
    LinkModel,
    aps_ack_psdu_length,
    fragment_ack_psdu_length,
    fragment_block_size,
    fragment_psdu_length,
    max_aps_payload,
    psdu_length,
)

from ..aps_fragmentation import MAX_WINDOW, ack_bitfield, aps_secured, missing_blocks, split, window_blocks
from .channel import Channel, MacResult
from .config import (
    COORDINATOR_IEEE,
    DEVICE_FAULTS,
    Direction,
    FaultKind,
    FaultSpec,
    SimConfig,
    default_bench,
)
from .devices import DEVICE_CLASSES, VirtualDevice
from .exceptions import SimDeliveryError, SimStateError
from .joining import device_link_key
from .trace import FrameSink, FrameTrace
from .wire import APS_ACK, TRACE, TraceRecord

LOGGER = logging.getLogger(__name__)

INDIRECT_EXPIRY_S = 7.68  # macTransactionPersistenceTime (0x01F4 units of aBaseSuperframeDuration)
DATA_REQUEST_PSDU = 18  # MAC Data Request command frame with short/long addressing
BOOT_STAGGER_S = 0.05  # devices announce one after another, as after a bench power-up
DEFAULT_AWAY_S = 5.0  # default time away for rejoin / unplug / reboot faults
COORDINATOR = "coordinator"  # the coordinator's node key on the channel
TRAFFIC_KINDS = {0x0019: "ota", 0x0009: "alert"}  # air time is tallied apart for these clusters


class MacStatus:
    """The MAC statuses a stick reports for undelivered frames (values from zigpy's MACStatus)."""

    NO_ACK = int(zigpy_t.MACStatus.MAC_NO_ACK)
    TRANSACTION_EXPIRED = int(zigpy_t.MACStatus.MAC_TRANSACTION_EXPIRED)
    CHANNEL_ACCESS_FAILURE = int(zigpy_t.MACStatus.MAC_CHANNEL_ACCESS_FAILURE)


@dataclass
class NetworkParams:
    """The network the coordinator forms (or has formed)."""

    channel: int = 15
    pan_id: int = 0x1A62
    extended_pan_id: zigpy_t.EUI64 = field(
        default_factory=lambda: zigpy_t.EUI64.convert("00:0d:6f:ff:fe:0a:bc:00")
    )
    network_key: zigpy_t.KeyData = field(
        default_factory=lambda: zigpy_t.KeyData(bytes.fromhex("6861 6e72 6967 2d73 696d 2d6e 776b 2d6b"))
    )
    tc_link_key: zigpy_t.KeyData = field(default_factory=lambda: zigpy_t.KeyData(b"ZigBeeAlliance09"))
    nwk_update_id: int = 0
    coordinator_ieee: zigpy_t.EUI64 = COORDINATOR_IEEE
    formed: bool = True


class CoordinatorListener(Protocol):
    """What a front-end receives from the PAN. Optional extras: ``on_stick_lost()``, ``on_stick_back()``,
    and ``on_fragment(packet, index, blocks, block)``: a listener that has it (the virtual EZSP NCP, whose
    host reassembles) gets each APS fragment of a fragmented frame as it arrives instead of the whole
    frame from ``on_packet``."""

    def on_packet(self, packet: zigpy_t.ZigbeePacket) -> None: ...
    def on_join(self, nwk: int, ieee: zigpy_t.EUI64, parent_nwk: int) -> None: ...
    def on_leave(self, nwk: int, ieee: zigpy_t.EUI64) -> None: ...


@dataclass
class _BlockTransfer:
    """One fragmented transfer as the receiver holds it: the blocks so far, and the capture's number."""

    transfer: int
    blocks: int
    received: dict[int, bytes] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)  # blocks a host's acknowledgement confirmed (EZSP)


@dataclass
class _ActiveFault:
    spec: FaultSpec
    remaining: int | None
    hits: int = 0


class VirtualHan:
    """One simulated PAN: coordinator port, shared channel, devices, faults and the frame trace."""

    def __init__(
        self,
        config: SimConfig | None = None,
        network: NetworkParams | None = None,
        model: LinkModel | None = None,
    ) -> None:
        self.config = config or default_bench()
        self.settings = self.config.settings
        self.network = network or NetworkParams()
        self.model = model or LinkModel(
            enabled=self.settings.air_model,
            aps_security=self.settings.aps_security,
            host_link_baudrate=self.settings.host_link_baudrate,
        )
        self.rng = random.Random(self.settings.seed)
        # backoffs draw from their own generator, so adding contention leaves fault draws where they were
        self.channel = Channel(self.model, random.Random(f"csma:{self.settings.seed}"))
        self.trace = FrameTrace()
        self.aps_retries = 0  # unicasts the APS layer sent again after the MAC gave up
        self.stick_present = True
        self.permit_until = 0.0
        self.transient_keys: dict[zigpy_t.EUI64, bytes] = {}   # the trust centre's install-code keys
        self._awaiting_key: dict[zigpy_t.EUI64, VirtualDevice] = {}
        self._admitted: set[zigpy_t.EUI64] = set()   # joined once: they keep the network key after that
        self.started = False
        self._listeners: list[CoordinatorListener] = []
        self._host_link = asyncio.Lock()
        self._t0: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._indirect: dict[int, list[tuple[zigpy_t.ZigbeePacket, asyncio.Future[None]]]] = {}
        self._frame_faults: list[_ActiveFault] = []
        self.fragmented_transfers = 0  # APS fragmented transfers started (the capture's transfer number)
        self.fragments_lost = 0  # fragments sent again because the receiver's ACK showed them missing
        # coordinator-to-device transfers whose blocks the host hands over one at a time (EZSP)
        self._inbound_blocks: dict[tuple[int, int], _BlockTransfer] = {}
        # windows of fragments to the coordinator whose APS ACK waits for the host (EZSP's sendReply):
        # (sender NWK, APS counter, window's first block) -> the ACK bitfield the host gives
        self._host_acks: dict[tuple[int, int, int], asyncio.Future[int]] = {}
        self.devices: dict[zigpy_t.EUI64, VirtualDevice] = {}
        used: set[int] = {0x0000}
        for spec in self.config.devices:
            nwk_rng = random.Random(f"nwk:{self.settings.seed}:{spec.eui64}")
            nwk = nwk_rng.randrange(0x0001, 0xFFF8)
            while nwk in used:
                nwk = nwk_rng.randrange(0x0001, 0xFFF8)
            used.add(nwk)
            self.devices[spec.eui64] = DEVICE_CLASSES[spec.role](spec, self, nwk)
        # lookups by address and by id are per frame: dictionaries, not scans (NWK addresses are fixed)
        self._by_nwk: dict[int, VirtualDevice] = {d.nwk: d for d in self.devices.values()}
        self._by_id: dict[str, VirtualDevice] = {d.spec.id: d for d in self.devices.values()}

    # ------------------------------------------------------------------ frame sinks (captures)
    def add_frame_sink(self, sink: FrameSink, device: VirtualDevice | None = None) -> None:
        """Call ``sink(record, packet)`` for every frame put on the air (``hal.capture.AirCapture``), or
        with ``device`` for those to or from it (``hal.capture.DeviceCapture``)."""
        self.trace.subscribe(sink, device)

    def remove_frame_sink(self, sink: FrameSink) -> None:
        self.trace.unsubscribe(sink)

    # ------------------------------------------------------------------ the coordinator port
    def attach(self, listener: CoordinatorListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def detach(self, listener: CoordinatorListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def start(self) -> None:
        """Power the bench: faults are armed, devices boot one after another and announce."""
        if self.started:
            return
        if not self.network.formed:
            raise SimStateError("simulated HAN: cannot start before a network is formed")
        self.started = True
        self._t0 = asyncio.get_running_loop().time()
        for spec in self.config.faults:
            self.inject(spec)
        for device in self.devices.values():
            await device.boot()
            await asyncio.sleep(BOOT_STAGGER_S)

    async def stop(self) -> None:
        """Power everything off and cancel every PAN task."""
        tasks = set(self._tasks)
        for device in self.devices.values():
            tasks |= device.owned_tasks()
            device.power_off()
        ota_tasks = {d.ota.task for d in self.devices.values() if d.ota.task is not None}
        for task in tasks | ota_tasks:
            task.cancel()
        # wait for the cancellations to land, so no task outlives the loop it runs on
        await asyncio.gather(*(tasks | ota_tasks), return_exceptions=True)
        self._tasks.clear()
        # frames still waiting for a sleepy device's poll fail as a real radio fails them (the
        # transaction expires), so zigpy's senders end quietly instead of being cancelled mid-send
        for queue in self._indirect.values():
            for _, future in queue:
                if not future.done():
                    future.set_exception(SimDeliveryError(MacStatus.TRANSACTION_EXPIRED, "the PAN stopped"))
                    future.exception()  # a sender already cancelled will never look: don't log it as lost
        self._indirect.clear()
        for _ in range(3):  # let those senders run to their end before the loop closes
            await asyncio.sleep(0)
        self.started = False

    async def form(self, params: NetworkParams) -> None:
        """Form (or re-form) the network; joined devices follow the coordinator to the new parameters."""
        self.network = dataclasses.replace(params, formed=True)

    async def permit_join(self, seconds: int) -> None:
        self.permit_until = self.loop_time() + max(seconds, 0) if self._t0 is not None else 0.0
        await self.channel.transmit(COORDINATOR, self._psdu(3), kind="broadcast", ack=False)
        for device in list(self._awaiting_key.values()):
            if self.admits(device):
                self.spawn(device.boot())

    def add_transient_key(self, ieee: zigpy_t.EUI64, key: bytes) -> None:
        """The trust centre learns a device's install-code link key (bellows' transient link key)."""
        self.transient_keys[zigpy_t.EUI64(ieee)] = bytes(key)

    def admits(self, device: VirtualDevice) -> bool:
        """Whether a device with an install code can join now: the network is open and the trust centre
        holds the key of the code the device holds (else the Transport Key it gets is unreadable, and
        it keeps trying, as a real device does). Devices without an install code always can."""
        if device.spec.install_code is None or device.ieee in self._admitted:
            return True
        key = self.transient_keys.get(device.ieee)
        if key is None or self.loop_time() > self.permit_until:
            self._awaiting_key[device.ieee] = device
            return False
        if key != device_link_key(device.spec):
            LOGGER.info("simulated HAN: %s cannot decrypt the network key: its install code's link key "
                        "is not the one the trust centre holds", device.ieee)
            self._awaiting_key[device.ieee] = device
            return False
        self._awaiting_key.pop(device.ieee, None)
        self._admitted.add(device.ieee)
        return True

    async def energy_scan(self, channels: Iterable[int], duration_exp: int) -> dict[int, int]:
        """Energy per channel (0..255): a quiet bench with a little Wi-Fi on 11..14 and 21..24."""
        result: dict[int, int] = {}
        scan_s = (2**duration_exp + 1) * 960 * 16e-6
        for channel in channels:
            await asyncio.sleep(scan_s if self.model.enabled else 0.0)
            base = 90 if channel in (11, 12, 13, 14, 21, 22, 23, 24) else 20
            result[channel] = base + self.rng.randrange(0, 20)
        return result

    def children(self) -> list[tuple[zigpy_t.EUI64, int]]:
        """The coordinator's child table: its joined sleepy end devices (EUI-64, NWK), in EUI-64 order."""
        return sorted((d.ieee, d.nwk) for d in self.devices.values() if d.joined and d.sleepy)

    async def network_scan(self, channels: Iterable[int], duration_exp: int) -> list[zigpy_t.NetworkBeacon]:
        """An active scan: a Beacon Request on each channel, answered by every joined router of this PAN on
        it (sleepy end devices send no beacons), as the coordinator of a real PAN hears its own routers."""
        beacons: list[zigpy_t.NetworkBeacon] = []
        scan_s = (2**duration_exp + 1) * 960 * 16e-6
        permitting = self._t0 is not None and self.loop_time() < self.permit_until
        for channel in channels:
            await self.channel.transmit(COORDINATOR, self._psdu(0), kind="scan", ack=False)  # Beacon Request
            await asyncio.sleep(scan_s if self.model.enabled else 0.0)
            if channel != self.network.channel or not self.network.formed:
                continue
            for device in self.devices.values():
                if not device.joined or device.sleepy:
                    continue
                lqi = 200 + self.rng.randrange(0, 55)
                beacons.append(zigpy_t.NetworkBeacon(
                    pan_id=zigpy_t.PanId(self.network.pan_id),
                    extended_pan_id=zigpy_t.ExtendedPanId(self.network.extended_pan_id),
                    channel=channel, permit_joining=permitting, stack_profile=2,
                    nwk_update_id=self.network.nwk_update_id, lqi=lqi, src=zigpy_t.NWK(device.nwk),
                    rssi=-90 + lqi // 5, depth=1, router_capacity=True, device_capacity=True,
                    protocol_version=2,
                ))
        return beacons

    async def send(self, packet: zigpy_t.ZigbeePacket) -> None:
        """Send a frame from the coordinator; return once delivered (MAC/APS ACK), else SimDeliveryError."""
        if not self.stick_present:
            raise SimDeliveryError(MacStatus.CHANNEL_ACCESS_FAILURE, "the stick is unplugged")
        assert packet.dst is not None
        if packet.dst.addr_mode in (zigpy_t.AddrMode.Broadcast, zigpy_t.AddrMode.Group):
            await self._broadcast_from_coordinator(packet)
            return
        device = self._find(packet.dst)
        data = packet.data.serialize()
        await self._host(self.model.host_tx_us(len(data)))
        if device is None or not device.joined:
            await self.channel.transmit(COORDINATOR, self._psdu(len(data)), lost=lambda: True)
            self._record(0x0000, self._dst_nwk(packet), packet, "lost", data)
            raise SimDeliveryError(MacStatus.NO_ACK, f"no route to {packet.dst.address}")
        if device.sleepy:
            await self._send_indirect(device, packet)
            return
        await self._transmit(packet, device, to_device=True)

    # ------------------------------------------------------------------ the device side
    def loop_time(self) -> float:
        """Seconds since the PAN started, on the loop's (virtual) clock."""
        now = asyncio.get_running_loop().time()
        return now - (self._t0 if self._t0 is not None else now)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def device_joined(self, device: VirtualDevice) -> None:
        for listener in list(self._listeners):
            listener.on_join(device.nwk, device.ieee, 0x0000)

    def device_left(self, device: VirtualDevice) -> None:
        self._expire_indirect(device)
        for listener in list(self._listeners):
            listener.on_leave(device.nwk, device.ieee)

    def device_rebooting(self, device: VirtualDevice) -> None:
        self._expire_indirect(device)

    async def device_send(self, device: VirtualDevice, packet: zigpy_t.ZigbeePacket) -> None:
        """Send a frame from a device to the coordinator (or broadcast it)."""
        await self._transmit(packet, device, to_device=False)

    async def device_poll(self, device: VirtualDevice) -> None:
        """A sleepy device polls its parent: queued frames for it go out now."""
        if not device.joined:
            return
        await self.channel.transmit(device, DATA_REQUEST_PSDU, kind="poll")
        queue = self._indirect.pop(device.nwk, [])
        for packet, future in queue:
            if future.done():
                continue
            try:
                await self._transmit(packet, device, to_device=True)
            except SimDeliveryError as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

    # ------------------------------------------------------------------ faults
    def inject(self, fault: FaultSpec) -> None:
        """Arm a fault now (``after_s`` counts from this call once the PAN runs)."""
        if fault.kind in (FaultKind.DROP, FaultKind.CORRUPT, FaultKind.DELAY):
            self.spawn(self._arm_frame_fault(fault))
            return
        if fault.kind in DEVICE_FAULTS and fault.device is None:
            raise SimStateError(f"simulated HAN: a {fault.kind.value} fault needs a device")
        self.spawn(self._device_event(fault))

    async def _arm_frame_fault(self, fault: FaultSpec) -> None:
        await asyncio.sleep(fault.after_s)
        active = _ActiveFault(fault, fault.count)
        self._frame_faults.append(active)
        if fault.duration_s is not None:
            await asyncio.sleep(fault.duration_s)
            if active in self._frame_faults:
                self._frame_faults.remove(active)

    def device(self, device_id: str) -> VirtualDevice:
        device = self._by_id.get(device_id)
        if device is None:
            raise SimStateError(f"simulated HAN: no device with id {device_id!r}")
        return device

    async def _device_event(self, fault: FaultSpec) -> None:
        if fault.kind is FaultKind.UNPLUG:
            await asyncio.sleep(fault.after_s)
            self.unplug()
            await asyncio.sleep(fault.duration_s if fault.duration_s is not None else DEFAULT_AWAY_S)
            self.replug()
            return
        assert fault.device is not None
        device = self.device(fault.device)
        if fault.kind is FaultKind.REBOOT and fault.at_offset is not None:
            self._arm_reboot_at_offset(device, fault)
            return
        await asyncio.sleep(fault.after_s)
        away = fault.duration_s if fault.duration_s is not None else DEFAULT_AWAY_S
        match fault.kind:
            case FaultKind.REBOOT:
                await device.reboot(away)
            case FaultKind.LEAVE:
                device.leave()
            case FaultKind.REJOIN:
                device.leave()
                await asyncio.sleep(away)
                await device.boot()
            case FaultKind.ALERT_STORM:
                before = device.alarms.rate_hz
                device.alarms.rate_hz = fault.rate_hz
                if fault.duration_s is not None:
                    await asyncio.sleep(fault.duration_s)
                    device.alarms.rate_hz = before
            case FaultKind.CLOCK_DRIFT:
                # re-anchor so the drift applies from now on, not retroactively
                device.clock.set(device.utc_now())
                device.clock.drift_s_per_hour = fault.drift_s_per_hour

    def _arm_reboot_at_offset(self, device: VirtualDevice, fault: FaultSpec) -> None:
        assert fault.at_offset is not None
        at_offset = fault.at_offset
        away = fault.duration_s if fault.duration_s is not None else DEFAULT_AWAY_S

        def on_stored(offset: int) -> None:
            if offset >= at_offset:
                device.ota.on_stored = None
                LOGGER.info("fault: %r reboots at OTA offset %d", device, offset)
                self.spawn(device.reboot(away))

        device.ota.on_stored = on_stored

    def unplug(self) -> None:
        """The stick disappears (USB unplugged): front-ends see their connection drop."""
        if not self.stick_present:
            return
        self.stick_present = False
        for listener in list(self._listeners):
            callback = getattr(listener, "on_stick_lost", None)
            if callback is not None:
                callback()

    def replug(self) -> None:
        """The stick is back."""
        if self.stick_present:
            return
        self.stick_present = True
        for listener in list(self._listeners):
            callback = getattr(listener, "on_stick_back", None)
            if callback is not None:
                callback()

    def _frame_fault(
        self, device: VirtualDevice, packet: zigpy_t.ZigbeePacket, to_device: bool
    ) -> FaultSpec | None:
        direction = Direction.TO_DEVICE if to_device else Direction.FROM_DEVICE
        for active in self._frame_faults:
            spec = active.spec
            if spec.direction not in (Direction.BOTH, direction):
                continue
            if spec.device is not None and spec.device != device.spec.id:
                continue
            if spec.cluster is not None and spec.cluster != packet.cluster_id:
                continue
            if spec.probability < 1.0 and self.rng.random() >= spec.probability:
                continue
            active.hits += 1
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining <= 0:
                    self._frame_faults.remove(active)
            return spec
        return None

    # ------------------------------------------------------------------ the channel
    def _psdu(self, aps_payload: int, relays: int = 0, *, secured: bool = False) -> int:
        return psdu_length(aps_payload, aps_security=self.model.aps_security or secured, relays=relays)

    async def _host(self, microseconds: float) -> None:
        if microseconds <= 0:
            return
        async with self._host_link:
            await asyncio.sleep(microseconds / 1e6)

    @staticmethod
    def _route(device: VirtualDevice, *, to_device: bool) -> list[object]:
        """The transmitting node of each hop between the coordinator and ``device``."""
        hops = device.spec.sim.hops
        if hops <= 1:  # one hop (most devices, every frame): no relays to list
            return [COORDINATOR] if to_device else [device]
        relays: list[object] = [(device.nwk, "relay", n) for n in range(1, hops)]
        return [COORDINATOR, *relays] if to_device else [device, *reversed(relays)]

    async def _hops(self, senders: list[object], psdu: int, *, kind: str,
                    lost: Any = None) -> str:
        for sender in senders:
            result = await self.channel.transmit(sender, psdu, kind=kind, lost=lost)
            if result != MacResult.SUCCESS:
                return result
        return MacResult.SUCCESS

    async def _aps_ack(self, device: VirtualDevice, *, to_device: bool, kind: str) -> bool:
        """The APS ACK of a unicast, back along the route (sent by the receiver of the data frame); True
        when it went on the air (the caller hands it to the captures: :meth:`_ack_to_sinks`)."""
        if not self.model.aps_ack or not self.model.enabled:
            return False
        relays = device.spec.sim.hops - 1 if not to_device else 0  # the coordinator's ACK is source-routed
        psdu = aps_ack_psdu_length(aps_security=self.model.aps_security, relays=relays)
        return await self._hops(self._route(device, to_device=not to_device), psdu, kind=kind) == \
            MacResult.SUCCESS

    def _ack_to_sinks(self, src: int, dst: int, packet: zigpy_t.ZigbeePacket, *, first: int = -1,
                      bitfield: int = -1) -> None:
        """The APS ACK of ``packet`` (sent from ``src`` to ``dst``) to the frame sinks (captures), not to
        the trace: the acknowledging node ``dst`` to ``src``; ``first``/``bitfield`` for a window of
        fragments. Only an air capture takes them (:meth:`FrameTrace.announce`)."""
        if self.trace.has_air_sinks:
            self.trace.announce(TraceRecord(
                time=round(self.loop_time(), 6), src=dst, dst=src, profile=int(packet.profile_id),
                cluster=int(packet.cluster_id), length=0, data=b"", outcome=APS_ACK, block=first,
                ack_bitfield=bitfield), packet)

    async def _transmit(
        self, packet: zigpy_t.ZigbeePacket, device: VirtualDevice, *, to_device: bool
    ) -> None:
        src = 0x0000 if to_device else device.nwk
        dst = self._dst_nwk(packet)
        broadcast = packet.dst is not None and packet.dst.addr_mode == zigpy_t.AddrMode.Broadcast
        data = packet.data.serialize()
        length = len(data)
        kind = TRAFFIC_KINDS.get(int(packet.cluster_id), "other")
        # a frame the sender APS-secures (e.g. to a device with a CBKE link key) pays the APS auxiliary
        # header and MIC even when the PAN's default is not to
        secured = aps_secured(packet)
        relays = device.spec.sim.hops - 1 if to_device else 0  # downlink frames carry the source route
        if not broadcast and length > max_aps_payload(aps_security=self.model.aps_security or secured,
                                                      relays=relays):
            # frame faults apply to each fragment on the air (a dropped fragment is sent again)
            await self._transmit_fragmented(packet, device, data, to_device=to_device, secured=secured,
                                            kind=kind)
            return
        fault = self._frame_fault(device, packet, to_device)
        outcome = "delivered"
        acked = False  # the device's APS ACK went on the air
        if fault is not None and fault.kind is FaultKind.DELAY:
            outcome = "delayed"
            await asyncio.sleep(fault.delay_s)
        if broadcast:
            await self.channel.transmit(device, self._psdu(length, secured=secured), kind=kind, ack=False)
        else:
            dropped = fault is not None and fault.kind is FaultKind.DROP
            loss = self.settings.frame_loss

            def lost() -> bool:
                return dropped or (loss > 0 and self.rng.random() < loss)

            route = self._route(device, to_device=to_device)
            psdu = self._psdu(length, relays, secured=secured)
            result = await self._hops(route, psdu, kind=kind, lost=lost)
            # an acknowledged unicast the MAC gave up on (busy channel, no MAC ACK) is sent again by the
            # APS layer (apsMaxFrameRetries), from the start of the route
            for _retry in range(APS_MAX_FRAME_RETRIES if self.model.aps_ack and self.model.enabled else 0):
                if result == MacResult.SUCCESS:
                    break
                self.aps_retries += 1
                result = await self._hops(route, psdu, kind=kind, lost=lost)
            if result != MacResult.SUCCESS:
                self._record(src, dst, packet, "lost", data)
                if result == MacResult.CHANNEL_ACCESS_FAILURE:
                    raise SimDeliveryError(MacStatus.CHANNEL_ACCESS_FAILURE, "the channel stayed busy")
                raise SimDeliveryError(MacStatus.NO_ACK, f"no MAC ACK from 0x{dst:04x} after every retry")
            if to_device:
                acked = await self._aps_ack(device, to_device=True, kind=kind)
        if fault is not None and fault.kind is FaultKind.CORRUPT:
            # flip the last octet: it is payload, not header, so the frame still parses but carries a
            # wrong value (what a MIC would catch on a real PAN; here it tests the layers above)
            mutated = bytearray(data)
            if mutated:
                mutated[-1] ^= 0xFF
            data = bytes(mutated)
            packet = packet.replace(data=zigpy_t.SerializableBytes(data))
            outcome = "corrupted"
        if to_device:
            if not device.joined:
                self._record(src, dst, packet, "lost", data)
                raise SimDeliveryError(MacStatus.NO_ACK, f"{device.spec.id} is not on the network")
            self._record(src, dst, packet, outcome, data)
            if acked:  # on the air before this frame's record (made when the send completes): after it here
                self._ack_to_sinks(src, dst, packet)
            device.receive(packet)
            return
        if not self.stick_present:
            self._record(src, dst, packet, "lost", data)
            raise SimDeliveryError(MacStatus.NO_ACK, "the coordinator's stick is unplugged")
        self._record(src, dst, packet, outcome, data)
        # the NCP passes the frame up while its APS ACK goes out; the device's send completes (its
        # APSDE-DATA.confirm) with that ACK, so it cannot contend with the ACK of its own last frame
        self.spawn(self._to_host(packet, length))
        if not broadcast and await self._aps_ack(device, to_device=False, kind=kind):
            self._ack_to_sinks(src, dst, packet)

    async def _to_host(self, packet: zigpy_t.ZigbeePacket, length: int, *, whole: bool = False) -> None:
        """Hand a received frame to the front-ends; ``whole``: a reassembled fragmented frame, which only
        front-ends without ``on_fragment`` take (the others had its blocks one by one)."""
        await self._host(self.model.host_rx_us(length))
        for listener in list(self._listeners):
            if not (whole and hasattr(listener, "on_fragment")):
                listener.on_packet(packet)

    async def _fragment_to_host(self, packet: zigpy_t.ZigbeePacket, index: int, blocks: int,
                                block: bytes) -> None:
        listeners = [listener for listener in self._listeners if hasattr(listener, "on_fragment")]
        if not listeners:
            return
        await self._host(self.model.host_rx_us(len(block)))
        for listener in listeners:
            listener.on_fragment(packet, index, blocks, block)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ APS fragmentation
    async def _transmit_fragmented(self, packet: zigpy_t.ZigbeePacket, device: VirtualDevice, data: bytes,
                                   *, to_device: bool, secured: bool, kind: str) -> None:
        """A unicast longer than one frame, in APS fragments (``hal.aps_fragmentation``): windows of
        ``model.fragment_window`` blocks, each answered by the receiver's APS ACK, missing blocks sent
        again up to apsMaxFrameRetries times; then the receiver has the whole frame."""
        relays = device.spec.sim.hops - 1 if to_device else 0
        size = fragment_block_size(aps_security=self.model.aps_security or secured, relays=relays)
        blocks = split(data, size)
        self.fragmented_transfers += 1
        transfer = _BlockTransfer(self.fragmented_transfers, len(blocks))
        window = max(self.model.fragment_window, 1)
        for first in range(0, len(blocks), window):
            wanted = list(window_blocks(first, window, len(blocks)))
            await self._send_window(packet, device, blocks, wanted, transfer, to_device=to_device,
                                    secured=secured, kind=kind)
        await self._deliver_blocks(packet, device, transfer, to_device=to_device)

    async def send_fragment(self, packet: zigpy_t.ZigbeePacket, index: int, blocks: int) -> None:
        """One APS fragment from the coordinator whose host fragments (EZSP: ``sendUnicast`` with
        ``APS_OPTION_FRAGMENT``): ``packet.data`` is block ``index`` of ``blocks``; sent as a window of
        one (EmberZNet's default window) and answered by the device's APS ACK. The device takes the
        whole frame once every block has arrived. SimDeliveryError when the block is not acknowledged."""
        if not self.stick_present:
            raise SimDeliveryError(MacStatus.CHANNEL_ACCESS_FAILURE, "the stick is unplugged")
        assert packet.dst is not None
        device = self._find(packet.dst)
        block = packet.data.serialize()
        await self._host(self.model.host_tx_us(len(block)))
        if device is None or not device.joined:
            raise SimDeliveryError(MacStatus.NO_ACK, f"no route to {packet.dst.address}")
        key = (device.nwk, int(packet.tsn or 0))
        transfer = self._inbound_blocks.get(key)
        if index == 0 or transfer is None or transfer.blocks != blocks:
            self.fragmented_transfers += 1
            transfer = self._inbound_blocks[key] = _BlockTransfer(self.fragmented_transfers, blocks)
        secured = aps_secured(packet)
        kind = TRAFFIC_KINDS.get(int(packet.cluster_id), "other")
        parts = {index: block}
        try:
            await self._send_window(packet, device, parts, [index], transfer, to_device=True, secured=secured,
                                    kind=kind)
        except SimDeliveryError:
            self._inbound_blocks.pop(key, None)
            raise
        if len(transfer.received) == blocks:
            del self._inbound_blocks[key]
            await self._deliver_blocks(packet, device, transfer, to_device=True)

    def fragment_acknowledged(self, sender: int, aps_sequence: int, first: int, bitfield: int) -> bool:
        """The coordinator's host acknowledged a window of fragments from ``sender`` (EZSP ``sendReply``
        with fragment data): its APS ACK goes on the air with this block number and bitfield. False
        when no window waits for it (a late or repeated acknowledgement)."""
        waiter = self._host_acks.get((sender, aps_sequence & 0xFF, first))
        if waiter is None or waiter.done():
            return False
        waiter.set_result(bitfield)
        return True

    async def _send_window(self, packet: zigpy_t.ZigbeePacket, device: VirtualDevice,
                           blocks: Any, wanted: list[int], transfer: _BlockTransfer,
                           *, to_device: bool, secured: bool, kind: str) -> None:
        """Send the ``wanted`` blocks of one window until the receiver's ACK shows them all received.

        To a coordinator whose host reassembles (a listener with ``on_fragment``: the EZSP NCP), the ACK
        is the host's: the NCP hands each block up, and the ACK goes on the air when the host answers
        (``fragment_acknowledged``), carrying the host's bitfield; blocks it leaves out are sent again."""
        src = 0x0000 if to_device else device.nwk
        dst = self._dst_nwk(packet)
        relays = device.spec.sim.hops - 1 if to_device else 0
        route = self._route(device, to_device=to_device)
        loss = self.settings.frame_loss
        host_acks = not to_device and any(hasattr(listener, "on_fragment") for listener in self._listeners)
        confirmed = transfer.acked if host_acks else transfer.received
        for attempt in range(APS_MAX_FRAME_RETRIES + 1 if self.model.enabled else 1):
            if attempt:
                self.aps_retries += 1
            key = (device.nwk, int(packet.tsn or 0) & 0xFF, wanted[0])
            if host_acks:
                self._host_acks[key] = asyncio.get_running_loop().create_future()
            for index in wanted:
                if index in confirmed:
                    continue
                if attempt:
                    self.fragments_lost += 1
                block = blocks[index]
                fault = self._frame_fault(device, packet, to_device)
                if fault is not None and fault.kind is FaultKind.DELAY:
                    await asyncio.sleep(fault.delay_s)
                dropped = fault is not None and fault.kind is FaultKind.DROP

                def lost(dropped: bool = dropped) -> bool:
                    return dropped or (loss > 0 and self.rng.random() < loss)

                psdu = fragment_psdu_length(len(block), aps_security=self.model.aps_security or secured,
                                            relays=relays)
                result = await self._hops(route, psdu, kind=kind, lost=lost)
                arrived = result == MacResult.SUCCESS and (device.joined if to_device else self.stick_present)
                if arrived and fault is not None and fault.kind is FaultKind.CORRUPT and block:
                    block = block[:-1] + bytes([block[-1] ^ 0xFF])  # as _transmit: a wrong value
                self._record(src, dst, packet, "delivered" if arrived else "lost", block, block=index,
                             blocks=transfer.blocks, transfer=transfer.transfer)
                if arrived:
                    transfer.received[index] = block
                    if not to_device:
                        self.spawn(self._fragment_to_host(packet, index, transfer.blocks, block))
            if host_acks:
                if await self._host_ack(packet, key, wanted, transfer, device, kind):
                    return
                continue
            # the receiver acknowledges once it holds the window's last block or the whole window
            # (EmberZNet fragmentation.c); otherwise the sender's APS ACK wait runs out
            if wanted[-1] in transfer.received or all(i in transfer.received for i in wanted):
                # the ACK's bitfield tells the sender what to send again
                bitfield = ack_bitfield(wanted[0], len(wanted), transfer.blocks, transfer.received.keys())
                await self._fragment_ack(packet, device, src, dst, wanted[0], bitfield, to_device=to_device,
                                         kind=kind)
                if not missing_blocks(wanted[0], bitfield, len(wanted), transfer.blocks):
                    return
            elif self.model.enabled:
                await asyncio.sleep(APS_ACK_WAIT_S)
        missing = [i for i in wanted if i not in confirmed]
        if not (device.joined if to_device else self.stick_present):
            raise SimDeliveryError(MacStatus.NO_ACK, f"0x{dst:04x} left during a fragmented transfer")
        raise SimDeliveryError(MacStatus.NO_ACK, f"APS fragment {missing[0]} of {transfer.blocks} to "
                                                 f"0x{dst:04x} not acknowledged after "
                                                 f"{APS_MAX_FRAME_RETRIES} retries")

    async def _host_ack(self, packet: zigpy_t.ZigbeePacket, key: tuple[int, int, int], wanted: list[int],
                        transfer: _BlockTransfer, device: VirtualDevice, kind: str) -> bool:
        """Wait (up to the device's APS ACK timeout) for the host's acknowledgement of the window that
        starts at ``key[2]``, put its ACK on the air, and note the blocks it confirms; True when the
        whole window is confirmed."""
        waiter = self._host_acks[key]
        try:
            async with asyncio.timeout(APS_ACK_WAIT_S):
                bitfield = await waiter
        except TimeoutError:
            return False
        finally:
            self._host_acks.pop(key, None)
        await self._fragment_ack(packet, device, device.nwk, 0x0000, key[2], bitfield, to_device=False,
                                 kind=kind)
        transfer.acked.update(i for i in window_blocks(key[2], MAX_WINDOW, transfer.blocks)
                              if bitfield & (1 << (i - key[2])) and i in transfer.received)
        return all(i in transfer.acked for i in wanted)

    async def _fragment_ack(self, packet: zigpy_t.ZigbeePacket, device: VirtualDevice, src: int, dst: int,
                            first: int, bitfield: int, *, to_device: bool, kind: str) -> None:
        """The receiver's APS ACK of a window of fragments (block number ``first`` and ACK ``bitfield``)
        of ``packet`` sent from ``src`` to ``dst``, back along the route."""
        if not self.model.enabled:
            return
        relays = device.spec.sim.hops - 1 if not to_device else 0
        psdu = fragment_ack_psdu_length(aps_security=self.model.aps_security, relays=relays)
        route = self._route(device, to_device=not to_device)
        if await self._hops(route, psdu, kind=kind) == MacResult.SUCCESS:
            self._ack_to_sinks(src, dst, packet, first=first, bitfield=bitfield)

    async def _deliver_blocks(self, packet: zigpy_t.ZigbeePacket, device: VirtualDevice,
                              transfer: _BlockTransfer, *, to_device: bool) -> None:
        """Every block arrived: the receiver has the whole frame (its own blocks, as they arrived)."""
        data = b"".join(transfer.received[i] for i in range(transfer.blocks))
        whole = packet.replace(data=zigpy_t.SerializableBytes(data))
        if to_device:
            device.receive(whole)
            return
        self.spawn(self._to_host(whole, len(data), whole=True))

    async def _broadcast_from_coordinator(self, packet: zigpy_t.ZigbeePacket) -> None:
        data = packet.data.serialize()
        await self._host(self.model.host_tx_us(len(data)))
        await self.channel.transmit(COORDINATOR, self._psdu(len(data)), kind="broadcast", ack=False)
        self._record(0x0000, self._dst_nwk(packet), packet, "delivered", data)
        for device in self.devices.values():
            if device.joined and not device.sleepy:
                device.receive(packet)

    async def _send_indirect(self, device: VirtualDevice, packet: zigpy_t.ZigbeePacket) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._indirect.setdefault(device.nwk, []).append((packet, future))
        try:
            async with asyncio.timeout(INDIRECT_EXPIRY_S):
                await asyncio.shield(future)
        except TimeoutError:
            queue = self._indirect.get(device.nwk, [])
            self._indirect[device.nwk] = [(p, f) for p, f in queue if f is not future]
            if future.done() and not future.cancelled() and future.exception() is None:
                return
            self._record(0x0000, device.nwk, packet, "queued-expired")
            raise SimDeliveryError(
                MacStatus.TRANSACTION_EXPIRED, f"{device.spec.id} did not poll within {INDIRECT_EXPIRY_S} s"
            ) from None

    def _expire_indirect(self, device: VirtualDevice) -> None:
        for _, future in self._indirect.pop(device.nwk, []):
            if not future.done():
                future.set_exception(
                    SimDeliveryError(MacStatus.TRANSACTION_EXPIRED, f"{device.spec.id} left before polling")
                )

    def _find(self, address: zigpy_t.AddrModeAddress) -> VirtualDevice | None:
        if address.addr_mode == zigpy_t.AddrMode.IEEE:
            return self.devices.get(address.address)
        if address.addr_mode == zigpy_t.AddrMode.NWK:
            device = self._by_nwk.get(address.address)
            return device if device is not None and device.joined else None
        return None

    @staticmethod
    def _dst_nwk(packet: zigpy_t.ZigbeePacket) -> int:
        if packet.dst is None:
            return 0x0000
        if packet.dst.addr_mode == zigpy_t.AddrMode.IEEE:
            return 0xFFFE
        return int(packet.dst.address)

    def _record(self, src: int, dst: int, packet: zigpy_t.ZigbeePacket, outcome: str,
                data: bytes | None = None, *, block: int = -1, blocks: int = 0, transfer: int = 0) -> None:
        if data is None:
            data = packet.data.serialize()
        record = TraceRecord(
            time=round(self.loop_time(), 6),
            src=src,
            dst=dst,
            profile=int(packet.profile_id),
            cluster=int(packet.cluster_id),
            length=len(data),
            data=data,
            outcome=outcome,
            block=block,
            blocks=blocks,
            transfer=transfer,
        )
        if LOGGER.isEnabledFor(TRACE):
            LOGGER.log(TRACE, "frame %s", record)
        self.trace.append(record, packet)
