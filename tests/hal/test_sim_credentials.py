"""The simulated ESME's GB-HRGP Tunneling server driven through zigpy with real frames: tunnel errors
(SE D.6, GBCS 10.2.2), idle closure, random commands; the four credential faults as byte
transformations, and the rig-file keys that configure them. (GBCS over the tunnel: tests/gateway.)"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zigpy.zcl import foundation

from hal.se_clusters import Tunneling, TunnelProtocolId, TunnelStatus
from hal.sim.config import default_bench, load_sim_config
from hal.sim.credentials import CellNameError, CredentialsFault, faulty_cells, parse_cell_name, truncate_der
from hal.sim.exceptions import SimConfigError
from hal.sim.tunnel import CLOSE_TUNNEL_TIMEOUT_S, GbHrgpServer
from hal.sim.wire import parse_zcl

ESME = "00:0d:6f:00:0a:bc:00:01"
TUNNELING = Tunneling.cluster_id


def der(tag: int, size: int = 40) -> bytes:
    """A stand-in certificate: one DER SEQUENCE (the simulator never parses certificates)."""
    body = bytes([tag]) * size
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return b"\x30" + length + body


CELLS = {
    "root": der(1),
    "supplier-DS-management": der(2, 300),
    "supplier-KA-management": der(3),
    "networkOperator-DS-management": der(4, 200),
    "networkOperator-KA-management": der(5),
}
DEVICE_CERTS = {"DS": der(6), "KA": der(7)}


def bench(fault: CredentialsFault = CredentialsFault.NONE, fault_cells: dict[str, bytes] | None = None):
    config = default_bench()
    devices = tuple(
        dataclasses.replace(s, sim=dataclasses.replace(
            s.sim, trust_anchors=CELLS, device_certificates=DEVICE_CERTS, credentials_fault=fault,
            fault_cells=fault_cells or {}))
        if s.id == "esme" else s for s in config.devices)
    return config.replace(devices=devices)


class Capture:
    """zigpy application listener: Tunneling frames from the ESME, decoded with zigpy's schemas."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, Any]] = []

    def handle_message(self, device: Any, profile: int, cluster: int, src_ep: int, dst_ep: int,
                       message: bytes) -> None:
        if cluster != TUNNELING:
            return
        header, rest = foundation.ZCLHeader.deserialize(message)
        if header.frame_control.frame_type != foundation.FrameType.CLUSTER_COMMAND:
            return
        command = Tunneling.client_commands[header.command_id]
        args, _ = command.schema.deserialize(rest)
        self.frames.append((command.name, args))

    def named(self, name: str) -> list[Any]:
        return [args for n, args in self.frames if n == name]


def tunnel_cluster(app: Any) -> Any:
    device = next(d for ieee, d in app.devices.items() if str(ieee) == ESME)
    return device.endpoints[1].in_clusters[TUNNELING]


async def open_tunnel(cluster: Any, max_size: int = 64, **overrides: Any) -> Any:
    fields = dict(protocol_id=TunnelProtocolId.GB_HRGP, manufacturer_code=0xFFFF, flow_control_support=False,
                  maximum_incoming_transfer_size=max_size)
    fields.update(overrides)
    return await cluster.command(0x00, **fields)


async def test_tunnel_errors(sim_han):
    async with sim_han(bench()) as app:
        capture = Capture()
        app.add_listener(capture)
        cluster = tunnel_cluster(app)
        assert (await open_tunnel(cluster, protocol_id=TunnelProtocolId.DLMS_COSEM)).tunnel_status \
            == TunnelStatus.Protocol_Not_Supported
        assert (await open_tunnel(cluster, manufacturer_code=0x1234)).tunnel_status \
            == TunnelStatus.Protocol_Not_Supported
        assert (await open_tunnel(cluster, flow_control_support=True)).tunnel_status \
            == TunnelStatus.Flow_Control_Not_Supported
        ids = [int((await open_tunnel(cluster)).tunnel_id) for _ in range(4)]
        assert sorted(ids) == [0, 1, 2, 3]
        full = await open_tunnel(cluster)
        assert full.tunnel_status == TunnelStatus.No_More_Tunnel_IDs and full.tunnel_id == 0xFFFF
        await cluster.command(0x02, tunnel_id=9, data=b"\x01\x01\x00\x01\x03", expect_reply=False)
        # a General-Ciphering header announcing 4096 octets: more than MaximumIncomingTransferSize 1500
        await cluster.command(0x02, tunnel_id=0, data=bytes.fromhex("dd000000000000821000"),
                              expect_reply=False)
        await asyncio.sleep(2)
        errors = [(int(a.tunnel_id), a.transfer_data_status.name)
                  for a in capture.named("transfer_data_error")]
        assert errors == [(9, "No_Such_Tunnel"), (0, "Data_Overflow")]
        protocols = await cluster.command(0x06, protocol_offset=0)
        assert protocols.protocol_list_complete
        assert [(p.manufacturer_code, p.protocol_id) for p in protocols.protocols] == [
            (0xFFFF, TunnelProtocolId.GB_HRGP)]


async def test_idle_tunnel_closes_with_a_notification(sim_han):
    async with sim_han(bench()) as app:
        capture = Capture()
        app.add_listener(capture)
        cluster = tunnel_cluster(app)
        reply = await open_tunnel(cluster)
        await asyncio.sleep(CLOSE_TUNNEL_TIMEOUT_S - 10)
        assert app.han.device("esme").tunnel.tunnels
        await asyncio.sleep(20)
        assert app.han.device("esme").tunnel.tunnels == {}
        closed = [int(a.tunnel_id) for a in capture.named("tunnel_closure_notification")]
        assert closed == [int(reply.tunnel_id)]


def test_fault_transformations():
    assert faulty_cells(CELLS, CredentialsFault.NONE, {}) == CELLS
    swapped = faulty_cells(CELLS, CredentialsFault.SUPPLIER_IN_NO_CELL, {})
    assert swapped["networkOperator-DS-management"] == CELLS["supplier-DS-management"]
    assert swapped["networkOperator-KA-management"] == CELLS["supplier-KA-management"]
    assert swapped["root"] == CELLS["root"]
    replacement = {"networkOperator-DS-management": der(9)}
    for fault in (CredentialsFault.WRONG_NETWORK_OPERATOR, CredentialsFault.EXPIRED):
        out = faulty_cells(CELLS, fault, replacement)
        assert out["networkOperator-DS-management"] == der(9) and out["root"] == CELLS["root"]
    cut = faulty_cells(CELLS, CredentialsFault.TRUNCATED_CELL, {})["networkOperator-DS-management"]
    original = CELLS["networkOperator-DS-management"]
    # the first half of the 200-octet content, under a rewritten (now short-form) SEQUENCE header
    assert cut == b"\x30\x64" + original[4:4 + 100]


def test_truncate_short_and_long_forms():
    assert truncate_der(der(1, 10)) == b"\x30\x05" + bytes([1]) * 5
    long = truncate_der(der(1, 400))
    assert long[:4] == b"\x30\x82\x00\xc8" and len(long) == 4 + 200


@pytest.mark.parametrize("name", ["nobody-DS-management", "root-DS-management", "supplier-XX-management",
                                  "supplier-DS-sometimes", ""])
def test_bad_cell_names(name: str):
    with pytest.raises(CellNameError):
        parse_cell_name(name)


def test_rig_file_keys(tmp_path: Path):
    (tmp_path / "no.der").write_bytes(der(4))
    (tmp_path / "ds.der").write_bytes(der(6))
    rig = tmp_path / "rig.toml"
    rig.write_text('[[devices]]\nid = "esme"\nrole = "ESME"\neui64 = "00:0d:6f:00:0a:bc:00:01"\n'
                   '[devices.sim]\ncredentials_fault = "wrong_network_operator"\n'
                   'trust_anchors = { networkOperator-DS-management = "no.der" }\n'
                   'fault_cells = { networkOperator-DS-management = "ds.der" }\n'
                   'device_certificates = { DS = "ds.der" }\n')
    sim = load_sim_config(rig).device("esme").sim
    assert sim.credentials_fault is CredentialsFault.WRONG_NETWORK_OPERATOR
    assert sim.trust_anchors == {"networkOperator-DS-management": der(4)}
    assert sim.device_certificates == {"DS": der(6)}
    rig.write_text(rig.read_text().replace('networkOperator-DS-management = "no.der"', 'nobody = "no.der"'))
    with pytest.raises(SimConfigError, match=r"devices\[0\]\.sim\.trust_anchors\.nobody"):
        load_sim_config(rig)
    rig.write_text('[[devices]]\nid = "esme"\nrole = "ESME"\neui64 = "00:0d:6f:00:0a:bc:00:01"\n'
                   '[devices.sim]\ncredentials_fault = "bent"\n')
    with pytest.raises(SimConfigError, match="credentials_fault: 'bent' is not one of"):
        load_sim_config(rig)


class _RecordingHost:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def next_tsn(self) -> int:
        return len(self.sent) & 0xFF

    def loop_time(self) -> float:
        return 0.0

    def spawn(self, coro: Any, *, behaviour: bool = False) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task

    async def send_to_hub(self, cluster_id: int, data: bytes) -> None:
        self.sent.append(data)


_TO_SERVER = bytes([0x01, 0x00])  # cluster command, client to server, default response wanted; TSN 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x06, 0x07]),
                          st.one_of(st.binary(max_size=30),
                                    st.builds(lambda t, d: t.to_bytes(2, "little") + d,
                                              st.integers(0, 5), st.binary(max_size=20)))),
                max_size=8))
def test_random_tunneling_commands_never_break_the_server(commands: list[tuple[int, bytes]]) -> None:
    """Random Request Tunnel / Transfer Data / Close frames: the server answers with well-formed Tunneling
    frames or default responses, records what it refused, and never raises."""
    host = _RecordingHost()
    replies: list[foundation.Status] = []

    async def default_response(cluster_id: int, frame: Any, status: foundation.Status) -> None:
        replies.append(status)

    server = GbHrgpServer(host, default_response, None)  # type: ignore[arg-type]

    async def drive() -> None:
        for command_id, payload in commands:
            try:
                frame = parse_zcl(Tunneling, _TO_SERVER + bytes([command_id]) + payload)
            except ValueError:
                continue
            await server.handle(frame, 0x0000)
        for task in host.tasks:
            task.cancel()
        await asyncio.gather(*host.tasks, return_exceptions=True)

    asyncio.run(drive())
    for data in host.sent:
        parse_zcl(Tunneling, data)  # every frame the server sent parses
    assert len(server.tunnels) <= 4


def test_cell_enums_number_as_the_smki_model() -> None:
    """hal owns the cell enums (it imports no ``certs``); they must number what ``certs.model`` numbers."""
    from certs import model
    from hal.sim import credentials

    assert {r.name: int(r) for r in credentials.RemotePartyRole} == {
        r.name: int(r) for r in model.RemotePartyRole}
    assert {u.name: int(u) for u in credentials.KeyUsage} == {u.name: int(u) for u in model.KeyUsage}
