"""The simulated meter's side of "Read Device Security Credentials": a Tunneling (0x0704) server that
answers with the trust anchor cells and device certificates it was configured with, optionally damaged.

The meter (ESME; a GPF or GSME could carry it the same way) is the tunnel server: the hub sends Request
Tunnel (protocol GB-HRGP, manufacturer 0xFFFF, no flow control), gets a tunnel id, sends one request
frame of ``hal.credentials_wire`` in Transfer Data, and receives the response fragments as Transfer
Data from the meter, each at most the hub's MaximumIncomingTransferSize. Tunnel errors follow SE D.6:
an unknown tunnel id gets Transfer Data Error No Such Tunnel, another device's tunnel Wrong Device, an
oversized frame Data Overflow; an idle tunnel closes after CloseTunnelTimeout with a Tunnel Closure
Notification.

Certificates arrive as bytes from the configuration (``[devices.sim] trust_anchors``: cell name -> DER,
names as ``certs.cells`` spells them, e.g. ``networkOperator-DS-management`` or ``root``;
``device_certificates``: ``DS``/``KA`` -> DER). This module never parses a certificate. Faults
(:class:`CredentialsFault`), applied to the bytes at answer time:

* ``supplier_in_no_cell``: each networkOperator cell holds the supplier certificate of the same key usage;
* ``truncated_cell``: the networkOperator DS cell holds its certificate cut to half its content, inside a
  DER SEQUENCE header rewritten to fit (the framing is intact, the certificate is not);
* ``wrong_network_operator`` / ``expired``: the cells in ``fault_cells`` (cell name -> DER, made by whoever
  built the configuration, e.g. from the test PKI) replace the installed ones.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from zigpy.zcl import foundation

from hal.credentials_wire import (
    CellUsage,
    CredentialCell,
    CredentialStatus,
    CredentialsWireError,
    KeyUsage,
    ReadCredentialsRequest,
    ReadCredentialsResponse,
    RemotePartyRole,
    Selector,
    decode_frame,
    encode_response,
)
from hal.se_clusters import (
    TUNNEL_NO_MANUFACTURER,
    SupportedProtocol,
    TransferDataStatus,
    Tunneling,
    TunnelProtocolId,
    TunnelStatus,
)

from .wire import ZclFrame, zcl_cluster_command

LOGGER = logging.getLogger(__name__)

TUNNELING_CLUSTER_ID: Final = Tunneling.cluster_id
MAX_TUNNELS: Final = 4
DEVICE_MAX_INCOMING: Final = 128  # octets of Transfer Data the meter accepts in one frame
CLOSE_TUNNEL_TIMEOUT_S: Final = 300  # CloseTunnelTimeout attribute value
NO_TUNNEL: Final = 0xFFFF

_CELL_NAME: Final = re.compile(r"(?P<role>[A-Za-z]+)-(?P<ku>DS|KA)-(?P<usage>management|prepaymentTopUp)")
_KEY_USAGE_SHORT: Final = {"DS": KeyUsage.DIGITAL_SIGNATURE, "KA": KeyUsage.KEY_AGREEMENT}


class CredentialsFault(enum.StrEnum):
    """What is wrong with the credentials a simulated meter reports (``[devices.sim] credentials_fault``)."""

    NONE = "none"
    WRONG_NETWORK_OPERATOR = "wrong_network_operator"
    SUPPLIER_IN_NO_CELL = "supplier_in_no_cell"
    EXPIRED = "expired"
    TRUNCATED_CELL = "truncated_cell"


FAULTS_FROM_FAULT_CELLS: Final = frozenset({CredentialsFault.WRONG_NETWORK_OPERATOR,
                                            CredentialsFault.EXPIRED})


def _camel(role: RemotePartyRole) -> str:
    head, *rest = role.name.lower().split("_")
    return head + "".join("CoS" if part == "cos" else part.capitalize() for part in rest)


_ROLE_BY_CAMEL: Final = {_camel(role).lower(): role for role in RemotePartyRole}


class CellNameError(ValueError):
    """A trust anchor cell name that names no cell."""


def parse_cell_name(name: str) -> tuple[RemotePartyRole, KeyUsage, CellUsage]:
    """``networkOperator-DS-management`` -> its cell id; ``root`` -> the root cell."""
    if name == "root":
        return RemotePartyRole.ROOT, KeyUsage.KEY_CERT_SIGN, CellUsage.MANAGEMENT
    match = _CELL_NAME.fullmatch(name)
    role = _ROLE_BY_CAMEL.get(match["role"].lower()) if match else None
    if match is None or role is None or role is RemotePartyRole.ROOT:
        raise CellNameError(f"{name!r} is not a trust anchor cell name (<role>-<DS|KA>-<management|"
                            "prepaymentTopUp> or root)")
    usage = CellUsage.MANAGEMENT if match["usage"] == "management" else CellUsage.PREPAYMENT_TOP_UP
    return role, _KEY_USAGE_SHORT[match["ku"]], usage


def cell_name(role: RemotePartyRole, usage: KeyUsage, cell_usage: CellUsage) -> str:
    if role is RemotePartyRole.ROOT:
        return "root"
    ku = "DS" if usage is KeyUsage.DIGITAL_SIGNATURE else "KA"
    return f"{_camel(role)}-{ku}-{'management' if cell_usage is CellUsage.MANAGEMENT else 'prepaymentTopUp'}"


def truncate_der(der: bytes) -> bytes:
    """``der``'s SEQUENCE cut to half its content, with the outer length rewritten to match."""
    header = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    content = der[header:header + (len(der) - header) // 2]
    size = len(content)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | 2]) + size.to_bytes(2, "big")
    return b"\x30" + length + content


def faulty_cells(cells: Mapping[str, bytes], fault: CredentialsFault,
                 fault_cells: Mapping[str, bytes]) -> dict[str, bytes]:
    """The cells a meter with ``fault`` reports instead of ``cells``."""
    out = dict(cells)
    if fault in FAULTS_FROM_FAULT_CELLS:
        out.update(fault_cells)
    elif fault is CredentialsFault.SUPPLIER_IN_NO_CELL:
        for name in cells:
            role, usage, _ = parse_cell_name(name)
            if role is RemotePartyRole.NETWORK_OPERATOR:
                supplier = cells.get(cell_name(RemotePartyRole.SUPPLIER, usage, CellUsage.MANAGEMENT))
                if supplier is not None:
                    out[name] = supplier
    elif fault is CredentialsFault.TRUNCATED_CELL:
        target = cell_name(RemotePartyRole.NETWORK_OPERATOR, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT)
        if target in out:
            out[target] = truncate_der(out[target])
    return out


class TunnelHost(Protocol):
    """What the server needs from the device that carries it."""

    def next_tsn(self) -> int: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, behaviour: bool = False) -> asyncio.Task[Any]: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> None: ...


DefaultResponder = Callable[[int, ZclFrame, foundation.Status], Awaitable[None]]


@dataclass
class _Tunnel:
    tunnel_id: int
    peer_nwk: int
    max_frame: int  # the hub's MaximumIncomingTransferSize
    idle: asyncio.Task[Any] | None = None


class CredentialsServer:
    """One meter's Tunneling server answering Read Device Security Credentials."""

    def __init__(self, host: TunnelHost, default_response: DefaultResponder, *,
                 trust_anchors: Mapping[str, bytes], device_certificates: Mapping[str, bytes],
                 fault: CredentialsFault = CredentialsFault.NONE,
                 fault_cells: Mapping[str, bytes] | None = None) -> None:
        for name in trust_anchors:
            parse_cell_name(name)  # a bad name is a configuration error, found at boot
        self.host = host
        self._default_response = default_response
        self.trust_anchors = dict(trust_anchors)
        self.device_certificates = dict(device_certificates)
        self.fault = fault
        self.fault_cells = dict(fault_cells or {})
        self.tunnels: dict[int, _Tunnel] = {}
        self.requests_answered = 0
        self.rejected: list[str] = []  # why frames were refused (malformed credentials frames, bad tunnels)
        self.attributes: dict[int, Any] = {
            Tunneling.AttributeDefs.close_tunnel_timeout.id: CLOSE_TUNNEL_TIMEOUT_S}

    # ------------------------------------------------------------------ what the meter reports
    def response(self, request: ReadCredentialsRequest) -> ReadCredentialsResponse:
        anchors: tuple[CredentialCell, ...] = ()
        devices: tuple[CredentialCell, ...] = ()
        if request.selector & Selector.TRUST_ANCHORS:
            cells = faulty_cells(self.trust_anchors, self.fault, self.fault_cells)
            anchors = tuple(CredentialCell(*parse_cell_name(name), der) for name, der in cells.items())
        if request.selector & Selector.DEVICE_CERTIFICATES:
            devices = tuple(
                CredentialCell(RemotePartyRole.OTHER, _KEY_USAGE_SHORT[usage], CellUsage.MANAGEMENT, der)
                for usage, der in sorted(self.device_certificates.items()))
        if not anchors and not devices:
            return ReadCredentialsResponse(request.request_id, CredentialStatus.NO_TRUST_ANCHOR)
        return ReadCredentialsResponse(request.request_id, CredentialStatus.SUCCESS, anchors, devices)

    # ------------------------------------------------------------------ Tunneling commands in
    async def handle(self, frame: ZclFrame, src_nwk: int) -> bool:
        """A Tunneling command from the hub (client to server); True when understood."""
        if frame.from_server or frame.payload is None:
            return False
        args = frame.payload
        match frame.name:
            case "request_tunnel":
                await self._request_tunnel(frame, args, src_nwk)
            case "transfer_data":
                await self._transfer_data(frame, args, src_nwk)
            case "close_tunnel":
                tunnel = self.tunnels.get(int(args.tunnel_id))
                if tunnel is not None and tunnel.peer_nwk == src_nwk:
                    self._close(tunnel)
                await self._default_response(TUNNELING_CLUSTER_ID, frame, foundation.Status.SUCCESS)
            case "get_supported_tunnel_protocols":
                protocols = [SupportedProtocol(manufacturer_code=TUNNEL_NO_MANUFACTURER,
                                               protocol_id=TunnelProtocolId.GB_HRGP)]
                await self._send(frame.tsn, "supported_tunnel_protocols_response",
                                 protocol_list_complete=True, protocols=protocols[int(args.protocol_offset):])
            case _:
                return False
        return True

    async def _send(self, tsn: int, name: str, **fields: Any) -> None:
        data = zcl_cluster_command(Tunneling, tsn, name, server_to_client=True, disable_default_response=True,
                                   **fields)
        await self.host.send_to_hub(TUNNELING_CLUSTER_ID, data)

    async def _request_tunnel(self, frame: ZclFrame, args: Any, src_nwk: int) -> None:
        status = TunnelStatus.Success
        if args.protocol_id != TunnelProtocolId.GB_HRGP or args.manufacturer_code != TUNNEL_NO_MANUFACTURER:
            status = TunnelStatus.Protocol_Not_Supported
        elif args.flow_control_support:
            status = TunnelStatus.Flow_Control_Not_Supported
        elif len(self.tunnels) >= MAX_TUNNELS:
            status = TunnelStatus.No_More_Tunnel_IDs
        tunnel_id = NO_TUNNEL
        if status is TunnelStatus.Success:
            tunnel_id = next(i for i in range(MAX_TUNNELS + 1) if i not in self.tunnels)
            tunnel = _Tunnel(tunnel_id, src_nwk, int(args.maximum_incoming_transfer_size))
            self.tunnels[tunnel_id] = tunnel
            self._touch(tunnel)
        else:
            self.rejected.append(f"request tunnel: {status.name}")
        await self._send(frame.tsn, "request_tunnel_response", tunnel_id=tunnel_id, tunnel_status=status,
                         maximum_incoming_transfer_size=DEVICE_MAX_INCOMING)

    async def _transfer_data(self, frame: ZclFrame, args: Any, src_nwk: int) -> None:
        tunnel = self.tunnels.get(int(args.tunnel_id))
        error = None
        if tunnel is None:
            error = TransferDataStatus.No_Such_Tunnel
        elif tunnel.peer_nwk != src_nwk:
            error = TransferDataStatus.Wrong_Device
        elif len(args.data) > DEVICE_MAX_INCOMING:
            error = TransferDataStatus.Data_Overflow
        if error is not None or tunnel is None:
            self.rejected.append(f"transfer data on tunnel {int(args.tunnel_id)}: {error}")
            await self._send(frame.tsn, "transfer_data_error", tunnel_id=int(args.tunnel_id),
                             transfer_data_status=error)
            return
        self._touch(tunnel)
        await self._default_response(TUNNELING_CLUSTER_ID, frame, foundation.Status.SUCCESS)
        try:
            request = decode_frame(bytes(args.data))
        except CredentialsWireError as exc:
            self.rejected.append(str(exc))
            LOGGER.info("credentials: malformed request ignored: %s", exc)
            return
        if not isinstance(request, ReadCredentialsRequest):
            self.rejected.append("credentials: a response fragment sent to the meter")
            return
        try:
            fragments = encode_response(self.response(request), tunnel.max_frame)
        except CredentialsWireError as exc:  # e.g. the hub's frames are too small for the answer
            self.rejected.append(str(exc))
            LOGGER.info("credentials: cannot answer request %d: %s", request.request_id, exc)
            fragments = encode_response(
                ReadCredentialsResponse(request.request_id, CredentialStatus.INSUFFICIENT_MEMORY),
                max(tunnel.max_frame, 7))
        self.requests_answered += 1
        for fragment in fragments:
            await self._send(self.host.next_tsn(), "transfer_data", tunnel_id=tunnel.tunnel_id, data=fragment)

    # ------------------------------------------------------------------ tunnel lifetime
    def _touch(self, tunnel: _Tunnel) -> None:
        if tunnel.idle is not None:
            tunnel.idle.cancel()
        tunnel.idle = self.host.spawn(self._idle_close(tunnel))

    async def _idle_close(self, tunnel: _Tunnel) -> None:
        await asyncio.sleep(int(self.attributes[Tunneling.AttributeDefs.close_tunnel_timeout.id]))
        if self.tunnels.get(tunnel.tunnel_id) is tunnel:
            tunnel.idle = None
            self._close(tunnel)
            await self._send(self.host.next_tsn(), "tunnel_closure_notification", tunnel_id=tunnel.tunnel_id)

    def _close(self, tunnel: _Tunnel) -> None:
        self.tunnels.pop(tunnel.tunnel_id, None)
        if tunnel.idle is not None and tunnel.idle is not asyncio.current_task():
            tunnel.idle.cancel()
        tunnel.idle = None
