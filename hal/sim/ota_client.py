"""The OTA Upgrade client (ZCL 11, cluster 0x0019) that runs inside every virtual device.

A faithful client state machine: Image Notify with query jitter, Query Next Image, Image Block / Image
Page requests with the device's own Maximum Data Size and optional MinimumBlockPeriod, blocks stored at
their offsets, WAIT_FOR_DATA honoured, stalled requests retried (the same frame again, as firmware
re-sends its buffered request), then checks on the complete image (manufacturer, image type, version,
hardware version, total size, integrity code, and for GBCS firmware the Supplier signature), an Upgrade
End Request with the matching status, activation now / at a UTC time / on a later command, and a reboot
(leave + rejoin) after which CurrentFileVersion is the new version. It also answers "activate by hash":
the SHA-256 of the manufacturer image it holds.

Firmware-profile differences are subclasses (:class:`ZclOtaClient`, :class:`GbcsOtaClient`), like
protocol versions in bellows. The device side (sending frames, its clock, rebooting) is the
:class:`OtaHost` protocol, implemented by ``devices.VirtualDevice``.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from ota.signing import aes_mmo_hash_of, load_public_key

from .wire import ZclFrame, zcl_cluster_command

LOGGER = logging.getLogger(__name__)

Status = foundation.Status
UpgradeStatus = Ota.ImageUpgradeStatus

QUERY_TIMEOUT_S = 10.0  # how long the client waits for a Query Next Image Response
BLOCK_TIMEOUT_S = 5.0  # ... for an Image Block Response before re-sending the request
BLOCK_RETRIES = 3  # re-sends of one block request before the download is abandoned
PAGE_TIMEOUT_S = 10.0  # silence during a page before the client asks again from its offset
UPGRADE_END_TIMEOUT_S = 10.0
WAIT_FOR_UPGRADE = 0xFFFFFFFF  # Upgrade End Response upgrade time: wait for an upgrade command
MINIMUM_HEADER_LENGTH = 56  # ZCL 11.4.2: the header without optional fields


class OtaFault(enum.StrEnum):
    """Deliberately broken client behaviour (``[devices.sim] ota_fault``), for negative tests."""

    NONE = "none"
    PERMISSIVE = "permissive"  # downloads anything, checks nothing, boots a half-written image


class EndStatus(enum.IntEnum):
    """Upgrade End Request status values a client sends (ZCL 11.13.9)."""

    SUCCESS = Status.SUCCESS
    INVALID_IMAGE = Status.INVALID_IMAGE
    REQUIRE_MORE_IMAGE = Status.REQUIRE_MORE_IMAGE
    ABORT = Status.ABORT


class ActivationResult(enum.IntEnum):
    """Responses to "activate by hash" (GBCS CS06 Activate Firmware response codes)."""

    SUCCESS = 0
    NO_IMAGE_HELD = 1
    HASH_MISMATCH = 2
    ACTIVATION_FAILURE = 3


@dataclass(frozen=True)
class OtaIdentity:
    """What the client is: the fields it puts in every query and block request."""

    manufacturer_code: int
    image_type: int
    hardware_version: int
    max_data_size: int = 64
    min_block_period_ms: int = 0
    page_request: bool = False
    page_size: int = 1024
    query_jitter_s: float = 5.0
    processing_s: float = 0.0
    accept_downgrade: bool = False  # our rule for the simulator: clients refuse versions older than theirs
    fault: OtaFault = OtaFault.NONE


@dataclass
class OtaOutcome:
    """What happened to the last download, for tests and reports."""

    status: EndStatus | None = None
    reason: str = ""
    file_version: int | None = None
    blocks: int = 0
    retries: int = 0
    pacing_violations: int = 0


class OtaHost(Protocol):
    """What the client needs from its device."""

    def next_tsn(self) -> int: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> None: ...
    async def request_from_hub(self, cluster_id: int, data: bytes, tsn: int, timeout: float) -> ZclFrame: ...
    def random(self) -> float: ...
    def utc_now(self) -> int: ...  # the device's clock, seconds since 2000-01-01 (ZCL UTCTime)
    async def reboot_into(self, file_version: int) -> None: ...


@dataclass(frozen=True)
class HeldImage:
    """A complete, verified image waiting to be (or already) activated (its bytes stay in flash)."""

    file_version: int
    manufacturer_image_sha256: str


class Flash:
    """The download area: a temporary file, as a real device writes its external flash, so a campaign
    to hundreds of simulated devices does not hold a copy of the image per device in memory."""

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self._file: IO[bytes] | None = None
        self._position = 0  # where the file's next write goes
        if size:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by erase)
            self._file.truncate(size)

    def __len__(self) -> int:
        return self.size

    def write(self, offset: int, data: bytes) -> None:
        assert self._file is not None
        if offset != self._position:  # a seek flushes the file's buffer: blocks in order need none
            self._file.seek(offset)
        self._file.write(data)
        self._position = offset + len(data)

    def read(self) -> bytes:
        if self._file is None:
            return b""
        self._file.seek(0)
        data = self._file.read(self.size)
        self._position = self._file.tell()
        return data

    def erase(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self.size = 0


# ---------------------------------------------------------------------------------------- the client's reader
# ZCL 11.4.2 header, little-endian: file identifier u32, header version u16, header length u16, field control
# u16, manufacturer code u16, image type u16, file version u32, stack version u16, header string 32 octets,
# total image size u32; then, per field control, security credential version u8 (bit 0), upgrade file
# destination IEEE 8 octets (bit 1), minimum and maximum hardware version u16 each (bit 2).
OTA_FILE_IDENTIFIER = 0x0BEEF11E
FIXED_HEADER = struct.Struct("<IHHHHHIH32sI")
FC_SECURITY_CREDENTIAL_VERSION = 0x0001
FC_DEVICE_SPECIFIC_FILE = 0x0002
FC_HARDWARE_VERSIONS = 0x0004
# ZCL 11.4.3 sub-element: tag u16, length u32, data. Tags 0x0000..0x0006 are the standard ones, 0xF000 and
# up manufacturer specific; anything between is reserved (so such bytes are not a sub-element chain).
SUB_ELEMENT = struct.Struct("<HI")
TAG_UPGRADE_IMAGE = 0x0000
TAG_INTEGRITY_CODE = 0x0003
TAG_LAST_STANDARD = 0x0006
TAG_MANUFACTURER_FIRST = 0xF000
TAG_SUPPLIER_SIGNATURE = 0xF100  # hanrig's tag for the GBCS Supplier signature in a Zigbee-layout file
INTEGRITY_CODE_SIZE = 16
# GBCS image: header, the Manufacturer Image directly, then optionally u16 big-endian 64 and raw r||s.
SIGNATURE_SIZE = 64
SIGNATURE_LENGTH_PREFIX = SIGNATURE_SIZE.to_bytes(2, "big")


class ImageRejected(Exception):
    """The client refuses a received image; the message says why (it becomes the outcome's reason)."""


@dataclass(frozen=True)
class ReceivedImage:
    """What the client learned from a complete image's bytes."""

    manufacturer_code: int
    image_type: int
    file_version: int
    total_size: int
    hardware_range: tuple[int, int] | None
    manufacturer_image: bytes
    signature: bytes | None  # raw r||s over the Manufacturer Image
    integrity_code: bytes | None
    integrity_covered: bytes | None  # the file before the integrity-code sub-element

    @property
    def sha256(self) -> str:
        """The hash "activate by hash" names an image by: SHA-256 of the Manufacturer Image."""
        return hashlib.sha256(self.manufacturer_image).hexdigest()


def read_received_image(data: bytes) -> ReceivedImage:
    """Read an image the way the device's firmware does; raise :class:`ImageRejected` on bad bytes."""
    if len(data) < FIXED_HEADER.size:
        raise ImageRejected(f"{len(data)} octets are fewer than the {FIXED_HEADER.size}-octet OTA header")
    (file_id, _header_version, header_length, field_control, manufacturer_code, image_type, file_version,
     _stack, _text, total_size) = FIXED_HEADER.unpack_from(data)
    if file_id != OTA_FILE_IDENTIFIER:
        raise ImageRejected(f"file identifier 0x{file_id:08x} is not 0x{OTA_FILE_IDENTIFIER:08x}")
    position = FIXED_HEADER.size
    if field_control & FC_SECURITY_CREDENTIAL_VERSION:
        position += 1
    if field_control & FC_DEVICE_SPECIFIC_FILE:
        position += 8
    hardware_range = None
    if field_control & FC_HARDWARE_VERSIONS:
        hardware_range = struct.unpack_from("<HH", data, position) if len(data) >= position + 4 else None
        position += 4
    if header_length < position or header_length > len(data):
        raise ImageRejected(f"header length {header_length} does not fit its fields ({position} octets)")
    if total_size != len(data):
        raise ImageRejected(f"total image size {total_size} in the header, {len(data)} octets received")
    elements = _sub_elements(data, header_length)
    signature = integrity_code = covered = None
    if elements is not None:  # Zigbee layout
        manufacturer_image = b""
        for tag, start, end in elements:
            if tag == TAG_UPGRADE_IMAGE and not manufacturer_image:
                manufacturer_image = data[start:end]
            elif tag == TAG_SUPPLIER_SIGNATURE and data[start:start + 2] == SIGNATURE_LENGTH_PREFIX \
                    and end - start == 2 + SIGNATURE_SIZE:
                signature = data[start + 2:end]
            elif tag == TAG_INTEGRITY_CODE:
                integrity_code = data[start:end]
                covered = data[:start - SUB_ELEMENT.size]
    else:  # GBCS layout
        body = data[header_length:]
        trailer = 2 + SIGNATURE_SIZE
        if len(body) > trailer and body[-trailer:-SIGNATURE_SIZE] == SIGNATURE_LENGTH_PREFIX:
            manufacturer_image, signature = body[:-trailer], body[-SIGNATURE_SIZE:]
        else:
            manufacturer_image = body
    return ReceivedImage(manufacturer_code, image_type, file_version, total_size,
                         None if hardware_range is None else (hardware_range[0], hardware_range[1]),
                         manufacturer_image, signature, integrity_code, covered)


def _sub_elements(data: bytes, start: int) -> list[tuple[int, int, int]] | None:
    """(tag, data start, data end) of each sub-element, or None when the bytes are not a chain of them."""
    elements = []
    position = start
    while position < len(data):
        if len(data) - position < SUB_ELEMENT.size:
            return None
        tag, length = SUB_ELEMENT.unpack_from(data, position)
        if TAG_LAST_STANDARD < tag < TAG_MANUFACTURER_FIRST:
            return None
        end = position + SUB_ELEMENT.size + length
        if end > len(data):
            return None
        elements.append((tag, position + SUB_ELEMENT.size, end))
        position = end
    return elements or None


def signature_verifies(public_key: ec.EllipticCurvePublicKey, message: bytes, raw: bytes) -> bool:
    """ECDSA P-256 / SHA-256 over ``message``, the signature as raw r||s."""
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


class ZclOtaClient:
    """A plain ZCL OTA Upgrade client."""

    profile = "zcl"

    def __init__(self, host: OtaHost, identity: OtaIdentity, current_file_version: int) -> None:
        self.host = host
        self.identity = identity
        self.current_file_version = current_file_version
        self.status = UpgradeStatus.Normal
        self.file_offset = 0
        self.downloaded_file_version: int | None = None
        self.held: HeldImage | None = None
        self.outcome = OtaOutcome()
        self.on_stored: Callable[[int], None] | None = None  # fault hook: called with the new offset
        self._buffer = Flash()
        self._task: asyncio.Task[None] | None = None
        self._activation: asyncio.TimerHandle | None = None
        self._last_block_at: float | None = None
        self._page_queue: asyncio.Queue[Any] | None = None

    # ------------------------------------------------------------------ attributes (client side)
    def attributes(self) -> dict[int, Any]:
        ids = Ota.AttributeDefs
        values: dict[int, Any] = {
            ids.current_file_version.id: self.current_file_version,
            ids.file_offset.id: self.file_offset,
            ids.image_upgrade_status.id: self.status,
            ids.manufacturer_id.id: self.identity.manufacturer_code,
            ids.image_type_id.id: self.identity.image_type,
            ids.minimum_block_req_delay.id: self.identity.min_block_period_ms,
            ids.upgrade_server_id.id: 0xFFFFFFFFFFFFFFFF,
        }
        if self.downloaded_file_version is not None:
            values[ids.downloaded_file_version.id] = self.downloaded_file_version
        return values

    @property
    def permissive(self) -> bool:
        return self.identity.fault is OtaFault.PERMISSIVE

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The running query/download, if any."""
        return self._task

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def held_image_sha256(self) -> str | None:
        """SHA-256 (hex) of the manufacturer image held, or None: what "activate by hash" compares."""
        return self.held.manufacturer_image_sha256 if self.held else None

    # ------------------------------------------------------------------ incoming commands
    def handle(self, frame: ZclFrame) -> bool:
        """Take an unsolicited OTA command from the server; True if it was for the client."""
        if frame.name == "image_notify":
            self._on_image_notify(frame.payload)
            return True
        if frame.name == "upgrade_end_response":
            self._on_upgrade_command(frame.payload)
            return True
        if frame.name == "image_block_response" and self._page_queue is not None:
            self._page_queue.put_nowait(frame.payload)
            return True
        return False

    def _on_image_notify(self, cmd: Any) -> None:
        kind = Ota.ImageNotifyCommand.PayloadType
        if self.permissive:
            if not self.busy:
                self.start(self.host.random() * self.identity.query_jitter_s)
            return
        if cmd.payload_type >= kind.QueryJitter_ManufacturerCode and cmd.manufacturer_code not in (
            self.identity.manufacturer_code,
            0xFFFF,
        ):
            return
        if cmd.payload_type >= kind.QueryJitter_ManufacturerCode_ImageType and cmd.image_type not in (
            self.identity.image_type,
            0xFFFF,
        ):
            return
        if (
            cmd.payload_type >= kind.QueryJitter_ManufacturerCode_ImageType_NewFileVersion
            and cmd.new_file_version == self.current_file_version
        ):
            return
        # ZCL 11.13.3.4: draw 1..100 and query only when the draw does not exceed the jitter
        if int(self.host.random() * 100) + 1 > cmd.query_jitter or self.busy:
            return
        delay = self.host.random() * self.identity.query_jitter_s
        self.start(delay)

    def _on_upgrade_command(self, cmd: Any) -> None:
        if self.held is None or self.status not in (
            UpgradeStatus.Waiting_to_upgrade,
            UpgradeStatus.Count_down,
        ):
            return
        if (
            cmd.manufacturer_code != self.identity.manufacturer_code
            or cmd.image_type != self.identity.image_type
        ):
            return
        self._schedule_activation(int(cmd.current_time), int(cmd.upgrade_time))

    # ------------------------------------------------------------------ the state machine
    def start(self, delay: float = 0.0) -> asyncio.Task[None]:
        """Query the server (after ``delay`` seconds) and download whatever it offers."""
        if self.busy:
            assert self._task is not None
            return self._task
        self._task = asyncio.get_running_loop().create_task(self._run(delay))
        return self._task

    def stop(self) -> None:
        """Power loss: the task and timers go; blocks already stored stay (they are in flash, as on real
        devices), so a download of the same image resumes from ``file_offset`` (ZCL 11.11: the client
        resumes from its FileOffset after a reset)."""
        if self._task is not None:
            self._task.cancel()
        if self._activation is not None:
            self._activation.cancel()
            self._activation = None
        self._page_queue = None
        if self.status in (UpgradeStatus.Download_in_progress, UpgradeStatus.Wait_for_more):
            self.status = UpgradeStatus.Normal
            if self.permissive and self.outcome.file_version is not None:
                # the fault: the boot loader takes the half-written download slot for a valid image
                LOGGER.info("permissive OTA client boots a partial image at offset %d", self.file_offset)
                self.current_file_version = self.outcome.file_version

    async def _run(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        offer = await self.query()
        if offer is not None:
            await self.download(offer)

    async def query(self) -> Any | None:
        """Send Query Next Image; return the response payload when it offers a usable image."""
        ident = self.identity
        tsn = self.host.next_tsn()
        data = zcl_cluster_command(
            Ota,
            tsn,
            "query_next_image",
            server_to_client=False,
            field_control=Ota.QueryNextImageCommand.FieldControl.HardwareVersion,
            manufacturer_code=ident.manufacturer_code,
            image_type=ident.image_type,
            current_file_version=self.current_file_version,
            hardware_version=ident.hardware_version,
        )
        try:
            reply = await self.host.request_from_hub(Ota.cluster_id, data, tsn, QUERY_TIMEOUT_S)
        except TimeoutError:
            LOGGER.debug("query next image: no response")
            return None
        rsp = reply.payload
        if reply.name != "query_next_image_response" or rsp.status != Status.SUCCESS:
            return None
        if self.permissive:
            return rsp  # the fault: whatever is offered is downloaded
        refusal = self.refuse_offer(rsp)
        if refusal is not None:
            self.outcome = OtaOutcome(reason=refusal)
            return None
        return rsp

    def refuse_offer(self, rsp: Any) -> str | None:
        """Why the client will not request the offered image at all (ZCL 11.13.7: a client downloads
        only images for its own manufacturer and image type), or None."""
        ident = self.identity
        if rsp.manufacturer_code != ident.manufacturer_code:
            return f"offered image's manufacturer 0x{rsp.manufacturer_code:04x} is not this device's"
        if rsp.image_type != ident.image_type:
            return f"offered image type 0x{rsp.image_type:04x} is not this device's"
        version = int(rsp.file_version)
        if version == self.current_file_version:
            return f"offered version 0x{version:08x} is already running"
        if version < self.current_file_version and not ident.accept_downgrade:
            return f"offered version 0x{version:08x} is older than 0x{self.current_file_version:08x}"
        if rsp.image_size < MINIMUM_HEADER_LENGTH:
            return f"offered image size {rsp.image_size} is too small"
        return None

    async def download(self, offer: Any) -> None:
        """Fetch every block of ``offer`` and finish with an Upgrade End Request."""
        resuming = (
            self.outcome.file_version == int(offer.file_version)
            and len(self._buffer) == int(offer.image_size)
            and 0 < self.file_offset < len(self._buffer)
        )
        self.outcome = OtaOutcome(file_version=int(offer.file_version))
        if not resuming:
            self._buffer.erase()
            self._buffer = Flash(int(offer.image_size))
            self.file_offset = 0
        self.held = None
        self.downloaded_file_version = None
        self.status = UpgradeStatus.Download_in_progress
        self._last_block_at = None
        try:
            while self.file_offset < offer.image_size:
                if self.identity.page_request:
                    progressed = await self._fetch_page(offer)
                else:
                    progressed = await self._fetch_block(offer)
                if not progressed:
                    return
        finally:
            self._page_queue = None
        await self._finish(offer)

    def _asks_as(self, offer: Any) -> tuple[int, int]:
        """The manufacturer code and image type block requests carry: the client's own (the permissive
        fault asks for whatever it was offered)."""
        if self.permissive:
            return int(offer.manufacturer_code), int(offer.image_type)
        return self.identity.manufacturer_code, self.identity.image_type

    def _store(self, offer: Any, block: Any) -> bool:
        if (
            block.manufacturer_code != offer.manufacturer_code
            or block.image_type != offer.image_type
            or block.file_version != offer.file_version
        ):
            return False
        data = bytes(block.image_data)
        start = int(block.file_offset)
        if start != self.file_offset or start + len(data) > len(self._buffer) or not data:
            return False
        if len(data) > self.identity.max_data_size:
            return False
        now = asyncio.get_running_loop().time()
        period = self.identity.min_block_period_ms / 1000
        if period and self._last_block_at is not None and now - self._last_block_at < period - 1e-9:
            self.outcome.pacing_violations += 1
        self._last_block_at = now
        self._buffer.write(start, data)
        self.file_offset = start + len(data)
        self.outcome.blocks += 1
        if self.on_stored is not None:
            self.on_stored(self.file_offset)
        return True

    def _block_request(self, offer: Any, tsn: int) -> bytes:
        ident = self.identity
        control = Ota.ImageBlockCommand.FieldControl(0)
        extra: dict[str, Any] = {}
        if ident.min_block_period_ms:
            control |= Ota.ImageBlockCommand.FieldControl.MinimumBlockPeriod
            extra["minimum_block_period"] = ident.min_block_period_ms
        manufacturer_code, image_type = self._asks_as(offer)
        return zcl_cluster_command(
            Ota,
            tsn,
            "image_block",
            server_to_client=False,
            field_control=control,
            manufacturer_code=manufacturer_code,
            image_type=image_type,
            file_version=offer.file_version,
            file_offset=self.file_offset,
            maximum_data_size=ident.max_data_size,
            **extra,
        )

    async def _fetch_block(self, offer: Any) -> bool:
        tsn = self.host.next_tsn()
        request = self._block_request(offer, tsn)
        for attempt in range(BLOCK_RETRIES + 1):
            if attempt:
                self.outcome.retries += 1
            try:
                reply = await self.host.request_from_hub(Ota.cluster_id, request, tsn, BLOCK_TIMEOUT_S)
            except TimeoutError:
                continue  # re-send the very same frame (same TSN, same offset)
            rsp = reply.payload
            if reply.name != "image_block_response":
                continue
            if rsp.status == Status.SUCCESS:
                if not self._store(offer, rsp):
                    await self._abort(offer, "block response does not match the request")
                    return False
                await self._process()
                return True
            if rsp.status == Status.WAIT_FOR_DATA:
                wait = max(int(rsp.request_time) - int(rsp.current_time), 0)
                await asyncio.sleep(wait or int(rsp.minimum_block_period) / 1000)
                return True
            await self._abort(
                offer, f"server answered a block request with {Status(rsp.status).name}", send=False
            )
            return False
        await self._abort(
            offer, f"no block response at offset {self.file_offset} after {BLOCK_RETRIES + 1} requests"
        )
        return False

    async def _fetch_page(self, offer: Any) -> bool:
        ident = self.identity
        tsn = self.host.next_tsn()
        page_end = min(self.file_offset + ident.page_size, int(offer.image_size))
        self._page_queue = asyncio.Queue()
        manufacturer_code, image_type = self._asks_as(offer)
        request = zcl_cluster_command(
            Ota,
            tsn,
            "image_page",
            server_to_client=False,
            field_control=0,
            manufacturer_code=manufacturer_code,
            image_type=image_type,
            file_version=offer.file_version,
            file_offset=self.file_offset,
            maximum_data_size=ident.max_data_size,
            page_size=ident.page_size,
            response_spacing=ident.min_block_period_ms,
        )
        start = self.file_offset
        await self.host.send_to_hub(Ota.cluster_id, request)
        while self.file_offset < page_end:
            try:
                async with asyncio.timeout(PAGE_TIMEOUT_S):
                    rsp = await self._page_queue.get()
            except TimeoutError:
                break
            if rsp.status != Status.SUCCESS:
                await self._abort(
                    offer, f"server answered a page request with {Status(rsp.status).name}", send=False
                )
                return False
            if int(rsp.file_offset) != self.file_offset:
                continue  # a block out of order: the client asks again from its offset
            if not self._store(offer, rsp):
                await self._abort(offer, "block response does not match the request")
                return False
        if self.file_offset == start:
            self.outcome.retries += 1
            if self.outcome.retries > BLOCK_RETRIES:
                await self._abort(offer, f"no page data at offset {start}")
                return False
        await self._process()
        return True

    async def _process(self) -> None:
        if self.identity.processing_s:
            await asyncio.sleep(self.identity.processing_s)

    async def _abort(self, offer: Any, reason: str, *, send: bool = True) -> None:
        LOGGER.debug("OTA download abandoned: %s", reason)
        self.outcome.status = EndStatus.ABORT
        self.outcome.reason = reason
        self.status = UpgradeStatus.Normal
        self._buffer.erase()
        self.file_offset = 0
        if send:
            await self._upgrade_end(offer, EndStatus.ABORT, expect_reply=False)

    # ------------------------------------------------------------------ verification and activation
    def verify(self, offer: Any, data: bytes) -> ReceivedImage:
        """Check a complete image; raise :class:`ImageRejected` saying why it is refused."""
        image = read_received_image(data)
        self.check(offer, image, len(data))
        return image

    def check(self, offer: Any, image: ReceivedImage, received: int) -> None:
        """The checks a ZCL client makes: size, identity, hardware version, integrity code."""
        if received != offer.image_size:
            raise ImageRejected(f"{received} octets received of {int(offer.image_size)} offered")
        if (image.manufacturer_code, image.image_type, image.file_version) != (
                offer.manufacturer_code, offer.image_type, offer.file_version):
            raise ImageRejected(f"header identity 0x{image.manufacturer_code:04x}/0x{image.image_type:04x}/"
                                f"0x{image.file_version:08x} differs from the offered image")
        if (image.manufacturer_code, image.image_type) != (self.identity.manufacturer_code,
                                                           self.identity.image_type):
            raise ImageRejected(f"image 0x{image.manufacturer_code:04x}/0x{image.image_type:04x} is not for "
                                f"this device")
        hw = self.identity.hardware_version
        if image.hardware_range is not None and not image.hardware_range[0] <= hw <= image.hardware_range[1]:
            low, high = image.hardware_range
            raise ImageRejected(f"hardware version {hw} outside {low}..{high}")
        if image.integrity_code is not None:
            assert image.integrity_covered is not None
            if len(image.integrity_code) != INTEGRITY_CODE_SIZE or \
                    aes_mmo_hash_of(image.integrity_covered) != image.integrity_code:
                raise ImageRejected("integrity code does not match the image")

    async def _finish(self, offer: Any) -> None:
        data = self._buffer.read()
        self._buffer.erase()
        try:
            sha256 = hashlib.sha256(data).hexdigest() if self.permissive else self.verify(offer, data).sha256
        except ImageRejected as exc:
            LOGGER.debug("OTA image refused: %s", exc)
            self.outcome.status = EndStatus.INVALID_IMAGE
            self.outcome.reason = str(exc)
            self.status = UpgradeStatus.Normal
            self.file_offset = 0
            await self._upgrade_end(offer, EndStatus.INVALID_IMAGE, expect_reply=False)
            return
        self.held = HeldImage(int(offer.file_version), sha256)
        self.downloaded_file_version = int(offer.file_version)
        self.status = UpgradeStatus.Download_complete
        self.outcome.status = EndStatus.SUCCESS
        reply = await self._upgrade_end(offer, EndStatus.SUCCESS, expect_reply=True)
        if reply is None:
            # no answer: ZCL says keep the image and wait for an upgrade command
            self.status = UpgradeStatus.Waiting_to_upgrade
            return
        self._schedule_activation(int(reply.current_time), int(reply.upgrade_time))

    async def _upgrade_end(self, offer: Any, status: EndStatus, *, expect_reply: bool) -> Any | None:
        tsn = self.host.next_tsn()
        data = zcl_cluster_command(
            Ota,
            tsn,
            "upgrade_end",
            server_to_client=False,
            status=Status(status),
            manufacturer_code=self._asks_as(offer)[0],
            image_type=self._asks_as(offer)[1],
            file_version=offer.file_version,
        )
        if not expect_reply:
            await self.host.send_to_hub(Ota.cluster_id, data)
            return None
        try:
            reply = await self.host.request_from_hub(Ota.cluster_id, data, tsn, UPGRADE_END_TIMEOUT_S)
        except TimeoutError:
            return None
        return reply.payload if reply.name == "upgrade_end_response" else None

    def _schedule_activation(self, current_time: int, upgrade_time: int) -> None:
        if self._activation is not None:
            self._activation.cancel()
            self._activation = None
        if upgrade_time == WAIT_FOR_UPGRADE:
            self.status = UpgradeStatus.Waiting_to_upgrade
            return
        if upgrade_time == 0:
            delay = 0.0
        elif current_time == 0:
            delay = float(upgrade_time)  # ZCL: with no current time, upgrade time is an offset
        else:
            delay = float(max(upgrade_time - current_time, 0))
        self.status = UpgradeStatus.Count_down
        loop = asyncio.get_running_loop()
        self._activation = loop.call_later(delay, lambda: loop.create_task(self.activate()))

    async def activate(self) -> None:
        """Run the held image: reboot into it (leave, rejoin) and report the new version."""
        if self.held is None:
            return
        self._activation = None
        version = self.held.file_version
        self.status = UpgradeStatus.Normal
        self.current_file_version = version
        self.downloaded_file_version = None
        self.file_offset = 0
        await self.host.reboot_into(version)

    def activate_by_hash(self, sha256_hex: str) -> ActivationResult:
        """GBCS-style activation: run the held image if its manufacturer-image hash matches."""
        if self.held is None:
            return ActivationResult.NO_IMAGE_HELD
        if self.held.manufacturer_image_sha256 != sha256_hex.lower():
            return ActivationResult.HASH_MISMATCH
        asyncio.get_running_loop().create_task(self.activate())
        return ActivationResult.SUCCESS


class GbcsOtaClient(ZclOtaClient):
    """A GB device's client: a ZCL client that also demands the Supplier's signature over the
    manufacturer image when it holds the Supplier's public key (ECDSA P-256 / SHA-256, raw r||s)."""

    profile = "gbcs"

    def __init__(
        self,
        host: OtaHost,
        identity: OtaIdentity,
        current_file_version: int,
        supplier_public_key: bytes | None = None,
    ) -> None:
        super().__init__(host, identity, current_file_version)
        self.supplier_public_key = supplier_public_key

    def check(self, offer: Any, image: ReceivedImage, received: int) -> None:
        super().check(offer, image, received)
        if self.supplier_public_key is None:
            return
        if image.signature is None:
            raise ImageRejected("supplier-signature: the image carries no Supplier signature")
        key = load_public_key(self.supplier_public_key, name="supplier key")
        if not signature_verifies(key, image.manufacturer_image, image.signature):
            raise ImageRejected("supplier-signature: the Supplier signature over the Manufacturer Image "
                                "does not verify")


OTA_CLIENTS: dict[str, type[ZclOtaClient]] = {"zcl": ZclOtaClient, "gbcs": GbcsOtaClient}
