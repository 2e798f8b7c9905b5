"""Building GBCS messages: build -> read round trips (hypothesis), random bytes raise only hanrig's own
error, signing and MACing with the test keystore, the content builders against the RTDS octets, the
originator-counter rules and a keystore that never shows its keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import by_name
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbcs
from gbcs import content as gc
from hanrig_errors import HanrigError

EUI = st.binary(min_size=8, max_size=8)
# content prefixes that steer the decoder into each format (GBZ, ASN.1, DLMS) before random octets
PREFIXES = st.sampled_from([b"", b"\x01\x09", b"\x01\x09\x01\x03\x07\x02", b"\x30", b"\x30\x82",
                            b"\x0f", b"\xd9", b"\xda", b"\x05\x00"])
KNOWN_CODES = [0x0008, 0x000A, 0x0012, 0x0074, 0x00CA, 0x00CC, 0x0103, 0x0128, 0x001A, 0x4242]


@st.composite
def messages(draw) -> gbcs.Message:
    builder = draw(st.sampled_from([gbcs.command, gbcs.response, gbcs.alert]))
    date_time = draw(st.none() | st.binary(min_size=12, max_size=12))
    counter, code = draw(st.integers(0, 2**64 - 1)), draw(st.sampled_from(KNOWN_CODES))
    payload = draw(PREFIXES) + draw(st.binary(max_size=300))
    message = builder(draw(EUI), draw(EUI), counter, code, payload, date_time=date_time,
                      supplementary=draw(st.sampled_from([b"", bytes(8), bytes(range(24))])))
    signature = draw(st.sampled_from(["empty", "present", "missing"]))
    if signature == "present":
        message = message.with_(signature=draw(st.binary(min_size=64, max_size=64)))
    elif signature == "missing" and message.cra_flag == 1:
        message = message.with_(signature=None)
    if draw(st.booleans()):
        message = message.with_(mac=draw(st.binary(min_size=12, max_size=12)))
    return message


@settings(max_examples=300, deadline=None)
@given(messages())
def test_build_then_read_round_trips(message):
    wire = message.to_bytes()
    read = gbcs.read_message(wire)
    assert read == message
    assert read.to_bytes() == wire


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_hanrigs_error(data):
    for candidate in (data, b"\xdf" + data, b"\xdd" + bytes(6) + data):
        try:
            message = gbcs.read_message(candidate)
        except HanrigError:
            continue
        try:
            gbcs.decode_content(message)
        except HanrigError:
            pass


@settings(max_examples=600, deadline=None)
@given(messages())
def test_random_content_of_known_use_cases_decodes_or_raises_hanrigs_error(message):
    try:
        gbcs.decode_content(message)
    except HanrigError:
        pass
    _ = message.alert_code


def test_supplier_command_signed_and_maced_verifies(security):
    supplier, device = bytes.fromhex("90b3d51f30010000"), bytes.fromhex("00db1234567890a0")
    content = gc.cs06_command_content(bytes(range(32)), 1234, "2030-01-15T09:00:00Z")
    message = security.apply_mac(security.sign(gbcs.command(supplier, device, 0x1000, 0x0012, content)))
    read = gbcs.read_message(message.to_bytes())
    report = security.check(read)
    assert (report.mac, report.signature) == (gbcs.Verdict.VALID, gbcs.Verdict.VALID)
    assert report.mac_party == security.access_control_broker
    decoded = gbcs.decode_content(read)
    assert decoded["originator_counter"] == 1234 and decoded["execution_date_time"] == "2030-01-15T09:00:00Z"


def test_no_key_is_a_build_error_not_a_guess(security):
    stranger = bytes.fromhex("1122334455667788")
    message = gbcs.response(stranger, stranger, 1, 0x0074, b"")
    with pytest.raises(gbcs.BuildError):
        security.apply_mac(message)
    with pytest.raises(gbcs.BuildError):
        security.sign(message)
    assert security.verify_mac(message.with_(mac=bytes(12))) is gbcs.Verdict.NO_KEY


def test_cs06_and_ccs08_builders_give_the_rtds_octets(references):
    """Contents built from the values the RTDS files carry equal those files' content octets."""
    cases = {
        "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND": gc.cs06_command_content(
            bytes.fromhex("aa758690730934ff0685aa758690730934ff0685657788990011223344556677"), 1001,
            "2030-01-15T09:00:00Z"),
        "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND": gc.cs06_command_content(
            bytes.fromhex("aa758690730934ff0685aa758690730934ff0685657788990011223344556677"), 1000),
        "CS06_11.3_IMMEDIATE_ERROR_RESPONSE": gc.cs06_response_content(
            gc.ActivationOutcome.NO_IMAGE_HELD, bytes.fromhex("0123abcf")),
        "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE": gc.cs06_response_content(None),
        "CS06_11.3_8F67_FUTURE_DATED_ERROR_ALERT": gc.cs06_alert_content(
            0x8F67, "2030-01-01T00:00:00Z", 1004, gc.ActivationOutcome.HASH_MISMATCH,
            bytes.fromhex("0123abcf")),
        "CCS08_NA_NA_ALERT": gc.ccs08_alert_content(
            0x8F8A, "2015-01-01T00:00:00Z", bytes.fromhex("00db1234567890a4"), bytes.fromhex("0123abcd"),
            gc.TransferOutcome.SUCCESS),
        "GCS13a_4.1.1_SUCCESS_RELIABLE_GPF_COMMAND": gc.gcs13a_command_content(),
    }
    for name, built in cases.items():
        ref = by_name(references, name + "_GBCS")
        assert built.hex() in ref.data.hex(), name
        assert gbcs.read_message(ref.data).content == built, name


def test_signed_alert_built_by_a_device_verifies():
    """A simulated device holding its own keys signs its alerts; a remote party verifies them."""
    device_key, hub = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    device, supplier = bytes.fromhex("00db1234567890ff"), bytes.fromhex("90b3d51f30010000")
    keystore = gbcs.Keystore()
    keystore.add_private_key(device, gbcs.KeyUse.DS, device_key)
    keystore.add_private_key(device, gbcs.KeyUse.KA, hub)
    keystore.add_public_key(supplier, gbcs.KeyUse.KA, ec.generate_private_key(ec.SECP256R1()).public_key())
    security = gbcs.Security(keystore)
    alert = security.sign(gbcs.alert(device, supplier, 7, 0x0128, gc.ccs08_alert_content(
        0x8F89, "2026-12-06T22:00:00Z", bytes(8), b"\x01\x02\x03\x04",
        gc.TransferOutcome.FILE_TRANSFER_FAILURE)))
    maced = security.apply_mac(alert)
    read = gbcs.read_message(maced.to_bytes())
    assert security.check(read).ok and security.check(read).signature is gbcs.Verdict.VALID
    assert read.alert_code == 0x8F89 and gbcs.decode_content(read)["outcome"] == "file_transfer_failure"
    assert security.key_agreements == 1
    security.check(read)
    assert security.key_agreements == 1  # the shared secret is cached per (remote party, device, use)


def test_counter_tracker_names_replay_and_out_of_order():
    tracker = gbcs.CounterTracker()
    supplier, device = bytes.fromhex("90b3d51f30010000"), bytes.fromhex("00db1234567890a0")
    accepted = [gbcs.command(supplier, device, counter, 0x0074, b"") for counter in (1000, 1001, 1005)]
    for message in accepted:
        tracker.accept(message)
    with pytest.raises(gbcs.CounterRejected) as replay:
        tracker.accept(accepted[1])
    assert replay.value.reason == "replay" and replay.value.exit_code == 1
    with pytest.raises(gbcs.CounterRejected) as late:
        tracker.accept(gbcs.command(supplier, device, 1003, 0x0074, b""))
    assert late.value.reason == "out-of-order"
    tracker.accept(gbcs.response(device, supplier, 1001, 0x0074, b""))  # responses carry the command's
    tracker.accept(gbcs.command(supplier, device, 1006, 0x0074, b""))


def test_keystore_never_shows_keys(keystore_dir):
    keystore = gbcs.Keystore(keystore_dir)
    key = keystore.private_key(bytes.fromhex("90b3d51f30010000"), gbcs.KeyUse.KA)
    assert key is not None
    secret = key.private_numbers().private_value
    for text in (repr(keystore), str(keystore), repr(gbcs.Security(keystore))):
        assert f"{secret:x}" not in text and "PRIVATE" not in text


def test_dlms_date_time_round_trip():
    when = gbcs.DlmsDateTime.from_datetime(datetime(2015, 1, 1, 9, tzinfo=UTC), clock_status=0x02)
    assert when.encode().hex() == "07df0101ff090000008000" + "02"  # the UNRELIABLE scenario's octets
    assert gbcs.DlmsDateTime.decode(when.encode()) == when and when.reliable is False


@pytest.fixture(scope="module")
def bench_security() -> gbcs.Security:
    from certs.testpki import make_test_pki

    keystore = gbcs.Keystore()
    keystore.add_test_pki(make_test_pki())
    return gbcs.Security(keystore)


def test_bench_pki_keys_mac_sign_and_encrypt(bench_security):
    """The simulated GPF answers GCS13a with the bench PKI's keys; the supplier's side verifies it."""
    supplier, gsme = bytes.fromhex("90b3d51f30010001"), bytes.fromhex("000d6f000abc0002")
    assert bench_security.access_control_broker == bytes.fromhex("90b3d51f30010003")
    command = bench_security.apply_mac(
        gbcs.command(supplier, gsme, 5000, 0x0074, gc.gcs13a_command_content()))
    when = gbcs.DlmsDateTime.from_datetime(datetime(2026, 12, 6, 22, tzinfo=UTC),
                                           clock_status=gbcs.ClockStatus.DIFFERENT_CLOCK_BASE)
    header = gbcs.response(gsme, supplier, 5000, 0x0074, b"", date_time=when)
    reply = bench_security.apply_mac(header.with_(
        content=gc.gcs13a_response_content(header, gc.GasRegisters(987654, 1, 1000), bench_security)))
    for message in (command, reply):
        read = gbcs.read_message(message.to_bytes())
        assert bench_security.check(read).mac is gbcs.Verdict.VALID
    summary = gbcs.decode_content(gbcs.read_message(reply.to_bytes()), bench_security)["gcs13a"]
    assert summary["consumption"] == 987.654 and summary["unit"] == "m3"
    assert summary["date_time"]["clock_status_flags"] == ["different_clock_base"]
