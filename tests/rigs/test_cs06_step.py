"""SECMP0024 end to end on sim://: the ``cs06`` rig step. The ESME takes a sample image over the HAN
(ZCL OTA, activation "hold"); CS06s with a wrong hash are refused on the meter (immediate: the response;
future-dated: the 8F67 alert) and the step FAILs naming the outcome; the right hash (the image the hub
transferred) then activates it. Plus the rig-file checks of the step's parameters."""

from __future__ import annotations

import io

import pytest

from rigs.exceptions import RigFileError
from rigs.records import StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import RunOptions, run_rig

WRONG = "00" * 32
RIG = f'''
[rig]
name = "cs06"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"

[sim]
clock = "virtual"

[[plan.steps]]
step = "join"

[[plan.steps]]
step = "ota"
image_version = "0x00010100"
activation = "hold"

[[plan.steps]]
step = "cs06"
image_sha256 = "{WRONG}"

[[plan.steps]]
step = "cs06"
image_sha256 = "{WRONG}"
at = 600
timeout_s = 900

[[plan.steps]]
step = "cs06"

[outputs]
results = "results"
'''


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("cs06") / "rig.toml"
    path.write_text(RIG)
    record = run_rig(parse_rig(RIG, path), RunOptions(), progress_stream=io.StringIO(), tty=False).record
    return [s for d in record.duts for s in d.final_steps()]


def _measured(step) -> dict:
    return {m.name: m.value for m in step.measurements}


def test_a_wrong_hash_is_refused_on_the_meter_and_the_step_fails_naming_it(steps) -> None:
    _join, push, now, later, _right = steps
    assert push.outcome is StepOutcome.PASS and _measured(push)["ota_phase"] == "held"
    assert now.outcome is StepOutcome.FAIL and "cs06-hash_mismatch" in {d.code for d in now.details}
    assert _measured(now)["cs06_outcome"] == "hash_mismatch" and "cs06_alert_code" not in _measured(now)
    assert later.outcome is StepOutcome.FAIL and "cs06-hash_mismatch" in {d.code for d in later.details}
    assert "alert 0x8F67" in later.summary()
    assert _measured(later)["cs06_alert_code"] == 0x8F67 and _measured(later)["sim_duration_s"] >= 600


def test_the_held_image_is_activated_by_its_own_hash(steps) -> None:
    right = steps[-1]
    assert right.outcome is StepOutcome.PASS, right.summary()
    values = _measured(right)
    assert values["cs06_outcome"] == "success"
    assert (values["firmware_version_before"], values["firmware_version_after"]) == (0x00010000, 0x00010100)


@pytest.mark.parametrize(("step", "message"), [
    ('step = "cs06"\nroles = ["IHD"]', "step cs06 does not apply to IHD"),
    (f'step = "cs06"\nimage_sha256 = "{WRONG}"\nimage = "x.ota"', "give image or image_sha256, not both"),
    ('step = "cs06"\nimage_sha256 = "abc"', "is not a SHA-256"),
    ('step = "cs06"\nat = "2026-01-01T00:00:00"', "has no time zone"),
    ('step = "ota"\nimage_version = "0x00010100"\nimage = "x.ota"', "give image or image_version"),
])
def test_bad_cs06_parameters_are_named(tmp_path, step: str, message: str) -> None:
    (tmp_path / "x.ota").write_bytes(b"\0" * 100)
    text = RIG.split("[[plan.steps]]")[0] + f"[[plan.steps]]\n{step}\n"
    with pytest.raises(RigFileError, match=message):
        parse_rig(text, tmp_path / "rig.toml")
