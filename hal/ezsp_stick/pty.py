"""The virtual stick on a pseudo-terminal: one ASH link and one EZSP NCP behind a ``/dev/pts/N`` path.

Owns the pty pair (kept open on both ends, so a host can close and reopen the port), the read/write
plumbing between the master side and :class:`~hal.ezsp_stick.ash.AshNcp`, the UART baud-rate check
(a host that opens the port at another rate receives, and sends, garbage, as on real hardware) and
the stick-level faults (NCP reset). A host such as bellows opens the slave path like any serial port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import termios
import time
import tty
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t

from .ash import AshNcp, resample_uart
from .exceptions import StickConfigError, StickPortError
from .ncp import DEFAULT_VERSION, EzspNcp, HanPort

LOGGER = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
READ_CHUNK = 4096

# termios speed constants to bits per second, for the rates this platform names
_SPEEDS: dict[int, int] = {
    getattr(termios, f"B{rate}"): rate
    for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000)
    if hasattr(termios, f"B{rate}")
}


def speed_constant(baudrate: int) -> int:
    """The termios constant for ``baudrate``; the stick only runs at rates termios can name."""
    for constant, rate in _SPEEDS.items():
        if rate == baudrate:
            return constant
    rates = ", ".join(map(str, sorted(_SPEEDS.values())))
    raise StickConfigError(f"ezsp stick: baud rate {baudrate} not supported (choose from {rates})")


@dataclasses.dataclass
class PortStats:
    """What the port saw: rate mismatches are counted here, frame-level events in the ASH stats."""

    garbled_reads: int = 0
    dropped_writes: int = 0
    host_baudrate: int | None = None


class VirtualStick:
    """An EZSP stick on a pty, backed by ``han``. ``await start()`` returns the port path."""

    def __init__(self, han: HanPort, *, baudrate: int = DEFAULT_BAUDRATE, version: int = DEFAULT_VERSION,
                 ieee: zigpy_t.EUI64 | None = None, power_up_han: bool = False, xncp: bool = True) -> None:
        self._speed = speed_constant(baudrate)
        self.baudrate = baudrate
        model = getattr(han, "model", None)
        if model is not None and getattr(model, "host_link_baudrate", 0):
            # the stick clocks the UART itself: the PAN must not charge the host link a second time
            LOGGER.info("ezsp stick: [sim] host_link_baudrate %d ignored, the stick's UART runs at %d",
                        model.host_link_baudrate, baudrate)
            han.model = dataclasses.replace(model, host_link_baudrate=0)  # type: ignore[attr-defined]
        self.ash = AshNcp(write=self._write, deliver=self._deliver, on_reset=self._ncp_reset,
                          baudrate=baudrate, classify=self._frame_name)
        self.ncp = EzspNcp(han, send=self.ash.send, version=version, ieee=ieee, power_up_han=power_up_han,
                           xncp=xncp)
        self.ncp.on_power = self.ash.power
        self.port = PortStats()
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self._warned_rate: int | None = None

    def counters(self) -> dict[str, Any]:
        """What the stick counted so far: ASH frames and wire bytes per label in each direction, how many
        UART timers fired and how late in total, the stick process's CPU time, and the NCP's counters
        (``hanrig sim stick --stats``, the OTA benchmark)."""
        ash = self.ash.stats
        return {"frames_to_ncp": dict(ash.count_in), "frames_to_host": dict(ash.count_out),
                "bytes_to_ncp": dict(ash.wire_in), "bytes_to_host": dict(ash.wire_out),
                "uart_timers": ash.uart_timers, "uart_late_us": ash.uart_late_us,
                "process_cpu_s": time.process_time(), "ncp": dataclasses.asdict(self.ncp.stats)}

    async def start(self) -> str:
        try:
            master, slave = os.openpty()
        except OSError as exc:
            raise StickPortError(f"ezsp stick: cannot open a pseudo-terminal: {exc.strerror}") from exc
        # raw, 8N1 at the stick's rate, so nothing is echoed or translated before a host configures it
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = self._speed
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._readable)
        return self._start_layers()

    async def stop(self) -> None:
        await self._stop_layers()
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)  # type: ignore[arg-type]
            self._master = self._slave = None

    def _start_layers(self) -> str:
        """Start ASH and the NCP once the port (pty or TCP listener) exists at ``self.path``."""
        self.ash.start()
        self.ncp.start()
        LOGGER.info("ezsp stick: EZSPv%d NCP on %s at %d baud", self.ncp.version, self.path, self.baudrate)
        return self.path  # type: ignore[return-value]

    async def _stop_layers(self) -> None:
        await self.ncp.stop()
        await self.ash.stop()

    async def __aenter__(self) -> VirtualStick:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def reset(self, code: t.NcpResetCode = t.NcpResetCode.RESET_WATCHDOG) -> None:
        """Fault: the NCP resets by itself mid-run (watchdog): state lost, RSTACK sent unasked."""
        self.ash.ncp_reset(code)

    def host_baudrate(self) -> int | None:
        """The rate the host has set on its end of the port (None if termios cannot name it)."""
        if self._slave is None:
            return None
        return _SPEEDS.get(termios.tcgetattr(self._slave)[4])

    # ---- plumbing

    def _readable(self) -> None:
        try:
            data = os.read(self._master, READ_CHUNK)  # type: ignore[arg-type]
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            LOGGER.warning("ezsp stick: read from the pty failed: %s", exc.strerror)
            return
        host_rate = self.host_baudrate()
        self.port.host_baudrate = host_rate
        if host_rate is not None and host_rate != self.baudrate:
            self.port.garbled_reads += 1
            if self._warned_rate != host_rate:
                self._warned_rate = host_rate
                LOGGER.warning("ezsp stick: host opened %s at %d baud but the stick runs at %d baud:"
                               " every byte is garbled", self.path, host_rate, self.baudrate)
            data = resample_uart(data, host_rate, self.baudrate)
        self.ash.feed(data)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        host_rate = self.host_baudrate()
        if host_rate is not None and host_rate != self.baudrate:
            data = resample_uart(data, self.baudrate, host_rate)
        try:
            os.write(self._master, data)
        except (BlockingIOError, OSError) as exc:
            # nobody is reading the port and its buffer is full: a UART drops the bytes too
            self.port.dropped_writes += 1
            LOGGER.debug("ezsp stick: dropped %d bytes: %s", len(data), exc)

    def _frame_name(self, payload: bytes) -> str:
        return self.ncp.frame_name(payload)

    def _deliver(self, frame: bytes) -> None:
        self.ncp.frame_received(frame)

    def _ncp_reset(self, code: t.NcpResetCode) -> None:
        self.ncp.reset(code)
