"""OTA campaigns: many devices, one or more radios, each device driven to a final outcome.

A :class:`Campaign` takes :class:`CampaignTarget`\\ s (a device on a radio's :class:`~ota.server.OtaServer`
and the :class:`~ota.server.Offer` for it), runs them all at once and returns one :class:`DeviceOutcome`
per device, coded with a :class:`~ota.outcomes.Reason` and, from the one table in ``ota/outcomes.py``,
the hub's Firmware Transfer Alert response code (CCS08): success, image discarded, hardware-version
mismatch, file transfer failure. Per device it offers the image, sends
Image Notify, follows the transfer, re-notifies a device that stops making progress (it rebooted, the
stick was unplugged, it aborted), and after ``retries`` fruitless attempts reports a transfer failure:
no device is ever left "in progress". After a successful download it follows the activation plan
(now / at a UTC time / hold) and, when the device activates, verifies that it rejoined and reports the
new firmware version.

Fairness between devices of one radio is the server's (FIFO turns for responses); the campaign only
bounds how many devices per radio download at once (``max_concurrent``, the rig's
``max_concurrent_duts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any

import zigpy.exceptions
from zigpy.zcl import ClusterType
from zigpy.zcl.clusters.general import Ota

from .outcomes import Reason, TransferAlert, alert_for
from .server import SEND_ERRORS, Activation, Offer, OtaServer, ProgressSample, Status, Transfer, TransferState

LOGGER = logging.getLogger(__name__)

STALL_S = 60.0  # no block served for this long: the device is re-notified (a retry)
RETRIES = 3  # re-notifications without progress before a device is reported as a transfer failure
MAX_ATTEMPTS_FACTOR = 4  # attempts with progress (aborted, restarted) are bounded too
VERIFY_TIMEOUT_S = 180.0  # after activation: time for the device to reboot, rejoin and report
VERIFY_POLL_S = 2.0
READ_TIMEOUT_S = 30.0
AT_WAIT_LIMIT_S = 3600.0  # an ``at:`` activation further away than this is reported as scheduled
THROUGHPUT_WINDOW_S = 5.0  # minimum throughput is the slowest such window of the transfer


class Phase(enum.StrEnum):
    """Where a device ended up. Every outcome has one of these; none is "in progress"."""

    REFUSED = "refused"  # refused before a byte was sent
    FAILED = "failed"  # the transfer or the activation failed
    ACTIVATED = "activated"  # runs the new image (verified)
    HELD = "held"  # holds the image, waiting for an activate command
    SCHEDULED = "scheduled"  # holds the image and activates at a UTC time beyond the wait limit
    UP_TO_DATE = "up-to-date"  # nothing newer to offer (no image was named): not a failure


@dataclasses.dataclass
class DeviceOutcome:
    """One device's result, as the CLI prints it and the rig runner records it."""

    eui64: str
    device_id: str
    role: str | None
    radio_id: str
    phase: Phase
    code: TransferAlert | None  # CCS08, from OUTCOME_CODES[reason_code]; None when no transfer was due
    reason: str
    version_before: int | None
    version_after: int | None = None
    image_version: int | None = None
    image_sha256: str | None = None  # SHA-256 of the manufacturer image (the Activate Firmware hash)
    image_file: str | None = None
    image_size: int = 0
    bytes_sent: int = 0
    blocks: int = 0
    duration_s: float | None = None
    mean_bps: float | None = None
    min_bps: float | None = None
    retries: int = 0
    activation: str = "now"
    activation_time: str | None = None  # UTC ISO 8601: when the device was told to run the image
    rejoined: bool | None = None
    unreachable: bool = False
    reason_code: Reason | None = None  # why: one row of ota.outcomes.OUTCOME_CODES
    zcl_status: int | None = None  # the device's Upgrade End Request status, when it sent one
    samples: list[tuple[float, int]] = dataclasses.field(default_factory=list, repr=False)

    def because(self, reason_code: Reason, reason: str) -> DeviceOutcome:
        """Set the reason (code and text) and the CCS08 code the table gives it."""
        self.reason_code = reason_code
        self.code = alert_for(reason_code)
        self.reason = reason
        return self

    @property
    def ok(self) -> bool:
        return self.phase in (Phase.ACTIVATED, Phase.HELD, Phase.SCHEDULED, Phase.UP_TO_DATE)

    def to_json(self) -> dict[str, Any]:
        def version(value: int | None) -> str | None:
            return None if value is None else f"0x{value:08x}"

        return {
            "device": self.device_id, "eui64": self.eui64, "role": self.role, "radio": self.radio_id,
            "phase": self.phase.value, "ok": self.ok,
            "code": None if self.code is None else self.code.label,
            "code_int": None if self.code is None else int(self.code), "reason": self.reason,
            "reason_code": None if self.reason_code is None else self.reason_code.value,
            "zcl_status": None if self.zcl_status is None else f"0x{self.zcl_status:02x}",
            "zcl_status_int": self.zcl_status,
            "version_before": version(self.version_before), "version_before_int": self.version_before,
            "version_after": version(self.version_after), "version_after_int": self.version_after,
            "image_version": version(self.image_version), "image_version_int": self.image_version,
            "image_sha256": self.image_sha256, "image_file": self.image_file, "image_size": self.image_size,
            "bytes_sent": self.bytes_sent, "blocks": self.blocks,
            "duration_s": _round(self.duration_s), "mean_bps": _round(self.mean_bps),
            "min_bps": _round(self.min_bps), "retries": self.retries, "activation": self.activation,
            "activation_time": self.activation_time, "rejoined": self.rejoined,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclasses.dataclass
class CampaignTarget:
    """A device to update: where it is, what it gets, what it ran before."""

    server: OtaServer
    device: Any  # zigpy Device
    offer: Offer
    device_id: str
    role: str | None
    radio_id: str
    version_before: int | None
    min_block_period_ms: int = 0

    @property
    def eui64(self) -> str:
        return str(self.device.ieee)


def refused(eui64: str, device_id: str, role: str | None, radio_id: str, reason_code: Reason, reason: str,
            *, phase: Phase = Phase.REFUSED, version_before: int | None = None, unreachable: bool = False,
            activation: str = "now") -> DeviceOutcome:
    """The outcome of a device that was not sent a byte (refused, unreachable or already up to date)."""
    return DeviceOutcome(
        eui64=eui64, device_id=device_id, role=role, radio_id=radio_id, phase=phase, code=None, reason="",
        version_before=version_before, version_after=version_before if phase is Phase.UP_TO_DATE else None,
        unreachable=unreachable, activation=activation).because(reason_code, reason)


def min_throughput(samples: Sequence[tuple[float, int]],
                   window_s: float = THROUGHPUT_WINDOW_S) -> float | None:
    """The slowest progress over consecutive ``window_s`` windows (the whole transfer if shorter)."""
    if len(samples) < 2:
        return None
    start, end = samples[0][0], samples[-1][0]
    if end - start <= 0:
        return None
    if end - start < 2 * window_s:
        return max(samples[-1][1] - samples[0][1], 0) / (end - start)
    worst: float | None = None
    index = 0
    window_start, window_offset = samples[0]
    while index < len(samples):
        time, offset = samples[index]
        if time - window_start >= window_s:
            rate = max(offset - window_offset, 0) / (time - window_start)
            worst = rate if worst is None else min(worst, rate)
            window_start, window_offset = time, offset
        index += 1
    return worst


class Campaign:
    """Run targets to outcomes (see the module docstring)."""

    def __init__(self, targets: Sequence[CampaignTarget], *, stall_s: float = STALL_S,
                 retries: int = RETRIES, verify_timeout_s: float = VERIFY_TIMEOUT_S,
                 at_wait_limit_s: float = AT_WAIT_LIMIT_S, max_concurrent: int | None = None,
                 on_progress: Callable[[ProgressSample], None] | None = None,
                 on_outcome: Callable[[DeviceOutcome], None] | None = None) -> None:
        self.targets = list(targets)
        self.stall_s = stall_s
        self.retries = retries
        self.verify_timeout_s = verify_timeout_s
        self.at_wait_limit_s = at_wait_limit_s
        self.on_progress = on_progress
        self.on_outcome = on_outcome
        self._limits: dict[int, asyncio.Semaphore] = {}
        self._max_concurrent = max_concurrent

    async def run(self) -> list[DeviceOutcome]:
        servers = {id(t.server): t.server for t in self.targets}
        if self.on_progress is not None:
            for server in servers.values():
                server.listeners.append(self.on_progress)
        try:
            return list(await asyncio.gather(*(self._run_limited(t) for t in self.targets)))
        finally:
            if self.on_progress is not None:
                for server in servers.values():
                    with contextlib.suppress(ValueError):
                        server.listeners.remove(self.on_progress)

    async def _run_limited(self, target: CampaignTarget) -> DeviceOutcome:
        if self._max_concurrent is None:
            outcome = await self.run_one(target)
        else:
            limit = self._limits.setdefault(id(target.server), asyncio.Semaphore(self._max_concurrent))
            async with limit:
                outcome = await self.run_one(target)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    # ------------------------------------------------------------------ one device
    async def run_one(self, target: CampaignTarget) -> DeviceOutcome:
        server, ieee, offer = target.server, target.device.ieee, target.offer
        outcome = DeviceOutcome(
            eui64=target.eui64, device_id=target.device_id, role=target.role, radio_id=target.radio_id,
            phase=Phase.FAILED, code=TransferAlert.FILE_TRANSFER_FAILURE, reason="",
            version_before=target.version_before, image_version=offer.file_version,
            image_sha256=offer.image.sha256, image_file=offer.image.name, image_size=offer.size,
            activation=str(offer.activation))
        transfer = server.offer(ieee, offer, min_block_period_ms=target.min_block_period_ms)
        attempts = fruitless = 0
        try:
            while True:
                blocks_before = transfer.blocks
                try:
                    await server.notify(target.device)
                except SEND_ERRORS as exc:
                    LOGGER.debug("%s: Image Notify not delivered: %s", target.eui64, exc)
                verdict = await self._follow(server, ieee, transfer)
                if verdict == "refused":
                    lane = server.lane(ieee)
                    outcome.because(lane.refusal_reason or Reason.HARDWARE_RANGE,
                                    lane.refusal or "refused by the server")
                    return self._finish(outcome, transfer)
                if verdict == "ended" and transfer.end_status == Status.SUCCESS:
                    break
                if verdict == "ended" and transfer.end_status == Status.INVALID_IMAGE:
                    outcome.zcl_status = int(Status.INVALID_IMAGE)
                    outcome.because(Reason.DEVICE_INVALID_IMAGE,
                                    "the device discarded the image (Upgrade End: INVALID_IMAGE)")
                    return self._finish(outcome, transfer)
                # only attempts that moved nothing count against the device: one that aborts after
                # progress (a lossy link) is asked again, up to MAX_ATTEMPTS_FACTOR times the retries
                attempts += 1
                fruitless = fruitless + 1 if transfer.blocks == blocks_before else 0
                if fruitless > self.retries or attempts > MAX_ATTEMPTS_FACTOR * (self.retries + 1):
                    if verdict == "ended":
                        outcome.zcl_status = transfer.end_status
                        outcome.because(Reason.DEVICE_ABORT,
                                        f"the device aborted the download {attempts} times "
                                        f"(last at offset {transfer.offset} of {transfer.size})")
                    else:
                        outcome.unreachable = True
                        outcome.because(Reason.TRANSFER_STALLED,
                                        f"no progress for {self.stall_s:.0f} s at offset {transfer.offset} "
                                        f"of {transfer.size} after {attempts} notifications")
                    return self._finish(outcome, transfer)
                transfer.retries += 1
                transfer.state = TransferState.OFFERED
                transfer.end_status = None
            outcome.zcl_status = int(Status.SUCCESS)
            outcome.code = TransferAlert.SUCCESS
            return await self._activate(target, outcome, transfer)
        finally:
            if outcome.phase not in (Phase.HELD, Phase.SCHEDULED):
                server.withdraw(ieee)  # a held image stays offered: the activate command names it

    async def _follow(self, server: OtaServer, ieee: Any, transfer: Transfer) -> str:
        """Wait until the transfer ends, the server refuses the device, or nothing happens for stall_s.

        Blocks do not wake this watcher (a campaign to hundreds of devices would wake it for every
        block): it sleeps until the end, a refusal, or ``stall_s`` after the latest of its own start, its
        last wake-up and the last block served."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            if transfer.state is TransferState.ENDED and transfer.end_status != Status.REQUIRE_MORE_IMAGE:
                return "ended"
            if server.lane(ieee).refusal is not None:
                return "refused"
            transfer.settled.clear()
            last_block = transfer.last_block_at
            try:
                async with asyncio.timeout_at(max(quiet_since, last_block or quiet_since) + self.stall_s):
                    await transfer.settled.wait()
                quiet_since = loop.time()
            except TimeoutError:
                if transfer.last_block_at == last_block:
                    return "stalled"

    def _finish(self, outcome: DeviceOutcome, transfer: Transfer) -> DeviceOutcome:
        outcome.bytes_sent = transfer.bytes_served
        outcome.blocks = transfer.blocks
        outcome.retries = transfer.retries
        outcome.samples = list(transfer.samples)
        if transfer.started_at is not None:
            end = transfer.ended_at if transfer.ended_at is not None else transfer.last_block_at
            if end is not None and end > transfer.started_at:
                outcome.duration_s = end - transfer.started_at
                done = transfer.size if transfer.end_status == Status.SUCCESS else transfer.offset
                outcome.mean_bps = done / outcome.duration_s
        outcome.min_bps = min_throughput(transfer.samples)
        if outcome.code is not TransferAlert.SUCCESS:
            outcome.phase = Phase.FAILED
        return outcome

    async def _activate(self, target: CampaignTarget, outcome: DeviceOutcome,
                        transfer: Transfer) -> DeviceOutcome:
        self._finish(outcome, transfer)
        server = target.server
        plan = target.offer.activation
        loop = asyncio.get_running_loop()
        if plan.mode is Activation.HOLD:
            outcome.phase = Phase.HELD
            outcome.because(Reason.HELD, "downloaded; held until 'hanrig ota activate'")
            outcome.version_after = outcome.version_before
            return outcome
        if plan.mode is Activation.AT:
            assert plan.at is not None
            outcome.activation_time = _iso(plan.at)
            delay = (plan.at - server.clock()).total_seconds()
            if delay > self.at_wait_limit_s:
                outcome.phase = Phase.SCHEDULED
                outcome.because(Reason.SCHEDULED, f"downloaded; activates at {outcome.activation_time}")
                outcome.version_after = outcome.version_before
                return outcome
            await asyncio.sleep(max(delay, 0.0))
        else:
            outcome.activation_time = _iso(server.clock())
        since = loop.time() if plan.mode is Activation.AT else (transfer.ended_at or loop.time())
        return await verify_activation(server, target.device, target.offer.file_version, outcome,
                                       since=since, timeout_s=self.verify_timeout_s)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def read_ota_attributes(device: Any, names: Sequence[str], *,
                              timeout_s: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """Read OTA client attributes of a zigpy device (uncached); raises TimeoutError/ZigbeeException."""
    try:
        cluster = device.find_cluster(cluster_id=Ota.cluster_id, cluster_type=ClusterType.Client)
    except ValueError:
        raise LookupError(f"{device.ieee} has no OTA Upgrade client") from None
    async with asyncio.timeout(timeout_s):
        success, _failure = await cluster.read_attributes(list(names), allow_cache=False)
    return dict(success)


async def verify_activation(server: OtaServer, device: Any, new_version: int, outcome: DeviceOutcome, *,
                            since: float, timeout_s: float = VERIFY_TIMEOUT_S) -> DeviceOutcome:
    """Wait until the device rejoined (announced after ``since``) and reports ``new_version``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    seen: int | None = None
    while loop.time() < deadline:
        rejoined = server.announced.get(device.ieee, float("-inf")) >= since
        if rejoined:
            try:
                values = await read_ota_attributes(device, ["current_file_version"],
                                                   timeout_s=max(1.0, deadline - loop.time()))
                seen = values.get("current_file_version", seen)
            except (TimeoutError, zigpy.exceptions.ZigbeeException, LookupError) as exc:
                LOGGER.debug("%s: version read after activation failed: %s", device.ieee, exc)
            if seen == new_version:
                outcome.version_after = int(seen)
                outcome.rejoined = True
                outcome.phase = Phase.ACTIVATED
                outcome.because(Reason.ACTIVATED, f"runs 0x{new_version:08x}")
                return outcome
        await asyncio.sleep(VERIFY_POLL_S)
    rejoined = server.announced.get(device.ieee, float("-inf")) >= since
    outcome.rejoined = rejoined
    outcome.version_after = None if seen is None else int(seen)
    outcome.phase = Phase.FAILED
    if not rejoined:
        outcome.because(Reason.ACTIVATION_FAILED, f"did not rejoin within {timeout_s:.0f} s of activation")
    else:
        shown = "nothing" if seen is None else f"0x{seen:08x}"
        outcome.because(Reason.ACTIVATION_FAILED,
                        f"rejoined but reports {shown}, expected 0x{new_version:08x}")
    return outcome
