"""GB-HRGP: how GBCS messages ride the Smart Energy Tunneling cluster (0x0704) between the hub and a meter.

What GBCS section 10.2.2 fixes (as the Comms Hub Function of Silicon Labs' stack quotes it):

* **Who opens the tunnel.** The hub (Tunneling client) sends Request Tunnel to an ESME (the server)
  once key establishment is done, again after 0xFFFF s, when it has a message for the device and no
  tunnel, and at power-on. A sleepy GSME opens its own tunnel to the hub (the GSME is the client).
* **Request Tunnel fields.** ProtocolID 6 (GB-HRGP), ManufacturerCode 0xFFFF (not used),
  FlowControlSupport False, MaximumIncomingTransferSize 1500 on both sides.
* **Headers.** On an ESME tunnel a Transfer Data carries the GBCS message itself (first octet 0xDD or
  0xDF). On the GSME's tunnel every message has a one-octet header: ``GET`` (0x01, the GSME asks for what
  the hub holds for it, nothing follows), ``GET-RESPONSE`` (0x02, the number of further messages waiting,
  then the message) and ``PUT`` (0x03, then the GSME's response or alert).

**Messages larger than one frame.** A GBCS message of up to MaximumIncomingTransferSize (1500) octets
travels in ONE Transfer Data command (:func:`transfer_data`); when that command is longer than one
802.15.4 frame, the Zigbee stack's APS fragmentation carries it over the air (``hal.aps_fragmentation``;
the simulated HAN and the virtual EZSP stick do it, and hanrig's host side does it for bellows, which
cannot). A larger message is refused with a one-line error before anything is sent. The receiver still
cuts what arrives on a tunnel into messages by the length each message gives (:class:`StreamReassembler`,
:func:`message_length`: the General-Ciphering length, or the General-Signing header's lengths): GBCS says
a device must not spread one message over several Transfer Data commands, but devices built before the
rule was applied did, and tolerating it costs nothing (a whole message passes straight through), so the
receiver stays tolerant. A partial message that is not completed within :data:`REASSEMBLY_TIMEOUT_S` is
dropped and counted.

**Closure and timeouts.** The server closes a tunnel idle for its CloseTunnelTimeout attribute and
sends Tunnel Closure Notification; the hub re-requests a tunnel when it next needs one.

Nothing here knows what a message means: ``gbcs`` reads it. This module only frames it, so every
malformed stream is refused with a one-line :class:`TunnelFramingError` naming the offset.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from .exceptions import TunnelFramingError
from .se_clusters import TUNNEL_NO_MANUFACTURER, TunnelProtocolId

PROTOCOL_ID: Final = TunnelProtocolId.GB_HRGP
MANUFACTURER_CODE: Final = TUNNEL_NO_MANUFACTURER
MAX_INCOMING_TRANSFER_SIZE: Final = 1500  # GBCS 10.2.2, both ends of every tunnel
RE_REQUEST_S: Final = 0xFFFF  # the hub asks for a fresh tunnel this long after the last one
BUSY_RETRY_S: Final = 180  # after a Request Tunnel Response "Busy"
REASSEMBLY_TIMEOUT_S: Final = 30.0  # a partial message not completed in this time is dropped

GENERAL_CIPHERING: Final = 0xDD
GENERAL_SIGNING: Final = 0xDF


class Header(enum.IntEnum):
    """The GSME tunnel's one-octet header (GBCS 10.2.2)."""

    GET = 0x01
    GET_RESPONSE = 0x02
    PUT = 0x03


def transfer_data(message: bytes, limit: int = MAX_INCOMING_TRANSFER_SIZE) -> bytes:
    """The data of the one Transfer Data command that carries ``message``; ``TunnelFramingError`` when the
    message is longer than the peer's MaximumIncomingTransferSize ``limit``."""
    if len(message) > limit:
        raise TunnelFramingError(f"a {len(message)}-octet GBCS message exceeds the tunnel's "
                                 f"MaximumIncomingTransferSize {limit} (GB-HRGP sends a message in one "
                                 "Transfer Data)")
    return message


def _der_length(data: bytes, pos: int, what: str) -> tuple[int, int] | None:
    """(length, next position) of the DER-style length at ``pos``; None when ``data`` ends first."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 2:
        raise TunnelFramingError(f"offset {pos}: {what} length form 0x{first:02x} is not used by GBCS")
    if pos + 1 + count > len(data):
        return None
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def message_length(data: bytes) -> int | None:
    """Octets of the GBCS message ``data`` starts with; None while ``data`` is too short to tell.

    General-Ciphering gives its length after its six empty header fields; a General-Signing message
    (a response or alert without a MAC) is walked field by field up to its signature."""
    if not data:
        return None
    tag = data[0]
    if tag == GENERAL_CIPHERING:
        if len(data) < 7:
            return None
        if data[1:7] != b"\0" * 6:
            raise TunnelFramingError("offset 1: General-Ciphering header fields are not the empty ones "
                                     "GBCS sends")
        found = _der_length(data, 7, "ciphered content")
        return None if found is None else found[1] + found[0]
    if tag != GENERAL_SIGNING:
        raise TunnelFramingError(f"offset 0: 0x{tag:02x} starts no GBCS message (0xdd or 0xdf)")
    pos = 1
    fixed = ((9, "transaction-id"), (8, "business originator"), (8, "business target"))
    for expected, what in fixed:
        found = _der_length(data, pos, what)
        if found is None:
            return None
        if found[0] != expected:
            raise TunnelFramingError(f"offset {pos}: {what} length {found[0]}, expected {expected}")
        pos = found[1] + found[0]
    for what in ("date-time", "other-information", "content", "signature"):
        found = _der_length(data, pos, what)
        if found is None:
            return None
        pos = found[1] + found[0]
    return pos


@dataclass(frozen=True)
class TunnelMessage:
    """One message cut from a tunnel stream: its GSME header (None on an ESME tunnel), the number of
    messages still waiting (GET-RESPONSE only) and the GBCS message octets (empty for a GET)."""

    header: Header | None
    message: bytes
    remaining: int | None = None


def encode(message: bytes, header: Header | None = None, remaining: int = 0) -> bytes:
    """The octets one message puts on the tunnel stream."""
    if header is None:
        return message
    if header is Header.GET:
        return bytes([Header.GET])
    if header is Header.GET_RESPONSE:
        return bytes([Header.GET_RESPONSE, min(remaining, 0xFF)]) + message
    return bytes([header]) + message


@dataclass
class StreamReassembler:
    """One direction of one tunnel: Transfer Data payloads in, whole messages out.

    ``headed``: the GSME tunnel's GET/GET-RESPONSE/PUT headers precede each message. A stream that
    cannot be a message is dropped whole (``dropped`` counts it, ``last_error`` says why); so is one
    longer than ``limit`` (the MaximumIncomingTransferSize)."""

    headed: bool = False
    limit: int = MAX_INCOMING_TRANSFER_SIZE
    buffer: bytearray = field(default_factory=bytearray)
    started_at: float | None = None  # when the partial message in ``buffer`` began (caller's clock)
    dropped: int = 0
    last_error: str | None = None

    def feed(self, data: bytes, now: float = 0.0) -> list[TunnelMessage]:
        """Messages completed by ``data``; a malformed stream raises ``TunnelFramingError`` after dropping."""
        if self.buffer and self.started_at is not None and now - self.started_at > REASSEMBLY_TIMEOUT_S:
            self._drop(f"a message was not completed within {REASSEMBLY_TIMEOUT_S:g} s")
        if not self.buffer:
            self.started_at = now
        self.buffer.extend(data)
        out: list[TunnelMessage] = []
        while self.buffer:
            try:
                found = self._next()
            except TunnelFramingError as exc:
                self._drop(str(exc))
                raise
            if found is None:
                break
            message, used = found
            del self.buffer[:used]
            out.append(message)
            self.started_at = now if self.buffer else None
        return out

    def _next(self) -> tuple[TunnelMessage, int] | None:
        data = bytes(self.buffer)
        header: Header | None = None
        start = 0
        remaining = None
        if self.headed:
            try:
                header = Header(data[0])
            except ValueError:
                raise TunnelFramingError(f"offset 0: GB-HRGP header 0x{data[0]:02x} is none of GET, "
                                         "GET-RESPONSE, PUT") from None
            if header is Header.GET:
                return TunnelMessage(header, b""), 1
            start = 1
            if header is Header.GET_RESPONSE:
                if len(data) < 2:
                    return None
                remaining, start = data[1], 2
        length = message_length(data[start:])
        if length is not None and length > self.limit:
            raise TunnelFramingError(f"a {length}-octet message exceeds the tunnel's "
                                     f"MaximumIncomingTransferSize {self.limit}")
        if length is None:
            if len(data) - start > self.limit:
                raise TunnelFramingError(f"more than {self.limit} octets without a complete message")
            return None
        if len(data) < start + length:
            return None
        return TunnelMessage(header, data[start:start + length], remaining), start + length

    def _drop(self, why: str) -> None:
        self.buffer.clear()
        self.started_at = None
        self.dropped += 1
        self.last_error = why

    def expire(self, now: float) -> bool:
        """Drop a partial message older than the reassembly timeout; True if one was dropped."""
        if self.buffer and self.started_at is not None and now - self.started_at > REASSEMBLY_TIMEOUT_S:
            self._drop(f"a message was not completed within {REASSEMBLY_TIMEOUT_S:g} s")
            return True
        return False
