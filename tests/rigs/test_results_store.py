"""The results store on both backends (SQLite, PostgreSQL): round trips, several writers, SIGKILL
mid-run, one writer per run; and SQLite's migrations from a stored v1 dump and corrupt files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from rigs_testlib import write_runs

from rigs import store as store_module
from rigs.exceptions import CorruptDatabase, RunLocked, StoreError, UnknownRun
from rigs.records import (
    Event,
    EventKind,
    InRange,
    MeasurementSpec,
    RunOutcome,
    RunRecord,
    RunStatus,
    StepOutcome,
    StepRecord,
)
from rigs.store import DB_FILENAME, INLINE_ATTACHMENT_MAX, SCHEMA_VERSION, open_store

DUMPS = Path(__file__).parent / "databases"
TIME = MeasurementSpec("t", "s", InRange(0, 10))


def comparable(run: RunRecord) -> dict:
    """Everything a round trip must keep, in a form == can compare."""
    return {
        "run": (run.run_id, run.rig_name, run.rig_snapshot, run.host, run.operator, run.versions,
                run.radio_firmware, run.start, run.end, run.outcome, run.attempts),
        "duts": [(d.id, d.role, d.eui64, d.radio, d.manufacturer, d.model, d.firmware_before,
                  d.firmware_after, d.image_hash, d.metadata, [s.to_dict() for s in d.steps],
                  # the store gives events back in time order
                  [e.to_dict() for e in sorted(d.events, key=lambda e: e.time)])
                 for d in run.duts],
        "events": [e.to_dict() for e in run.events],
    }


def test_round_trip_through_the_output_callback(store_target, finished_run):
    finished_run.events.append(Event(finished_run.start, EventKind.LOG, {"message": "bench up"}))
    with open_store(store_target) as store:
        store(finished_run)
        loaded = store.load_run(finished_run.run_id)
    assert loaded.status is RunStatus.FINISHED
    assert comparable(loaded) == comparable(finished_run)
    if "://" not in store_target:
        assert (Path(store_target) / DB_FILENAME).exists()


def test_streamed_run_then_callback_writes_nothing_twice(store_target, bench, make_run):
    run = make_run(bench, fail_ota_on="ppmid")
    with open_store(store_target) as store:
        live = RunRecord(run.run_id, run.rig_name, run.rig_snapshot, run.host, run.operator, run.versions,
                         run.start, duts=[type(d)(d.id, d.role, d.eui64, d.radio) for d in run.duts])
        store.begin_run(live)
        assert store.list_runs()[0].status is RunStatus.RUNNING
        for dut in run.duts:
            for step in dut.steps:
                store.record_step(run.run_id, step)
            store.add_events(run.run_id, dut.events)
            store.update_dut(run.run_id, dut)
        store(run)  # the callback after the live writes
        loaded = store.load_run(run.run_id)
    assert comparable(loaded) == comparable(run)
    assert loaded.outcome is RunOutcome.FAIL


def test_large_attachments_live_beside_the_database(store_target, finished_run):
    step = finished_run.dut("ihd").step("ota")
    big = os.urandom(INLINE_ATTACHMENT_MAX + 1)
    step.attach("trace.bin", "application/octet-stream", big)
    with open_store(store_target) as store:
        store(finished_run)
        loaded = store.load_run(finished_run.run_id).dut("ihd").step("ota")
    by_name = {a.name: a for a in loaded.attachments}
    if "://" in store_target:  # a database server keeps them in the database: no host shares a directory
        assert by_name["trace.bin"].path is None
    else:
        assert by_name["trace.bin"].path is not None
        assert by_name["trace.bin"].path.is_relative_to(store_target)
    assert by_name["trace.bin"].read() == big
    assert by_name["transfer.log"].data == b"blocks for ihd\n"


def test_events_in_bulk(store_target, finished_run):
    samples = [Event(finished_run.start + i * 0.01, EventKind.OTA_PROGRESS,
                     {"offset": i * 64, "total": 1 << 20}, "ihd") for i in range(20_000)]
    with open_store(store_target) as store:
        store(finished_run)
        assert store.add_events(finished_run.run_id, samples) == 20_000
        loaded = store.load_run(finished_run.run_id)
    ota = [e for e in loaded.dut("ihd").events if e.kind is EventKind.OTA_PROGRESS]
    assert len(ota) == 20_000 + 17


def test_list_runs_and_prefixes(store_target, bench, make_run):
    with open_store(store_target) as store:
        for n, kwargs in enumerate(({}, {"fail_ota_on": "ihd"}, {"error_on": "esme"})):
            run = make_run(bench, **kwargs)
            run.run_id = f"2026010{n}T000000-abc{n}"
            run.start += n
            store(run)
        runs = store.list_runs()
        assert [r.run_id for r in runs] == [
            "20260102T000000-abc2", "20260101T000000-abc1", "20260100T000000-abc0"]
        assert [r.outcome for r in runs] == [RunOutcome.ERROR, RunOutcome.FAIL, RunOutcome.PASS]
        assert runs[1].steps == {"PASS": 33, "FAIL": 1} and runs[1].duts == 5
        assert store.resolve("20260101") == "20260101T000000-abc1"
        with pytest.raises(UnknownRun, match="ambiguous prefix"):
            store.resolve("2026")
        with pytest.raises(UnknownRun, match="no such run"):
            store.load_run("1999")
        with pytest.raises(UnknownRun):
            store.resolve("2026%")  # LIKE wildcards are literal
        assert len(store.list_runs(limit=2)) == 2


def test_resume_appends_attempts_to_the_same_run(store_target, bench, make_run):
    partial = make_run(bench, stop_after=7, fail_ota_on="ihd")
    planned = bench.planned()
    with open_store(store_target) as store:
        store.begin_run(partial)
        for dut in partial.duts:
            for step in dut.steps:
                store.record_step(partial.run_id, step)
        missing = store.not_passed(partial.run_id, planned)
        assert len(missing) == len(planned) - 7
        assert ("esme", 0, "join") not in missing
        assert store.not_passed(partial.run_id) == []  # nothing recorded failed yet

        attempt = store.begin_attempt(partial.run_id)
        assert attempt == 2
        for dut_id, index, name in missing:
            step = StepRecord(name, index, dut_id, start=partial.start + 1000, attempt=attempt)
            step.measure(TIME, 99.0 if (dut_id, name) == ("ihd", "ota") else 1.0)  # the IHD's OTA fails again
            step.finish(end=step.start + 1)
            store.record_step(partial.run_id, step)
        assert store.not_passed(partial.run_id, planned) == [
            (d, i, n) for d, i, n in missing if n == "ota" and d == "ihd"]
        loaded = store.load_run(partial.run_id)
        loaded.finish(end=partial.start + 2000)
        store.finish_run(loaded)
        final = store.load_run(partial.run_id)
    assert final.attempts == 2 and final.status is RunStatus.FINISHED
    assert final.outcome is RunOutcome.FAIL
    assert {s.attempt for d in final.duts for s in d.steps} == {1, 2}


def test_a_step_is_recorded_once_per_attempt(store_target, finished_run):
    with open_store(store_target) as store:
        store(finished_run)
        step = finished_run.dut("ihd").steps[0]
        with pytest.raises(StoreError, match="cannot record step 0"):
            store.record_step(finished_run.run_id, step)


@pytest.mark.parametrize("url,words", [
    ("postgresql://hanrig:secret@127.0.0.1:1/results", "cannot connect to the results database"),
    ("postgres://127.0.0.1:1/results", "cannot connect"),
    ("mysql://hanrig:secret@db/results", "unsupported results URL scheme 'mysql'"),
    ("sqlite://relative.db", "a SQLite URL is sqlite:///path"),
])
def test_unsupported_urls_are_one_clear_line(url, words):
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert words in str(info.value) and "secret" not in str(info.value)
    assert info.value.exit_code == 2


def test_sqlite_url_and_missing_store(tmp_path, finished_run):
    db = tmp_path / "sub" / "r.db"
    db.parent.mkdir()
    with open_store(f"sqlite:///{db}") as store:
        store(finished_run)
    with open_store(db) as store:  # the database file itself
        assert store.load_run(finished_run.run_id).run_id == finished_run.run_id
    with pytest.raises(StoreError, match="no results store there"):
        open_store(tmp_path / "nothing", create=False)


def _v1_database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript((DUMPS / "results_v1.sql").read_text())
    conn.close()
    return path


def test_migration_from_a_stored_v1_dump(tmp_path):
    _v1_database(tmp_path / DB_FILENAME)
    with open_store(tmp_path) as store:
        tables = [r[0] for r in store._read("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert all(t.endswith(f"_v{SCHEMA_VERSION}") for t in tables), tables
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        runs = {r.run_id: r for r in store.list_runs()}
        assert set(runs) == {"20250301T090000-0badcafe", "20250302T090000-00facade"}
        run = store.load_run("20250301T090000-0badcafe")
        assert run.outcome is RunOutcome.FAIL and run.attempts == 1 and run.operator == "alice"
        ihd, ppmid = run.duts
        assert (ihd.id, ihd.firmware_before, ihd.firmware_after) == ("ihd", 0x10000, 0x20000)
        assert [(s.name, s.attempt, s.outcome) for s in ppmid.steps] == [
            ("join", 1, StepOutcome.PASS), ("ota", 1, StepOutcome.FAIL)]
        ota = ppmid.step("ota")
        assert ota.measurements[0].value == 32.0 and ota.measurements[0].outcome.value == "FAIL"
        assert ihd.step("ota").attachments[0].read() == b"blocks for ih"
        assert len(ihd.events) == 10 and run.events[0].data == {"message": "bench up"}
        assert store.not_passed(run.run_id) == [("ppmid", 2, "ota")]
        # A migrated run can be resumed: attempts are the point of v2.
        assert store.begin_attempt(run.run_id) == 2
    assert sqlite3.connect(tmp_path / DB_FILENAME).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failing_migration_leaves_the_database_untouched(tmp_path, monkeypatch):
    db = _v1_database(tmp_path / DB_FILENAME)

    def broken(store, cur):
        store_module._migrate_to_v2(store, cur)
        raise RuntimeError("disk full halfway")

    monkeypatch.setitem(store_module.MIGRATIONS, 2, broken)
    with pytest.raises(RuntimeError):
        open_store(tmp_path)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {"runs_v1", "duts_v1", "steps_v1", "measurements_v1", "attachments_v1", "events_v1"}
    assert conn.execute("SELECT COUNT(*) FROM steps_v1").fetchone()[0] == 4


def test_version_and_tables_disagreeing_is_corrupt(tmp_path):
    db = _v1_database(tmp_path / DB_FILENAME)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptDatabase, match="does not match its table versions"):
        open_store(tmp_path)


def test_a_newer_database_is_refused(tmp_path):
    db = tmp_path / DB_FILENAME
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE runs_v9 (run_id TEXT)")
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this hanrig"):
        open_store(tmp_path)


def test_not_a_database_is_corrupt(tmp_path):
    (tmp_path / DB_FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptDatabase, match="not a usable SQLite database"):
        open_store(tmp_path)


def test_foreign_tables_are_corrupt(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE devices (ieee)")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptDatabase, match="unexpected table 'devices'"):
        open_store(tmp_path)


def test_several_writer_threads(store_target):
    open_store(store_target).close()
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            write_runs(store_target, tag, runs=3, steps=10)
        except BaseException as exc:  # collected so the test fails loudly on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_store(store_target) as store:
        runs = store.list_runs(limit=None)
        assert len(runs) == 24 and all(r.status is RunStatus.FINISHED for r in runs)
        assert all(r.steps == {"PASS": 10} for r in runs)
        assert len(store.load_run("run-t3-2").dut("ihd").events) == 50


def test_several_writer_processes(store_target):
    """4 processes write 4 runs each at once: every run, step, measurement and event lands once."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from rigs_testlib import write_runs
        write_runs(sys.argv[1], sys.argv[2], runs=4, steps=15)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, store_target, f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    with open_store(store_target) as store:
        runs = store.list_runs(limit=None)
        assert len(runs) == 16 and all(r.steps == {"PASS": 15} for r in runs)
        assert all(r.status is RunStatus.FINISHED for r in runs)
        for run_id in ("run-p0-0", "run-p3-3"):
            run = store.load_run(run_id)
            assert [s.index for s in run.dut("ihd").steps] == list(range(15))
            assert [e.data["n"] for e in run.dut("ihd").events] == list(range(50))
        (events,) = store._read("SELECT COUNT(*) FROM events_v2")
        (measurements,) = store._read("SELECT COUNT(*) FROM measurements_v2")
    assert events == (16 * 50,) and measurements == (16 * 15,)


KILLED_WRITER = """
import sys, time
from rigs.records import DutRecord, Event, EventKind, InRange, MeasurementSpec, RunRecord, StepRecord
from rigs.store import open_store

spec = MeasurementSpec("t", "s", InRange(0, 10))
store = open_store(sys.argv[1])
run = RunRecord("killed-run", "bench", "", "h", "op", {}, start=0.0,
                duts=[DutRecord("ihd", "IHD", "00:0d:6f:00:0a:bc:00:03")])
store.begin_run(run)
index = 0
while True:
    step = StepRecord("join", index, "ihd", start=float(index))
    for n in range(5):
        step.measure(MeasurementSpec(f"m{n}", "s", InRange(0, 10)), 1.0)
    step.attach("log", "text/plain", b"x" * 1000)
    step.finish(end=index + 0.5)
    store.record_step(run.run_id, step)
    store.add_events(run.run_id,
                     [Event(float(i), EventKind.OTA_PROGRESS, {"offset": i}, "ihd") for i in range(200)])
    print(index, flush=True)
    index += 1
"""


def test_sigkill_mid_run_leaves_a_consistent_store(store_target):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, store_target], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    seen = -1
    while seen < 5:
        line = proc.stdout.readline()
        assert line, "writer exited early"
        seen = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped, so its pid is gone
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with open_store(store_target) as store:
        _wait_until(lambda: store.incomplete_runs() == ["killed-run"])  # the server sees the session end
        (summary,) = store.list_runs()
        assert summary.status is RunStatus.INCOMPLETE and summary.outcome is None
        run = store.load_run("killed-run")
        steps = run.dut("ihd").steps
        assert len(steps) >= 6
        assert [s.index for s in steps] == list(range(len(steps)))  # no gaps
        assert all(len(s.measurements) == 5 and len(s.attachments) == 1 for s in steps)  # no half steps
        assert len(run.dut("ihd").events) % 200 == 0
        # The next writer can resume and finish it.
        assert store.begin_attempt("killed-run") == 2
        assert store.list_runs()[0].status is RunStatus.RUNNING
        run.finish(end=1000.0)
        store.finish_run(run)
        assert store.load_run("killed-run").status is RunStatus.FINISHED
    if "://" in store_target:
        return
    conn = sqlite3.connect(Path(store_target) / DB_FILENAME)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


# ------------------------------------------------------------------------------- one writer per run
RESUMER = """
import sys
from rigs.store import open_store
store = open_store(sys.argv[1])
print(store.begin_attempt(sys.argv[2]), flush=True)
sys.stdin.readline()  # hold the run until told
"""


def test_a_second_writer_of_a_run_is_refused_naming_the_holder(store_target, finished_run):
    with open_store(store_target) as store:
        store(finished_run)
    holder = subprocess.Popen([sys.executable, "-c", RESUMER, store_target, finished_run.run_id],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "2"
        with open_store(store_target) as store:
            assert store.list_runs()[0].status is RunStatus.RUNNING  # its writer is alive
            with pytest.raises(RunLocked) as info:
                store.begin_attempt(finished_run.run_id[:12])
            assert store.load_run(finished_run.run_id).attempts == 2  # the refused resume changed nothing
        assert info.value.exit_code == 2
        assert f"run {finished_run.run_id}: already being written by hanrig@" in str(info.value)
        assert f"pid {holder.pid}" in str(info.value)
    finally:
        holder.communicate("\n", timeout=30)
    with open_store(store_target) as store:  # the holder is gone: the run can be resumed again
        _wait_until(lambda: store.list_runs()[0].status is RunStatus.INCOMPLETE)
        assert store.begin_attempt(finished_run.run_id) == 3


def test_two_stores_in_one_process_are_two_writers(store_target, finished_run):
    with open_store(store_target) as first, open_store(store_target) as second:
        first(finished_run)
        assert first.begin_attempt(finished_run.run_id) == 2
        assert first.begin_attempt(finished_run.run_id) == 3  # the holder may go on
        with pytest.raises(RunLocked):
            second.begin_attempt(finished_run.run_id)
        finished_run.finish(end=finished_run.end)
        first.finish_run(finished_run)  # finishing releases the run
        assert second.begin_attempt(finished_run.run_id) == 4


def test_migration_from_v1_on_postgres_uses_the_same_definition(tmp_path, postgres_url):
    """The stored v1 dump, moved into PostgreSQL's dialect of schema v1, migrates as on SQLite, and the
    copied ids do not collide with new ones (the identity sequence follows the copy)."""
    import psycopg

    source = sqlite3.connect(_v1_database(tmp_path / "v1.db"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in store_module.schema_sql(1):
            conn.execute(store_module.postgres_dialect(statement))
        for table in ("runs", "duts", "steps", "measurements", "attachments", "events"):
            cursor = source.execute(f"SELECT * FROM {table}_v1")
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            if rows:
                marks = ", ".join(["%s"] * len(columns))
                with conn.cursor() as pg:
                    pg.executemany(f"INSERT INTO {table}_v1 ({', '.join(columns)}) VALUES ({marks})", rows)
        conn.execute("CREATE TABLE hanrig_schema (version BIGINT NOT NULL)")
        conn.execute("INSERT INTO hanrig_schema VALUES (1)")
    with open_store(postgres_url) as store:
        tables = [r[0] for r in store._read("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert sorted(tables) == sorted([*(f"{t}_v2" for t in ("runs", "duts", "steps", "measurements",
                                                                  "attachments", "events")), "hanrig_schema"])
        run = store.load_run("20250301T090000-0badcafe")
        assert run.outcome is RunOutcome.FAIL and run.attempts == 1 and run.operator == "alice"
        ihd = run.dut("ihd")
        assert ihd.step("ota").attachments[0].read() == b"blocks for ih"
        assert len(ihd.events) == 10 and store.not_passed(run.run_id) == [("ppmid", 2, "ota")]
        assert store.begin_attempt(run.run_id) == 2
        retry = StepRecord("ota", 2, "ppmid", start=2000.0, attempt=2)
        retry.measure(TIME, 1.0)
        retry.finish(end=2001.0)
        store.record_step(run.run_id, retry)  # a fresh id, past every copied one
        assert store.not_passed(run.run_id) == []
