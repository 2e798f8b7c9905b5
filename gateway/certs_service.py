"""SECMP0063 over the HAN: read what an ESME/GPF has installed and verify it (``gw.certs``), including that
its Network Operator cells hold the expected network operator's certificates.

The hub opens a Tunneling (0x0704) tunnel to the meter (Request Tunnel: GB-HRGP, manufacturer 0xFFFF, no
flow control, MaximumIncomingTransferSize = ``max_transfer_size``), sends one "Read Device Security
Credentials" request in Transfer Data (framing: ``hal.credentials_wire``), collects the response
fragments the meter sends back as Transfer Data, reassembles them, closes the tunnel, and hands the DER
certificates to ``certs.verify_installed`` (profile, chain, cells, SECMP0063, hwSerialNum).

Fragments arrive through the session's input door (``gateway.han_input``): one that does not decode is
logged with the device and the reason, counted and ignored; the read then times out or reassembles
without it, never half-decoded.

The simulated bench's certificates (the TEST-ONLY PKI on its ESMEs) are assembled in ``gateway.bench``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from zigpy.exceptions import ZigbeeException

import hal
from certs import InstalledCell, Report, verify_installed
from certs.report import failed
from hal.credentials_wire import (
    CredentialStatus,
    CredentialsWireError,
    ReadCredentialsRequest,
    ResponseFragment,
    decode_frame,
    encode_request,
    reassemble,
)
from hal.se_clusters import TUNNEL_NO_MANUFACTURER, Tunneling, TunnelProtocolId, TunnelStatus
from hanrig_errors import HanrigError

from .exceptions import CredentialsReadError, DeviceNotFound
from .han_input import FrameSource, HanInput, MalformedFrame

if TYPE_CHECKING:
    from .session import Gateway, HanDevice

LOGGER = logging.getLogger(__name__)

TUNNELING: Final = Tunneling.cluster_id
MAX_TRANSFER_SIZE: Final = 64  # octets per Transfer Data the hub accepts: one APS frame, no fragmentation
REPLY_TIMEOUT_S: Final = 60.0  # for the whole response to arrive once the request is delivered


@dataclass(frozen=True)
class InstalledCredentials:
    """What a meter reported: its trust anchor cells and device certificates, as DER."""

    eui64: str
    status: CredentialStatus
    cells: tuple[InstalledCell, ...]
    device_certificates: tuple[bytes, ...]
    fragments: int
    octets: int


@dataclass
class _PendingRead:
    fragments: list[ResponseFragment]
    request_id: int
    done: asyncio.Event
    error: str | None = None  # a Transfer Data Error the meter sent on this tunnel


class CertsService:
    """The session's certificates feature."""

    def __init__(self, gateway: Gateway, max_transfer_size: int = MAX_TRANSFER_SIZE) -> None:
        self.gateway = gateway
        self.max_transfer_size = max_transfer_size
        self.unsolicited = 0
        self._pending: dict[tuple[str, int], _PendingRead] = {}
        self._request_id = 0
        self._unsubscribe: list[Callable[[], None]] = []

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _subscribe(self) -> None:
        if self._unsubscribe:
            return
        tap = HanInput.of(self.gateway)
        defs = Tunneling.ClientCommandDefs
        self._unsubscribe = [
            tap.on_command(TUNNELING, defs.transfer_data.id, self._on_transfer_data),
            tap.on_command(TUNNELING, defs.transfer_data_error.id, self._on_transfer_error),
            tap.on_command(TUNNELING, defs.tunnel_closure_notification.id, self._on_closure),
        ]

    # ------------------------------------------------------------------ input
    def _on_transfer_data(self, source: FrameSource, args: Any) -> None:
        try:
            frame = decode_frame(bytes(args.data))
        except CredentialsWireError as exc:
            raise MalformedFrame(f"credentials fragment: {exc}") from None
        if not isinstance(frame, ResponseFragment):
            raise MalformedFrame("credentials fragment: a meter sent a request frame to the hub")
        pending = self._pending.get((source.eui64, int(args.tunnel_id)))
        if pending is None or frame.request_id != pending.request_id:
            self.unsolicited += 1
            LOGGER.info("%s: credentials fragment on tunnel %d for no pending read", source.eui64,
                        int(args.tunnel_id))
            return
        pending.fragments.append(frame)
        if len({f.index for f in pending.fragments}) >= frame.count:
            pending.done.set()

    def _on_transfer_error(self, source: FrameSource, args: Any) -> None:
        LOGGER.warning("%s: tunnel %d: Transfer Data Error %s", source.eui64, int(args.tunnel_id),
                       args.transfer_data_status)
        pending = self._pending.get((source.eui64, int(args.tunnel_id)))
        if pending is not None:
            status = args.transfer_data_status
            pending.error = f"Transfer Data Error {getattr(status, 'name', status)}"
            pending.done.set()

    def _on_closure(self, source: FrameSource, args: Any) -> None:
        pending = self._pending.get((source.eui64, int(args.tunnel_id)))
        if pending is not None:
            pending.done.set()  # the read ends now; reassembly says what is missing

    # ------------------------------------------------------------------ the read
    async def read_installed(self, device: HanDevice) -> InstalledCredentials:
        """Read ``device``'s trust anchor cells and device certificates over a tunnel."""
        cluster = device.endpoint.in_clusters.get(TUNNELING)
        if cluster is None:
            raise DeviceNotFound(device.eui64, "has no Tunneling server (0x0704): cannot read credentials")
        self._subscribe()
        try:
            reply = await cluster.command(
                Tunneling.ServerCommandDefs.request_tunnel.id, protocol_id=TunnelProtocolId.GB_HRGP,
                manufacturer_code=TUNNEL_NO_MANUFACTURER, flow_control_support=False,
                maximum_incoming_transfer_size=self.max_transfer_size)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            raise DeviceNotFound(device.eui64, f"did not answer Request Tunnel: {exc}") from None
        status = getattr(reply, "tunnel_status", None)
        if status != TunnelStatus.Success:
            raise CredentialsReadError(f"device {device.eui64}: Request Tunnel refused: "
                                       f"{status.name if status is not None else reply}")
        tunnel_id = int(reply.tunnel_id)
        self._request_id = (self._request_id + 1) & 0xFFFF
        pending = _PendingRead([], self._request_id, asyncio.Event())
        key = (device.eui64, tunnel_id)
        self._pending[key] = pending
        try:
            try:
                await cluster.command(Tunneling.ServerCommandDefs.transfer_data.id, tunnel_id=tunnel_id,
                                      data=encode_request(ReadCredentialsRequest(pending.request_id)))
            except (TimeoutError, ZigbeeException, HanrigError) as exc:
                raise DeviceNotFound(device.eui64, f"credentials request not delivered: {exc}") from None
            try:
                async with asyncio.timeout(REPLY_TIMEOUT_S):
                    await pending.done.wait()
            except TimeoutError:
                if not pending.fragments:
                    raise DeviceNotFound(device.eui64, f"sent no credentials within {REPLY_TIMEOUT_S:g} s "
                                                       f"(tunnel {tunnel_id})") from None
            if pending.error is not None:
                raise CredentialsReadError(f"device {device.eui64}: tunnel {tunnel_id}: {pending.error}")
            try:
                response = reassemble(pending.fragments)
            except CredentialsWireError as exc:
                raise CredentialsReadError(f"device {device.eui64}: {exc}") from None
        finally:
            del self._pending[key]
            await self._close_tunnel(cluster, device, tunnel_id)
        cells = tuple(InstalledCell(int(c.remote_party_role), int(c.key_usage), int(c.cell_usage), c.der)
                      for c in response.trust_anchors)
        return InstalledCredentials(device.eui64, response.status, cells,
                                    tuple(c.der for c in response.device_certificates),
                                    fragments=len(pending.fragments),
                                    octets=sum(len(f.chunk) for f in pending.fragments))

    async def _close_tunnel(self, cluster: Any, device: HanDevice, tunnel_id: int) -> None:
        try:
            await cluster.command(Tunneling.ServerCommandDefs.close_tunnel.id, tunnel_id=tunnel_id)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            LOGGER.info("%s: Close Tunnel %d not confirmed: %s", device.eui64, tunnel_id, exc)

    async def verify(self, device: HanDevice, *, roots: Sequence[bytes], intermediates: Sequence[bytes] = (),
                     expected_network_operator: str | None = None, now: dt.datetime | None = None) -> Report:
        """Read ``device``'s credentials and verify them (``certs.verify_installed``)."""
        found = await self.read_installed(device)
        prefix = Report.of([])
        if found.status is not CredentialStatus.SUCCESS:
            prefix = Report.of([failed("han.credentials_status",
                                       f"meter answered {found.status.name} ({int(found.status)})",
                                       device.eui64)])
        return prefix + verify_installed(
            found.cells, device_eui64=device.eui64, expected_network_operator=expected_network_operator,
            roots=list(roots), now=now, device_certificates=found.device_certificates,
            intermediates=list(intermediates), role=device.role.name if device.role is not None else None)


def read_over_radio(radio_url: str, device: str) -> InstalledCredentials:
    """One-off read for the CLI: open ``radio_url`` (on ``sim://`` with the bench's test PKI installed) and
    read ``device``'s credentials."""
    from .bench import bench_radio_config
    from .session import Gateway, RadioEndpoint

    radio_config, _ = bench_radio_config(radio_url)

    async def read() -> InstalledCredentials:
        async with Gateway.open([RadioEndpoint("radio", radio_url, radio_config)]) as gw:
            return await gw.certs.read_installed(gw.device(device))

    return hal.run(read, radio_url)


__all__ = ["CertsService", "CredentialsReadError", "InstalledCredentials", "read_over_radio"]
