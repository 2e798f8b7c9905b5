"""The rig runner on the simulated bench (virtual time): outcomes with reasons, timeouts, resume,
per-radio concurrency, outputs, and an unreachable radio."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from rigs.exceptions import OutputError
from rigs.records import RunOutcome, StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import LiveProgress, RigUnreachable, RunOptions, run_rig
from rigs.store import open_store

HEAD = '''
[rig]
name = "{name}"

[[radios]]
id = "sim"
url = "sim://"
{radio_extra}

[sim]
seed = 3
'''

FAULTY_DEVICES = '''
[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"
[devices.sim]
credentials_fault = "wrong_network_operator"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
[devices.sim]
clock = "unsynchronised"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
expect = { model = "SIM-IHD", firmware_version = "0x00020000" }

[[devices]]
id = "hcalcs"
role = "HCALCS"
eui64 = "00:0d:6f:00:0a:bc:00:05"
[devices.sim]
load_control = "ignore_events"
'''

FAULTY_PLAN = '''
[[plan.steps]]
step = "join"

[[plan.steps]]
step = "inventory"

[[plan.steps]]
step = "gas"
timeout_s = 2400

[[plan.steps]]
step = "certs"

[[plan.steps]]
step = "loadcontrol"
'''


def make_rig(tmp_path: Path, devices: str, plan: str, name: str = "runner-test", radio_extra: str = ""):
    text = HEAD.format(name=name, radio_extra=radio_extra) + devices + plan + \
        '\n[outputs]\nresults = "results"\njunit = "out/junit.xml"\njson_dir = "out/records"\n'
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return parse_rig(text, path)


def run(rig, **options):
    stream = io.StringIO()
    result = run_rig(rig, RunOptions(**options), progress_stream=stream, tty=False)
    return result, stream.getvalue()


def steps_of(record):
    return {(d.id, s.name): s for d in record.duts for s in d.final_steps()}


def test_injected_faults_give_the_expected_fails_with_reasons(tmp_path):
    rig = make_rig(tmp_path, FAULTY_DEVICES, FAULTY_PLAN)
    result, progress = run(rig)
    steps = steps_of(result.record)
    assert result.outcome is RunOutcome.FAIL
    # every device joined and answered its inventory; the IHD is not on the firmware the rig expects
    assert all(steps[(d, "join")].outcome is StepOutcome.PASS for d in ("esme", "gsme", "ihd", "hcalcs"))
    ihd = steps[("ihd", "inventory")]
    assert ihd.outcome is StepOutcome.FAIL
    assert [m.name for m in ihd.failing_measurements()] == ["firmware_version"]
    assert "firmware_version = 65536" in ihd.summary()
    # an unsynchronised GSME clock: its value is not reliable (SECMP0015)
    gas = steps[("gsme", "gas")]
    assert gas.outcome is StepOutcome.FAIL
    assert "clock_status" in [m.name for m in gas.failing_measurements()]
    assert "clock-status" in {d.code for d in gas.details}
    # the wrong network operator's cells on the ESME: SECMP0063 fails, named by its code
    certs = steps[("esme", "certs")]
    assert certs.outcome is StepOutcome.FAIL
    assert any(d.code.startswith("secmp0063") for d in certs.details), certs.summary()
    assert {m.name for m in certs.failing_measurements()} >= {"secmp0063", "checks_failed"}
    # an HCALCS that ignores load control events
    load = steps[("hcalcs", "loadcontrol")]
    assert load.outcome is StepOutcome.FAIL
    assert "did not acknowledge load control event" in load.summary()
    # the frame trace of the simulated PAN is attached to the steps that talked to the device
    assert any(a.name == "frames.csv" for a in certs.attachments)
    assert "esme    certs: FAIL" in progress
    # reports went out: JUnit and one JSON record per DUT
    assert (tmp_path / "out" / "junit.xml").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "records" / result.record.run_id).iterdir()) == \
        ["esme.json", "gsme.json", "hcalcs.json", "ihd.json"]


GOOD_DEVICES = '''
[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"

[[devices]]
id = "ppmid"
role = "PPMID"
eui64 = "00:0d:6f:00:0a:bc:00:04"
'''


def test_ota_records_progress_events_and_the_new_version(tmp_path):
    rig = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "ota"\n')
    result, progress = run(rig)
    assert result.outcome is RunOutcome.PASS, result.summary()
    for dut in result.record.duts:
        step = dut.step("ota")
        values = {m.name: m.value for m in step.measurements}
        assert values["ota_phase"] == "activated"
        assert values["firmware_version_after"] == 0x00010100
        assert values["bytes_sent"] > 20000 and values["ota_throughput"] > 0
        assert dut.firmware_before == 0x00010000 and dut.firmware_after == 0x00010100
        assert len(dut.image_hash) == 64
        offsets = [e.data["offset"] for e in dut.events if e.kind == "ota_progress"]
        assert len(offsets) > 100 and offsets == sorted(offsets)
        assert dut.events[-1].time <= step.end
    assert "ihd    ota 50%" in progress and "ppmid  ota 100%" in progress


def test_a_step_that_runs_out_of_time_is_timeout_and_the_next_step_still_runs(tmp_path):
    devices = GOOD_DEVICES.split("[[devices]]")[0] + "[[devices]]" + GOOD_DEVICES.split("[[devices]]")[1]
    plan = '[[plan.steps]]\nstep = "ota"\ntimeout_s = 5\n\n[[plan.steps]]\nstep = "inventory"\n'
    result, _ = run(make_rig(tmp_path, devices, plan))
    steps = steps_of(result.record)
    assert steps[("ihd", "ota")].outcome is StepOutcome.TIMEOUT
    assert steps[("ihd", "ota")].details[0].description == "step ota did not end within 5 s"
    assert steps[("ihd", "inventory")].outcome is StepOutcome.PASS
    assert result.outcome is RunOutcome.TIMEOUT


def test_resume_reruns_only_what_did_not_pass(tmp_path):
    rig = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "join"\n\n[[plan.steps]]\nstep = "ota"\n'
                   'timeout_s = 5\n')
    first, _ = run(rig)
    assert first.outcome is RunOutcome.TIMEOUT
    # the same rig with a timeout the transfer fits in: the rig's name and devices are unchanged
    fixed = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "join"\n\n[[plan.steps]]\nstep = "ota"\n'
                     'timeout_s = 600\n')
    second, _ = run(fixed, resume=first.record.run_id[:12])
    assert second.record.run_id == first.record.run_id and second.record.attempts == 2
    assert second.outcome is RunOutcome.PASS
    for dut in second.record.duts:
        attempts = {s.name: [x.attempt for x in dut.steps if x.name == s.name] for s in dut.steps}
        assert attempts == {"join": [1], "ota": [1, 2]}  # join passed the first time: not re-run
    with open_store(tmp_path / "results", create=False) as store:
        stored = store.load_run(first.record.run_id)
    assert stored.outcome is RunOutcome.PASS and stored.attempts == 2


def test_duts_on_one_radio_respect_its_concurrency_limit(tmp_path):
    plan = '[[plan.steps]]\nstep = "inventory"\n\n[[plan.steps]]\nstep = "ota"\n'
    limited, _ = run(make_rig(tmp_path, GOOD_DEVICES, plan, radio_extra="max_concurrent_duts = 1"))
    ihd, ppmid = (limited.record.dut(i).final_steps() for i in ("ihd", "ppmid"))
    first, second = sorted([ihd, ppmid], key=lambda steps: steps[0].start)
    assert second[0].start >= first[-1].end  # one DUT's whole plan before the other's
    free, _ = run(make_rig(tmp_path, GOOD_DEVICES, plan))
    ihd, ppmid = (free.record.dut(i).step("ota") for i in ("ihd", "ppmid"))
    assert ihd.start < ppmid.end and ppmid.start < ihd.end  # overlapping transfers


def test_a_failed_output_raises_after_the_run_is_stored(tmp_path):
    rig = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "join"\n')
    (tmp_path / "out").write_text("a file where the output directory should be")
    with pytest.raises(OutputError, match=r"output junit .* failed"):
        run(rig)
    with open_store(tmp_path / "results", create=False) as store:
        (summary,) = store.list_runs()
    assert summary.outcome is RunOutcome.PASS


def test_an_unreachable_radio_is_stored_as_error_and_raised(tmp_path):
    rig = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "join"\n')
    rig = dataclasses.replace(rig, radios=(dataclasses.replace(rig.radios[0],
                                                               url="ezsp:///dev/hanrig-no-such-tty"),))
    with pytest.raises(RigUnreachable, match="hanrig-no-such-tty"):
        run(rig)
    with open_store(tmp_path / "results", create=False) as store:
        (summary,) = store.list_runs()
        record = store.load_run(summary.run_id)
    assert record.outcome is RunOutcome.ERROR
    assert record.details[0].code == "radio-unreachable"


def test_progress_on_a_terminal_is_one_line_per_dut_redrawn_in_place():
    stream = io.StringIO()
    progress = LiveProgress(["ihd", "gsme"], stream, tty=True, steps={"ihd": 4, "gsme": 4})
    progress.set("ihd", "ota 40%", step=2)
    progress.close()
    drawn = stream.getvalue()
    final = drawn.rsplit("\r", 1)[-1]  # rich's live display: the last frame drawn over the earlier ones
    assert "\x1b[" in drawn  # drawn with cursor moves, not appended
    [ihd] = [line for line in final.splitlines() if "ihd" in line]
    [gsme] = [line for line in final.splitlines() if "gsme" in line]
    assert "ota 40%" in ihd and "waiting" in gsme


def test_outputs_capture_writes_the_runs_han_traffic_as_pcapng(tmp_path):
    from hal.capture import read_pcapng_frames

    rig = make_rig(tmp_path, GOOD_DEVICES, '[[plan.steps]]\nstep = "inventory"\n')
    rig = parse_rig(rig.text + 'capture = "out/han.pcapng"\n', tmp_path / "rig.toml")
    assert rig.outputs.capture == tmp_path / "out" / "han.pcapng"
    result, _ = run(rig)
    assert result.outcome is RunOutcome.PASS, result.summary()
    frames = read_pcapng_frames(rig.outputs.capture)
    assert len(frames) > 20  # joins, interviews and the inventory reads of both devices
    # each step also carries its device's own capture in the store
    for dut in result.record.duts:
        assert [a.name for a in dut.step("inventory").attachments if a.name == "capture.pcapng"]
