"""Alert storm protection figures (SECMP0062): sustained intake rate on one core with throttling on,
and the memory each storming device costs. Prints figures; asserts nothing.

    python bench/alerts.py [--alerts N] [--devices N]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

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


if __name__ == "__main__":
    main()
