"""The simulated ESME's Tunneling server (0x0704) carrying GB-HRGP (``hal.gbhrgp``): the hub requests a
tunnel, sends each GBCS command in one Transfer Data (the APS layer fragments it on the air when it is
longer than a frame, ``hal.sim.han``), and the meter's responses and alerts come back the same way on
the same tunnel.

What a message means is not this module's business: each complete message is handed to the meter's
:class:`GbcsResponder` (built outside ``hal``, e.g. ``gbcs.device.GbcsMeter`` by ``gateway.bench``) and
whatever it returns is sent back, after the meter's processing delay. A meter without a responder
counts the message and drops it. Tunnel rules (SE D.6, GBCS 10.2.2): Request Tunnel must ask for
GB-HRGP (protocol 6) with manufacturer 0xFFFF and no flow control, else the matching status; an unknown
tunnel id gets Transfer Data Error No Such Tunnel, another device's tunnel Wrong Device, a message
beyond MaximumIncomingTransferSize Data Overflow; an idle tunnel closes after CloseTunnelTimeout
with a Tunnel Closure Notification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from zigpy.zcl import foundation

from hal.exceptions import TunnelFramingError
from hal.gbhrgp import (
    MANUFACTURER_CODE,
    MAX_INCOMING_TRANSFER_SIZE,
    PROTOCOL_ID,
    StreamReassembler,
    transfer_data,
)
from hal.se_clusters import SupportedProtocol, TransferDataStatus, Tunneling, TunnelStatus

from .alarms import DeviceAlarms
from .wire import ZclFrame, zcl_cluster_command

LOGGER = logging.getLogger(__name__)

TUNNELING_CLUSTER_ID: Final = Tunneling.cluster_id
MAX_TUNNELS: Final = 4
CLOSE_TUNNEL_TIMEOUT_S: Final = 0xFFFF  # CloseTunnelTimeout: the hub re-requests after 0xFFFF s anyway
NO_TUNNEL: Final = 0xFFFF


class GbcsResponder(Protocol):
    """A meter's GBCS side: a complete message in, the messages it sends back out; and the alerts it
    raises (a 16-bit GBCS alert code, the device's own clock)."""

    def handle(self, data: bytes) -> Sequence[bytes]: ...
    def alert(self, alert_code: int, when: dt.datetime) -> bytes: ...


class TunnelHost(Protocol):
    """What the server needs from the device that carries it."""

    def next_tsn(self) -> int: ...
    def loop_time(self) -> float: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, behaviour: bool = False) -> asyncio.Task[Any]: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> None: ...


DefaultResponder = Callable[[int, ZclFrame, foundation.Status], Awaitable[None]]


@dataclass
class _Tunnel:
    tunnel_id: int
    peer_nwk: int
    max_incoming: int  # the hub's MaximumIncomingTransferSize
    inbound: StreamReassembler = field(default_factory=StreamReassembler)
    idle: asyncio.Task[Any] | None = None


class GbHrgpServer:
    """One meter's Tunneling server."""

    def __init__(self, host: TunnelHost, default_response: DefaultResponder, responder: GbcsResponder | None,
                 *, processing_s: float = 0.0) -> None:
        self.host = host
        self._default_response = default_response
        self.responder = responder
        self.processing_s = processing_s
        self.tunnels: dict[int, _Tunnel] = {}
        self.messages_in = 0
        self.messages_out = 0
        self.dropped: list[str] = []  # why frames or messages were dropped
        self.attributes: dict[int, Any] = {
            Tunneling.AttributeDefs.close_tunnel_timeout.id: CLOSE_TUNNEL_TIMEOUT_S}

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
                protocols = [SupportedProtocol(manufacturer_code=MANUFACTURER_CODE, protocol_id=PROTOCOL_ID)]
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
        if args.protocol_id != PROTOCOL_ID or args.manufacturer_code != MANUFACTURER_CODE:
            status = TunnelStatus.Protocol_Not_Supported
        elif args.flow_control_support:
            status = TunnelStatus.Flow_Control_Not_Supported
        elif len(self.tunnels) >= MAX_TUNNELS:
            status = TunnelStatus.No_More_Tunnel_IDs
        tunnel_id = NO_TUNNEL
        if status is TunnelStatus.Success:
            tunnel_id = next(i for i in range(MAX_TUNNELS + 1) if i not in self.tunnels)
            tunnel = _Tunnel(tunnel_id, src_nwk, int(args.maximum_incoming_transfer_size),
                             StreamReassembler(limit=MAX_INCOMING_TRANSFER_SIZE))
            self.tunnels[tunnel_id] = tunnel
            self._touch(tunnel)
        else:
            self.dropped.append(f"request tunnel: {status.name}")
        await self._send(frame.tsn, "request_tunnel_response", tunnel_id=tunnel_id, tunnel_status=status,
                         maximum_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE)

    async def _transfer_data(self, frame: ZclFrame, args: Any, src_nwk: int) -> None:
        tunnel = self.tunnels.get(int(args.tunnel_id))
        error = None
        if tunnel is None:
            error = TransferDataStatus.No_Such_Tunnel
        elif tunnel.peer_nwk != src_nwk:
            error = TransferDataStatus.Wrong_Device
        messages: list[bytes] = []
        if error is None and tunnel is not None:
            try:
                messages = [m.message for m in tunnel.inbound.feed(bytes(args.data), self.host.loop_time())]
            except TunnelFramingError as exc:
                self.dropped.append(str(exc))
                LOGGER.info("tunnel %d: stream dropped: %s", tunnel.tunnel_id, exc)
                if "MaximumIncomingTransferSize" in str(exc):
                    error = TransferDataStatus.Data_Overflow
        if error is not None:
            self.dropped.append(f"transfer data on tunnel {int(args.tunnel_id)}: {error.name}")
            await self._send(frame.tsn, "transfer_data_error", tunnel_id=int(args.tunnel_id),
                             transfer_data_status=error)
            return
        assert tunnel is not None
        self._touch(tunnel)
        await self._default_response(TUNNELING_CLUSTER_ID, frame, foundation.Status.SUCCESS)
        for message in messages:
            self.messages_in += 1
            if self.responder is None:
                self.dropped.append("a GBCS message for a meter with no GBCS side")
                continue
            answers = list(self.responder.handle(message))
            if answers:
                self.host.spawn(self._answer(tunnel, answers))

    async def _answer(self, tunnel: _Tunnel, answers: list[bytes]) -> None:
        if self.processing_s:
            await asyncio.sleep(self.processing_s)
        for answer in answers:
            await self.send_message(answer, tunnel)

    async def send_message(self, message: bytes, tunnel: _Tunnel | None = None) -> bool:
        """Send one GBCS message (a response, or an alert the meter raises) on the hub's tunnel; False when
        no tunnel is open (GBCS: the hub keeps one open to every ESME)."""
        tunnel = tunnel or next(iter(self.tunnels.values()), None)
        if tunnel is None or self.tunnels.get(tunnel.tunnel_id) is not tunnel:
            self.dropped.append("no tunnel open to send a message on")
            return False
        try:
            data = transfer_data(message, tunnel.max_incoming)
        except TunnelFramingError as exc:
            self.dropped.append(str(exc))
            return False
        self._touch(tunnel)
        await self._send(self.host.next_tsn(), "transfer_data", tunnel_id=tunnel.tunnel_id, data=data)
        self.messages_out += 1
        return True

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


class GbcsAlarms(DeviceAlarms):
    """A GB meter's alarms: a code above 0xFF is a 16-bit GBCS alert code, raised by its GBCS side as a
    GBCS alert through the hub's tunnel (not sent, and counted lost, without a tunnel or a GBCS side);
    8-bit codes stay ZCL Alarms."""

    def __init__(self, host: Any, tunnel: GbHrgpServer, responder: GbcsResponder | None,
                 rate_hz: float = 0.0) -> None:
        super().__init__(host, rate_hz)
        self.tunnel = tunnel
        self.responder = responder

    async def send(self, alarm_code: int, cluster_id: int) -> None:
        if alarm_code <= 0xFF or self.responder is None:
            await super().send(alarm_code, cluster_id)
            return
        when = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.host.utc_now())
        if self.tunnel.tunnels and await self.tunnel.send_message(self.responder.alert(alarm_code, when)):
            self.sent += 1
        else:
            self.lost += 1
