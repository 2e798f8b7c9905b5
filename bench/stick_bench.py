"""The ``stick`` section of ``bench/ota_throughput.py``: hanrig's OTA push through unmodified bellows on
the virtual EZSP stick, real time, the stick in a separate process (``hanrig sim stick``).

Per configuration (baud rate x XNCP on/off), the median of ``runs`` transfers of the bundled IHD image
(round after round, each configuration once a round, so a change of the machine's load falls on all alike):
B/s next to ``ota_limit.py``'s limit with 1 ms of host work (target 1: >= 0.85), the host process's CPU
per block between the first and the last block (hanrig + zigpy + bellows; target 2: <= 1 ms), and the
UART frames and bytes per block from the stick's own counters (``--stats``, read on SIGUSR1 at the first
and the last block), next to hanrig's link model for the same path; the stick process's own CPU per
block and how late its UART timers fire (what the loop adds to the link model). Per baud rate: why XNCP's
combined send is slower than the lean path, from the measured bytes and CPU; and ``runs`` floor runs where
a :class:`BareResponder` answers most blocks in place of hanrig's OTA server, so hanrig's part of the host
CPU is measured apart from bellows', zigpy's and asyncio's. The host CPU per block is taken apart: user and
system time, the loop thread against other threads, loop passes per block, and the CPU of the same open
session idle for ``IDLE_S`` before each push (bellows' watchdog and ASH timers, zigpy's and hanrig's
periodic tasks: CPU that grows with time, not blocks) spread over a block's wall time; at the end, per
path, ``cpu = a*blocks + b*seconds`` fitted over the runs at both baud rates. The target's figure stays the
total. Real-time figures depend on the machine's load (each line prints it). Run it through the main
script, from the checkout:

    nice -n -5 python bench/ota_throughput.py --only stick [--runs 3]
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import zigpy.types as zigpy_t
import zigpy.zcl.foundation as zcl_foundation
from bellows.ash import AshProtocol, DataFrame, parse_frame

import hal
from firmware_images import DIRECTORY as SAMPLES
from gateway.session import Gateway, RadioEndpoint
from hal import zigpy_fixes
from hal.radio import interview_complete
from ota import read_image
from ota.link_model import HostSend, host_link_block_bytes
from ota.server import (
    BLOCK_REQUEST,
    BLOCK_RESPONSE,
    CMD_IMAGE_BLOCK,
    CMD_IMAGE_BLOCK_RESPONSE,
    COORDINATOR_ENDPOINT,
    OTA_CLUSTER,
    PLAIN_BLOCK_REQUEST_CONTROL,
    RESPONSE_CONTROL_NO_DEFAULT,
)

IMAGE = SAMPLES / "TEST-ONLY-ihd-1234-0101-00010100.ota"
BLOCK = 64
HOST_US = 1000.0  # the host work ota_limit.py's table assumes per block
RIG = """\
[rig]
name = "stick-bench"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"
[devices.sim]
max_data_size = {block}
query_jitter_s = 0.2

[sim]
seed = 1
"""


def _read_stats(path: Path, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines[:count]]
        time.sleep(0.02)
    raise SystemExit(f"stick bench: the stick wrote {path} {len(lines)} time(s), expected {count}")


IDLE_S = 5.0  # the open session is measured this long with no push: the host's background CPU


class LoopPasses:
    """Counts the event loop's passes (one selector poll each, ``asyncio``'s ``_selector`` wrapped for the
    duration): how often the host process wakes, idle or per block."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self._selector = loop._selector  # type: ignore[attr-defined]  # a selector event loop's own
        self._select = self._selector.select

    def __enter__(self) -> LoopPasses:
        def select(timeout: float | None = None) -> Any:
            self.count += 1
            return self._select(timeout)

        self._selector.select = select
        return self

    def __exit__(self, *exc: object) -> None:
        del self._selector.select  # the instance attribute goes; the class's method shows again


async def background(passes: LoopPasses, seconds: float) -> dict[str, float]:
    """The open session with nothing to do for ``seconds``: process CPU (all threads) in ms per second
    and loop passes per second. It is what the host spends for time rather than for blocks (bellows'
    watchdog and ASH timers, zigpy's and hanrig's periodic tasks)."""
    cpu, wall, count = time.process_time(), time.monotonic(), passes.count
    await asyncio.sleep(seconds)
    wall = time.monotonic() - wall
    return {"idle_cpu_ms_s": (time.process_time() - cpu) / wall * 1000,
            "idle_passes_s": (passes.count - count) / wall}


WAKE_SAMPLES = 150  # samples of the fixed slice of host work per idle gap


def _host_work_slice() -> None:
    """A fixed slice of what the host does per block, in the libraries' own code: bellows' ASH framing
    of a block response both ways (stuffing, randomising, CRC, parsing), zigpy's ZCL header parse and the
    OTA server's block request/response codecs."""
    request = BLOCK_REQUEST.pack(PLAIN_BLOCK_REQUEST_CONTROL, 7, CMD_IMAGE_BLOCK, 0, 0x1234, 0, 0x10100, 640,
                                 BLOCK)
    response = BLOCK_RESPONSE.pack(RESPONSE_CONTROL_NO_DEFAULT, 7, CMD_IMAGE_BLOCK_RESPONSE, 0, 0x1234, 0,
                                   0x10100, 640, BLOCK) + bytes(range(BLOCK))
    for _ in range(2):
        wire = AshProtocol._stuff_bytes(DataFrame(frm_num=1, re_tx=False, ack_num=2,
                                                  ezsp_frame=response + request).to_bytes())
        parse_frame(bytes(AshProtocol._unstuff_bytes(wire)))
        zcl_foundation.ZCLHeader.deserialize(request)
        BLOCK_REQUEST.unpack_values(request)


def wake_cost(gaps_ms: tuple[float, ...]) -> dict[float, tuple[float, float]]:
    """Per gap, the median CPU (this thread) of :func:`_host_work_slice` run after sleeping that long (0:
    back to back), and of the sleep itself (the kernel's part of going to sleep and waking up). The host
    pays its per-block CPU in a few wake-ups after idle gaps, and on this machine both cost more the
    longer the process slept (caches and the CPU's state go cold): CPU that grows with the time a block
    takes, without a single extra timer."""
    for _ in range(50):
        _host_work_slice()
    costs: dict[float, tuple[float, float]] = {}
    for gap in gaps_ms:
        work, sleep = [], []
        for _ in range(WAKE_SAMPLES):
            start = time.thread_time()
            if gap:
                time.sleep(gap / 1000)
            woken = time.thread_time()
            _host_work_slice()
            work.append(time.thread_time() - woken)
            sleep.append(woken - start)
        costs[gap] = statistics.median(work) * 1e6, statistics.median(sleep) * 1e6
    return costs


FLOOR_BLOCKS = range(20, 400)  # the blocks the bare responder answers in a floor run


class BareResponder:
    """bellows + zigpy with hanrig's OTA server taken out: the least any host does per block.

    Ahead of the OTA server (a ``first`` claim), it answers the plain Image Block Requests for
    :data:`FLOOR_BLOCKS` from the image bytes: the request unpacked and the response packed with the OTA
    server's own codecs, one ``ZigbeePacket``, one task for ``app.send_packet``; no lanes, pacing,
    records or progress. The OTA server serves the rest of the push (so it completes as usual), and the
    host's CPU per block across these blocks is bellows', zigpy's and asyncio's, with hanrig's part
    removed."""

    def __init__(self, app: Any, data: bytes) -> None:
        self.app = app
        self.data = data
        self.marks: list[float] = []  # process CPU time at each block answered
        self._tasks: set[asyncio.Task[Any]] = set()

    def claim(self, packet: zigpy_t.ZigbeePacket) -> bool:
        data = packet.data.serialize()
        if packet.cluster_id != OTA_CLUSTER or len(data) != BLOCK_REQUEST.size or \
                data[0] != PLAIN_BLOCK_REQUEST_CONTROL or data[2] != CMD_IMAGE_BLOCK:
            return False
        _fc, tsn, _cmd, _ctl, mfr, kind, version, offset, max_size = BLOCK_REQUEST.unpack_values(data)
        if offset // BLOCK not in FLOOR_BLOCKS or offset % BLOCK:
            return False
        self.marks.append(time.process_time())
        size = min(max_size, len(self.data) - offset)
        frame = BLOCK_RESPONSE.pack(RESPONSE_CONTROL_NO_DEFAULT, tsn, CMD_IMAGE_BLOCK_RESPONSE, 0, mfr, kind,
                                    version, offset, size) + self.data[offset:offset + size]
        reply = zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000),
            src_ep=COORDINATOR_ENDPOINT, dst=packet.src, dst_ep=packet.src_ep, tsn=tsn,
            profile_id=packet.profile_id, cluster_id=OTA_CLUSTER, data=zigpy_t.SerializableBytes(frame),
            tx_options=zigpy_t.TransmitOptions.ACK)
        task = asyncio.get_running_loop().create_task(self.app.send_packet(reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def cpu_us_per_block(self) -> float:
        return (self.marks[-1] - self.marks[0]) / (len(self.marks) - 1) * 1e6


def _per_block(first: dict[str, int], last: dict[str, int], blocks: int) -> dict[str, float]:
    return {k: (last.get(k, 0) - first.get(k, 0)) / blocks for k in set(first) | set(last)
            if last.get(k, 0) - first.get(k, 0)}


async def one_push(baudrate: int, xncp: bool, workdir: Path, *, floor: bool = False) -> dict[str, Any]:
    """Start the stick process, push the image through it with hanrig's Gateway, and measure; with
    ``floor``, a :class:`BareResponder` answers most blocks instead (the host CPU floor)."""
    rig = workdir / "stick.toml"
    rig.write_text(RIG.format(block=BLOCK), encoding="utf-8")
    stats = workdir / "stats.jsonl"
    stats.unlink(missing_ok=True)
    command = [sys.executable, "-c", "from gateway.cli import main; main()", "sim", "stick",
               "--rig", str(rig), "--baudrate", str(baudrate), "--stats", str(stats),
               "--xncp" if xncp else "--no-xncp"]
    stick = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert stick.stdout is not None
        path = (await asyncio.to_thread(stick.stdout.readline)).strip()
        if not path.startswith("/dev/"):
            raise SystemExit(f"stick bench: the stick did not start (got {path!r})")
        # at each block served: process CPU, main thread CPU, wall time, loop passes, rusage
        marks: list[tuple[float, float, float, int, resource.struct_rusage]] = []
        passes: LoopPasses

        def on_block(_: Any) -> None:
            marks.append((time.process_time(), time.thread_time(), time.monotonic(), passes.count,
                          resource.getrusage(resource.RUSAGE_SELF)))
            if len(marks) == 1:
                stick.send_signal(signal.SIGUSR1)

        endpoint = RadioEndpoint("stick", f"ezsp:{path}?baudrate={baudrate}",
                                 hal.RadioConfig(data_dir=workdir / "zigpy"))
        async with Gateway.open([endpoint]) as gw:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            app = gw.apps["stick"]
            while not (gw.devices(role="IHD") and interview_complete(gw.devices(role="IHD")[0].zigpy_device)
                       and app.backups.backups):
                if loop.time() > deadline:
                    raise SystemExit(f"stick bench at {baudrate} baud: the IHD was not ready within 90 s")
                await asyncio.sleep(0.1)
            image = read_image(IMAGE.read_bytes(), name=IMAGE.name)
            bare = BareResponder(app, bytes(image.data)) if floor else None
            unclaim = zigpy_fixes.claim_packets(app, bare.claim, first=True) if bare is not None else None
            with LoopPasses(loop) as passes:
                idle = await background(passes, IDLE_S)
                report = await gw.ota.push(gw.devices(role="IHD"), image=image, on_progress=on_block,
                                           activation="hold")
            stick.send_signal(signal.SIGUSR1)
            if unclaim is not None:
                unclaim()
            (outcome,) = report.outcomes
            if not outcome.ok:
                raise SystemExit(f"stick bench at {baudrate} baud: push failed: {outcome.reason}")
            features = str(getattr(app._ezsp, "_xncp_features", "?"))  # what bellows negotiated
    finally:
        stick.send_signal(signal.SIGTERM)
        try:
            stick.wait(10)
        except subprocess.TimeoutExpired:
            stick.kill()
    first, last = _read_stats(stats, 2)
    blocks = len(marks) - 1
    timers = last["uart_timers"] - first["uart_timers"]
    (cpu0, main0, wall0, passes0, usage0), (cpu1, main1, wall1, passes1, usage1) = marks[0], marks[-1]
    wall_ms = (wall1 - wall0) / blocks * 1000
    return {
        "bps": outcome.mean_bps, "blocks": blocks, "features": features,
        "floor_cpu_us": bare.cpu_us_per_block() if bare is not None else None,
        "cpu_us": (cpu1 - cpu0) / blocks * 1e6,
        "main_cpu_us": (main1 - main0) / blocks * 1e6,
        "user_us": (usage1.ru_utime - usage0.ru_utime) / blocks * 1e6,
        "sys_us": (usage1.ru_stime - usage0.ru_stime) / blocks * 1e6,
        "switches": (usage1.ru_nvcsw + usage1.ru_nivcsw - usage0.ru_nvcsw - usage0.ru_nivcsw) / blocks,
        "wall_ms": wall_ms, "passes": (passes1 - passes0) / blocks,
        "background_us": idle["idle_cpu_ms_s"] * wall_ms, **idle,
        "stick_cpu_us": (last["process_cpu_s"] - first["process_cpu_s"]) / blocks * 1e6,
        "uart_late_us": (last["uart_late_us"] - first["uart_late_us"]) / max(timers, 1),
        "frames_to_ncp": _per_block(first["frames_to_ncp"], last["frames_to_ncp"], blocks),
        "frames_to_host": _per_block(first["frames_to_host"], last["frames_to_host"], blocks),
        "bytes_to_ncp": _per_block(first["bytes_to_ncp"], last["bytes_to_ncp"], blocks),
        "bytes_to_host": _per_block(first["bytes_to_host"], last["bytes_to_host"], blocks),
    }


SPLIT_KEYS = ("cpu_us", "main_cpu_us", "user_us", "sys_us", "switches", "wall_ms", "passes", "background_us",
              "idle_cpu_ms_s", "idle_passes_s")


def _print_split(median: dict[str, float]) -> None:
    """The host's CPU per block taken apart: user/system, the loop thread against zigpy's database and
    ``to_thread`` workers, and what the idle session spends per second over a block's wall time."""
    work = median["cpu_us"] - median["background_us"]
    print(f"      host CPU per block {median['cpu_us'] / 1000:.3f} ms = user "
          f"{median['user_us'] / 1000:.3f} + system {median['sys_us'] / 1000:.3f} ms; the loop thread "
          f"{median['main_cpu_us'] / 1000:.3f} ms, "
          f"other threads {max(0.0, median['cpu_us'] - median['main_cpu_us']) / 1000:.3f} ms; "
          f"{median['passes']:.1f} loop passes and {median['switches']:.1f} context switches per block")
    print(f"      background: the open session with no push costs {median['idle_cpu_ms_s']:.2f} ms CPU per s "
          f"({median['idle_passes_s']:.1f} loop passes per s, {IDLE_S:.0f} s before each push); over a "
          f"block's {median['wall_ms']:.1f} ms of wall time that is {median['background_us'] / 1000:.3f} ms, "
          f"so the per-block work is {work / 1000:.3f} ms (total minus that background)")


def _print_fit(label: str, results: list[dict[str, Any]]) -> None:
    """``cpu = a * blocks + b * seconds`` by least squares over every run of one path at both baud rates
    (their block times differ): ``a`` is the CPU a block costs, ``b`` the CPU a second of push costs
    whatever the blocks, with its standard error (the runs' spread). ``b`` is set beside the idle
    session's CPU per second, which is the part of it that timers account for."""
    walls, cpus = [r["wall_ms"] for r in results], [r["cpu_us"] for r in results]
    if len({round(wall) for wall in walls}) < 2:
        return
    slope, intercept = statistics.linear_regression(walls, cpus)
    spread = ""
    if len(results) > 2:
        residual = sum((cpu - intercept - slope * wall) ** 2 for wall, cpu in zip(walls, cpus))
        mean_wall = statistics.fmean(walls)
        error = (residual / (len(results) - 2) / sum((wall - mean_wall) ** 2 for wall in walls)) ** 0.5
        spread = f" +- {error:.1f}"
    idle = statistics.median(r["idle_cpu_ms_s"] for r in results)
    print(f"  host CPU {label}, fitted over {len(results)} runs at both baud rates: cpu = a*blocks + "
          f"b*seconds with a = {intercept / 1000:.3f} ms per block, b = {slope:.1f}{spread} ms per s of "
          f"push; the idle session's timers account for {idle:.2f} ms per s")


def _print_wake_cost(lean: dict[str, float], load_average: Callable[[], str]) -> None:
    """What the idle gaps of a push cost: :func:`wake_cost` back to back, after the mean gap between the
    host's loop passes, and after a whole block's wall time."""
    between = lean["wall_ms"] / lean["passes"]
    costs = wake_cost((0.0, between, lean["wall_ms"]))
    (warm, _), (mean_gap, mean_sleep), (block_gap, block_sleep) = costs.values()
    print(f"      wake-up cost: a fixed slice of host work (bellows' ASH framing, zigpy's ZCL header, the "
          f"OTA codecs) costs {warm:.0f} us back to back, {mean_gap:.0f} us after {between:.1f} ms asleep "
          f"(the mean gap between loop passes here) and {block_gap:.0f} us after {lean['wall_ms']:.1f} ms (a "
          f"block): x{mean_gap / warm:.2f} and x{block_gap / warm:.2f}; a bare sleep and wake-up costs "
          f"{mean_sleep:.0f} and {block_sleep:.0f} us of CPU, and the host blocks {lean['switches']:.1f} "
          f"times per block (context switches); {load_average()}")


BAUDRATES = (115200, 460800)


def _run(baudrate: int, xncp: bool, *, floor: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hanrig-stick-bench-") as tmp:
        result = asyncio.run(one_push(baudrate, xncp, Path(tmp), floor=floor))
    result["load"] = os.getloadavg()[0]
    return result


def _loads(results: list[dict[str, Any]]) -> str:
    low, high = min(r["load"] for r in results), max(r["load"] for r in results)
    return f"1-min load {low:.2f}" if high - low < 0.005 else f"1-min load {low:.2f}-{high:.2f}"


def section_stick(ref: ModuleType, verdicts: Any, ref_cycle_us: Any, load_average: Callable[[], str], *,
                  runs: int = 3) -> None:
    print(f"\n== stick: through unmodified bellows on the virtual EZSP stick (separate process), real time, "
          f"median of {runs} ==")
    configs = [(baudrate, xncp) for baudrate in BAUDRATES for xncp in (True, False)]
    pushes: dict[tuple[int, bool], list[dict[str, Any]]] = {config: [] for config in configs}
    floors: dict[int, list[dict[str, Any]]] = {baudrate: [] for baudrate in BAUDRATES}
    for _ in range(runs):  # round after round, so a change of the machine's load falls on every case alike
        for baudrate, xncp in configs:
            pushes[(baudrate, xncp)].append(_run(baudrate, xncp))
        for baudrate in BAUDRATES:
            floors[baudrate].append(_run(baudrate, False, floor=True))
    print(f"  {runs} round(s) of {len(configs)} pushes and {len(BAUDRATES)} floor runs, interleaved; "
          f"{load_average()} at the end")
    for baudrate in BAUDRATES:
        limit = BLOCK / ref_cycle_us(ref, BLOCK, baud=baudrate, host_us=HOST_US) * 1e6
        medians: dict[bool, dict[str, float]] = {}
        for xncp in (True, False):
            results = pushes[(baudrate, xncp)]
            median = {key: statistics.median(r[key] for r in results)
                      for key in ("bps", "stick_cpu_us", "uart_late_us", *SPLIT_KEYS)}
            median_bps, median_cpu = median["bps"], median["cpu_us"]
            run = min(results, key=lambda r: abs(r["bps"] - median_bps))
            median["bytes_to_ncp"] = sum(run["bytes_to_ncp"].values())
            median["bytes_to_host"] = sum(run["bytes_to_host"].values())
            medians[xncp] = median
            path = HostSend.XNCP if xncp else HostSend.LEAN
            model_ncp, model_host = host_link_block_bytes(BLOCK, host_send=path)
            label = "with XNCP" if xncp else "without XNCP"
            each = ", ".join(f"{r['bps']:.0f}" for r in results)
            each_cpu = ", ".join(f"{r['cpu_us'] / 1000:.2f}" for r in results)
            to_host = ", ".join(f"{k} {v:.2f}" for k, v in sorted(run["frames_to_host"].items()))
            print(f"  {baudrate:>6} baud {label:<13}: {median_bps:6.0f} B/s (runs "
                  f"{each}), ota_limit.py (host 1 ms) {limit:5.0f} B/s, "
                  f"ratio {median_bps / limit:.2f}; host CPU {median_cpu / 1000:.2f} ms/block (runs "
                  f"{each_cpu}); bellows' XNCP features: {run['features']}; {_loads(results)}")
            _print_split(median)
            commands = {k: v for k, v in run["frames_to_ncp"].items() if k != "ACK"}
            print(f"      per block: commands (round trips) {sum(commands.values()):.2f} "
                  f"({', '.join(f'{k} {v:.2f}' for k, v in sorted(commands.items()))}); UART bytes to NCP "
                  f"{median['bytes_to_ncp']:.0f} (model {sum(model_ncp.values()):.0f}), to host "
                  f"{median['bytes_to_host']:.0f} (model {sum(model_host.values()):.0f}); "
                  f"frames to host {to_host}")
            print(f"      the stick process: CPU {median['stick_cpu_us'] / 1000:.2f} ms/block; its UART "
                  f"timers fire {median['uart_late_us']:.0f} us after the baud rate's schedule on average")
            verdicts.add(1, median_bps / limit >= 0.85,
                         f"{baudrate} baud {label}: {median_bps:.0f} B/s = {median_bps / limit:.2f} of "
                         f"ota_limit.py's {limit:.0f} B/s (target >= 0.85; median of {runs}, "
                         f"{_loads(results)})")
            verdicts.add(2, median_cpu <= 1000,
                         f"{baudrate} baud {label}: host CPU {median_cpu / 1000:.2f} ms per block "
                         f"(hanrig + zigpy + bellows, stick in another process; target <= 1 ms; of it "
                         f"{median['background_us'] / 1000:.3f} ms is the idle session's background over "
                         f"the block's {median['wall_ms']:.1f} ms; median of {runs}, {_loads(results)})")
        _explain_xncp(baudrate, medians[True], medians[False])
        _print_wake_cost(medians[False], load_average)
        floor, ours = statistics.median(f["floor_cpu_us"] for f in floors[baudrate]), medians[False]["cpu_us"]
        each = ", ".join(f"{f['floor_cpu_us'] / 1000:.2f}" for f in floors[baudrate])
        print(f"      host CPU floor at {baudrate} without XNCP: {floor / 1000:.2f} ms/block with hanrig's "
              f"OTA server taken out (bench BareResponder: bellows + zigpy + asyncio; runs {each}) against "
              f"{ours / 1000:.2f} ms with it: hanrig's part {(ours - floor) / 1000:+.2f} ms; "
              f"{_loads(floors[baudrate])}")
    for xncp in (True, False):
        _print_fit("with XNCP" if xncp else "without XNCP",
                   [r for baudrate in BAUDRATES for r in pushes[(baudrate, xncp)]])


def _explain_xncp(baudrate: int, xncp: dict[str, float], lean: dict[str, float]) -> None:
    """Why XNCP's combined send is slower per block than hanrig's lean sendUnicast, in measured numbers:
    its request is longer on the UART (the critical path carries it), and both ends parse more."""
    extra_bytes = xncp["bytes_to_ncp"] - lean["bytes_to_ncp"]
    uart_ms = extra_bytes * 10 / baudrate * 1000
    cycle_ms = (BLOCK / xncp["bps"] - BLOCK / lean["bps"]) * 1000
    host_ms = (xncp["cpu_us"] - lean["cpu_us"]) / 1000
    stick_ms = (xncp["stick_cpu_us"] - lean["stick_cpu_us"]) / 1000
    print(f"      XNCP vs lean at {baudrate}: block cycle {cycle_ms:+.2f} ms. Its request is "
          f"{extra_bytes:+.0f} UART bytes to the NCP (customFrame's length octet, the XNCP command id and "
          f"status, flags, and the EUI-64 and extended-timeout flag bellows puts in every combined send): "
          f"{uart_ms:+.2f} ms on the critical path; host CPU {host_ms:+.2f} ms, stick CPU {stick_ms:+.2f} ms "
          f"per block. The combined send saves nothing here: fix 8 already skips getExtendedTimeout")
