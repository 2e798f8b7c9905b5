"""RunRecorder: live recording, abort, and resume after a SIGKILL completing the same run."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from rigs_testlib import STEP_TIME

from rigs.exceptions import OutputError, StoreError
from rigs.outputs import JunitOutput, outputs_for
from rigs.recorder import RunRecorder
from rigs.records import EventKind, OutcomeDetail, RunOutcome, RunStatus, StepOutcome
from rigs.rigfile import Outputs, default_rig
from rigs.store import open_store


def fake_clock(start: float = 1_800_000_000.0):
    ticks = itertools.count()
    return lambda: start + next(ticks)


def run_plan(recorder: RunRecorder, fail: set[tuple[str, str]] = frozenset()) -> None:
    """What a runner does per (step, device): open, measure, emit samples, close."""
    for plan_step, dut_id in recorder.pending():
        step = recorder.begin_step(plan_step, dut_id)
        step.measure(STEP_TIME, 99.0 if (dut_id, plan_step.name) in fail else 1.0)
        if plan_step.name == "ota":
            for offset in range(0, 4096, 512):
                recorder.event(EventKind.OTA_PROGRESS, {"offset": offset, "total": 4096}, dut_id)
            recorder.update_dut(dut_id, firmware_before=0x10000, firmware_after=0x20000, image_hash="cd" * 32)
        recorder.end_step(step)


def test_a_recorded_run_lands_in_the_store_and_the_outputs(tmp_path, bench):
    outputs = Outputs(results=str(tmp_path / "results"), junit=tmp_path / "junit.xml",
                      html=tmp_path / "report.html")
    store = open_store(outputs.results)
    recorder = RunRecorder.start(bench, store, operator="ci", radio_firmware={"sim": "1"}, clock=fake_clock())
    assert store.list_runs()[0].status is RunStatus.RUNNING
    run_plan(recorder, fail={("ppmid", "ota")})
    outcome = recorder.finish(outputs_for(outputs, store, ota_limit_bps=1000))
    assert outcome is RunOutcome.FAIL
    loaded = store.load_run(recorder.record.run_id)
    assert loaded.status is RunStatus.FINISHED and loaded.radio_firmware == {"sim": "1"}
    assert sum(len(d.steps) for d in loaded.duts) == len(bench.planned())
    assert len(loaded.dut("ihd").events) == 8 and loaded.dut("ihd").firmware_after == 0x20000
    assert store.not_passed(loaded.run_id, bench.planned()) == [("ppmid", 3, "ota")]
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert suites.get("failures") == "1"
    assert (tmp_path / "report.html").exists()
    store.close()


def test_abort_ends_open_steps_and_the_run(tmp_path, bench):
    with open_store(tmp_path) as store:
        recorder = RunRecorder.start(bench, store, clock=fake_clock())
        (first, dut_a), (_, dut_b) = recorder.pending()[:2]
        recorder.end_step(recorder.begin_step(first, dut_a))
        recorder.begin_step(first, dut_b)  # Ctrl-C arrives while this one runs
        assert recorder.abort([("junit", JunitOutput(tmp_path / "junit.xml"))]) is RunOutcome.ABORTED
        run = store.load_run(recorder.record.run_id)
    assert run.outcome is RunOutcome.ABORTED and run.status is RunStatus.FINISHED
    assert [s.outcome for s in run.dut(dut_b).steps] == [StepOutcome.ABORTED]
    assert run.details[0].code == "aborted"
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(root.get("errors")) == len(bench.planned()) - 1


def test_finish_refuses_open_steps_and_reports_failed_outputs(tmp_path, bench):
    with open_store(tmp_path) as store:
        recorder = RunRecorder.start(bench, store, clock=fake_clock())
        plan_step, dut_id = recorder.pending()[0]
        step = recorder.begin_step(plan_step, dut_id)
        with pytest.raises(ValueError, match="already open"):
            recorder.begin_step(plan_step, dut_id)
        with pytest.raises(ValueError, match="steps still open"):
            recorder.finish()
        recorder.end_step(step, StepOutcome.ERROR, OutcomeDetail("radio", "stick unplugged"))
        with pytest.raises(ValueError, match="cannot be updated"):
            recorder.update_dut(dut_id, eui64="00:00:00:00:00:00:00:00")
        (tmp_path / "blocked").mkdir()
        with pytest.raises(OutputError):
            recorder.finish([("junit", JunitOutput(tmp_path / "blocked"))])
        # The run itself is closed and stored even though an output failed.
        assert store.load_run(recorder.record.run_id).outcome is RunOutcome.ERROR


def test_resume_needs_the_same_rig(tmp_path, bench):
    with open_store(tmp_path) as store:
        recorder = RunRecorder.start(bench, store, clock=fake_clock())
        other = dataclasses.replace(bench, name="another-bench")
        with pytest.raises(StoreError, match="made with rig 'default-sim-bench'"):
            RunRecorder.resume(other, store, recorder.record.run_id)


KILLED_RUNNER = """
import sys, time
from rigs.recorder import RunRecorder
from rigs.records import InRange, MeasurementSpec
from rigs.rigfile import default_rig
from rigs.store import open_store

rig = default_rig()
recorder = RunRecorder.start(rig, open_store(sys.argv[1]))
print(recorder.record.run_id, flush=True)
for n, (plan_step, dut_id) in enumerate(recorder.pending()):
    step = recorder.begin_step(plan_step, dut_id)
    step.measure(MeasurementSpec("t", "s", InRange(0, 10)), 1.0)
    recorder.end_step(step)
    print(n, flush=True)
    if n >= 9:
        time.sleep(60)  # killed here, in the middle of the plan
"""


def test_sigkill_then_resume_completes_the_same_run(tmp_path):
    rig = default_rig(base_dir=tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUNNER, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    while proc.stdout.readline().strip() != "9":
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()

    with open_store(tmp_path) as store:
        assert store.incomplete_runs() == [run_id]
        recorder = RunRecorder.resume(rig, store, run_id[:12], clock=fake_clock())
        assert recorder.attempt == 2
        todo = recorder.pending()
        assert len(todo) == len(rig.planned()) - 10
        run_plan(recorder)
        assert recorder.finish() is RunOutcome.PASS
        run = store.load_run(run_id)
        assert store.incomplete_runs() == []
    assert run.status is RunStatus.FINISHED and run.attempts == 2
    attempts = sorted(s.attempt for d in run.duts for s in d.steps)
    assert attempts == [1] * 10 + [2] * (len(rig.planned()) - 10)
    assert all(s.outcome is StepOutcome.PASS for d in run.duts for s in d.final_steps())


def test_a_plan_that_stopped_short_is_not_a_pass(tmp_path, bench):
    with open_store(tmp_path) as store:
        recorder = RunRecorder.start(bench, store, clock=fake_clock())
        for plan_step, dut_id in recorder.pending()[:3]:
            recorder.end_step(recorder.begin_step(plan_step, dut_id))
        assert recorder.finish() is RunOutcome.ERROR
        (detail,) = store.load_run(recorder.record.run_id).details
    assert detail.code == "not-run"
    assert detail.description.startswith(f"{len(bench.planned()) - 3} planned steps never ran: ")
