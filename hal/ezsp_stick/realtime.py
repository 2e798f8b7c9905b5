"""The event loop a virtual stick serves on in real time (``hanrig sim stick``, pty or TCP).

A real NCP's UART and radio keep time to microseconds; the virtual stick plays them with loop timers
(ASH clocks every frame at the baud rate, the simulated air holds each frame for its air time). asyncio's
default loop on Linux waits in ``epoll_wait``, whose timeout is whole milliseconds: ``selectors`` rounds
every wait *up* to the next millisecond, so each timer fires 0-1 ms late (0.5 ms on average), and an OTA
block, which crosses about ten such timers in the stick, took several milliseconds longer than the link
model says (measured through bellows at 460800 baud: the air part 21.6 ms per block instead of 15.9).
``select()`` takes its timeout in microseconds, so a loop on ``selectors.SelectSelector`` fires the
stick's timers when the model says. The stick watches a handful of descriptors (the pty or the TCP
socket, the loop's own wake-up pipe), so ``select``'s cost per descriptor and its descriptor-number limit
do not matter here; a host process with many connections keeps the default loop.

The stick counts how late its UART timers fire (``AshStats.timer_late_us``), so a benchmark can show that
the stick keeps the link model's time.
"""

from __future__ import annotations

import asyncio
import selectors


def new_stick_loop() -> asyncio.AbstractEventLoop:
    """A selector event loop whose timers keep microsecond time (see the module docstring)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())
