"""The README's main job, end to end through the CLI: ``hanrig rig run`` with no rig file runs the
built-in simulated bench; every step passes, on virtual time, and the store and reports exist and parse.
Also: a run killed with SIGKILL leaves a consistent store that ``--resume`` completes, and Ctrl-C
(SIGINT) records the run as ABORTED."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import xmlschema

from rigs.records import RunOutcome, RunStatus, StepOutcome
from rigs.rigfile import default_rig
from rigs.store import open_store

HANRIG = [sys.executable, "-c", "from gateway.cli import main; main()"]
JUNIT_XSD = Path(__file__).parent / "rigs" / "data" / "junit-10.xsd"


def hanrig(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HANRIG_RESULTS", "HANRIG_RIG", "HANRIG_RADIO")}
    return subprocess.run([*HANRIG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


class DutCells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.duts: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "data-dut" and value:
                self.duts.add(value)


def test_the_main_job_on_the_simulated_bench(tmp_path):
    started = time.monotonic()
    proc = hanrig(tmp_path, "rig", "run", "--junit", "out/junit.xml", "--html", "out/report.html", "--json")
    wall = time.monotonic() - started
    document = json.loads(proc.stdout)
    bench = default_rig()
    assert document["rig"] == bench.name
    assert [d["id"] for d in document["duts"]] == [d.id for d in bench.devices]
    planned = set(bench.planned())  # (device, step index, name): the ESME has two ota and two cs06 steps
    ran = {(d["id"], s["index"], s["name"]): s for d in document["duts"] for s in d["steps"]}
    assert set(ran) == planned  # every planned step ran, for every device it applies to
    not_passed = {key: s for key, s in ran.items() if s["outcome"] not in ("PASS", "SKIPPED")}
    skipped = {key for key, s in ran.items() if s["outcome"] == "SKIPPED"}
    # only steps that do not apply to a device's kind are skipped, each with its reason
    assert {(d, name) for d, _, name in skipped} <= {(d, "cot") for d in ("ihd", "ppmid", "hcalcs")}
    assert all(ran[key]["summary"] for key in skipped)
    assert wall < 60, f"the main job took {wall:.1f} s of wall time"

    # the store holds the finished run, as the JSON says
    with open_store(tmp_path / "hanrig-results", create=False) as store:
        record = store.load_run(document["run_id"])
    assert record.status is RunStatus.FINISHED and str(record.outcome) == document["outcome"]
    ota = record.dut("ihd").step("ota")
    assert ota.outcome is StepOutcome.PASS and record.dut("ihd").firmware_after == 0x00010100
    assert {m.name for m in record.dut("esme").step("certs").measurements} >= {"secmp0063", "checks_failed"}
    assert record.dut("esme").step("alerts").outcome is StepOutcome.PASS
    # SECMP0024: the ESME held each image pushed over the HAN, then a CS06 activated it: 0x00010100 at
    # once, 0x00010200 ten minutes on (virtual clock), answered by the meter's 8F66 alert
    esme = record.dut("esme")
    pushes = [s for s in esme.steps if s.name == "ota"]
    assert [{m.name: m.value for m in s.measurements}["ota_phase"] for s in pushes] == ["held", "held"]
    now, later = ({m.name: m for m in s.measurements} for s in esme.steps if s.name == "cs06")
    assert now["firmware_version_before"].value == 0x00010000
    assert now["firmware_version_after"].value == 0x00010100
    assert "cs06_alert_code" not in now and now["cs06_outcome"].value == "success"
    assert (later["cs06_alert_code"].value, later["cs06_outcome"].value) == (0x8F66, "success")
    assert later["firmware_version_after"].value == 0x00010200 and later["sim_duration_s"].value >= 600
    assert (esme.firmware_before, esme.firmware_after) == (0x00010000, 0x00010200)
    # SECMP0015: one GCS13a per clock scenario, the GSME's clock set through the simulator control, each
    # grouping header carrying its scenario's clock status (GPF 0x00, unreliable 0x02, GSME 0x04)
    gas = {m.name: m for m in record.dut("gsme").step("gas").measurements}
    for scenario, octet in (("reliable_gpf", "0x00"), ("unreliable", "0x02"), ("reliable_gsme", "0x04")):
        status = gas[f"gcs13a_clock_status_{scenario}"]
        assert status.value == octet and str(status.outcome) == "PASS", (scenario, status)
        assert gas[f"gcs13a_mac_{scenario}"].value == "valid"

    # the reports exist and parse: JUnit against the Jenkins schema, one testcase per DUT x step
    junit = tmp_path / "out" / "junit.xml"
    xmlschema.XMLSchema(JUNIT_XSD).validate(str(junit))
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == len(planned)
    page = DutCells()
    page.feed((tmp_path / "out" / "report.html").read_text())
    assert page.duts == {d.id for d in bench.devices}
    exported = hanrig(tmp_path, "results", "export", document["run_id"], "--format", "json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["run"]["run_id"] == document["run_id"]

    assert not not_passed, not_passed
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert document["outcome"] == "PASS"


SLOW_RIG = '''
[rig]
name = "slow-bench"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"

[[devices]]
id = "ppmid"
role = "PPMID"
eui64 = "00:0d:6f:00:0a:bc:00:04"

[sim]
clock = "{clock}"

[[plan.steps]]
step = "join"

[[plan.steps]]
step = "ota"

[[plan.steps]]
step = "inventory"

[outputs]
results = "results"
'''


def start_run(tmp_path: Path, clock: str) -> tuple[subprocess.Popen[str], Path]:
    rig = tmp_path / "rig.toml"
    rig.write_text(SLOW_RIG.format(clock=clock))
    env = {k: v for k, v in os.environ.items() if k not in ("HANRIG_RESULTS",)}
    proc = subprocess.Popen([*HANRIG, "rig", "run", str(rig), "--json"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, rig


def wait_for_steps(results: Path, proc: subprocess.Popen[str], count: int, timeout: float = 60) -> str:
    """Wait until the running run has ``count`` steps committed; returns its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (results / "results.db").exists():
            with open_store(results, create=False) as store:
                runs = store.list_runs()
                if runs and sum(runs[0].steps.values()) >= count:
                    return runs[0].run_id
        time.sleep(0.02)
    raise AssertionError("the run never committed its first steps")


def test_sigkill_leaves_a_consistent_store_and_resume_completes_the_run(tmp_path):
    # real time, so the run is still going when the test kills it
    proc, rig = start_run(tmp_path, "real")
    run_id = wait_for_steps(tmp_path / "results", proc, 2)
    proc.kill()
    proc.wait(timeout=30)
    with open_store(tmp_path / "results", create=False) as store:
        (summary,) = store.list_runs()
        assert summary.status is RunStatus.INCOMPLETE  # a dead writer: the run is marked incomplete
        before = store.load_run(run_id)
    assert all(s.outcome is StepOutcome.PASS for d in before.duts for s in d.steps if s.name == "join")
    # resume on virtual time: only what did not pass is run, in the same run
    text = rig.read_text().replace('clock = "real"', 'clock = "virtual"')
    rig.write_text(text)
    resumed = hanrig(tmp_path, "rig", "run", str(rig), "--resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    document = json.loads(resumed.stdout)
    assert document["run_id"] == run_id and document["attempt"] == 2 and document["outcome"] == "PASS"
    with open_store(tmp_path / "results", create=False) as store:
        after = store.load_run(run_id)
    assert after.status is RunStatus.FINISHED and after.outcome is RunOutcome.PASS
    for dut in after.duts:
        assert [s.attempt for s in dut.steps if s.name == "join"] == [1]  # passed before: not re-run
        assert [s.outcome for s in dut.final_steps()] == [StepOutcome.PASS] * 3


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_records_the_run_as_aborted(tmp_path):
    proc, _ = start_run(tmp_path, "real")
    run_id = wait_for_steps(tmp_path / "results", proc, 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert f"run {run_id}: aborted by the operator; resume it with --resume {run_id}" in stderr
    with open_store(tmp_path / "results", create=False) as store:
        record = store.load_run(run_id)
    assert record.status is RunStatus.FINISHED and record.outcome is RunOutcome.ABORTED
    open_steps = [s for d in record.duts for s in d.steps if s.outcome is StepOutcome.ABORTED]
    assert open_steps and all(s.details[0].code == "aborted" for s in open_steps)
