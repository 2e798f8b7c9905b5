#!/usr/bin/env python3
"""OTA throughput of hanrig's server on the simulated HAN, each figure next to its modelled limit.

1. one device, one hop, 64-byte blocks, NWK security, APS ACKs: B/s on simulated time vs the limit;
2. the same device type updated by zigpy's own ``Device.update_firmware`` in the same run;
3. 20 devices on one channel: aggregate B/s vs the channel's capacity;
4. 4 radios on 4 channels with 10 devices each: aggregate vs 4x one radio;
5. host cost: blocks served per second of host CPU on a zero-latency simulator, vs zigpy's per-request
   cost (``bench/sim_overhead.py``);
6. memory: a campaign to 200 simulated devices (in a child process, so the peak RSS is its own);
7. the single-device transfer of 1. through the virtual EZSP stick (unmodified bellows on a pty, real
   time) at 115200 and 460800 baud, next to the shared model's and the corrected host-link model's
   prediction, with the UART bytes per block counted by the stick's own ASH layer.

Limits come from the simulator's own timing model (``ota/link_model.py``), so figures and limits share
one model. Throughput is the image size over the time from a device's first block to its Upgrade End.

    python bench/ota_throughput.py [--quick] [--only N] [--stick-only]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import zigpy.types as zigpy_t
from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import parse_ota_image
from zigpy.ota.providers import BaseOtaImageMetadata
from zigpy.zcl import foundation

import hal
from firmware_images import DIRECTORY as SAMPLES
from gateway.session import Gateway, RadioEndpoint
from hal.roles import Role
from hal.sim.config import DeviceSimParams, DeviceSpec, SimConfig, SimSettings
from ota.link_model import LinkModel

IMAGE = SAMPLES / "TEST-ONLY-ihd-1234-0101-00010100.ota"
NEW_VERSION = 0x00010100
BLOCK = 64
HERE = Path(__file__).resolve().parent


def ihd_bench(count: int, *, radio: int = 0, settings: SimSettings | None = None, jitter_s: float = 5.0,
              ) -> SimConfig:
    """``count`` IHDs (64-byte blocks, default timing) with distinct EUI-64s per radio."""
    devices = tuple(
        DeviceSpec(id=f"ihd{n}", role=Role.IHD,
                   eui64=zigpy_t.EUI64.convert(f"00:0d:6f:00:0b:{radio:02x}:{n >> 8:02x}:{n & 0xFF:02x}"),
                   sim=DeviceSimParams(max_data_size=BLOCK, query_jitter_s=jitter_s))
        for n in range(1, count + 1))
    return SimConfig(settings=settings or SimSettings(), devices=devices, source="<bench>")


def endpoints(configs: list[SimConfig]) -> list[RadioEndpoint]:
    return [RadioEndpoint(f"radio{i}", "sim://", hal.RadioConfig(sim=c, channel=11 + 5 * i))
            for i, c in enumerate(configs)]


def aggregate(outcomes: list[Any]) -> tuple[float, float]:
    """Bytes delivered after each device's first block, over the span from the first of those to the end."""
    start = min(o.samples[0][0] for o in outcomes)
    end = max(o.samples[-1][0] for o in outcomes)
    total = sum(o.samples[-1][1] - o.samples[0][1] for o in outcomes)
    return total / (end - start), end - start


async def hanrig_push(configs: list[SimConfig]) -> tuple[list[Any], Any]:
    async with Gateway.open(endpoints(configs)) as gw:
        report = await gw.ota.push()
        bad = [o for o in report.outcomes if not o.ok]
        if bad:
            raise SystemExit(f"push failed: {bad[0].device_id}: {bad[0].reason}")
        servers = [gw.ota.server(radio_id) for radio_id in gw.apps]
        return report.outcomes, servers


async def zigpy_push() -> float:
    """zigpy's Device.update_firmware on one IHD; B/s from its first to its last progress callback."""
    async with hal.open_radio("sim://", hal.RadioConfig(sim=ihd_bench(1))) as app:
        loop = asyncio.get_running_loop()
        device = app.get_device(ieee=next(iter(app.han.devices)))
        firmware, _ = parse_ota_image(IMAGE.read_bytes())
        image = OtaImageWithMetadata(metadata=BaseOtaImageMetadata(
            file_version=NEW_VERSION, manufacturer_id=0x1234, image_type=0x0101), firmware=firmware)
        marks: list[tuple[float, int]] = []
        result = await device.update_firmware(image, lambda done, *_: marks.append((loop.time(), done)))
        updated = app.han.device("ihd1").ota.current_file_version == NEW_VERSION
        if result != foundation.Status.SUCCESS or not updated:
            raise SystemExit(f"zigpy update_firmware failed: {result!r}")
        return (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])  # as hanrig's: block 1 to end


def line(label: str, value: float, limit: float, unit: str, target: float, target_text: str) -> str:
    ratio = value / limit if limit else float("nan")
    verdict = "met" if ratio >= target else "MISSED"
    return (f"{label:<58} {value:9.0f} {unit:<6} limit {limit:9.0f} {unit:<6} ratio {ratio:5.2f} "
            f"(target {target_text}: {verdict})")


def load_sim_overhead() -> Any:
    spec = importlib.util.spec_from_file_location("sim_overhead", HERE / "sim_overhead.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def host_cost(devices: int) -> dict[str, float]:
    config = ihd_bench(devices, settings=SimSettings(air_model=False), jitter_s=0.0)
    cpu0 = time.process_time()
    outcomes, servers = await hanrig_push([config])
    cpu = time.process_time() - cpu0
    server = servers[0]
    blocks = server.blocks_served
    return {"blocks": blocks, "server_s": server.host_seconds, "send_s": server.send_seconds,
            "process_s": cpu, "bytes": sum(o.image_size for o in outcomes)}


async def memory_campaign(devices: int) -> dict[str, Any]:
    config = ihd_bench(devices, settings=SimSettings(air_model=False), jitter_s=1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes, servers = await hanrig_push([config])
    lanes = servers[0].lanes()
    buffers = {id(lane.offer.image.data.obj) for lane in lanes if lane.offer is not None}
    return {"devices": len(outcomes), "ok": all(o.ok for o in outcomes), "rss_before_kb": before,
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "image_buffers_held": len(buffers) if buffers else 1}


STICK_BAUDS = (115200, 460800)
STICK_HOST_US = 1000.0  # host work per block in the predictions: the shared model's 1 ms


async def stick_push(baudrate: int, data_dir: Path) -> dict[str, Any]:
    """Line 1's transfer through the virtual stick: hanrig's Gateway on ``ezsp:/dev/pts/N`` (bellows), the
    stick's UART paced at ``baudrate``, real time. Returns B/s, the UART bytes per block per frame label
    (counted by the stick's ASH layer between the first and the last block) and the CPU per block."""
    from hal.ezsp_stick.pty import VirtualStick
    from hal.radio import interview_complete
    from hal.sim.han import VirtualHan
    from ota import read_image

    han = VirtualHan(ihd_bench(1, jitter_s=0.2))
    stick = VirtualStick(han, baudrate=baudrate, power_up_han=True)
    path = await stick.start()
    marks: list[tuple[Counter[str], Counter[str], float]] = []

    def snapshot(_: Any) -> None:  # one per block served
        stats = stick.ash.stats
        marks.append((Counter(stats.wire_in), Counter(stats.wire_out), time.process_time()))

    try:
        url = f"ezsp:{path}?baudrate={baudrate}"
        async with Gateway.open([RadioEndpoint("stick", url, hal.RadioConfig(data_dir=data_dir))]) as gw:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60

            def ready() -> bool:
                ihds = gw.devices(role="IHD")
                # zigpy's start-up backup reads 256 child-table entries over the UART: let it finish first
                backed_up = bool(gw.apps["stick"].backups.backups)
                return bool(ihds and interview_complete(ihds[0].zigpy_device) and backed_up)

            while not ready():
                if loop.time() > deadline:
                    raise SystemExit(f"stick at {baudrate} baud: the IHD was not interviewed within 60 s")
                await asyncio.sleep(0.1)
            image = read_image(IMAGE.read_bytes(), name=IMAGE.name)
            report = await gw.ota.push(gw.devices(role="IHD"), image=image, on_progress=snapshot)
            (outcome,) = report.outcomes
            if not outcome.ok:
                raise SystemExit(f"stick at {baudrate} baud: push failed: {outcome.reason}")
    finally:
        await han.stop()
        await stick.stop()
    blocks = len(marks) - 1  # the exchanges between the first and the last block served
    (in0, out0, cpu0), (in1, out1, cpu1) = marks[0], marks[-1]
    return {"bps": outcome.mean_bps, "blocks": blocks, "version": stick.ncp.version,
            "to_ncp": {k: v / blocks for k, v in (in1 - in0).items()},
            "to_host": {k: v / blocks for k, v in (out1 - out0).items()},
            "cpu_us": (cpu1 - cpu0) / blocks * 1e6}


def stick_lines() -> None:
    """Line 7: the transfer through the virtual stick at each rate, next to both models' predictions."""
    import tempfile

    from ota.link_model import host_link_block_bytes, shared_uart_block_bytes

    for baud in STICK_BAUDS:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hanrig-bench-") as tmp:
            run = asyncio.run(stick_push(baud, Path(tmp)))
        wall = time.perf_counter() - started
        model = LinkModel(host_link_baudrate=baud, ezsp_version=run["version"])
        measured = run["bps"]
        print(f"7. via the virtual stick (bellows, EZSPv{run['version']}) at {baud:>6} baud   "
              f"{measured:9.0f} B/s  [{run['blocks']} blocks, {wall:.1f} s wall]")
        for host_us, label in ((STICK_HOST_US, "host 1 ms"),
                               (run["cpu_us"], f"host = measured CPU {run['cpu_us'] / 1000:.1f} ms")):
            shared = model.shared_block_throughput_bps(BLOCK, host_us=host_us)
            honest = model.block_throughput_bps(BLOCK, host_us=host_us)
            print(f"   predicted ({label}): shared model {shared:5.0f} B/s (ratio {measured / shared:4.2f}),"
                  f" all UART frames {honest:5.0f} B/s (ratio {measured / honest:4.2f})")
        to_ncp, to_host = sum(run["to_ncp"].values()), sum(run["to_host"].values())
        model_ncp, model_host = (sum(counts.values())
                                 for counts in host_link_block_bytes(BLOCK, ezsp_version=run["version"]))
        shared_ncp, shared_host = shared_uart_block_bytes(BLOCK)
        print(f"   UART bytes/block host->NCP + NCP->host: measured {to_ncp:.0f} + {to_host:.0f} = "
              f"{to_ncp + to_host:.0f}; all frames model {model_ncp:.0f} + {model_host:.0f} = "
              f"{model_ncp + model_host:.0f}; shared model {shared_ncp:.0f} + {shared_host:.0f} = "
              f"{shared_ncp + shared_host:.0f}")
        for name, counts in (("host->NCP", run["to_ncp"]), ("NCP->host", run["to_host"])):
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            parts = ", ".join(f"{k} {v:.1f}" for k, v in ranked if v >= 0.5)
            print(f"     {name}: {parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller campaigns (a smoke run)")
    parser.add_argument("--only", type=int, choices=range(1, 8), help="one figure")
    parser.add_argument("--stick-only", action="store_true",
                        help="only line 7 (the transfer through the virtual EZSP stick, real time)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stick_only:
        stick_lines()
        return
    if args.memory_child:
        print(json.dumps(hal.run(lambda: memory_campaign(args.memory_child), "sim://")))
        return
    model = LinkModel()
    one_limit = model.block_throughput_bps(BLOCK)  # stop-and-wait, 1 hop, NWK security, APS ACKs
    channel_limit = BLOCK / (model.block_exchange_air_us(BLOCK) / 1e6)  # every frame shares the channel
    zigpy_block = 50  # zigpy serves min(requested, 50) to this manufacturer
    zigpy_limit = model.block_throughput_bps(zigpy_block)
    wanted = set(range(1, 8)) if args.only is None else {args.only}
    print(f"model: {model}")
    print(f"image: {IMAGE.name}, {IMAGE.stat().st_size} bytes; devices ask {BLOCK}-byte blocks")
    single = None
    if wanted & {1, 2, 4}:
        started = time.perf_counter()
        outcomes, _ = hal.run(lambda: hanrig_push([ihd_bench(1)]), "sim://")
        single = outcomes[0].mean_bps
        print(line("1. one device, 1 hop, 64 B blocks, NWK sec, APS ACKs", single, one_limit, "B/s", 0.90,
                   ">= 0.90") + f"  [{time.perf_counter() - started:.1f} s wall]")
    if 2 in wanted:
        started = time.perf_counter()
        theirs = hal.run(zigpy_push, "sim://")
        print(line("2. zigpy Device.update_firmware, same device type", theirs, zigpy_limit, "B/s", 0.0,
                   "none") + f"  [{time.perf_counter() - started:.1f} s wall]")
        assert single is not None
        print(f"{'   hanrig / zigpy':<58} {single / theirs:9.2f} x      (target >= 1.25: "
              f"{'met' if single / theirs >= 1.25 else 'MISSED'}; zigpy caps blocks at {zigpy_block} B)")
    if 3 in wanted:
        count = 6 if args.quick else 20
        started = time.perf_counter()
        outcomes, _ = hal.run(lambda: hanrig_push([ihd_bench(count)]), "sim://")
        total, span = aggregate(outcomes)
        slowest = min(o.mean_bps for o in outcomes)
        print(line(f"3. {count} devices on one channel, aggregate", total, channel_limit, "B/s", 0.85,
                   ">= 0.85") + f"  [{span:.0f} s simulated, {time.perf_counter() - started:.1f} s wall]")
        print(f"{'   per device: slowest / fastest mean':<58} {slowest:9.0f} / "
              f"{max(o.mean_bps for o in outcomes):.0f} B/s")
    if 4 in wanted:
        per_radio = 3 if args.quick else 10
        started = time.perf_counter()
        outcomes, _ = hal.run(lambda: hanrig_push([ihd_bench(per_radio, radio=r) for r in range(4)]), "sim://")
        total, span = aggregate(outcomes)
        one_radio, _ = hal.run(lambda: hanrig_push([ihd_bench(per_radio)]), "sim://")
        one_total, _ = aggregate(one_radio)
        print(line(f"4. 4 radios x {per_radio} devices, aggregate vs 4x one radio", total, 4 * one_total,
                   "B/s", 0.90, ">= 0.9 x 4") + f"  [{span:.0f} s simulated, "
              f"{time.perf_counter() - started:.1f} s wall]")
        four = 4 * channel_limit
        print(f"{'   vs 4x the modelled channel capacity':<58} {total:9.0f} B/s    limit {four:9.0f}"
              f" B/s    ratio {total / four:5.2f}")
    if 5 in wanted:
        figures = hal.run(lambda: host_cost(2 if args.quick else 10), "sim://")
        blocks = figures["blocks"]
        server_rate = blocks / figures["server_s"]
        served_rate = blocks / (figures["server_s"] + figures["send_s"])
        overhead = load_sim_overhead()
        _, zigpy_cpu_us, _ = hal.run(lambda: overhead.measure(300 if args.quick else 2000, air_model=False),
                                     "sim://")
        print(line("5. host CPU: server path (request in -> response built)", server_rate, 5000,
                   "blk/s", 1.0, ">= 5,000/s"))
        print(line("   ... plus handing the frame to the radio (sim send_packet)", served_rate, 5000, "blk/s",
                   1.0, ">= 5,000/s"))
        whole = blocks / figures["process_s"]
        print(f"{'   whole process (server + zigpy + virtual devices)':<58} {whole:9.0f}"
              f" blk/s ({figures['process_s'] / blocks * 1e6:.0f} µs per block incl. the simulated device)")
        print(f"{'   zigpy per ZCL round trip (bench/sim_overhead.py)':<58} {1e6 / zigpy_cpu_us:9.0f} req/s "
              f"({zigpy_cpu_us:.0f} µs); hanrig server path {1e6 / server_rate:.0f} µs per block, "
              f"{zigpy_cpu_us / (1e6 / server_rate):.0f}x less")
        channels = served_rate / (channel_limit / BLOCK)
        print(f"{'   saturated channels one core keeps busy (with hand-off)':<58} {channels:9.0f}"
              f"        (target > 25)")
    if 6 in wanted:
        count = 40 if args.quick else 200
        started = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--memory-child", str(count)], capture_output=True,
                               text=True, check=False)
        if child.returncode != 0:
            raise SystemExit(f"memory run failed: {child.stderr.strip().splitlines()[-1:]}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        peak = figures["peak_rss_kb"] / 1024
        verdict = "met" if peak < 300 else "MISSED"
        print(f"{f'6. campaign to {count} simulated devices: peak RSS':<58} {peak:9.0f} MB     limit "
              f"{300:9.0f} MB     ratio {peak / 300:5.2f} (target < 300 MB: {verdict})"
              f"  [{time.perf_counter() - started:.1f} s wall]")
        print(f"{'   all devices updated / image buffers held':<58} {figures['ok']!s:>9} / "
              f"{figures['image_buffers_held']} (the image is held once)")
    if 7 in wanted:
        stick_lines()


if __name__ == "__main__":
    main()
