"""The OTA Upgrade server (ZCL 11, cluster 0x0019) on a zigpy ControllerApplication, over any radio.

``OtaServer(app, pass_on=...)`` takes every OTA request a device sends to the coordinator before zigpy
sees it: whoever installs it offers it each received frame through :meth:`OtaServer.handle_packet` (the
gateway registers it with ``hal.zigpy_fixes.claim_packets``, the one documented hook for that), which
returns True for the frames it takes; ``pass_on`` hands a frame it took back to zigpy after all (e.g.
Query Specific File). So zigpy's built-in responder, which answers NO_IMAGE_AVAILABLE / ABORT outside
its own ``update_firmware``, never interferes. While zigpy's own ``Device.update_firmware`` runs for a
device (``device.ota_in_progress``) its frames go to zigpy.

It answers Query Next Image, Image Block Request, Image Page Request and Upgrade End Request from the
image offered to each device (:meth:`OtaServer.offer`), and sends Image Notify and the unsolicited
Upgrade End Response that activates a held image. The rules it keeps:

* block size: what the device asks for, capped only by what fits one frame for that device's route and
  APS security (the shared link model, ``ota.link_model.max_ota_block``: 65 / 56 / 61 octets);
* no fixed delays; MinimumBlockPeriod honoured by holding the response until the period has passed, and
  WAIT_FOR_DATA only when the wait is longer than a response can sensibly be held;
* page requests streamed at the requested response spacing;
* no request is dropped: per device, requests queue behind the response in flight; per radio, at most
  ``max_in_flight`` responses are outstanding and devices take turns (FIFO), so a sleepy device waiting
  for its poll does not hold up the others;
* any offset is served (a device that rebooted, or a host that restarted, resumes where the device is);
  a block request for which nothing is offered yet is left unanswered rather than ABORTed, so a device
  keeps its partial download while a restarted host re-offers the image.

The Image Block Request path is the hot path: the image is held once (``Image.data`` is a memoryview of
the file), a block is a slice of it, and the request and the response's fixed part go through codecs
compiled from zigpy Struct declarations instead of building zigpy Structs per block.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Iterator
from typing import Any

import zigpy.exceptions
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import (
    ImageBlockCommand,
    ImageNotifyCommand,
    ImagePageCommand,
    Ota,
    QueryNextImageCommand,
)

from .format import FixedCodec, Image
from .link_model import max_ota_block
from .outcomes import Reason

LOGGER = logging.getLogger(__name__)

OTA_CLUSTER = Ota.cluster_id
DEVICE_ANNCE = zdo_t.ZDOCmd.Device_annce
COORDINATOR_ENDPOINT = 1
UPGRADE_NOW = 0
UPGRADE_WAIT = 0xFFFFFFFF  # ZCL 11.13.9.6: wait for a later Upgrade End Response
HOLD_LIMIT_S = 1.0  # pacing waits up to this long hold the response; longer ones get WAIT_FOR_DATA
DEFAULT_MAX_IN_FLIGHT = 8  # zigpy's default max_concurrent_requests
# what a radio raises when a frame is not delivered (the device will ask again)
SEND_ERRORS = (zigpy.exceptions.ZigbeeException, TimeoutError, ConnectionError)
NOTIFY_JITTER = 100  # Image Notify query jitter: every client that hears it queries


class Status(enum.IntEnum):
    """The ZCL statuses the OTA server sends or reads (ZCL 2.6.3 / 11.13)."""

    SUCCESS = foundation.Status.SUCCESS
    MALFORMED_COMMAND = foundation.Status.MALFORMED_COMMAND
    ABORT = foundation.Status.ABORT
    INVALID_IMAGE = foundation.Status.INVALID_IMAGE
    WAIT_FOR_DATA = foundation.Status.WAIT_FOR_DATA
    NO_IMAGE_AVAILABLE = foundation.Status.NO_IMAGE_AVAILABLE
    REQUIRE_MORE_IMAGE = foundation.Status.REQUIRE_MORE_IMAGE


class FrameControl(enum.IntFlag):
    """ZCL frame control bits (ZCL 2.4.1.1)."""

    CLUSTER_SPECIFIC = 0x01
    MANUFACTURER_SPECIFIC = 0x04
    SERVER_TO_CLIENT = 0x08
    DISABLE_DEFAULT_RESPONSE = 0x10


# ---------------------------------------------------------------------------------- hot-path codecs
class BlockRequestFrame(t.Struct):
    """A plain Image Block Request with its ZCL header (ZCL 11.13.6; no optional fields)."""

    frame_control: t.uint8_t
    tsn: t.uint8_t
    command_id: t.uint8_t
    field_control: t.uint8_t
    manufacturer_code: t.uint16_t
    image_type: t.uint16_t
    file_version: t.uint32_t
    file_offset: t.uint32_t
    maximum_data_size: t.uint8_t


class BlockResponseFrame(t.Struct):
    """The fixed part of a SUCCESS Image Block Response with its ZCL header (ZCL 11.13.8); data follows."""

    frame_control: t.uint8_t
    tsn: t.uint8_t
    command_id: t.uint8_t
    status: t.uint8_t
    manufacturer_code: t.uint16_t
    image_type: t.uint16_t
    file_version: t.uint32_t
    file_offset: t.uint32_t
    data_size: t.uint8_t


BLOCK_REQUEST = FixedCodec(BlockRequestFrame)
BLOCK_RESPONSE = FixedCodec(BlockResponseFrame)
PLAIN_BLOCK_REQUEST_CONTROL = FrameControl.CLUSTER_SPECIFIC  # client->server, no mfr code
RESPONSE_CONTROL = FrameControl.CLUSTER_SPECIFIC | FrameControl.SERVER_TO_CLIENT
RESPONSE_CONTROL_NO_DEFAULT = RESPONSE_CONTROL | FrameControl.DISABLE_DEFAULT_RESPONSE
CMD_QUERY_NEXT_IMAGE = Ota.ServerCommandDefs.query_next_image.id
CMD_IMAGE_BLOCK = Ota.ServerCommandDefs.image_block.id
CMD_IMAGE_PAGE = Ota.ServerCommandDefs.image_page.id
CMD_UPGRADE_END = Ota.ServerCommandDefs.upgrade_end.id
CMD_IMAGE_BLOCK_RESPONSE = Ota.ClientCommandDefs.image_block_response.id


# ---------------------------------------------------------------------------------- data
class Activation(enum.StrEnum):
    """When a device runs a downloaded image (SECMP0024): now, at a UTC time, or on a later command."""

    NOW = "now"
    AT = "at"
    HOLD = "hold"


@dataclasses.dataclass(frozen=True)
class ActivationPlan:
    """An activation mode and, for ``AT``, the UTC moment."""

    mode: Activation = Activation.NOW
    at: dt.datetime | None = None

    @classmethod
    def parse(cls, text: str) -> ActivationPlan:
        """``now`` | ``hold`` | ``at:<ISO 8601>`` (a time without an offset is UTC); ValueError if bad."""
        if text in (Activation.NOW, Activation.HOLD):
            return cls(Activation(text))
        if text.startswith("at:"):
            moment = dt.datetime.fromisoformat(text[3:].replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return cls(Activation.AT, moment.astimezone(dt.UTC))
        raise ValueError(f"activation {text!r} is not now, hold or at:<ISO 8601 time>")

    def __str__(self) -> str:
        if self.mode is Activation.AT and self.at is not None:
            return f"at:{self.at.isoformat().replace('+00:00', 'Z')}"
        return self.mode.value

    def upgrade_time(self) -> int:
        """The Upgrade End Response upgrade time this plan stands for."""
        if self.mode is Activation.NOW:
            return UPGRADE_NOW
        if self.mode is Activation.HOLD or self.at is None:
            return UPGRADE_WAIT
        return int(t.UTCTime.from_datetime(self.at))




@dataclasses.dataclass
class Offer:
    """The image the server offers one device and how it is to be activated."""

    image: Image
    activation: ActivationPlan = dataclasses.field(default_factory=ActivationPlan)
    # Negative tests (ota/negative.py): the bytes served when they are not the image's own (a truncated
    # image), and whether the server still refuses a device the image does not fit (False: offer it
    # anyway, so the device's own refusal is what is tested).
    served: bytes | None = None
    server_checks: bool = True

    def __post_init__(self) -> None:
        identity = self.image.identity
        self.manufacturer_code = identity.manufacturer_code
        self.image_type = identity.image_type
        self.file_version = identity.file_version
        self.data: bytes | memoryview = self.image.data if self.served is None else self.served
        self.size = len(self.data)

    def matches(self, manufacturer_code: int, image_type: int, file_version: int) -> bool:
        return (manufacturer_code, image_type, file_version) == (
            self.manufacturer_code, self.image_type, self.file_version)


@dataclasses.dataclass(frozen=True)
class ProgressSample:
    """One block served: when (loop seconds), to whom, and how far the device now is."""

    eui64: str
    time: float
    offset: int
    size: int


class TransferState(enum.StrEnum):
    OFFERED = "offered"
    DOWNLOADING = "downloading"
    ENDED = "ended"


PROGRESS_SAMPLES = 512  # (time, offset) samples kept per transfer, however long it is


class ProgressSamples(collections.abc.Sequence):
    """A transfer's (loop time, offset) progress, bounded: every block while there are few; when
    :data:`PROGRESS_SAMPLES` are kept, every other one is let go and the stride doubles, so a long
    transfer keeps an evenly thinned history. The first and the latest sample are always there."""

    def __init__(self, limit: int = PROGRESS_SAMPLES) -> None:
        self._limit = max(limit, 4)
        self._kept: list[tuple[float, int]] = []
        self._latest: tuple[float, int] | None = None  # the newest sample when the stride skipped it
        self._stride = 1
        self._count = 0

    def append(self, sample: tuple[float, int]) -> None:
        if self._count % self._stride:
            self._latest = sample
        else:
            self._kept.append(sample)
            self._latest = None
            if len(self._kept) >= self._limit:
                self._kept = self._kept[::2]
                self._stride *= 2
        self._count += 1

    def _view(self) -> list[tuple[float, int]]:
        return self._kept if self._latest is None else [*self._kept, self._latest]

    def __len__(self) -> int:
        return len(self._kept) + (self._latest is not None)

    def __getitem__(self, index: Any) -> Any:
        return self._view()[index]

    def __iter__(self) -> Iterator[tuple[float, int]]:
        return iter(self._view())


@dataclasses.dataclass
class Transfer:
    """What the server did for one device and one offer: the raw facts a campaign turns into an outcome."""

    eui64: str
    file_version: int
    size: int
    state: TransferState = TransferState.OFFERED
    started_at: float | None = None  # loop time of the first block served
    last_block_at: float | None = None
    offset: int = 0  # highest offset + length served
    bytes_served: int = 0  # every byte sent, re-sends included
    blocks: int = 0
    retries: int = 0  # block requests for data already served (the device asked again)
    pages: int = 0
    waits: int = 0  # WAIT_FOR_DATA responses sent
    end_status: int | None = None  # Upgrade End Request status from the device
    ended_at: float | None = None
    upgrade_time: int | None = None  # what the Upgrade End Response told the device
    samples: ProgressSamples = dataclasses.field(default_factory=ProgressSamples)
    # set on every change, each block served included (for whoever follows the offset)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event, repr=False)
    # set on a change other than a block served (the end, a refusal): what a campaign waits for; it
    # measures a stall from ``last_block_at`` instead of waking for every block
    settled: asyncio.Event = dataclasses.field(default_factory=asyncio.Event, repr=False)

    def touch(self) -> None:
        self.changed.set()
        self.settled.set()

    def block_served(self) -> None:
        self.changed.set()


@dataclasses.dataclass
class QueryInfo:
    """The last Query Next Image a device sent: what it says it runs."""

    manufacturer_code: int
    image_type: int
    file_version: int
    hardware_version: int | None
    time: float


class _DeviceLane:
    """Per-device state: its offer, transfer, pacing and the FIFO that keeps its responses in order."""

    __slots__ = (
        "completed",
        "eui64",
        "ieee",
        "last_sent",
        "lock",
        "min_period_s",
        "offer",
        "query",
        "refusal",
        "refusal_reason",
        "transfer",
    )

    def __init__(self, ieee: t.EUI64) -> None:
        self.ieee = ieee
        self.eui64 = str(ieee)
        self.offer: Offer | None = None
        self.transfer: Transfer | None = None
        self.lock = asyncio.Lock()  # FIFO: a request behind an in-flight response waits, never drops
        self.last_sent: float | None = None
        self.min_period_s = 0.0
        self.query: QueryInfo | None = None
        self.completed: dict[int, str] = {}  # file version -> manufacturer-image SHA-256 fully served
        self.refusal: str | None = None
        self.refusal_reason: Reason | None = None


class OtaServer:
    """The OTA server on one radio (one zigpy application)."""

    def __init__(self, app: Any, *, pass_on: Callable[[t.ZigbeePacket], Any],
                 aps_security: bool = False, max_in_flight: int | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.app = app
        self._pass_on = pass_on  # hands a frame the server took back to zigpy
        self.aps_security = aps_security
        # devices with their own APS link key (CBKE, issue 13), asked by EUI-64 text: their blocks are
        # APS-secured even when the network-wide policy is not
        self.secured: Callable[[str], bool] | None = None
        # the session's SE gate (rig require_cbke), asked with the requesting zigpy device: True takes the
        # request unanswered (a keyless Type 1 device gets no OTA service; the gate counts it)
        self.refused: Callable[[Any], bool] | None = None
        if max_in_flight is None:
            max_in_flight = int(app.config.get("max_concurrent_requests", DEFAULT_MAX_IN_FLIGHT))
        self._slots = asyncio.Semaphore(max(1, max_in_flight))  # FIFO waiters: devices take turns
        # by the EUI-64's octets: zigpy's EUI64 hashes its "aa:bb:..." text (about 2 us, twice per block)
        self._lanes: dict[bytes, _DeviceLane] = {}
        self._by_nwk: dict[int, t.EUI64] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.listeners: list[Callable[[ProgressSample], None]] = []
        self.announced: dict[t.EUI64, float] = {}  # loop time of each device's last Device_annce
        self.blocks_served = 0
        loop = asyncio.get_running_loop()
        self._loop = loop
        if clock is None:
            # UTC anchored at start, advanced by the loop's clock (virtual time on sim://)
            anchor_utc, anchor_loop = dt.datetime.now(dt.UTC), loop.time()

            def clock() -> dt.datetime:
                return anchor_utc + dt.timedelta(seconds=loop.time() - anchor_loop)

        self.clock = clock

    # ------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Stop serving (whoever installed :meth:`handle_packet` removes it first)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, *SEND_ERRORS):  # closing: nothing to report
                pass

    # ------------------------------------------------------------------ the campaign-facing API
    def lane(self, ieee: t.EUI64) -> _DeviceLane:
        lane = self._lanes.get(bytes(ieee))
        if lane is None:
            lane = self._lanes[bytes(ieee)] = _DeviceLane(ieee)
        return lane

    def lanes(self) -> list[_DeviceLane]:
        """Every device the server has state for."""
        return list(self._lanes.values())

    def offer(self, ieee: t.EUI64, offer: Offer, *, min_block_period_ms: int = 0) -> Transfer:
        """Offer ``offer`` to the device from now on; returns the transfer record the server fills in."""
        lane = self.lane(ieee)
        lane.offer = offer
        lane.refusal = None
        lane.refusal_reason = None
        lane.min_period_s = min_block_period_ms / 1000
        lane.transfer = Transfer(lane.eui64, offer.file_version, offer.size)
        return lane.transfer

    def withdraw(self, ieee: t.EUI64) -> None:
        """Stop offering anything to the device (its next query gets NO_IMAGE_AVAILABLE)."""
        lane = self.lane(ieee)
        lane.offer = None

    def transfer(self, ieee: t.EUI64) -> Transfer | None:
        lane = self._lanes.get(bytes(ieee))
        return lane.transfer if lane is not None else None

    def completed_hash(self, ieee: t.EUI64, file_version: int) -> str | None:
        """SHA-256 of the manufacturer image this server fully transferred to the device at that version."""
        lane = self._lanes.get(bytes(ieee))
        return lane.completed.get(file_version) if lane is not None else None

    def last_query(self, ieee: t.EUI64) -> QueryInfo | None:
        lane = self._lanes.get(bytes(ieee))
        return lane.query if lane is not None else None

    def utc_now(self) -> int:
        return int(t.UTCTime.from_datetime(self.clock()))

    async def notify(self, device: Any) -> None:
        """Unicast Image Notify (payload type 3: manufacturer, image type, new version; jitter 100)."""
        lane = self.lane(device.ieee)
        if lane.offer is None:
            raise ValueError(f"{device.ieee}: nothing offered to notify about")
        offer = lane.offer
        payload = ImageNotifyCommand(
            payload_type=ImageNotifyCommand.PayloadType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion,
            query_jitter=NOTIFY_JITTER, manufacturer_code=offer.manufacturer_code,
            image_type=offer.image_type, new_file_version=offer.file_version)
        tsn = self.app.get_sequence()
        data = self._header(tsn, Ota.ClientCommandDefs.image_notify.id, no_default=True) + payload.serialize()
        await self._send(device, data, tsn)

    async def send_upgrade_command(self, device: Any, manufacturer_code: int, image_type: int,
                                   file_version: int, upgrade_time: int) -> None:
        """An unsolicited Upgrade End Response: run the held image at ``upgrade_time`` (0 = now)."""
        tsn = self.app.get_sequence()
        frame = self._upgrade_end_response(tsn, manufacturer_code, image_type, file_version, upgrade_time)
        await self._send(device, frame, tsn)

    # ------------------------------------------------------------------ frames in
    def handle_packet(self, packet: t.ZigbeePacket) -> bool:
        """Offered every frame the radio receives, before zigpy: True when the server took it."""
        if packet.cluster_id != OTA_CLUSTER or packet.dst_ep == 0 or packet.src_ep == 0:
            if packet.cluster_id == DEVICE_ANNCE and packet.dst_ep == 0:
                device = self._device(packet.src)
                if device is not None:
                    self.announced[device.ieee] = self._loop.time()  # a (re)join: proof after activation
            return False
        data = packet.data.serialize()
        if len(data) < 3 or data[0] & 0x0B != FrameControl.CLUSTER_SPECIFIC:
            return False  # general commands (attribute reads) and server->client frames
        device = self._device(packet.src)
        if device is None or getattr(device, "ota_in_progress", False):
            return False  # unknown device, or zigpy's own update_firmware is running
        if self.refused is not None and self.refused(device):
            return True
        if data[0] == PLAIN_BLOCK_REQUEST_CONTROL and data[2] == CMD_IMAGE_BLOCK and len(data) == \
                BLOCK_REQUEST.size and data[3] == 0:
            self._spawn(self._serve_plain_block(device, packet, data))
            return True
        self._spawn(self._serve_other(device, packet, data))
        return True

    def _device(self, address: t.AddrModeAddress) -> Any:
        ieee = self._by_nwk.get(address.address) if address.addr_mode == t.AddrMode.NWK else None
        if ieee is not None:
            device = self.app.devices.get(ieee)
            if device is not None and device.nwk == address.address:
                return device
        try:
            device = self.app.get_device_with_address(address)
        except KeyError:
            return None
        self._by_nwk[int(device.nwk)] = device.ieee
        return device

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ Image Block Request (hot path)
    async def _serve_plain_block(self, device: Any, packet: t.ZigbeePacket, data: bytes) -> None:
        _fc, tsn, _cmd, _ctl, mfr, kind, version, offset, max_size = BLOCK_REQUEST.unpack_values(data)
        try:
            await self._serve_block(device, packet, tsn, mfr, kind, version, offset, max_size, None)
        except SEND_ERRORS as exc:  # an ABORT / WAIT_FOR_DATA not delivered: the device asks again
            LOGGER.debug("%s: OTA response not delivered: %s", device.ieee, exc)

    async def _serve_block(self, device: Any, packet: t.ZigbeePacket, tsn: int, mfr: int, kind: int,
                           version: int, offset: int, max_size: int, period_ms: int | None) -> None:
        lane = self.lane(device.ieee)
        async with lane.lock:
            offer = lane.offer
            if offer is None:
                # Not answered: a host that restarted mid-campaign has not re-offered yet, and an ABORT
                # would make the device throw away what it has; it asks again and resumes then.
                LOGGER.debug("%s: block request at %d before any offer: not answered", lane.eui64, offset)
                return
            if not offer.matches(mfr, kind, version):
                await self._send_status(device, packet, tsn, CMD_IMAGE_BLOCK_RESPONSE, Status.ABORT)
                return
            if offset >= offer.size:
                await self._send_status(device, packet, tsn, CMD_IMAGE_BLOCK_RESPONSE,
                                        Status.MALFORMED_COMMAND)
                return
            if period_ms is not None:
                lane.min_period_s = period_ms / 1000
            if lane.min_period_s and lane.last_sent is not None:
                wait = lane.last_sent + lane.min_period_s - self._loop.time()
                if wait > HOLD_LIMIT_S:
                    await self._send_wait_for_data(device, packet, tsn, wait, lane)
                    return
                if wait > 0:
                    await asyncio.sleep(wait)
            secured = self._aps_secured(lane.eui64)  # once per block: it sets the budget and the tx options
            size = min(max_size, self._budget(device, secured), offer.size - offset)
            frame = BLOCK_RESPONSE.pack(RESPONSE_CONTROL_NO_DEFAULT, tsn, CMD_IMAGE_BLOCK_RESPONSE, 0,
                                        mfr, kind, version, offset, size)
            frame += offer.data[offset:offset + size]
            reply = self._reply_packet(device, packet, tsn, frame, secured)
            try:
                await self._send_packet(reply)
            except SEND_ERRORS as exc:  # a lost response: the device asks again
                LOGGER.debug("%s: block at %d not delivered: %s", lane.eui64, offset, exc)
                return
            now = self._loop.time()
            lane.last_sent = now
            self.blocks_served += 1
            self._record_block(lane, now, offset, size)

    def _record_block(self, lane: _DeviceLane, now: float, offset: int, size: int) -> None:
        transfer = lane.transfer
        if transfer is None:
            return
        if transfer.started_at is None:
            transfer.started_at = now
        transfer.state = TransferState.DOWNLOADING
        transfer.last_block_at = now
        transfer.blocks += 1
        transfer.bytes_served += size
        end = offset + size
        if end <= transfer.offset and offset != 0:
            transfer.retries += 1
        transfer.offset = end if end > transfer.offset or offset == 0 else transfer.offset
        transfer.samples.append((now, end))
        transfer.block_served()
        if self.listeners:
            sample = ProgressSample(lane.eui64, now, end, transfer.size)
            for listener in self.listeners:
                listener(sample)

    def _aps_secured(self, eui64: str) -> bool:
        # by the lane's EUI-64 text where there is one: str() of zigpy's EUI64 costs ~1.4 us a block
        return self.aps_security or (self.secured is not None and self.secured(eui64))

    def _budget(self, device: Any, secured: bool | None = None) -> int:
        relays = len(device.relays) if getattr(device, "relays", None) else 0
        return max_ota_block(aps_security=self._aps_secured(str(device.ieee)) if secured is None else secured,
                             relays=relays)

    async def _send_wait_for_data(self, device: Any, packet: t.ZigbeePacket, tsn: int, wait: float,
                                  lane: _DeviceLane) -> None:
        now = self.utc_now()
        payload = Ota.ImageBlockResponseCommand(
            status=foundation.Status.WAIT_FOR_DATA, current_time=t.UTCTime(now),
            request_time=t.UTCTime(now + int(wait + 0.999)),
            minimum_block_period=t.uint16_t(min(int(lane.min_period_s * 1000), 0xFFFF)))
        frame = self._header(tsn, CMD_IMAGE_BLOCK_RESPONSE, no_default=True) + payload.serialize()
        if lane.transfer is not None:
            lane.transfer.waits += 1
        await self._send_reply(device, packet, tsn, frame)

    # ------------------------------------------------------------------ the other commands
    async def _serve_other(self, device: Any, packet: t.ZigbeePacket, data: bytes) -> None:
        try:
            header, rest = foundation.ZCLHeader.deserialize(data)
            command = int(header.command_id)
            if command == CMD_IMAGE_BLOCK:
                req, _ = ImageBlockCommand.deserialize(rest)
                period = req.minimum_block_period if req.field_control & \
                    ImageBlockCommand.FieldControl.MinimumBlockPeriod else None
                await self._serve_block(device, packet, header.tsn, req.manufacturer_code, req.image_type,
                                        req.file_version, req.file_offset, req.maximum_data_size,
                                        None if period is None else int(period))
            elif command == CMD_QUERY_NEXT_IMAGE:
                query, _ = QueryNextImageCommand.deserialize(rest)
                await self._serve_query(device, packet, header.tsn, query)
            elif command == CMD_IMAGE_PAGE:
                page, _ = ImagePageCommand.deserialize(rest)
                await self._serve_page(device, packet, header.tsn, page)
            elif command == CMD_UPGRADE_END:
                end, _ = Ota.ServerCommandDefs.upgrade_end.schema.deserialize(rest)
                await self._serve_upgrade_end(device, packet, header.tsn, end)
            else:
                self._pass_on(packet)  # e.g. Query Specific File: zigpy's default
        except (ValueError, KeyError) as exc:
            LOGGER.debug("%s: malformed OTA frame %s: %s", device.ieee, data.hex(), exc)
        except SEND_ERRORS as exc:  # delivery failures: the device will ask again
            LOGGER.debug("%s: OTA response not delivered: %s", device.ieee, exc)

    async def _serve_query(self, device: Any, packet: t.ZigbeePacket, tsn: int, query: Any) -> None:
        lane = self.lane(device.ieee)
        hardware = int(query.hardware_version) if query.field_control & \
            QueryNextImageCommand.FieldControl.HardwareVersion else None
        lane.query = QueryInfo(int(query.manufacturer_code), int(query.image_type),
                               int(query.current_file_version), hardware, self._loop.time())
        offer = lane.offer
        refusal = reason = None
        if offer is not None and offer.server_checks:
            identity = offer.image.identity
            if identity.manufacturer_code not in (query.manufacturer_code, 0xFFFF):
                reason = Reason.MANUFACTURER
            elif identity.image_type not in (query.image_type, 0xFFFF):
                reason = Reason.IMAGE_TYPE
            if reason is not None:
                refusal = (f"device asks for 0x{query.manufacturer_code:04x}/0x{query.image_type:04x}, "
                           f"offered image is 0x{identity.manufacturer_code:04x}/0x{identity.image_type:04x}")
            elif not identity.fits_hardware(hardware):
                reason = Reason.HARDWARE_RANGE
                refusal = (f"hardware version {hardware} outside the image's "
                           f"{identity.hw_min}..{identity.hw_max}")
        running = offer is not None and offer.server_checks and \
            int(query.current_file_version) == offer.file_version
        if offer is None or refusal is not None or running:  # nothing to offer a device already on it
            lane.refusal = refusal
            lane.refusal_reason = reason
            if lane.transfer is not None and refusal is not None:
                lane.transfer.touch()
            payload = Ota.ClientCommandDefs.query_next_image_response.schema(
                status=foundation.Status.NO_IMAGE_AVAILABLE)
        else:
            payload = Ota.ClientCommandDefs.query_next_image_response.schema(
                status=foundation.Status.SUCCESS, manufacturer_code=offer.manufacturer_code,
                image_type=offer.image_type, file_version=offer.file_version, image_size=offer.size)
        frame = self._header(tsn, Ota.ClientCommandDefs.query_next_image_response.id, no_default=True)
        await self._send_reply(device, packet, tsn, frame + payload.serialize())

    async def _serve_page(self, device: Any, packet: t.ZigbeePacket, tsn: int, page: Any) -> None:
        lane = self.lane(device.ieee)
        async with lane.lock:
            offer = lane.offer
            if offer is None:
                return  # as for a block request: the device asks again once the image is offered
            if page.file_offset >= offer.size or \
                    not offer.matches(page.manufacturer_code, page.image_type, page.file_version):
                await self._send_status(device, packet, tsn, CMD_IMAGE_BLOCK_RESPONSE, Status.ABORT)
                return
            if lane.transfer is not None:
                lane.transfer.pages += 1
            spacing = int(page.response_spacing) / 1000
            offset = int(page.file_offset)
            end = min(offset + int(page.page_size), offer.size)
            block = min(int(page.maximum_data_size), self._budget(device))
            # the spacing holds across pages too: the first block waits for the last one's spacing
            next_at = self._loop.time() if lane.last_sent is None else lane.last_sent + spacing
            while offset < end:
                wait = next_at - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                size = min(block, end - offset)
                frame = BLOCK_RESPONSE.pack(RESPONSE_CONTROL_NO_DEFAULT, tsn, CMD_IMAGE_BLOCK_RESPONSE, 0,
                                            offer.manufacturer_code, offer.image_type, offer.file_version,
                                            offset, size) + offer.data[offset:offset + size]
                try:
                    await self._send_packet(self._reply_packet(device, packet, tsn, frame))
                except SEND_ERRORS as exc:  # the device asks again from its offset
                    LOGGER.debug("%s: page block at %d not delivered: %s", lane.eui64, offset, exc)
                    return
                now = self._loop.time()
                # spacing counts from delivery: a busy channel delays one block, never squeezes the next
                next_at = now + spacing
                lane.last_sent = now
                self.blocks_served += 1
                self._record_block(lane, now, offset, size)
                offset += size

    async def _serve_upgrade_end(self, device: Any, packet: t.ZigbeePacket, tsn: int, end: Any) -> None:
        lane = self.lane(device.ieee)
        status = int(end.status)
        offer = lane.offer
        transfer = lane.transfer
        ours = offer is not None and offer.matches(end.manufacturer_code, end.image_type, end.file_version)
        if transfer is not None and ours:
            transfer.end_status = status
            transfer.ended_at = self._loop.time()
        if status != Status.SUCCESS or not ours:
            if transfer is not None and ours:
                transfer.state = TransferState.ENDED
                transfer.touch()
            # ZCL 11.13.9.4: a failed download gets a Default Response, not an Upgrade End Response
            default = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema(
                command_id=CMD_UPGRADE_END, status=foundation.Status.SUCCESS)
            control = FrameControl.SERVER_TO_CLIENT | FrameControl.DISABLE_DEFAULT_RESPONSE
            header = bytes((control, tsn, foundation.GeneralCommand.Default_Response))
            await self._send_reply(device, packet, tsn, header + default.serialize())
            return
        assert offer is not None
        lane.completed[offer.file_version] = offer.image.sha256
        upgrade_time = offer.activation.upgrade_time()
        frame = self._upgrade_end_response(tsn, offer.manufacturer_code, offer.image_type,
                                           offer.file_version, upgrade_time)
        await self._send_reply(device, packet, tsn, frame)  # undelivered: the device asks again
        if transfer is not None:
            # ended once the device has its instructions: "held" then means it really waits
            transfer.upgrade_time = upgrade_time
            transfer.state = TransferState.ENDED
            transfer.touch()

    # ------------------------------------------------------------------ frames out
    def _upgrade_end_response(self, tsn: int, mfr: int, kind: int, version: int, upgrade_time: int) -> bytes:
        payload = Ota.ClientCommandDefs.upgrade_end_response.schema(
            manufacturer_code=mfr, image_type=kind, file_version=version,
            current_time=t.UTCTime(self.utc_now()), upgrade_time=t.UTCTime(upgrade_time))
        return self._header(tsn, Ota.ClientCommandDefs.upgrade_end_response.id, no_default=True) + \
            payload.serialize()

    @staticmethod
    def _header(tsn: int, command_id: int, *, no_default: bool) -> bytes:
        control = RESPONSE_CONTROL_NO_DEFAULT if no_default else RESPONSE_CONTROL
        return bytes((control, tsn, command_id))

    async def _send_status(self, device: Any, packet: t.ZigbeePacket, tsn: int, command: int,
                           status: Status) -> None:
        await self._send_reply(device, packet, tsn, self._header(tsn, command, no_default=True) +
                               bytes((status,)))

    async def _send_reply(self, device: Any, packet: t.ZigbeePacket, tsn: int, frame: bytes) -> None:
        await self._send_packet(self._reply_packet(device, packet, tsn, frame))

    async def _send(self, device: Any, frame: bytes, tsn: int) -> None:
        endpoint = next((ep for ep_id, ep in sorted(device.endpoints.items()) if ep_id != 0
                         and OTA_CLUSTER in getattr(ep, "out_clusters", {})), None)
        profile = getattr(endpoint, "profile_id", None) or 0x0104
        dst_ep = endpoint.endpoint_id if endpoint is not None else 1
        await self._send_packet(self._packet(device, profile, dst_ep, tsn, frame))

    def _reply_packet(self, device: Any, request: t.ZigbeePacket, tsn: int, frame: bytes,
                      secured: bool | None = None) -> t.ZigbeePacket:
        return self._packet(device, request.profile_id, request.src_ep, tsn, frame, secured)

    def _packet(self, device: Any, profile: int, dst_ep: int, tsn: int, frame: bytes,
                secured: bool | None = None) -> t.ZigbeePacket:
        if secured is None:
            secured = self._aps_secured(str(device.ieee))
        tx = t.TransmitOptions.ACK | (t.TransmitOptions.APS_Encryption if secured
                                      else t.TransmitOptions.NONE)
        end_device = device.node_desc is not None and not device.node_desc.is_receiver_on_when_idle
        relays = getattr(device, "relays", None)
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000), src_ep=COORDINATOR_ENDPOINT,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=device.nwk), dst_ep=dst_ep,
            tsn=tsn, profile_id=profile, cluster_id=OTA_CLUSTER, data=t.SerializableBytes(frame),
            tx_options=tx, extended_timeout=end_device,
            source_route=list(relays)[::-1] if relays else None, priority=t.PacketPriority.NORMAL)

    async def _send_packet(self, packet: t.ZigbeePacket) -> None:
        async with self._slots:
            await self.app.send_packet(packet)


