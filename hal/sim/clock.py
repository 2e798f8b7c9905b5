"""A virtual device's own clock, a component of ``VirtualDevice`` (as DRLC and tenancy are).

The clock runs from the bench's ``start_time`` on the PAN's (virtual) time: utc = base + (PAN time -
anchor) * (1 + drift). ``[devices.sim] clock`` says what kind it is: ``synchronised`` (reads the hub's
Time server after ``time_sync_delay_s``, retries every 30 s until it gets an answer, then once a day),
``drifting`` (synchronised once, then runs fast by ``drift_s_per_hour``), ``unsynchronised`` (never set)
or ``absent`` (reads 0xFFFFFFFF). Its TimeStatus says Synchronized only while a synchronised clock has been
set by the hub. The GSME's timestamps and time status (what the GPF classifies under SECMP0015) come from
here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol

import zigpy.types as zigpy_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Time

from .config import ClockMode
from .wire import ZclFrame, zcl_general

TIME_RESYNC_S = 86400.0  # a synchronised device re-reads the hub's time once a day
TIME_RETRY_S = 30.0  # ... and retries this soon when the hub did not answer
ABSENT = 0xFFFFFFFF  # ZCL UTCTime "invalid": what a device without a clock reports


class ClockHost(Protocol):
    """What the clock needs from its device."""

    def loop_time(self) -> float: ...
    def next_tsn(self) -> int: ...
    def random(self) -> float: ...
    async def request_from_hub(self, cluster_id: int, data: bytes, tsn: int, timeout: float) -> ZclFrame: ...


class DeviceClock:
    """One device's clock (see the module docstring)."""

    def __init__(self, host: ClockHost, mode: ClockMode, start_time: str, *, drift_s_per_hour: float = 0.0,
                 time_sync_delay_s: float = 60.0) -> None:
        self.host = host
        self.mode = mode
        self.base: float = float(zigpy_t.UTCTime.from_datetime(dt.datetime.fromisoformat(start_time)))
        self.anchor: float = 0.0
        self.drift_s_per_hour = drift_s_per_hour if mode is ClockMode.DRIFTING else 0.0
        self.synchronised = False
        self.time_sync_delay_s = time_sync_delay_s

    def utc_now(self) -> int:
        """The clock as ZCL UTCTime; 0xFFFFFFFF when the device has no clock."""
        if self.mode is ClockMode.ABSENT:
            return ABSENT
        elapsed = self.host.loop_time() - self.anchor
        return int(self.base + elapsed * (1.0 + self.drift_s_per_hour / 3600.0))

    def set(self, utc: int) -> None:
        """Set the clock (from the hub's time, or a fault re-anchoring a drift)."""
        self.base = float(utc)
        self.anchor = self.host.loop_time()
        self.synchronised = True

    def status(self) -> Time.TimeStatus:
        status = Time.TimeStatus(0)
        if self.synchronised and self.mode is ClockMode.SYNCHRONISED:
            status |= Time.TimeStatus.Synchronized
        return status

    @property
    def syncs(self) -> bool:
        """Whether the clock reads the hub's time (synchronised and drifting clocks do)."""
        return self.mode in (ClockMode.SYNCHRONISED, ClockMode.DRIFTING)

    async def sync_loop(self) -> None:
        """The device's behaviour: read the hub's time after the start-up delay, then daily."""
        await asyncio.sleep(self.time_sync_delay_s * (1.0 + self.host.random()))
        while True:
            # a device whose read went unanswered (e.g. the hub was still interviewing it) asks again
            # soon, as real firmware does, rather than running unsynchronised until tomorrow
            synced = await self.sync() if self.syncs else True  # a clock put out of sync stays so
            await asyncio.sleep(TIME_RESYNC_S if synced else TIME_RETRY_S)

    async def sync(self) -> bool:
        """Read the hub's Time cluster (time, time status) and set the clock from it."""
        tsn = self.host.next_tsn()
        data = zcl_general(
            tsn,
            foundation.GeneralCommand.Read_Attributes,
            server_to_client=False,
            disable_default_response=False,
            attribute_ids=[Time.AttributeDefs.time.id, Time.AttributeDefs.time_status.id],
        )
        try:
            reply = await self.host.request_from_hub(Time.cluster_id, data, tsn, 10.0)
        except TimeoutError:
            return False
        records: Any = getattr(reply.payload, "status_records", [])
        for record in records:
            if record.attrid == Time.AttributeDefs.time.id and record.status == foundation.Status.SUCCESS:
                self.set(int(record.value.value))
                return True
        return False
