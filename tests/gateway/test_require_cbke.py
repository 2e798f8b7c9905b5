"""``[policies] require_cbke`` (issue 13) gates every Smart Energy service, not only the rig steps: a Type 1
device whose key establishment never completes gets no gas read (GPF), no change of tenancy, no load
control and nothing over the GB-HRGP tunnel, from the rig runner, from a direct service call and from the
CLI (exit 1, one line naming the device and why); a device that keys itself is served, the service
waiting for the key establishment it started after joining.

The gate is one (``gw.cbke``): every SE service, driven against keyless Type 1 devices, is refused and
counted in the one record ``gw.cbke.refusals`` under its own service, and the hub puts no SE frame on the
air to them. A new SE service that bypasses the gate fails here: its name is in ``SE_SERVICES`` but gets
no count, its frames reach the air, or its ``HanInput`` subscription is not gated."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest

import hal
from gateway.bench import bench_radio_config
from gateway.cbke import KE_CLUSTER_ID, SE_SERVICES
from gateway.cli import main
from gateway.exceptions import NoKeyEstablishment
from gateway.han_input import HanInput
from gateway.loadcontrol import LoadCommand
from gateway.session import Gateway, RadioEndpoint
from hal.se_clusters import aps_secured_after_cbke
from rigs.records import StepOutcome
from rigs.rigfile import parse_rig
from rigs.runner import RunOptions, run_rig

ESME, GSME, HCALCS = "00:0d:6f:00:0a:bc:00:01", "00:0d:6f:00:0a:bc:00:02", "00:0d:6f:00:0a:bc:00:05"
PPMID = "00:0d:6f:00:0a:bc:00:04"


def rig_text(*, silent: bool, steps: str = "") -> str:
    sim = '[devices.sim]\ncbke_fault = "silent"\n' if silent else ""
    devices = "".join(f'[[devices]]\nid = "{i}"\nrole = "{r}"\neui64 = "{e}"\n{sim}\n'
                      for i, r, e in (("esme", "ESME", ESME), ("gsme", "GSME", GSME),
                                      ("hcalcs", "HCALCS", HCALCS), ("ppmid", "PPMID", PPMID)))
    return ('[rig]\nname = "require-cbke"\n\n[[radios]]\nid = "sim"\nurl = "sim://"\n\n'
            '[policies]\nrequire_cbke = true\nhcalcs_commanders = ["supplier"]\n\n'
            f'{devices}{steps}[outputs]\nresults = "results"\n')


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


@pytest.fixture
def silent_rig(tmp_path: Path) -> Path:
    path = tmp_path / "silent.toml"
    path.write_text(rig_text(silent=True))
    return path


@pytest.mark.parametrize(("what", "args", "eui64"), [
    ("gas", ("gas", "read", "--device", GSME), GSME),
    ("cot", ("tenancy", "publish", "--device", ESME, "--provider-id", "7"), ESME),
    ("hcalcs", ("hcalcs", "set", "--device", HCALCS, "--off"), HCALCS),
])
def test_cli_refuses_se_service_to_a_keyless_device(capsys, silent_rig: Path, what: str,
                                                     args: tuple[str, ...], eui64: str) -> None:
    code, out, err = run(capsys, *args[:2], "--radio", f"sim://?rig={silent_rig}", *args[2:])
    assert code == 1, err
    assert out == ""
    [error] = [line for line in err.splitlines() if line.startswith("hanrig:")]
    assert f"{eui64}: no-key-establishment: the rig requires CBKE" in error, error
    assert "did not establish a key (timeout" in error   # the silent device's exchange ran out first
    assert "Traceback" not in err


def test_cli_serves_a_device_once_it_has_keyed_itself(capsys, tmp_path: Path) -> None:
    """The read starts while the GSME's CBKE is still to come: the GPF waits for it, then serves."""
    path = tmp_path / "keyed.toml"
    path.write_text(rig_text(silent=False))
    code, out, err = run(capsys, "gas", "read", "--radio", f"sim://?rig={path}", "--device", GSME, "--json")
    assert code == 0, err
    assert json.loads(out)["device"] == GSME


def test_direct_service_calls_are_refused(silent_rig: Path) -> None:
    async def scenario() -> None:
        async with Gateway.open([f"sim://?rig={silent_rig}"]) as gw:
            gw.cbke.policy = parse_rig(silent_rig.read_text(), silent_rig).policies.cbke
            with pytest.raises(NoKeyEstablishment, match=f"{GSME}: no-key-establishment"):
                await gw.gpf.read(GSME, timeout_s=600)
            with pytest.raises(NoKeyEstablishment, match=f"{ESME}: no-key-establishment"):
                await gw.gbcs.open_tunnel(gw.device(ESME))   # certificates, CS06, GBCS alerts
            with pytest.raises(NoKeyEstablishment, match=f"{ESME}: no-key-establishment"):
                await gw.tenancy.read_history(gw.device(ESME))
            assert NoKeyEstablishment.exit_code == 1

    hal.run(scenario, f"sim://?rig={silent_rig}")


def test_rig_steps_fail_naming_no_key_establishment(tmp_path: Path) -> None:
    steps = ('[[plan.steps]]\nstep = "join"\n\n[[plan.steps]]\nstep = "cbke"\n\n'
             '[[plan.steps]]\nstep = "gas"\ndevices = ["gsme"]\n\n'
             '[[plan.steps]]\nstep = "cot"\ndevices = ["esme"]\n\n'
             '[[plan.steps]]\nstep = "alerts"\ndevices = ["esme"]\n\n')
    path = tmp_path / "rig.toml"
    path.write_text(rig_text(silent=True, steps=steps))
    record = run_rig(parse_rig(path.read_text(), path), RunOptions(), progress_stream=io.StringIO(),
                     tty=False).record
    outcomes = {(d.id, s.name): s for d in record.duts for s in d.final_steps()}
    for key in (("gsme", "gas"), ("esme", "cot"), ("esme", "alerts")):
        step = outcomes[key]
        assert step.outcome is StepOutcome.FAIL, (key, step)
        assert [d.code for d in step.details] == ["no-key-establishment"], step.details


@pytest.mark.parametrize("silent", [True, False])
def test_cli_ota_push_waits_for_the_key_then_serves_or_refuses(capsys, tmp_path: Path, silent: bool) -> None:
    """OTA records the refusal as the device's outcome (exit 1); a device still keying itself when the push
    starts is waited for, then served."""
    path = tmp_path / "rig.toml"
    path.write_text(rig_text(silent=silent))
    code, out, err = run(capsys, "ota", "push", "--radio", f"sim://?rig={path}", "--device", PPMID,
                         "--activate", "hold", "--json", "--no-progress")
    [device] = json.loads(out)["devices"]
    if silent:
        assert code == 1 and device["phase"] == "refused", (out, err)
        assert "no-key-establishment" in json.dumps(device)
    else:
        assert code == 0 and device["phase"] == "held", (out, err)


def test_unsolicited_traffic_of_a_keyless_device_is_refused_and_counted(tmp_path: Path) -> None:
    """What a keyless device sends unasked gets no SE service either: its ZCL alarms and its GBCS alerts
    (through a tunnel opened before the policy applied) are neither forwarded nor throttled but counted as
    refused with the reason (SECMP0062: never lost uncounted), and its gas pushes are not taken by the GPF."""
    path = tmp_path / "silent.toml"
    path.write_text(rig_text(silent=True).replace('cbke_fault = "silent"\n',
                                                  'cbke_fault = "silent"\ngas_push_interval_s = 60.0\n'))

    url = f"sim://?rig={path}"

    async def scenario() -> None:
        radio_config, trust = bench_radio_config(url)   # the meters' GBCS side, as ``alerts watch`` has it
        async with Gateway.open([RadioEndpoint("radio", url, radio_config)]) as gw:
            assert trust is not None and trust.keystore is not None
            gw.gbcs.use_keystore(trust.keystore)
            await gw.alerts.watch_gbcs(gw.device(ESME))   # no policy yet: the tunnel opens
            forwarded: list[object] = []
            gw.alerts.subscribe(forwarded.append)
            gw.cbke.policy = parse_rig(path.read_text(), path).policies.cbke
            sim = gw.sim()
            assert sim is not None
            zcl_sent = await sim.alert_storm(PPMID, 0x10, 2.0, 5.0)
            gbcs_sent = await sim.alert_storm(ESME, 0x8F1C, 2.0, 5.0)
            await asyncio.sleep(150)   # two gas pushes, and the last alerts' frames
            assert zcl_sent > 0 and gbcs_sent > 0
            assert gw.alerts.device_stats(ESME)["received"] == gbcs_sent   # the tunnel carried them
            counts = gw.alerts.counts()
            assert counts[(PPMID, 0x10)]["refused_by_reason"] == {"no-key-establishment": zcl_sent}
            assert counts[(ESME, 0x8F1C)]["refused_by_reason"] == {"no-key-establishment": gbcs_sent}
            for key in ((PPMID, 0x10), (ESME, 0x8F1C)):
                assert counts[key]["forwarded"] == counts[key]["throttled"] == 0, counts[key]
            assert gw.alerts.stats()["refused"] == zcl_sent + gbcs_sent
            assert forwarded == [] and gw.alerts.unbalanced() == []
            assert gw.gpf.history.readings(GSME) == ()
            # the one record: per device and service, the ZCL alarms, the tunnel frames and the gas pushes
            # (a Metering and a Time report each) the gate kept from the services
            assert gw.cbke.refusals.of(PPMID) == {"alerts": zcl_sent}
            assert gw.cbke.refusals.of(ESME) == {"gbcs": gbcs_sent}
            assert gw.cbke.refusals.of(GSME)["gpf"] >= 4

    hal.run(scenario, url)


def test_cli_alerts_watch_closes_without_a_traceback_while_a_sleepy_reply_waits(
        capsys, caplog, silent_rig: Path) -> None:
    """Closing the session while the hub's reply to the sleepy GSME's Time read waits for its poll: the
    stopping PAN fails that frame, zigpy retries it, and the session must let that retry end instead of
    cancelling it mid-sleep (which zigpy logs as an ERROR with a traceback)."""
    caplog.set_level(logging.DEBUG, logger="zigpy.device")   # zigpy notes each failed attempt here
    code, _out, err = run(capsys, "alerts", "watch", "--radio", f"sim://?rig={silent_rig}", "--for", "20")
    assert code == 0, err
    failed_at_stop = [r for r in caplog.records if r.name == "zigpy.device" and "the PAN stopped" in (
        r.getMessage() + str(r.exc_info and r.exc_info[1]))]
    assert failed_at_stop, "the scenario lost its point: no reply was waiting for a poll at close"
    assert "Traceback" not in err
    assert [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR] == []


HUB_NWK = 0x0000
DEFAULT_RESPONSE = 0x0B
SHA = "ab" * 32


def _se_frames_from_hub(frames: list, nwks: dict[int, str]) -> list[str]:
    """The hub's frames on an SE cluster to a keyless device (zigpy's Default Responses aside: they
    acknowledge what the device sent, they serve nothing)."""
    found = []
    for f in frames:
        if f.src != HUB_NWK or f.dst not in nwks or not aps_secured_after_cbke(f.cluster):
            continue
        data = bytes(f.data)
        general = len(data) >= 3 and data[0] & 0x03 == 0
        command = data[4] if general and data[0] & 0x04 else data[2] if general else None
        if command == DEFAULT_RESPONSE:
            continue
        found.append(f"{nwks[f.dst]} cluster 0x{f.cluster:04x} {data.hex()}")
    return found


def test_every_se_service_refuses_a_keyless_device_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "silent.toml"
    path.write_text(rig_text(silent=True).replace('cbke_fault = "silent"\n',
                                                  'cbke_fault = "silent"\ngas_push_interval_s = 60.0\n'))
    url = f"sim://?rig={path}"

    async def scenario() -> None:
        radio_config, trust = bench_radio_config(url)
        async with Gateway.open([RadioEndpoint("radio", url, radio_config)]) as gw:
            assert trust is not None and trust.keystore is not None
            gw.gbcs.use_keystore(trust.keystore)
            gw.alerts.listen_gbcs()
            gw.cbke.policy = parse_rig(path.read_text(), path).policies.cbke
            sim = gw.sim()
            assert sim is not None
            mark = sim.trace_mark()
            esme, gsme, hcalcs, ppmid = (gw.device(e) for e in (ESME, GSME, HCALCS, PPMID))
            # every request the hub starts, per service; each must raise, naming the device
            requests = [
                ("gpf", GSME, lambda: gw.gpf.read(GSME, timeout_s=600)),
                ("gbcs", ESME, lambda: gw.gbcs.open_tunnel(esme)),
                ("gbcs", GSME, lambda: gw.gbcs.send(gsme, bytes(40))),
                ("gbcs", ESME, lambda: gw.certs.read_installed(esme)),
                ("gbcs", ESME, lambda: gw.ota.activate(esme, SHA)),            # CS06 over the tunnel
                ("tenancy", ESME, lambda: gw.tenancy.publish(esme, provider_id=7)),
                ("tenancy", ESME, lambda: gw.tenancy.read_history(esme)),
                ("loadcontrol", HCALCS, lambda: gw.loadcontrol.schedule(hcalcs, LoadCommand(level=0,
                                                                                           duration_s=600))),
                ("ota", PPMID, lambda: gw.ota.activate(ppmid, SHA)),
            ]
            for _service, eui64, request in requests:
                with pytest.raises(NoKeyEstablishment, match=f"{eui64}: no-key-establishment"):
                    await request()
            [refused] = (await gw.ota.push([ppmid])).outcomes   # OTA records the refusal as the outcome
            assert refused.reason_code.value == "no-key-establishment"
            # what the devices send unasked: alarms, gas pushes (and, on the PPMID, OTA queries)
            alarms = await sim.alert_storm(PPMID, 0x10, 2.0, 5.0)
            await asyncio.sleep(150)
            assert alarms > 0

            record = gw.cbke.refusals
            assert record.of(ESME) == {"gbcs": 3, "tenancy": 2}
            assert record.of(HCALCS) == {"loadcontrol": 1}
            # the GSME: the held message, and the tunnel it asks for itself when it wakes; the read, and
            # two pushes of a Metering and a Time report each
            assert record.of(GSME)["gbcs"] >= 2 and record.of(GSME)["gpf"] >= 1 + 2 * 2
            assert record.of(PPMID)["alerts"] == alarms and record.of(PPMID)["ota"] >= 2
            # every SE service was driven and refused: a service added to SE_SERVICES must be driven here
            assert {s for device in record.counts.values() for s in device} == set(SE_SERVICES)
            assert all(r["reason"].startswith("no-key-establishment") for r in record.to_json().values())
            assert gw.alerts.unbalanced() == [] and gw.gpf.history.readings(GSME) == ()
            # and nothing went out: no SE frame from the hub reached a keyless device
            nwks = {d.nwk: d.eui64 for d in (esme, gsme, hcalcs, ppmid)}
            assert _se_frames_from_hub(list(sim.frames(since=mark)), nwks) == []
            # Basic (SECMP0056) is served either way
            for device in (esme, gsme, hcalcs, ppmid):
                row = await gw.inventory.read(device)
                assert row.manufacturer is not None and row.model is not None, row

    hal.run(scenario, url)


def test_every_han_input_subscription_on_an_se_cluster_is_gated() -> None:
    """A new handler must name its service when it subscribes; only Key Establishment is open to all."""
    async def scenario() -> None:
        async with Gateway.open(["sim://"]) as gw:
            gw.loadcontrol._subscribe()   # subscribed on first use
            subscriptions = HanInput.of(gw).subscriptions()
            assert {cluster for cluster, _ in subscriptions if aps_secured_after_cbke(cluster)}, subscriptions
            open_to_all = {cluster for cluster, service in subscriptions if service is None}
            assert open_to_all == {KE_CLUSTER_ID}, subscriptions
            assert {service for _, service in subscriptions} - {None} <= set(SE_SERVICES)

    hal.run(scenario, "sim://")


def test_cli_alerts_watch_json_shows_the_refusals(capsys, silent_rig: Path) -> None:
    """``hanrig alerts watch``: the session's one record of SE service refused, per device and service, in
    the JSON document (``se_refused``) and the text summary; the keyless ESME's GBCS alert intake (its
    tunnel) was refused and counted."""
    code, out, err = run(capsys, "alerts", "watch", "--radio", f"sim://?rig={silent_rig}", "--for", "20",
                         "--json")
    assert code == 0, err
    refused = json.loads(out)["se_refused"]
    assert refused[ESME]["refused"]["gbcs"] == 1
    assert refused[ESME]["reason"].startswith("no-key-establishment: the rig requires CBKE")
    assert f"{ESME}: no GBCS alert intake (device {ESME}: no-key-establishment" in err
    code, out, err = run(capsys, "alerts", "watch", "--radio", f"sim://?rig={silent_rig}", "--for", "20")
    assert code == 0, err
    assert f"{ESME}: SE service refused: gbcs 1 (no-key-establishment" in out
