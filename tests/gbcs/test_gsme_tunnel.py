"""The GSME speaks GBCS over its own tunnel (GBCS 10.2.2): the sleepy GSME opens a GB-HRGP tunnel to the
hub when it wakes and asks (GET) for what the hub holds; its answers come back as PUT. On sim://, through
the hub (``gw.gbcs``, ``gateway.gsme_tunnel``) and the simulated GSME (``hal.sim.gsme_tunnel`` with
``gbcs.device`` holding the GSME's bench keys): the RTDS 11.3 CS06 commands, re-secured for the GSME with
the bench's TEST-ONLY keys, are answered as the RTDS responses are; CS02a/CS02c read its credentials;
the ``cs06`` rig step activates held images immediately and future-dated (8F66), a wrong hash gives
8F67; ``hanrig ota activate`` on the GSME goes by CS06 over its tunnel; a GSME answering with a bad MAC is
rejected naming it; the hub refuses a foreign tunnel and a transfer on no tunnel with the SE statuses."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from pathlib import Path

import pytest
import zigpy.types as zigpy_t
from conftest import by_name
from test_meter_reference import SUPPLIER, eui, resecure

import gbcs
from firmware_images import DIRECTORY as SAMPLES
from gateway.bench import bench_credentials, bench_keystore
from gateway.cli import main
from gateway.gbcs_service import GbcsResponseRejected
from gateway.han_input import HanInput
from gateway.session import Gateway
from gbcs.content import cs02a_command_content
from hal.se_clusters import Tunneling
from hal.sim.config import default_bench
from hal.sim.wire import zcl_cluster_command
from ota import build_image, load_private_key
from rigs.records import StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import RunOptions, run_rig

GSME = "00:0d:6f:00:0a:bc:00:02"
RTDS_HASH = bytes.fromhex("aa758690730934ff0685aa758690730934ff0685657788990011223344556677")
NEW_VERSION = bytes.fromhex("0123abcf")


def shape(decoded: dict) -> dict:
    return {k: v for k, v in decoded.items() if k not in ("firmware_version", "originator_counter",
                                                          "execution_date_time")}


async def test_rtds_cs06_and_cs02_through_the_gsme_s_own_tunnel(sim_han, references, security) -> None:
    config, trust = bench_credentials(default_bench())
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        gw.gbcs.use_keystore(trust.keystore)
        gw.gbcs.start()
        gsme = gw.device(GSME)
        simulated = app.han.device("gsme")
        # the hash the RTDS commands name is the one the GSME holds; activating it is not this test's
        simulated.gbcs.held_image = lambda: (RTDS_HASH, NEW_VERSION)
        simulated.gbcs.on_activated = lambda: None
        bench_security = gbcs.Security(bench_keystore([(d.role.value, d.eui64) for d in gw.devices()]))
        for scenario in ("IMMEDIATE_SUCCESS", "FUTURE_DATED_SUCCESS"):
            original = by_name(references, f"CS06_11.3_{scenario}_COMMAND")
            counter = gbcs.decode_content(gbcs.read_message(original.data))["originator_counter"]
            command = resecure(original, bench_security, SUPPLIER, eui(GSME), counter=int(counter))
            done = await gw.gbcs.exchange(gsme, command)
            reference = gbcs.read_message(by_name(references, f"CS06_11.3_{scenario}_RESPONSE").data)
            assert (done.response.message_code, done.response.mac is None, done.response.signed) == (
                reference.message_code, True, True)
            assert done.security.signature is gbcs.Verdict.VALID
            assert shape(done.decoded) == shape(gbcs.decode_content(reference))
        tunnel = simulated.gbcs_tunnel
        # one Request Tunnel, then GET / GET-RESPONSE and a PUT per command
        assert tunnel.tunnel_id is not None and tunnel.messages_in == tunnel.messages_out == 2
        assert not tunnel.dropped and not simulated.gbcs.refused
        # CS02a (MAC) and CS02c (signed) read the GSME's credentials over the same tunnel
        found = await gw.certs.read_installed(gsme)
        assert [(e["use_case"], e["mac"], e["signature"]) for e in found.exchanges] == [
            ("CS02a", "valid", "absent"), ("CS02c", "absent", "valid")]
        assert found.certification_request["device"] == GSME.replace(":", "")
        assert gw.gbcs.stats.dropped == 0


def _image(path: Path, version: int) -> None:
    key = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())
    path.write_bytes(build_image(bytes(range(256)) * 6, manufacturer_code=0x1234, image_type=0x0001,
                                 file_version=version, layout="gbcs", sign_key=key))


RIG = '''
[rig]
name = "cs06-gsme"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
[devices.sim]
gas_push_interval_s = 60

[sim]
clock = "virtual"

[[plan.steps]]
step = "join"

[[plan.steps]]
step = "ota"
image = "gsme-1.ota"
activation = "hold"
timeout_s = 900

[[plan.steps]]
step = "cs06"
timeout_s = 300

[[plan.steps]]
step = "ota"
image = "gsme-2.ota"
activation = "hold"
timeout_s = 900

[[plan.steps]]
step = "cs06"
image_sha256 = "{wrong}"
at = 300
timeout_s = 900

[[plan.steps]]
step = "cs06"
at = 600
timeout_s = 900

[outputs]
results = "results"
'''


def test_cs06_rig_steps_activate_the_gsme_now_and_future_dated(tmp_path: Path) -> None:
    _image(tmp_path / "gsme-1.ota", 0x00010100)
    _image(tmp_path / "gsme-2.ota", 0x00010200)
    path = tmp_path / "rig.toml"
    text = RIG.format(wrong="00" * 32)
    path.write_text(text)
    record = run_rig(parse_rig(text, path), RunOptions(), progress_stream=io.StringIO(), tty=False).record
    steps = [s for d in record.duts for s in d.final_steps()]
    _join, push, now, push2, wrong, later = steps
    measured = [{m.name: m.value for m in s.measurements} for s in steps]
    assert push.outcome is StepOutcome.PASS and measured[1]["ota_phase"] == "held"
    assert now.outcome is StepOutcome.PASS and measured[2]["cs06_outcome"] == "success", now.summary()
    assert measured[2]["firmware_version_before"] == 0x00010000
    assert push2.outcome is StepOutcome.PASS
    # a wrong hash: the GSME accepts the future-dated CS06, then its 8F67 says the check failed
    assert wrong.outcome is StepOutcome.FAIL and measured[4]["cs06_alert_code"] == 0x8F67
    assert "cs06-hash_mismatch" in {d.code for d in wrong.details}
    assert later.outcome is StepOutcome.PASS and measured[5]["cs06_alert_code"] == 0x8F66, later.summary()
    assert measured[5]["sim_duration_s"] >= 600
    assert record.duts[0].firmware_after == 0x00010200


def test_ota_activate_on_the_gsme_goes_by_cs06_over_its_tunnel(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ota", "activate", "--radio", "sim://", "--device", GSME, "--hash", "ab" * 32, "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 1, err
    document = json.loads(out)
    # the GSME answered the signed CS06 itself: it holds no image
    assert document["response"] == "noImageHeld" and document["reason"].startswith("GBCS CS06 (counter ")
    assert document["reason"].endswith("no_image_held")


def _gsme_bench(**sim_changes):
    config = default_bench()
    config = config.replace(devices=tuple(
        dataclasses.replace(s, sim=dataclasses.replace(s.sim, **sim_changes)) if s.id == "gsme" else s
        for s in config.devices))
    return bench_credentials(config)


async def test_a_gsme_answering_with_a_bad_mac_is_rejected_naming_it(sim_han) -> None:
    config, trust = _gsme_bench(gbcs_fault="bad_mac", gas_push_interval_s=60)
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        gw.gbcs.use_keystore(trust.keystore)
        gw.gbcs.start()
        gsme = gw.device(GSME)
        with pytest.raises(GbcsResponseRejected, match=r"00:0d:6f:00:0a:bc:00:02.*\(mac\)"):
            await gw.gbcs.exchange(gsme, gw.gbcs.build_command(gsme, 0x0008, cs02a_command_content([3])))


async def test_the_hub_refuses_a_foreign_tunnel_and_a_transfer_on_no_tunnel(sim_han) -> None:
    """The hub as the GSME's Tunneling server: Request Tunnel for another protocol is refused Protocol Not
    Supported; Transfer Data on a tunnel it never gave is answered No Such Tunnel; an unknown header is
    counted and dropped. The GSME's own tunnel still works afterwards."""
    config, trust = _gsme_bench(gas_push_interval_s=60)
    async with sim_han(config) as app:
        gw = Gateway({"sim": app})
        gw.start_hub_functions()  # as a session does: CBKE (the GSME keys itself), GPF, the tunnels
        gw.gbcs.use_keystore(trust.keystore)
        tap = HanInput.of(gw)
        device = app.get_device(ieee=zigpy_t.EUI64.convert(GSME))
        simulated = app.han.device("gsme")

        def from_gsme(name: str, **fields) -> None:
            frame = zcl_cluster_command(Tunneling, 7, name, server_to_client=False, **fields)
            tap.frame(app, device, 0x0109, Tunneling.cluster_id, 1, frame)

        from_gsme("request_tunnel", protocol_id=2, manufacturer_code=0xFFFF, flow_control_support=False,
                  maximum_incoming_transfer_size=1500)
        from_gsme("transfer_data", tunnel_id=0x4242, data=b"\x01")
        assert gw.gbcs.stats.dropped_by_reason == {"request tunnel": 1, "no tunnel": 1}
        await asyncio.sleep(20)  # the hub's answers wait at the parent until the GSME polls
        answers = [f for f in simulated.received
                   if f.tsn == 7 and f.name in ("request_tunnel_response", "transfer_data_error")]
        assert [(f.name, f.tsn) for f in answers] == [("request_tunnel_response", 7),
                                                       ("transfer_data_error", 7)]
        assert answers[0].payload.tunnel_status.name == "Protocol_Not_Supported"
        assert answers[1].payload.transfer_data_status.name == "No_Such_Tunnel"
        gsme = gw.device(GSME)
        done = await gw.gbcs.exchange(gsme, gw.gbcs.build_command(gsme, 0x0008, cs02a_command_content([3])))
        assert done.security.mac is gbcs.Verdict.VALID
        from_gsme("transfer_data", tunnel_id=simulated.gbcs_tunnel.tunnel_id, data=b"\x07junk")
        assert gw.gbcs.stats.dropped_by_reason["framing"] == 1
