"""Install codes (issue 13) end to end: rig files, the ``join`` step, ``hanrig devices permit`` on sim://
and through the virtual EZSP stick with unmodified bellows (its transient link key).

The code is the Zigbee specification's install code example (83FED3407A939723A5C639B26916D505 C3B5).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from rigs.exceptions import RigFileError
from rigs.records import RunOutcome, StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import RunOptions, run_rig

CODE = "83FED3407A939723A5C639B26916D505C3B5"
PPMID = "00:0d:6f:00:0a:bc:00:04"
IHD = "00:0d:6f:00:0a:bc:00:03"


def rig_text(*, code: str = CODE, wrong: bool = False) -> str:
    fault = "\n[devices.sim]\nwrong_install_code = true\n" if wrong else ""
    return f'''
[rig]
name = "install-codes"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "ppmid"
role = "PPMID"
eui64 = "{PPMID}"
install_code = "{code}"
{fault}
[[devices]]
id = "ihd"
role = "IHD"
eui64 = "{IHD}"

[[plan.steps]]
step = "join"
permit_s = 30

[outputs]
results = "results"
'''


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return int(info.value.code), out, err


@pytest.mark.parametrize(("code", "needle"), [
    (CODE[:-1] + "4", "CRC C3B4 does not match the code (expected C3B5)"),
    (CODE[:10], "5 bytes; an install code is 6, 8, 12 or 16 bytes plus a 2-byte CRC"),
])
def test_rig_file_names_a_bad_install_code(tmp_path: Path, code: str, needle: str) -> None:
    with pytest.raises(RigFileError, match="install_code") as info:
        parse_rig(rig_text(code=code), tmp_path / "rig.toml")
    assert needle in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("wrong", [False, True], ids=["right-code", "wrong-code-fault"])
def test_join_step_uses_the_install_code_key(tmp_path: Path, wrong: bool) -> None:
    path = tmp_path / "rig.toml"
    path.write_text(rig_text(wrong=wrong))
    result = run_rig(parse_rig(path.read_text(), path), RunOptions(), progress_stream=io.StringIO(),
                     tty=False)
    steps = {d.id: s for d in result.record.duts for s in d.final_steps()}
    assert steps["ihd"].outcome is StepOutcome.PASS          # no install code: joins as before
    if not wrong:
        assert result.outcome is RunOutcome.PASS and steps["ppmid"].outcome is StepOutcome.PASS
    else:
        assert steps["ppmid"].outcome is StepOutcome.FAIL
        assert "did not join within 30 s with the key of its install code" in steps["ppmid"].summary()


@pytest.mark.parametrize("wrong", [False, True], ids=["right-code", "wrong-code-fault"])
def test_devices_permit_on_sim(tmp_path: Path, capsys, wrong: bool) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(wrong=wrong))
    code, out, err = cli(["devices", "permit", "--radio", f"sim://?rig={rig}", "--install-code",
                          f"{PPMID}:{CODE}", "--duration", "20", "--json"], capsys)
    doc = json.loads(out)
    assert doc["install_codes"] == [PPMID]
    if wrong:
        assert code == 1 and f"{PPMID} did not join with the key of its install code" in err
        assert doc["joined"] == [] and doc["not_joined"] == [PPMID]
    else:
        assert code == 0 and [j["eui64"] for j in doc["joined"]] == [PPMID] and doc["not_joined"] == []


def test_devices_permit_without_the_code_keeps_the_device_out(tmp_path: Path, capsys) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text())
    code, out, _ = cli(["devices", "permit", "--radio", f"sim://?rig={rig}", "--duration", "10", "--json"],
                       capsys)
    assert code == 0 and json.loads(out)["joined"] == []   # the PPMID waits for its key; the IHD was on


@pytest.mark.parametrize(("arg", "needle"), [
    (f"{PPMID}:{CODE[:-1]}4", "CRC C3B4 does not match the code (expected C3B5)"),
    (f"{PPMID}:83FE", "2 bytes; an install code is"),
    ("00:0d:6f:00:0a:bc:00:0q:" + CODE, "00:0d:6f:00:0a:bc:00:0q"),
    ("1234", "is not EUI64:CODE"),
])
def test_devices_permit_bad_install_code_exits_2(capsys, arg: str, needle: str) -> None:
    code, out, err = cli(["devices", "permit", "--radio", "sim://", "--install-code", arg], capsys)
    assert code == 2 and out == "" and needle in err


BIN = Path(sys.executable).parent


def test_devices_permit_through_the_virtual_stick_with_bellows(tmp_path: Path) -> None:
    """bellows hands the key to the NCP (importTransientKey) and opens the network; the stick's HAN lets the
    PPMID in with that key only."""
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path)}
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text())
    stick = subprocess.Popen([str(BIN / "hanrig"), "sim", "stick", "--rig", str(rig)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        path = stick.stdout.readline().strip()
        done = subprocess.run([str(BIN / "hanrig"), "devices", "permit", "--radio", f"ezsp:{path}",
                               "--install-code", f"{PPMID}:{CODE}", "--duration", "15", "--json"],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert [j["eui64"] for j in doc["joined"]] == [PPMID] and doc["not_joined"] == []
    finally:
        stick.send_signal(signal.SIGTERM)
        stick.communicate(timeout=15)
