"""The simulated GSME's side of its GB-HRGP tunnel (``hal.gbhrgp``): the sleepy GSME is the Tunneling
client and opens its own tunnel to the hub (GBCS 10.2.2).

When it wakes to check in (after each gas push), the GSME requests a tunnel if it has none (GB-HRGP,
manufacturer 0xFFFF, no flow control, MaximumIncomingTransferSize 1500), then sends Transfer Data ``GET``
(0x01): "what do you hold for me". The hub answers ``GET-RESPONSE`` (0x02, the number of further
messages it still holds, then one message, or nothing when it holds none). Each message goes to the
meter's GBCS side (:class:`~hal.sim.tunnel.GbcsResponder`, built outside ``hal``: ``gbcs.device``), and
whatever it sends back (a response, a future-dated CS06's 8F66/8F67 alert later) goes up as ``PUT``
(0x03, then the message). While more messages wait, it asks again at once. A Tunnel Closure Notification
or a Transfer Data Error forgets the tunnel; the next check-in requests a new one.

The GSME is sleepy: the hub's answers wait at its parent until it polls, and it polls fast
(``awaiting``) while it waits for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final, Protocol

from hal.exceptions import TunnelFramingError
from hal.gbhrgp import MANUFACTURER_CODE, MAX_INCOMING_TRANSFER_SIZE, PROTOCOL_ID, Header, transfer_data
from hal.se_clusters import Tunneling, TunnelStatus

from .tunnel import TUNNELING_CLUSTER_ID, GbcsResponder
from .wire import ZclFrame, zcl_cluster_command

LOGGER = logging.getLogger(__name__)

ANSWER_WAIT_S: Final = 10.0  # how long the GSME stays on fast poll for the hub's answer


class GsmeTunnelHost(Protocol):
    """What the client needs from the GSME that carries it."""

    def next_tsn(self) -> int: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, behaviour: bool = False) -> asyncio.Task[Any]: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> bool: ...


class GsmeTunnelClient:
    """One GSME's Tunneling client carrying GB-HRGP to the hub."""

    def __init__(self, host: GsmeTunnelHost, responder: GbcsResponder | None, *,
                 processing_s: float = 0.0) -> None:
        self.host = host
        self.responder = responder
        self.processing_s = processing_s
        self.tunnel_id: int | None = None
        self.hub_max_incoming = MAX_INCOMING_TRANSFER_SIZE
        self.messages_in = 0
        self.messages_out = 0
        self.dropped: list[str] = []
        self._answer: asyncio.Future[ZclFrame] | None = None
        self._lock = asyncio.Lock()

    @property
    def awaiting(self) -> bool:
        """True while the GSME waits for the hub's answer (it polls fast meanwhile)."""
        return self._answer is not None and not self._answer.done()

    # ------------------------------------------------------------------ out
    async def _request(self, name: str, **fields: Any) -> ZclFrame | None:
        """Send a command to the hub's Tunneling server and wait for its answer (None: none came)."""
        self._answer = asyncio.get_running_loop().create_future()
        try:
            data = zcl_cluster_command(Tunneling, self.host.next_tsn(), name, server_to_client=False,
                                       disable_default_response=True, **fields)
            if not await self.host.send_to_hub(TUNNELING_CLUSTER_ID, data):
                return None
            async with asyncio.timeout(ANSWER_WAIT_S):
                return await self._answer
        except TimeoutError:
            self.dropped.append(f"{name}: no answer from the hub")
            return None
        finally:
            self._answer = None

    async def _open(self) -> bool:
        if self.tunnel_id is not None:
            return True
        reply = await self._request("request_tunnel", protocol_id=PROTOCOL_ID,
                                    manufacturer_code=MANUFACTURER_CODE, flow_control_support=False,
                                    maximum_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE)
        if reply is None or reply.name != "request_tunnel_response":
            return False
        status = reply.payload.tunnel_status
        if status != TunnelStatus.Success:
            self.dropped.append(f"request tunnel: {getattr(status, 'name', status)}")
            return False
        self.tunnel_id = int(reply.payload.tunnel_id)
        self.hub_max_incoming = int(reply.payload.maximum_incoming_transfer_size)
        return True

    async def check_in(self) -> None:
        """One wake-up: open the tunnel if needed, then GET until the hub holds nothing more."""
        if self.responder is None:
            return
        async with self._lock:
            if not await self._open():
                return
            while self.tunnel_id is not None:
                reply = await self._request("transfer_data", tunnel_id=self.tunnel_id,
                                            data=bytes([Header.GET]))
                if reply is None or reply.name != "transfer_data":
                    if reply is not None and reply.name == "transfer_data_error":
                        self.tunnel_id = None
                    return
                data = bytes(reply.payload.data)
                if len(data) < 2 or data[0] != Header.GET_RESPONSE:
                    self.dropped.append(f"not a GET-RESPONSE: {data[:2].hex()}")
                    return
                waiting, message = data[1], data[2:]
                if message:
                    self.messages_in += 1
                    await self._handle(message)
                if not waiting:
                    return

    async def _handle(self, message: bytes) -> None:
        assert self.responder is not None
        answers = list(self.responder.handle(message))
        if answers and self.processing_s:
            await asyncio.sleep(self.processing_s)
        for answer in answers:
            await self.put(answer)

    async def put(self, message: bytes) -> bool:
        """Send one GBCS message (a response or an alert) to the hub as PUT; False without a tunnel."""
        if self.tunnel_id is None and not await self._open():
            self.dropped.append("no tunnel to PUT a message on")
            return False
        try:
            data = transfer_data(bytes([Header.PUT]) + message, self.hub_max_incoming)
        except TunnelFramingError as exc:
            self.dropped.append(str(exc))
            return False
        assert self.tunnel_id is not None
        frame = zcl_cluster_command(Tunneling, self.host.next_tsn(), "transfer_data", server_to_client=False,
                                    disable_default_response=True, tunnel_id=self.tunnel_id, data=data)
        if await self.host.send_to_hub(TUNNELING_CLUSTER_ID, frame):
            self.messages_out += 1
            return True
        return False

    # ------------------------------------------------------------------ in
    def handle(self, frame: ZclFrame) -> bool:
        """A Tunneling command from the hub (server to client); True when understood."""
        if not frame.from_server or frame.payload is None:
            return False
        match frame.name:
            case "request_tunnel_response" | "transfer_data" | "transfer_data_error":
                if frame.name != "request_tunnel_response" and int(frame.payload.tunnel_id) != self.tunnel_id:
                    self.dropped.append(f"{frame.name} on tunnel {int(frame.payload.tunnel_id)}, not ours")
                    return True
                if self._answer is not None and not self._answer.done():
                    self._answer.set_result(frame)
                else:
                    self.dropped.append(f"unasked {frame.name}")
            case "tunnel_closure_notification":
                if int(frame.payload.tunnel_id) == self.tunnel_id:
                    self.tunnel_id = None
            case _:
                return False
        return True
