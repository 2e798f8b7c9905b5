"""hanrig's "Read Device Security Credentials" framing, carried in Tunneling (0x0704) Transfer Data.

Modelled on GBCS: the hub asks an ESME/GPF for its trust anchor cells and device certificates and gets
DER certificates back, split over as many Transfer Data frames as the tunnel's maximum incoming
transfer size needs. This is a bench protocol of ours (GBCS itself carries this inside signed GBCS
messages); it is documented here and nowhere else. Multi-byte integers are big-endian, as in GBCS.

Every frame starts with a 4-octet header::

    frame_type u8 (0x01 request, 0x02 response fragment) | version u8 (1) | request_id u16

Request (frame_type 0x01), one frame::

    header | selector u8 (bit0 trust anchor cells, bit1 device certificates; other bits 0)

Response fragment (frame_type 0x02)::

    header | fragment_index u8 | fragment_count u8 (1..255, index < count) | chunk (>= 1 octet)

The chunks, in index order, make the response body::

    status u8 (CredentialStatus) | anchor_count u8 | anchor cells | device_count u8 | device cells

and a cell is::

    remote_party_role u8 | key_usage u8 | cell_usage u8 | der_length u16 | DER (der_length octets)

Device certificates use the same cell header with remote party role ``other`` (127): a device
certificate belongs to the device itself, not to a remote party. A response whose status is not
``success`` carries no cells. Every decoder rejects malformed input with a one-line
``CredentialsWireError`` that says where and what.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .exceptions import CredentialsWireError

FRAMING_VERSION: Final = 1
HEADER_LEN: Final = 4
FRAGMENT_HEADER_LEN: Final = HEADER_LEN + 2
MAX_FRAGMENTS: Final = 255
MAX_CELLS: Final = 255
MAX_DER_LEN: Final = 0xFFFF


class FrameType(enum.IntEnum):
    """First octet of every frame."""

    READ_REQUEST = 0x01
    READ_RESPONSE = 0x02


class RemotePartyRole(enum.IntEnum):
    """The cell's remote party role octet: GBCS RemotePartyRole numbering (the same numbers as
    ``certs.model.RemotePartyRole``, which a test checks; ``hal`` owns its wire enums and imports no
    ``certs``)."""

    ROOT = 0
    RECOVERY = 1
    SUPPLIER = 2
    NETWORK_OPERATOR = 3
    ACCESS_CONTROL_BROKER = 4
    TRANSITIONAL_COS = 5
    WAN_PROVIDER = 6
    ISSUING_AUTHORITY = 7
    LOAD_CONTROLLER = 8
    OTHER = 127


class KeyUsage(enum.IntEnum):
    """The certified key's usage, numbered as the X.509 KeyUsage bits (GBCS allows exactly one)."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 4
    KEY_CERT_SIGN = 5


class CellUsage(enum.IntEnum):
    """What a trust anchor cell is used for (GBCS)."""

    MANAGEMENT = 0
    PREPAYMENT_TOP_UP = 1


class CredentialStatus(enum.IntEnum):
    """GBCS credential status codes."""

    SUCCESS = 0
    BAD_CERTIFICATE = 5
    NO_TRUST_ANCHOR = 10
    INSUFFICIENT_MEMORY = 17
    TRUST_ANCHOR_NOT_FOUND = 25
    RESOURCES_BUSY = 30
    OTHER = 127


class Selector(enum.IntFlag):
    """What a request asks for."""

    TRUST_ANCHORS = 0x01
    DEVICE_CERTIFICATES = 0x02


@dataclass(frozen=True)
class CredentialCell:
    """One certificate with its cell identity (trust anchor) or key usage (device certificate)."""

    remote_party_role: RemotePartyRole
    key_usage: KeyUsage
    cell_usage: CellUsage
    der: bytes

    def __repr__(self) -> str:
        return (f"CredentialCell({self.remote_party_role.name}, {self.key_usage.name}, "
                f"{self.cell_usage.name}, der={len(self.der)} octets)")


@dataclass(frozen=True)
class ReadCredentialsRequest:
    """The hub's request; ``selector`` says which lists it wants."""

    request_id: int
    selector: Selector = Selector.TRUST_ANCHORS | Selector.DEVICE_CERTIFICATES


@dataclass(frozen=True)
class ResponseFragment:
    """One Transfer Data frame of a response: a slice of the response body."""

    request_id: int
    index: int
    count: int
    chunk: bytes


@dataclass(frozen=True)
class ReadCredentialsResponse:
    """A device's answer, reassembled."""

    request_id: int
    status: CredentialStatus
    trust_anchors: tuple[CredentialCell, ...] = ()
    device_certificates: tuple[CredentialCell, ...] = ()


class _Reader:
    """Reads named fields from a byte string; every shortfall names the field and the offset."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = memoryview(bytes(data))
        self._offset = 0
        self._what = what

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def fail(self, message: str, offset: int | None = None) -> CredentialsWireError:
        at = self._offset if offset is None else offset
        return CredentialsWireError(f"credentials {self._what}: offset {at}: {message}")

    def take(self, length: int, field: str) -> bytes:
        if length > self.remaining:
            raise self.fail(f"{field}: need {length} octets, {self.remaining} left")
        chunk = bytes(self._data[self._offset:self._offset + length])
        self._offset += length
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def enum(self, kind: type[enum.IntEnum], field: str) -> enum.IntEnum:
        at = self._offset
        value = self.uint(1, field)
        try:
            return kind(value)
        except ValueError:
            raise self.fail(f"{field}: unknown value {value}", at) from None

    def rest(self) -> bytes:
        return self.take(self.remaining, "rest")


def _check_u16(value: int, field: str) -> None:
    if not 0 <= value <= 0xFFFF:
        raise CredentialsWireError(f"credentials: {field} {value} outside 0..65535")


def _header(frame_type: FrameType, request_id: int) -> bytes:
    _check_u16(request_id, "request_id")
    return bytes([frame_type, FRAMING_VERSION]) + request_id.to_bytes(2, "big")


def encode_request(request: ReadCredentialsRequest) -> bytes:
    """The one Transfer Data frame carrying ``request``."""
    selector = Selector(request.selector)
    if not selector:
        raise CredentialsWireError("credentials request: selector asks for nothing")
    return _header(FrameType.READ_REQUEST, request.request_id) + bytes([selector])


def _der_outer_length(der: bytes, reader_fail: str) -> None:
    """Check that ``der`` is exactly one definite-length DER SEQUENCE (what a certificate is)."""
    if len(der) < 2 or der[0] != 0x30:
        raise CredentialsWireError(f"{reader_fail}: DER does not start with a SEQUENCE (0x30)")
    first = der[1]
    if first < 0x80:
        header_len, content_len = 2, first
    else:
        octets = first & 0x7F
        if octets == 0 or octets > 2 or len(der) < 2 + octets:
            raise CredentialsWireError(f"{reader_fail}: DER length octet 0x{first:02x} not usable")
        header_len = 2 + octets
        content_len = int.from_bytes(der[2:header_len], "big")
    if header_len + content_len != len(der):
        raise CredentialsWireError(
            f"{reader_fail}: DER SEQUENCE covers {header_len + content_len} octets, cell holds {len(der)}")


def _encode_cell(cell: CredentialCell, where: str) -> bytes:
    if len(cell.der) > MAX_DER_LEN:
        raise CredentialsWireError(f"credentials {where}: DER of {len(cell.der)} octets exceeds 65535")
    _der_outer_length(cell.der, f"credentials {where}")
    return (bytes([RemotePartyRole(cell.remote_party_role), KeyUsage(cell.key_usage),
                   CellUsage(cell.cell_usage)])
            + len(cell.der).to_bytes(2, "big") + cell.der)


def encode_response_body(response: ReadCredentialsResponse) -> bytes:
    """The response body (before fragmentation)."""
    status = CredentialStatus(response.status)
    if status is not CredentialStatus.SUCCESS and (response.trust_anchors or response.device_certificates):
        raise CredentialsWireError(f"credentials response: status {status.name} must carry no cells")
    body = bytearray([status])
    for name, cells in (("trust anchor", response.trust_anchors),
                        ("device certificate", response.device_certificates)):
        if len(cells) > MAX_CELLS:
            raise CredentialsWireError(f"credentials response: {len(cells)} {name} cells exceed {MAX_CELLS}")
        body.append(len(cells))
        for number, cell in enumerate(cells):
            body += _encode_cell(cell, f"{name} cell {number}")
    return bytes(body)


def encode_response(response: ReadCredentialsResponse, max_frame_size: int) -> list[bytes]:
    """``response`` as Transfer Data frames, none longer than ``max_frame_size`` octets."""
    if max_frame_size <= FRAGMENT_HEADER_LEN:
        raise CredentialsWireError(
            f"credentials response: max frame size {max_frame_size} leaves no room after the "
            f"{FRAGMENT_HEADER_LEN}-octet fragment header")
    body = encode_response_body(response)
    room = max_frame_size - FRAGMENT_HEADER_LEN
    count = -(-len(body) // room)
    if count > MAX_FRAGMENTS:
        raise CredentialsWireError(
            f"credentials response: {len(body)} octets need {count} fragments of {room}, more than "
            f"{MAX_FRAGMENTS}")
    header = _header(FrameType.READ_RESPONSE, response.request_id)
    return [header + bytes([index, count]) + body[index * room:(index + 1) * room] for index in range(count)]


def decode_frame(data: bytes) -> ReadCredentialsRequest | ResponseFragment:
    """Parse one Transfer Data payload."""
    reader = _Reader(data, "frame")
    frame_type = reader.enum(FrameType, "frame_type")
    version = reader.uint(1, "version")
    if version != FRAMING_VERSION:
        raise reader.fail(f"version: expected {FRAMING_VERSION}, got {version}", 1)
    request_id = reader.uint(2, "request_id")
    if frame_type is FrameType.READ_REQUEST:
        selector = reader.uint(1, "selector")
        if selector & ~int(Selector.TRUST_ANCHORS | Selector.DEVICE_CERTIFICATES):
            raise reader.fail(f"selector: reserved bits set in 0x{selector:02x}", HEADER_LEN)
        if not selector:
            raise reader.fail("selector: asks for nothing", HEADER_LEN)
        if reader.remaining:
            raise reader.fail(f"{reader.remaining} trailing octets after the request")
        return ReadCredentialsRequest(request_id, Selector(selector))
    index = reader.uint(1, "fragment_index")
    count = reader.uint(1, "fragment_count")
    if count == 0 or index >= count:
        raise reader.fail(f"fragment {index} of {count}: index must be below a non-zero count", HEADER_LEN)
    chunk = reader.rest()
    if not chunk:
        raise reader.fail("empty fragment")
    return ResponseFragment(request_id, index, count, chunk)


def _decode_cells(reader: _Reader, name: str) -> tuple[CredentialCell, ...]:
    count = reader.uint(1, f"{name} count")
    cells = []
    for number in range(count):
        field = f"{name} cell {number}"
        role = reader.enum(RemotePartyRole, f"{field} remote_party_role")
        usage = reader.enum(KeyUsage, f"{field} key_usage")
        cell_usage = reader.enum(CellUsage, f"{field} cell_usage")
        length = reader.uint(2, f"{field} der_length")
        at = reader.offset
        der = reader.take(length, f"{field} DER")
        try:
            _der_outer_length(der, field)
        except CredentialsWireError as exc:
            raise reader.fail(str(exc), at) from None
        cells.append(CredentialCell(role, usage, cell_usage, der))  # type: ignore[arg-type]
    return tuple(cells)


def decode_response_body(request_id: int, body: bytes) -> ReadCredentialsResponse:
    """Parse a reassembled response body."""
    reader = _Reader(body, "response")
    status = reader.enum(CredentialStatus, "status")
    anchors = _decode_cells(reader, "trust anchor")
    devices = _decode_cells(reader, "device certificate")
    if reader.remaining:
        raise reader.fail(f"{reader.remaining} trailing octets after the last cell")
    if status is not CredentialStatus.SUCCESS and (anchors or devices):
        raise reader.fail(f"status {status.name} carries cells", 0)
    return ReadCredentialsResponse(request_id, status, anchors, devices)  # type: ignore[arg-type]


def reassemble(fragments: Iterable[ResponseFragment]) -> ReadCredentialsResponse:
    """Join the fragments of one response (any arrival order) and parse the body."""
    by_index: dict[int, ResponseFragment] = {}
    first: ResponseFragment | None = None
    for fragment in fragments:
        if first is None:
            first = fragment
        elif (fragment.request_id, fragment.count) != (first.request_id, first.count):
            raise CredentialsWireError(
                f"credentials response: fragment {fragment.index} belongs to request {fragment.request_id} "
                f"of {fragment.count} fragments, not request {first.request_id} of {first.count}")
        previous = by_index.setdefault(fragment.index, fragment)
        if previous is not fragment and previous.chunk != fragment.chunk:
            raise CredentialsWireError(
                f"credentials response: fragment {fragment.index} received twice with different content")
    if first is None:
        raise CredentialsWireError("credentials response: no fragments")
    missing = sorted(set(range(first.count)) - by_index.keys())
    if missing:
        raise CredentialsWireError(
            f"credentials response {first.request_id}: fragments {missing} of {first.count} missing")
    body = b"".join(by_index[index].chunk for index in range(first.count))
    return decode_response_body(first.request_id, body)
