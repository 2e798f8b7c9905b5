"""What a GBCS message's content means: ASN.1 (the hub's and the security use cases), GBZ (ZSE/ZCL
for the GSME and GPF) and DLMS (ESME), decoded with names and units; and builders for the contents
the bench sends (GCS13a, CS06, CCS08).

Decoded for the use cases the release touches: GCS13a (SECMP0015), CS06 and its alerts (SECMP0024),
CCS08 (SECMP0007), CS02a/b/c (SECMP0063), and device alerts in all three formats (SECMP0062). Any
other message code decodes to its format and raw octets, never to an error. ZCL attribute and status
names come from zigpy's cluster definitions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .exceptions import BuildError, GbcsError, SecurityCheckFailed
from .names import alert_name
from .wire import Cursor, DlmsDateTime, Message, encode_length

GBZ_PROFILE = b"\x01\x09"  # Zigbee Smart Energy profile id, first two octets of every GBZ payload
CONTROL_LAST = 0x01
CONTROL_ENCRYPTED = 0x02
CONTROL_FROM_DATE_TIME = 0x10

CS02B_CODES = range(0x0100, 0x010A)
ASN1_ALERT_CODES = {0x00CA, 0x00CB, 0x0128, 0x00B2}


class ActivationOutcome(enum.IntEnum):
    """CS06 execution outcome (and CS06 alert outcome)."""

    SUCCESS = 0
    NO_IMAGE_HELD = 1
    HASH_MISMATCH = 2
    ACTIVATION_FAILURE = 3


class TransferOutcome(enum.IntEnum):
    """CCS08 firmware transfer outcome."""

    SUCCESS = 0
    IMAGE_DISCARDED = 1
    HARDWARE_VERSION_MISMATCH = 2
    FILE_TRANSFER_FAILURE = 3


class StatusCode(enum.IntEnum):
    """CS02a/CS02b status codes."""

    SUCCESS = 0
    BAD_CERTIFICATE = 5
    NO_TRUST_ANCHOR = 10
    INSUFFICIENT_MEMORY = 17
    TRUST_ANCHOR_NOT_FOUND = 25
    RESOURCES_BUSY = 30
    OTHER = 127


CS02C_ERRORS = {1: "invalid key usage", 2: "key pair generation failed", 3: "CR production failed"}
REPLACEMENT_MODES = {2: "supplierBySupplier", 3: "networkOperatorByNetworkOperator",
                     4: "accessControlBrokerByACB", 5: "wanProviderByWanProvider", 6: "transCoSByTransCoS",
                     7: "supplierByTransCoS",
                     8: "anyExceptAbnormalRootByRecovery", 9: "anyByContingency"}
KEY_USAGE_BITS = {0: "digitalSignature", 4: "keyAgreement", 5: "keyCertSign", 6: "cRLSign"}


def _enum_name(enum_cls: type[enum.IntEnum], value: int) -> str:
    try:
        return enum_cls(value).name.lower()
    except ValueError:
        return f"unknown ({value})"


# ------------------------------------------------------------------------------------------ DER


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    offset: int  # absolute offset of the tag octet
    value_offset: int  # absolute offset of the value (lengths need not be minimal: RTDS has 82 0083)


def der_read(cursor: Cursor, what: str, tag: int | None = None) -> Tlv:
    at = cursor.offset
    found = cursor.byte(f"{what} tag")
    if tag is not None and found != tag:
        raise GbcsError(at, f"{what}: tag 0x{found:02x}, expected 0x{tag:02x}")
    length = cursor.length(what)
    value_at = cursor.offset
    return Tlv(found, cursor.take(length, what), at, value_at)


def der_peek(cursor: Cursor) -> int | None:
    return cursor.data[cursor.pos] if cursor.pos < cursor.end else None


def der_inner(tlv: Tlv, cursor: Cursor) -> Cursor:
    """A cursor over a constructed TLV's value (offsets absolute)."""
    start = tlv.value_offset - cursor.base
    return Cursor(cursor.data, start, start + len(tlv.value), cursor.base)


def der_integer(cursor: Cursor, what: str) -> int:
    tlv = der_read(cursor, what, 0x02)
    if not tlv.value:
        raise GbcsError(tlv.offset, f"{what}: empty INTEGER")
    return int.from_bytes(tlv.value, "big", signed=True)


def der_time(cursor: Cursor, what: str) -> str:
    tlv = der_read(cursor, what, 0x18)
    try:
        text = tlv.value.decode("ascii")
    except UnicodeDecodeError:
        raise GbcsError(tlv.offset, f"{what}: GeneralizedTime is not ASCII") from None
    if len(text) != 15 or not text[:14].isdigit() or text[14] != "Z":
        raise GbcsError(tlv.offset, f"{what}: GeneralizedTime {text!r} is not YYYYMMDDHHMMSSZ")
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}Z"


def der_int_bytes(value: int) -> bytes:
    length = max(1, (value.bit_length() + 8) // 8)
    return b"\x02" + encode_length(length) + value.to_bytes(length, "big", signed=True)


def der_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(value)) + value


def der_time_bytes(iso: str) -> bytes:
    """``2030-01-15T09:00:00Z`` -> GeneralizedTime ``20300115090000Z``."""
    digits = "".join(ch for ch in iso if ch.isdigit())
    if len(digits) != 14:
        raise BuildError(f"time {iso!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return der_tlv(0x18, (digits + "Z").encode())


def _key_usage(tlv: Tlv) -> list[str]:
    if tlv.tag != 0x03 or len(tlv.value) < 2:
        raise GbcsError(tlv.offset, "key usage: expected a BIT STRING")
    bits = tlv.value[1]
    return [name for bit, name in KEY_USAGE_BITS.items() if bits & (0x80 >> bit)]


def _role(value: int) -> str:
    from certs import RemotePartyRole

    try:
        return RemotePartyRole(value).camel
    except ValueError:
        return f"unknown ({value})"


def _certificate_summary(der: bytes, offset: int) -> dict[str, Any]:
    from certs import CertificateError, load_certificate

    try:
        cert = load_certificate(der, name=f"certificate at offset {offset}")
    except CertificateError as exc:
        return {"offset": offset, "error": str(exc), "der": der.hex()}
    return {"offset": offset, "subject": cert.subject, "issuer": cert.issuer,
            "serial": f"{cert.serial_number:x}", "role": cert.role.camel if cert.role is not None else None,
            "entity_id": cert.entity_id.hex() if cert.entity_id else None,
            "device": cert.hw_serial.hex() if cert.hw_serial else None,
            "key_usage": sorted(cert.key_usage_bits),
            "subject_key_id": cert.ski.hex() if cert.ski else None,
            "not_before": cert.not_before.isoformat(), "not_after": cert.not_after.isoformat()}


def _cell(cursor: Cursor, what: str) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, what, 0x30), cursor)
    cell: dict[str, Any] = {"remote_party_role": _role(der_integer(inner, f"{what} role")),
                            "key_usage": _key_usage(der_read(inner, f"{what} key usage"))}
    cell["cell_usage"] = "prepaymentTopUp" if der_peek(inner) == 0x02 and der_integer(
        inner, f"{what} cell usage") == 1 else "management"
    return cell


# ------------------------------------------------------------------------------------------ decoders


def decode_content(message: Message, security: Any = None) -> dict[str, Any]:
    """The content with names and units. ``security`` (a ``gbcs.security.Security``) decrypts encrypted
    GBZ components when it holds the keys. ``GbcsError`` when a known use case's content is malformed;
    an unknown message code gives ``{"format": ..., "raw": ...}``."""
    code = message.message_code
    cursor = Cursor(message.content, base=message.content_offset)
    try:
        if code == 0x0012:
            return _cs06(cursor, message.cra_flag)
        if code == 0x00CA:
            return _cs06_alert(cursor)
        if code == 0x0128:
            return _ccs08(cursor)
        if code == 0x000A:
            return _cs02c(cursor, message.cra_flag)
        if code in CS02B_CODES:
            return _cs02b(cursor, message.cra_flag)
        if code == 0x0008:
            return _cs02a(cursor, message.cra_flag)
    except GbcsError:
        raise
    # Every other use case: decoded as far as its format goes. These layouts are generic (any ZCL
    # command, any DLMS access), so a layout this decoder does not know is reported, never an error.
    content = message.content
    fmt, decoder = "raw", None
    if content[:2] == GBZ_PROFILE:
        fmt, decoder = "gbz", _gbz
    elif content[:1] in (b"\xd9", b"\xda", b"\x0f"):
        fmt, decoder = "dlms", _dlms
    elif message.cra_flag == 3 and content[:1] == b"\x30":
        fmt, decoder = "asn1", _asn1_alert
    if decoder is None:
        return {"format": "raw", "raw": content.hex()}
    try:
        return decoder(cursor, message, security)
    except GbcsError as exc:
        if code == 0x0074:  # GCS13a's layout is known: a malformed one is an error
            raise
        return {"format": fmt, "raw": content.hex(), "undecoded": str(exc)}


def _done(cursor: Cursor, what: str) -> None:
    if cursor.remaining:
        raise cursor.fail(f"{what}: {cursor.remaining} unexpected trailing octets")


def _cs06(cursor: Cursor, cra_flag: int) -> dict[str, Any]:
    if cra_flag == 1:
        inner = der_inner(der_read(cursor, "Activate Firmware command", 0x30), cursor)
        result: dict[str, Any] = {
            "format": "asn1", "what": "activate firmware command",
            "manufacturer_image_hash": der_read(inner, "firmware hash", 0x04).value.hex(),
            "originator_counter": der_integer(inner, "originator counter"),
            "execution_date_time": der_time(inner, "execution date-time") if inner.remaining else None}
        result["immediate"] = result["execution_date_time"] is None
        result["cancellation"] = result["execution_date_time"] == "9999-12-31T23:59:59Z"
        _done(inner, "Activate Firmware command")
    elif der_peek(cursor) == 0x05:
        der_read(cursor, "command accepted", 0x05)
        result = {"format": "asn1", "what": "activate firmware response", "command_accepted": True}
    else:
        result = {"format": "asn1", "what": "activate firmware response", **_activation_outcome(cursor)}
    _done(cursor, "CS06 content")
    return result


def _activation_outcome(cursor: Cursor) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, "execution outcome", 0x30), cursor)
    outcome = der_integer(inner, "activation outcome")
    version = der_read(inner, "firmware version", 0x04).value
    _done(inner, "execution outcome")
    return {"outcome": _enum_name(ActivationOutcome, outcome), "outcome_int": outcome,
            "firmware_version": version.hex()}


def _cs06_alert(cursor: Cursor) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, "Activate Firmware alert", 0x30), cursor)
    code = der_integer(inner, "alert code")
    result = {"format": "asn1", "what": "future dated firmware activation alert", **_alert_fields(code),
              "execution_date_time": der_time(inner, "execution date-time"),
              "originator_counter": der_integer(inner, "originator counter"), **_activation_outcome(inner)}
    _done(inner, "Activate Firmware alert")
    _done(cursor, "CS06 alert content")
    return result


def _ccs08(cursor: Cursor) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, "Firmware Transfer alert", 0x30), cursor)
    code = der_integer(inner, "alert code")
    result = {"format": "asn1", "what": "firmware transfer alert", **_alert_fields(code),
              "date_time": der_time(inner, "date-time"),
              "device": der_read(inner, "device", 0x04).value.hex(),
              "firmware_version": der_read(inner, "firmware version", 0x04).value.hex()}
    outcome = der_integer(inner, "transfer outcome")
    result["outcome"] = _enum_name(TransferOutcome, outcome)
    result["outcome_int"] = outcome
    _done(inner, "Firmware Transfer alert")
    _done(cursor, "CCS08 content")
    return result


def _alert_fields(code: int) -> dict[str, Any]:
    return {"alert_code": f"0x{code:04x}", "alert_code_int": code, "alert_name": alert_name(code)}


def _cs02c(cursor: Cursor, cra_flag: int) -> dict[str, Any]:
    if cra_flag == 1:
        inner = der_inner(der_read(cursor, "Issue Security Credentials command", 0x30), cursor)
        result = {"format": "asn1", "what": "issue security credentials command",
                  "key_usage": _key_usage(der_read(inner, "key usage"))}
        _done(inner, "Issue Security Credentials command")
    elif der_peek(cursor) == 0x30:
        tlv = der_read(cursor, "certification request", 0x30)
        result = {"format": "asn1", "what": "issue security credentials response",
                  "certification_request": _csr_summary(tlv)}
    else:
        code = der_integer(cursor, "response code")
        result = {"format": "asn1", "what": "issue security credentials response", "response_code": code,
                  "response": CS02C_ERRORS.get(code, f"unknown ({code})")}
    _done(cursor, "CS02c content")
    return result


def _csr_summary(tlv: Tlv) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = der_tlv(0x30, tlv.value)
    try:
        csr = x509.load_der_x509_csr(der)
        key = csr.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
        usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
        devices = []
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for name in san:
            if isinstance(name, x509.OtherName):
                devices.append(name.value[-8:].hex())
    except (ValueError, x509.ExtensionNotFound) as exc:
        return {"error": f"not a PKCS#10 request: {exc}", "der": der.hex()}
    return {"public_key": key.hex(), "signature_valid": csr.is_signature_valid,
            "key_usage": [name for name in ("digital_signature", "key_agreement") if getattr(usage, name)],
            "device": devices[0] if devices else None}


def _cs02b(cursor: Cursor, cra_flag: int) -> dict[str, Any]:
    if cra_flag == 1:
        inner = der_inner(der_read(cursor, "Update Security Credentials command", 0x30), cursor)
        control = der_inner(der_read(inner, "authorising remote party control", 0x30), inner)
        mode = der_integer(control, "credentials replacement mode")
        authorising: dict[str, Any] = {"credentials_replacement_mode": REPLACEMENT_MODES.get(mode, str(mode))}
        while control.remaining:
            tlv = der_read(control, "authorising remote party control field")
            if tlv.tag == 0x83 or tlv.tag == 0x02:
                authorising["seq_number"] = int.from_bytes(tlv.value, "big")
            else:
                authorising[f"field_0x{tlv.tag:02x}"] = tlv.value.hex()
        replacements = []
        listing = der_inner(der_read(inner, "replacements", 0x30), inner)
        while listing.remaining:
            item = der_inner(der_read(listing, "trust anchor replacement", 0x30), listing)
            cert = der_read(item, "replacement certificate", 0x30)
            replacements.append({"certificate": _certificate_summary(der_tlv(0x30, cert.value), cert.offset),
                                 "target_cell": _cell(item, "target trust anchor cell")})
            _done(item, "trust anchor replacement")
        path = []
        listing = der_inner(der_read(inner, "certification path certificates", 0x30), inner)
        while listing.remaining:
            cert = der_read(listing, "certification path certificate", 0x30)
            path.append(_certificate_summary(der_tlv(0x30, cert.value), cert.offset))
        execution = der_time(inner, "execution date-time") if der_peek(inner) == 0x18 else None
        _done(inner, "Update Security Credentials command")
        result = {"format": "asn1", "what": "update security credentials command",
                  "authorising_remote_party": authorising, "replacements": replacements,
                  "certification_path": path, "execution_date_time": execution}
    else:
        inner = der_inner(der_read(cursor, "Update Security Credentials response", 0x30), cursor)
        der_read(inner, "command accepted", 0x05)
        result = {"format": "asn1", "what": "update security credentials response", "command_accepted": True}
        if inner.remaining:
            outcome = der_inner(der_read(inner, "execution outcome", 0x30), inner)
            result["authorising_seq_number"] = der_integer(outcome, "seq number")
            mode = der_integer(outcome, "replacement mode")
            result["credentials_replacement_mode"] = REPLACEMENT_MODES.get(mode, str(mode))
            der_read(outcome, "seq number changes", 0x30)
            replaced = []
            listing = der_inner(der_read(outcome, "replacement outcomes", 0x30), outcome)
            while listing.remaining:
                item = der_inner(der_read(listing, "replacement outcome", 0x30), listing)
                cell = _cell(item, "affected trust anchor cell")
                status = int.from_bytes(der_read(item, "status code", 0x0A).value, "big")
                ids = [der_read(item, what, 0x04).value.hex() for what in (
                    "existing subject unique id", "existing subject key id", "replacing subject unique id",
                    "replacing subject key id")]
                replaced.append({"cell": cell, "status": _enum_name(StatusCode, status),
                                 "existing_subject": ids[0], "existing_key_id": ids[1],
                                 "replacing_subject": ids[2], "replacing_key_id": ids[3]})
            result["replacement_outcomes"] = replaced
            _done(outcome, "execution outcome")
        _done(inner, "Update Security Credentials response")
    _done(cursor, "CS02b content")
    return result


def _cs02a(cursor: Cursor, cra_flag: int) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, "Provide Security Credential Details", 0x30), cursor)
    if cra_flag == 1:
        cell = _cell(inner, "authorising remote party cell")
        roles = []
        listing = der_inner(der_read(inner, "remote party roles", 0x30), inner)
        while listing.remaining:
            roles.append(_role(der_integer(listing, "remote party role")))
        result = {"format": "asn1", "what": "provide security credential details command",
                  "authorising_cell": cell, "roles_required": roles}
    else:
        parties = []
        while inner.remaining:
            party = der_inner(der_read(inner, "remote party details", 0x30), inner)
            entry: dict[str, Any] = {"remote_party_role": _role(der_integer(party, "remote party role")),
                                     "status": _enum_name(StatusCode, int.from_bytes(
                                         der_read(party, "status code", 0x0A).value, "big"))}
            if party.remaining:
                entry["seq_number"] = der_integer(party, "current seq number")
                cells = []
                listing = der_inner(der_read(party, "trust anchor cell details", 0x30), party)
                while listing.remaining:
                    item = der_inner(der_read(listing, "trust anchor cell contents", 0x30), listing)
                    usage = _key_usage(der_read(item, "key usage"))
                    cell_usage = "prepaymentTopUp" if der_peek(item) == 0x02 and der_integer(
                        item, "cell usage") == 1 else "management"
                    cells.append({"key_usage": usage, "cell_usage": cell_usage,
                                  "subject_unique_id": der_read(item, "subject unique id", 0x04).value.hex(),
                                  "subject_key_id": der_read(item, "subject key id", 0x04).value.hex()})
                    _done(item, "trust anchor cell contents")
                entry["trust_anchor_cells"] = cells
            _done(party, "remote party details")
            parties.append(entry)
        result = {"format": "asn1", "what": "provide security credential details response",
                  "remote_parties": parties}
    _done(inner, "CS02a content")
    _done(cursor, "CS02a content")
    return result


def _asn1_alert(cursor: Cursor, message: Message, security: Any) -> dict[str, Any]:
    inner = der_inner(der_read(cursor, "alert", 0x30), cursor)
    code = der_integer(inner, "alert code")
    rest = inner.data[inner.pos:inner.end].hex()
    return {"format": "asn1", "what": "alert", **_alert_fields(code), "rest": rest}


# ------------------------------------------------------------------------------------------ GBZ / ZCL


METERING_UNITS = {0x00: "kWh", 0x01: "m3", 0x02: "ft3", 0x03: "ccf", 0x04: "US gal", 0x05: "IMP gal",
                  0x06: "BTU", 0x07: "l", 0x08: "kPa"}


def _gbz(cursor: Cursor, message: Message, security: Any) -> dict[str, Any]:
    cursor.take(2, "GBZ profile id")
    count = cursor.byte("GBZ component count")
    result: dict[str, Any] = {"format": "gbz", "components": []}
    if message.cra_flag == 3:
        code = int.from_bytes(cursor.take(2, "GBZ alert code"), "big")
        timestamp = int.from_bytes(cursor.take(4, "GBZ alert time stamp"), "big")
        result.update(_alert_fields(code))
        result["time_stamp_utc"] = _zigbee_time(timestamp)
        if code in (0x8F66, 0x8F67) or message.message_code == 0x00CD:
            result["rest"] = cursor.take(cursor.remaining, "future-dated payload").hex()
            return result
    if message.cra_flag != 3:
        for index in range(count):
            result["components"].append(_gbz_component(cursor, message, security, index))
    while message.cra_flag == 3 and cursor.remaining:  # an alert's use-case specific components
        result["components"].append(_gbz_component(cursor, message, security, len(result["components"])))
    _done(cursor, "GBZ payload")
    if message.message_code == 0x0074 and message.cra_flag == 2:
        result["gcs13a"] = _gcs13a_summary(result, message)
    return result


def _zigbee_time(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


def _gbz_component(cursor: Cursor, message: Message, security: Any, index: int) -> dict[str, Any]:
    from zigpy.zcl import foundation

    control = cursor.byte("GBZ extended header control")
    cluster_id = int.from_bytes(cursor.take(2, "GBZ cluster id"), "big")
    body = cursor.sub(int.from_bytes(cursor.take(2, "GBZ command length"), "big"), "GBZ command")
    cluster = _cluster(cluster_id)
    component: dict[str, Any] = {"index": index, "control": f"0x{control:02x}",
                                 "cluster": f"0x{cluster_id:04x}",
                                 "cluster_name": cluster.__name__ if cluster is not None else None,
                                 "encrypted": bool(control & CONTROL_ENCRYPTED)}
    if control & CONTROL_ENCRYPTED:
        body.take(2, "GBZ additional header")
    elif control & CONTROL_FROM_DATE_TIME:
        component["from_date_time"] = _zigbee_time(int.from_bytes(body.take(4, "GBZ from date-time"), "big"))
    frame_control = body.byte("ZCL frame control")
    component["sequence"] = body.byte("ZCL sequence number")
    command_id = body.byte("ZCL command id")
    component.update(frame_control=f"0x{frame_control:02x}", command_id=f"0x{command_id:02x}")
    payload_offset = body.offset
    if control & CONTROL_ENCRYPTED:
        length = int.from_bytes(body.take(2, "ciphered information length"), "big")
        ciphered = body.sub(length, "ciphered information")
        at = ciphered.pos
        if ciphered.take(5, "content security header") != bytes([0x31, 0, 0, 0, 0]):
            raise ciphered.fail("content security header is not 31 00000000", at)
        sealed = ciphered.take(ciphered.remaining, "encrypted ZCL payload")
        if len(sealed) < 12:
            raise ciphered.fail("encrypted ZCL payload shorter than its 12-octet tag")
        payload_offset = ciphered.offset - len(sealed)
        payload = None
        if security is not None:
            try:
                payload = security.decrypt(message, sealed)
            except SecurityCheckFailed as exc:
                component["decrypted"] = f"invalid: {exc}"
                return component
        component["decrypted"] = "yes" if payload is not None else "no-key"
        if payload is None:
            component["ciphertext"] = sealed.hex()
            _done(body, "GBZ component")
            return component
        _done(body, "GBZ component")
        data = Cursor(payload, base=payload_offset)
    else:
        data = body
    frame_type = frame_control & 0x03
    if frame_type == 0 and command_id in (0x00, 0x01):
        component["command"] = "read_attributes" if command_id == 0 else "read_attributes_response"
        attributes = []
        while data.remaining:
            if command_id == 0:
                attrid = int.from_bytes(data.take(2, "attribute id"), "little")
                attributes.append(_attribute(cluster, attrid))
                continue
            rest = data.data[data.pos:data.end]
            try:
                record, left = foundation.ReadAttributeRecord.deserialize(rest)
            except (ValueError, KeyError, IndexError) as exc:
                raise data.fail(f"ZCL read attributes record: {exc}") from None
            data.pos = data.end - len(left)
            entry = _attribute(cluster, record.attrid)
            entry["status"] = foundation.Status(record.status).name.lower()
            if record.value is not None:
                entry["value"] = int(record.value.value) if isinstance(record.value.value, int) else str(
                    record.value.value)
                entry["type"] = f"0x{int(record.value.type):02x}"
            attributes.append(entry)
        component["attributes"] = attributes
    elif frame_type == 0 and command_id == 0x0B:
        acted_on = data.byte("default response command id")
        status = data.byte("default response status")
        component.update(command="default_response", for_command=f"0x{acted_on:02x}",
                         status=foundation.Status(status).name.lower())
    else:
        component["payload"] = data.take(data.remaining, "ZCL payload").hex()
    _done(data, "ZCL payload")
    return component


def _cluster(cluster_id: int) -> Any:
    from zigpy.zcl import Cluster

    return Cluster._registry.get(cluster_id)


def _attribute(cluster: Any, attrid: int) -> dict[str, Any]:
    definition = cluster.attributes.get(attrid) if cluster is not None else None
    return {"id": f"0x{attrid:04x}", "name": definition.name if definition is not None else None}


def _gcs13a_summary(decoded: dict[str, Any], message: Message) -> dict[str, Any]:
    """The consumption register in engineering units, with the GPF's timestamp and clock status."""
    values = {a["name"]: a.get("value") for c in decoded["components"] for a in c.get("attributes", [])}
    summary: dict[str, Any] = {"registers": values}
    summation, multiplier, divisor = (values.get("current_summ_delivered"), values.get("multiplier"),
                                      values.get("divisor"))
    unit = values.get("unit_of_measure")
    if isinstance(summation, int) and isinstance(multiplier, int) and isinstance(divisor, int) and divisor:
        summary["consumption"] = summation * multiplier / divisor
    if isinstance(unit, int):
        summary["unit"] = METERING_UNITS.get(unit & 0x7F, f"unit 0x{unit:02x}")
    date_time = message.dlms_date_time
    summary["date_time"] = date_time.to_json() if date_time else None
    return summary


# ------------------------------------------------------------------------------------------ DLMS


def _dlms(cursor: Cursor, message: Message, security: Any) -> dict[str, Any]:
    """GBCS DLMS: access-request (D9), access-response (DA) or data-notification (0F, alerts)."""
    tag = cursor.byte("DLMS tag")
    invoke = int.from_bytes(cursor.take(4, "long-invoke-id-and-priority"), "big")
    at = cursor.pos
    length = cursor.byte("DLMS date-time length")
    if length not in (0, 12):
        raise cursor.fail(f"DLMS date-time length {length}, expected 0 or 12", at)
    date_time = DlmsDateTime.decode(cursor.take(12, "DLMS date-time")) if length else None
    result: dict[str, Any] = {"format": "dlms", "invoke_id": f"0x{invoke:08x}",
                              "date_time": date_time.to_json() if date_time else None}
    decrypt = _dlms_decryptor(message, security)
    if tag == 0x0F:
        result["what"] = "data-notification"
        body = _dlms_data(cursor, "notification body", decrypt=decrypt)
        result["body"] = body
        code = _first_alert_code(body)
        if code is not None:
            result.update(_alert_fields(code))
    elif tag == 0xD9:
        result["what"] = "access-request"
        result["requests"] = _dlms_specification(cursor)
        result["data"] = _dlms_list(cursor, "access-request data", decrypt)
    else:
        result["what"] = "access-response"
        at = cursor.pos
        present = cursor.byte("access-request-specification flag")
        if present not in (0, 1):
            raise cursor.fail(f"access-request-specification flag 0x{present:02x}", at)
        if present:
            result["requests"] = _dlms_specification(cursor)
        result["data"] = _dlms_list(cursor, "access-response data", decrypt)
        results = []
        for _ in range(cursor.length("access-response-specification")):
            kind = cursor.byte("access-response kind")
            outcome = cursor.byte("data-access-result")
            results.append({"kind": DLMS_ACCESS.get(kind, f"0x{kind:02x}"), "result": outcome,
                            "success": outcome == 0})
        result["results"] = results
    _done(cursor, "DLMS content")
    return result


DLMS_ACCESS = {1: "get", 2: "set", 3: "action", 4: "get-with-selection", 5: "set-with-selection"}


def _obis(raw: bytes) -> str:
    return f"{raw[0]}-{raw[1]}:{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}"


def _dlms_specification(cursor: Cursor) -> list[dict[str, Any]]:
    requests = []
    for _ in range(cursor.length("access-request-specification")):
        at = cursor.pos
        kind = cursor.byte("access-request kind")
        if kind not in DLMS_ACCESS:
            raise cursor.fail(f"access-request kind 0x{kind:02x} not get/set/action", at)
        class_id = int.from_bytes(cursor.take(2, "class id"), "big")
        entry: dict[str, Any] = {"kind": DLMS_ACCESS[kind], "class_id": class_id,
                                 "obis": _obis(cursor.take(6, "instance id")),
                                 "attribute": cursor.byte("attribute or method id")}
        if kind in (4, 5):
            entry["selector"] = cursor.byte("access selector")
            entry["selection"] = _dlms_data(cursor, "access selection")
        requests.append(entry)
    return requests


def _dlms_list(cursor: Cursor, what: str, decrypt: Any) -> list[Any]:
    count = cursor.length(what)
    if count > cursor.remaining:
        raise cursor.fail(f"{what}: {count} items cannot fit in {cursor.remaining} octets")
    return [_dlms_data(cursor, what, decrypt=decrypt) for _ in range(count)]


def _dlms_decryptor(message: Message, security: Any) -> Any:
    """Decrypts the ``31 00000000 ...`` octet strings GBCS puts in DLMS data (encrypted registers)."""
    def decrypt(sealed: bytes) -> Any:
        if security is None:
            return {"encrypted": True, "decrypted": "no-key", "ciphertext": sealed.hex()}
        try:
            plain = security.decrypt(message, sealed)
        except SecurityCheckFailed as exc:
            return {"encrypted": True, "decrypted": f"invalid: {exc}"}
        if plain is None:
            return {"encrypted": True, "decrypted": "no-key", "ciphertext": sealed.hex()}
        inner = Cursor(plain)
        value = _dlms_data(inner, "decrypted data")
        _done(inner, "decrypted data")
        return {"encrypted": True, "decrypted": "yes", "value": value}
    return decrypt


_FIXED = {0x03: 1, 0x05: 4, 0x06: 4, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2, 0x14: 8, 0x15: 8, 0x16: 1, 0x17: 4,
          0x18: 8, 0x19: 12, 0x1A: 5, 0x1B: 4}
_SIGNED = {0x05, 0x0F, 0x10, 0x14}


def _dlms_data(cursor: Cursor, what: str, depth: int = 0, decrypt: Any = None) -> Any:
    """One A-XDR ``Data`` value as plain JSON types (structure/array: lists); ``decrypt`` opens
    encrypted octet strings."""
    if depth > 16:
        raise cursor.fail(f"{what}: DLMS data nested too deep")
    at = cursor.pos
    tag = cursor.byte(f"{what} type")
    if tag == 0x00:
        return None
    if tag in (0x01, 0x02):
        count = cursor.length(what)
        if count > cursor.remaining:
            raise cursor.fail(f"{what}: {count} elements cannot fit in {cursor.remaining} octets", at)
        return [_dlms_data(cursor, what, depth + 1, decrypt) for _ in range(count)]
    if tag in (0x09, 0x0A, 0x0C):
        raw = cursor.take(cursor.length(what), what)
        if tag == 0x09 and decrypt is not None and len(raw) >= 17 and raw[:5] == b"\x31\x00\x00\x00\x00":
            return decrypt(raw[5:])
        return raw.hex() if tag == 0x09 else raw.decode("latin-1")
    if tag == 0x04:
        bits = cursor.length(what)
        return cursor.take((bits + 7) // 8, what).hex()
    if tag in _FIXED:
        raw = cursor.take(_FIXED[tag], what)
        if tag in (0x17, 0x18, 0x19, 0x1A, 0x1B):
            return raw.hex()
        return int.from_bytes(raw, "big", signed=tag in _SIGNED)
    if tag == 0x13:
        description = _type_description(cursor, what, depth + 1)
        label = f"{what} compact array contents"
        contents = cursor.sub(cursor.length(label), label)
        rows = []
        while contents.remaining:
            rows.append(_typed_value(contents, description, what))
        return {"compact_array": rows}
    raise cursor.fail(f"{what}: DLMS data type 0x{tag:02x} not supported", at)


def _type_description(cursor: Cursor, what: str, depth: int) -> Any:
    """A compact array's TypeDescription: a type tag, or (array, count, element) / (structure, [...])."""
    if depth > 16:
        raise cursor.fail(f"{what}: type description nested too deep")
    at = cursor.pos
    tag = cursor.byte(f"{what} type description")
    if tag == 0x01:
        count = int.from_bytes(cursor.take(2, f"{what} array description count"), "big")
        return ("array", count, _type_description(cursor, what, depth + 1))
    if tag == 0x02:
        return ("structure", [_type_description(cursor, what, depth + 1)
                              for _ in range(cursor.length(f"{what} structure description"))])
    if tag in _FIXED or tag in (0x00, 0x04, 0x09, 0x0A, 0x0C):
        return tag
    raise cursor.fail(f"{what}: type 0x{tag:02x} in a compact array not supported", at)


def _typed_value(cursor: Cursor, description: Any, what: str) -> Any:
    """One value of a compact array: the data without its type tag (the description gives it)."""
    if isinstance(description, tuple):
        if description[0] == "array":
            return [_typed_value(cursor, description[2], what) for _ in range(description[1])]
        return [_typed_value(cursor, element, what) for element in description[1]]
    tagged = bytes([description])
    if description in (0x09, 0x0A, 0x0C, 0x04):
        length_start = cursor.pos
        length = cursor.length(what)
        size = (length + 7) // 8 if description == 0x04 else length
        raw = cursor.data[length_start:cursor.pos] + cursor.take(size, what)
    elif description == 0x00:
        raw = b""
    else:
        raw = cursor.take(_FIXED[description], what)
    return _dlms_data(Cursor(tagged + raw), what)


def _first_alert_code(body: Any) -> int | None:
    if isinstance(body, list) and body and isinstance(body[0], int) and 0 <= body[0] <= 0xFFFF:
        return body[0]
    return None


# ------------------------------------------------------------------------------------------ alert code


def find_alert_code(message: Message) -> int | None:
    """An alert's 16-bit alert code, whichever of the three formats carries it; None if unreadable."""
    content = message.content
    try:
        if content[:2] == GBZ_PROFILE and len(content) >= 5:
            return int.from_bytes(content[3:5], "big")
        if content[:1] == b"\x0f":
            cursor = Cursor(content)
            cursor.take(5, "header")
            if cursor.byte("date-time length"):
                cursor.take(12, "date-time")
            return _first_alert_code(_dlms_data(cursor, "body"))
        if content[:1] == b"\x30":
            cursor = Cursor(content)
            inner = der_inner(der_read(cursor, "alert", 0x30), cursor)
            code = der_integer(inner, "alert code")
            return code if 0 <= code <= 0xFFFF else None
    except GbcsError:
        return None
    return None


# ------------------------------------------------------------------------------------------ builders


@dataclass(frozen=True)
class GasRegisters:
    """What a GCS13a response carries: Metering attributes CurrentSummationDelivered, Multiplier,
    Divisor and UnitofMeasure (0x01 = m3, binary)."""

    summation: int
    multiplier: int = 1
    divisor: int = 1000
    unit: int = 0x01


GCS13A_ATTRIBUTES = (0x0302, 0x0301, 0x0300, 0x0000)  # the order the RTDS reads them in
METERING_CLUSTER = 0x0702


def gcs13a_command_content(sequence: int = 0) -> bytes:
    """GCS13a command: a GBZ Read Attributes of the four registers on the Metering cluster."""
    zcl = bytes([0x00, sequence, 0x00]) + b"".join(a.to_bytes(2, "little") for a in GCS13A_ATTRIBUTES)
    return GBZ_PROFILE + b"\x01" + _gbz_header(CONTROL_LAST, METERING_CLUSTER, zcl) + zcl


def gcs13a_response_plaintext(registers: GasRegisters) -> bytes:
    """The ZCL Read Attributes Response records (before encryption), serialised by zigpy."""
    import zigpy.types as t
    from zigpy.zcl import foundation

    values = {0x0302: (0x22, t.uint24_t(registers.divisor)), 0x0301: (0x22, t.uint24_t(registers.multiplier)),
              0x0300: (0x30, t.enum8(registers.unit)), 0x0000: (0x25, t.uint48_t(registers.summation))}
    try:
        return b"".join(foundation.ReadAttributeRecord(
            attrid=attrid, status=foundation.Status.SUCCESS,
            value=foundation.TypeValue(type=values[attrid][0], value=values[attrid][1])).serialize()
            for attrid in GCS13A_ATTRIBUTES)
    except (ValueError, OverflowError) as exc:
        raise BuildError(f"GCS13a registers out of range: {exc}") from None


def gcs13a_response_content(header: Message, registers: GasRegisters, security: Any,
                            sequence: int = 0) -> bytes:
    """The GPF's GCS13a response content: one encrypted GBZ component whose key derives from
    ``header``'s originator, target and counter (so build the header first, then this content)."""
    sealed = security.encrypt(header, gcs13a_response_plaintext(registers))
    ciphered = bytes([0x31, 0, 0, 0, 0]) + sealed
    zcl = bytes([0x00, 0x00, 0x18, sequence, 0x01]) + len(ciphered).to_bytes(2, "big") + ciphered
    return GBZ_PROFILE + b"\x01" + _gbz_header(CONTROL_LAST | CONTROL_ENCRYPTED, METERING_CLUSTER, zcl) + zcl


def _gbz_header(control: int, cluster: int, body: bytes) -> bytes:
    return bytes([control]) + cluster.to_bytes(2, "big") + len(body).to_bytes(2, "big")


def cs06_command_content(image_hash: bytes, originator_counter: int,
                         execution_date_time: str | None = None) -> bytes:
    """CS06 Activate Firmware: the Manufacturer Image hash, the counter, and an optional UTC time
    (``9999-12-31T23:59:59Z`` cancels a future-dated activation)."""
    if len(image_hash) != 32:
        raise BuildError("CS06: the manufacturer image hash is 32 octets (SHA-256)")
    body = der_tlv(0x04, image_hash) + der_int_bytes(originator_counter)
    if execution_date_time is not None:
        body += der_time_bytes(execution_date_time)
    return der_tlv(0x30, body)


def cs06_response_content(outcome: ActivationOutcome | None, firmware_version: bytes = b"") -> bytes:
    """CS06 response: None = command accepted (future-dated), else the execution outcome."""
    if outcome is None:
        return b"\x05\x00"
    return _outcome_bytes(outcome, firmware_version)


def _outcome_bytes(outcome: int, firmware_version: bytes) -> bytes:
    return der_tlv(0x30, der_int_bytes(int(outcome)) + der_tlv(0x04, firmware_version))


def cs06_alert_content(alert_code: int, execution_date_time: str, originator_counter: int,
                       outcome: ActivationOutcome, firmware_version: bytes) -> bytes:
    """The device's future-dated activation alert (message code 0x00CA, alert 0x8F66/0x8F67)."""
    return der_tlv(0x30, der_int_bytes(alert_code) + der_time_bytes(execution_date_time)
                   + der_int_bytes(originator_counter) + _outcome_bytes(outcome, firmware_version))


def ccs08_alert_content(alert_code: int, date_time: str, device: bytes, firmware_version: bytes,
                        outcome: TransferOutcome) -> bytes:
    """The hub's Firmware Transfer Alert (message code 0x0128, alert 0x8F8A success / 0x8F89 failure)."""
    if len(device) != 8:
        raise BuildError("CCS08: the device is an 8-octet EUI-64")
    return der_tlv(0x30, der_int_bytes(alert_code) + der_time_bytes(date_time) + der_tlv(0x04, device)
                   + der_tlv(0x04, firmware_version) + der_int_bytes(int(outcome)))




# ------------------------------------------------------------------------------- CS02a / CS02c builders

KEY_USAGE_DS = b"\x03\x02\x07\x80"  # BIT STRING digitalSignature, as the RTDS writes it
KEY_USAGE_KA = b"\x03\x02\x03\x08"  # BIT STRING keyAgreement


@dataclass(frozen=True)
class TrustAnchorCell:
    """One trust anchor cell as CS02a reports it: the remote party role (``certs.RemotePartyRole``
    number), which key (``"DS"``/``"KA"``), the cell usage, and the installed certificate's subject unique
    id (the organisation's Entity ID) and subject key id (8 octets each)."""

    role: int
    key: str
    subject_unique_id: bytes
    subject_key_id: bytes
    prepayment: bool = False

    def encode(self) -> bytes:
        usage = der_int_bytes(1) if self.prepayment else b""
        return der_tlv(0x30, (KEY_USAGE_DS if self.key == "DS" else KEY_USAGE_KA) + usage
                       + der_tlv(0x04, self.subject_unique_id) + der_tlv(0x04, self.subject_key_id))


def cs02a_command_content(roles: list[int], authorising_role: int = 4) -> bytes:
    """CS02a Provide Security Credentials Details: the authorising cell (the Access Control Broker's KA,
    as in the RTDS) and the roles whose cells the device is to report."""
    cell = der_tlv(0x30, der_int_bytes(authorising_role) + KEY_USAGE_KA)
    return der_tlv(0x30, cell + der_tlv(0x30, b"".join(der_int_bytes(role) for role in roles)))


def cs02a_response_content(parties: list[tuple[int, StatusCode, int, list[TrustAnchorCell]]]) -> bytes:
    """CS02a response: per remote party (role, status, seq number, cells); a party whose status is not
    success carries only its role and status."""
    body = b""
    for role, status, seq_number, cells in parties:
        details = der_int_bytes(role) + der_tlv(0x0A, bytes([int(status)]))
        if status is StatusCode.SUCCESS:
            details += der_int_bytes(seq_number) + der_tlv(0x30, b"".join(cell.encode() for cell in cells))
        body += der_tlv(0x30, details)
    return der_tlv(0x30, body)


def cs02c_command_content(key: str) -> bytes:
    """CS02c Issue Security Credentials: generate a new ``"DS"`` or ``"KA"`` key pair."""
    return der_tlv(0x30, KEY_USAGE_DS if key == "DS" else KEY_USAGE_KA)


DEVICE_ID_OID = "1.2.826.0.1.8641679.1.2.2.1"  # GBCS device identifier inside hardwareModuleName


def cs02c_response_content(device: bytes, key: str, private_key: Any) -> bytes:
    """CS02c response: a PKCS#10 request for ``private_key``'s public key, signed by it, with the key
    usage asked for and the device's EUI-64 as a hardwareModuleName (as the RTDS response has them)."""
    from cryptography import x509
    from cryptography.hazmat.asn1 import encode_der
    from cryptography.hazmat.primitives import hashes, serialization

    from certs.model import HARDWARE_MODULE_NAME, HardwareModuleName

    if len(device) != 8:
        raise BuildError("CS02c: the device is an 8-octet EUI-64")
    module_name = encode_der(HardwareModuleName(hw_type=x509.ObjectIdentifier(DEVICE_ID_OID),
                                                hw_serial_num=device))
    usage = x509.KeyUsage(digital_signature=key == "DS", content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=key == "KA", key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(usage, critical=True)
           .add_extension(x509.SubjectAlternativeName([x509.OtherName(HARDWARE_MODULE_NAME, module_name)]),
                          critical=True)
           .sign(private_key, hashes.SHA256(), ecdsa_deterministic=True))  # RFC 6979: same key, same CSR
    return csr.public_bytes(serialization.Encoding.DER)


def cs02c_error_content(code: int) -> bytes:
    """CS02c response when the device cannot issue (1 invalid key usage, 2 key pair generation failed,
    3 CR production failed)."""
    return der_int_bytes(code)


# ------------------------------------------------------------------------------------- CS02b builder

CS02B_NO_BY_NO = 0x0103  # message code: networkOperatorByNetworkOperator


def _cell_bytes(role: int, key: str, prepayment: bool = False) -> bytes:
    return der_tlv(0x30, der_int_bytes(role) + (KEY_USAGE_DS if key == "DS" else KEY_USAGE_KA)
                   + (der_int_bytes(1) if prepayment else b""))


def cs02b_command_content(mode: int, authorising: tuple[int, str], seq_number: int,
                          replacements: list[tuple[bytes, int, str]], path: list[bytes]) -> bytes:
    """CS02b Update Security Credentials, laid out as the RTDS's networkOperatorByNetworkOperator command:
    the authorising remote party control (replacement mode, authorising cell, seq number), each
    replacement (certificate DER and its target cell: role, ``"DS"``/``"KA"``), and the certification
    path certificates."""
    seq = seq_number.to_bytes(max(1, (seq_number.bit_length() + 8) // 8), "big")
    control = der_tlv(0x30, der_int_bytes(mode) + der_tlv(0xA2, _cell_bytes(*authorising)[2:])
                      + der_tlv(0x83, seq) + der_tlv(0x84, b"\x00"))
    listing = der_tlv(0x30, b"".join(der_tlv(0x30, der + _cell_bytes(role, key))
                                     for der, role, key in replacements))
    return der_tlv(0x30, control + listing + der_tlv(0x30, b"".join(path)))


# ------------------------------------------------------------------------------------- device alerts


def dlms_alert_content(invoke_id: int, alert_code: int, date_time: DlmsDateTime, data: bytes = b"") -> bytes:
    """An ESME's alert as a DLMS Data-Notification, laid out as the RTDS's ESME alert (ECS02 8F66):
    ``0F`` invoke-id, no date-time, then a structure of the alert code (long-unsigned), the date-time
    (octet-string of 12) and the alert's own data (octet-string; empty for an alert that has none)."""
    if not 0 <= alert_code <= 0xFFFF:
        raise BuildError(f"alert code {alert_code} outside 0..0xffff")
    return (b"\x0f" + (invoke_id & 0xFFFFFFFF).to_bytes(4, "big") + b"\x00\x02\x03\x12"
            + alert_code.to_bytes(2, "big") + b"\x09\x0c" + date_time.encode() + b"\x09"
            + encode_length(len(data)) + data)
