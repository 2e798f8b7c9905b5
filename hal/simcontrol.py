"""The simulator control protocol: what a simulated radio offers and a real radio does not.

A ``sim://`` radio can be told to misbehave and asked what happened on the air: faults (frame drops,
reboots, leaves, an unplugged stick), alert storms, device clocks, and the frame trace of the PAN.
Code above ``hal`` reaches it only as ``gw.sim(radio_id)`` (the gateway asks :func:`sim_control`), which
is ``None`` on real hardware, so a step that needs the simulator skips or fails clearly there.
Over a virtual EZSP stick the same protocol crosses a side channel (``hal.simlink``: ``hanrig sim stick
--control PATH`` and ``ezsp:/dev/pts/N?sim_control=PATH``).
Devices are named by EUI-64 (``"00:0d:6f:00:0a:bc:00:03"``, any spelling zigpy's EUI64 accepts).

The implementation is :class:`hal.sim.control.HanControl`, over a :class:`~hal.sim.han.VirtualHan`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .capture import DeviceCapture
    from .sim.config import FaultSpec
    from .sim.wire import TraceRecord


class SimControl(Protocol):
    """Control of one simulated PAN (see the module docstring)."""

    # ---------------------------------------------------------------- devices
    def has_device(self, eui64: str) -> bool:
        """True when ``eui64`` is one of the PAN's virtual devices."""
        ...

    def bench(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        """What the bench was built from: its seed and each device's (role, EUI-64); the host derives the
        bench's TEST-ONLY PKI from them, as a lab knows the test PKI its meters were loaded with."""
        ...

    # ---------------------------------------------------------------- faults
    def inject(self, fault: FaultSpec) -> None:
        """Arm a fault now, as a rig file's ``[[faults]]`` entry would (``after_s`` counts from now)."""
        ...

    async def reboot(self, eui64: str, off_s: float | None = None) -> None:
        """Power-cycle a device: it is away ``off_s`` seconds, then rejoins and announces."""
        ...

    def leave(self, eui64: str) -> None:
        """The device leaves the network (NWK leave) and goes silent."""
        ...

    def unplug(self) -> None:
        """The coordinator's stick disappears; the radio library sees its connection drop."""
        ...

    def replug(self) -> None:
        """The stick comes back (it boots with a power-on reset)."""
        ...

    # ---------------------------------------------------------------- storms
    async def alert_storm(self, eui64: str, alarm_code: int, rate_hz: float, duration_s: float) -> int:
        """The device raises ZCL alarm ``alarm_code`` ``rate_hz`` times a second for ``duration_s``
        (PAN clock); returns how many it sent."""
        ...

    # ---------------------------------------------------------------- clocks
    def utc_now(self) -> dt.datetime:
        """The PAN's clock: the bench's start time plus the time the PAN has run."""
        ...

    def device_clock(self, eui64: str) -> int:
        """A device's own clock as ZCL UTCTime (0xFFFFFFFF when it has none)."""
        ...

    def set_device_clock(self, eui64: str, utc: int, drift_s_per_hour: float | None = None) -> None:
        """Set a device's clock (ZCL UTCTime) and, optionally, how fast it drifts from now on."""
        ...

    async def set_device_clock_mode(self, eui64: str, mode: str) -> None:
        """Put a device's clock in a GSME clock scenario (``hal.sim.config.ClockMode`` value):
        ``synchronised`` reads the hub's Time cluster now, over the air, and tracks it; ``unsynchronised``
        forgets the sync and runs from a year behind (as at boot); ``absent`` has no clock at all."""
        ...

    # ---------------------------------------------------------------- frame trace
    def trace_mark(self) -> int:
        """A position in the frame trace; :meth:`frames` returns what came after it."""
        ...

    def frames(self, eui64: str | None = None, since: int = 0) -> Sequence[TraceRecord]:
        """Frames on the air since ``since`` (a :meth:`trace_mark`), to or from ``eui64`` when given."""
        ...

    def capture_device(self, eui64: str) -> DeviceCapture:
        """Start recording the frames to and from ``eui64`` as pcapng (``DeviceCapture.stop()`` -> bytes)."""
        ...


def sim_control(app: Any) -> SimControl | None:
    """The control of the simulated PAN behind a started zigpy application: a ``sim://`` radio's own, the
    control link of a virtual stick opened with ``?sim_control=PATH``, or None for a real radio."""
    from .radio import sim_link
    from .sim.application import SimApplication

    if isinstance(app, SimApplication):
        return app.control
    return sim_link(app)
