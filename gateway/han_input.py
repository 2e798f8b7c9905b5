"""The one door through which frames from HAN devices reach the gateway's features (GPF, alerts, ...).

``HanInput.of(gateway)`` taps every radio of a session as a zigpy application listener
(``handle_message``: every APS frame from a known device, before zigpy's own de-duplication and
cluster handling) and decodes ZCL itself with zigpy's schemas, so what a feature gets is typed and
what it does not get is accounted for. Features subscribe to:

* attribute reports of a cluster (``on_reports``): ``{attribute id: value}`` of one Report Attributes;
* a cluster-specific command in one direction (``on_command``): the decoded command schema;
* a request a feature answers itself (``on_request``): the same, with the frame's TSN for the answer
  (the hub as the server of a cluster whose client is the device: the GSME's GB-HRGP tunnel).

Every subscription names the SE service it serves (``service=``, one of ``gateway.cbke.SE_SERVICES``), or
None for what any device gets whatever its keys (Key Establishment itself, Basic). This is the gate of
unsolicited SE frames (rig ``[policies] require_cbke``): before a frame reaches a subscription of an SE
service, the tap asks the session's gate (``gw.cbke.refuse_now``, once per frame and service) and a
refused frame never reaches the handler; the gate counts it per device and service. A subscription that
must still account for what it refuses (alert counts: SECMP0062 loses no alert, not even a refused one)
gives ``on_refused``, called with the refusal instead of the handler.

A malformed frame (bad ZCL header, a payload that does not decode, trailing bytes, an attribute value
of the wrong type), or one a handler refuses as out of range by raising :class:`MalformedFrame`, is
logged with the device and the reason, counted in :attr:`HanInput.stats` (by reason) and kept in a
bounded list of recent rejects; then it is ignored. A handler that fails in any other way is logged
and counted too. Nothing a device sends can stop the host or reach a handler half-decoded.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import zigpy.application
import zigpy.device
import zigpy.types as zigpy_t
from zigpy.zcl import Cluster, foundation

from hal.roles import Role
from hanrig_errors import BadInput

if TYPE_CHECKING:
    from .session import Gateway

LOGGER = logging.getLogger(__name__)

ZCL_PROFILES: Final = frozenset({0x0104, 0x0109, 0xC05E})  # HA, Smart Energy, ZLL: ZCL on all three
ZDO_ENDPOINT: Final = 0
RECENT_REJECTS: Final = 64  # malformed frames kept for inspection (the counters keep the rest)
DUPLICATE_WINDOW_S: Final = 0.5  # an identical frame again within this time is a radio retransmission
ZCL_HEADER_MAX: Final = 5  # frame control, manufacturer code (when flagged), TSN, command id
MANUFACTURER_SPECIFIC: Final = 0x04  # the frame control bit that puts a manufacturer code in the header
DECODE_CACHE_MAX: Final = 4096  # decoded headers / command payloads kept (a storm repeats itself)


class MalformedFrame(BadInput):
    """A frame from a device that cannot be decoded, or whose values are out of range."""


@dataclass(frozen=True, slots=True)
class FrameSource:
    """Who sent a frame, as features see it."""

    eui64: str  # "00:0d:6f:..": the CLI contract's spelling
    role: Role | None
    nwk: int
    endpoint: int
    at: float  # the radio loop's clock (virtual on sim://) when the frame arrived


@dataclass(frozen=True, slots=True)
class RejectedFrame:
    """A frame that was ignored, with why."""

    eui64: str
    cluster_id: int
    reason: str
    data: bytes
    at: float


@dataclass
class InputStats:
    """Counts since the tap was made; ``malformed`` by reason kind (text before the first ':')."""

    frames: int = 0
    zcl_frames: int = 0
    dispatched: int = 0
    duplicates: int = 0
    malformed: int = 0
    handler_errors: int = 0
    refused: int = 0  # frames an SE service's subscription did not get: no CBKE key (require_cbke)
    malformed_by_reason: Counter[str] = field(default_factory=Counter)


ReportHandler = Callable[[FrameSource, dict[int, Any]], None]
CommandHandler = Callable[[FrameSource, Any], None]
RequestHandler = Callable[[FrameSource, int, Any], None]
RefusedHandler = Callable[[FrameSource, Any, str], None]  # (source, values or args, the gate's refusal)


class SeGate(Protocol):
    """What the tap asks about each SE service frame (``gateway.cbke.CbkeService``)."""

    policy: Any

    def refuse_now(self, eui64: str, role: Role | None, service: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _Subscription:
    handler: Callable[..., None]
    service: str | None                  # None: served to any device, keyed or not
    on_refused: RefusedHandler | None


class HanInput:
    """The frame tap of one gateway session (one per session: use :meth:`of`)."""

    _by_gateway: weakref.WeakKeyDictionary[Gateway, HanInput] = weakref.WeakKeyDictionary()

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.stats = InputStats()
        self.rejects: deque[RejectedFrame] = deque(maxlen=RECENT_REJECTS)
        self.gate: SeGate | None = None  # set by the session's gw.cbke; without it every frame is served
        self._reports: dict[int, list[_Subscription]] = {}
        self._commands: dict[tuple[int, int, foundation.Direction], list[_Subscription]] = {}
        self._requests: dict[tuple[int, int], list[_Subscription]] = {}
        # every cluster anyone ever subscribed to, so a frame is judged with one set lookup, not a scan
        # of the subscription keys (subscriptions keep their key when their handlers go, so this does too)
        self._listened: set[int] = set()
        self._listener_ids: dict[str, int] = {}
        self._sources: dict[zigpy_t.EUI64, tuple[str, Role | None]] = {}
        self._last_frame: dict[tuple[zigpy_t.EUI64, int], tuple[bytes, float]] = {}
        # zigpy's struct decoding costs ~0.25 ms per ZCL header: under an alert storm the same few
        # headers and payloads recur, so decoded ones are kept (decoded objects are never mutated)
        self._headers_seen: dict[bytes, tuple[foundation.ZCLHeader, int]] = {}
        self._commands_seen: dict[tuple[int, int, foundation.Direction, bytes], Any] = {}

    def _decode_header(self, data: bytes) -> tuple[foundation.ZCLHeader, bytes]:
        # the key is the header's own octets (5 with a manufacturer code, else 3), so frames that differ
        # only in their payload (OTA block requests, readings) share one decoded header
        lead = data[:ZCL_HEADER_MAX if data and data[0] & MANUFACTURER_SPECIFIC else ZCL_HEADER_MAX - 2]
        known = self._headers_seen.get(lead)
        if known is None:
            header, rest = _decode_header(lead)
            known = (header, len(lead) - len(rest))
            _remember(self._headers_seen, lead, known)
        header, length = known
        return header, data[length:]

    @classmethod
    def of(cls, gateway: Gateway) -> HanInput:
        """The session's tap, attached to every radio on first use."""
        tap = cls._by_gateway.get(gateway)
        if tap is None:
            tap = cls._by_gateway[gateway] = cls(gateway)
            tap.attach()
        return tap

    # ------------------------------------------------------------------ subscriptions
    def attach(self) -> None:
        for radio_id, app in self.gateway.apps.items():
            if radio_id not in self._listener_ids:
                self._listener_ids[radio_id] = app.add_listener(_AppListener(self, app))

    def detach(self) -> None:
        for radio_id, listener_id in list(self._listener_ids.items()):
            self.gateway.apps[radio_id].remove_listener(listener_id)
            del self._listener_ids[radio_id]
        self._by_gateway.pop(self.gateway, None)

    def on_reports(self, cluster_id: int, handler: ReportHandler, *, service: str | None,
                   on_refused: RefusedHandler | None = None) -> Callable[[], None]:
        """Call ``handler(source, {attribute id: value})`` for every Report Attributes on ``cluster_id``
        (for ``service``: see the module docstring)."""
        return self._subscribe(self._reports.setdefault(cluster_id, []), cluster_id,
                               _Subscription(handler, service, on_refused))

    def on_command(
        self,
        cluster_id: int,
        command_id: int,
        handler: CommandHandler,
        direction: foundation.Direction = foundation.Direction.Server_to_Client,
        *,
        service: str | None,
        on_refused: RefusedHandler | None = None,
    ) -> Callable[[], None]:
        """Call ``handler(source, args)`` for every cluster command ``command_id`` sent in ``direction``."""
        return self._subscribe(self._commands.setdefault((cluster_id, command_id, direction), []), cluster_id,
                               _Subscription(handler, service, on_refused))

    def on_request(self, cluster_id: int, command_id: int, handler: RequestHandler, *, service: str | None,
                   on_refused: RefusedHandler | None = None) -> Callable[[], None]:
        """Call ``handler(source, tsn, args)`` for every client-to-server command ``command_id`` of
        ``cluster_id`` a device sends to the hub (the hub answers it with the same TSN)."""
        return self._subscribe(self._requests.setdefault((cluster_id, command_id), []), cluster_id,
                               _Subscription(handler, service, on_refused))

    def _subscribe(self, subscriptions: list[_Subscription], cluster_id: int,
                   subscription: _Subscription) -> Callable[[], None]:
        self._listened.add(cluster_id)
        subscriptions.append(subscription)
        return lambda: subscriptions.remove(subscription) if subscription in subscriptions else None

    def subscriptions(self) -> list[tuple[int, str | None]]:
        """(cluster id, service) of every live subscription: what the gate covers."""
        found = [(cluster_id, sub.service) for cluster_id, subs in self._reports.items() for sub in subs]
        found += [(key[0], sub.service) for table in (self._commands, self._requests)
                  for key, subs in table.items() for sub in subs]
        return found

    # ------------------------------------------------------------------ the input path
    def source_of(self, device: zigpy.device.Device, endpoint: int, at: float) -> FrameSource:
        cached = self._sources.get(device.ieee)
        if cached is None:
            han_device = self.gateway._han_device("", device.application, device)
            cached = (han_device.eui64, han_device.role)
            if han_device.role is not None:  # a role known only after the interview: look again later
                self._sources[device.ieee] = cached
        return FrameSource(cached[0], cached[1], int(device.nwk), endpoint, at)

    def reject(self, source: FrameSource, cluster_id: int, reason: str, data: bytes) -> None:
        self.stats.malformed += 1
        self.stats.malformed_by_reason[reason.split(":", 1)[0]] += 1
        self.rejects.append(RejectedFrame(source.eui64, cluster_id, reason, data, source.at))
        LOGGER.warning("frame from %s on cluster 0x%04x ignored: %s", source.eui64, cluster_id, reason)

    def frame(
        self,
        app: zigpy.application.ControllerApplication,
        device: zigpy.device.Device,
        profile: int,
        cluster_id: int,
        src_ep: int,
        data: bytes,
    ) -> None:
        """One APS frame from ``device``; never raises."""
        self.stats.frames += 1
        if profile not in ZCL_PROFILES or src_ep == ZDO_ENDPOINT:
            return
        if cluster_id not in self._listened:
            return  # nobody listens: not worth decoding
        self.stats.zcl_frames += 1
        at = asyncio.get_running_loop().time()
        source = self.source_of(device, src_ep, at)
        key = (device.ieee, cluster_id)
        last = self._last_frame.get(key)
        if last is not None and last[0] == data and at - last[1] < DUPLICATE_WINDOW_S:
            self.stats.duplicates += 1
            return
        self._last_frame[key] = (data, at)
        try:
            self._dispatch(source, cluster_id, data)
        except MalformedFrame as exc:
            self.reject(source, cluster_id, str(exc), data)
        except Exception as exc:  # a feature's bug must not stop the radio's receive path
            self.stats.handler_errors += 1
            LOGGER.error(
                "frame from %s on cluster 0x%04x: handler failed: %s: %s",
                source.eui64,
                cluster_id,
                type(exc).__name__,
                exc,
                exc_info=LOGGER.isEnabledFor(logging.DEBUG),
            )

    def _dispatch(self, source: FrameSource, cluster_id: int, data: bytes) -> None:
        header, payload = self._decode_header(data)
        control = header.frame_control
        if control.is_manufacturer_specific:
            return  # hanrig's features speak standard ZCL only
        if control.frame_type == foundation.FrameType.GLOBAL_COMMAND:
            if header.command_id != foundation.GeneralCommand.Report_Attributes:
                return
            handlers = self._reports.get(cluster_id)
            if not handlers:
                return
            values = _decode_reports(cluster_id, payload)
            self.stats.dispatched += 1
            self._deliver(source, handlers, values)
            return
        direction = foundation.Direction(control.direction)
        handlers = self._commands.get((cluster_id, header.command_id, direction))
        requests = self._requests.get((cluster_id, header.command_id)) \
            if direction is foundation.Direction.Client_to_Server else None
        if not handlers and not requests:
            return
        key = (cluster_id, header.command_id, direction, payload)
        args = self._commands_seen.get(key)
        if args is None:
            args = _decode_command(cluster_id, header.command_id, direction, payload)
            _remember(self._commands_seen, key, args)
        self.stats.dispatched += 1
        verdicts: dict[str, str | None] = {}   # a frame both kinds of subscription get is judged once
        if handlers:
            self._deliver(source, handlers, args, verdicts)
        if requests:
            self._deliver(source, requests, args, verdicts, header.tsn)

    def _deliver(self, source: FrameSource, subscriptions: list[_Subscription], payload: Any,
                 verdicts: dict[str, str | None] | None = None, tsn: int | None = None) -> None:
        """Hand one decoded frame to each subscription, through the SE gate (one verdict per service)."""
        gate = self.gate
        gated = gate is not None and gate.policy.required
        for subscription in list(subscriptions):
            service = subscription.service
            if gated and service is not None:
                if verdicts is None:
                    verdicts = {}
                if service not in verdicts:
                    verdicts[service] = gate.refuse_now(source.eui64, source.role, service)  # type: ignore[union-attr]
                    if verdicts[service] is not None:
                        self.stats.refused += 1
                refusal = verdicts[service]
                if refusal is not None:
                    if subscription.on_refused is not None:
                        subscription.on_refused(source, payload, refusal)
                    continue
            if tsn is None:
                subscription.handler(source, payload)
            else:
                subscription.handler(source, tsn, payload)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= DECODE_CACHE_MAX:
        cache.clear()  # simple bound: a storm refills the few entries it needs at once
    cache[key] = value


def _decode_header(data: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    try:
        header, rest = foundation.ZCLHeader.deserialize(data)
    except Exception as exc:  # the parser boundary: whatever zigpy raises on bad bytes
        raise MalformedFrame(f"ZCL header: {exc or 'too short'}") from None
    if header.frame_control.frame_type not in (
        foundation.FrameType.GLOBAL_COMMAND,
        foundation.FrameType.CLUSTER_COMMAND,
    ):
        raise MalformedFrame(f"ZCL header: reserved frame type {int(header.frame_control.frame_type)}")
    return header, rest


def _decode_reports(cluster_id: int, payload: bytes) -> dict[int, Any]:
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Report_Attributes].schema
    try:
        command, rest = schema.deserialize(payload)
    except Exception as exc:  # the parser boundary
        raise MalformedFrame(f"report attributes: payload does not decode ({exc})") from None
    if rest:
        raise MalformedFrame(f"report attributes: {len(rest)} trailing byte(s)")
    if not command.attribute_reports:
        raise MalformedFrame("report attributes: no attribute records")
    cluster = Cluster._registry.get(cluster_id)
    values: dict[int, Any] = {}
    for record in command.attribute_reports:
        attrid = int(record.attrid)
        definition = cluster.attributes.get(attrid) if cluster is not None else None
        value = record.value.value
        if definition is not None:
            if int(record.value.type) != int(definition.zcl_type):
                raise MalformedFrame(
                    f"attribute type: 0x{attrid:04x} {definition.name} reported as ZCL type "
                    f"0x{int(record.value.type):02x}, expected 0x{int(definition.zcl_type):02x}"
                )
            try:
                value = definition.type(value)
            except Exception as exc:  # the parser boundary
                raise MalformedFrame(f"attribute value: 0x{attrid:04x} {definition.name}: {exc}") from None
        if attrid in values:
            raise MalformedFrame(f"report attributes: attribute 0x{attrid:04x} reported twice")
        values[attrid] = value
    return values


def _decode_command(cluster_id: int, command_id: int, direction: foundation.Direction, payload: bytes) -> Any:
    cluster = Cluster._registry.get(cluster_id)
    if cluster is None:
        raise MalformedFrame(f"cluster command: cluster 0x{cluster_id:04x} unknown")
    # A server-to-client frame carries one of the cluster's "client commands" (zigpy's naming).
    server_to_client = direction == foundation.Direction.Server_to_Client
    table = cluster.client_commands if server_to_client else cluster.server_commands
    definition = table.get(command_id)
    if definition is None:
        raise MalformedFrame(f"cluster command: 0x{command_id:02x} not defined on cluster 0x{cluster_id:04x}")
    try:
        args, rest = definition.schema.deserialize(payload)
    except Exception as exc:  # the parser boundary
        raise MalformedFrame(f"command payload: {definition.name} does not decode ({exc})") from None
    if rest:
        raise MalformedFrame(f"command payload: {definition.name} has {len(rest)} trailing byte(s)")
    return args


class _AppListener:
    """zigpy application listener: hands ``handle_message`` events of one radio to the tap."""

    def __init__(self, tap: HanInput, app: zigpy.application.ControllerApplication) -> None:
        self._tap = tap
        self._app = app

    def handle_message(
        self,
        device: zigpy.device.Device,
        profile: int,
        cluster: int,
        src_ep: int,
        dst_ep: int,
        message: bytes,
    ) -> None:
        self._tap.frame(self._app, device, profile, cluster, src_ep, message)
