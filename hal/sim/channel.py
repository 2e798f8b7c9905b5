"""One 2.4 GHz channel shared by every node of a virtual PAN: unslotted CSMA-CA, collisions, MAC retries.

Each transmission is one IEEE 802.15.4-2006 unslotted CSMA-CA attempt (7.5.1.4): wait a random
``0..2^BE-1`` unit backoff periods, do an 8-symbol CCA, and on a busy channel raise BE (up to
macMaxBE) and try again, giving up after macMaxCSMABackoffs with CHANNEL_ACCESS_FAILURE. On an idle
CCA the node turns round to transmit (aTurnaroundTime). Two nodes whose CCAs both saw an idle channel
transmit over each other: both frames are corrupted, neither gets a MAC ACK, each waits
macAckWaitDuration and retries (macMaxFrameRetries). A delivered frame is followed by the receiver's
MAC ACK (which occupies the air, so other nodes' CCAs see it) and the sender's inter-frame space.

Without contention one attempt costs on average what ``ota.link_model.hop_us`` (and the shared
``ota_limit.py``) count: mean backoff + CCA + turnaround + frame + ACK cycle + IFS. Every node sends one
frame at a time (``node_lock``): the coordinator's APS ACK of a request and its response to it queue
behind each other, as in one NCP. All nodes hear each other (one collision domain: no hidden nodes);
the MAC ACK itself is not modelled as colliding.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from ota.link_model import (
    CCA_US,
    LIFS_US,
    MAC_ACK_PSDU,
    MAC_ACK_WAIT_US,
    MAC_MAX_BE,
    MAC_MAX_CSMA_BACKOFFS,
    MAC_MAX_FRAME_RETRIES,
    MAC_MIN_BE,
    MAX_SIFS_FRAME,
    SIFS_US,
    TURNAROUND_US,
    UNIT_BACKOFF_US,
    LinkModel,
    frame_us,
)


class MacResult:
    """How a MAC transmission ended (values as zigpy's MACStatus names them, plus success)."""

    SUCCESS = "success"
    NO_ACK = "no-ack"
    CHANNEL_ACCESS_FAILURE = "channel-access-failure"


@dataclass
class ChannelStats:
    """What the channel saw: attempts, collisions, busy CCAs, and air time by what carried it."""

    attempts: int = 0
    collisions: int = 0
    busy_cca: int = 0
    access_failures: int = 0
    air_us_by_kind: dict[str, float] | None = None

    def add_air(self, kind: str, microseconds: float) -> None:
        if self.air_us_by_kind is None:
            self.air_us_by_kind = {}
        self.air_us_by_kind[kind] = self.air_us_by_kind.get(kind, 0.0) + microseconds


_ACK_AIR_US = round(frame_us(MAC_ACK_PSDU))
_CCA_ROUND_US = round(CCA_US)
LATE_TOLERANCE_S = 1e-6  # a wake-up this much past its deadline is late (virtual time: never)


class _Deadlines:
    """The sleeps of one frame's MAC steps, each scheduled from the previous step's deadline rather than
    from when its timer actually fired. In real time (the virtual stick) a loop timer fires late under
    CPU contention; with relative sleeps that lateness added up over the backoff, frame and ACK steps of
    every hop, so the simulated air ran slower than the link model. Here a late wake-up shortens the
    next step (never below zero). In virtual time every timer fires exactly on its deadline, so each
    sleep is exactly the step asked for and a seed's trace is unchanged (the virtual clock counts whole
    microseconds, so it may read up to half of one off the float deadline: that is not lateness)."""

    __slots__ = ("_at", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._at: float | None = None

    async def sleep(self, seconds: float) -> None:
        loop = self._loop
        now = loop.time()
        if self._at is not None and now - self._at >= LATE_TOLERANCE_S:  # the previous timer fired late
            self._at += seconds
            await asyncio.sleep(max(self._at - now, 0.0))
            return
        self._at = at = now + seconds  # the deadline asyncio's timer gets for the same sleep
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = loop.create_future()
        timer = loop.call_at(at, _wake, future)
        try:
            await future
        finally:
            timer.cancel()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Channel:
    """The PAN's channel. ``enabled=False`` (zero-latency model) makes every transmission instant."""

    def __init__(self, model: LinkModel, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.stats = ChannelStats()
        # [start, end, collided (0/1)] of frames on or near the air, in whole microseconds since the
        # channel's first transmission: every duration here is a whole number of microseconds, and
        # integer comparisons keep one seed's trace the same whatever the loop's clock read at the start
        self._on_air: list[list[int]] = []
        self._epoch: float | None = None
        self._locks: dict[object, asyncio.Lock] = {}

    def node_lock(self, node: object) -> asyncio.Lock:
        """One frame at a time per transmitting node (its MAC has one transmit buffer)."""
        lock = self._locks.get(node)
        if lock is None:
            lock = self._locks[node] = asyncio.Lock()
        return lock

    def forget(self, node: object) -> None:
        self._locks.pop(node, None)

    def _now_us(self, loop: asyncio.AbstractEventLoop) -> int:
        now = loop.time()
        if self._epoch is None:
            self._epoch = now
        return round((now - self._epoch) * 1e6)

    def _busy(self, start: int, end: int) -> bool:
        for s, e, _ in self._on_air:  # noqa: SIM110 (a plain loop: no generator per CCA, 20k a run)
            if s < end and e > start:
                return True
        return False

    def _register(self, start: int, end: int, *, now: int) -> list[int]:
        # frames that ended well before now can no longer overlap anything that starts from now on
        if len(self._on_air) > 8:
            self._on_air = [entry for entry in self._on_air if entry[1] > now - 10_000]
        entry = [start, end, 0]
        for other in self._on_air:
            if other[0] < end and other[1] > start:
                other[2] = entry[2] = 1
        self._on_air.append(entry)
        return entry

    async def transmit(self, node: object, psdu: int, *, kind: str = "data", ack: bool = True,
                       lost: Callable[[], bool] | None = None) -> str:
        """Send one frame of ``psdu`` octets from ``node``: CSMA-CA, the frame, the MAC ACK, retries.
        ``lost()`` is asked once per attempt (fault injection, frame loss): a lost attempt costs what an
        unacknowledged one does. Broadcasts (``ack=False``) get one attempt and no ACK."""
        model = self.model
        if not model.enabled:
            return MacResult.SUCCESS
        loop = asyncio.get_running_loop()
        typical = model.typical
        air = round(frame_us(psdu))
        ifs = (LIFS_US if psdu > MAX_SIFS_FRAME else SIFS_US) if typical else 0.0
        ack_air = _ACK_AIR_US
        step = _Deadlines(loop)
        async with self.node_lock(node):
            for _attempt in range(1 + (MAC_MAX_FRAME_RETRIES if ack else 0)):
                self.stats.attempts += 1
                backoff_exponent, backoffs = MAC_MIN_BE, 0
                while True:
                    periods = self.rng.randrange(2**backoff_exponent) if typical else 0
                    await step.sleep((periods * UNIT_BACKOFF_US + CCA_US) / 1e6)
                    now = self._now_us(loop)
                    if not self._busy(now - _CCA_ROUND_US, now):
                        break
                    self.stats.busy_cca += 1
                    backoffs += 1
                    backoff_exponent = min(backoff_exponent + 1, MAC_MAX_BE)
                    if backoffs > MAC_MAX_CSMA_BACKOFFS:
                        self.stats.access_failures += 1
                        return MacResult.CHANNEL_ACCESS_FAILURE
                start = now + round(TURNAROUND_US)
                entry = self._register(start, start + air, now=now)
                self.stats.add_air(kind, air)
                if not ack:
                    await step.sleep((TURNAROUND_US + air + ifs) / 1e6)
                    self.stats.collisions += int(entry[2])
                    return MacResult.SUCCESS  # nobody acknowledges a broadcast: the sender cannot tell
                if lost is not None and lost():  # lost on the way (fault, frame loss): no ACK comes
                    await step.sleep((TURNAROUND_US + air + TURNAROUND_US + MAC_ACK_WAIT_US) / 1e6)
                    continue
                # Every node that can collide with this frame did its CCA before the frame started, so
                # its flag is final by the frame's end: one sleep as for a delivered frame (one wake-up
                # less per attempt in real time); a collided frame's retry then starts up to 128 µs late
                # (the ACK cycle and IFS outlast macAckWaitDuration by that much).
                ack_start = start + air + round(TURNAROUND_US)
                ack_entry = self._register(ack_start, ack_start + ack_air, now=now)
                await step.sleep((TURNAROUND_US + air + TURNAROUND_US + ack_air + ifs) / 1e6)
                if entry[2]:
                    ack_entry[1] = ack_entry[0]  # nobody received the frame, so nobody acknowledged it
                    self.stats.collisions += 1
                    await step.sleep(max(MAC_ACK_WAIT_US - ack_air - ifs, 0.0) / 1e6)
                    continue
                self.stats.add_air(kind, ack_air)  # the ACK is part of the traffic it acknowledges
                return MacResult.SUCCESS
        return MacResult.NO_ACK
