"""A GBCS device's handling of a remote party's command: what a simulated ESME (or GSME) does with the
octets the hub relays to it, and what it answers (SECMP0063 credentials; more use cases plug in here).

Bytes in, bytes out, no radio and no clock of its own: ``hal.sim`` carries the octets over the tunnel and
``gateway.bench`` builds one :class:`GbcsMeter` per simulated meter with its own keys (the bench's
TEST-ONLY PKI) and the remote parties' public keys only.

Checks on each command, in GBCS order; a command that fails any is discarded without a response (GBCS
answers an unauthenticated command with nothing) and the reason is kept in ``refused``:

1. it reads as a GBCS command (CRA flag 1);
2. its business target is this device;
3. its MAC verifies with the key agreed with the Access Control Broker (``gbcs.security``);
4. its originator counter is above every counter accepted before (``CounterTracker``);
5. a use case that GBCS signs (CS02c) carries a valid signature of its business originator.

Alerts: :meth:`GbcsMeter.alert` builds a device alert (counted in ``alerts_sent``, the sender's own
figure SECMP0062 is judged against). Answers: CS02a (the trust anchor cells' subject unique ids and
key ids, per requested role; a role with no cell gets status 25 trust anchor not found) and CS02c
(a fresh key pair and its PKCS#10 request signed by the device's DS key) and CS06 (SECMP0024: the
device compares the command's Manufacturer Image hash with the image it holds, :meth:`GbcsMeter.hold_image`,
and activates now, answering the outcome, or at the command's date-time, answering "command accepted"
then raising 8F66 / 8F67 from :meth:`GbcsMeter.due` when the caller's clock reaches it). Faults a bench needs
(:class:`MeterFault`) damage the response the hub receives: a bad MAC, a stale (replayed) counter, a
wrong target.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from certs import CertificateError, RemotePartyRole, load_certificate
from certs.cells import classify_file_name

from .content import (
    ActivationOutcome,
    StatusCode,
    TrustAnchorCell,
    cs02a_response_content,
    cs02c_error_content,
    cs02c_response_content,
    cs06_alert_content,
    cs06_response_content,
    decode_content,
    dlms_alert_content,
)
from .exceptions import CounterRejected, GbcsError
from .security import CounterTracker, Security, Verdict
from .wire import DlmsDateTime, Message, alert, read_message, response

CS02A = 0x0008
CS02C = 0x000A
CS06 = 0x0012
CS06_ALERT = 0x00CA  # message code of the future-dated activation alert
FUTURE_DATED_SUCCESS, FUTURE_DATED_FAILURE = 0x8F66, 0x8F67
CANCEL_AT = "9999-12-31T23:59:59Z"
SIGNED_COMMANDS = (CS02C, CS06)
GENERIC_NON_CRITICAL_ALERT = 0x1001


class MeterFault(enum.StrEnum):
    """What a simulated meter gets wrong in its responses."""

    NONE = "none"
    BAD_MAC = "bad_mac"  # the MAC (or signature) of the response does not verify
    STALE_COUNTER = "stale_counter"  # the response repeats the counter of an earlier exchange
    WRONG_TARGET = "wrong_target"  # the response is addressed to another remote party


def cells_from_certificates(cells: Mapping[str, bytes]) -> list[TrustAnchorCell]:
    """CS02a cell details from installed certificates by cell name (``networkOperator-DS-management``);
    a cell whose certificate does not parse is reported with zero ids, as a device with a damaged
    cell would."""
    out = []
    for name, der in cells.items():
        classified = classify_file_name(f"{name}.der")
        if classified is None or classified[1] is None:
            continue
        cell_id = classified[1]
        try:
            cert = load_certificate(der, name=name)
            subject, key_id = cert.entity_id or bytes(8), (cert.ski or bytes(8))[:8]
        except CertificateError:
            subject, key_id = bytes(8), bytes(8)
        out.append(TrustAnchorCell(int(cell_id.remote_party_role), cell_id.key_usage.short, subject, key_id,
                                   prepayment=bool(cell_id.cell_usage)))
    return out


@dataclass
class GbcsMeter:
    """One simulated meter's GBCS side."""

    eui64: bytes
    security: Security
    cells: list[TrustAnchorCell]
    fault: MeterFault = MeterFault.NONE
    seq_numbers: dict[int, int] = field(default_factory=dict)
    tracker: CounterTracker = field(default_factory=CounterTracker)
    commands_received: int = 0
    responses_sent: int = 0
    refused: list[str] = field(default_factory=list)
    issued_keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict, repr=False)
    alert_target: bytes = bytes(8)  # the remote party device alerts go to (the supplier on the bench)
    alerts_sent: int = 0  # the sender's own count (SECMP0062 is judged against it)
    alert_counter: int = 0x100000000  # the device's alert originator counter, strictly increasing
    _last_counter: int | None = None
    # SECMP0024: the firmware the meter runs, the image it has been sent (its SHA-256 Manufacturer Image
    # hash and version) and a future-dated CS06 waiting for its time: (when, command counter, hash,
    # the remote party that sent it, whom the 8F66/8F67 goes to).
    firmware_version: bytes = b"\x00\x00\x00\x01"
    held_image_hash: bytes | None = None
    held_image_version: bytes = b""
    pending_activation: tuple[datetime, int, bytes, bytes] | None = None
    activations: list[tuple[int, str]] = field(default_factory=list)  # (counter, outcome name)
    # Hooks a simulated device plugs in (hal.sim): the image its OTA client holds (SHA-256 of the
    # Manufacturer Image, version octets), what running it does, and when a future-dated one is due.
    held_image: Callable[[], tuple[bytes, bytes] | None] | None = field(default=None, repr=False)
    on_activated: Callable[[], None] | None = field(default=None, repr=False)
    on_future_dated: Callable[[datetime], None] | None = field(default=None, repr=False)
    # CS02c's new key pair, from (key usage "DS"/"KA", how many this meter made before): None draws a
    # random one, as a meter does. The bench derives it from its seed instead, so a seeded run stays one
    # trace: the CSR's DER ECDSA signature is 70 to 72 octets, and a random key moved every later frame.
    new_key: Callable[[str, int], ec.EllipticCurvePrivateKey] | None = field(default=None, repr=False)
    keys_made: int = 0

    # ------------------------------------------------------------------ an alert out
    def alert(self, alert_code: int, when: DlmsDateTime | datetime) -> bytes:
        """A GBCS alert (CRA flag 3), DLMS as an ESME sends it, signed by this device (as the RTDS ESME
        alert is: signature, no MAC); message code 0x1001 (generic non-critical alert)."""
        if isinstance(when, datetime):
            when = DlmsDateTime.from_datetime(when)
        invoke_id = 0x20000000 | ((self.alert_counter + 1) & 0x0FFFFFFF)  # from the counter it goes out with
        return self._signed_alert(self.alert_target, GENERIC_NON_CRITICAL_ALERT,
                                  dlms_alert_content(invoke_id, alert_code, when))

    def _signed_alert(self, target: bytes, message_code: int, content: bytes) -> bytes:
        """An alert to ``target`` under the next alert counter, counted and signed by this device."""
        self.alert_counter += 1
        self.alerts_sent += 1
        message = alert(self.eui64, target, self.alert_counter, message_code, content)
        return self.security.sign(message).to_bytes()

    # ------------------------------------------------------------------ a command in
    def handle(self, data: bytes) -> list[bytes]:
        """The messages this meter sends back for ``data`` (none when it refuses it)."""
        self.commands_received += 1
        try:
            message = read_message(data)
        except GbcsError as exc:
            return self._refuse(f"malformed: {exc}")
        if message.cra_flag != 1:
            return self._refuse(f"not a command (CRA flag {message.cra_flag})")
        if message.target != self.eui64:
            return self._refuse(f"wrong target: addressed to {message.target.hex()}")
        mac = self.security.verify_mac(message)
        if mac is not Verdict.VALID:
            return self._refuse(f"MAC {mac.value}")
        try:
            self.tracker.accept(message)
        except CounterRejected as exc:
            return self._refuse(str(exc))
        if message.message_code in SIGNED_COMMANDS:
            signature = self.security.verify_signature(message)
            if signature is not Verdict.VALID:
                return self._refuse(f"signature {signature.value}")
        answer = self._answer(message)
        if answer is None:
            return self._refuse(f"use case 0x{message.message_code:04x} not supported by this meter")
        self.responses_sent += 1
        previous, self._last_counter = self._last_counter, message.originator_counter
        return [self._secure(answer, message, previous)]

    def _refuse(self, reason: str) -> list[bytes]:
        self.refused.append(reason)
        return []

    # ------------------------------------------------------------------ use cases
    def _answer(self, command: Message) -> tuple[bytes, bool] | None:
        """(content, signed) of the response; None for a use case this meter does not answer."""
        decoded: dict[str, Any] = decode_content(command)
        if command.message_code == CS02A:
            parties = []
            for role_name in decoded["roles_required"]:
                role = _role_number(role_name)
                cells = [cell for cell in self.cells if cell.role == role]
                status = StatusCode.SUCCESS if cells else StatusCode.TRUST_ANCHOR_NOT_FOUND
                parties.append((role, status, self.seq_numbers.get(role, 0), cells))
            return cs02a_response_content(parties), False
        if command.message_code == CS02C:
            usage = decoded["key_usage"]
            if usage not in (["digitalSignature"], ["keyAgreement"]):
                return cs02c_error_content(1), True
            key = "DS" if usage == ["digitalSignature"] else "KA"
            private = (ec.generate_private_key(ec.SECP256R1()) if self.new_key is None
                       else self.new_key(key, self.keys_made))
            self.keys_made += 1
            self.issued_keys[key] = private
            return cs02c_response_content(self.eui64, key, private), True
        if command.message_code == CS06:
            return self._cs06(decoded, command.originator_counter, command.originator), True
        return None

    # ------------------------------------------------------------------ SECMP0024 activation
    def hold_image(self, image_hash: bytes, version: bytes) -> None:
        """The image a completed transfer left in the meter (it activates only what it holds)."""
        self.held_image_hash, self.held_image_version = image_hash, version

    def _cs06(self, decoded: dict[str, Any], counter: int, originator: bytes) -> bytes:
        wanted = bytes.fromhex(decoded["manufacturer_image_hash"])
        if decoded["cancellation"]:
            self.pending_activation = None
            return cs06_response_content(None)
        if decoded["immediate"]:
            return cs06_response_content(self._activate(wanted, counter), self.firmware_version)
        when = datetime.fromisoformat(decoded["execution_date_time"].replace("Z", "+00:00"))
        self.pending_activation = (when, counter, wanted, originator)
        if self.on_future_dated is not None:
            self.on_future_dated(when)
        return cs06_response_content(None)

    def _activate(self, wanted: bytes, counter: int) -> ActivationOutcome:
        """The device's own check: the CS06's hash against the image it holds, then the switch."""
        if self.held_image is not None:
            held = self.held_image()
            self.held_image_hash, self.held_image_version = held if held else (None, b"")
        if self.held_image_hash is None:
            outcome = ActivationOutcome.NO_IMAGE_HELD
        elif self.held_image_hash != wanted:
            outcome = ActivationOutcome.HASH_MISMATCH
        else:
            outcome = ActivationOutcome.SUCCESS
            self.firmware_version = self.held_image_version
            if self.on_activated is not None:
                self.on_activated()
        self.activations.append((counter, outcome.name.lower()))
        return outcome

    def due(self, now: datetime) -> list[bytes]:
        """The 8F66 / 8F67 alert of a future-dated activation whose time ``now`` has reached (the
        caller's clock: the simulation's virtual one), signed by this device as the RTDS alert is."""
        if self.pending_activation is None or now < self.pending_activation[0]:
            return []
        when, counter, wanted, sender = self.pending_activation
        self.pending_activation = None
        outcome = self._activate(wanted, counter)
        code = FUTURE_DATED_SUCCESS if outcome is ActivationOutcome.SUCCESS else FUTURE_DATED_FAILURE
        content = cs06_alert_content(code, when.strftime("%Y-%m-%dT%H:%M:%SZ"), counter, outcome,
                                     self.firmware_version)
        return [self._signed_alert(sender, CS06_ALERT, content)]

    def _secure(self, answer: tuple[bytes, bool], command: Message, previous: int | None) -> bytes:
        content, signed = answer
        counter = command.originator_counter
        target = command.originator
        if self.fault is MeterFault.STALE_COUNTER:
            counter = previous if previous is not None else max(counter - 1, 0)
        if self.fault is MeterFault.WRONG_TARGET:
            target = bytes(b ^ 0xFF for b in target)
        message = response(self.eui64, target, counter, command.message_code, content)
        if signed:  # as the RTDS CS02c response: signed by the device, no MAC
            message = self.security.sign(message)
            if self.fault is MeterFault.BAD_MAC:
                message = message.with_(signature=_flip(message.signature or b""))
            return message.to_bytes()
        if self.fault is MeterFault.WRONG_TARGET:
            # The MAC is computed for the real remote party's key: only the target field is wrong.
            mac = self.security.apply_mac(message.with_(target=command.originator)).mac
            message = message.with_(mac=mac)
        else:
            message = self.security.apply_mac(message)
        if self.fault is MeterFault.BAD_MAC:
            message = message.with_(mac=_flip(message.mac or b""))
        return message.to_bytes()


def _flip(octets: bytes) -> bytes:
    return octets[:-1] + bytes([octets[-1] ^ 0x01]) if octets else octets


def _role_number(camel: str) -> int:
    role = RemotePartyRole.from_camel(camel)
    return int(role) if role is not None else -1


