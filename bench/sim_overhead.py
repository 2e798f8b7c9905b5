#!/usr/bin/env python3
"""Host-side cost of one ZCL request/response round trip through zigpy on the simulated HAN.

The air model is switched off (zero latency), so what remains is zigpy + asyncio + the virtual device's
own frame handling: the host's share of every exchange, separable from the modelled air time. Also
prints, for comparison, the virtual (modelled) time the same read takes with the air model on.

    python bench/sim_overhead.py [--reads N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from zigpy.zcl.clusters.general import Basic

import hal
from hal.sim.config import SimSettings, default_bench


async def measure(reads: int, air_model: bool) -> tuple[list[float], float, float]:
    """Return per-read wall-clock µs, the process CPU µs per read, and the virtual seconds per read."""
    config = default_bench(SimSettings(air_model=air_model))
    async with hal.open_radio("sim://", hal.RadioConfig(sim=config)) as app:
        ihd = app.han.device("ihd")
        basic = app.get_device(ieee=ihd.ieee).endpoints[1].in_clusters[Basic.cluster_id]
        loop = asyncio.get_running_loop()
        for _ in range(50):                      # warm up zigpy's caches and code paths
            await basic.read_attributes(["model"], allow_cache=False)
        samples: list[float] = []
        virtual_start = loop.time()
        cpu_start = time.process_time()
        for _ in range(reads):
            start = time.perf_counter()
            success, _ = await basic.read_attributes(["model"], allow_cache=False)
            samples.append((time.perf_counter() - start) * 1e6)
            if success.get("model") != "SIM-IHD":
                raise SystemExit(f"unexpected read result {success!r}")
        cpu_per_read = (time.process_time() - cpu_start) / reads * 1e6
        return samples, cpu_per_read, (loop.time() - virtual_start) / reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    samples, cpu, _ = hal.run(lambda: measure(args.reads, air_model=False), "sim://")
    samples.sort()
    mean = statistics.fmean(samples)
    p50, p95 = samples[len(samples) // 2], samples[int(len(samples) * 0.95)]
    _, _, virtual_per_read = hal.run(lambda: measure(200, air_model=True), "sim://")
    model = hal.sim.LinkModel()
    print(f"ZCL Read Attributes round trips through zigpy on sim:// (air model off): {args.reads}")
    print(f"host cost per round trip: mean {mean:7.0f} µs   p50 {p50:7.0f} µs   p95 {p95:7.0f} µs")
    print(f"process CPU per round trip: {cpu:7.0f} µs  (wall figures include other load on this machine)")
    print(f"round trips per second per core (CPU-bound): {1e6 / cpu:7.0f}")
    print(f"same read with the air model on: {virtual_per_read * 1000:6.2f} ms of modelled air per round "
          f"trip (request + response, each with MAC and APS ACK; {model})")


if __name__ == "__main__":
    main()
