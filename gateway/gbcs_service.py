"""GBCS on the HAN (``gw.gbcs``): the hub relays a remote party's command to a meter over GB-HRGP
(``hal.gbhrgp``) and checks what comes back (SECMP0063 credentials; the other use cases build on it).

A GSME opens its own tunnel and the hub holds its messages until it asks (``gateway.gsme_tunnel``).
The hub is the Tunneling client of every ESME: it sends Request Tunnel (GB-HRGP, manufacturer 0xFFFF,
no flow control, MaximumIncomingTransferSize 1500), keeps the tunnel, and requests a new one after a
Tunnel Closure Notification, a Transfer Data Error No Such Tunnel, or 0xFFFF s. A command is sent in one
Transfer Data (GBCS 10.2.2; the radio's APS fragmentation carries one longer than a frame, see
``hal.gbhrgp``); the meter's messages come back the same way and pass through
``hal.gbhrgp.StreamReassembler``, which cuts them by their own length.

Each response is judged, never trusted: it must read as GBCS (``gbcs.read_message``), come from the
device the command went to, be addressed to the command's originator, carry the command's originator
counter and no counter already answered (a replay), and its MAC (or, for a signed-only response, its
signature) must verify with ``gbcs.Security``. A response that fails any of these raises
:class:`GbcsResponseRejected` naming the reason. Frames that are not GBCS, and GBCS messages nobody
waits for, are counted in :attr:`GbcsService.stats` and dropped; nothing a device sends can stop the hub.

The remote party's side (building, MACing and signing the command) uses the keys of ``keystore``: on the
simulated bench its TEST-ONLY PKI (``gateway.bench.bench_keystore``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from zigpy.exceptions import ZigbeeException

import gbcs
from hal.exceptions import TunnelFramingError
from hal.gbhrgp import (
    MANUFACTURER_CODE,
    MAX_INCOMING_TRANSFER_SIZE,
    PROTOCOL_ID,
    StreamReassembler,
    transfer_data,
)
from hal.se_clusters import Tunneling, TunnelStatus
from hanrig_errors import CheckFailed, HanrigError, eui64_bytes

from .cbke import GBCS
from .exceptions import DeviceNotFound, GatewayError
from .gsme_tunnel import GsmeTunnels, opens_its_own_tunnel
from .han_input import FrameSource, HanInput

if TYPE_CHECKING:
    from .session import Gateway, HanDevice

LOGGER = logging.getLogger(__name__)
CS06: Final = 0x0012  # Activate Firmware (SECMP0024)
CS06_ALERT: Final = 0x00CA  # the meter's future-dated activation alert (8F66 / 8F67)

TUNNELING: Final = Tunneling.cluster_id
RESPONSE_TIMEOUT_S: Final = 60.0
GSME_WAKE_S: Final = 1800.0  # a GSME asks for what the hub holds when it wakes: about every 30 minutes
CCS08: Final = 0x0128


class GbcsResponseRejected(CheckFailed):
    """A meter's response that failed a GBCS check; ``reason`` is one of mac, signature, counter,
    replay, target, originator, malformed."""

    def __init__(self, device: str, reason: str, detail: str) -> None:
        super().__init__(f"device {device}: GBCS response refused ({reason}): {detail}")
        self.device = device
        self.reason = reason
        self.detail = detail


@dataclass
class Exchange:
    """One command and the response it got, with the verdicts."""

    device: str
    command: gbcs.Message
    response: gbcs.Message
    response_bytes: bytes
    security: gbcs.SecurityReport
    decoded: dict[str, Any]
    octets_out: int  # the one Transfer Data's data: the command's length


@dataclass
class Cs06Activation:
    """What a CS06 got: the meter's response and, for a future-dated one, its 8F66 / 8F67 alert."""

    device: str
    counter: int
    execution_date_time: str | None
    response: dict[str, Any]
    alert: dict[str, Any] | None = None

    @property
    def outcome(self) -> str:
        """The activation outcome (``success``, ``hash_mismatch``, ``no_image_held``...)."""
        return str((self.alert or self.response).get("outcome", "accepted"))

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    @property
    def firmware_version(self) -> str | None:
        return (self.alert or self.response).get("firmware_version")


@dataclass
class GbcsStats:
    messages_in: int = 0
    responses: int = 0
    alerts: int = 0
    dropped: int = 0
    dropped_by_reason: Counter[str] = field(default_factory=Counter)


@dataclass
class _Tunnel:
    device: str
    tunnel_id: int
    inbound: StreamReassembler


class GbcsService:
    """The session's GBCS relay."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.stats = GbcsStats()
        self._keystore: gbcs.Keystore | None = None
        self._security: gbcs.Security | None = None
        self._tunnels: dict[str, _Tunnel] = {}
        self._waiting: dict[tuple[str, int], asyncio.Future[tuple[gbcs.Message, bytes]]] = {}
        self._spent: set[tuple[str, int]] = set()  # (device, counter) of every exchange that ended
        self._counter = itertools.count(1)
        self._counter_base = 0
        self.alerts: list[tuple[str, gbcs.Message]] = []  # alerts received (SECMP0062 reads these)
        self.alert_listeners: list[Callable[[str, gbcs.Message, bytes], None]] = []
        # alerts of a device the SE gate refuses (require_cbke): not acted on, only counted (SECMP0062)
        self.refused_alert_listeners: list[Callable[[str, gbcs.Message, str], None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.gsme = GsmeTunnels(self)  # the hub as the Tunneling server of the GSMEs' own tunnels

    # ------------------------------------------------------------------ keys
    def use_keystore(self, keystore: gbcs.Keystore) -> None:
        self._keystore = keystore
        self._security = gbcs.Security(keystore)

    @property
    def security(self) -> gbcs.Security:
        if self._security is None:
            from .bench import bench_keystore

            devices = [(d.role.value, d.eui64) for d in self.gateway.devices() if d.role is not None]
            from .bench import CHF_DEVICE

            self.use_keystore(bench_keystore([*devices, ("GPF", self.gpf_eui64()), CHF_DEVICE]))  # seed 1
        assert self._security is not None
        return self._security

    def gpf_eui64(self) -> str:
        """The GPF's Entity ID: on this bench, the hub's coordinator EUI-64 (the first radio's)."""
        app = next(iter(self.gateway.apps.values()))
        return str(app.state.node_info.ieee)

    def chf_eui64(self) -> str:
        """The Communications Hub Function's Entity ID on this bench (see ``gateway.bench.CHF_DEVICE``)."""
        from .bench import CHF_DEVICE

        return CHF_DEVICE[1]

    def transfer_alert(self, device: str, firmware_version: int | None, code: int,
                       when: datetime) -> gbcs.Message:
        """The hub's CCS08 Firmware Transfer Alert for one device's OTA outcome (SECMP0007): alert 0x8F8A
        on success, 0x8F89 otherwise, the CCS08 outcome code (``ota.outcomes.TransferAlert``), built by
        ``gbcs`` as the RTDS's CCS08 is (from the CHF to the Access Control Broker, signed, no MAC)."""
        from gbcs.content import TransferOutcome, ccs08_alert_content

        security = self.security
        acb = security.access_control_broker or bytes(8)
        chf = eui64_bytes(self.chf_eui64())
        version = (firmware_version or 0).to_bytes(4, "big")
        content = ccs08_alert_content(0x8F8A if code == 0 else 0x8F89,
                                      when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      eui64_bytes(device), version, TransferOutcome(code))
        return security.sign(gbcs.alert(chf, acb, self.next_counter(), CCS08, content))

    def next_counter(self) -> int:
        """A remote party's originator counter: above any used before (GBCS: strictly increasing)."""
        if not self._counter_base:
            utc = self.gateway.sim().utc_now() if self.gateway.sim() is not None else None
            now = utc or dt.datetime.now(dt.UTC)
            self._counter_base = int(now.timestamp()) << 16
        return self._counter_base + next(self._counter)

    # ------------------------------------------------------------------ lifetime
    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await self.gsme.close()
        for waiter in self._waiting.values():
            waiter.cancel()

    def _subscribe(self) -> None:
        if self._unsubscribe:
            return
        tap = HanInput.of(self.gateway)
        defs = Tunneling.ClientCommandDefs
        self._unsubscribe = [
            tap.on_command(TUNNELING, defs.transfer_data.id, self._on_transfer_data, service=GBCS,
                           on_refused=self._on_transfer_data),
            tap.on_command(TUNNELING, defs.transfer_data_error.id, self._on_transfer_error, service=GBCS),
            tap.on_command(TUNNELING, defs.tunnel_closure_notification.id, self._on_closure, service=GBCS),
            *self.gsme.subscribe(tap),
        ]

    def start(self) -> None:
        """Listen on the tunnels from the start (a hub function: a GSME opens its tunnel when it wakes)."""
        self._subscribe()

    def _drop(self, source: str, reason: str) -> None:
        self.stats.dropped += 1
        self.stats.dropped_by_reason[reason.split(":", 1)[0]] += 1
        LOGGER.info("%s: GBCS input dropped: %s", source, reason)

    # ------------------------------------------------------------------ input
    def _on_transfer_data(self, source: FrameSource, args: Any, refusal: str | None = None) -> None:
        """Transfer Data on the hub's tunnel; from a device the SE gate refuses (``refusal``), its messages
        are still read, so that its alerts are counted as refused, but none is acted on."""
        tunnel = self._tunnels.get(source.eui64)
        if tunnel is None or tunnel.tunnel_id != int(args.tunnel_id):
            self._drop(source.eui64, f"no tunnel: Transfer Data on tunnel {int(args.tunnel_id)}")
            return
        try:
            messages = tunnel.inbound.feed(bytes(args.data), asyncio.get_running_loop().time())
        except TunnelFramingError as exc:
            self._drop(source.eui64, f"framing: {exc}")
            return
        for found in messages:
            self.receive(source.eui64, found.message, refusal)

    def receive(self, device: str, data: bytes, refusal: str | None = None) -> None:
        """One GBCS message from ``device``; never raises (unreadable input is counted and dropped). With
        the SE gate's ``refusal``, an alert goes to the refused-alert listeners and anything else is
        dropped: nothing from a device refused SE service is acted on."""
        self.stats.messages_in += 1
        try:
            message = gbcs.read_message(data)
        except gbcs.GbcsError as exc:
            self._drop(device, f"malformed: {exc}")
            return
        if refusal is not None:
            if message.cra_flag == 3:
                for refused in list(self.refused_alert_listeners):
                    refused(device, message, refusal)
            else:
                self._drop(device, refusal)
            return
        if message.cra_flag == 3:
            self.stats.alerts += 1
            self.alerts.append((device, message))
            for listener in list(self.alert_listeners):
                listener(device, message, data)
            return
        if message.cra_flag != 2:
            self._drop(device, "unexpected: a command from a device")
            return
        waiter = self._waiting.get((device, message.originator_counter))
        if waiter is None:
            # A stale or replayed counter: the response to no command in flight. The exchange waiting on
            # this device learns of it (the meter answered, wrongly), everything else is dropped.
            pending = [f for (dev, _), f in self._waiting.items() if dev == device and not f.done()]
            if pending:
                pending[0].set_result((message, data))
                return
            self._drop(device, f"unsolicited: response with counter {message.originator_counter}")
            return
        if not waiter.done():
            waiter.set_result((message, data))

    def _on_transfer_error(self, source: FrameSource, args: Any) -> None:
        status = args.transfer_data_status
        LOGGER.warning("%s: tunnel %d: Transfer Data Error %s", source.eui64, int(args.tunnel_id),
                       getattr(status, "name", status))
        tunnel = self._tunnels.get(source.eui64)
        if tunnel is not None and tunnel.tunnel_id == int(args.tunnel_id):
            del self._tunnels[source.eui64]  # No Such Tunnel and friends: ask for a new one next time

    def _on_closure(self, source: FrameSource, args: Any) -> None:
        tunnel = self._tunnels.get(source.eui64)
        if tunnel is not None and tunnel.tunnel_id == int(args.tunnel_id):
            del self._tunnels[source.eui64]

    # ------------------------------------------------------------------ the tunnel
    async def open_tunnel(self, device: HanDevice) -> _Tunnel:
        """The hub's tunnel to ``device`` (requested now if there is none); the tunnel is an SE cluster, so
        it is refused to a keyless Type 1 device when the rig requires CBKE."""
        await self.gateway.cbke.admit(device.eui64, device.role, GBCS)
        self._subscribe()
        tunnel = self._tunnels.get(device.eui64)
        if tunnel is not None:
            return tunnel
        cluster = device.endpoint.in_clusters.get(TUNNELING)
        if cluster is None:
            raise DeviceNotFound(device.eui64, "has no Tunneling server (0x0704): no GB-HRGP tunnel")
        try:
            reply = await cluster.command(
                Tunneling.ServerCommandDefs.request_tunnel.id, protocol_id=PROTOCOL_ID,
                manufacturer_code=MANUFACTURER_CODE, flow_control_support=False,
                maximum_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            raise DeviceNotFound(device.eui64, f"did not answer Request Tunnel: {exc}") from None
        status = getattr(reply, "tunnel_status", None)
        if status != TunnelStatus.Success:
            raise GatewayError(f"device {device.eui64}: Request Tunnel refused: "
                               f"{status.name if status is not None else reply}")
        tunnel = _Tunnel(device.eui64, int(reply.tunnel_id), StreamReassembler())
        self._tunnels[device.eui64] = tunnel
        return tunnel

    async def send(self, device: HanDevice, data: bytes) -> int:
        """Put one GBCS message on ``device``'s tunnel in one Transfer Data; the octets it carried."""
        payload = transfer_data(data)  # over 1500 octets: refused here, before a tunnel is asked for
        if opens_its_own_tunnel(device):  # a GSME: held until it asks (GET) on the tunnel it opens
            await self.gateway.cbke.admit(device.eui64, device.role, GBCS)
            self._subscribe()
            return self.gsme.hold(device, payload)
        tunnel = await self.open_tunnel(device)
        cluster = device.endpoint.in_clusters[TUNNELING]
        try:
            await cluster.command(Tunneling.ServerCommandDefs.transfer_data.id,
                                  tunnel_id=tunnel.tunnel_id, data=payload)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            self._tunnels.pop(device.eui64, None)
            raise DeviceNotFound(device.eui64, f"GBCS message not delivered: {exc}") from None
        return len(payload)

    # ------------------------------------------------------------------ a use case, end to end
    def build_command(self, device: HanDevice, message_code: int, content: bytes, *,
                      originator: bytes | None = None, signed: bool = False) -> gbcs.Message:
        """A remote party's command for ``device``: MACed with the Access Control Broker's key and, where
        the use case needs it, signed by ``originator`` (default: the ACB)."""
        security = self.security
        acb = security.access_control_broker
        if acb is None:
            raise GatewayError("the GBCS keystore holds no Access Control Broker key")
        target = eui64_bytes(device.eui64)
        command = gbcs.command(originator or acb, target, self.next_counter(), message_code, content)
        if signed:
            command = security.sign(command)
        return security.apply_mac(command)

    async def exchange(self, device: HanDevice, command: gbcs.Message,
                       timeout: float = RESPONSE_TIMEOUT_S) -> Exchange:
        """Send ``command`` to ``device`` and return its checked response."""
        if opens_its_own_tunnel(device):  # the command waits at the hub until the GSME next wakes
            timeout += GSME_WAKE_S
        key = (device.eui64, command.originator_counter)
        waiter: asyncio.Future[tuple[gbcs.Message, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting[key] = waiter
        try:
            sent = await self.send(device, command.to_bytes())
            try:
                async with asyncio.timeout(timeout):
                    response, raw = await waiter
            except TimeoutError:
                raise DeviceNotFound(device.eui64, f"no GBCS response within {timeout:g} s "
                                                   f"(counter {command.originator_counter})") from None
            self.stats.responses += 1
            report = self.judge(device.eui64, command, response)
        finally:
            self._waiting.pop(key, None)
            self._spent.add(key)
        decoded = gbcs.decode_content(response, self.security)
        return Exchange(device.eui64, command, response, raw, report, decoded, sent)

    @property
    def supplier(self) -> bytes:
        """The Supplier's Entity ID on this bench (the TEST-ONLY PKI's): who signs a CS06 by default."""
        from certs.testpki import ENTITY_IDS

        return eui64_bytes(ENTITY_IDS["supplier"])

    async def activate_firmware(self, device: HanDevice, image_sha256: bytes,
                                originator: bytes | None = None, *, at: dt.datetime | None = None,
                                timeout: float = RESPONSE_TIMEOUT_S) -> Cs06Activation:
        """SECMP0024: CS06 Activate Firmware, signed by ``originator`` (the Supplier), to a meter that
        compares the hash with the image it holds. Immediate: the response carries the outcome. Future-dated:
        the response says "accepted" and the meter's 8F66 (success) / 8F67 (failure) alert, with the
        command's counter, is awaited until ``timeout`` seconds after ``at``."""
        from gbcs.content import cs06_command_content

        when = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None
        originator = originator if originator is not None else self.supplier
        counter = self.next_counter()
        target = eui64_bytes(device.eui64)
        command = gbcs.command(originator, target, counter, CS06,
                               cs06_command_content(image_sha256, counter, when))
        command = self.security.apply_mac(self.security.sign(command))
        # the matching alert and its decoded content (decoded once, to match the counter)
        arrived: asyncio.Future[tuple[gbcs.Message, dict[str, Any]]] = \
            asyncio.get_running_loop().create_future()

        def on_alert(source: str, message: gbcs.Message, _data: bytes) -> None:
            if source == device.eui64 and message.message_code == CS06_ALERT and not arrived.done():
                decoded = gbcs.decode_content(message)
                if decoded.get("originator_counter") == counter:
                    arrived.set_result((message, decoded))

        self.alert_listeners.append(on_alert)
        try:
            done = await self.exchange(device, command, timeout)
            report = Cs06Activation(device.eui64, counter, when, done.decoded)
            if at is None or not done.decoded.get("command_accepted"):
                return report
            try:
                async with asyncio.timeout(self._seconds_until(at) + timeout):
                    alert, decoded_alert = await arrived
            except TimeoutError:
                raise DeviceNotFound(device.eui64, f"no CS06 alert (8F66/8F67) by {timeout:g} s after "
                                                   f"{when}") from None
            if self.security.check(alert).signature is not gbcs.Verdict.VALID:
                raise GbcsResponseRejected(device.eui64, "signature", "the CS06 alert's signature does not "
                                                                      "verify")
            report.alert = decoded_alert
            return report
        finally:
            self.alert_listeners.remove(on_alert)

    def _seconds_until(self, at: dt.datetime) -> float:
        """Seconds from the hub's clock (the GPF's, the one the bench's meters are set by) until ``at``."""
        return max((at - self.gateway.gpf.now()).total_seconds(), 0.0)

    def judge(self, device: str, command: gbcs.Message, response: gbcs.Message) -> gbcs.SecurityReport:
        """The checks a response must pass (see the module docstring); raises ``GbcsResponseRejected``."""
        device_id = eui64_bytes(device)
        if response.originator != device_id:
            raise GbcsResponseRejected(device, "originator", f"from {response.originator.hex()}, "
                                                             f"not the device {device_id.hex()}")
        if response.target != command.originator:
            raise GbcsResponseRejected(device, "target", f"addressed to {response.target.hex()}, the command "
                                                         f"came from {command.originator.hex()}")
        if response.message_code != command.message_code:
            raise GbcsResponseRejected(device, "message code", f"0x{response.message_code:04x} answers "
                                                               f"0x{command.message_code:04x}")
        counter = response.originator_counter
        if (device, counter) in self._spent:
            raise GbcsResponseRejected(device, "replay", f"counter {counter} belongs to an exchange already "
                                                         f"answered (sent {command.originator_counter})")
        if counter != command.originator_counter:
            raise GbcsResponseRejected(device, "counter", f"counter {counter} answers no command "
                                                          f"(sent {command.originator_counter})")
        report = self.security.check(response)
        if report.mac is gbcs.Verdict.INVALID:
            raise GbcsResponseRejected(device, "mac", "the response's MAC does not verify")
        if report.signature is gbcs.Verdict.INVALID:
            raise GbcsResponseRejected(device, "signature", "the response's signature does not verify")
        if gbcs.Verdict.VALID not in (report.mac, report.signature):
            raise GbcsResponseRejected(device, "mac", f"neither MAC ({report.mac.value}) nor signature "
                                                      f"({report.signature.value}) verified")
        return report


__all__ = ["Cs06Activation", "Exchange", "GbcsResponseRejected", "GbcsService", "GbcsStats"]
