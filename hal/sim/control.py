"""``HanControl``: the simulator control protocol (``hal.simcontrol.SimControl``) over one VirtualHan.

The ``sim://`` radio (``SimApplication.control``) hands this out; it is the only way code above ``hal``
drives the simulated PAN's faults, storms, clocks and frame trace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import zigpy.types as zigpy_t

from ..capture import DeviceCapture
from .config import ClockMode, FaultSpec
from .devices import REBOOT_S, VirtualDevice
from .exceptions import SimStateError
from .han import VirtualHan
from .wire import TraceRecord


class HanControl:
    """Faults, storms, clocks and the frame trace of one simulated PAN (see ``hal.simcontrol``)."""

    def __init__(self, han: VirtualHan) -> None:
        self._han = han

    def _device(self, eui64: str) -> VirtualDevice:
        device = self._han.devices.get(zigpy_t.EUI64.convert(eui64))
        if device is None:
            raise SimStateError(f"simulated HAN: {eui64} is not a device of the simulated PAN")
        return device

    def has_device(self, eui64: str) -> bool:
        return zigpy_t.EUI64.convert(eui64) in self._han.devices

    def bench(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        han = self._han
        return han.settings.seed, tuple((spec.role.value, str(spec.eui64)) for spec in han.config.devices)

    # ---------------------------------------------------------------- faults
    def inject(self, fault: FaultSpec) -> None:
        self._han.inject(fault)

    async def reboot(self, eui64: str, off_s: float | None = None) -> None:
        await self._device(eui64).reboot(REBOOT_S if off_s is None else off_s)

    def leave(self, eui64: str) -> None:
        self._device(eui64).leave()

    def unplug(self) -> None:
        self._han.unplug()

    def replug(self) -> None:
        self._han.replug()

    # ---------------------------------------------------------------- storms
    async def alert_storm(self, eui64: str, alarm_code: int, rate_hz: float, duration_s: float) -> int:
        device = self._device(eui64)
        loop = asyncio.get_running_loop()
        end = loop.time() + duration_s
        sent = 0
        while loop.time() < end:
            await device.alarms.send(alarm_code, device.alarm_source_cluster())
            sent += 1
            await asyncio.sleep(1.0 / rate_hz)
        return sent

    # ---------------------------------------------------------------- clocks
    def utc_now(self) -> dt.datetime:
        han = self._han
        if not han.started:  # not powered yet: the PAN has no time of its own
            return dt.datetime.now(dt.UTC)
        start = dt.datetime.fromisoformat(han.settings.start_time).astimezone(dt.UTC)
        return start + dt.timedelta(seconds=han.loop_time())

    def device_clock(self, eui64: str) -> int:
        return self._device(eui64).utc_now()

    def set_device_clock(self, eui64: str, utc: int, drift_s_per_hour: float | None = None) -> None:
        device = self._device(eui64)
        device.clock.set(utc)
        if drift_s_per_hour is not None:
            device.clock.drift_s_per_hour = drift_s_per_hour

    async def set_device_clock_mode(self, eui64: str, mode: str) -> None:
        device = self._device(eui64)
        clock = device.clock
        clock.mode = ClockMode(mode)
        clock.drift_s_per_hour = 0.0
        if clock.mode is ClockMode.UNSYNCHRONISED:
            clock.set(int(zigpy_t.UTCTime.from_datetime(self.utc_now())) - 365 * 86400)
            clock.synchronised = False
        elif clock.syncs and not await clock.sync():
            raise TimeoutError(f"device {eui64}: the hub did not answer its Time read")

    # ---------------------------------------------------------------- frame trace
    def trace_mark(self) -> int:
        return self._han.trace.total

    def capture_device(self, eui64: str) -> DeviceCapture:
        return DeviceCapture(self._han, self._device(eui64).ieee)

    def frames(self, eui64: str | None = None, since: int = 0) -> Sequence[TraceRecord]:
        frames = self._han.trace.since(since)  # a bounded ring: the most recent frames (hal/sim/trace.py)
        if eui64 is None:
            return frames
        nwk = self._device(eui64).nwk
        return [f for f in frames if nwk in (f.src, f.dst)]
