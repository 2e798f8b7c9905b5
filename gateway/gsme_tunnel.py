"""The hub's side of a GSME's GB-HRGP tunnel (GBCS 10.2.2): the hub is the Tunneling server, the sleepy
GSME the client that opens the tunnel when it wakes (``hal.gbhrgp``; the simulated GSME's side is
``hal.sim.gsme_tunnel``).

A command for a GSME cannot be pushed: the hub holds it until the GSME asks. The GSME sends Request
Tunnel (GB-HRGP, manufacturer 0xFFFF, no flow control; anything else is refused with the matching
status), then Transfer Data ``GET`` (0x01); the hub answers Transfer Data ``GET-RESPONSE`` (0x02, how
many further messages it still holds, then the oldest held message, or nothing after the count when it
holds none). The GSME's responses and alerts arrive as ``PUT`` (0x03, then the message) and go to
``gw.gbcs.receive``, where they are judged like an ESME's. A Transfer Data on a tunnel the hub did not
give this device is answered Transfer Data Error No Such Tunnel / Wrong Device and counted.

Users: ``gateway.gbcs_service`` (``send`` holds a GSME's message here; the GSME's input is subscribed
with the rest of the tunnel input).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from zigpy.exceptions import ZigbeeException

from hal.exceptions import TunnelFramingError
from hal.gbhrgp import MANUFACTURER_CODE, MAX_INCOMING_TRANSFER_SIZE, PROTOCOL_ID, Header, StreamReassembler
from hal.se_clusters import TransferDataStatus, Tunneling, TunnelStatus
from hanrig_errors import HanrigError

from .cbke import GBCS
from .han_input import FrameSource, HanInput

if TYPE_CHECKING:
    from .gbcs_service import GbcsService
    from .session import HanDevice

LOGGER = logging.getLogger(__name__)
TUNNELING: Final = Tunneling.cluster_id
MAX_HELD: Final = 255  # the GET-RESPONSE count is one octet


def opens_its_own_tunnel(device: HanDevice) -> bool:
    """A GSME: a Tunneling client (it opens the tunnel to the hub) and no Tunneling server."""
    endpoint = device.endpoint
    return TUNNELING not in endpoint.in_clusters and TUNNELING in endpoint.out_clusters


@dataclass
class _GsmeTunnel:
    tunnel_id: int
    inbound: StreamReassembler = field(default_factory=lambda: StreamReassembler(
        limit=MAX_INCOMING_TRANSFER_SIZE))


class GsmeTunnels:
    """The hub as the Tunneling server of every GSME of the session."""

    def __init__(self, relay: GbcsService) -> None:
        self.relay = relay
        self.tunnels: dict[str, _GsmeTunnel] = {}
        self.held: dict[str, deque[bytes]] = {}
        self._next_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def subscribe(self, tap: HanInput) -> list[Callable[[], None]]:
        defs = Tunneling.ServerCommandDefs
        return [tap.on_request(TUNNELING, defs.request_tunnel.id, self._on_request_tunnel, service=GBCS),
                tap.on_request(TUNNELING, defs.transfer_data.id, self._on_transfer_data, service=GBCS,
                               on_refused=self._on_refused_transfer_data),
                tap.on_request(TUNNELING, defs.close_tunnel.id, self._on_close, service=GBCS)]

    def hold(self, device: HanDevice, message: bytes) -> int:
        """Keep ``message`` until ``device`` asks (GET); the octets it will carry."""
        queue = self.held.setdefault(device.eui64, deque())
        if len(queue) >= MAX_HELD:
            raise TunnelFramingError(f"device {device.eui64}: the hub already holds {MAX_HELD} messages")
        queue.append(message)
        return len(message)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ from the GSME
    def _reply(self, source: FrameSource, tsn: int, command: str, **fields: Any) -> None:
        device = self.relay.gateway.device(source.eui64)
        cluster = device.endpoint.out_clusters.get(TUNNELING)
        if cluster is None:
            return
        command_id = getattr(Tunneling.ClientCommandDefs, command).id

        async def send() -> None:
            with contextlib.suppress(TimeoutError, ZigbeeException, HanrigError):
                await cluster.client_command(command_id, tsn=tsn, **fields)
        task = asyncio.get_running_loop().create_task(send(), name=f"gsme tunnel {command} {source.eui64}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request_tunnel(self, source: FrameSource, tsn: int, args: Any) -> None:
        status = TunnelStatus.Success
        if args.protocol_id != PROTOCOL_ID or args.manufacturer_code != MANUFACTURER_CODE:
            status = TunnelStatus.Protocol_Not_Supported
        elif args.flow_control_support:
            status = TunnelStatus.Flow_Control_Not_Supported
        tunnel_id = 0xFFFF
        if status is TunnelStatus.Success:
            self._next_id = (self._next_id + 1) & 0xFFFF or 1
            tunnel_id = self._next_id
            self.tunnels[source.eui64] = _GsmeTunnel(tunnel_id)
        else:
            self.relay._drop(source.eui64, f"request tunnel: {status.name}")
        self._reply(source, tsn, "request_tunnel_response", tunnel_id=tunnel_id, tunnel_status=status,
                    maximum_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE)

    def _on_close(self, source: FrameSource, tsn: int, args: Any) -> None:
        tunnel = self.tunnels.get(source.eui64)
        if tunnel is not None and tunnel.tunnel_id == int(args.tunnel_id):
            del self.tunnels[source.eui64]

    def _on_refused_transfer_data(self, source: FrameSource, args: Any, refusal: str) -> None:
        """A PUT from a GSME the SE gate refuses, on a tunnel it opened before: its alerts are counted as
        refused (``GbcsService.receive``), nothing is answered."""
        tunnel = self.tunnels.get(source.eui64)
        data = bytes(args.data)
        if tunnel is not None and tunnel.tunnel_id == int(args.tunnel_id) and data and data[0] == Header.PUT:
            self._put(source, tunnel, data, refusal)

    def _put(self, source: FrameSource, tunnel: _GsmeTunnel, data: bytes, refusal: str | None = None) -> None:
        try:
            found = tunnel.inbound.feed(data[1:], asyncio.get_running_loop().time())
        except TunnelFramingError as exc:
            self.relay._drop(source.eui64, f"framing: {exc}")
            return
        for message in found:
            self.relay.receive(source.eui64, message.message, refusal)

    def _on_transfer_data(self, source: FrameSource, tsn: int, args: Any) -> None:
        tunnel = self.tunnels.get(source.eui64)
        tunnel_id = int(args.tunnel_id)
        if tunnel is None or tunnel.tunnel_id != tunnel_id:
            ours = any(t.tunnel_id == tunnel_id for t in self.tunnels.values())
            status = TransferDataStatus.Wrong_Device if ours else TransferDataStatus.No_Such_Tunnel
            self.relay._drop(source.eui64, f"no tunnel: Transfer Data on tunnel {tunnel_id} ({status.name})")
            self._reply(source, tsn, "transfer_data_error", tunnel_id=tunnel_id, transfer_data_status=status)
            return
        data = bytes(args.data)
        if not data:
            self.relay._drop(source.eui64, "framing: an empty Transfer Data on a GSME tunnel")
            return
        if data[0] == Header.GET:
            queue = self.held.get(source.eui64) or deque()
            message = queue.popleft() if queue else b""
            self._reply(source, tsn, "transfer_data", tunnel_id=tunnel_id,
                        data=bytes([Header.GET_RESPONSE, len(queue)]) + message)
        elif data[0] == Header.PUT:
            self._put(source, tunnel, data)
        else:
            self.relay._drop(source.eui64, f"framing: GSME tunnel header 0x{data[0]:02x} is not GET or PUT")
