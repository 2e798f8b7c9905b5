"""The EZSP NCP of the virtual stick: the command set bellows drives, answered from the simulated HAN.

This module is the NCP's core: its lifecycle (start, stop, reset: runtime state lost, NVM kept), the frame
worker that decodes each command (``codec``), checks version negotiation and dispatches it through the
declarative command table (``commands.COMMANDS``), and the sending of responses and callbacks. The
command handlers live in four groups under ``commands/`` (configuration and tokens, network, messaging,
security): see ``hal/ezsp_stick/commands/__init__.py`` for how to add one. What the NCP is and keeps
(identity, configuration defaults, NVM, counters) is ``stack``.

The HAN is reached only through the coordinator port of ``hal.sim.han.VirtualHan`` (:class:`HanPort`:
attach, form, send, permit_join, scans, network); frames cross it as ``zigpy.types.ZigbeePacket``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import bellows.types as t
import zigpy.types as zigpy_t
from bellows.ezsp import EZSP

from .codec import EzspCodec, FrameRejected, to_status_type
from .commands import COMMANDS
from .commands.cbke import CbkeCommands
from .commands.config import ConfigCommands
from .commands.messaging import MessagingCommands
from .commands.network import NetworkCommands
from .commands.security import SecurityCommands
from .exceptions import StickConfigError
from .stack import CONFIG_DEFAULTS, NcpStats, NetworkState, NvmState

LOGGER = logging.getLogger(__name__)

SUPPORTED_VERSIONS = tuple(v for v in sorted(EZSP._BY_VERSION) if v >= 8)
DEFAULT_VERSION = 13

__all__ = ["DEFAULT_VERSION", "SUPPORTED_VERSIONS", "EzspNcp", "HanPort", "to_status_type"]


class HanPort(Protocol):
    """What the NCP needs from the simulated HAN: the coordinator port of ``VirtualHan``."""

    network: Any

    def attach(self, listener: Any) -> None: ...
    async def form(self, params: Any) -> None: ...
    async def send(self, packet: zigpy_t.ZigbeePacket) -> None: ...
    async def send_fragment(self, packet: zigpy_t.ZigbeePacket, index: int, blocks: int) -> None: ...
    def fragment_acknowledged(self, sender: int, aps_sequence: int, first: int, bitfield: int) -> bool: ...
    async def permit_join(self, seconds: int) -> None: ...
    def add_transient_key(self, ieee: zigpy_t.EUI64, key: bytes) -> None: ...
    async def energy_scan(self, channels: Iterable[int], duration_exp: int) -> dict[int, int]: ...
    async def network_scan(self, channels: Iterable[int], duration_exp: int) -> list[Any]: ...


class EzspNcp(ConfigCommands, NetworkCommands, MessagingCommands, SecurityCommands, CbkeCommands):
    """One EZSP NCP speaking ``version`` (v8 or later), backed by ``han``.

    ``send`` hands a finished EZSP frame to the serial layer. Feed received frames to
    :meth:`frame_received`; call :meth:`reset` when the NCP resets (host RST or a fault).
    """

    def __init__(self, han: HanPort, *, send: Callable[[bytes], None], version: int = DEFAULT_VERSION,
                 ieee: zigpy_t.EUI64 | None = None, power_up_han: bool = False, xncp: bool = True) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise StickConfigError(
                f"ezsp stick: protocol version {version} not supported"
                f" (choose from {', '.join(map(str, SUPPORTED_VERSIONS))})")
        self.han = han
        self.version = version
        self.xncp = xncp  # answer XNCP custom frames as community firmware does (hal/ezsp_stick/xncp.py)
        self._send = send
        self.ieee = zigpy_t.EUI64(ieee if ieee is not None else han.network.coordinator_ieee)
        self.codec = EzspCodec(version)
        self.nvm = NvmState()
        self.stats = NcpStats()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generation = 0
        # NWK/IEEE pairs the stack has heard of: child and neighbour tables, kept across a reset
        self._known: dict[zigpy_t.EUI64, int] = {}
        # our rule: the virtual bench powers up once the host is listening (see _host_ready)
        self._power_up_han = power_up_han
        self._han_start: asyncio.Task[None] | None = None
        self.on_power: Callable[[bool], None] | None = None  # set by the serial layer
        self._reset_runtime()
        han.attach(self)

    def _reset_runtime(self) -> None:
        self._negotiated = False
        self._last_seq = 0
        self._network = NetworkState.DOWN
        self._config: dict[t.EzspConfigId, int] = dict(CONFIG_DEFAULTS)
        self._values: dict[t.EzspValueId, bytes] = {}
        self._policies: dict[t.EzspPolicyId, int] = {}
        self._endpoints: dict[int, dict[str, Any]] = {}
        self._initial_security: t.EmberInitialSecurityState | None = None
        self._extended_timeout: set[zigpy_t.EUI64] = set()
        self._address_table: dict[int, tuple[zigpy_t.EUI64, int]] = {}
        self._aps_seq = 0
        self._fragment_seq: dict[int, int] = {}  # destination -> APS counter of the message being fragmented
        self._nwk_frame_counter = 0
        self._tx_power = 8

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="ezsp-ncp")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        self._tasks.clear()

    def reset(self, code: t.NcpResetCode = t.NcpResetCode.RESET_SOFTWARE) -> None:
        """The NCP restarts: runtime state and queued work are lost, NVM stays."""
        LOGGER.info("ezsp ncp: reset (%s), network %s before", code.name, self._network.value)
        self.stats.resets += 1
        self._generation += 1
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._reset_runtime()

    @property
    def network_up(self) -> bool:
        return self._network is NetworkState.UP

    def _host_ready(self) -> None:
        """The host sent a frame or opened the network with the network up: its callback handler is
        attached (bellows attaches it at the end of start-up), so the bench may power up and its
        devices announce to a listener instead of into the void."""
        if self._power_up_han and self.network_up and not getattr(self.han, "started", True):
            self._power_up_han = False
            LOGGER.info("ezsp ncp: host is up, powering the virtual bench")
            task = asyncio.get_running_loop().create_task(self.han.start(), name="ezsp-ncp-han-start")
            self._han_start = task  # not in _tasks: an NCP reset must not cancel the bench

    # ---- frames

    def frame_name(self, data: bytes) -> str:
        """The EZSP frame name of a command, response or callback (for byte accounting), else "DATA"."""
        return self.codec.frame_name(data)

    def frame_received(self, data: bytes) -> None:
        """An EZSP frame from the host; frames are handled one at a time, in order."""
        self._queue.put_nowait(bytes(data))

    async def _work(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._handle(data)
            except asyncio.CancelledError:
                raise
            except Exception:  # a handler bug must not stop the NCP: log it, answer nothing more
                LOGGER.exception("ezsp ncp: failed to handle frame %s", data.hex())

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, data: bytes) -> None:
        if len(data) < 3:
            LOGGER.warning("ezsp ncp: frame of %d bytes is too short, ignored", len(data))
            return
        self.stats.commands += 1
        try:
            command = self.codec.decode(data)
        except FrameRejected as rejected:
            if rejected.unknown:
                self.stats.unknown_commands += 1
            self._send(self.codec.invalid(rejected.seq, rejected.status, legacy=rejected.legacy))
            return
        seq, name, legacy = command.seq, command.name, command.legacy
        if name != "version" and not self._negotiated:
            # UG100: until the host has set the protocol version, only `version` is understood
            LOGGER.warning("ezsp ncp: %s before version negotiation, answered invalidCommand", name)
            self._send(self.codec.invalid(seq, t.EzspStatus.ERROR_VERSION_NOT_SET, legacy=legacy))
            return
        handler = COMMANDS.get(name)
        if handler is None:
            self.stats.unknown_commands += 1
            LOGGER.warning("ezsp ncp: command %s is not implemented by the virtual stick,"
                           " answered invalidCommand", name)
            self._send(self.codec.invalid(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID, legacy=legacy))
            return
        LOGGER.debug("ezsp ncp: <- %s %s", name, command.args)
        after: list[tuple[str, dict[str, Any]]] = []
        generation = self._generation
        result = await handler(self, after, **command.args)
        if generation != self._generation:
            return  # the NCP reset while the command ran: a real one never answers
        self._last_seq = seq
        self._send(self.codec.encode(seq, name, result, legacy=legacy))
        for cb_name, fields in after:
            self.callback(cb_name, fields)

    def callback(self, name: str, fields: dict[str, Any]) -> None:
        """Send an asynchronous callback frame (sequence number of the last answered command)."""
        LOGGER.debug("ezsp ncp: -> callback %s", name)
        self.stats.callbacks += 1
        self._send(self.codec.encode(self._last_seq, name, fields, callback=True))

    def _stack_status(self, after: list[tuple[str, dict[str, Any]]] | None, status: t.sl_Status) -> None:
        if after is None:
            self.callback("stackStatusHandler", {"status": status})
        else:
            after.append(("stackStatusHandler", {"status": status}))

    # ---- power (the coordinator listener's stick events; joins, leaves and frames: commands/)

    def on_stick_lost(self) -> None:
        """The PAN's ``unplug`` fault: the stick loses power (the serial layer goes silent)."""
        if self.on_power is not None:
            self.on_power(False)

    def on_stick_back(self) -> None:
        """Power returns: the NCP boots afresh and says so with a power-on RSTACK."""
        if self.on_power is not None:
            self.on_power(True)
