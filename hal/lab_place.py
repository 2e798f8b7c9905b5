"""Sticks shared through labgrid: ``labgrid://PLACE`` acquires the place, opens its serial port, releases.

A lab's sticks hang off exporter hosts; a labgrid coordinator knows every exporter's resources and the
places built from them, and who has acquired each place. ``acquired_serial_port(place, coordinator)``
is hanrig's client of that coordinator (labgrid 26, gRPC): it acquires the place, finds its serial
resource (a ``NetworkSerialPort``: one an exporter publishes directly, e.g. ser2net or ``hanrig sim
stick --tcp``, or a ``USBSerialPort`` an exporter serves through ser2net) and yields the URL bellows
opens (``socket://HOST:PORT`` for raw TCP, ``rfc2217://HOST:PORT`` for RFC 2217), with the resource's
speed. On the way out (normal exit, an error, Ctrl-C, an aborted run) the place is released.

Our rules:
- hanrig acquires the place itself. A place already acquired, by anyone (you with ``labgrid-client
  acquire`` included, or a hanrig that was killed), is refused at once: ``PlaceBusy``, exit 3, naming
  the place and the holder. It is never opened behind the holder's back. Under ``wait_for_places``
  (``--wait``) hanrig says who holds it and waits until the place is free.
- The coordinator is ``?coordinator=HOST[:PORT]`` in the URL (a rig file's ``[labgrid] coordinator``
  puts it there), else ``$LG_COORDINATOR``, else 127.0.0.1:20408 (labgrid's default).
- Losing the coordinator while the place is held ends the work: the place is no longer ours (a
  restarted coordinator forgets acquisitions), so the task that opened the radio is cancelled and gets
  ``PlaceLost`` (exit 3) instead; the run records it and can be resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .exceptions import BadRadioUrl, MissingRadioExtra, RadioUnreachable

LOGGER = logging.getLogger(__name__)

SCHEME = "labgrid"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
CONNECT_TIMEOUT_S = 5.0  # a busy place or a dead coordinator is reported within seconds
RELEASE_TIMEOUT_S = 5.0
WAIT_POLL_S = 0.5
SERIAL_CLASSES = ("NetworkSerialPort",)  # what an exporter publishes for USBSerialPort/RawSerialPort too

# Set by ``--wait``: how to tell the user we are waiting for a busy place (None: refuse at once).
_WAIT_NOTIFY: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "hanrig_place_wait", default=None)


class PlaceBusy(RadioUnreachable):
    """The place is acquired by someone else (exit 3); the message names the place and the holder."""

    def __init__(self, url: str, place: str, holder: str):
        self.place = place
        self.holder = holder
        super().__init__(url, f"labgrid place {place!r} is held by {holder}; not opening it behind their "
                              "back (--wait waits for it; a holder that died is released with "
                              f"'labgrid-client -p {place} release --kick')")


class PlaceLost(RadioUnreachable):
    """The coordinator went away while we held the place: the stick is no longer reserved for us."""


@contextlib.contextmanager
def wait_for_places(notify: Callable[[str], None]) -> Iterator[None]:
    """Within this block (and the tasks started in it), a busy place is waited for, not refused."""
    token = _WAIT_NOTIFY.set(notify)
    try:
        yield
    finally:
        _WAIT_NOTIFY.reset(token)


@dataclass(frozen=True)
class SerialResource:
    """The acquired place's serial port, as bellows opens it."""

    url: str  # socket://HOST:PORT or rfc2217://HOST:PORT
    speed: int | None
    resource: str  # exporter/group/cls/name, for messages


def coordinator_address(explicit: str | None) -> str:
    return explicit or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def _grpc_address(address: str) -> str:
    """HOST[:PORT] as gRPC wants it (labgrid's default port when none is given)."""
    if address.startswith("["):
        return address if "]:" in address else f"{address}:20408"
    return address if ":" in address else f"{address}:20408"


def serial_resource(place: Any, resources: dict[str, Any]) -> SerialResource:
    """The one serial resource among the place's acquired resources, or why there is none."""
    found = []
    for path in place.acquired_resources:
        exporter, group, cls, name = path
        entry = resources.get(exporter, {}).get(group, {}).get(name)
        if entry is None or cls not in SERIAL_CLASSES:
            continue
        found.append(("/".join(path), entry))
    if not found:
        raise RadioUnreachable(f"{SCHEME}://{place.name}", "the place has no serial resource (a "
                               "NetworkSerialPort, or a USBSerialPort exported through ser2net)")
    if len(found) > 1:
        names = ", ".join(path for path, _ in found)
        raise RadioUnreachable(f"{SCHEME}://{place.name}", f"the place has several serial resources "
                               f"({names}); give each stick its own place")
    path, entry = found[0]
    args = entry.args
    if not entry.avail or not args.get("port"):
        raise RadioUnreachable(f"{SCHEME}://{place.name}", f"serial resource {path} is not available "
                               "(exporter down or the device unplugged)")
    host = str(args.get("host") or "127.0.0.1")
    if ":" in host:
        host = f"[{host}]"
    scheme = "socket" if args.get("protocol", "rfc2217") == "raw" else "rfc2217"
    speed = args.get("speed")
    return SerialResource(f"{scheme}://{host}:{int(args['port'])}", int(speed) if speed else None, path)


def _holder(place: Any, reservations: str | None = None) -> str:
    return str(place.acquired or reservations or "someone else")


class _LabgridRootLogs(logging.Filter):
    """labgrid's client logs to the root logger ("coordinator is unavailable"); hanrig says the same in
    its one-line error, so those records are kept for ``-vv`` (debug) only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if f"{os.sep}labgrid{os.sep}" not in record.pathname:
            return True
        return LOGGER.isEnabledFor(logging.DEBUG)


def _quiet_labgrid_root_logs() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _LabgridRootLogs) for f in root.filters):
        root.addFilter(_LabgridRootLogs())


@contextlib.asynccontextmanager
async def acquired_serial_port(url: str, place_name: str, coordinator: str | None) -> AsyncIterator[
        SerialResource]:
    """Acquire ``place_name`` at the coordinator, yield its serial port, release the place on exit."""
    try:
        import grpc
        from labgrid.remote.client import ClientSession
        from labgrid.remote.client import Error as LabgridError
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
    except ModuleNotFoundError as exc:
        raise MissingRadioExtra(SCHEME, "lab") from exc

    address = coordinator_address(coordinator)
    _quiet_labgrid_root_logs()
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise BadRadioUrl(url, "labgrid places need a real-time event loop")
    session = ClientSession(_grpc_address(address), loop)
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await session.start()
        except (TimeoutError, LabgridError, grpc.RpcError):
            raise RadioUnreachable(url, f"labgrid coordinator {address} does not answer") from None
        await _acquire(session, pb2, grpc, url, place_name, address)
        host_task = asyncio.current_task()
        lost = asyncio.Event()

        async def watch() -> None:
            await session.stopping.wait()
            lost.set()
            LOGGER.error("labgrid coordinator %s went away while place %s was held", address, place_name)
            if host_task is not None:
                host_task.cancel()

        watcher = asyncio.create_task(watch(), name=f"labgrid watch {place_name}")
        try:
            await session.sync_with_coordinator()
            yield serial_resource(session.places[place_name], session.resources)
        except asyncio.CancelledError:
            if not lost.is_set():
                raise
            if host_task is not None:
                host_task.uncancel()
            raise PlaceLost(url, f"labgrid coordinator {address} went away while place {place_name!r} "
                                 "was held; the stick is no longer reserved for this run") from None
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if lost.is_set():
                LOGGER.warning("place %s not released: the coordinator is gone (and with it the "
                               "acquisition)", place_name)
            else:
                await _release(session, pb2, grpc, place_name)
    finally:
        await _close(session)


async def _acquire(session: Any, pb2: Any, grpc: Any, url: str, place_name: str, address: str) -> None:
    notify = _WAIT_NOTIFY.get()
    told = None
    while True:
        place = session.places.get(place_name)
        if place is None:
            known = ", ".join(sorted(session.places)) or "none"
            raise BadRadioUrl(url, f"no labgrid place {place_name!r} at coordinator {address} "
                                   f"(places: {known})")
        if not place.acquired:
            try:
                await session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=place_name))
                await session.sync_with_coordinator()
                LOGGER.info("acquired labgrid place %s at %s", place_name, address)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                    raise RadioUnreachable(url, f"labgrid coordinator {address}: {exc.details()}") from None
                await session.sync_with_coordinator()
                place = session.places.get(place_name)
                if place is not None and not place.acquired:
                    # not taken, yet refused: a reservation for someone else, or its resources are held
                    holder = f"a reservation or another place ({exc.details()})"
                    if notify is None:
                        raise PlaceBusy(url, place_name, holder) from None
                else:
                    continue  # someone took it between our look and our request
        holder = _holder(place) if place is not None and place.acquired else "someone else"
        if notify is None:
            raise PlaceBusy(url, place_name, holder)
        if told != holder:
            notify(f"labgrid place {place_name!r} is held by {holder}; waiting for it (Ctrl-C to stop)")
            told = holder
        await asyncio.sleep(WAIT_POLL_S)
        if session.stopping.is_set():
            raise RadioUnreachable(url, f"labgrid coordinator {address} went away while waiting for "
                                        f"place {place_name!r}")


async def _release(session: Any, pb2: Any, grpc: Any, place_name: str) -> None:
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT_S):
            await session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=place_name))
        LOGGER.info("released labgrid place %s", place_name)
    except (TimeoutError, grpc.RpcError) as exc:
        LOGGER.warning("could not release labgrid place %s: %s", place_name, exc)


async def _close(session: Any) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(RELEASE_TIMEOUT_S):
            await session.stop()
    with contextlib.suppress(Exception):
        await session.close()
