"""zigpy's traps for a Smart Energy bench, fixed in one gated place for every radio (``apply`` runs when
``open_radio`` opens a radio).

**The gate.** The fixes were written against zigpy ``ZIGPY_RANGE``. :func:`apply` checks the installed
zigpy first: outside that range it fails at startup (``UnsupportedZigpy``), naming each fix whose zigpy
code is gone and the upstream change to look for, so a rename in zigpy can never silently leave Smart
Energy devices unable to finish their interview. ``HANRIG_ZIGPY_UNCHECKED=1`` turns the failure into a
warning, for trying a new zigpy on purpose. Each fix names the upstream change that would make it
unnecessary; ``docs/upstream/`` holds those that are ready to send as patches against zigpy's source.
Each fix has a test that fails without it (``tests/hal/test_zigpy_fixes.py``).

1. ``se_profile_zcl`` — **SE profile frames are dropped.** ``Device._parse_packet_header`` parses ZCL only
   for the HA (0x0104) and ZLL (0xC05E) profiles; frames on Smart Energy (0x0109) go to
   ``custom_profile_packet_received`` and are ignored, so a GB device never finishes its interview.
   Fix: parse 0x0109 as ZCL too (ZCL is the same on every public profile).
2. ``replies_not_duplicates`` — **The 10 s de-duplication eats legitimate repeats.**
   ``Device._should_filter_packet`` drops any packet identical to one seen from the same device in the
   last ``PACKET_DEBOUNCE_WINDOW`` (10 s). A device that re-sends its buffered Image Block Request after a
   lost response (same TSN, same offset) is ignored for 10 s, and with zigpy's 8-bit app-wide TSN, fast
   repeated reads produce identical replies that are dropped and time out. Fix: a reply that completes
   a pending request is never a duplicate, and other identical frames are duplicates only within
   ``DUPLICATE_WINDOW_S`` (the time a radio takes to pass one frame twice, e.g. after a lost MAC ACK).
3. ``se_clusters`` — **Empty SE clusters.** ``hal.se_clusters`` registers full DRLC, Tunneling and Device
   Management definitions (registered subclasses of zigpy's stubs) when imported; :func:`apply` imports it.
4. ``hub_clock_time_server`` — **The hub's Time server reads the wall clock.** ``Time`` answers devices
   with ``datetime.now()``, which on a virtual-time ``sim://`` loop disagrees with every clock on the PAN
   (a "synchronised" GSME would be set to a time that then runs hours ahead). Fix: a registered ``Time``
   subclass (:class:`HubTime`) answers with :func:`radio_utc_now`, the radio's own UTC clock, which the
   GPF also uses as its receipt time.
5. ``malformed_frames_dropped`` — **A malformed frame raises out of the radio callback.**
   ``Device.packet_received`` lets a ZCL header that does not decode (e.g. one octet) or a report whose
   value does not fit its attribute (type NoData) raise ``ValueError``/``TypeError`` into the radio
   library's receive path. A real stack drops such frames. Fix: they are logged (with the device and the
   bytes) and dropped; the ``handle_message`` listener event has already told the application.
6. ``quiet_closed_connections`` — **A closed connection leaves orphaned task errors.** When a radio's
   connection closes (shutdown, a lost labgrid place, Ctrl-C) while one of zigpy's or bellows' own
   fire-and-forget tasks waits for an ASH ACK, that task dies with bellows' ``RuntimeError('Connection has
   been closed')`` which nobody retrieves, and asyncio prints its traceback on stderr. The same happens to
   bellows' own fragment-ACK task (``ProtocolHandler._send_fragment_ack``, fire-and-forget) when the last
   fragment of a message arrives as hanrig closes: ``NcpFailure('Transport is closed, cannot send
   frame')``. Fix:
   :func:`quiet_closed_connections` (installed on every real radio's loop by ``hal.radio.new_event_loop``)
   logs exactly those two errors at debug level; every other unretrieved error still goes to asyncio's default
   handler.
7. ``packet_claims`` — **No way to take a frame before zigpy dispatches it.** The hub's OTA server must
   answer OTA requests itself (zigpy's own responder answers NO_IMAGE_AVAILABLE / ABORT), and zigpy's
   ``register_packet_callback`` only observes. :func:`claim_packets` is the one documented hook: a claim
   sees every frame an application receives, before zigpy, and takes it by returning True;
   :func:`deliver_to_zigpy` hands a taken frame back. (One wrapper of the public
   ``ControllerApplication.packet_received``, installed once, instead of replacing it per instance.)
8. ``extended_timeout_known`` — **bellows asks the NCP before every unicast** (``send_packet`` →
   ``set_extended_timeout`` → ``getExtendedTimeout``: a UART round trip per OTA block) whether the
   destination has the extended timeout, although for acknowledged unicasts the answer it needs is
   always "no"; it skips the question only on NCP firmware with XNCP's combined send. Fix (EZSP radios
   only, :func:`apply_bellows`, so ``sim://`` never imports bellows): remember, per NCP session (bellows'
   EZSP protocol object), the devices the NCP holds with no extended timeout, and skip the question for
   them. Only "no" is remembered: it is also what the NCP reverts to when it drops an address-table
   entry, so it cannot go stale; "yes" (sleepy devices) is always asked.
9. ``ezsp_fragmented_send`` — **bellows cannot send a message longer than one APS payload.** It hands
   every unicast to the NCP in one ``sendUnicast``, which EmberZNet refuses (MESSAGE_TOO_LONG) when the
   message needs APS fragmentation (a GB-HRGP Transfer Data carrying a GBCS message of up to 1500
   octets); EmberZNet leaves fragmenting to the host (its fragmentation plugin), and bellows implements
   only the receiving half. Fix (EZSP radios only, :func:`apply_bellows`): such unicasts go through
   ``hal.ezsp_fragmentation.send_fragmented``; every other frame takes bellows' own path. Its test runs
   through the virtual stick (``tests/ezsp_stick/test_virtual_han.py``), with and without the fix.
10. ``struct_without_signature_bind`` — **Every zigpy Struct is built through ``inspect.Signature.bind``.**
   ``Struct.__new__`` binds its arguments with the class's ``inspect.Signature`` (and ``apply_defaults``),
   about half of the cost of building a small struct; on the host's OTA path that is several structs per
   block (bellows' ``EmberApsFrame`` for every frame sent and received, zigpy's ZCL records), ~8 % of the
   host's CPU. Fix: :func:`_struct_new` binds positional and keyword arguments to ``cls.fields`` directly,
   giving the same attributes in the same order through the same ``_convert_type``; any call the direct
   binding does not cover exactly (too many arguments, an unknown or doubled keyword, a missing field
   without default) goes to zigpy's own ``__new__``, so it raises zigpy's own exception.
   ``IntStruct`` keeps its ``__new__`` (it binds twice around an integer round trip).
11. ``ota_providers_on_first_use`` — **Every zigpy start pays for its remote OTA providers.**
   ``zigpy.ota`` imports ``zigpy.ota.providers`` (aiohttp, jsonschema, three TLS contexts on the system CA
   store: ~0.14 s, a third of the main job's imports), and ``ControllerApplication`` validates the default
   provider list into provider objects even with OTA disabled; hanrig never uses them. Fix, in two parts:
   ``hal.zigpy_deferred`` (the part that must precede any ``import zigpy``, hence zigpy-free and run by
   ``import hal``; its docstring says why there) loads the providers module on first attribute use; and
   every zigpy config hanrig builds disables OTA with :func:`zigpy_ota_disabled`, which also names no
   providers, so nothing asks for them. A user who configures providers gets them, loaded then.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import logging
import os
import re
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import zigpy.application
import zigpy.config as zigpy_conf
import zigpy.device
import zigpy.types as zigpy_t
from zigpy.time import TimeSnapshot
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters.general import Time

from .exceptions import UnsupportedZigpy
from .simcontrol import sim_control

LOGGER = logging.getLogger(__name__)

ZIGPY_RANGE = ((2, 4, 0), (2, 5, 0))  # [first, last): the zigpy releases these fixes were written against
UNCHECKED_ENV = "HANRIG_ZIGPY_UNCHECKED"
SE_PROFILE = 0x0109
ZCL_PROFILES = frozenset({0x0104, 0xC05E, SE_PROFILE})
DUPLICATE_WINDOW_S = 0.5


@dataclasses.dataclass(frozen=True)
class Fix:
    """One zigpy workaround: what it changes, and what upstream change would retire it."""

    name: str
    target: str  # the zigpy code it works around, "module:Class.attribute"
    upstream: str  # the upstream change that makes the fix unnecessary (a docs/upstream patch, or a PR)

    def target_present(self) -> bool:
        """Whether the zigpy code this fix works around still exists."""
        module_name, _, path = self.target.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            return False
        for part in path.split("."):
            found = getattr(found, part, None)
            if found is None:
                return False
        return True


FIX_NOTES: tuple[Fix, ...] = (
    Fix("se_profile_zcl", "zigpy.device:Device._parse_packet_header",
        "docs/upstream/0001-device-parse-smart-energy-profile-frames-as-zcl.patch"),
    Fix("replies_not_duplicates", "zigpy.device:Device._should_filter_packet",
        "docs/upstream/0002-device-replies-to-pending-requests-are-not-duplicates.patch"),
    Fix("se_clusters", "zigpy.zcl.clusters.smartenergy:Drlc",
        "full DRLC (0x0701), Tunneling (0x0704) and Device Management (0x0708) definitions in "
        "zigpy/zcl/clusters/smartenergy.py (hal/se_clusters.py is the draft)"),
    Fix("hub_clock_time_server", "zigpy.zcl.clusters.general:Time._handle_read_attributes",
        "docs/upstream/0003-time-server-asks-the-application-for-utc.patch (then SimApplication overrides "
        "ControllerApplication.utc_now and this fix goes)"),
    Fix("malformed_frames_dropped", "zigpy.device:Device.packet_received",
        "docs/upstream/0004-application-drops-frames-that-do-not-parse.patch"),
    Fix("quiet_closed_connections", "bellows.ash:AshProtocol._cancel_pending_data_frames",
        "bellows: pending data frames cancelled on close are retrieved by their senders, or failed with "
        "a dedicated exception zigpy's senders expect"),
    Fix("packet_claims", "zigpy.application:ControllerApplication.packet_received",
        "a packet callback that can take a frame before dispatch (zigpy's register_packet_callback only "
        "observes, and is not called by packet_received)"),
    Fix("extended_timeout_known", "bellows.ezsp.v4:EZSPv4.set_extended_timeout",
        "bellows: remember the extended-timeout state it set per device instead of asking the NCP before "
        "every unicast"),
    Fix("ezsp_fragmented_send", "bellows.zigbee.application:ControllerApplication.send_packet",
        "bellows: send unicasts longer than one APS payload in APS fragments (APS_OPTION_FRAGMENT, as "
        "EmberZNet's fragmentation plugin does), beside the reassembly in bellows/ezsp/fragmentation.py"),
    Fix("struct_without_signature_bind", "zigpy.zcl.foundation:ZCLHeader._signature",
        "docs/upstream/0005-struct-bind-fields-without-inspect-signature.patch"),
    Fix("ota_providers_on_first_use", "zigpy.ota.providers:Tradfri.SSL_CTX",
        "zigpy: import aiohttp/jsonschema and build the providers' TLS contexts when a provider is first "
        "used, and skip validating the provider list when OTA is disabled"),
)
FIX_NAMES = tuple(fix.name for fix in FIX_NOTES)


# ---------------------------------------------------------------------------------- the gate
def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_zigpy(version: str | None = None) -> None:
    """Fail (``UnsupportedZigpy``) when zigpy is outside ``ZIGPY_RANGE``, naming the fixes to re-check;
    only warn when ``HANRIG_ZIGPY_UNCHECKED=1``."""
    version = version or importlib.metadata.version("zigpy")
    first, last = ZIGPY_RANGE
    if first <= _version_tuple(version) < last:
        return
    gone = [fix for fix in FIX_NOTES if not fix.target_present()]
    span = f"{'.'.join(map(str, first))} <= zigpy < {'.'.join(map(str, last))}"
    if gone:
        detail = "; ".join(f"fix {fix.name} no longer applies: {fix.target} is gone "
                           f"(upstream: {fix.upstream})" for fix in gone)
    else:
        detail = (f"re-check fixes {', '.join(FIX_NAMES)} against it (each names its upstream change in "
                  "hal/zigpy_fixes.py)")
    message = (f"zigpy {version} is outside {span}, the range hal/zigpy_fixes.py was written for: {detail}; "
               f"widen ZIGPY_RANGE once checked, or set {UNCHECKED_ENV}=1 to try anyway")
    if os.environ.get(UNCHECKED_ENV) == "1":
        LOGGER.warning("%s", message)
        return
    raise UnsupportedZigpy(message)


# ---------------------------------------------------------------------------------- fixes 1, 2, 5
_ORIGINAL: dict[str, Callable[..., Any]] = {
    "_parse_packet_header": zigpy.device.Device._parse_packet_header,
    "_should_filter_packet": zigpy.device.Device._should_filter_packet,
    "packet_received": zigpy.device.Device.packet_received,
}


def _parse_packet_header(self: zigpy.device.Device, packet: zigpy_t.ZigbeePacket) -> Any:
    if packet.profile_id == SE_PROFILE and packet.src_ep != 0:
        # zigpy parses each packet's header twice (the duplicate filter, then packet_received): the
        # second call for the same packet object gets the first one's result
        last = self.__dict__.get("_hanrig_last_header")
        if last is not None and last[0] is packet:
            return last[1]
        hdr, _ = foundation.ZCLHeader.deserialize(packet.data.serialize())
        key = zigpy.device.ResponseKey(
            endpoint_id=packet.src_ep,
            cluster_id=packet.cluster_id,
            direction=hdr.frame_control.direction,
            tsn=hdr.tsn,
        )
        self.__dict__["_hanrig_last_header"] = (packet, (hdr, key))
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


def _packet_received(self: zigpy.device.Device, packet: zigpy_t.ZigbeePacket) -> None:
    try:
        _ORIGINAL["packet_received"](self, packet)
    except (ValueError, TypeError) as exc:
        LOGGER.warning("%s: dropped a malformed frame on cluster 0x%04x (%s): %s", self.ieee,
                       packet.cluster_id, packet.data.serialize().hex(), exc)


# zigpy Device methods replaced (zigpy builds Device objects itself, so no subclass can stand in), by name
FIXES: dict[str, Callable[..., Any]] = {
    "_parse_packet_header": _parse_packet_header,
    "_should_filter_packet": _should_filter_packet,
    "packet_received": _packet_received,
}


# ---------------------------------------------------------------------------------- fix 4
def radio_utc_now(app: Any) -> datetime:
    """The hub's UTC clock for ``app``: on ``sim://`` the PAN's clock (``start_time`` + PAN loop time, so
    it follows virtual time and matches the virtual devices' clocks); on a real radio the wall clock."""
    control = sim_control(app)
    return control.utc_now() if control is not None else datetime.now(UTC)


class HubTime(Time):
    """The coordinator's Time server on the radio's own clock (fix 4); registered in zigpy's cluster
    registry in place of ``Time`` by being defined."""

    def _handle_read_attributes(self, attribute_ids: list[int], *handler_args: Any) -> Any:
        application = self.endpoint.device.application
        snapshot = TimeSnapshot.compute(application.local_timezone, radio_utc_now(application))
        return Cluster._handle_read_attributes(self, attribute_ids, snapshot, *handler_args)


# zigpy clusters whose registered class is hanrig's subclass, by cluster id
REGISTERED: dict[int, type[Cluster]] = {Time.cluster_id: HubTime}
_ORIGINAL_REGISTERED: dict[int, type[Cluster]] = {Time.cluster_id: Time}


# ---------------------------------------------------------------------------------- fix 7: the hook
PacketClaim = Callable[[zigpy_t.ZigbeePacket], bool]
_CLAIMS: weakref.WeakKeyDictionary[Any, list[PacketClaim]] = weakref.WeakKeyDictionary()
_ORIGINAL_APP_PACKET_RECEIVED = zigpy.application.ControllerApplication.packet_received


def _app_packet_received(self: zigpy.application.ControllerApplication, packet: zigpy_t.ZigbeePacket) -> Any:
    for claim in _CLAIMS.get(self, ()):
        if claim(packet):
            return None
    return _ORIGINAL_APP_PACKET_RECEIVED(self, packet)


def claim_packets(app: zigpy.application.ControllerApplication, claim: PacketClaim, *,
                  first: bool = False) -> Callable[[], None]:
    """The hook for taking frames before zigpy: ``claim(packet)`` is called for every frame the radio
    hands ``app`` (in registration order; ``first``: before the claims already there, e.g. the bench's
    bare responder ahead of the OTA server), and a True return takes the frame (zigpy never sees it).
    Returns the function that removes the claim."""
    claims = _CLAIMS.setdefault(app, [])
    if first:
        claims.insert(0, claim)
    else:
        claims.append(claim)

    def remove() -> None:
        claims = _CLAIMS.get(app, [])
        if claim in claims:
            claims.remove(claim)

    return remove


def deliver_to_zigpy(app: zigpy.application.ControllerApplication, packet: zigpy_t.ZigbeePacket) -> Any:
    """Hand a frame a claim took to zigpy after all (past every claim)."""
    return _ORIGINAL_APP_PACKET_RECEIVED(app, packet)


# ---------------------------------------------------------------------------------- fix 6
CLOSED_CONNECTION = "Connection has been closed"  # bellows.ash's error for frames pending at close


CLOSED_TRANSPORT = "Transport is closed, cannot send frame"  # bellows.ash's NcpFailure for a late write


def _killed_by_closed_connection(exc: BaseException | None) -> bool:
    """bellows' errors for a frame that was pending, or written, as the connection closed."""
    if isinstance(exc, RuntimeError):
        return str(exc) == CLOSED_CONNECTION
    if exc is None or type(exc).__name__ != "NcpFailure":
        return False
    from bellows.ash import NcpFailure  # only here: sim:// never imports bellows

    return isinstance(exc, NcpFailure) and exc.code == CLOSED_TRANSPORT


def quiet_closed_connections(loop: Any) -> None:
    """Fix 6: an orphaned task killed by its radio connection closing is a debug line, not a traceback."""

    def handler(loop: Any, context: dict[str, Any]) -> None:
        if _killed_by_closed_connection(context.get("exception")):
            LOGGER.debug("radio connection closed under a pending frame: %s", context.get("message"))
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


# ---------------------------------------------------------------------------------- fix 8 (bellows)
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


# ---------------------------------------------------------------------------------- fix 9 (bellows)
_ORIGINAL_BELLOWS_SEND_PACKET: Callable[..., Any] | None = None


def _bellows_application() -> Any:
    from bellows.zigbee.application import ControllerApplication

    return ControllerApplication


async def _bellows_send_packet(self: Any, packet: zigpy_t.ZigbeePacket) -> None:
    from .ezsp_fragmentation import send_fragmented, unicast_needs_fragmentation

    if unicast_needs_fragmentation(packet):
        await send_fragmented(self, packet)
        return
    assert _ORIGINAL_BELLOWS_SEND_PACKET is not None
    await _ORIGINAL_BELLOWS_SEND_PACKET(self, packet)


def apply_bellows() -> None:
    """Install fixes 8 and 9 (idempotent); only for EZSP radios, so ``sim://`` never imports bellows."""
    global _ORIGINAL_SET_EXTENDED_TIMEOUT, _ORIGINAL_BELLOWS_SEND_PACKET
    protocol = _bellows_protocol()
    if _ORIGINAL_SET_EXTENDED_TIMEOUT is None:
        _ORIGINAL_SET_EXTENDED_TIMEOUT = protocol.set_extended_timeout
    protocol.set_extended_timeout = _set_extended_timeout
    application = _bellows_application()
    if _ORIGINAL_BELLOWS_SEND_PACKET is None:
        _ORIGINAL_BELLOWS_SEND_PACKET = application.send_packet
    application.send_packet = _bellows_send_packet


# ---------------------------------------------------------------------------------- fix 10
_ORIGINAL_STRUCT_NEW: Callable[..., Any] = zigpy_t.Struct.__new__
_NO_DEFAULT = inspect.Parameter.empty


def _struct_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """``Struct.__new__`` without ``inspect.Signature.bind`` (fix 10): same fields, same order, same
    conversions; a call it does not bind exactly goes to zigpy's own, which raises as zigpy does."""
    real = cls._real_cls()
    given = kwargs
    if len(args) == 1 and isinstance(args[0], real):  # zigpy's copy constructor
        if kwargs:
            return _ORIGINAL_STRUCT_NEW(cls, *args, **kwargs)
        given = args[0].as_dict()
        positional: tuple[Any, ...] = ()
    else:
        positional = args
    fields = real.fields
    count = len(positional)
    if count > len(fields):
        return _ORIGINAL_STRUCT_NEW(cls, *args, **kwargs)
    values = []
    taken = 0
    for index, field in enumerate(fields):
        name = field.name
        if index < count:
            if name in given:
                return _ORIGINAL_STRUCT_NEW(cls, *args, **kwargs)
            values.append((field, positional[index]))
        elif name in given:
            values.append((field, given[name]))
            taken += 1
        elif field.default is not _NO_DEFAULT:
            values.append((field, field.default))
        else:
            return _ORIGINAL_STRUCT_NEW(cls, *args, **kwargs)
    if taken != len(given):  # a keyword that names no field
        return _ORIGINAL_STRUCT_NEW(cls, *args, **kwargs)
    instance = super(zigpy_t.Struct, real).__new__(real)
    for field, value in values:
        setattr(instance, field.name, field._convert_type(value))
    return instance


# ---------------------------------------------------------------------------------- fix 11 (config part)
def zigpy_ota_disabled() -> dict[str, Any]:
    """The ``ota`` section of every zigpy config hanrig builds: zigpy's OTA off (hanrig is its own OTA
    server), and no providers, which zigpy would otherwise validate into provider objects (loading
    ``zigpy.ota.providers``, fix 11) although it never uses them."""
    return {zigpy_conf.CONF_OTA_ENABLED: False, zigpy_conf.CONF_OTA_PROVIDERS: []}


# ---------------------------------------------------------------------------------- apply / revert
def apply() -> None:
    """Check the zigpy version, then install every fix (idempotent) and load hanrig's SE clusters."""
    check_zigpy()
    for name, replacement in FIXES.items():
        setattr(zigpy.device.Device, name, replacement)
    zigpy.application.ControllerApplication.packet_received = _app_packet_received  # type: ignore[method-assign]
    zigpy_t.Struct.__new__ = _struct_new  # type: ignore[method-assign]
    Cluster._registry.update(REGISTERED)
    importlib.import_module("hal.se_clusters")


def revert(name: str | None = None) -> None:
    """Put zigpy's original back (tests use this to show a fix matters)."""
    for key in [name] if name else [*_ORIGINAL, "time_server", "packet_claims", "extended_timeout",
                                    "fragmented_send", "struct_new"]:
        if key == "struct_new":
            zigpy_t.Struct.__new__ = _ORIGINAL_STRUCT_NEW  # type: ignore[method-assign]
        elif key == "extended_timeout":
            if _ORIGINAL_SET_EXTENDED_TIMEOUT is not None:
                _bellows_protocol().set_extended_timeout = _ORIGINAL_SET_EXTENDED_TIMEOUT
        elif key == "fragmented_send":
            if _ORIGINAL_BELLOWS_SEND_PACKET is not None:
                _bellows_application().send_packet = _ORIGINAL_BELLOWS_SEND_PACKET
        elif key == "time_server":
            Cluster._registry.update(_ORIGINAL_REGISTERED)
        elif key == "packet_claims":
            zigpy.application.ControllerApplication.packet_received = (  # type: ignore[method-assign]
                _ORIGINAL_APP_PACKET_RECEIVED)
        else:
            setattr(zigpy.device.Device, key, _ORIGINAL[key])
