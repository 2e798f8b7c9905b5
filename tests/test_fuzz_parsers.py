"""Hypothesis fuzzing of every parser a user's input reaches, through the CLI where it is cheap (issue 15).

Each test mutates a valid input (byte flips, insertions, truncation) or makes one up, feeds it to the
parser the way users do, and asserts a contract exit code (0, 1, 2 or 3) with no traceback and no
"unexpected" error: every failure must be an error hanrig raises on purpose. Example counts stay
modest so the suite stays fast; the seeds vary from run to run, and hypothesis remembers failures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.cli import exit_code_for, main
from hanrig_errors import HanrigError

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted((ROOT / "firmware_images").glob("*.ota"))
DEFAULT_RIG = (ROOT / "rigs" / "examples" / "default.toml").read_text()
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WORK = Path(tempfile.mkdtemp(prefix="hanrig-fuzz-"))


@st.composite
def mutated(draw, originals: list[bytes]) -> bytes:
    """A valid input with a few bytes flipped, inserted or deleted, or cut short."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        if action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code), captured.out, captured.err


def assert_contract(code: int, err: str, args: list[str]) -> None:
    assert code in {0, 1, 2, 3}, (args, code, err)
    assert "Traceback" not in err, (args, err)
    assert "unexpected" not in err, (args, err)  # an error nobody raised on purpose is a parser bug
    assert len([line for line in err.splitlines() if line.startswith("hanrig: error:")]) <= 1, err


def input_file(data: bytes, suffix: str) -> Path:
    path = WORK / f"input{suffix}"
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------ OTA
@FUZZ
@given(mutated([p.read_bytes() for p in IMAGES]))
def test_ota_files(capsys, data):
    path = input_file(data, ".ota")
    for command in (["ota", "inspect", str(path), "--json"], ["ota", "verify", str(path)]):
        code, _, err = run_cli(command, capsys)
        assert_contract(code, err, command)


# -------------------------------------------------------------------------------------- certificates
def _pki_files() -> tuple[list[bytes], list[bytes]]:
    from certs.testpki import make_test_pki

    out = WORK / "pki"
    if not out.exists():
        make_test_pki(out)
    ders = [p.read_bytes() for p in sorted((out / "cert-dirs").glob("esme-*/*.der"))]
    implicit = [p.read_bytes() for p in sorted((out / "cbke").glob("suite*/*.cert"))]
    return ders, implicit


DERS, IMPLICIT = _pki_files()


@FUZZ
@given(mutated(DERS))
def test_certificates(capsys, data):
    path = input_file(data, ".der")
    args = ["certs", "inspect", str(path), "--json"]
    code, _, err = run_cli(args, capsys)
    assert_contract(code, err, args)


@FUZZ
@given(mutated(DERS), st.sampled_from(["supplier-DS-management", "root", "networkOperator-KA-management"]))
def test_certificates_in_cells(capsys, data, cell):
    directory = WORK / "cells"
    directory.mkdir(exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    (directory / f"{cell}.der").write_bytes(data)
    (directory / "device-DS.der").write_bytes(DERS[0])
    args = ["certs", "verify", "--cert-dir", str(directory), "--json"]
    code, _, err = run_cli(args, capsys)
    assert_contract(code, err, args)
    assert code != 0 or data in DERS  # a damaged cell never passes (and a lone cell never does either)


@FUZZ
@given(mutated(IMPLICIT))
def test_implicit_certificates(capsys, data):
    path = input_file(data, ".cert")
    args = ["certs", "inspect", str(path), "--json"]
    code, _, err = run_cli(args, capsys)
    assert_contract(code, err, args)


# -------------------------------------------------------------------------------------------- rig files
VALUES = st.sampled_from(['""', "-1", "0", "1e309", "99999999999999999999", "true", "[]", "{}", '"x"',
                          '"' + "M" * 300 + '"', '"2026-13-45T99:99:99Z"', '"../../etc/passwd"',
                          '"/dev/zero"', "nan", '"0x"', '"zz:zz"', "[1, \"a\"]", '{ a = 1 }'])


@st.composite
def rig_texts(draw) -> str:
    lines = DEFAULT_RIG.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        key, sep, _ = lines[at].partition("=")
        if sep and draw(st.booleans()):
            lines[at] = f"{key}= {draw(VALUES)}"
        elif draw(st.booleans()):
            lines.insert(at, draw(st.sampled_from(["[sim]", "[[faults]]", "kind = \"drop\"", "[devices.sim]",
                                                   "start_time = \"nope\"", "model = \"" + "x" * 40 + "\""])))
        else:
            del lines[at:at + draw(st.integers(1, 3))]
    return "\n".join(lines) + "\n"


@FUZZ
@given(rig_texts())
def test_rig_files(text):
    from hal.sim.config import load_sim_config
    from rigs.rigfile import load_rig

    path = input_file(text.encode(), ".toml")
    for load in (load_rig, load_sim_config):
        try:
            load(path)
        except HanrigError as exc:
            assert exit_code_for(exc) == 2, exc
            assert "\n" not in str(exc) and str(path) in str(exc), exc


# ------------------------------------------------------------------------------------------ radio URLs
URL_PARTS = st.sampled_from(["sim://", "ezsp:", "znp:", "deconz:", "socket://", "ezsp:socket://", "ezsp:///",
                             "/dev/tty", "tcp://", "?", "&", "=", ":", "//", "rig=", "seed=", "clock=",
                             "baudrate=", "flow_control=", "127.0.0.1", "99999", "-1", "65535", "0", "%00",
                             "hardware", "virtual", "radio=", "x", " "])


@settings(max_examples=300, deadline=None)
@given(st.lists(URL_PARTS, min_size=1, max_size=8).map("".join) | st.text(max_size=40))
def test_radio_urls(url):
    import hal

    try:
        parsed = hal.parse_radio_url(url)
    except HanrigError as exc:
        assert exit_code_for(exc) == 2 and "\n" not in str(exc), exc
        return
    if parsed.path.startswith(("socket://", "tcp://")):
        assert 1 <= int(parsed.path.rpartition(":")[2]) <= 65535
