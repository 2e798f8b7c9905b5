"""gw.certs on the simulated bench: the ESME's cells and device certificates read over Tunneling and
verified (SECMP0063, chains, hwSerialNum); each credentials fault gives its own named failure; random
Tunneling frames through the input path are counted and ignored; ``hanrig certs verify --radio``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import UTC, datetime

import pytest
import zigpy.types as zigpy_t
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certs.testpki import ENTITY_IDS
from gateway.bench import bench_credentials
from gateway.certs_service import CredentialsReadError
from gateway.cli import main
from gateway.exceptions import DeviceNotFound
from gateway.han_input import HanInput
from gateway.session import Gateway
from hal.credentials_wire import CredentialStatus
from hal.se_clusters import Tunneling
from hal.sim.config import default_bench
from hal.sim.credentials import CredentialsFault
from hal.sim.wire import zcl_cluster_command

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
    config, trust = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        found = await gw.certs.read_installed(esme)
        assert found.status is CredentialStatus.SUCCESS
        installed = dict(app.han.device("esme").trust_anchors)
        assert {c.name: c.der for c in found.cells} == installed
        assert len(found.device_certificates) == 2 and found.fragments > 1
        assert found.octets > sum(len(d) for d in installed.values())
        report = await gw.certs.verify(esme, roots=[trust.root], intermediates=trust.intermediates,
                                       expected_network_operator=RIGHT_NO, now=NOW)
        assert report.passed, report.render_text()
        assert len(report.find("secmp0063.network_operator")) == 2
        assert len(report.find("device.hw_serial")) == 2
        assert app.han.device("esme").credentials.tunnels == {}  # the hub closed its tunnel
        await gw.close()


NO_DS = "networkOperator-DS-management"
FAULTS = {
    CredentialsFault.WRONG_NETWORK_OPERATOR: ("secmp0063.wrong_network_operator", NO_DS),
    CredentialsFault.SUPPLIER_IN_NO_CELL: ("cell.role_mismatch", NO_DS),
    CredentialsFault.EXPIRED: ("chain.expired", "supplier-DS-management"),
    # the framing carries whole DER SEQUENCEs, so the cut certificate arrives in a consistent envelope
    # and fails to parse inside it
    CredentialsFault.TRUNCATED_CELL: ("parse.der", NO_DS),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=str)
async def test_each_credentials_fault_fails_with_its_own_code(sim_han, fault: CredentialsFault):
    code, cell = FAULTS[fault]
    config, trust = bench(fault)
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        report = await gw.certs.verify(gw.device(ESME), roots=[trust.root], intermediates=trust.intermediates,
                                       expected_network_operator=RIGHT_NO, now=NOW)
        assert not report.passed
        hits = report.find(code)
        assert hits and any(cell in check.subject for check in hits), report.render_text()
        if fault is CredentialsFault.WRONG_NETWORK_OPERATOR:
            assert WRONG_NO in hits[0].message and RIGHT_NO in hits[0].message
        await gw.close()


async def test_a_device_without_a_tunneling_server_is_named(sim_han):
    config, _ = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        with pytest.raises(DeviceNotFound, match=r"00:0d:6f:00:0a:bc:00:03.*Tunneling"):
            await gw.certs.read_installed(gw.device("00:0d:6f:00:0a:bc:00:03"))


async def test_random_tunneling_frames_are_counted_and_ignored(sim_han):
    config, trust = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        certs = gw.certs
        certs._subscribe()
        tap = HanInput.of(gw)

        def inject(data: bytes) -> None:
            with contextlib.suppress(ValueError, KeyError):  # zigpy's own parser, after the tap saw it
                app.packet_received(zigpy_t.ZigbeePacket(
                    src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=esme.nwk), src_ep=1,
                    dst=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=0x0000), dst_ep=1,
                    profile_id=0x0109, cluster_id=Tunneling.cluster_id, data=zigpy_t.SerializableBytes(data),
                    tsn=0, lqi=255, rssi=-40))

        def transfer(tunnel_id: int, payload: bytes) -> bytes:
            return zcl_cluster_command(Tunneling, 5, "transfer_data", server_to_client=True,
                                       disable_default_response=True, tunnel_id=tunnel_id, data=payload)

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=90),
                         st.builds(transfer, st.integers(0, 0xFFFF), st.binary(max_size=70))))
        def throw(data: bytes) -> None:
            inject(data)

        throw()
        assert tap.stats.malformed > 0 and tap.stats.handler_errors == 0
        assert any("credentials fragment" in r.reason for r in tap.rejects)
        report = await certs.verify(esme, roots=[trust.root], intermediates=trust.intermediates,
                                    expected_network_operator=RIGHT_NO, now=NOW)
        assert report.passed
        await gw.close()


def test_cli_verify_over_the_han_right_and_wrong_operator(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "verify", "--radio", "sim://", "--device", ESME, "--expect-network-operator", RIGHT_NO,
              "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["source"] == {"radio": "sim://", "device": ESME}
    assert document["outcome"] == "pass"
    codes = {c["code"] for c in document["checks"]}
    assert {"secmp0063.network_operator", "device.hw_serial", "chain.trusted"} <= codes
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


async def test_a_transfer_data_error_ends_the_read_with_its_status(sim_han):
    config, _ = bench()
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        certs = gw.certs
        certs.max_transfer_size = 64
        server = app.han.device("esme").credentials
        # the meter drops its tunnels the moment they open: the request meets No Such Tunnel
        original = server._touch

        def forget(tunnel):
            original(tunnel)
            server.tunnels.pop(tunnel.tunnel_id, None)

        server._touch = forget
        with pytest.raises(CredentialsReadError, match=r"0a:bc:00:01: tunnel 0: .*No_Such_Tunnel"):
            await certs.read_installed(gw.device(ESME))
        await gw.close()
