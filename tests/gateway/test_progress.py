"""The one progress display (gateway.progress, on rich): transfers show bytes, %, B/s and ETA on the radio's
clock and, on simulated time, the wall-clock rate too; waits say what they wait for and for how long."""

from __future__ import annotations

import asyncio
import io

import pytest

from gateway.progress import ProgressDisplay, format_duration

pytestmark = pytest.mark.looptime


async def test_a_transfer_on_simulated_time_shows_both_rates_and_the_eta() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=False)
    task = display.transfer("IHD 00:0d:6f:00:0a:bc:00:03", 10_000)
    for offset in range(0, 10_001, 1000):
        task.update(offset)
        await asyncio.sleep(0.5)  # 2000 B/s on the simulated clock
    task.finish("activated")
    display.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # without a terminal: 25, 50, 75 and 100 %
    assert lines[0].startswith("IHD 00:0d:6f:00:0a:bc:00:03  3000/10000 B   30.0%  2000 B/s simulated (")
    assert "B/s wall)  ETA 4 s simulated" in lines[0]
    assert "10000/10000 B  100.0%" in lines[-1] and "ETA 0 s simulated" in lines[-1]


async def test_a_wait_says_what_it_waits_for_and_how_long() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=False)
    with display.waiting("the GSME's next push", 3600):
        await asyncio.sleep(95)
    display.close()
    assert stream.getvalue().splitlines() == [
        "waiting for the GSME's next push  up to 60 min 00 s simulated",
        "waiting for the GSME's next push  done after 95 s simulated",
    ]


def test_on_a_terminal_the_lines_are_redrawn_with_the_rate_in_wall_time() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, tty=True) as display:
        task = display.transfer("PPMID", 2048)
        task.update(0)
        task.update(1024)
    drawn = stream.getvalue()
    assert "\x1b[" in drawn and "1024/2048 B" in drawn and "50.0%" in drawn and "ETA" in drawn
    assert "simulated" not in drawn  # no event loop: the wall clock is the only clock


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (0, 59.6, 119, 120, 3600, 7201, 9000)] == [
        "0 s", "60 s", "119 s", "2 min 00 s", "60 min 00 s", "2 h 00 min", "2 h 30 min"]


async def test_an_ota_transfer_first_says_it_waits_for_the_device_to_ask() -> None:
    from types import SimpleNamespace

    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=False)
    eui = "00:0d:6f:00:0a:bc:00:02"
    bars = display.ota_transfers({eui: "GSME " + eui}, [eui])
    await asyncio.sleep(7.5)  # the GSME polls, then asks
    loop = asyncio.get_running_loop()
    for offset in (0, 64, 128):
        bars.sample(SimpleNamespace(eui64=eui, time=loop.time(), offset=offset, size=128))
        await asyncio.sleep(0.1)
    bars.outcome(SimpleNamespace(eui64=eui, phase=SimpleNamespace(value="activated")))
    display.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == (f"GSME {eui}  waiting for the device to ask for the image "
                        "(a sleepy device asks when it next polls)")
    assert lines[1] == f"GSME {eui}  asked for the image after 8 s simulated"
    assert lines[-1].startswith(f"GSME {eui}  128/128 B  100.0%")


async def test_without_a_terminal_nothing_ticks_for_lines_nobody_sees() -> None:
    """A wait's elapsed time and an awaited device's line tick every second on a terminal only: without
    one they are never shown, and a ticker would wake the host's loop every second for nobody."""
    def tickers() -> list[str]:
        return [task.get_name() for task in asyncio.all_tasks() if task is not asyncio.current_task()]

    for tty, expected in ((False, []), (True, ["ota progress", "progress: the GSME's next push"])):
        display = ProgressDisplay(io.StringIO(), tty=tty)
        display.ota_transfers({"00:0d:6f:00:0a:bc:00:02": "GSME"}, ["00:0d:6f:00:0a:bc:00:02"])
        with display.waiting("the GSME's next push", 3600):
            await asyncio.sleep(5)
            assert sorted(tickers()) == expected
        display.close()


def test_without_a_terminal_lines_are_written_as_they_are():
    """A log line is the text itself: ":smile:" or a time like "at 00:11:45Z" is not an emoji code to
    render; only a line with a tab or a control code goes through rich (tabs expanded, codes dropped)."""
    stream = io.StringIO()
    display = ProgressDisplay(stream=stream, tty=False)
    status = display.status("esme")
    status.set("cs06: activating at 00:11:45Z :smile:")
    status.set("a\ttab")
    # the tab goes to the next tab stop (column 8)
    assert stream.getvalue().splitlines() == ["esme  cs06: activating at 00:11:45Z :smile:", "esme  a tab"]
