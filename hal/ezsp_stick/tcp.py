"""The virtual stick behind a TCP port, the way ser2net serves a real stick's UART (raw TCP).

A lab exports sticks over the network: ser2net (or a labgrid exporter running it) turns a serial port
into a TCP port, and bellows opens ``socket://HOST:PORT``. ``TcpStick`` is the same NCP and ASH link as
:class:`~hal.ezsp_stick.pty.VirtualStick` with a listening socket in place of the pty: the bytes are the
UART's, still clocked at the stick's baud rate by ASH. As with ser2net, one host at a time holds the
port (a second connection is closed at once), and the stick keeps running (its state too) between
connections; bytes it sends while nobody is connected are lost, as on an unread UART.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .exceptions import StickConfigError, StickPortError
from .ncp import HanPort
from .pty import VirtualStick

LOGGER = logging.getLogger(__name__)


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6; port 0 picks a free one) or ``StickConfigError``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise StickConfigError(f"sim stick: --tcp {text!r} is not HOST:PORT (e.g. 127.0.0.1:5555)")
    return host, int(port)


class _Connection(asyncio.Protocol):
    def __init__(self, stick: TcpStick):
        self.stick = stick
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        if self.stick.client is not None:
            LOGGER.warning("ezsp stick: refused %s: the port is held by %s", peer, self.stick.peer)
            transport.close()
            return
        self.transport = transport
        self.stick.client, self.stick.peer = self, peer
        LOGGER.info("ezsp stick: host %s connected", peer)

    def data_received(self, data: bytes) -> None:
        if self.stick.client is self:
            self.stick.ash.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stick.client is self:
            LOGGER.info("ezsp stick: host %s disconnected", self.stick.peer)
            self.stick.client, self.stick.peer = None, None


class TcpStick(VirtualStick):
    """An EZSP stick on ``host:port`` (raw TCP, as ser2net), backed by ``han``; ``await start()``
    returns its ``socket://HOST:PORT`` URL (the real port when asked for port 0)."""

    def __init__(self, han: HanPort, *, host: str, port: int, **options: Any) -> None:
        super().__init__(han, **options)
        self.host = host
        self.tcp_port = port
        self.client: _Connection | None = None
        self.peer: Any = None
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _Connection(self), self.host, self.tcp_port)
        except OSError as exc:
            raise StickPortError(f"ezsp stick: cannot listen on {self.host}:{self.tcp_port}: "
                                 f"{exc.strerror or exc}") from None
        self.tcp_port = int(self._server.sockets[0].getsockname()[1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.path = f"socket://{host}:{self.tcp_port}"
        return self._start_layers()

    async def stop(self) -> None:
        await self._stop_layers()
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def host_baudrate(self) -> int | None:
        return None  # raw TCP carries no line settings: the host cannot open it at a wrong rate

    def _write(self, data: bytes) -> None:
        client = self.client
        if client is not None and client.transport is not None and not client.transport.is_closing():
            client.transport.write(data)
        else:
            self.port.dropped_writes += 1
