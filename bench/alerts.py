"""Alert storm protection figures (SECMP0062): sustained intake rate on one core with throttling on,
the memory each storming device costs, and what keeping the counts durable (``gateway.alert_counts``)
costs a live simulated storm against the same storm counted in memory only. Prints figures; asserts
nothing.

    python bench/alerts.py [--alerts N] [--devices N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from gateway.alerts import AlertPolicy, AlertThrottler


def intake_rate(alerts: int, devices: int, codes: int) -> tuple[float, AlertThrottler]:
    """Alerts/s through ``receive`` for a storm spread over ``devices`` x ``codes`` at 1,000 alerts/s
    of simulated time per device, with a flush every simulated second."""
    throttler = AlertThrottler(AlertPolicy(window_s=60, threshold=10, forward_period_s=300))
    names = [f"dev-{index}" for index in range(devices)]
    receive = throttler.receive
    step = 1.0 / 1000 / devices
    start = time.perf_counter()
    now = 0.0
    next_flush = 1.0
    for index in range(alerts):
        receive(names[index % devices], 0x8F00 + index % codes, None, now)
        now += step
        if now >= next_flush:
            throttler.flush(now)
            next_flush += 1.0
    elapsed = time.perf_counter() - start
    return alerts / elapsed, throttler


def memory_per_storming_device(devices: int, alerts_each: int) -> float:
    """Bytes of throttler state per device after each device stormed with ``alerts_each`` alerts."""
    gc.collect()
    tracemalloc.start()
    throttler = AlertThrottler(AlertPolicy(window_s=60, threshold=10, forward_period_s=300))
    names = [f"dev-{index}" for index in range(devices)]
    baseline = tracemalloc.get_traced_memory()[0]
    for index in range(alerts_each):
        at = index / 1000
        for name in names:
            throttler.receive(name, 0x8F01, None, at)
    used = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    return used / devices


def durable_storm_cost(durable: bool) -> tuple[int, int, float]:
    """(alerts received, count-file transactions, CPU seconds) for a 20 s, 1,000/s-asked ZCL alarm storm
    from the simulated IHD, watched for 30 s of virtual time, with or without a data dir."""
    import hal
    from gateway.alerts_service import AlertService
    from gateway.session import Gateway, RadioEndpoint
    from hal.sim.config import FaultKind, FaultSpec

    transactions = 0
    save = AlertService._save

    def counting_save(service: AlertService) -> None:
        nonlocal transactions
        transactions += bool(service._dirty)
        save(service)

    async def storm() -> tuple[int, float]:
        config = hal.RadioConfig(data_dir=Path(tempfile.mkdtemp())) if durable else None
        async with Gateway.open([RadioEndpoint("radio0", "sim://", config)]) as gw:
            gw.alerts.configure(AlertPolicy(window_s=60, threshold=2, forward_period_s=6))
            gw.sim("radio0").inject(FaultSpec(kind=FaultKind.ALERT_STORM, device="ihd", rate_hz=1000.0,
                                              duration_s=20.0))
            start = time.process_time()
            await asyncio.sleep(30)
            return gw.alerts.stats()["received"], time.process_time() - start

    AlertService._save = counting_save  # type: ignore[method-assign]
    try:
        received, cpu = hal.run(storm, "sim://")
    finally:
        AlertService._save = save  # type: ignore[method-assign]
    return received, transactions, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=5)
    args = parser.parse_args()

    for devices, codes in ((1, 1), (args.devices, 4)):
        rate, throttler = intake_rate(args.alerts, devices, codes)
        stats = throttler.stats
        print(f"intake, {devices} storming device(s) x {codes} code(s): {rate:,.0f} alerts/s "
              f"(received {stats.received:,}, forwarded {stats.forwarded:,}, "
              f"suppressed {stats.suppressed:,}, reported {stats.reported:,}; target >= 20,000)")

    for alerts_each in (1_000, 20_000):
        per_device = memory_per_storming_device(100, alerts_each)
        print(f"memory per storming device (one code, threshold 10) after {alerts_each:,} alerts each: "
              f"{per_device:,.0f} bytes")


    in_memory, durable = durable_storm_cost(False), durable_storm_cost(True)
    for name, (received, transactions, cpu) in (("in memory", in_memory), ("durable", durable)):
        print(f"live sim storm, counts {name}: {received:,} alerts received, {transactions:,} count-file "
              f"transactions, {cpu * 1e6 / received:,.0f} us CPU per alert (simulation included)")
    print(f"durable / in-memory CPU per alert: {durable[2] / durable[0] / (in_memory[2] / in_memory[0]):.2f}")


if __name__ == "__main__":
    main()
