"""The simulator control protocol across processes: the bench harness of a virtual EZSP stick.

A lab has a device-control harness beside each DUT (power, buttons, a way to make it raise alerts, its own
counters); the virtual stick's equivalent is this side channel. ``hanrig sim stick --control PATH``
serves the stick's simulated PAN's :class:`~hal.simcontrol.SimControl` on a Unix socket at PATH
(:class:`SimControlServer`), and an EZSP radio URL with ``?sim_control=PATH`` makes hanrig connect to
it when the radio opens (:class:`SimLink`), so ``gw.sim(radio)`` works over the stick as it does on
``sim://``. Radio traffic never goes this way: every frame still crosses bellows and the stick's UART.
The link only does what a bench operator does to a device (trigger a storm, set a fault or a clock,
power-cycle it, read what it sent and the frames on the air).

Wire: one JSON object per line each way. A request is ``{"op": NAME, "args": {...}}``; the answer is
``{"result": ...}`` or ``{"error": "one line"}``. Quick queries share one blocking connection (a local
round trip of well under a millisecond; the simulator answers them without touching the air). Operations
that take air time (an alert storm, a reboot, a clock sync over the air) each get their own asyncio
connection, so the host's event loop stays free to answer the devices meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

from .exceptions import RadioUnreachable
from .sim.config import Direction, FaultKind, FaultSpec
from .sim.exceptions import SimStateError
from .sim.wire import TraceRecord
from .simcontrol import SimControl

PROTOCOL: Final = "hanrig-simcontrol/1"
QUERY_TIMEOUT_S: Final = 10.0  # a quick query the stick does not answer in this long: the stick is gone
LINE_MAX: Final = 16 * 1024 * 1024  # a frames answer for a long step can be several MB of JSON


class SimLinkError(RadioUnreachable):
    """The stick's control link failed (not there, closed, or an answer that is not the protocol)."""


# ------------------------------------------------------------------------------------ encodings
def fault_to_wire(fault: FaultSpec) -> dict[str, Any]:
    return {key: (value.value if isinstance(value, (FaultKind, Direction)) else value)
            for key, value in dataclasses.asdict(fault).items()}


def fault_from_wire(data: dict[str, Any]) -> FaultSpec:
    fields = {f.name for f in dataclasses.fields(FaultSpec)}
    unknown = set(data) - fields
    if unknown:
        raise SimStateError(f"sim control: unknown fault field(s) {', '.join(sorted(unknown))}")
    values = dict(data)
    values["kind"] = FaultKind(values["kind"])
    if "direction" in values:
        values["direction"] = Direction(values["direction"])
    return FaultSpec(**values)


def _frame_from_wire(row: list[Any]) -> TraceRecord:
    time, src, dst, profile, cluster, length, data, outcome = row
    return TraceRecord(time, src, dst, profile, cluster, length, bytes.fromhex(data), outcome)


# ------------------------------------------------------------------------------------ server
class SimControlServer:
    """Serves one simulated PAN's control on a Unix socket (``hanrig sim stick --control PATH``)."""

    def __init__(self, control: SimControl, path: Path) -> None:
        self.control = control
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._captures: dict[int, Any] = {}
        self._next_capture = 1
        self._ops: dict[str, Callable[..., Any]] = {
            "hello": self._hello,
            "has_device": control.has_device,
            "inject": lambda fault: control.inject(fault_from_wire(fault)),
            "reboot": control.reboot,
            "leave": control.leave,
            "unplug": control.unplug,
            "replug": control.replug,
            "alert_storm": control.alert_storm,
            "utc_now": lambda: control.utc_now().isoformat(),
            "device_clock": control.device_clock,
            "set_device_clock": control.set_device_clock,
            "set_device_clock_mode": control.set_device_clock_mode,
            "trace_mark": control.trace_mark,
            "frames": lambda eui64=None, since=0: [f.as_tuple() for f in control.frames(eui64, since)],
            "capture_start": self._capture_start,
            "capture_stop": self._capture_stop,
            "bench": lambda: control.bench(),
        }

    def _hello(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "pid": os.getpid()}

    def _capture_start(self, eui64: str) -> int:
        handle = self._next_capture
        self._next_capture += 1
        self._captures[handle] = self.control.capture_device(eui64)
        return handle

    def _capture_stop(self, handle: int) -> str | None:
        capture = self._captures.pop(handle, None)
        if capture is None:
            raise SimStateError(f"sim control: no capture {handle}")
        pcapng = capture.stop()
        return pcapng.hex() if pcapng is not None else None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():  # a stale socket of a stick that was killed
                self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=LINE_MAX)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        for capture in self._captures.values():
            capture.stop()
        self._captures.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await self._answer(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the host went away (or sent a line longer than LINE_MAX): nothing to answer
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            operation = self._ops[request["op"]]
            result = operation(**request.get("args", {}))
            if isinstance(result, Awaitable):
                result = await result
            return {"result": result}
        except KeyError as exc:
            return {"error": f"sim control: unknown operation or missing field {exc}"}
        except (ValueError, TypeError) as exc:
            return {"error": f"sim control: bad request: {exc}"}
        except Exception as exc:  # the simulator's own refusal (or a timeout), as one line
            return {"error": str(exc) or type(exc).__name__}


# ------------------------------------------------------------------------------------ client
class _RemoteCapture:
    """``DeviceCapture`` across the link: ``stop()`` returns the pcapng bytes the stick recorded."""

    def __init__(self, link: SimLink, handle: int) -> None:
        self._link = link
        self._handle = handle

    def stop(self) -> bytes | None:
        data = self._link.query("capture_stop", handle=self._handle)
        return bytes.fromhex(data) if data is not None else None


class SimLink:
    """:class:`~hal.simcontrol.SimControl` of a virtual stick's PAN, reached over its control socket."""

    def __init__(self, path: str, url: str) -> None:
        self.path = path
        self.url = url
        self._sock: socket.socket | None = None
        self._buffer = b""

    # ------------------------------------------------------------ transport
    def _fail(self, problem: str) -> SimLinkError:
        self.close()
        return SimLinkError(self.url, f"sim_control {self.path}: {problem}")

    def connect(self) -> dict[str, Any]:
        """Open the link and check it speaks this protocol (at radio open, so a wrong path fails early)."""
        hello = self.query("hello")
        if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
            raise self._fail(f"not a hanrig sim stick control socket (said {hello!r})")
        return hello

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""

    @staticmethod
    def _result(answer: Any, op: str) -> Any:
        if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
            raise ValueError(f"answer to {op} is not the protocol")
        if "error" in answer:
            raise SimStateError(f"virtual stick: {answer['error']}")
        return answer["result"]

    def query(self, op: str, **args: Any) -> Any:
        """A quick request on the shared blocking connection (the stick answers without air time)."""
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(QUERY_TIMEOUT_S)
                self._sock.connect(self.path)
            self._sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the stick closed the link")
                self._buffer += chunk
            line, _, self._buffer = self._buffer.partition(b"\n")
            return self._result(json.loads(line), op)
        except SimStateError:
            raise
        except (OSError, ValueError) as exc:
            raise self._fail(f"{op}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}") \
                from None

    async def request(self, op: str, **args: Any) -> Any:
        """A request that takes air time on the stick, on its own connection (the loop stays free)."""
        try:
            reader, writer = await asyncio.open_unix_connection(self.path, limit=LINE_MAX)
        except OSError as exc:
            raise SimLinkError(self.url, f"sim_control {self.path}: {op}: {exc.strerror or exc}") from None
        try:
            writer.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            if not line:
                raise SimLinkError(self.url, f"sim_control {self.path}: {op}: the stick closed the link")
            try:
                return self._result(json.loads(line), op)
            except ValueError as exc:
                raise SimLinkError(self.url, f"sim_control {self.path}: {op}: {exc}") from None
        finally:
            writer.close()

    # ------------------------------------------------------------ SimControl
    def has_device(self, eui64: str) -> bool:
        return bool(self.query("has_device", eui64=str(eui64)))

    def inject(self, fault: FaultSpec) -> None:
        self.query("inject", fault=fault_to_wire(fault))

    async def reboot(self, eui64: str, off_s: float | None = None) -> None:
        await self.request("reboot", eui64=str(eui64), off_s=off_s)

    def leave(self, eui64: str) -> None:
        self.query("leave", eui64=str(eui64))

    def unplug(self) -> None:
        self.query("unplug")

    def replug(self) -> None:
        self.query("replug")

    async def alert_storm(self, eui64: str, alarm_code: int, rate_hz: float, duration_s: float) -> int:
        return int(await self.request("alert_storm", eui64=str(eui64), alarm_code=alarm_code,
                                      rate_hz=rate_hz, duration_s=duration_s))

    def utc_now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.query("utc_now"))

    def device_clock(self, eui64: str) -> int:
        return int(self.query("device_clock", eui64=str(eui64)))

    def set_device_clock(self, eui64: str, utc: int, drift_s_per_hour: float | None = None) -> None:
        self.query("set_device_clock", eui64=str(eui64), utc=utc, drift_s_per_hour=drift_s_per_hour)

    async def set_device_clock_mode(self, eui64: str, mode: str) -> None:
        await self.request("set_device_clock_mode", eui64=str(eui64), mode=mode)

    def trace_mark(self) -> int:
        return int(self.query("trace_mark"))

    def frames(self, eui64: str | None = None, since: int = 0) -> Sequence[TraceRecord]:
        rows = self.query("frames", eui64=str(eui64) if eui64 is not None else None, since=since)
        return [_frame_from_wire(row) for row in rows]

    def capture_device(self, eui64: str) -> Any:
        return _RemoteCapture(self, int(self.query("capture_start", eui64=str(eui64))))

    def bench(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        seed, devices = self.query("bench")
        return int(seed), tuple((str(role), str(eui64)) for role, eui64 in devices)
