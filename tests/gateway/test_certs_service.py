"""gw.certs on the simulated bench: the ESME's credentials read with GBCS CS02a and CS02c over the GB-HRGP
tunnel and checked (SECMP0063 against one or a set of expected operators, damaged cells, the CS02c
request); each credentials fault the HAN can show gives its own named failure; ``hanrig certs verify
--radio``."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from certs.testpki import ENTITY_IDS
from gateway.bench import bench_credentials
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
        report = await gw.certs.verify(esme, expected_network_operator=RIGHT_NO, now=NOW)
        assert report.passed, report.render_text()
        assert len(report.find("secmp0063.network_operator")) == 2
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
    assert {"secmp0063.network_operator", "device.cs02c", "cell.present"} <= codes
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", ESME,
              "--expect-network-operator", WRONG_NO])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and RIGHT_NO in error and WRONG_NO in error
    assert "secmp0063.wrong_network_operator" in captured.out


def test_cli_unknown_device_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", "00:11:22:33:44:55:66:77"])
    assert exit_info.value.code == 3
    assert "00:11:22:33:44:55:66:77" in capsys.readouterr().err
