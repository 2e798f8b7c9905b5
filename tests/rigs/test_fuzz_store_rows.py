"""Hypothesis fuzzing of results-store rows (issue 15): a store whose rows were damaged (by another tool,
a bad migration, a hand edit) gives ``hanrig results list/show/export`` an error on purpose, exit 2, or
the record; never a traceback, never an "unexpected" error, never a file outside the export directory.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rigs_testlib import build_run

from gateway.cli import main
from rigs.rigfile import default_rig
from rigs.store import DB_FILENAME, SCHEMA_VERSION, open_store

# (table, column) pairs a hostile or damaged store may hold anything in
COLUMNS = [(f"runs_v{SCHEMA_VERSION}", c) for c in (
    "rig_name", "rig_snapshot", "versions", "radio_firmware", "start_time", "end_time", "status", "outcome",
    "details", "writer_pid", "attempts")] + [(f"duts_v{SCHEMA_VERSION}", c) for c in (
    "dut_id", "role", "eui64", "firmware_before", "firmware_after", "metadata")] + [
    (f"steps_v{SCHEMA_VERSION}", c) for c in ("name", "start_time", "end_time", "outcome", "details",
                                              "step_index", "attempt")] + [
    (f"measurements_v{SCHEMA_VERSION}", c) for c in ("name", "value", "validator", "outcome")] + [
    (f"events_v{SCHEMA_VERSION}", c) for c in ("time", "kind", "data")]
VALUES = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["", "{", "[]", "{}", "null", '"x"', "..", "../../x", "PASS", "FAIL", "running",
                     '{"code": 1}', '[{"code": "x"}]', '{"kind": "eq", "value": 1}', "1e999", "0x12"]))
RUN_ID = "20260921T141320-00c0ffee"
WORK = Path(tempfile.mkdtemp(prefix="hanrig-store-fuzz-"))


def pristine() -> Path:
    source = WORK / "pristine"
    if not source.exists():
        with open_store(str(source)) as store:
            store(build_run(default_rig(base_dir=Path("/nonexistent-base"))))
    return source


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(COLUMNS), VALUES), min_size=1, max_size=3))
def test_damaged_rows_get_a_clean_answer(capsys, edits):
    results = WORK / "results"
    shutil.rmtree(results, ignore_errors=True)
    shutil.copytree(pristine(), results)
    with sqlite3.connect(results / DB_FILENAME) as db:
        for (table, column), value in edits:
            try:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT min(rowid) FROM {table})",
                           (value,))
            except sqlite3.Error:
                continue  # a constraint the schema itself enforces: that damage cannot be stored
    out = WORK / "export"
    shutil.rmtree(out, ignore_errors=True)
    for args in (["results", "list"], ["results", "show", RUN_ID, "--json"],
                 ["results", "export", RUN_ID, "--format", "json"],
                 ["results", "export", RUN_ID, "--format", "junit"],
                 ["results", "export", RUN_ID, "--format", "html"],
                 ["results", "export", RUN_ID, "--format", "evidence", "-o", str(out / "packs")]):
        with pytest.raises(SystemExit) as info:
            main([*args, "--results", str(results)])
        code, err = int(info.value.code), capsys.readouterr().err
        assert code in {0, 1, 2}, (args, edits, err)
        assert "Traceback" not in err and "unexpected" not in err, (args, edits, err)
    written = [p for p in WORK.rglob("*") if p.is_file() and not p.is_relative_to(WORK / "pristine")
               and not p.is_relative_to(results) and not p.is_relative_to(out)]
    assert not written, written
