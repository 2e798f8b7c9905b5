"""Figures for the results store and the reports: write and read rates, report sizes and times, and
SQLite against PostgreSQL side by side (committed steps/s and events/s, one writer and four).

Run: python bench/results_store.py [--duts N] [--events N] [--postgres URL | --no-postgres].
Without --postgres a temporary PostgreSQL cluster (the distribution's server, fsync on, as a server is
run) is started on 127.0.0.1 and removed afterwards. Prints figures; asserts nothing.

Backends: each writer is its own process with its own store and its own run, writing as the rig runner
does: one transaction per finished step (5 measurements and a 1 KiB attachment), then OTA-progress events
in batches of ``rigs.recorder.EVENT_FLUSH`` (one transaction each). The writers start together; a rate is
what all of them committed divided by the slowest one's time.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import tempfile
import time
from pathlib import Path

from rigs.recorder import EVENT_FLUSH
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
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database to use (else a "
                        "temporary cluster is started)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite figures only")
    parser.add_argument("--writer-steps", type=int, default=300, help="steps per writer (backend table)")
    parser.add_argument("--writer-events", type=int, default=20_000, help="events per writer (backend table)")
    args = parser.parse_args()
    single_run_figures(args)
    backend_table(args)


def single_run_figures(args: argparse.Namespace) -> None:
    print("== one big run in SQLite, then its reports")

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


def _writer(target: str, tag: str, steps: int, events: int, barrier, results) -> None:
    """One process writing one run as the runner does; reports (step seconds, event seconds)."""
    with open_store(target) as store:
        run = RunRecord(f"bench-{tag}", "bench", "", "host", "op", {}, start=0.0,
                        duts=[DutRecord("ihd", "IHD", "00:0d:6f:00:0a:bc:00:03")])
        store.begin_run(run)
        prepared = []
        for index in range(steps):
            step = StepRecord("ota", index, "ihd", start=float(index))
            for m in range(5):
                step.measure(MeasurementSpec(f"m{m}", "s", SPEC.validator), float(m))
            step.attach("log.txt", "text/plain", b"x" * 1024)
            step.finish(end=index + 0.5)
            prepared.append(step)
        samples = [Event(i * 0.05, EventKind.OTA_PROGRESS, {"offset": i * 64, "total": events * 64}, "ihd")
                   for i in range(events)]
        barrier.wait()
        started = time.perf_counter()
        for step in prepared:
            store.record_step(run.run_id, step)
        step_s = time.perf_counter() - started
        barrier.wait()
        started = time.perf_counter()
        for first in range(0, events, EVENT_FLUSH):
            store.add_events(run.run_id, samples[first:first + EVENT_FLUSH])
        event_s = time.perf_counter() - started
        run.finish(end=1000.0)
        store.finish_run(run)
    results.put((step_s, event_s))


def _measure(target: str, writers: int, steps: int, events: int) -> tuple[float, float]:
    """(committed steps/s, committed events/s) of ``writers`` processes writing at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    open_store(target).close()  # the schema exists before the writers race
    procs = [context.Process(target=_writer, args=(target, f"{writers}w{n}", steps, events, barrier, results))
             for n in range(writers)]
    for proc in procs:
        proc.start()
    times = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    with open_store(target) as store:  # nothing lost, nothing twice
        mine = (f"bench-{writers}w%",)
        (stored_steps,) = store._read("SELECT COUNT(*) FROM steps_v2 WHERE run_id LIKE ?", mine)[0]
        (stored_events,) = store._read("SELECT COUNT(*) FROM events_v2 WHERE run_id LIKE ?", mine)[0]
    if (stored_steps, stored_events) != (writers * steps, writers * events):
        print(f"  !! stored {stored_steps} steps / {stored_events} events, expected "
              f"{writers * steps} / {writers * events}")
    return (writers * steps / max(t[0] for t in times), writers * events / max(t[1] for t in times))


def backend_table(args: argparse.Namespace) -> None:
    print(f"\n== SQLite and PostgreSQL side by side: committed steps/s (one transaction per step, 5 "
          f"measurements + 1 KiB attachment) and events/s (batches of {EVENT_FLUSH})")
    server = None
    postgres = args.postgres
    if postgres is None and not args.no_postgres:
        # the tests' throw-away cluster, loaded by path: putting tests/ on sys.path would let its
        # package-less directories (tests/ota, ...) shadow hanrig's packages in the writer processes
        path = Path(__file__).resolve().parent.parent / "tests" / "lab_services.py"
        spec = importlib.util.spec_from_file_location("lab_services", path)
        assert spec is not None and spec.loader is not None
        lab_services = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lab_services)
        try:
            server = lab_services.TempPostgres(fsync=True).start()
        except lab_services.ServiceUnavailable as exc:
            print(f"PostgreSQL: not measured ({exc})")
    try:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for writers in (1, 4):
                sqlite = _measure(str(Path(tmp) / f"sqlite-{writers}"), writers, args.writer_steps,
                                  args.writer_events)
                for durable in (True, False):
                    pg_target = server.new_database(f"bench{writers}") if server is not None else postgres
                    pg = None
                    if pg_target is not None:
                        if not durable:  # what SQLite's synchronous=NORMAL promises: no wait for the disk
                            pg_target += ("&" if "?" in pg_target else "?") + \
                                "options=-csynchronous_commit%3Doff"
                        pg = _measure(pg_target, writers, args.writer_steps, args.writer_events)
                    rows.append((writers, "on" if durable else "off", sqlite, pg))
        print(f"{'writers':>7} {'pg sync':>7}  {'SQLite steps/s':>14} {'PostgreSQL steps/s':>18} {'ratio':>6}"
              f"   {'SQLite events/s':>15} {'PostgreSQL events/s':>19} {'ratio':>6}")
        for writers, sync, (s_steps, s_events), pg in rows:
            p_steps, p_events = pg if pg else (float("nan"), float("nan"))
            print(f"{writers:>7} {sync:>7}  {s_steps:>14.0f} {p_steps:>18.0f} {p_steps / s_steps:>6.2f}   "
                  f"{s_events:>15.0f} {p_events:>19.0f} {p_events / s_events:>6.2f}")
        print("SQLite: WAL, synchronous=NORMAL (a commit survives a killed process, not a power cut). "
              "PostgreSQL over TCP to 127.0.0.1, fsync on; 'pg sync on' waits for the WAL flush at each "
              "commit (survives a power cut), 'off' does not (like SQLite's NORMAL).")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
