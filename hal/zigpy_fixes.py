"""zigpy's traps for a Smart Energy bench, fixed in one place for every radio (applied by ``open_radio``).

1. **SE profile frames are dropped.** ``Device._parse_packet_header`` parses ZCL only for the HA
   (0x0104) and ZLL (0xC05E) profiles; frames on Smart Energy (0x0109) go to
   ``custom_profile_packet_received`` and are ignored, so a GB device never finishes its interview.
   Fix: parse 0x0109 as ZCL too (ZCL is the same on every public profile).
2. **The 10 s de-duplication eats legitimate repeats.** ``Device._should_filter_packet`` drops any
   packet identical to one seen from the same device in the last ``PACKET_DEBOUNCE_WINDOW`` (10 s).
   A device that re-sends its buffered Image Block Request after a lost response (same TSN, same
   offset) is ignored for 10 s, and with zigpy's 8-bit app-wide TSN, fast repeated reads produce
   identical replies that are dropped and time out. Fix: a reply that completes a pending request is
   never a duplicate, and other identical frames are duplicates only within ``DUPLICATE_WINDOW_S``
   (the time a radio takes to pass one frame twice, e.g. after a lost MAC ACK), not 10 s.
3. **Empty SE clusters.** ``hal.se_clusters`` (another module) registers full DRLC, Tunneling and Device
   Management definitions when imported; :func:`apply` imports it.
4. **The hub's Time server reads the wall clock.** ``Time._handle_read_attributes`` answers devices
   with ``datetime.now()``, which on a virtual-time ``sim://`` loop disagrees with every clock on the
   PAN (a "synchronised" GSME would be set to a time that then runs hours ahead). Fix: it answers with
   :func:`radio_utc_now`, the radio's own UTC clock, which the GPF also uses as its receipt time.
5. **A malformed frame raises out of the radio callback.** ``Device.packet_received`` lets a ZCL header
   that does not decode (e.g. one octet) or a report whose value does not fit its attribute (type
   NoData) raise ``ValueError``/``TypeError`` into the radio library's receive path. A real stack drops
   such frames. Fix: they are logged (with the device and the bytes) and dropped; the ``handle_message``
   listener event has already told the application about the raw frame.

6. **A closed connection leaves orphaned task errors.** When a radio's connection closes (shutdown, a
   lost labgrid place, Ctrl-C) while one of zigpy's or bellows' own fire-and-forget tasks waits for an
   ASH ACK, that task dies with bellows' ``RuntimeError('Connection has been closed')`` which nobody
   retrieves, and asyncio prints its traceback on stderr. Fix: :func:`quiet_closed_connections`
   (installed on every real radio's loop by ``hal.radio.new_event_loop``) logs exactly that error at
   debug level; every other unretrieved error still goes to asyncio's default handler.

7. **bellows asks the NCP before every unicast** (``ControllerApplication.send_packet`` →
   ``set_extended_timeout`` → ``getExtendedTimeout``, a UART round trip per OTA block) whether the
   destination has the extended timeout, although for acknowledged unicasts the answer it needs is
   always "no". bellows skips it only on NCP firmware with XNCP's combined send. Fix: remember, per
   NCP session (the EZSP protocol object), the devices the NCP holds with no extended timeout, and skip
   the question for them. The cache only ever holds "no": that is also what the NCP reverts to when it
   drops an address-table entry, so it cannot go stale; "yes" is always asked (sleepy devices).

Each fix replaces one zigpy method (on ``zigpy.device.Device``; fix 4 on ``Time``, fix 7 on bellows'
EZSP protocol class) and is idempotent; ``FIXES`` names them so tests can show each one matters.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import zigpy.device
import zigpy.types as zigpy_t
from zigpy.time import TimeSnapshot
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters.general import Time

from .simcontrol import sim_control

LOGGER = logging.getLogger(__name__)

SE_PROFILE = 0x0109
ZCL_PROFILES = frozenset({0x0104, 0xC05E, SE_PROFILE})
DUPLICATE_WINDOW_S = 0.5

_ORIGINAL: dict[str, Callable[..., Any]] = {
    "_parse_packet_header": zigpy.device.Device._parse_packet_header,
    "_should_filter_packet": zigpy.device.Device._should_filter_packet,
    "packet_received": zigpy.device.Device.packet_received,
}


def _parse_packet_header(self: zigpy.device.Device, packet: zigpy_t.ZigbeePacket) -> Any:
    if packet.profile_id == SE_PROFILE and packet.src_ep != 0:
        hdr, _ = foundation.ZCLHeader.deserialize(packet.data.serialize())
        key = zigpy.device.ResponseKey(
            endpoint_id=packet.src_ep,
            cluster_id=packet.cluster_id,
            direction=hdr.frame_control.direction,
            tsn=hdr.tsn,
        )
        return hdr, key
    return _ORIGINAL["_parse_packet_header"](self, packet)


def _should_filter_packet(self: zigpy.device.Device, packet: zigpy_t.ZigbeePacket) -> bool:
    try:
        _, key = self._parse_packet_header(packet)
    except (ValueError, KeyError):
        key = None
    if key is not None and key in self._requests:
        return False
    return self._packet_debouncer.filter(
        obj=packet.replace(timestamp=None, tsn=None, lqi=None, rssi=None),
        expire_in=DUPLICATE_WINDOW_S,
    )


def radio_utc_now(app: Any) -> datetime:
    """The hub's UTC clock for ``app``: on ``sim://`` the PAN's clock (``start_time`` + PAN loop time, so
    it follows virtual time and matches the virtual devices' clocks); on a real radio the wall clock."""
    control = sim_control(app)
    return control.utc_now() if control is not None else datetime.now(UTC)


_ORIGINAL_TIME_READ = Time._handle_read_attributes


def _bellows_protocol() -> Any:
    """The bellows class that defines ``set_extended_timeout`` (every EZSP version inherits it)."""
    from bellows.ezsp.v4 import EZSPv4

    return EZSPv4


_ORIGINAL_SET_EXTENDED_TIMEOUT: Callable[..., Any] | None = None
NO_EXTENDED_TIMEOUT = "_hanrig_no_extended_timeout"  # per protocol object: EUI-64s the NCP holds at "no"


async def _set_extended_timeout(self: Any, nwk: Any, ieee: Any, extended_timeout: bool = True) -> None:
    without: set[Any] = self.__dict__.setdefault(NO_EXTENDED_TIMEOUT, set())
    if not extended_timeout and ieee in without:
        return
    assert _ORIGINAL_SET_EXTENDED_TIMEOUT is not None
    await _ORIGINAL_SET_EXTENDED_TIMEOUT(self, nwk=nwk, ieee=ieee, extended_timeout=extended_timeout)
    if extended_timeout:
        without.discard(ieee)
    else:
        without.add(ieee)


def _time_handle_read_attributes(self: Time, attribute_ids: list[int], *handler_args: Any) -> Any:
    application = self.endpoint.device.application
    snapshot = TimeSnapshot.compute(application.local_timezone, radio_utc_now(application))
    return Cluster._handle_read_attributes(self, attribute_ids, snapshot, *handler_args)


def _packet_received(self: zigpy.device.Device, packet: zigpy_t.ZigbeePacket) -> None:
    try:
        _ORIGINAL["packet_received"](self, packet)
    except (ValueError, TypeError) as exc:
        LOGGER.warning("%s: dropped a malformed frame on cluster 0x%04x (%s): %s", self.ieee,
                       packet.cluster_id, packet.data.serialize().hex(), exc)


FIXES: dict[str, Callable[..., Any]] = {
    "_parse_packet_header": _parse_packet_header,
    "_should_filter_packet": _should_filter_packet,
    "packet_received": _packet_received,
}


def apply() -> None:
    """Install every fix (idempotent) and load hanrig's SE cluster definitions."""
    for name, replacement in FIXES.items():
        setattr(zigpy.device.Device, name, replacement)
    Time._handle_read_attributes = _time_handle_read_attributes  # type: ignore[method-assign]
    try:
        importlib.import_module("hal.se_clusters")
    except ModuleNotFoundError as exc:  # the SE cluster module is optional while it is being written
        if exc.name != "hal.se_clusters":
            raise


CLOSED_CONNECTION = "Connection has been closed"  # bellows.ash's error for frames pending at close


def quiet_closed_connections(loop: Any) -> None:
    """Fix 6: an orphaned task killed by its radio connection closing is a debug line, not a traceback."""

    def handler(loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, RuntimeError) and str(exc) == CLOSED_CONNECTION:
            LOGGER.debug("radio connection closed under a pending frame: %s", context.get("message"))
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def apply_bellows() -> None:
    """Install fix 7 (idempotent); only for EZSP radios, so ``sim://`` never imports bellows."""
    global _ORIGINAL_SET_EXTENDED_TIMEOUT
    protocol = _bellows_protocol()
    if _ORIGINAL_SET_EXTENDED_TIMEOUT is None:
        _ORIGINAL_SET_EXTENDED_TIMEOUT = protocol.set_extended_timeout
    protocol.set_extended_timeout = _set_extended_timeout


def revert(name: str | None = None) -> None:
    """Put zigpy's original method back (tests use this to show a fix matters)."""
    for key in [name] if name else [*_ORIGINAL, "time_server", "extended_timeout"]:
        if key == "time_server":
            Time._handle_read_attributes = _ORIGINAL_TIME_READ  # type: ignore[method-assign]
        elif key == "extended_timeout":
            if _ORIGINAL_SET_EXTENDED_TIMEOUT is not None:
                _bellows_protocol().set_extended_timeout = _ORIGINAL_SET_EXTENDED_TIMEOUT
        else:
            setattr(zigpy.device.Device, key, _ORIGINAL[key])
