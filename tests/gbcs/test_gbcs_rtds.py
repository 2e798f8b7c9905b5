"""Every message of the DCC's RTDS sample: read, written back byte for byte, its name's kind and alert
code agreed with, every MAC and signature the test keystore can check verified, every truncation and
every flipped bit refused cleanly, and the GPF's GCS13a responses rebuilt exactly."""

from __future__ import annotations

import pytest
from conftest import by_name, reference_params

import gbcs
from gbcs.content import GasRegisters, gcs13a_response_content

KINDS = {"COMMAND": "command", "PRECOMMAND": "command", "RESPONSE": "response", "ALERT": "alert"}


@pytest.mark.parametrize("ref", reference_params())
def test_reads_and_writes_back_byte_for_byte(ref):
    message = gbcs.read_message(ref.data)
    assert message.to_bytes() == ref.data
    assert message.kind == KINDS[ref.kind]
    if ref.kind != "ALERT":
        assert message.alert_code is None
    elif ref.alert_code is not None:  # the name says which alert (CCS08's does not: see its own test)
        assert message.alert_code == ref.alert_code
    if message.alert_code is not None:
        assert message.alert_name  # every alert code in the sample has a name
    # PRECOMMANDs carry no signature-length octet; COMMANDs are MACed by the Access Control Broker
    assert (message.signature is None) == (ref.kind == "PRECOMMAND")
    assert message.use_case is not None
    assert ref.use_case.startswith(message.use_case.split()[0]) or message.use_case.endswith("alert")


@pytest.mark.parametrize("ref", reference_params())
def test_every_mac_and_signature_verifies(ref, security):
    message = gbcs.read_message(ref.data)
    report = security.check(message)
    # The keystore holds every key the sample needs, so nothing is "no-key".
    assert report.mac == (gbcs.Verdict.VALID if ref.data[0] == 0xDD else gbcs.Verdict.ABSENT)
    assert report.signature in (gbcs.Verdict.VALID, gbcs.Verdict.ABSENT)
    if ref.kind in ("RESPONSE", "ALERT") and ref.data[0] == 0xDF:
        assert report.signature is gbcs.Verdict.VALID  # unMACed responses and alerts are signed


@pytest.mark.parametrize("ref", reference_params())
def test_rebuilding_recomputes_the_same_mac(ref, security):
    message = gbcs.read_message(ref.data)
    if message.mac is None:
        pytest.skip("not MAC-protected")
    rebuilt = security.apply_mac(message.with_(mac=None))
    assert rebuilt.to_bytes() == ref.data


@pytest.mark.parametrize("ref", reference_params())
def test_content_decodes(ref, security):
    message = gbcs.read_message(ref.data)
    decoded = gbcs.decode_content(message, security)
    assert decoded["format"] in ("asn1", "gbz", "dlms")
    if ref.alert_code is not None:
        assert decoded["alert_code_int"] == ref.alert_code


@pytest.mark.parametrize("ref", reference_params())
def test_every_truncation_is_a_clean_error(ref):
    for length in range(len(ref.data)):
        with pytest.raises(gbcs.GbcsError):
            gbcs.read_message(ref.data[:length])


@pytest.mark.parametrize("ref", reference_params())
def test_every_flipped_bit_fails_the_read_or_a_check(ref, security):
    """A flipped bit never leaves a message whose checks all pass: the read fails, or a MAC or signature
    that verified is now invalid (or, when the bit changed whose key it is, unverifiable). Every bit of
    messages under 400 octets; one bit per octet (rotating) of the longer CS02b/CS02c ones, for time."""
    original = security.check(gbcs.read_message(ref.data))
    protected = [name for name in ("mac", "signature") if getattr(original, name) is gbcs.Verdict.VALID]
    if not protected:
        pytest.skip("a PRECOMMAND: nothing protects it")
    for index in range(len(ref.data)):
        for bit in range(8) if len(ref.data) < 400 else (index % 8,):
            flipped = bytearray(ref.data)
            flipped[index] ^= 1 << bit
            try:
                message = gbcs.read_message(bytes(flipped))
            except gbcs.GbcsError:
                continue
            report = security.check(message)
            assert any(getattr(report, name) is not gbcs.Verdict.VALID for name in protected), (index, bit)


def test_cs06_outcomes_match_the_file_names(references, security):
    for ref in references:
        if ref.use_case != "CS06" or ref.kind not in ("RESPONSE", "ALERT"):
            continue
        decoded = gbcs.decode_content(gbcs.read_message(ref.data), security)
        if "IMMEDIATE" in ref.scenario or ref.kind == "ALERT":
            assert (decoded["outcome"] == "success") == ref.scenario.endswith("SUCCESS"), ref.name
        else:
            assert decoded["command_accepted"] is True


def test_ccs08_reports_device_version_and_outcome(references):
    ref = by_name(references, "CCS08")
    decoded = gbcs.decode_content(gbcs.read_message(ref.data))
    # the hub's alert names the device 00db1234567890a4, its firmware 0123abcd, outcome 0 (octets in the file)
    assert ref.data.hex().upper().count("0800DB1234567890A404040123ABCD020100") == 1
    assert (decoded["device"], decoded["firmware_version"], decoded["outcome"]) == (
        "00db1234567890a4", "0123abcd", "success")
    assert decoded["alert_code_int"] == 0x8F8A == int.from_bytes(ref.data[39:41], "big")


def test_gcs13a_clock_status_per_scenario(references, security):
    expected = {"RELIABLE_GPF": True, "RELIABLE_GSME": True, "UNRELIABLE": False}
    for scenario, reliable in expected.items():
        ref = by_name(references, f"SUCCESS_{scenario}_RESPONSE")
        decoded = gbcs.decode_content(gbcs.read_message(ref.data), security)
        summary = decoded["gcs13a"]
        assert summary["date_time"]["reliable"] is reliable
        assert summary["unit"] == "m3"


@pytest.mark.parametrize("scenario", ["RELIABLE_GPF", "RELIABLE_GSME", "UNRELIABLE"])
def test_gcs13a_response_built_equals_the_reference(references, security, scenario):
    """The GPF's response from the scenario's inputs is the reference's bytes, encrypted registers and
    MAC included. The inputs (registers, time, clock status, counter) are what the reference says."""
    ref = by_name(references, f"SUCCESS_{scenario}_RESPONSE")
    read = gbcs.read_message(ref.data)
    registers = gbcs.decode_content(read, security)["gcs13a"]["registers"]
    header = gbcs.response(read.originator, read.target, read.originator_counter, 0x0074, b"",
                           date_time=gbcs.DlmsDateTime.decode(read.date_time))
    content = gcs13a_response_content(header, GasRegisters(
        registers["current_summ_delivered"], registers["multiplier"], registers["divisor"],
        registers["unit_of_measure"]), security)
    built = header.with_(content=content)
    assert built.general_signing_apdu() == read.general_signing_apdu()  # the wrapper aside
    assert security.apply_mac(built).to_bytes() == ref.data              # and with it


def test_command_mac_is_the_access_control_brokers(security):
    assert security.access_control_broker == bytes.fromhex("90b3d51f30000002")


def test_ecs02_dlms_results_match_the_file_names(references, security):
    """ESME (DLMS) content: the access-response results and the future-dated alert's code."""
    for ref in references:
        if ref.use_case != "ECS02":
            continue
        decoded = gbcs.decode_content(gbcs.read_message(ref.data), security)
        assert decoded["format"] == "dlms"
        if ref.kind == "RESPONSE":
            all_ok = all(result["success"] for result in decoded["results"])
            assert all_ok == ("ERROR" not in ref.scenario), ref.name
        elif ref.kind in ("COMMAND", "PRECOMMAND"):
            assert {request["kind"] for request in decoded["requests"]} == {"set"}
            assert len(decoded["data"]) == len(decoded["requests"])
        else:
            assert decoded["what"] == "data-notification" and decoded["alert_code_int"] == ref.alert_code
