"""SECMP0024 on the simulated ESME: CS06 activation, immediate and future-dated, with the hash compared on
the device against the image it holds; the answers and 8F66 / 8F67 alerts compared with the RTDS 11.3
CS06 scenarios (the RTDS COMMAND re-secured with the bench's TEST-ONLY keys, as for GCS13a)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import by_name
from test_meter_reference import DEVICES, ESME, SUPPLIER, eui, meter, resecure

import gbcs
from gateway.bench import bench_keystore
from gbcs.content import cs06_command_content

RTDS_HASH = bytes.fromhex("aa758690730934ff0685aa758690730934ff0685657788990011223344556677")
NEW_VERSION = bytes.fromhex("0123abcf")
AT = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bench_security() -> gbcs.Security:
    return gbcs.Security(bench_keystore(DEVICES))


def cs06(security: gbcs.Security, counter: int, image_hash: bytes, when: str | None = None) -> bytes:
    content = cs06_command_content(image_hash, counter, when)
    command = gbcs.command(SUPPLIER, eui(ESME), counter, 0x0012, content)
    return security.apply_mac(security.sign(command)).to_bytes()


def holding(image_hash: bytes = RTDS_HASH):
    device = meter()
    device.hold_image(image_hash, NEW_VERSION)
    return device


def answer(device, data: bytes, security: gbcs.Security) -> dict:
    [out] = device.handle(data)
    message = gbcs.read_message(out)
    assert (message.cra_flag, message.target, message.mac) == (2, SUPPLIER, None)
    assert security.check(message).signature is gbcs.Verdict.VALID
    return gbcs.decode_content(message)


def test_immediate_cs06_activates_the_held_image(bench_security) -> None:
    device = holding()
    decoded = answer(device, cs06(bench_security, 2000, RTDS_HASH), bench_security)
    assert (decoded["outcome"], decoded["firmware_version"]) == ("success", NEW_VERSION.hex())
    assert device.firmware_version == NEW_VERSION


@pytest.mark.parametrize(("held", "outcome"), [(None, "no_image_held"), (bytes(32), "hash_mismatch")])
def test_immediate_cs06_refused_by_the_device_check(bench_security, held, outcome) -> None:
    device = meter() if held is None else holding(held)
    before = device.firmware_version
    decoded = answer(device, cs06(bench_security, 2000, RTDS_HASH), bench_security)
    assert decoded["outcome"] == outcome and device.firmware_version == before


def test_future_dated_cs06_alerts_8f66_at_its_time(bench_security) -> None:
    device = holding()
    decoded = answer(device, cs06(bench_security, 2001, RTDS_HASH, "2030-01-15T09:00:00Z"), bench_security)
    assert decoded == {"format": "asn1", "what": "activate firmware response", "command_accepted": True}
    assert device.due(datetime(2030, 1, 15, 8, 59, 59, tzinfo=UTC)) == []
    assert device.firmware_version != NEW_VERSION
    [raised] = device.due(AT)
    message = gbcs.read_message(raised)
    assert (message.cra_flag, message.message_code, message.alert_code, message.target) == (3, 0xCA, 0x8F66,
                                                                                          SUPPLIER)
    assert bench_security.check(message).signature is gbcs.Verdict.VALID
    assert device.firmware_version == NEW_VERSION and device.due(AT) == []


def test_future_dated_cs06_with_a_wrong_hash_alerts_8f67(bench_security) -> None:
    device = holding(bytes(32))
    answer(device, cs06(bench_security, 2001, RTDS_HASH, "2030-01-15T09:00:00Z"), bench_security)
    [raised] = device.due(AT)
    decoded = gbcs.decode_content(gbcs.read_message(raised))
    assert (decoded["alert_code_int"], decoded["outcome"]) == (0x8F67, "hash_mismatch")


def test_cs06_without_the_supplier_signature_is_refused(bench_security) -> None:
    command = gbcs.command(SUPPLIER, eui(ESME), 2000, 0x0012, cs06_command_content(RTDS_HASH, 2000))
    device = holding()
    assert device.handle(bench_security.apply_mac(command).to_bytes()) == []
    assert device.refused == ["signature absent"] and device.firmware_version != NEW_VERSION


def shape(decoded: dict) -> dict:
    return {k: v for k, v in decoded.items() if k not in ("firmware_version", "originator_counter",
                                                          "execution_date_time")}


@pytest.mark.parametrize(("scenario", "held"), [("IMMEDIATE_SUCCESS", RTDS_HASH),
                                                ("IMMEDIATE_ERROR", None),
                                                ("FUTURE_DATED_SUCCESS", RTDS_HASH),
                                                ("FUTURE_DATED_ERROR", bytes(32))])
def test_rtds_cs06_through_the_meter_matches_the_reference(references, security, bench_security,
                                                           scenario, held) -> None:
    command = resecure(by_name(references, f"CS06_11.3_{scenario}_COMMAND"), bench_security, SUPPLIER,
                       eui(ESME), counter=int(gbcs.decode_content(gbcs.read_message(
                           by_name(references, f"CS06_11.3_{scenario}_COMMAND").data))["originator_counter"]))
    device = meter() if held is None else holding(held)
    ours = gbcs.read_message(device.handle(command.to_bytes())[0])
    reference = gbcs.read_message(by_name(references, f"CS06_11.3_{scenario}_RESPONSE").data)
    assert (ours.message_code, ours.mac is None, ours.signed) == (reference.message_code, True, True)
    assert shape(gbcs.decode_content(ours)) == shape(gbcs.decode_content(reference))
    if scenario.startswith("FUTURE"):
        when = gbcs.decode_content(command)["execution_date_time"]
        [raised] = device.due(datetime.fromisoformat(when.replace("Z", "+00:00")))
        code = "8F66_FUTURE_DATED_SUCCESS" if held == RTDS_HASH else "8F67_FUTURE_DATED_ERROR"
        ref_alert = gbcs.read_message(by_name(references, f"CS06_11.3_{code}_ALERT").data)
        ours_alert = gbcs.read_message(raised)
        assert (ours_alert.cra_flag, ours_alert.message_code, ours_alert.mac is None) == (
            ref_alert.cra_flag, ref_alert.message_code, True)
        assert shape(gbcs.decode_content(ours_alert)) == shape(gbcs.decode_content(ref_alert))
        assert gbcs.decode_content(ours_alert)["originator_counter"] == gbcs.decode_content(command)[
            "originator_counter"]
