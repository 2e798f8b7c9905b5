"""Test keys stay on the bench, and the CPL is an allow-list checked before a byte is sent (issue 15).

``hanrig ota push`` on a real radio (here: sim:// with the bench check answering "real", as on any
radio but sim:// and the virtual stick) refuses an image signed with the published TEST-ONLY key unless
``--allow-test-keys`` is given, and then says so in its document. With ``--cpl FILE`` an image the CPL
does not list for the device's manufacturer, model and the header's version is refused (exit 1, no
block sent). ``hanrig ota inspect`` prints the Manufacturer Image hash in the CPL's form and marks
TEST-ONLY images. ``hanrig certs verify --radio`` on a real radio refuses to trust the TEST-ONLY chain
(nothing read; a ``test_keys.refused`` check naming the TEST-ONLY SMKI Root) unless ``--allow-test-keys``,
and records the flag in its document; the rig's ``certs`` step does the same (a FAIL naming the root),
and ``rig run --allow-test-keys`` lets it through and logs it in the run. ``ota index`` marks TEST-ONLY
entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certs.testpki import ENTITY_IDS
from gateway import ota as gateway_ota
from gateway.cli import main
from ota import read_image
from ota.cpl import cpl_hash, read_cpl

ROOT = Path(__file__).resolve().parents[2]
IHD_NEW = ROOT / "firmware_images" / "TEST-ONLY-ihd-1234-0101-00010100.ota"
IHD = "00:0d:6f:00:0a:bc:00:03"


def push(capsys, *extra: str) -> tuple[int, dict]:
    with pytest.raises(SystemExit) as info:
        main(["ota", "push", "--radio", "sim://", "--device", IHD, "--no-progress", "--json", *extra])
    return int(info.value.code), json.loads(capsys.readouterr().out)


@pytest.fixture
def real_radio(monkeypatch):
    monkeypatch.setattr(gateway_ota, "is_bench_radio", lambda app, url: False)


def test_a_test_signed_image_is_refused_on_a_real_radio(capsys, real_radio):
    code, doc = push(capsys)
    (outcome,) = doc["devices"]
    assert code == 1 and outcome["reason_code"] == "test-key" and outcome["bytes_sent"] == 0
    assert "--allow-test-keys" in outcome["reason"] and doc["allow_test_keys"] is False


def test_allow_test_keys_pushes_and_says_so(capsys, real_radio):
    code, doc = push(capsys, "--allow-test-keys")
    assert code == 0 and doc["allow_test_keys"] is True and doc["devices"][0]["phase"] == "activated"


def write_cpl(path: Path, version: str, model: str = "SIM-IHD") -> Path:
    digest = cpl_hash(read_image(IHD_NEW.read_bytes()).sha256)
    path.write_text("Manufacturer Identifier,Model Identifier,Firmware Version,Firmware Hash\n"
                    f"1234,{model},{version},{digest}\n")
    return path


@pytest.mark.parametrize("version,model", [("00010200", "SIM-IHD"), ("00010100", "SIM-PPMID")])
def test_an_image_the_cpl_lists_for_something_else_is_refused_before_a_byte(capsys, tmp_path, version, model):
    cpl = write_cpl(tmp_path / "cpl.csv", version, model)
    code, doc = push(capsys, "--cpl", str(cpl))
    (outcome,) = doc["devices"]
    assert code == 1 and outcome["reason_code"] == "cpl" and outcome["bytes_sent"] == 0
    assert "the CPL" in outcome["reason"] and "lists hash" in outcome["reason"]


def test_the_cpl_reads_its_csv_and_bare_hashes(tmp_path):
    cpl = read_cpl(write_cpl(tmp_path / "cpl.csv", "00010100").read_text(), "cpl.csv")
    digest = read_image(IHD_NEW.read_bytes()).sha256
    assert cpl.refusal(digest, manufacturer=0x1234, firmware_version=0x00010100, model="SIM-IHD") is None
    # a relabelled header: same bytes, another version in the (unsigned) header
    assert "lists hash" in cpl.refusal(digest, manufacturer=0x1234, firmware_version=0x00020000,
                                       model="SIM-IHD")
    bare = read_cpl(f"# allow-list\n{digest.upper()}\n", "bare")
    assert bare.refusal(digest, manufacturer=1, firmware_version=2, model=None) is None
    assert "not on the CPL list" in bare.refusal("00" * 32, manufacturer=1, firmware_version=2, model=None)


def test_inspect_prints_the_cpl_hash_and_marks_test_only(capsys):
    with pytest.raises(SystemExit):
        main(["ota", "inspect", str(IHD_NEW), "--json"])
    doc = json.loads(capsys.readouterr().out)
    sha = read_image(IHD_NEW.read_bytes()).sha256
    assert doc["manufacturer_image"]["cpl_hash"] == sha.upper() and doc["test_only"] is True
    with pytest.raises(SystemExit):
        main(["ota", "inspect", str(IHD_NEW)])
    text = capsys.readouterr().out
    assert text.startswith("TEST-ONLY:") and f"CPL hash: {sha.upper()}" in text


ESME = "00:0d:6f:00:0a:bc:00:01"


@pytest.fixture
def real_radio_for_certs(monkeypatch):
    from gateway import certs_service

    monkeypatch.setattr(certs_service, "is_bench_radio", lambda app, url: False)


def verify_over_radio(capsys, *extra: str) -> tuple[int, dict, str]:
    with pytest.raises(SystemExit) as info:
        main(["certs", "verify", "--radio", "sim://", "--device", ESME, "--expect-network-operator",
              ENTITY_IDS["networkOperator"], "--json", *extra])
    captured = capsys.readouterr()
    return int(info.value.code), json.loads(captured.out), captured.err


def test_a_test_chain_is_not_trusted_on_a_real_radio(capsys, real_radio_for_certs):
    code, doc, err = verify_over_radio(capsys)
    assert code == 1 and doc["outcome"] == "fail" and doc["allow_test_keys"] is False and doc["test_only"]
    [check] = doc["checks"]
    assert check["code"] == "test_keys.refused" and "TEST-ONLY SMKI Root" in check["message"]
    assert "--allow-test-keys" in check["message"] and doc["source"]["gbcs"] == []  # nothing was read
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_allow_test_keys_trusts_a_test_chain_on_a_real_radio_and_says_so(capsys, real_radio_for_certs):
    code, doc, _ = verify_over_radio(capsys, "--allow-test-keys")
    assert code == 0 and doc["allow_test_keys"] is True and doc["test_only"] is True
    assert [g["use_case"] for g in doc["source"]["gbcs"]] == ["CS02a", "CS02c"]
    assert "test_keys.refused" not in {c["code"] for c in doc["checks"]}


def test_the_bench_radio_needs_no_allow_test_keys(capsys):
    code, doc, _ = verify_over_radio(capsys)
    assert code == 0 and doc["allow_test_keys"] is False and doc["test_only"] is True


def test_index_marks_test_only_entries(capsys, tmp_path):
    (tmp_path / IHD_NEW.name).write_bytes(IHD_NEW.read_bytes())
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"x" * 64)
    with pytest.raises(SystemExit) as info:
        main(["ota", "build", str(payload), "-o", str(tmp_path / "unsigned.ota"), "--manufacturer", "1",
              "--image-type", "2", "--file-version", "3"])
    assert info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["ota", "index", str(tmp_path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert {e["file"]: e["test_only"] for e in doc["images"]} == {IHD_NEW.name: True, "unsigned.ota": False}
    with pytest.raises(SystemExit):
        main(["ota", "index", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.strip().startswith(f"TEST-ONLY {IHD_NEW.name}:") for line in lines)
    assert any(line.strip().startswith("unsigned.ota:") for line in lines)


CERTS_RIG = '''
[rig]
name = "test-keys-certs"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"

[[plan.steps]]
step = "join"

[[plan.steps]]
step = "certs"

[outputs]
results = "results"
'''


def run_certs_rig(tmp_path, **options):
    import io

    from rigs.rigfile import parse_rig
    from rigs.runner import RunOptions, run_rig

    path = tmp_path / "rig.toml"
    path.write_text(CERTS_RIG)
    result = run_rig(parse_rig(CERTS_RIG, path), RunOptions(**options), progress_stream=io.StringIO(),
                     tty=False)
    (dut,) = result.record.duts
    return result.record, {s.name: s for s in dut.final_steps()}["certs"]


def test_the_rig_certs_step_refuses_a_test_chain_on_a_real_radio(tmp_path, real_radio_for_certs):
    from rigs.records import StepOutcome

    _, certs = run_certs_rig(tmp_path)
    assert certs.outcome is StepOutcome.FAIL
    [detail] = [d for d in certs.details if d.code == "test_keys.refused"]
    assert "TEST-ONLY SMKI Root" in detail.description and "--allow-test-keys" in detail.description


def test_the_rig_with_allow_test_keys_trusts_it_and_records_so(tmp_path, real_radio_for_certs):
    from rigs.records import EventKind, StepOutcome

    record, certs = run_certs_rig(tmp_path, allow_test_keys=True)
    assert certs.outcome is StepOutcome.PASS, certs.summary()
    assert any(e.kind is EventKind.LOG and e.data.get("allow_test_keys") for e in record.events)
