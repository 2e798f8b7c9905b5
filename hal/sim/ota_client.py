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
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from ota import Image, ImageError, Outcome, load_public_key, read_image, verify_image

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
GBCS_SIGNATURE_SIZE = 64
MINIMUM_HEADER_LENGTH = 56  # ZCL 11.4.2: the header without optional fields


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
    """A complete, verified image waiting to be (or already) activated."""

    file_version: int
    data: bytes
    manufacturer_image_sha256: str


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
        self._buffer = bytearray()
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
        if rsp.manufacturer_code != ident.manufacturer_code or rsp.image_type != ident.image_type:
            # a real client never downloads an image made for another product
            self.outcome = OtaOutcome(
                reason=f"offered image 0x{rsp.manufacturer_code:04x}/"
                f"0x{rsp.image_type:04x} is not for this device"
            )
            return None
        if rsp.file_version == self.current_file_version:
            # already running it: clients do not re-flash the same version (downgrades are the server's call)
            version = int(rsp.file_version)
            self.outcome = OtaOutcome(reason=f"offered version 0x{version:08x} is already running")
            return None
        if rsp.image_size < MINIMUM_HEADER_LENGTH:
            self.outcome = OtaOutcome(reason=f"offered image size {rsp.image_size} is too small")
            return None
        return rsp

    async def download(self, offer: Any) -> None:
        """Fetch every block of ``offer`` and finish with an Upgrade End Request."""
        resuming = (
            self.outcome.file_version == int(offer.file_version)
            and len(self._buffer) == int(offer.image_size)
            and 0 < self.file_offset < len(self._buffer)
        )
        self.outcome = OtaOutcome(file_version=int(offer.file_version))
        if not resuming:
            self._buffer = bytearray(int(offer.image_size))
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
        self._buffer[start : start + len(data)] = data
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
        return zcl_cluster_command(
            Ota,
            tsn,
            "image_block",
            server_to_client=False,
            field_control=control,
            manufacturer_code=ident.manufacturer_code,
            image_type=ident.image_type,
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
        request = zcl_cluster_command(
            Ota,
            tsn,
            "image_page",
            server_to_client=False,
            field_control=0,
            manufacturer_code=ident.manufacturer_code,
            image_type=ident.image_type,
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
        self._buffer = bytearray()
        self.file_offset = 0
        if send:
            await self._upgrade_end(offer, EndStatus.ABORT, expect_reply=False)

    # ------------------------------------------------------------------ verification and activation
    def verify(self, offer: Any, data: bytes) -> str | None:
        """Check a complete image; return why it is refused, or None when it is good."""
        try:
            image = read_image(data, name=f"image 0x{int(offer.file_version):08x}")
        except ImageError as exc:
            return str(exc)
        return self.check(offer, image, len(data))

    def check(self, offer: Any, image: Image, received: int) -> str | None:
        """The checks a ZCL client makes: size, identity, hardware version, integrity code."""
        ident = image.identity
        if len(image.data) != received or received != offer.image_size:
            return f"total size {len(image.data)} != {received} received of {int(offer.image_size)} offered"
        if (ident.manufacturer_code, ident.image_type, ident.file_version) != (
            offer.manufacturer_code,
            offer.image_type,
            offer.file_version,
        ):
            return "header identity differs from the offered image"
        hw = self.identity.hardware_version
        if ident.hw_min is not None and ident.hw_max is not None and not ident.hw_min <= hw <= ident.hw_max:
            return f"hardware version {hw} outside {ident.hw_min}..{ident.hw_max}"
        return self._failed(verify_image(image), ("size", "integrity-code"))

    @staticmethod
    def _failed(report: Any, names: tuple[str, ...], *, required: tuple[str, ...] = ()) -> str | None:
        for check in report.checks:
            if check.name in names and check.outcome is Outcome.FAIL:
                return f"{check.name}: {check.message}"
            if check.name in required and check.outcome is not Outcome.PASS:
                return f"{check.name}: {check.message}"
        return None

    async def _finish(self, offer: Any) -> None:
        data = bytes(self._buffer)
        problem = self.verify(offer, data)
        self._buffer = bytearray()
        if problem is not None:
            LOGGER.debug("OTA image refused: %s", problem)
            self.outcome.status = EndStatus.INVALID_IMAGE
            self.outcome.reason = problem
            self.status = UpgradeStatus.Normal
            self.file_offset = 0
            await self._upgrade_end(offer, EndStatus.INVALID_IMAGE, expect_reply=False)
            return
        self.held = HeldImage(int(offer.file_version), data, read_image(data).sha256)
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
            manufacturer_code=self.identity.manufacturer_code,
            image_type=self.identity.image_type,
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

    def check(self, offer: Any, image: Image, received: int) -> str | None:
        problem = super().check(offer, image, received)
        if problem is not None or self.supplier_public_key is None:
            return problem
        key = load_public_key(self.supplier_public_key, name="supplier key")
        report = verify_image(image, public_key=key)
        return self._failed(report, (), required=("supplier-signature",))


OTA_CLIENTS: dict[str, type[ZclOtaClient]] = {"zcl": ZclOtaClient, "gbcs": GbcsOtaClient}
