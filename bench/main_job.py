#!/usr/bin/env python3
"""The main job's fixed costs (issue 19, target 5): what ``hanrig rig run`` imports, and how often its
virtual-time loop asks the real selector.

* Imports: ``python -X importtime`` of the whole job (every import it makes, at start-up and later), the
  sum of the top-level imports and their self time by package, against zigpy's own import
  (``import zigpy.application``), the floor of anything built on zigpy. Also whether zigpy's remote OTA
  providers (aiohttp, jsonschema, their TLS contexts) were loaded: zigpy fix 11 keeps them out.
* Loop: passes of ``hal.virtual_clock.VirtualClockLoop``, clock moves, and real selector calls, against
  asyncio's own loop, which polls the selector on every pass.

Wall and CPU time of the job are in ``bench/ota_throughput.py`` (memory section). Compile the bytecode
first for import figures that mean something (``PYTHONDONTWRITEBYTECODE= python -m compileall -q .``).

    python bench/main_job.py [--runs N]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REMOTE_OTA_MODULES = ("zigpy.ota.providers", "aiohttp", "jsonschema")
HANRIG_PACKAGES = ("hal", "gateway", "rigs", "ota", "certs", "gbcs", "hanrig_errors")
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="")


def import_figures(stderr: str) -> tuple[float, dict[str, float]]:
    """The top-level import sum (ms) of a ``-X importtime`` log, and self time (ms) by package group."""
    total = 0
    by_group: collections.Counter[str] = collections.Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|")
        if not self_us.strip().isdigit():
            continue  # the header
        module = name.strip()
        if len(name) - len(name.lstrip()) == 1:
            total += int(cumulative_us)
        top = module.split(".")[0]
        group = "hanrig" if top in HANRIG_PACKAGES else top if top in ("zigpy", "cryptography", "rich",
                                                                     "click") else "other"
        by_group[group] += int(self_us)
    return total / 1000, {group: us / 1000 for group, us in by_group.items()}


def child(counts_file: str, results: str) -> None:
    """Run the main job in this process with the loop's passes, clock moves and polls counted."""
    import atexit

    import hal.virtual_clock as virtual_clock

    counts = {"passes": 0, "clock_moves": 0, "polls": 0}
    original_init = virtual_clock.VirtualClockLoop.__init__

    def counting_init(loop: virtual_clock.VirtualClockLoop, *args: object, **kwargs: object) -> None:
        original_init(loop, *args, **kwargs)
        run_once, real_select = loop._run_once, loop._real_select

        def counted_run_once() -> None:
            ticks = loop._ticks
            run_once()
            counts["passes"] += 1
            counts["clock_moves"] += loop._ticks != ticks

        def counted_select(timeout: float | None = None) -> list:
            counts["polls"] += 1
            return real_select(timeout)

        loop._run_once = counted_run_once  # type: ignore[method-assign]
        loop._real_select = counted_select  # type: ignore[method-assign]

    virtual_clock.VirtualClockLoop.__init__ = counting_init  # type: ignore[method-assign]

    def report() -> None:
        counts["remote_ota_loaded"] = [name for name in REMOTE_OTA_MODULES if name in sys.modules
                                       and type(sys.modules[name]).__name__ != "_LazyModule"]
        Path(counts_file).write_text(json.dumps(counts))

    atexit.register(report)
    from gateway.cli import main

    sys.argv = ["hanrig", "rig", "run", "--results", results]
    main()


def run_python(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        sys.exit(f"{args} exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement (median printed)")
    parser.add_argument("--child", nargs=2, metavar=("COUNTS", "RESULTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    job = ["-c", "from gateway.cli import main; main()", "rig", "run"]
    totals, zigpy_floor = [], []
    groups: dict[str, list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="hanrig-bench-") as tmp:
        for run in range(args.runs):
            logged = run_python(["-X", "importtime", *job, "--results", f"{tmp}/i{run}"], tmp).stderr
            total, by_group = import_figures(logged)
            totals.append(total)
            for group, ms in by_group.items():
                groups[group].append(ms)
            zigpy_only = run_python(["-X", "importtime", "-c", "import zigpy.application"], tmp).stderr
            zigpy_floor.append(import_figures(zigpy_only)[0])
        run_python([__file__, "--child", f"{tmp}/counts.json", f"{tmp}/loop"], tmp)
        counts = json.loads(Path(f"{tmp}/counts.json").read_text())
    total, floor = statistics.median(totals), statistics.median(zigpy_floor)
    print(f"== imports of the main job (median of {args.runs}, -X importtime) ==")
    print(f"  all imports {total:.0f} ms; zigpy's own import (import zigpy.application) {floor:.0f} ms: "
          f"{total / floor:.2f}x")
    print("  self time by package: " + ", ".join(
        f"{group} {statistics.median(values):.0f} ms" for group, values in
        sorted(groups.items(), key=lambda item: -statistics.median(item[1]))))
    loaded = counts["remote_ota_loaded"]
    print(f"  zigpy's remote OTA providers (aiohttp, jsonschema, TLS contexts): "
          f"{'loaded: ' + ', '.join(loaded) if loaded else 'not loaded (zigpy fix 11)'}")
    passes, polls = counts["passes"], counts["polls"]
    print("== the virtual-time loop of the main job ==")
    print(f"  {passes} passes, {counts['clock_moves']} clock moves, {polls} selector calls "
          f"({polls / passes:.3f} per pass; asyncio's loop: 1 per pass, {passes} calls)")


if __name__ == "__main__":
    main()
