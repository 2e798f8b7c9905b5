"""gw.gbcs on the simulated bench: GBCS commands relayed to the ESME over a GB-HRGP tunnel (several
Transfer Data frames per message), the meter's checks (MAC, counter, target) and the hub's checks of
the response (bad MAC, replayed counter, wrong target each refused by name); random tunnel frames and
random GBCS content through the input path are counted and dropped, never crash the hub."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
import zigpy.types as zigpy_t
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbcs
from certs.testpki import ENTITY_IDS
from gateway.bench import bench_credentials
from gateway.gbcs_service import GbcsResponseRejected
from gateway.han_input import HanInput
from gateway.session import Gateway
from gbcs.content import cs02a_command_content, cs02c_command_content
from hal.se_clusters import Tunneling
from hal.sim.config import default_bench
from hal.sim.wire import zcl_cluster_command

ESME = "00:0d:6f:00:0a:bc:00:01"


def bench(**sim_changes):
    config = default_bench()
    config = config.replace(devices=tuple(
        dataclasses.replace(s, sim=dataclasses.replace(s.sim, **sim_changes)) if s.id == "esme" else s
        for s in config.devices))
    return bench_credentials(config)[0]


async def test_cs02a_over_the_tunnel_reports_the_installed_cells(sim_han):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        command = gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([2, 3]))
        done = await gw.gbcs.exchange(esme, command)
        assert done.security.mac is gbcs.Verdict.VALID
        assert done.octets_out == len(command.to_bytes())
        parties = done.decoded["remote_parties"]
        assert [p["remote_party_role"] for p in parties] == ["supplier", "networkOperator"]
        no_ids = {c["subject_unique_id"] for c in parties[1]["trust_anchor_cells"]}
        assert no_ids == {ENTITY_IDS["networkOperator"].replace(":", "")}
        meter = app.han.device("esme")
        # the meter counts its response sent once the APS ACK of its last frame is back (APSDE-DATA.confirm),
        # a few milliseconds of air after the hub has the frame
        await asyncio.sleep(0.1)
        assert meter.tunnel.messages_in == 1 and meter.tunnel.messages_out == 1
        # a second exchange reuses the tunnel; the response is longer than one frame
        again = await gw.gbcs.exchange(esme, gw.gbcs.build_command(esme, 0x0008, cs02a_command_content(
            [2, 3, 4, 5])))
        assert len(again.response_bytes) > 77 and len(meter.tunnel.tunnels) == 1


async def test_cs02c_signed_command_gets_a_signed_request_for_a_new_key(sim_han):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        supplier = bytes.fromhex(ENTITY_IDS["supplier"].replace(":", ""))
        command = gw.gbcs.build_command(esme, 0x000A, cs02c_command_content("DS"), originator=supplier,
                                        signed=True)
        assert command.mac is not None and len(command.to_bytes()) > 77  # more than one frame
        done = await gw.gbcs.exchange(esme, command)
        request = done.decoded["certification_request"]
        assert done.security.signature is gbcs.Verdict.VALID and done.security.mac is gbcs.Verdict.ABSENT
        assert request["signature_valid"] and request["key_usage"] == ["digital_signature"]
        assert request["device"] == ESME.replace(":", "")


@pytest.mark.parametrize(("fault", "reason"), [("bad_mac", "mac"), ("stale_counter", "replay"),
                                               ("wrong_target", "target")])
async def test_a_meter_answering_wrongly_is_refused_by_name(sim_han, fault, reason):
    async with sim_han(bench(gbcs_fault=fault)) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        first = gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([3]))
        if fault == "stale_counter":  # the first answer repeats the counter of none yet: a counter error
            with pytest.raises(GbcsResponseRejected):
                await gw.gbcs.exchange(esme, first)
            first = gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([3]))
        with pytest.raises(GbcsResponseRejected) as caught:
            await gw.gbcs.exchange(esme, first)
        assert caught.value.reason == reason, caught.value


async def test_the_meter_refuses_bad_mac_replay_and_wrong_target(sim_han):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        meter = app.han.device("esme").gbcs
        good = gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([3]))
        await gw.gbcs.exchange(esme, good)
        bad_mac = good.with_(mac=bytes(12), originator_counter=good.originator_counter + 5)
        other = gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([3]))
        gsme = bytes.fromhex("000d6f000abc0002")
        wrong_target = gw.gbcs.security.apply_mac(other.with_(target=gsme))
        for data in (good.to_bytes(), bad_mac.to_bytes(), wrong_target.to_bytes()):
            await gw.gbcs.send(esme, data)
        await asyncio.sleep(5)
        assert [r.split(":")[0] for r in meter.refused] == ["replay", "MAC invalid", "wrong target"]
        assert meter.responses_sent == 1


def _frames(draw_data: bytes, tunnel_id: int) -> bytes:
    return zcl_cluster_command(Tunneling, 1, "transfer_data", server_to_client=True,
                               disable_default_response=True, tunnel_id=tunnel_id, data=draw_data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.one_of(
    st.binary(max_size=80),
    st.builds(lambda body: b"\xdf\x09\x02" + body, st.binary(max_size=70)),
    st.builds(lambda body: b"\xdd\x00\x00\x00\x00\x00\x00" + body, st.binary(max_size=70))),
    min_size=1, max_size=6))
async def test_random_tunnel_frames_are_counted_and_dropped(sim_han, chunks):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        tunnel = await gw.gbcs.open_tunnel(esme)
        tap = HanInput.of(gw)
        device = app.get_device(ieee=zigpy_t.EUI64.convert(ESME))
        for chunk in chunks:
            tap.frame(app, device, 0x0109, Tunneling.cluster_id, 1, _frames(chunk, tunnel.tunnel_id))
        stats = gw.gbcs.stats
        assert tap.stats.handler_errors == 0
        assert stats.responses == 0 and stats.alerts + stats.dropped <= stats.messages_in + len(chunks)
        # the hub still works afterwards on a fresh tunnel
        gw.gbcs._tunnels.clear()
        done = await gw.gbcs.exchange(esme, gw.gbcs.build_command(esme, 0x0008, cs02a_command_content([3])))
        assert done.security.mac is gbcs.Verdict.VALID


async def test_a_gbcs_alert_storm_through_the_tunnel_is_throttled_with_metadata(sim_han):
    from gateway.alerts import AlertPolicy

    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        gw.alerts.configure(AlertPolicy(window_s=60, threshold=10, forward_period_s=300))
        seen: list[dict] = []
        gw.alerts.subscribe(lambda event: seen.append(event.as_dict()))
        await gw.alerts.watch_gbcs(esme)
        sim = gw.sim("sim")
        sent = await sim.alert_storm(ESME, 0x8F01, 1.0, 40.0)
        await asyncio.sleep(65)  # the window drains: the next copy ends the episode
        sent += await sim.alert_storm(ESME, 0x8F01, 1.0, 0.5)
        await asyncio.sleep(5)
        meter = app.han.device("esme").gbcs
        assert meter.alerts_sent == sent and sent == 41  # the sender's own count
        stats = gw.alerts.device_stats(ESME)
        assert stats["received"] == sent and stats["forwarded"] + stats["suppressed"] == sent
        forwarded = [e for e in seen if e["kind"] == "alert"]
        assert all(e["intake"] == "gbcs" and e["alert_code"] == "0x8f01" for e in forwarded)
        assert len(forwarded) == 11  # the first ten at once, then the copy that ends the episode
        last = forwarded[-1]
        assert last["throttled_alert_count"] == 30 and last["throttled_alert_sequence_id"] == 1
        assert last["throttled_since"] is not None and last["gbcs_counter"] > forwarded[0]["gbcs_counter"]
        assert gw.gbcs.stats.alerts == sent and gw.gbcs.stats.dropped == 0


# ---------------------------------------------------------------------- SECMP0024: CS06 on the bench
IMAGE = bytes.fromhex("aa758690730934ff0685aa758690730934ff0685657788990011223344556677")
NEW = 0x00020000


def esme_holding(app, image_hash: bytes = IMAGE):
    """The simulated ESME with a completed transfer in its OTA client (the meters have no sample image to
    push: the held image is put in place, the activation path is what is tested)."""
    from hal.sim.ota_client import HeldImage

    meter = app.han.device("esme")
    meter.ota.held = HeldImage(NEW, image_hash.hex())
    meter.ota.downloaded_file_version = NEW
    return meter


SUPPLIER = bytes.fromhex(ENTITY_IDS["supplier"].replace(":", ""))


@pytest.mark.looptime
async def test_cs06_immediate_activates_the_image_the_meter_holds(sim_han):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme, meter = gw.device(ESME), esme_holding(app)
        done = await gw.gbcs.activate_firmware(esme, IMAGE, SUPPLIER)
        assert (done.ok, done.firmware_version, done.alert) == (True, f"{NEW:08x}", None)
        await asyncio.sleep(30)  # the reboot into the new image
        assert meter.ota.current_file_version == NEW
        refused = await gw.gbcs.activate_firmware(esme, bytes(32), SUPPLIER)
        assert (refused.ok, refused.outcome) == (False, "hash_mismatch")  # another hash: refused on the meter


@pytest.mark.looptime
@pytest.mark.parametrize(("held", "alert_code", "outcome"), [(IMAGE, 0x8F66, "success"),
                                                             (bytes(32), 0x8F67, "hash_mismatch")])
async def test_cs06_future_dated_alerts_at_its_time_on_the_virtual_clock(sim_han, held, alert_code, outcome):
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme, meter = gw.device(ESME), esme_holding(app, held)
        before = meter.ota.current_file_version
        when = meter._clock_now() + dt.timedelta(minutes=10)
        started = asyncio.get_running_loop().time()
        done = await gw.gbcs.activate_firmware(esme, IMAGE, SUPPLIER, at=when)
        assert done.response["command_accepted"] is True
        assert 590 < asyncio.get_running_loop().time() - started < 660  # the alert came at its time
        assert (done.alert["alert_code_int"], done.outcome, done.ok) == (alert_code, outcome, held == IMAGE)
        await asyncio.sleep(30)
        assert meter.ota.current_file_version == (NEW if held == IMAGE else before)


@pytest.mark.looptime
async def test_ota_activate_for_a_meter_is_a_cs06_after_a_real_hold_push(sim_han):
    """``gw.ota.activate`` on a meter goes by CS06 (HAN devices keep ZCL Upgrade End): the ESME first takes
    its sample image over the HAN with activation "hold", then the meter checks the hash itself."""
    import firmware_images
    from ota import read_image

    path = firmware_images.DIRECTORY / "TEST-ONLY-esme-1234-0000-00010200.ota"
    async with sim_han(bench()) as app:
        gw = Gateway({"sim": app})
        esme = gw.device(ESME)
        (pushed,) = (await gw.ota.push([esme], activation="hold")).outcomes
        assert (pushed.phase.value, pushed.image_version) == ("held", 0x00010200)
        refused = await gw.ota.activate(esme, "00" * 32)
        assert (refused.ok, refused.response.label) == (False, "hashMismatch")
        assert refused.reason.startswith("GBCS CS06 (counter ") and refused.running_version == 0x00010000
        done = await gw.ota.activate(esme, read_image(path.read_bytes()).sha256)
        assert (done.ok, done.running_version, done.held_version, done.rejoined) == (True, 0x00010200,
                                                                                     0x00010200, True)
        assert app.han.device("esme").ota.current_file_version == 0x00010200
