"""The record model: measurement outcomes come from values, step and run outcomes from what happened."""

from __future__ import annotations

import dataclasses

import pytest

from rigs.records import (
    Attachment,
    Equals,
    InRange,
    Matches,
    Measurement,
    MeasurementOutcome,
    MeasurementSpec,
    OneOf,
    OutcomeDetail,
    RunOutcome,
    RunStatus,
    StepOutcome,
    StepRecord,
    validator_from_dict,
    worst,
)

RATE = MeasurementSpec("ota_throughput", "B/s", InRange(low=500, high=5000, marginal_low=800))


@pytest.mark.parametrize("value,outcome,marginal", [
    (1200.0, MeasurementOutcome.PASS, False),
    (700, MeasurementOutcome.PASS, True),      # inside the limits, near the low edge
    (499.9, MeasurementOutcome.FAIL, False),
    (5000.1, MeasurementOutcome.FAIL, False),
    ("fast", MeasurementOutcome.FAIL, False),  # not a number at all
    (True, MeasurementOutcome.FAIL, False),    # bool is not a throughput
    (float("nan"), MeasurementOutcome.FAIL, False),
    (None, MeasurementOutcome.UNSET, False),
])
def test_in_range_outcome_is_computed(value, outcome, marginal):
    m = RATE.measure(value)
    assert (m.outcome, m.marginal) == (outcome, marginal)


def test_outcome_cannot_be_set_by_hand():
    with pytest.raises(TypeError):
        Measurement("x", 1, outcome=MeasurementOutcome.PASS)  # type: ignore[call-arg]
    m = RATE.measure(10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.outcome = MeasurementOutcome.PASS  # type: ignore[misc]


@pytest.mark.parametrize("validator,good,bad", [
    (Equals(0x00020000), 0x00020000, 0x00010000),
    (Equals(True), True, 1),  # 1 is not True for a certificate check
    (OneOf(("synchronised", "drifting")), "drifting", "absent"),
    (Matches(r"[0-9a-f]{64}"), "ab" * 32, "AB" * 32),
    (InRange(high=30), 29.5, 31),
])
def test_validators(validator, good, bad):
    spec = MeasurementSpec("m", "", validator)
    assert spec.measure(good).outcome is MeasurementOutcome.PASS
    assert spec.measure(bad).outcome is MeasurementOutcome.FAIL
    rebuilt = validator_from_dict(validator.to_dict())
    assert rebuilt == validator
    assert validator.describe()


def test_in_range_refuses_nonsense_limits():
    with pytest.raises(ValueError):
        InRange()
    with pytest.raises(ValueError):
        InRange(low=10, high=1)


def test_measurement_without_validator_is_informational():
    m = MeasurementSpec("lqi", "").measure(200)
    assert m.outcome is MeasurementOutcome.PASS and m.limits == ""
    assert Measurement.from_dict(m.to_dict()) == m


def test_step_cannot_pass_with_a_failed_measurement():
    step = StepRecord("ota", 2, "ihd", start=100.0)
    step.measure(RATE, 100.0)
    assert step.finish(StepOutcome.PASS, end=110.0) is StepOutcome.FAIL
    assert step.details[-1].code == "measurement-failed"
    assert "ota_throughput" in step.summary() and "100.0" in step.summary()
    assert step.duration == 10.0


def test_step_keeps_rig_errors_and_timeouts():
    step = StepRecord("join", 0, "ihd", start=0.0)
    step.measure(RATE, 100.0)
    assert step.finish(StepOutcome.ERROR, OutcomeDetail("radio", "stick reset"), end=1.0) is StepOutcome.ERROR
    other = StepRecord("join", 0, "gsme", start=0.0)
    assert other.finish(StepOutcome.TIMEOUT, end=1.0) is StepOutcome.TIMEOUT
    passed = StepRecord("join", 0, "esme", start=0.0)
    passed.measure(RATE, 1000.0)
    assert passed.finish(end=1.0) is StepOutcome.PASS


def test_worst_outcome_order():
    assert worst([]) is RunOutcome.SKIPPED
    assert worst([StepOutcome.PASS, StepOutcome.SKIPPED]) is RunOutcome.PASS
    assert worst([StepOutcome.PASS, StepOutcome.FAIL]) is RunOutcome.FAIL
    assert worst([StepOutcome.FAIL, StepOutcome.TIMEOUT]) is RunOutcome.TIMEOUT
    assert worst([StepOutcome.FAIL, StepOutcome.ERROR]) is RunOutcome.ERROR
    assert worst([StepOutcome.ERROR, StepOutcome.ABORTED]) is RunOutcome.ABORTED


def test_run_outcome_comes_from_duts(bench, make_run):
    build_run = make_run
    assert build_run(bench).outcome is RunOutcome.PASS
    failed = build_run(bench, fail_ota_on="ihd")
    assert failed.outcome is RunOutcome.FAIL
    assert failed.dut("ihd").outcome is RunOutcome.FAIL
    assert failed.dut("ppmid").outcome is RunOutcome.PASS
    assert build_run(bench, fail_ota_on="ihd", error_on="gsme").outcome is RunOutcome.ERROR
    partial = build_run(bench, stop_after=3)
    assert partial.status is RunStatus.RUNNING and partial.outcome is None


def test_final_steps_take_the_latest_attempt(finished_run):
    dut = finished_run.dut("ihd")
    retry = StepRecord("ota", 2, "ihd", start=dut.step("ota").start + 100, attempt=2)
    retry.measure(RATE, 10.0)
    retry.finish(end=retry.start + 1)
    dut.steps.append(retry)
    assert dut.step("ota") is retry
    assert dut.outcome is RunOutcome.FAIL
    assert len([s for s in dut.final_steps() if s.index == 2]) == 1


def test_attachment_needs_exactly_one_source(tmp_path):
    with pytest.raises(ValueError):
        Attachment("a", "text/plain")
    with pytest.raises(ValueError):
        Attachment("a", "text/plain", data=b"x", path=tmp_path / "x")
    file = tmp_path / "trace.bin"
    file.write_bytes(b"\x01\x02")
    attachment = Attachment("trace", "application/octet-stream", path=file)
    assert attachment.read() == b"\x01\x02" and attachment.size == 2
