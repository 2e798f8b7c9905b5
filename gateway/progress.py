"""The one progress display of hanrig (rich): transfers, waits and step status, on stderr.

Every command and the rig runner draw progress through :class:`ProgressDisplay`:

* ``transfer(key, label, total)`` -> :class:`TransferTask`: per device bytes, %, B/s and ETA. B/s and
  ETA are measured on the radio's clock (the event loop's ``time()``, simulated time on ``sim://``); on
  simulated time the line also shows the wall-clock rate, so both are honest.
* ``waiting(label, timeout_s)``: a long wait (a GSME's next push, a permit window, a sleepy device's
  next query) shows what it waits for, how long it has waited and for how long it may.
* ``status(key, label)`` -> :class:`StatusTask`: a line of free text (the rig runner: one per DUT with
  its current step and step count).

On a terminal the lines are redrawn in place (rich's live display, ``REFRESH_PER_S`` times a second).
Without one (CI logs, pipes) each task prints a plain line when its text changes, and transfers only at
25/50/75/100 %, so logs stay short; and nothing ticks or formats lines nobody sees, so a session's host
process is not woken for them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from hal.virtual_clock import is_virtual_clock

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

RATE_SAMPLES = 32  # B/s is measured over this many most recent samples
MILESTONES = (25, 50, 75, 100)  # without a terminal, a transfer prints one line at each of these
WAIT_TICK_S = 1.0  # a wait's elapsed time is updated this often (radio clock), on a terminal only
REFRESH_PER_S = 4  # rich redraws a terminal's lines this often (its thread renders every line each time)


def _clock() -> tuple[float, bool]:
    """The radio's clock now and whether it is simulated (a virtual-time loop), or the wall clock."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return time.monotonic(), False
    return loop.time(), is_virtual_clock(loop)


def format_rate(bytes_per_s: float) -> str:
    if bytes_per_s >= 10_000:
        return f"{bytes_per_s / 1000:.1f} kB/s"
    return f"{bytes_per_s:.0f} B/s"


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressDisplay:
    """A set of progress lines on one stream (stderr by default)."""

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._console: Console | None = None
        # without a terminal nothing is redrawn, so rich (~20 ms to import) is loaded only for a line
        # with something for it to render (:meth:`_log`)
        self.progress: Progress | _NoLiveLines = _NoLiveLines()
        if self.tty:
            from rich.progress import BarColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[detail]}"),
                console=self.console,
                auto_refresh=True,
                refresh_per_second=REFRESH_PER_S,
            )
        self._label_width = 0
        self.closers: list[Callable[[], None]] = []

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, force_terminal=self.tty, soft_wrap=True,
                                    highlight=False, width=None if self.tty else 160)
        return self._console

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for closer in self.closers:
            closer()
        self.closers.clear()
        self.progress.refresh()
        self.progress.stop()

    def _add(self, label: str, total: float | None, detail: str) -> TaskID:
        self._label_width = max(self._label_width, len(label))
        return self.progress.add_task(label, total=total, detail=detail)

    def _log(self, label: str, text: str) -> None:
        """A plain line without a terminal (none on a terminal: the live display shows it)."""
        if self.tty:
            return
        line = f"{label:<{self._label_width}}  {text}"
        if line.isprintable():
            # a line rich prints as it is (no tab or control code to render) is written directly, as rich
            # writes it: rich's print costs ~50 us a line, a run prints hundreds, and its import 20 ms
            self.stream.write(line + "\n")
            self.stream.flush()
        else:
            self.console.print(line, markup=False, highlight=False, emoji=False)

    def transfer(self, label: str, total: int) -> TransferTask:
        return TransferTask(self, label, total)

    def status(self, label: str, total_steps: int | None = None) -> StatusTask:
        return StatusTask(self, label, total_steps)

    def ota_transfers(self, labels: dict[str, str], waiting: list[str]) -> OtaTransfers:
        """Transfer lines fed by the OTA server's callbacks (``on_progress``, ``on_outcome``), one per
        device; until a device's first block, its line says it is awaited, and for how long."""
        return OtaTransfers(self, labels, waiting)

    @contextlib.contextmanager
    def waiting(self, what: str, timeout_s: float) -> Iterator[None]:
        """Show ``what`` is awaited, for how long so far and for at most how long (radio clock), while the
        body runs; needs a running event loop (the elapsed time ticks in a task)."""
        start, simulated = _clock()
        clock_name = " simulated" if simulated else ""
        task = self._add(f"waiting for {what}", timeout_s or None, "")

        def update() -> None:
            elapsed = _clock()[0] - start
            detail = f"{format_duration(elapsed)} of up to {format_duration(timeout_s)}{clock_name}"
            self.progress.update(task, completed=min(elapsed, timeout_s), detail=detail)

        async def tick() -> None:
            while True:
                update()
                await asyncio.sleep(WAIT_TICK_S)

        update()
        self._log(f"waiting for {what}", f"up to {format_duration(timeout_s)}{clock_name}")
        # the ticking elapsed time is seen only on a terminal: without one, the lines at the start and the
        # end say it all, and a ticker would only wake the loop every second for nobody
        ticker = None
        if self.tty:
            ticker = asyncio.get_running_loop().create_task(tick(), name=f"progress: {what}")
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
            update()
            self.progress.remove_task(task)
            self._log(f"waiting for {what}", f"done after {format_duration(_clock()[0] - start)}{clock_name}")


class _NoLiveLines:
    """What a display without a terminal has instead of rich's live ``Progress``: task ids, and nothing
    to redraw (its lines are printed by :meth:`ProgressDisplay._log` when they change)."""

    def __init__(self) -> None:
        self._next_id = 0

    def add_task(self, description: str, **fields: Any) -> TaskID:
        self._next_id += 1
        return self._next_id - 1  # type: ignore[return-value]

    def update(self, task: TaskID, **fields: Any) -> None:
        pass

    def remove_task(self, task: TaskID) -> None:
        pass

    def refresh(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class TransferTask:
    """One device's transfer: feed it ``update(offset)`` samples; ``finish(text)`` ends the line."""

    def __init__(self, display: ProgressDisplay, label: str, total: int) -> None:
        self.display = display
        self.label = label
        self.total = total
        self.task = display._add(label, total, "")
        self.recent: collections.deque[tuple[float, float, int]] = collections.deque(maxlen=RATE_SAMPLES)
        self.simulated = False
        self.offset = 0
        self._milestone = 0
        self.final = ""

    def update(self, offset: int, total: int | None = None, at: float | None = None) -> None:
        """``offset`` bytes of ``total`` are done; ``at`` is the radio-clock time of the sample."""
        now, self.simulated = _clock()
        if total is not None:
            self.total = total
        self.offset = offset
        self.recent.append((now if at is None else at, time.monotonic(), offset))
        if self.display.tty:  # without a terminal only the milestones below are seen: no line to format
            self.display.progress.update(self.task, completed=offset, total=self.total, detail=self.detail())
        percent = 100 * offset // max(self.total, 1)
        reached = [m for m in MILESTONES if self._milestone < m <= percent]
        if reached:
            self._milestone = reached[-1]
            self.display._log(self.label, self.detail())

    def rates(self) -> tuple[float, float]:
        """B/s over the recent samples on the radio clock and on the wall clock (0 until measurable)."""
        if len(self.recent) < 2:
            return 0.0, 0.0
        (t0, w0, o0), (t1, w1, o1) = self.recent[0], self.recent[-1]
        radio = (o1 - o0) / (t1 - t0) if t1 > t0 else 0.0
        wall = (o1 - o0) / (w1 - w0) if w1 > w0 else 0.0
        return radio, wall

    def detail(self) -> str:
        radio, wall = self.rates()
        percent = 100 * self.offset / max(self.total, 1)
        eta = format_duration((self.total - self.offset) / radio) if radio > 0 else "unknown"
        rate = format_rate(radio)
        if self.simulated:
            rate = f"{rate} simulated ({format_rate(wall)} wall)"
            eta += " simulated"
        text = f"{self.offset}/{self.total} B  {percent:5.1f}%  {rate}  ETA {eta}"
        return f"{text}  {self.final}" if self.final else text

    def finish(self, text: str) -> None:
        self.final = text
        self.display.progress.update(self.task, detail=self.detail())
        if self.display.tty:
            self.display.progress.refresh()


class StatusTask:
    """A line of text (optionally with a step count) that changes as work goes on."""

    def __init__(self, display: ProgressDisplay, label: str, total_steps: int | None) -> None:
        self.display = display
        self.label = label
        self.text = ""
        self.task = display._add(label, total_steps, "")

    def set(self, text: str, step: int | None = None, log: bool = True) -> None:
        """Show ``text`` (and ``step`` steps done); without a terminal, print it unless ``log`` is False."""
        if text == self.text and step is None:
            return
        self.text = text
        fields: dict[str, Any] = {"detail": text}
        if step is not None:
            fields["completed"] = step
        self.display.progress.update(self.task, **fields)
        if log:
            self.display._log(self.label, text)


class OtaTransfers:
    """``gw.ota.push`` callbacks drawing one transfer per device (``ota.server.ProgressSample``s)."""

    def __init__(self, display: ProgressDisplay, labels: dict[str, str], waiting: list[str]) -> None:
        self.display = display
        self.labels = labels
        self.tasks: dict[str, TransferTask] = {}
        self.start, self.simulated = _clock()
        self.waiting = {eui64: display.status(labels.get(eui64, eui64)) for eui64 in waiting}
        for status in self.waiting.values():
            display._log(status.label, "waiting for the device to ask for the image "
                                       "(a sleepy device asks when it next polls)")
        self._ticker: asyncio.Task[None] | None = None
        if display.tty:  # the awaited devices' elapsed time ticks only where it is seen
            with contextlib.suppress(RuntimeError):
                self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="ota progress")
        self._show_waits()
        display.closers.append(self.close)

    def _show_waits(self) -> None:
        elapsed = format_duration(_clock()[0] - self.start)
        clock = " simulated" if self.simulated else ""
        for status in self.waiting.values():
            # a sleepy device asks (Query Next Image, then Image Block Request) only when it polls
            status.set(f"waiting for the device to ask for the image: {elapsed}{clock}", log=False)

    async def _tick(self) -> None:
        while self.waiting:
            self._show_waits()
            await asyncio.sleep(WAIT_TICK_S)

    def sample(self, sample: Any) -> None:
        task = self.tasks.get(sample.eui64)
        if task is None:
            status = self.waiting.pop(sample.eui64, None)
            if status is not None:
                self.display.progress.remove_task(status.task)
                clock = " simulated" if self.simulated else ""
                self.display._log(status.label, f"asked for the image after "
                                                f"{format_duration(_clock()[0] - self.start)}{clock}")
            label = self.labels.get(sample.eui64, sample.eui64)
            task = self.tasks[sample.eui64] = self.display.transfer(label, sample.size)
        task.update(sample.offset, sample.size, at=sample.time)

    def outcome(self, outcome: Any) -> None:
        status = self.waiting.pop(outcome.eui64, None)
        if status is not None:
            status.set(f"{outcome.phase.value} without a block transferred")
        task = self.tasks.get(outcome.eui64)
        if task is not None:
            task.finish(outcome.phase.value)
        if not self.waiting:
            self.close()

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()


@contextlib.contextmanager
def progress_display(stream: IO[str] | None = None, tty: bool | None = None) -> Iterator[ProgressDisplay]:
    """A :class:`ProgressDisplay` for the length of a ``with`` block."""
    display = ProgressDisplay(stream, tty)
    with display:
        yield display
