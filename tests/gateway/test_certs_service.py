"""gw.certs on the simulated bench: the ESME's credentials read with GBCS CS02a and CS02c over the GB-HRGP
tunnel and checked (SECMP0063 against one or a set of expected operators, damaged cells, the CS02c
request); each credentials fault the HAN can show gives its own named failure; ``hanrig certs verify
--radio``."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

import gbcs
from certs.testpki import ENTITY_IDS
from gateway.bench import bench_credentials
from gateway.certs_service import InstalledCredentials, UpdateRefused, judge, known_certificates
from gateway.cli import main
from gateway.exceptions import DeviceNotFound
from gateway.session import Gateway
from hal.sim.config import default_bench
from hal.sim.credentials import CredentialsFault

ESME = "00:0d:6f:00:0a:bc:00:01"
RIGHT_NO = ENTITY_IDS["networkOperator"]
WRONG_NO = ENTITY_IDS["wrongNetworkOperator"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def bench(fault: CredentialsFault = CredentialsFault.NONE):
    config = default_bench()
    config = config.replace(devices=tuple(
        dataclasses.replace(s, sim=dataclasses.replace(s.sim, credentials_fault=fault))
        if s.id == "esme" else s for s in config.devices))
    return bench_credentials(config)


async def test_read_and_verify_the_installed_credentials(sim_han):
    config, _ = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        found = await gw.certs.read_installed(esme)
        assert [e["use_case"] for e in found.exchanges] == ["CS02a", "CS02c"]
        assert found.exchanges[0]["mac"] == "valid" and found.exchanges[1]["signature"] == "valid"
        roles = {p["remote_party_role"]: p for p in found.remote_parties}
        assert roles["networkOperator"]["status"] == "success"
        _, trust = bench()
        report = await gw.certs.verify(esme, expected_network_operator=RIGHT_NO, now=NOW,
                                       organisations=list(trust.organisations.values()))
        assert report.passed, report.render_text()
        assert len(report.find("secmp0063.network_operator")) == 2
        # every cell CS02a reported is identified as the bench PKI's certificate by (Entity ID, key id)
        cells = [c for p in found.remote_parties for c in p.get("trust_anchor_cells", [])]
        identified = report.find("cell.certificate")
        assert len(identified) == len(cells) == 9 and not report.find("cell.present")
        assert any("TEST-ONLY Network Operator" in c.message for c in identified)
        assert len(report.find("device.cs02c")) == 1
        # the expected operator may be a set of Entity IDs
        either = await gw.certs.verify(esme, expected_network_operator=[WRONG_NO, RIGHT_NO])
        assert either.passed
        meter = app.han.device("esme").gbcs
        assert meter.commands_received == meter.responses_sent == 6 and not meter.refused


NO_DS = "networkOperator-DS-management"
FAULTS = {
    CredentialsFault.WRONG_NETWORK_OPERATOR: ("secmp0063.wrong_network_operator", NO_DS, WRONG_NO),
    CredentialsFault.SUPPLIER_IN_NO_CELL: ("secmp0063.wrong_network_operator", NO_DS, ENTITY_IDS["supplier"]),
    # CS02a reports ids, not certificates: a cut certificate shows as a cell with no subject
    CredentialsFault.TRUNCATED_CELL: ("cell.unreadable", NO_DS, None),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=str)
async def test_each_credentials_fault_fails_with_its_own_code(sim_han, fault: CredentialsFault):
    code, cell, named = FAULTS[fault]
    config, _ = bench(fault)
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        report = await gw.certs.verify(gw.device(ESME), expected_network_operator=RIGHT_NO, now=NOW)
        assert not report.passed
        hits = report.find(code)
        assert hits and any(cell in check.subject for check in hits), report.render_text()
        if named is not None:
            assert named in hits[0].message and RIGHT_NO in hits[0].message


async def test_a_device_without_a_tunneling_server_is_named(sim_han):
    config, _ = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        with pytest.raises(DeviceNotFound, match=r"00:0d:6f:00:0a:bc:00:03.*Tunneling"):
            await gw.certs.read_installed(gw.device("00:0d:6f:00:0a:bc:00:03"))


async def test_a_meter_answering_with_a_bad_mac_fails_the_check_naming_it(sim_han):
    config = default_bench()
    config = config.replace(devices=tuple(
        dataclasses.replace(s, sim=dataclasses.replace(s.sim, gbcs_fault="bad_mac")) if s.id == "esme" else s
        for s in config.devices))
    config, _ = bench_credentials(config)
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        report = await gw.certs.verify(gw.device(ESME), expected_network_operator=RIGHT_NO)
        [check] = report.find("han.gbcs_response")
        assert "(mac)" in check.message and not report.passed


def test_cli_verify_over_the_han_right_and_wrong_operator(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", ESME, "--expect-network-operator", RIGHT_NO,
              "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["source"]["radio"] == "sim://" and document["source"]["read_with"] == "GBCS CS02a + CS02c"
    assert [g["use_case"] for g in document["source"]["gbcs"]] == ["CS02a", "CS02c"]
    assert document["outcome"] == "pass"
    codes = {c["code"] for c in document["checks"]}
    assert {"secmp0063.network_operator", "device.cs02c", "cell.certificate"} <= codes
    # CS02a's fields as the RTDS CS02a response carries them, per remote party and per cell
    parties = {p["remote_party_role"]: p for p in document["source"]["remote_parties"]}
    assert set(parties["networkOperator"]) == {"remote_party_role", "status", "seq_number",
                                               "trust_anchor_cells"}
    assert [set(c) for c in parties["networkOperator"]["trust_anchor_cells"]] == [
        {"key_usage", "cell_usage", "subject_unique_id", "subject_key_id"}] * 2
    with pytest.raises(SystemExit) as exit_info:  # the text output shows them before the checks
        main(["certs", "verify", "--radio", "sim://", "--device", ESME,
              "--expect-network-operator", RIGHT_NO])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    no_ds = parties["networkOperator"]["trust_anchor_cells"][0]
    assert f"CS02a credentials of {ESME}:" in text and "  networkOperator: success, seq 0" in text
    assert f"DS management       subject {RIGHT_NO} key id {no_ds['subject_key_id']}" in text
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", ESME,
              "--expect-network-operator", WRONG_NO])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and RIGHT_NO in error and WRONG_NO in error
    assert "secmp0063.wrong_network_operator" in captured.out


def test_cli_device_by_role_name_reads_the_one_esme(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", "esme",
              "--expect-network-operator", RIGHT_NO, "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["device_eui64"] == ESME and document["source"]["device"] == ESME
    assert document["outcome"] == "pass"
    with pytest.raises(SystemExit) as exit_info:  # a role means nothing against a directory of files
        main(["certs", "verify", "--cert-dir", str(tmp_path), "--device", "ESME"])
    assert exit_info.value.code == 2
    assert "not a role" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", "METER"])
    assert exit_info.value.code == 2
    assert "'METER' is neither an EUI-64" in capsys.readouterr().err


def test_cli_unknown_device_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", "00:11:22:33:44:55:66:77"])
    assert exit_info.value.code == 3
    assert "00:11:22:33:44:55:66:77" in capsys.readouterr().err


async def test_a_cs02b_placing_another_operator_is_refused_before_it_is_sent(sim_han):
    config, trust = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        wrong = [(trust.organisations[f"wrongNetworkOperator-{k}"], k) for k in ("DS", "KA")]
        command = gw.certs.cs02b(esme, wrong, path=[trust.intermediates[0]])
        assert gbcs.decode_content(command)["replacements"][0]["certificate"]["entity_id"] == \
            WRONG_NO.replace(":", "")
        with pytest.raises(UpdateRefused) as refused:
            await gw.certs.update(esme, command, [RIGHT_NO])
        message = str(refused.value)
        assert len(message.splitlines()) == 1 and WRONG_NO in message and RIGHT_NO in message
        assert app.han.device("esme").gbcs.commands_received == 0  # never sent


def test_cli_check_update_against_the_rtds_cs02b(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    from pathlib import Path

    rtds = Path(os.environ.get("HANRIG_SHARED_DIR", "/work/shared")) / "gbcs-rtds" / "messages"
    source = rtds / "6.15.1_CS02bNOByNO" / "CS02bNOByNO_6.15.1_SUCCESS_COMMAND_GBCS.HEX"
    if not source.is_file():
        pytest.skip("RTDS not available (HANRIG_SHARED_DIR)")
    placed = "90:b3:d5:1f:30:02:00:00"  # the RTDS's network operator
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "check-update", str(source), "--expect-network-operator", placed, "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["allowed"] and [p["cell"] for p in document["placements"]] == [
        "networkOperator-DS-management", "networkOperator-KA-management"]
    # a set of expected operators, none of them the placed one: refused in one line naming both
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "check-update", str(source), "--expect-network-operator", RIGHT_NO,
              "--expect-network-operator", WRONG_NO])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and placed in error and RIGHT_NO in error and WRONG_NO in error
    # the expected operator from a rig file (the device the command targets)
    rig = tmp_path / "rig.toml"
    rig.write_text('[rig]\nname = "x"\n[[radios]]\nid = "sim"\nurl = "sim://"\n[[devices]]\nid = "esme"\n'
                   f'role = "ESME"\neui64 = "00:db:12:34:56:78:90:a0"\nnetwork_operator = "{placed}"\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "check-update", str(source), "--rig", str(rig)])
    assert exit_info.value.code == 0, capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "check-update", str(tmp_path / "missing.hex"), "--expect-network-operator", RIGHT_NO])
    assert exit_info.value.code == 2


def test_a_cell_whose_key_id_no_known_certificate_has_fails_naming_both() -> None:
    """CS02a under the right Entity ID but with another key id (a stale or foreign certificate): judged
    against the organisation certificates the host knows."""
    _, trust = bench()
    known = known_certificates(trust.organisations.values())
    right = next(k for (e, k), cert in known.items() if e.hex() == RIGHT_NO.replace(":", "")
                 and "digital_signature" in cert.key_usage_bits)
    cell = {"key_usage": ["digitalSignature"], "cell_usage": "management",
            "subject_unique_id": RIGHT_NO.replace(":", ""), "subject_key_id": "00112233445566ff"}
    found = InstalledCredentials(ESME, [{"remote_party_role": "networkOperator", "status": "success",
                                         "seq_number": 1, "trust_anchor_cells": [cell]}], None, [])
    [check] = [c for c in judge(found, None, known) if c.code.startswith("cell.")]
    assert check.code == "cell.unknown_key" and check.outcome.value == "fail"
    assert "00112233445566ff" in check.message and right.hex() in check.message and RIGHT_NO in check.message
    good = InstalledCredentials(ESME, [{**found.remote_parties[0], "trust_anchor_cells": [
        {**cell, "subject_key_id": right.hex()}]}], None, [])
    assert [c.code for c in judge(good, None, known) if c.code.startswith("cell.")] == ["cell.certificate"]


async def test_a_seeded_bench_answers_cs02c_with_the_same_request_every_run(sim_han):
    """"One seed, one trace": the meter's CS02c key pair comes from the bench's seed, and its CSR is signed
    by RFC 6979, so two fresh benches give the same request, octet for octet, and the same frame
    lengths on the air (a random key gave a 70-72 octet DER signature and moved every later frame)."""
    answers, lengths = [], []
    for _run in range(2):
        config, _ = bench()
        async with sim_han(config) as app:
            gw = Gateway({"sim": app})
            found = await gw.certs.read_installed(gw.device(ESME))
            answers.append(found.certification_request)
            lengths.append([f.length for f in gw.sim("sim").frames()])
    assert answers[0] and answers[0] == answers[1]
    assert lengths[0] == lengths[1]
    # a meter makes a new key for each CS02c it answers, still from the seed
    meter = next(s for s in bench()[0].devices if s.id == "esme").sim.gbcs_meter()
    assert meter.new_key("DS", 0).private_numbers() != meter.new_key("DS", 1).private_numbers()
