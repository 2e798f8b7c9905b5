"""The simulated meter's and the hub GPF's answers against the DCC's reference: each RTDS COMMAND (its
content octets as published) is re-secured with the bench's TEST-ONLY keys (the bench's device and remote
party ids, MAC by the bench's Access Control Broker, signature by the bench's supplier where the RTDS
command is signed), put through the simulated ESME's parser (``gbcs.device``) or the GPF's
(``gateway.gcs13a``), and the response's structure and content fields are compared with the RTDS RESPONSE
decoded with the RTDS keystore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Reference, by_name

import gbcs
from certs.testpki import ENTITY_IDS
from gateway.bench import _bench_pki, bench_keystore, meter_keystore
from gateway.gcs13a import GasProxyGbcs, GpfCommandRefused
from gateway.gpf import GsmePush, classify
from gateway.gpf_service import GasRecord
from gbcs.device import GbcsMeter, cells_from_certificates

ESME = "00:0d:6f:00:0a:bc:00:01"
GPF = "00:0d:6f:00:0a:bc:00:00"
DEVICES = (("ESME", ESME), ("GSME", "00:0d:6f:00:0a:bc:00:02"), ("GPF", GPF))


def eui(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


ACB, SUPPLIER = eui(ENTITY_IDS["accessControlBroker"]), eui(ENTITY_IDS["supplier"])


@pytest.fixture(scope="module")
def bench_security() -> gbcs.Security:
    return gbcs.Security(bench_keystore(DEVICES))


def resecure(reference: Reference, security: gbcs.Security, originator: bytes, target: bytes,
             counter: int = 1000) -> gbcs.Message:
    """The RTDS command's content under bench ids and keys (signed when the RTDS command is)."""
    original = gbcs.read_message(reference.data)
    command = gbcs.command(originator, target, counter, original.message_code, original.content)
    if original.signed:
        command = security.sign(command)
    return security.apply_mac(command)


def meter(**changes: Any) -> GbcsMeter:
    pki = _bench_pki(DEVICES, 1)
    cells = {cell.name: cell.der for cell in pki.meter_cells()}
    return GbcsMeter(eui(ESME), gbcs.Security(meter_keystore(pki, ESME), access_control_broker=ACB),
                     cells_from_certificates(cells), **changes)


def shape(value: Any) -> Any:
    """A decoded content with the fields that name keys and parties blanked (they differ by design)."""
    if isinstance(value, dict):
        return {k: ("<id>" if k in ("subject_unique_id", "subject_key_id", "public_key", "device")
                    else shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return value


def test_cs02a_answer_has_the_reference_structure(references, security, bench_security) -> None:
    command = resecure(by_name(references, "CS02aMAC_6.24.1_SUCCESS_COMMAND"), bench_security, ACB, eui(ESME))
    [answer] = meter(seq_numbers={3: 1}).handle(command.to_bytes())
    ours = gbcs.read_message(answer)
    reference = gbcs.read_message(by_name(references, "CS02aMAC_6.24.1_SUCCESS_RESPONSE").data)
    assert (ours.cra_flag, ours.message_code, ours.target, ours.originator_counter) == (
        2, reference.message_code, ACB, command.originator_counter)
    assert bench_security.check(ours).mac is gbcs.Verdict.VALID and security.check(reference).mac is \
        gbcs.Verdict.VALID
    assert shape(gbcs.decode_content(ours)) == shape(gbcs.decode_content(reference))
    no_cells = gbcs.decode_content(ours)["remote_parties"][1]["trust_anchor_cells"]
    assert {c["subject_unique_id"] for c in no_cells} == {ENTITY_IDS["networkOperator"].replace(":", "")}


def test_cs02c_answer_has_the_reference_structure(references, bench_security) -> None:
    command = resecure(by_name(references, "CS02c_6.17_SUCCESS_COMMAND"), bench_security, SUPPLIER,
                       eui(ESME))
    assert command.signed
    [answer] = meter().handle(command.to_bytes())
    ours = gbcs.read_message(answer)
    reference = gbcs.read_message(by_name(references, "CS02c_6.17_SUCCESS_RESPONSE").data)
    assert (ours.mac, reference.mac) == (None, None)  # signed, not MACed, in both
    assert bench_security.check(ours).signature is gbcs.Verdict.VALID
    assert shape(gbcs.decode_content(ours)) == shape(gbcs.decode_content(reference))
    assert gbcs.decode_content(ours)["certification_request"]["device"] == ESME.replace(":", "")


def test_the_meter_refuses_an_rtds_command_under_rtds_keys(references) -> None:
    """The unmodified RTDS command: another target and another ACB's MAC; refused, nothing answered."""
    device = meter()
    assert device.handle(by_name(references, "CS02aMAC_6.24.1_SUCCESS_COMMAND").data) == []
    assert device.refused[0].startswith("wrong target")


GSME_MIDNIGHT = bytes.fromhex("07df0101ff00000000800000")  # what the GSME's own clock stamped
GSME_NINE = bytes.fromhex("07df0101ff09000000800000")
SCENARIOS = {
    # scenario: (the GSME push, the GPF's clock when it arrived)
    "RELIABLE_GPF": (GsmePush(None, 12345, 0x01, 1, 1000), datetime(2015, 1, 1, tzinfo=UTC)),
    "RELIABLE_GSME": (GsmePush(None, 12345, 0x01, 1, 1000, timestamp=GSME_MIDNIGHT, time_synchronised=True),
                      datetime(2015, 1, 1, 0, 0, 3, tzinfo=UTC)),
    "UNRELIABLE": (GsmePush(None, 12345, 0x01, 1, 1000, timestamp=GSME_NINE, time_synchronised=False),
                   datetime(2015, 1, 1, 9, 0, 5, tzinfo=UTC)),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_gcs13a_answer_equals_the_reference_per_clock_scenario(references, security, bench_security,
                                                               scenario: str) -> None:
    push, gpf_time = SCENARIOS[scenario]
    record = GasRecord("00:0d:6f:00:0a:bc:00:02", classify(push, gpf_time), push)
    gpf = GasProxyGbcs(eui(GPF), bench_security)
    command = resecure(by_name(references, f"GCS13a_4.1.1_SUCCESS_{scenario}_COMMAND"), bench_security,
                       SUPPLIER, eui(GPF))
    ours = gbcs.read_message(gpf.answer(command.to_bytes(), record))
    reference = gbcs.read_message(by_name(references, f"GCS13a_4.1.1_SUCCESS_{scenario}_RESPONSE").data)
    # the date-time with its clock status is octet for octet the reference's
    assert ours.date_time == reference.date_time
    assert bench_security.check(ours).mac is gbcs.Verdict.VALID
    assert gbcs.decode_content(ours, bench_security) == gbcs.decode_content(reference, security)
    with pytest.raises(GpfCommandRefused, match="replay"):
        gpf.answer(command.to_bytes(), record)


def test_ccs08_per_ota_outcome_has_the_reference_structure(references) -> None:
    """The hub's CCS08 for every outcome code ``ota.outcomes`` has, against the RTDS CCS08 alert."""
    from gateway.bench import CHF_DEVICE
    from gateway.gbcs_service import GbcsService
    from ota.outcomes import TransferAlert

    service = GbcsService(gateway=None)  # type: ignore[arg-type]
    service.use_keystore(bench_keystore((*DEVICES, CHF_DEVICE)))
    service._counter_base = 1 << 40
    reference = gbcs.read_message(by_name(references, "CCS08").data)
    expected = gbcs.decode_content(reference)
    for code in TransferAlert:
        alert = service.transfer_alert("00:0d:6f:00:0a:bc:00:03", 0x00010100, int(code),
                                       datetime(2026, 1, 1, tzinfo=UTC))
        assert (alert.cra_flag, alert.message_code, alert.mac) == (3, reference.message_code, None)
        assert service.security.check(alert).signature is gbcs.Verdict.VALID
        decoded = gbcs.decode_content(gbcs.read_message(alert.to_bytes()))
        assert decoded.keys() == expected.keys()
        assert decoded["outcome_int"] == int(code) and decoded["outcome"] == code.name.lower()
        assert decoded["alert_code_int"] == (0x8F8A if code is TransferAlert.SUCCESS else 0x8F89)
        assert decoded["firmware_version"] == "00010100" and decoded["device"] == "000d6f000abc0003"
