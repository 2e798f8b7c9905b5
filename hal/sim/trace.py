"""The virtual PAN's frame trace: a bounded ring in memory, and sinks that take every frame as it happens.

A campaign to hundreds of devices puts millions of frames on the air; keeping them all made a
200-device run's memory grow with the image. The ring keeps the last :data:`RING_FRAMES` frames for
whoever looks at the recent past (tests, the CLI); a consumer that needs every frame of a window (the
rig runner's per-step ``frames.csv`` in the results store, a capture file) subscribes a sink, which
sees each frame once, when it is recorded, and decides what to keep. :attr:`FrameTrace.total` counts
every frame ever recorded, and :attr:`FrameTrace.dropped` those that left the ring.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO

from .wire import TraceRecord

RING_FRAMES = 20_000  # frames kept in memory (≈ 4 MB with 64-byte OTA blocks)
Sink = Callable[[TraceRecord], None]
CSV_COLUMNS = ("time_s", "src", "dst", "profile", "cluster", "length", "outcome", "data")


class FrameTrace:
    """Recorded frames: iterate for the ring's contents (oldest first), :meth:`subscribe` for all of them."""

    def __init__(self, ring_frames: int = RING_FRAMES) -> None:
        self._ring: deque[TraceRecord] = deque(maxlen=ring_frames)
        self._sinks: list[Sink] = []
        self.total = 0

    def append(self, record: TraceRecord) -> None:
        self._ring.append(record)
        self.total += 1
        for sink in self._sinks:
            sink(record)

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Call ``sink(record)`` for every frame from now on; returns the function that unsubscribes."""
        self._sinks.append(sink)

        def unsubscribe() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)

        return unsubscribe

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


def csv_row(record: TraceRecord) -> list[str]:
    """One frame as the rows of ``frames.csv`` (hex addresses, payload as hex)."""
    return [f"{record.time:.6f}", f"0x{record.src:04x}", f"0x{record.dst:04x}", f"0x{record.profile:04x}",
            f"0x{record.cluster:04x}", str(record.length), record.outcome, record.data.hex()]


class CsvSpool:
    """A sink that writes frames to a CSV text file as they are recorded (nothing is held in memory):
    those ``keep`` accepts, up to ``limit``."""

    def __init__(self, file: IO[str], *, keep: Callable[[TraceRecord], bool] | None = None,
                 limit: int | None = None) -> None:
        self.file = file
        self.keep = keep
        self.limit = limit
        self._writer = csv.writer(file, lineterminator="\n")
        self._writer.writerow(CSV_COLUMNS)
        self.frames = 0

    def __call__(self, record: TraceRecord) -> None:
        if self.limit is not None and self.frames >= self.limit:
            return
        if self.keep is not None and not self.keep(record):
            return
        self._writer.writerow(csv_row(record))
        self.frames += 1
