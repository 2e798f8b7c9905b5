"""Figures for the results store and the reports: write and read rates, report sizes and times.

Run: python bench/results_store.py [--duts N] [--events N]. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rigs.records import (
    DutRecord,
    Event,
    EventKind,
    InRange,
    MeasurementSpec,
    RunRecord,
    StepRecord,
)
from rigs.reports import html_report, junit_xml
from rigs.store import open_store

SPEC = MeasurementSpec("t", "s", InRange(0, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duts", type=int, default=50)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--measurements", type=int, default=10)
    parser.add_argument("--events", type=int, default=200_000, help="OTA progress samples in total")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = open_store(root)
        run = RunRecord("bench-run", "bench", "", "host", "op", {}, start=0.0,
                        duts=[DutRecord(f"d{n}", "IHD", f"00:0d:6f:00:00:00:{n >> 8:02x}:{n & 255:02x}")
                              for n in range(args.duts)])
        store.begin_run(run)

        steps = 0
        started = time.perf_counter()
        for dut in run.duts:
            for index in range(args.steps):
                step = StepRecord("join", index, dut.id, start=float(index))
                for m in range(args.measurements):
                    step.measure(MeasurementSpec(f"m{m}", "s", SPEC.validator), float(m % 10))
                step.attach("log.txt", "text/plain", b"x" * 2048)
                step.finish(end=index + 0.5)
                store.record_step(run.run_id, step)
                dut.steps.append(step)
                steps += 1
        elapsed = time.perf_counter() - started
        print(f"record_step: {steps} steps ({args.measurements} measurements + 1 attachment each) in "
              f"{elapsed:.2f} s = {steps / elapsed:.0f} steps/s "
              f"({elapsed / steps * 1e3:.2f} ms per committed step)")

        per_dut = args.events // args.duts
        events = [Event(i * 0.05, EventKind.OTA_PROGRESS, {"offset": i * 64, "total": per_dut * 64}, d.id)
                  for d in run.duts for i in range(per_dut)]
        started = time.perf_counter()
        store.add_events(run.run_id, events)
        elapsed = time.perf_counter() - started
        print(f"add_events: {len(events)} events in {elapsed:.2f} s = {len(events) / elapsed:.0f} events/s")

        run.finish(end=1000.0)
        store.finish_run(run)
        started = time.perf_counter()
        loaded = store.load_run(run.run_id)
        print(f"load_run: {args.duts} DUTs, {steps} steps, {len(events)} events in "
              f"{time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        xml = junit_xml(loaded)
        print(f"junit_xml: {len(xml) / 1024:.0f} KiB in {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        html = html_report(loaded, ota_limit_bps=1200.0)
        print(f"html_report: {len(html) / 1024:.0f} KiB in {time.perf_counter() - started:.2f} s")
        store.close()
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"results directory: {size / 1024 / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
