"""``hanrig certs``: inspect and verify SMKI certificates, and make a TEST-ONLY PKI (shared ``cli.md``).

File work over ``certs``. ``verify --radio URL --device EUI64|ROLE`` reads the installed credentials over the
Tunneling cluster (``gateway.certs_service``; on ``sim://`` the bench installs its TEST-ONLY PKI) and
hands ``certs.verify_installed`` what it read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

import firmware_images
from certs import (
    CertificateInputError,
    MalformedCertificate,
    Report,
    check_implicit_certificate,
    load_certificate,
    parse_implicit_certificate,
    verify_directory,
)
from certs.cbke import SUITE1_LENGTH, SUITE2_LENGTH, ImplicitCertificate, reconstruct_public_key
from certs.cells import KNOWN_ROLES
from certs.model import SmkiCertificate, oid_name
from certs.profile import check_profile
from certs.testpki import ENTITY_IDS, TEST_ONLY, make_test_pki
from certs.verify import read_cert_directory
from hanrig_errors import CERT_MAX, KEY_MAX, CheckFailed, eui64_bytes, eui64_text, parse_eui64, read_input

from ..testkeys import certificate_is_test, certificates_are_test
from .common import (
    CERT_FILE,
    DEVICE_KEY,
    EUI64,
    EXISTING_DIR,
    EXISTING_FILE,
    KEY_FILE,
    capture_option,
    emit,
    json_option,
)

DEFAULT_SUPPLIER_KEY = firmware_images.DIRECTORY / f"{TEST_ONLY}-supplier-signing-key.pem"


class InstantType(click.ParamType):
    """An ISO 8601 instant; a time without a zone is UTC."""

    name = "ISO8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)", param, ctx)
        return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@click.group()
def certs() -> None:
    """SMKI certificates: inspect, verify installed credentials, make a TEST-ONLY PKI."""


# --- inspect ---

def _certificate_document(path: Path, cert: SmkiCertificate) -> dict[str, Any]:
    checks = check_profile(cert)
    usage = cert.leaf_key_usage
    return {
        "file": str(path),
        "format": "x509",
        "kind": cert.kind.value,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial_number": f"0x{cert.serial_number:x}",
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "role": cert.role.camel if cert.role is not None else None,
        "role_int": int(cert.role) if cert.role is not None else None,
        "entity_id": cert.entity_id_text,
        "key_usage": usage.short if usage is not None else None,
        "key_usage_bits": sorted(cert.key_usage_bits),
        "subject_key_identifier": cert.ski.hex() if cert.ski is not None else None,
        "authority_key_identifier": cert.aki.hex() if cert.aki is not None else None,
        "policies": list(cert.policy_oids),
        "hw_serial": eui64_text(cert.hw_serial) if cert.hw_serial is not None else None,
        "public_key_algorithm": oid_name(cert.public_key_algorithm),
        "curve": oid_name(cert.curve) if cert.curve else None,
        "point_format": f"0x{cert.point[:1].hex()}" if cert.point else None,
        "signature_algorithm": oid_name(cert.signature_algorithm),
        "signature_parameters": cert.signature_parameters,
        "profile": Report.of(checks).to_dict(),
    }


def _implicit_document(path: Path, cert: ImplicitCertificate, ca_public_key: bytes | None) -> dict[str, Any]:
    usage = cert.key_usage
    usage_names = None
    if usage is not None:
        usage_names = [flag.name.lower() for flag in type(usage) if flag in usage] or ["none"]
    return {
        "file": str(path),
        "format": f"zigbee-se-suite{cert.suite}",
        "kind": "implicit",
        "subject": cert.subject_text,
        "issuer": eui64_text(cert.issuer),
        "serial_number": f"0x{cert.serial_number:016x}" if cert.serial_number is not None else None,
        "not_before": cert.valid_from.isoformat() if cert.valid_from else None,
        "not_after": cert.valid_to.isoformat() if cert.valid_to else None,
        "no_expiry": cert.suite == 2 and cert.valid_to is None,
        "key_usage": f"0x{int(cert.key_usage):02x}" if cert.key_usage is not None else None,
        "key_usage_int": int(cert.key_usage) if cert.key_usage is not None else None,
        "curve": f"0x{int(cert.curve):02x}" if cert.curve is not None else None,
        "hash": f"0x{int(cert.hash):02x}" if cert.hash is not None else None,
        "key_usage_names": usage_names,
        "profile_attribute_data": (cert.profile_attribute_data.hex()
                                   if cert.profile_attribute_data is not None else None),
        "public_key_reconstruction_data": cert.reconstruction_data.hex(),
        "ca_public_key": ca_public_key.hex() if ca_public_key is not None else None,
        "public_key": (reconstruct_public_key(cert.raw, ca_public_key, name=str(path)).hex()
                       if ca_public_key is not None else None),
    }


def _render_inspect(doc: dict[str, Any]) -> str:
    lines = [TEST_ONLY_LINE] if doc.get("test_only") else []
    lines.append(f"{doc['file']}:")
    lines += [f"  {key:26} {value}" for key, value in doc.items()
              if key not in ("profile", "checks", "file") and value not in (None, [])]
    checks = doc["profile"]["checks"] if "profile" in doc else doc.get("checks", [])
    lines.append("  checks:")
    lines += [f"    {c['outcome'].upper():4} {c['code']}: {c['message']}" for c in checks]
    return "\n".join(lines)


def _implicit_bytes(data: bytes) -> bytes | None:
    """The certificate when ``data`` is a CBKE one: 48/74 raw bytes that are not a DER SEQUENCE of that
    exact size, or a text file of 96/148 hex digits (spaces, colons and line breaks allowed)."""
    if len(data) in (SUITE1_LENGTH, SUITE2_LENGTH) and not (data[0] == 0x30 and data[1] == len(data) - 2):
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    digits = "".join(text.split()).replace(":", "")
    if len(digits) in (2 * SUITE1_LENGTH, 2 * SUITE2_LENGTH):
        try:
            return bytes.fromhex(digits)
        except ValueError:
            return None
    return None


def _parse_ca_public_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex("".join(text.split()).replace(":", "").removeprefix("0x"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not hexadecimal", param_hint="--ca-public-key") from None
    if len(key) not in (22, 37) or key[0] not in (2, 3):
        raise click.BadParameter(f"{len(key)} bytes; a CA public key is a compressed point of 22 (suite 1) "
                                 "or 37 (suite 2) bytes starting 02 or 03", param_hint="--ca-public-key")
    return key


@certs.command()
@click.argument("file", type=CERT_FILE)
@click.option("--ca-public-key", "ca_public_key_hex", metavar="HEX",
              help="The issuing CA's public key (compressed point, hex) for an implicit certificate: prints "
                   "the public key the certificate binds.")
@json_option
def inspect(file: Path, ca_public_key_hex: str | None, as_json: bool) -> None:
    """Show every field of an SMKI certificate (PEM/DER) or a Zigbee SE implicit certificate (raw or hex;
    with --ca-public-key its reconstructed public key), with the profile findings."""
    data = read_input(file, limit=CERT_MAX)
    ca_public_key = _parse_ca_public_key(ca_public_key_hex)
    implicit_bytes = _implicit_bytes(data)
    if implicit_bytes is None and ca_public_key is not None:
        raise click.BadParameter(f"{file} is not an implicit certificate; --ca-public-key is only for those",
                                 param_hint="--ca-public-key")
    if implicit_bytes is not None:
        implicit = parse_implicit_certificate(implicit_bytes, name=str(file))
        if ca_public_key is not None and len(ca_public_key) != (22 if implicit.suite == 1 else 37):
            raise click.BadParameter(f"a {len(ca_public_key)}-byte key cannot issue a suite {implicit.suite} "
                                     "certificate", param_hint="--ca-public-key")
        doc = _implicit_document(file, implicit, ca_public_key)
        doc["checks"] = [c.to_dict() for c in check_implicit_certificate(
            implicit, device_eui64=None, now=dt.datetime.now(dt.UTC))]
    else:
        cert = load_certificate(data, name=str(file))
        doc = _certificate_document(file, cert)
        doc["test_only"] = certificate_is_test(cert)
    emit(doc, as_json, _render_inspect)


# --- verify ---

TEST_ONLY_LINE = "TEST-ONLY: certificates under the published test root or test policy; for the bench only"


def _load_certificates(paths: tuple[Path, ...]) -> list[bytes]:
    found = []
    for path in paths:
        data = read_input(path, limit=CERT_MAX)
        load_certificate(data, name=str(path))  # fail early, naming the file, on an unreadable root/CA
        found.append(data)
    return found


@certs.command()
@click.option("--radio", "radio_url", envvar="HANRIG_RADIO", metavar="URL",
              help="Read the installed certificates from a device over the HAN (env HANRIG_RADIO).")
@capture_option
@click.option("--cert-dir", type=EXISTING_DIR, help="A directory of exported certificates, named by cell "
              "(<role>-<DS|KA>-<management|prepaymentTopUp>, root, device-*, ca-*; .der/.pem).")
@click.option("--device", "--device-eui64", "device", type=DEVICE_KEY,
              help="The device: its EUI-64, or with --radio its role (ESME, ...) when one device has it; "
                   "with --cert-dir the EUI-64 the hwSerialNum device certificates must carry.")
@click.option("--root", "roots", type=CERT_FILE, multiple=True,
              help="A trusted root certificate (repeatable). Default: trust the directory's root cell, "
                   "with a warning.")
@click.option("--ca", "cas", type=CERT_FILE, multiple=True,
              help="An issuing CA certificate used to build paths (repeatable); ca-* files in --cert-dir "
                   "count too.")
@click.option("--expect-network-operator", "network_operator", type=EUI64, metavar="ENTITY_ID",
              help="SECMP0063: the Entity ID of the network operator registered for the meter point.")
@click.option("--at", "at", type=InstantType(), help="Check validity at this time instead of now.")
@click.option("--role", type=click.Choice(KNOWN_ROLES, case_sensitive=False), default=None,
              help="The device's role: every cell and device certificate it requires must be there "
                   "(default: a set holding any trust anchor cell is a meter's).")
@click.option("--allow-test-keys", is_flag=True,
              help="With --radio on a real radio: trust a chain under the published TEST-ONLY root anyway "
                   "(recorded in the output).")
@json_option
@click.pass_context
def verify(ctx: click.Context, radio_url: str | None, cert_dir: Path | None, device: str | None,
           roots: tuple[Path, ...], cas: tuple[Path, ...], network_operator: str | None,
           at: dt.datetime | None, role: str | None, allow_test_keys: bool, as_json: bool) -> None:
    """Verify installed certificates: GBCS profile, chain to the roots, cells, SECMP0063, hwSerialNum.

    Exit 0 when every check passes, 1 when any fails, 2 for bad input.
    """
    radio_from_env = ctx.get_parameter_source("radio_url") is click.core.ParameterSource.ENVIRONMENT
    if cert_dir is not None and radio_url is not None and not radio_from_env:
        raise click.UsageError("give either --radio or --cert-dir, not both")
    when = at or dt.datetime.now(dt.UTC)
    root_bytes = _load_certificates(roots) or None
    ca_bytes = _load_certificates(cas)
    test_only = certificates_are_test(root_bytes or [])
    cs02a = ""
    if cert_dir is not None:
        if device is not None and parse_eui64(device) is None:
            raise click.UsageError(f"--device {device}: with --cert-dir give the device's EUI-64, not a role")
        report = verify_directory(cert_dir, roots=root_bytes, intermediates=ca_bytes, device_eui64=device,
                                  expected_network_operator=network_operator, now=when, role=role)
        source: dict[str, Any] = {"cert_dir": str(cert_dir)}
        found_dir = read_cert_directory(cert_dir)
        test_only = test_only or certificates_are_test([c.der for c in found_dir.cells])
    elif radio_url is not None:
        if device is None:
            raise click.UsageError("--radio needs --device EUI64|ROLE")
        from gateway.certs_service import read_over_radio  # zigpy only for --radio

        from .policy_opts import rig_policies
        found, report = read_over_radio(radio_url, device, network_operator, roots=root_bytes or (),
                                        allow_test_keys=allow_test_keys, cbke=rig_policies(radio_url).cbke)
        test_only = True  # GBCS over the HAN is checked with the bench's TEST-ONLY keystore
        device = found.eui64  # a role name resolved to the device that answered
        cs02a = found.render_cs02a() + "\n"  # what the meter reported, before the checks on it
        source = {"radio": radio_url, "device": device, "read_with": "GBCS CS02a + CS02c",
                  **found.to_dict()}
    else:
        raise click.UsageError("give --cert-dir DIR (or --radio URL --device EUI64)")
    document = {
        "source": source,
        "device_eui64": device,
        "expected_network_operator": network_operator,
        "roots": [str(p) for p in roots],
        "cas": [str(p) for p in cas],
        "at": when.isoformat(),
        "test_only": test_only,
        "allow_test_keys": allow_test_keys,
        **report.to_dict(),
    }
    emit(document, as_json, lambda _doc: (TEST_ONLY_LINE + "\n" if test_only else "") + cs02a
         + report.render_text())
    report.raise_if_failed()


# --- check-update ---

@certs.command("check-update")
@click.argument("file", metavar="FILE|-")
@click.option("--expect-network-operator", "operators", type=EUI64, multiple=True, metavar="ENTITY_ID",
              help="An Entity ID the network operator may have (repeatable: a set of them).")
@click.option("--rig", "rig_path", type=EXISTING_FILE,
              help="Take the expected network operator(s) from the rig file: devices[].network_operator of "
                   "the device the command targets, else of every device.")
@json_option
def check_update(file: str, operators: tuple[str, ...], rig_path: Path | None, as_json: bool) -> None:
    """The DCC's SECMP0063 check of a CS02b Update Security Credentials command (FILE: binary or hex, - for
    stdin): a Network Operator certificate it places must be the expected operator's.

    Exit 0 when it may be sent, 1 when refused (one line naming both Entity IDs), 2 for bad input.
    """
    from gbcs.dcc import check_update as check

    from .gbcs_cmds import read_message_input

    source, _, message = read_message_input(file)
    expected = {eui64_bytes(e) for e in operators}
    if rig_path is not None:
        from rigs.rigfile import load_rig

        devices = load_rig(rig_path).devices
        target = eui64_text(message.target)
        chosen = [d for d in devices if d.eui64 == target] or list(devices)
        expected |= {eui64_bytes(d.network_operator) for d in chosen
                     if d.network_operator is not None}
    if not expected:
        raise click.UsageError("give --expect-network-operator ENTITY_ID (or --rig with devices[]."
                               "network_operator)")
    verdict = check(message, expected)
    document = {"source": source, "use_case": message.use_case,
                "message_code": f"0x{message.message_code:04x}",
                "originator": eui64_text(message.originator), "target": eui64_text(message.target),
                "expected_network_operators": sorted(eui64_text(e) for e in expected),
                "placements": verdict.placements, "allowed": verdict.allowed, "refusal": verdict.refusal}

    def render(doc: dict[str, Any]) -> str:
        lines = [f"{doc['source']}: {doc['use_case']} ({doc['message_code']}) to {doc['target']}"]
        lines += [f"  places {p['entity_id']} in {p['cell']}" for p in doc["placements"]]
        lines.append("  may be sent" if doc["allowed"] else f"  REFUSED: {doc['refusal']}")
        return "\n".join(lines)

    emit(document, as_json, render)
    if verdict.refusal is not None:
        raise CheckFailed(verdict.refusal)


# --- make-test-pki ---

@certs.command("make-test-pki")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--supplier-signing-key", "key_path", type=KEY_FILE,
              help="The supplier DS key to certify (default: the sample firmware images' "
                   f"firmware_images/{TEST_ONLY}-supplier-signing-key.pem when present).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same keys and certificates.")
@click.option("--force", is_flag=True, help="Write into a non-empty OUTDIR.")
@json_option
def make_test_pki_cmd(outdir: Path, key_path: Path | None, seed: int, force: bool, as_json: bool) -> None:
    """Create a TEST-ONLY SMKI hierarchy: root, organisation and device CAs, organisation certificates,
    device certificates for the simulated bench, and one --cert-dir per device."""
    if outdir.exists() and any(outdir.iterdir()) and not force:
        raise CertificateInputError("input.outdir", str(outdir), "not empty (use --force to write anyway)")
    if key_path is None and DEFAULT_SUPPLIER_KEY.is_file():
        key_path = DEFAULT_SUPPLIER_KEY
    from ota import load_private_key  # the one key loader; imported here so inspect/verify skip ota's cost
    key = None
    if key_path is not None:
        key = load_private_key(read_input(key_path, limit=KEY_MAX), name=str(key_path))
    pki = make_test_pki(outdir, supplier_signing_key=key, seed=seed)
    document = {
        "outdir": str(outdir),
        "seed": seed,
        "root": str(outdir / f"{TEST_ONLY}-root.pem"),
        "supplier_signing_key": str(outdir / f"{TEST_ONLY}-supplier-signing-key.pem"),
        "supplier_signing_key_source": str(key_path) if key_path is not None else "derived from seed",
        "entity_ids": ENTITY_IDS,
        "devices": [{"role": d.role, "eui64": d.eui64,
                     "cert_dir": str(outdir / "cert-dirs" / d.directory_name)}
                    for d in pki.devices],
        "cbke": [{"suite": suite, "ca_public_key": cbke.ca_public_key.hex(),
                  "directory": str(outdir / "cbke" / f"suite{suite}"),
                  "certificates": [{"role": role, "eui64": eui} for role, eui in cbke.identities]}
                 for suite, cbke in pki.cbke().items()],
    }

    def render(doc: dict[str, Any]) -> str:
        lines = [f"TEST-ONLY PKI written to {doc['outdir']} (seed {seed}); trust {doc['root']}",
                 f"supplier signing key: {doc['supplier_signing_key_source']}", "entity IDs:"]
        lines += [f"  {name:22} {eid}" for name, eid in ENTITY_IDS.items()]
        lines += [f"  {d['role']:7} {d['eui64']}  {d['cert_dir']}" for d in doc["devices"]]
        lines += [f"CBKE suite {c['suite']}: {len(c['certificates'])} implicit certificates (hub and devices)"
                  f" in {c['directory']}, CA public key {c['ca_public_key']}" for c in doc["cbke"]]
        return "\n".join(lines)

    emit(document, as_json, render)


__all__ = ["MalformedCertificate", "certs"]
