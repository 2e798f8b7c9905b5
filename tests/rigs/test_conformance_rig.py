"""The conformance example rig end to end through ``hanrig rig run``: the ota_negative step (SECMP0007)
and an operator prompt, unattended on sim:// (the simulator answers the prompt); every case is a
measurement naming its clause, and a permissive client fails each case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rigs.records import StepOutcome
from rigs.store import open_store

EXAMPLE = Path(__file__).resolve().parents[2] / "rigs" / "examples" / "conformance.toml"
HANRIG = [sys.executable, "-c", "from gateway.cli import main; main()"]


def run_rig(tmp_path: Path, rig: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], object]:
    env = {k: v for k, v in os.environ.items() if k not in ("HANRIG_RESULTS", "HANRIG_RIG", "HANRIG_RADIO")}
    proc = subprocess.run([*HANRIG, "rig", "run", str(rig), "--results", str(tmp_path / "results"), "--json",
                           *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    run_id = json.loads(proc.stdout)["run_id"]
    with open_store(str(tmp_path / "results")) as store:
        return proc, store.load_run(run_id)


def test_every_case_passes_and_names_its_clause(tmp_path):
    proc, run = run_rig(tmp_path, EXAMPLE, "--operator", "Ada Lovelace", "--serial", "ihd=IHD-0042",
                        "--html", "report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run.operator == "Ada Lovelace" and run.dut("ihd").metadata["serial"] == "IHD-0042"
    assert run.dut("hcalcs").metadata["serial"] == "HCALCS-SIM-0005"  # from the rig file
    report = (tmp_path / "report.html").read_text()
    assert "IHD-0042" in report and 'data-requirement="SECMP0007"' in report
    assert "negative_power_loss" in report and "SECMP0007, ZCL 11.11" in report
    for dut in run.duts:
        negative = dut.step("ota_negative")
        assert negative.outcome is StepOutcome.PASS
        measured = {m.name: m for m in negative.measurements if m.name != "sim_duration_s"}  # the clock's
        assert len(measured) == 8
        assert measured["negative_hardware_out_of_range"].value == "upgrade-end-invalid-image"
        assert measured["negative_wrong_manufacturer"].value == "not-requested"
        assert measured["negative_power_loss"].value == "aborted"
        assert all(m.description.startswith("SECMP0007, ") for m in measured.values())
        prompt = dut.step("prompt")
        assert prompt.outcome is StepOutcome.PASS
        assert any("press the join button" in d.description and "simulator" in d.description
                   for d in prompt.details)
        assert dut.step("ota").outcome is StepOutcome.PASS  # the good image still goes in afterwards


def test_a_permissive_client_fails_the_step_for_each_case(tmp_path):
    head, _, _ = EXAMPLE.read_text().partition('[[devices]]\nid = "ppmid"')  # the IHD alone
    _, _, policies = EXAMPLE.read_text().partition("[sim]")
    text = (head + "[sim]" + policies).replace("[devices.sim]\n", '[devices.sim]\nota_fault = "permissive"\n')
    text = text.replace("../../firmware_images", str(EXAMPLE.parents[2] / "firmware_images"))
    rig = tmp_path / "permissive.toml"
    rig.write_text(text)
    proc, run = run_rig(tmp_path, rig)
    assert proc.returncode == 1, proc.stderr[-3000:]
    negative = run.dut("ihd").step("ota_negative")
    assert negative.outcome is StepOutcome.FAIL
    failed = {m.name: m.value for m in negative.measurements if str(m.outcome) == "FAIL"}
    assert len(failed) == 8 and failed["negative_power_loss"] == "runs-partial-image"
    assert failed["negative_truncated"] == failed["negative_unknown_supplier"] == "upgrade-end-success"
