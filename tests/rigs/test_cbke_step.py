"""CBKE (issue 13) end to end on sim://: the ``cbke`` rig step over the Key Establishment cluster between
the hub (gateway/cbke.py) and simulated Type 1 devices (hal/sim/cbke.py), suites 1 and 2, and each
fault ending with its Terminate status on both sides and a FAIL naming it."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

import hal
from gateway.session import Gateway
from hal.se_clusters import KeyEstablishment
from hal.sim.wire import parse_zcl
from rigs.records import StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import RunOptions, run_rig

DEVICES = [
    # id, role, EUI-64, [devices.sim] lines
    ("esme", "ESME", "00:0d:6f:00:0a:bc:00:01", 'cbke_fault = "unknown_issuer"'),
    ("gsme", "GSME", "00:0d:6f:00:0a:bc:00:02", 'cbke_fault = "corrupt_ephemeral"'),
    ("ppmid", "PPMID", "00:0d:6f:00:0a:bc:00:04", 'cbke_fault = "silent"'),
    ("hcalcs", "HCALCS", "00:0d:6f:00:0a:bc:00:05", 'cbke_fault = "unsupported_suite"'),
    ("esme1", "ESME", "00:0d:6f:00:0a:bc:00:06", "cbke_suite = 1"),
    ("esme2", "ESME", "00:0d:6f:00:0a:bc:00:07", "cbke_suite = 2"),
]


def rig_text() -> str:
    parts = ['[rig]\nname = "cbke-faults"\n\n[[radios]]\nid = "sim"\nurl = "sim://"\n']
    for device_id, role, eui, sim in DEVICES:
        parts.append(f'[[devices]]\nid = "{device_id}"\nrole = "{role}"\neui64 = "{eui}"\n'
                     f'[devices.sim]\n{sim}\n')
    parts.append('[[plan.steps]]\nstep = "join"\n\n[[plan.steps]]\nstep = "cbke"\n\n'
                 '[outputs]\nresults = "results"\n')
    return "\n".join(parts)


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("cbke") / "rig.toml"
    path.write_text(rig_text())
    return run_rig(parse_rig(path.read_text(), path), RunOptions(), progress_stream=io.StringIO(),
                   tty=False).record


def _step(record, dut: str):
    [step] = [s for d in record.duts if d.id == dut for s in d.final_steps() if s.name == "cbke"]
    return step


def _measured(step) -> dict:
    return {m.name: m.value for m in step.measurements}


@pytest.mark.parametrize(("device_id", "suite"), [("esme1", 1), ("esme2", 2)])
def test_both_suites_establish_a_key(record, device_id: str, suite: int) -> None:
    step = _step(record, device_id)
    assert step.outcome is StepOutcome.PASS, step.summary()
    values = _measured(step)
    assert values["cbke_suite"] == suite and values["cbke_established"] is True
    assert values["cbke_terminate_status"] == "none" and 0 < values["cbke_time"] < 10
    # the link key the hub holds, for Wireshark to read the device's APS-secured SE frames in the capture
    [key_file] = [a for a in step.attachments if a.name == "cbke-link-key.json"]
    document = json.loads(key_file.read())
    assert len(bytes.fromhex(document["link_key"])) == 16 and document["link_key"] in document["tshark"]


@pytest.mark.parametrize(("device_id", "code", "status", "by"), [
    ("esme", "cbke-unknown-issuer", "UNKNOWN_ISSUER", "hub"),
    ("gsme", "cbke-bad-key-confirm", "BAD_KEY_CONFIRM", "hub"),
    ("hcalcs", "cbke-unsupported-suite", "UNSUPPORTED_SUITE", "hub"),
])
def test_faults_end_with_their_terminate_status(record, device_id: str, code: str, status: str,
                                                 by: str) -> None:
    step = _step(record, device_id)
    assert step.outcome is StepOutcome.FAIL
    assert code in {d.code for d in step.details}
    assert f"terminated by the {by} with {status}" in step.summary()
    assert _measured(step)["cbke_terminate_status"] == status


def test_a_device_that_stops_answering_times_out(record) -> None:
    step = _step(record, "ppmid")
    assert step.outcome is StepOutcome.FAIL
    assert "cbke-timeout" in {d.code for d in step.details}
    assert "no Ephemeral Data within the device's generate time" in step.summary()


def test_the_device_side_sees_the_terminate_and_the_same_key(tmp_path: Path) -> None:
    """Both ends: the hub's link key is the device's; a terminated device got the hub's status."""
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text())

    async def scenario() -> None:
        async with Gateway.open([f"sim://?rig={rig}"]) as gw:
            han = next(iter(gw.apps.values())).han
            await gw.cbke.wait_for_result("00:0d:6f:00:0a:bc:00:06", 120)
            await gw.cbke.wait_for_result("00:0d:6f:00:0a:bc:00:01", 120)
            await gw.cbke.wait_for_result("00:0d:6f:00:0a:bc:00:02", 120)
            await asyncio.sleep(30)  # the sleepy GSME hears the hub's Terminate at its next poll
            devices = {str(d.ieee): d for d in han.devices.values()}
            good = devices["00:0d:6f:00:0a:bc:00:06"]
            assert good.cbke.outcome == "established"
            assert good.cbke.link_key == gw.cbke.link_key("00:0d:6f:00:0a:bc:00:06") is not None
            assert devices["00:0d:6f:00:0a:bc:00:01"].cbke.outcome == "terminated: UNKNOWN_ISSUER"
            assert devices["00:0d:6f:00:0a:bc:00:02"].cbke.outcome == "terminated: BAD_KEY_CONFIRM"
            # what went over the air decodes with the cluster's definitions, both directions
            frames = [parse_zcl(KeyEstablishment, r.data) for r in han.trace
                      if r.cluster == KeyEstablishment.cluster_id]
            names = {f.name for f in frames}
            assert {"initiate_key_establishment", "initiate_key_establishment_response", "ephemeral_data",
                    "ephemeral_data_response", "confirm_key_data", "confirm_key_data_response",
                    "terminate_key_establishment"} <= names
            assert all(f.payload is not None for f in frames)

    hal.run(scenario, f"sim://?rig={rig}")


def test_terminate_frame_layout() -> None:
    """Terminate: status (1) | wait time (1) | suite (2, little-endian), as Wireshark dissects it."""
    from hal.sim.wire import zcl_cluster_command

    data = zcl_cluster_command(KeyEstablishment, 7, "terminate_key_establishment", server_to_client=True,
                               status_code=KeyEstablishment.Status.BAD_KEY_CONFIRM, wait_time=5,
                               key_establishment_suite=KeyEstablishment.Suite.CBKE_ECMQV_283K1)
    assert data[-4:] == bytes([0x02, 0x05, 0x02, 0x00])
    frame = parse_zcl(KeyEstablishment, data)
    assert frame.name == "terminate_key_establishment" and frame.from_server


def test_after_cbke_ota_blocks_are_aps_secured_and_shrink_to_56(tmp_path: Path) -> None:
    """The PPMID keyed itself (CBKE), the IHD has no CBKE: the PPMID's Image Block Responses are APS-secured
    and carry at most 56 octets (ota.link_model's APS-secured budget), the IHD's the 64 it asks for."""
    from ota import build_image, read_image

    ihd_eui, ppmid_eui = "00:0d:6f:00:0a:bc:00:03", "00:0d:6f:00:0a:bc:00:04"
    image_types = {ihd_eui: 0x0101, ppmid_eui: 0x0084}

    async def scenario() -> None:
        async with Gateway.open(["sim://"]) as gw:
            gw.ota.configure(signatures_required=False)
            ppmid_result = await gw.cbke.wait_for_result(ppmid_eui, 120)
            assert ppmid_result is not None and ppmid_result.outcome == "established"
            han = next(iter(gw.apps.values())).han
            for eui, image_type in image_types.items():
                image = read_image(build_image(bytes(range(256)) * 4, manufacturer_code=0x1234,
                                               image_type=image_type, file_version=0x00010100))
                report = await gw.ota.push([gw.device(eui)], image=image)
                assert report.outcomes[0].ok, report.outcomes[0]
            sizes: dict[int, set[int]] = {}
            for record in han.trace:
                # Image Block Response (0x05) with status SUCCESS: data size at octet 16
                block_response = record.data[2] == 0x05 and record.data[3] == 0x00
                if record.cluster == 0x0019 and record.src == 0 and block_response:
                    sizes.setdefault(record.dst, set()).add(record.data[16])
            nwk = {str(d.ieee): d.nwk for d in han.devices.values()}
            assert max(sizes[nwk[ppmid_eui]]) == 56
            assert max(sizes[nwk[ihd_eui]]) == 64
            assert gw.cbke.secured(ppmid_eui) and not gw.cbke.secured(ihd_eui)

    hal.run(scenario, "sim://")


def test_after_cbke_every_se_frame_to_the_device_is_aps_secured() -> None:
    """Not just OTA: a Metering read to (and its answer from) the keyed ESME goes with APS_Encryption in its
    tx options (zigpy's per-cluster ``aps_encryption``; the sim charges the APS header and MIC), while the
    same read to the
    IHD (a Type 2 device, no CBKE) does not; Basic (not an SE cluster) stays NWK-secured only."""
    import zigpy.types as zigpy_t
    from zigpy.zcl import foundation

    esme_eui, ihd_eui = "00:0d:6f:00:0a:bc:00:01", "00:0d:6f:00:0a:bc:00:03"

    async def scenario() -> None:
        async with Gateway.open(["sim://"]) as gw:
            result = await gw.cbke.wait_for_result(esme_eui, 120)
            assert result is not None and result.outcome == "established"
            han = next(iter(gw.apps.values())).han
            sent: list[tuple[int, int, bool]] = []
            received: list[tuple[int, int, bool]] = []

            def sink(record, packet) -> None:
                if packet is not None:
                    secured = bool(packet.tx_options & zigpy_t.TransmitOptions.APS_Encryption)
                    if record.src == 0:
                        sent.append((record.dst, record.cluster, secured))
                    else:
                        received.append((record.src, record.cluster, secured))

            han.trace.subscribe(sink)
            app = next(iter(gw.apps.values()))
            esme = app.get_device(ieee=zigpy_t.EUI64.convert(esme_eui))
            ihd = app.get_device(ieee=zigpy_t.EUI64.convert(ihd_eui))
            meter_ep = next(ep for i, ep in esme.endpoints.items() if i and 0x0702 in ep.in_clusters)
            await meter_ep.in_clusters[0x0702].read_attributes([0x0000])
            await meter_ep.in_clusters[0x0000].read_attributes([0x0004])
            ihd_ep = next(ep for i, ep in ihd.endpoints.items() if i and 0x0702 in ep.out_clusters)
            await ihd_ep.out_clusters[0x0702].general_command(
                foundation.GeneralCommand.Read_Attributes, [0x0000], expect_reply=False)
            assert (esme.nwk, 0x0702, True) in sent
            assert (esme.nwk, 0x0000, False) in sent
            assert (ihd.nwk, 0x0702, False) in sent
            # and the keyed ESME answers APS-secured too (hal.sim: its SE frames once it holds the key)
            assert (esme.nwk, 0x0702, True) in received and (esme.nwk, 0x0000, False) in received
            assert gw.cbke.secured(esme_eui) and not gw.cbke.secured(ihd_eui)

    hal.run(scenario, "sim://")


def _require_cbke_rig(tmp_path: Path, silent: str) -> str:
    parts = ['[rig]\nname = "require-cbke"\n\n[[radios]]\nid = "sim"\nurl = "sim://"\n\n'
             '[policies]\nrequire_cbke = true\nsignatures_required = false\n']
    for device_id, role, eui in (("esme", "ESME", "00:0d:6f:00:0a:bc:00:01"),
                                 ("ppmid", "PPMID", "00:0d:6f:00:0a:bc:00:04"),
                                 ("hcalcs", "HCALCS", "00:0d:6f:00:0a:bc:00:05")):
        sim = '[devices.sim]\ncbke_fault = "silent"\n' if device_id == silent else ""
        parts.append(f'[[devices]]\nid = "{device_id}"\nrole = "{role}"\neui64 = "{eui}"\n{sim}')
    parts.append('[[plan.steps]]\nstep = "join"\n\n[[plan.steps]]\nstep = "cbke"\n\n'
                 '[[plan.steps]]\nstep = "ota"\ndevices = ["ppmid"]\n\n'
                 '[[plan.steps]]\nstep = "loadcontrol"\n\n[[plan.steps]]\nstep = "certs"\n\n'
                 '[outputs]\nresults = "results"\n')
    return "\n".join(parts)


REFUSED_STEP = {"ppmid": "ota", "hcalcs": "loadcontrol", "esme": "certs"}
REFUSED_SERVICE = {"ppmid": "ota", "hcalcs": "loadcontrol", "esme": "gbcs"}   # the gate's count, per step


@pytest.mark.parametrize("silent", list(REFUSED_STEP))
def test_require_cbke_refuses_se_service_to_a_device_without_a_link_key(capsys, tmp_path: Path,
                                                                        silent: str) -> None:
    """policies.require_cbke: the device whose CBKE stays silent is refused OTA (reason
    no-key-establishment, from ota.outcomes), load control or its credentials over the tunnel, naming
    why; the keyed devices are served. The refusals the SE gate counted show in the refused step's
    measurements (``se_refused``), in the DUT's record, in ``hanrig results show --json`` and in the
    HTML report."""
    from gateway.cli import main

    path = tmp_path / "rig.toml"
    path.write_text(_require_cbke_rig(tmp_path, silent))
    rig = parse_rig(path.read_text(), path)
    assert rig.policies.cbke.required
    results = str(tmp_path / "store")
    record = run_rig(rig, RunOptions(results=results), progress_stream=io.StringIO(), tty=False).record
    steps = {(d.id, s.name): s for d in record.duts for s in d.final_steps()}
    service = REFUSED_SERVICE[silent]
    for device_id, step_name in REFUSED_STEP.items():
        step = steps[(device_id, step_name)]
        refused = [m.value for m in step.measurements if m.name == "se_refused"]
        if device_id == silent:
            assert step.outcome is StepOutcome.FAIL, step
            assert any(d.code == "no-key-establishment" and "requires CBKE" in d.description
                       for d in step.details), step.details
            assert refused and refused[0].get(service, 0) >= 1, step.measurements
        else:
            assert steps[(device_id, "cbke")].outcome is StepOutcome.PASS
            assert step.outcome is StepOutcome.PASS, step.details
            assert refused == [], refused
    # the run's record per DUT (a keyed device may show OTA queries it sent before its key was established)
    assert record.dut(silent).metadata["se_refused"][service] >= 1
    with pytest.raises(SystemExit) as info:
        main(["results", "show", record.run_id, "--json", "--results", results])
    assert info.value.code == 0
    shown = {d["id"]: d for d in json.loads(capsys.readouterr().out)["duts"]}
    assert shown[silent]["metadata"]["se_refused"][service] >= 1
    html = tmp_path / "report.html"
    with pytest.raises(SystemExit) as info:
        main(["results", "export", record.run_id, "--format", "html", "-o", str(html), "--results", results])
    assert info.value.code == 0, capsys.readouterr().err
    report = html.read_text()
    assert f'data-se-refused="{silent}"' in report and f"{service} " in report
    packs = tmp_path / "packs"
    with pytest.raises(SystemExit) as info:
        main(["results", "export", record.run_id, "--format", "evidence", "-o", str(packs),
              "--results", results])
    assert info.value.code == 0, capsys.readouterr().err
    [evidence] = [p for p in packs.rglob("*.html") if silent in str(p.relative_to(packs))]
    assert "SE service refused (no CBKE link key)" in evidence.read_text()


def test_a_keyed_device_refuses_unsecured_se_frames_and_serves_secured_ones() -> None:
    """Once keyed, the simulated ESME drops a Metering read that comes without APS security and answers a
    Default Response FAILURE, itself unsecured (ZSE; EmberZNet's framework does the same), while the
    secured read is answered; a non-SE cluster (Basic) is served either way."""
    import zigpy.types as zigpy_t
    from zigpy.zcl import foundation

    esme_eui = "00:0d:6f:00:0a:bc:00:01"

    async def scenario() -> None:
        async with Gateway.open(["sim://"]) as gw:
            result = await gw.cbke.wait_for_result(esme_eui, 120)
            assert result is not None and result.outcome == "established"
            app = next(iter(gw.apps.values()))
            han = app.han
            answers: list[tuple[int, bool, bytes]] = []

            def sink(record, packet) -> None:
                if packet is not None and record.src != 0 and record.cluster == 0x0702:
                    answers.append((record.cluster,
                                    bool(packet.tx_options & zigpy_t.TransmitOptions.APS_Encryption),
                                    bytes(record.data)))

            han.trace.subscribe(sink)
            esme = app.get_device(ieee=zigpy_t.EUI64.convert(esme_eui))
            simulated = han.devices[esme.ieee]
            metering = next(ep for i, ep in esme.endpoints.items() if i and 0x0702 in ep.in_clusters
                            ).in_clusters[0x0702]
            assert metering.aps_encryption   # gw.cbke set it when the key was established
            values, failures = await metering.read_attributes([0x0000], allow_cache=False)
            assert 0x0000 in values and not failures and not simulated.refused_unsecured
            assert answers[-1][1] is True   # the answer came APS-secured

            metering.aps_encryption = False   # a hub that forgets APS security
            reply = await metering.read_attributes_raw([0x0000])
            assert isinstance(reply, foundation.GENERAL_COMMANDS[
                foundation.GeneralCommand.Default_Response].schema), reply
            assert reply.status == foundation.Status.FAILURE
            assert [f.name for f in simulated.refused_unsecured] == ["Read_Attributes"]
            _cluster, secured, data = answers[-1]
            assert not secured and data[2] == foundation.GeneralCommand.Default_Response
            # Basic is not an SE cluster: no APS security needed
            basic = next(ep for i, ep in esme.endpoints.items() if i and 0x0000 in ep.in_clusters
                         ).in_clusters[0x0000]
            values, _ = await basic.read_attributes([0x0004], allow_cache=False)
            assert 0x0004 in values and len(simulated.refused_unsecured) == 1

    hal.run(scenario, "sim://")
