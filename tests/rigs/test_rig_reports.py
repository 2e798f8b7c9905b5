"""Reports: JUnit against the Jenkins schema, self-contained HTML, per-DUT JSON, evidence packs, outputs."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from rigs_testlib import JUNIT_XSD, check_self_contained

from rigs.exceptions import OutputError
from rigs.outputs import (
    EvidencePackOutput,
    HtmlReportOutput,
    JsonRecordsOutput,
    JunitOutput,
    outputs_for,
    run_outputs,
)
from rigs.records import Event, EventKind, OutcomeDetail, RunRecord, StepOutcome, StepRecord
from rigs.reports import html_report, junit_xml, ota_throughput
from rigs.reports.svg import MAX_POINTS, downsample
from rigs.rigfile import Outputs
from rigs.store import open_store


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(JUNIT_XSD)


def mixed_run(make_run, bench) -> RunRecord:
    """A run with every kind of step outcome: PASS, FAIL, ERROR, TIMEOUT, SKIPPED."""
    run = make_run(bench, fail_ota_on="ppmid", error_on="gsme")
    esme = run.dut("esme")
    esme.step("alerts").outcome = StepOutcome.TIMEOUT
    esme.step("alerts").details.append(OutcomeDetail("timeout", "no alert within 300 s"))
    esme.step("cot").outcome = StepOutcome.SKIPPED
    run.finish()
    return run


def test_junit_validates_and_maps_outcomes(make_run, bench, junit_schema):
    run = mixed_run(make_run, bench)
    data = junit_xml(run)
    junit_schema.validate(data.decode())
    root = ET.fromstring(data)
    suites = {s.get("id"): s for s in root.iter("testsuite")}
    assert set(suites) == {"esme", "gsme", "ihd", "ppmid", "hcalcs"}
    cases = {(s.get("id"), c.get("name")): c for s in suites.values() for c in s.iter("testcase")}
    assert len(cases) == len(bench.planned()) == int(root.get("tests"))
    fail = cases[("ppmid", "03-ota")].find("failure")
    assert fail is not None and "ota_throughput" in fail.get("message") and "32.0" in fail.text
    assert cases[("gsme", "00-join")].find("error").get("type") == "ERROR"
    assert "radio-lost" in cases[("gsme", "00-join")].find("error").get("message")
    assert cases[("esme", "11-alerts")].find("error").get("type") == "TIMEOUT"
    assert cases[("esme", "12-cot")].find("skipped") is not None
    passed = cases[("ihd", "03-ota")]
    assert list(passed) and all(child.tag == "system-out" for child in passed)
    assert "PASS ota_throughput" in passed.find("system-out").text
    assert (suites["esme"].get("failures"), suites["esme"].get("errors"), suites["esme"].get("skipped")) == (
        "0", "1", "1")
    assert (root.get("failures"), root.get("errors")) == ("1", "2")
    # the simulated bench's TEST-ONLY PKI is marked in every suite's properties, as in the HTML banner
    for suite in suites.values():
        marks = {p.get("name"): p.get("value") for p in suite.iter("property")}["test_only"]
        assert marks.startswith("TEST-ONLY: ") and "bench's TEST-ONLY SMKI PKI" in marks


def test_junit_of_an_unfinished_run_reports_unrun_steps_as_errors(make_run, bench, junit_schema):
    run = make_run(bench, stop_after=4)
    data = junit_xml(run)
    junit_schema.validate(data.decode())
    root = ET.fromstring(data)
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert len(errors) == len(bench.planned()) - 4
    assert all(c.find("error").get("type") == "NOT_RUN" for c in errors)
    assert "running" in errors[0].find("error").get("message")


def test_junit_survives_hostile_text(make_run, bench, junit_schema):
    run = make_run(bench)
    step = run.dut("ihd").step("join")
    step.outcome = StepOutcome.FAIL
    step.details.append(OutcomeDetail("garbage", "device said \x00\x07<b>&\"'\x1b]"))
    data = junit_xml(run)
    junit_schema.validate(data.decode())
    assert "garbage" in ET.fromstring(data).find(".//failure").get("message")


def test_html_report_is_self_contained_and_has_every_dut(make_run, bench):
    run = mixed_run(make_run, bench)
    text = html_report(run, ota_limit_bps=1200.0)
    page = check_self_contained(text)
    assert page.duts == [d.id for d in run.duts]
    assert page.tags.count("svg") == 3
    assert "modelled limit 1200 B/s" in text and 'class="limit"' in text
    assert "throttle: 10 per 60 s" in text  # the default bench's alert policy, read from the rig snapshot
    for dut in ("ihd", "ppmid", "hcalcs"):
        assert f'data-series="{dut}"' in text
    assert "out of limits: ota_throughput" in text
    assert text.count('class="o FAIL"') >= 2


def test_html_report_escapes_what_devices_say(make_run, bench):
    run = make_run(bench)
    run.dut("ihd").model = "<script>alert(1)</script>"
    text = html_report(run)
    assert "<script>" not in text and "&lt;script&gt;" in text
    check_self_contained(text)


def test_plot_series():
    samples = ((0, 0), (2, 256), (4, 512), (5, 0), (7, 64))
    ota = [Event(t, EventKind.OTA_PROGRESS, {"offset": o}) for t, o in samples]
    assert ota_throughput(ota) == [(2, 128.0), (4, 128.0), (7, 32.0)]  # the restart at t=5 is not negative


def test_json_records_per_dut(tmp_path, make_run, bench):
    run = make_run(bench, fail_ota_on="ppmid")
    JsonRecordsOutput(tmp_path)(run)
    files = sorted((tmp_path / run.run_id).glob("*.json"))
    assert [f.stem for f in files] == sorted(d.id for d in run.duts)
    doc = json.loads((tmp_path / run.run_id / "ihd.json").read_text())
    assert doc["schema"] == "hanrig.dut-record/1"
    assert doc["dut"]["eui64"] == "00:0d:6f:00:0a:bc:00:03"
    assert (doc["dut"]["firmware_before"], doc["dut"]["firmware_before_int"]) == ("0x00010000", 0x00010000)
    assert doc["dut"]["firmware_after"] == "0x00020000"
    assert doc["outcome"] == "PASS" and doc["run"]["outcome"] == "FAIL"
    ota = next(s for s in doc["steps"] if s["name"] == "ota")
    assert ota["measurements"][0] == {
        "name": "ota_throughput", "value": 1024.0, "units": "B/s", "limits": "x >= 500",
        "validator": {"kind": "in_range", "low": 500, "high": None, "marginal_low": 800,
                      "marginal_high": None},
        "outcome": "PASS", "marginal": False, "description": "mean block rate"}
    assert doc["rig_snapshot"] == run.rig_snapshot
    assert any("TEST-ONLY SMKI PKI" in mark for mark in doc["run"]["test_only"])  # the HTML banner's marks
    assert json.loads((tmp_path / run.run_id / "ppmid.json").read_text())["outcome"] == "FAIL"


def test_evidence_pack_per_dut(tmp_path, make_run, bench):
    run = make_run(bench, fail_ota_on="ppmid")
    EvidencePackOutput(tmp_path)(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.id for d in run.duts)
    ihd = json.loads((tmp_path / "ihd" / "evidence.json").read_text())
    assert ihd["device"]["model"] == "sim-IHD" and ihd["device"]["image_hash"] == "ab" * 32
    assert (ihd["device"]["firmware_before"], ihd["device"]["firmware_after"]) == ("0x00010000", "0x00020000")
    assert ihd["transfer"]["outcome"] == "PASS" and ihd["certificate_checks"] is None
    (attachment,) = ihd["attachments"]
    copied = (tmp_path / "ihd" / attachment["file"]).read_bytes()
    assert hashlib.sha256(copied).hexdigest() == attachment["sha256"]
    ppmid = json.loads((tmp_path / "ppmid" / "evidence.json").read_text())
    assert ppmid["transfer"]["outcome"] == "FAIL" and ppmid["device"]["firmware_after"] is None
    esme = json.loads((tmp_path / "esme" / "evidence.json").read_text())
    assert [c["check"] for c in esme["certificate_checks"]] == ["chain_valid", "network_operator_entity_id"]
    assert all(c["outcome"] == "PASS" for c in esme["certificate_checks"])
    html = (tmp_path / "esme" / "evidence.html").read_text()
    check_self_contained(html)
    assert "network_operator_entity_id" in html and "00:0d:6f:00:0a:bc:00:01" in html
    # the conditions come with the evidence: simulated devices holding the bench's TEST-ONLY PKI
    assert esme["conditions"]["kind"] == "simulated" and 'data-conditions="simulated"' in html
    assert "TEST-ONLY" in html and "Sign-off" in html


def test_outputs_from_a_rig_write_everything(tmp_path, make_run, bench):
    run = make_run(bench)
    outputs = Outputs(results=str(tmp_path / "results"), junit=tmp_path / "out/junit.xml",
                      html=tmp_path / "out/report.html", json_dir=tmp_path / "out/records",
                      evidence_dir=tmp_path / "out/evidence")
    callbacks = outputs_for(outputs, ota_limit_bps=900.0)
    assert [name.split()[0] for name, _ in callbacks] == ["store", "json", "junit", "html", "evidence"]
    run_outputs(run, callbacks)
    assert (tmp_path / "out/junit.xml").exists() and (tmp_path / "out/report.html").exists()
    assert (tmp_path / "out/evidence/ihd/evidence.html").exists()
    with open_store(tmp_path / "results", create=False) as store:
        assert store.load_run(run.run_id).outcome == run.outcome


def test_a_failed_output_fails_the_run_but_the_others_still_write(tmp_path, make_run, bench):
    run = make_run(bench)
    blocker = tmp_path / "report.html"
    blocker.mkdir()  # a directory where the report file should go
    callbacks = [("html", HtmlReportOutput(blocker)), ("json", JsonRecordsOutput(tmp_path / "records")),
                 ("junit", JunitOutput(tmp_path / "junit.xml"))]
    with pytest.raises(OutputError) as info:
        run_outputs(run, callbacks)
    assert info.value.exit_code != 0
    assert [name for name, _ in info.value.failures] == ["html"]
    assert "output html failed" in str(info.value) and "\n" not in str(info.value)
    assert (tmp_path / "records" / run.run_id / "ihd.json").exists()
    assert (tmp_path / "junit.xml").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no staging files left behind


def test_an_unfinished_step_is_shown_as_running(make_run, bench):
    run = make_run(bench, stop_after=2)
    run.dut("esme").steps.append(StepRecord("inventory", 1, "esme", start=run.start + 50))
    text = html_report(run)
    check_self_contained(text)
    assert 'class="o running"' in text and "NOT_RUN" in text


def test_long_series_are_downsampled_keeping_their_shape():
    points = [(float(t), 1000.0 if t < 5000 else 0.0) for t in range(10_000)]
    short = downsample(points)
    assert len(short) == MAX_POINTS
    assert short[0][1] == 1000.0 and 0 <= short[0][0] < len(points) / MAX_POINTS
    assert short[-1][1] == 0.0 and short[len(short) // 2 - 1][1] == 1000.0
    assert downsample(points[:10]) == points[:10]


def test_gas_plot_puts_each_value_at_its_timestamp_coloured_by_clock_status():
    from rigs.records import DutRecord, Event, EventKind
    from rigs.reports.html import GAS_COLOURS, gas_points

    dut = DutRecord("gsme", "GSME", "00:0d:6f:00:0a:bc:00:02")
    for i, status in enumerate(("reliable", "unreliable", "invalid")):
        dut.events.append(Event(1000.0 + i, EventKind.GAS_READING,
                                {"clock_status": status, "value": 1.5 + i,
                                 "timestamp": f"2026-01-01T00:0{i}:00+00:00"}, "gsme"))
    points, colours = gas_points(dut)
    assert [x for x, _ in points] == [1767225600.0, 1767225660.0, 1767225720.0]  # the values' own times
    assert [y for _, y in points] == [1.5, 2.5, 3.5]
    assert colours == [GAS_COLOURS["reliable"], GAS_COLOURS["unreliable"], GAS_COLOURS["invalid"]]


def test_every_step_kind_names_the_requirement_it_evidences():
    from rigs.requirements import REQUIREMENTS, STEP_REQUIREMENTS
    from rigs.rigfile import StepKind

    assert {kind.value for kind in StepKind} <= set(STEP_REQUIREMENTS)
    assert all(r in REQUIREMENTS for ids in STEP_REQUIREMENTS.values() for r in ids)
