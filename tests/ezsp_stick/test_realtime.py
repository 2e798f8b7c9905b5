"""The virtual stick's real-time loop (hal/ezsp_stick/realtime.py): its waits keep sub-millisecond time."""

from __future__ import annotations

import selectors

from hal.ezsp_stick.realtime import new_stick_loop


def _kernel_timeouts(loop) -> list[float]:
    """The timeouts the loop's selector hands the kernel (after the selector's own rounding)."""
    selector = loop._selector
    seen: list[float] = []
    if isinstance(selector, selectors.SelectSelector):
        select = selector._select

        def recording(r, w, x, timeout=None):
            seen.append(timeout)
            return select(r, w, x, timeout)

        selector._select = recording
    else:  # epoll (the default loop): the timeout selectors passes to epoll_wait, rounded up to whole ms
        poll = selector._selector

        class Recording:
            def __getattr__(self, name):
                return getattr(poll, name)

            def poll(self, timeout=None, *args):
                seen.append(timeout)
                return poll.poll(timeout, *args)

        selector._selector = Recording()
    return seen


def test_a_300_microsecond_timer_is_waited_for_300_microseconds_not_a_millisecond() -> None:
    loop = new_stick_loop()
    try:
        seen = _kernel_timeouts(loop)
        fired = loop.create_future()
        loop.call_later(0.0003, fired.set_result, True)
        assert loop.run_until_complete(fired)
    finally:
        loop.close()
    waits = [timeout for timeout in seen if timeout]
    # the default loop asks epoll for 1 ms (whole milliseconds, rounded up): the UART timer 0.7 ms late
    assert waits and max(waits) < 0.0005, waits
