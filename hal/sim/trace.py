"""The virtual PAN's frame trace: a bounded ring in memory, and sinks that take every frame as it happens.

A campaign to hundreds of devices puts millions of frames on the air; keeping them all made a
200-device run's memory grow with the image. The ring keeps the last :data:`RING_FRAMES` frames for
whoever looks at the recent past (tests, ``gw.sim.frames``, the rig runner's per-step ``frames.csv``);
a consumer that needs every frame (a pcapng capture, ``hal.capture``) subscribes a sink, which sees
each frame once, when it is recorded, with its zigpy packet. :attr:`FrameTrace.total` counts every
frame ever recorded (a mark for :meth:`FrameTrace.since`), :attr:`FrameTrace.dropped` those that left
the ring.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .wire import TraceRecord

RING_FRAMES = 20_000  # frames kept in memory (≈ 4 MB with 64-byte OTA blocks)
FrameSink = Callable[[TraceRecord, Any], None]  # (record, the zigpy packet it was made from)


class FrameTrace:
    """Recorded frames: iterate for the ring's contents (oldest first), :meth:`subscribe` for all of them."""

    def __init__(self, ring_frames: int = RING_FRAMES) -> None:
        self._ring: deque[TraceRecord] = deque(maxlen=ring_frames)
        self._sinks: list[FrameSink] = []
        self._device_sinks: list[tuple[Any, FrameSink]] = []  # (device, sink): its frames only
        self.total = 0

    def append(self, record: TraceRecord, packet: Any = None) -> None:
        self._ring.append(record)
        self.total += 1
        for sink in self._sinks:
            sink(record, packet)
        for device, sink in self._device_sinks:  # the address is compared here, not in a call per sink
            nwk = device.nwk
            if nwk == record.src or nwk == record.dst:
                sink(record, packet)

    @property
    def has_air_sinks(self) -> bool:
        """Whether a sink takes every frame on the air (an air capture), not one device's frames only."""
        return bool(self._sinks)

    def announce(self, record: TraceRecord, packet: Any = None) -> None:
        """Hand ``record`` to the air sinks only: a frame on the air that is not part of the trace (an APS
        ACK, which the seeded trace leaves out). One device's sinks (a rig step's capture, its DUT's data
        frames) do not take them: a step's evidence is the DUT's traffic, and encoding every ACK in every
        step cost the main job ~7 % of its time; the air capture (``--capture``) holds them all."""
        for sink in self._sinks:
            sink(record, packet)

    def subscribe(self, sink: FrameSink, device: Any = None) -> None:
        """Call ``sink(record, packet)`` for every frame from now on; with ``device`` (a node with an
        ``nwk``), for the frames from or to its address at the time only."""
        if device is None:
            self._sinks.append(sink)
        else:
            self._device_sinks.append((device, sink))

    def unsubscribe(self, sink: FrameSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)
        self._device_sinks = [(device, each) for device, each in self._device_sinks if each != sink]

    def since(self, mark: int) -> list[TraceRecord]:
        """The frames recorded after ``mark`` (an earlier :attr:`total`) that are still in the ring."""
        count = min(self.total - mark, len(self._ring))
        return list(itertools.islice(self._ring, len(self._ring) - count, None)) if count > 0 else []

    @property
    def dropped(self) -> int:
        """Frames recorded but no longer in the ring (sinks saw them)."""
        return self.total - len(self._ring)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self._ring)

    def __len__(self) -> int:
        return len(self._ring)

    def __getitem__(self, index: int) -> TraceRecord:
        return self._ring[index]
